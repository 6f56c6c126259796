#!/usr/bin/env bash
# Builds the inject benchmark corpora into bench/corpus/ (git-ignored):
#   bench/corpus/vite-app/    a generated Vite 7 + React app with $PAGES (default 2000) lazily imported pages and
#                             manualChunks for react, lodash-es and three (bench/vite-app/ is the template);
#                             with another PAGES, bench/corpus/vite-app-<PAGES>/ (e.g. PAGES=10000: 10k chunks)
#   bench/corpus/mermaid/     npm pack mermaid@12.3.0, unpacked (its package/ directory)
#   bench/corpus/tfjs/        npm pack @tensorflow/tfjs@4.22.0, unpacked
#   bench/corpus/posthog-js/  npm pack posthog-js@1.449.2, unpacked
# Downloads and the app build are cached under ${SYMSHIP_TOOLS:-$HOME/.cache/symship/tools}/bench, so a re-run
# only copies. The corpus copies here are pristine: bench/inject.sh copies them again before each timed run.
#   bench/corpus/generated-<N>/  with GENERATED=N: N synthetic small chunks and maps (bench/generate-chunks.mjs),
#                             for builds larger than the Vite app builds in reasonable time (e.g. 50,000)
# Usage: bench/make-corpus.sh   (env: PAGES=2000, GENERATED=<N>)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${SYMSHIP_TOOLS:-$HOME/.cache/symship/tools}/bench"
corpus="$here/corpus"
pages="${PAGES:-2000}"
app_name=vite-app
[ "$pages" = 2000 ] || app_name="vite-app-$pages"
log() { printf 'make-corpus: %s\n' "$*" >&2; }
mkdir -p "$cache/npm" "$corpus"

# --- npm packages with real sourcemaps -------------------------------------------------------------------
pack() { # <spec> <tarball name> <corpus name>
  local spec="$1" tgz="$cache/npm/$2" name="$3"
  if [ ! -f "$tgz" ]; then
    log "npm pack $spec"
    local tmp; tmp="$(mktemp -d "$cache/npm/pack.XXXXXX")"
    (cd "$tmp" && npm pack "$spec" --silent >/dev/null)
    mv "$tmp/$2" "$tgz"; rm -rf "$tmp"
  fi
  if [ ! -f "$corpus/$name/.complete" ] || [ "$(cat "$corpus/$name/.complete")" != "$2" ]; then
    log "unpacking $2 into corpus/$name"
    rm -rf "$corpus/$name" "$corpus/$name.partial"; mkdir -p "$corpus/$name.partial"
    tar -xzf "$tgz" -C "$corpus/$name.partial" --strip-components=1
    echo "$2" > "$corpus/$name.partial/.complete"
    mv "$corpus/$name.partial" "$corpus/$name"
  else
    log "corpus/$name is up to date"
  fi
}
pack mermaid@12.3.0 mermaid-12.3.0.tgz mermaid
pack @tensorflow/tfjs@4.22.0 tensorflow-tfjs-4.22.0.tgz tfjs
pack posthog-js@1.449.2 posthog-js-1.449.2.tgz posthog-js

# --- the generated Vite app --------------------------------------------------------------------------------
key="$(cat "$here/vite-app/package-lock.json" "$here/vite-app/vite.config.js" "$here/vite-app/generate.mjs" | sha256sum | cut -c1-12)-$pages"
app="$cache/vite-app-$key"
if [ ! -f "$app/dist/.complete" ]; then
  log "building the Vite app with $pages pages in $app (about a minute)"
  mkdir -p "$app"
  cp "$here/vite-app/package.json" "$here/vite-app/package-lock.json" "$here/vite-app/vite.config.js" \
    "$here/vite-app/generate.mjs" "$app/"
  # `npm install` honours the lockfile; `npm ci` refuses it here (see fixtures/README.md, "Rebuilding").
  (cd "$app" && { [ -d node_modules ] || npm install --no-audit --no-fund >&2; } \
    && node generate.mjs "$pages" >&2 && npx --no-install vite build >&2)
  touch "$app/dist/.complete"
else
  log "Vite app with $pages pages is cached at $app"
fi
if [ ! -f "$corpus/$app_name/.complete" ] || [ "$(cat "$corpus/$app_name/.complete")" != "$key" ]; then
  rm -rf "${corpus:?}/$app_name" "$corpus/$app_name.partial"
  cp -r "$app/dist" "$corpus/$app_name.partial"
  rm -f "$corpus/$app_name.partial/.complete"; echo "$key" > "$corpus/$app_name.partial/.complete"
  mv "$corpus/$app_name.partial" "$corpus/$app_name"
fi

generated=()
if [ -n "${GENERATED:-}" ]; then
  g="generated-$GENERATED"; generated=("$g")
  if [ ! -f "$corpus/$g/.complete" ]; then
    log "generating $GENERATED chunks into corpus/$g"
    rm -rf "${corpus:?}/$g" "$corpus/$g.partial"
    node "$here/generate-chunks.mjs" "$GENERATED" "$corpus/$g.partial"
    echo "$GENERATED" > "$corpus/$g.partial/.complete"
    mv "$corpus/$g.partial" "$corpus/$g"
  fi
fi

for d in "$app_name" mermaid tfjs posthog-js "${generated[@]}"; do
  js=$(find "$corpus/$d" -type f \( -name '*.js' -o -name '*.mjs' -o -name '*.cjs' \) | wc -l)
  maps=$(find "$corpus/$d" -type f -name '*.map' | wc -l)
  log "corpus/$d: $js JS files, $maps maps, $(du -sh "$corpus/$d" | cut -f1)"
done
