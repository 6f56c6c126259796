#!/usr/bin/env bash
# Exactness check of symship's JavaScript lexer (crates/symship-scan/src/lex.rs) against acorn's
# tokenizer on real published builds: for every .js/.mjs/.cjs file, the byte ranges of string
# literals, template text, regular expressions and comments must be the same.
# Not a test (it needs the npm registry once); results are quoted in the commit that added the lexer.
#   bench/lex-diff.sh                  # acorn 8.15.0 on posthog-js, mermaid, rxjs and fixtures/
#   bench/lex-diff.sh DIR...           # on other builds
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${SYMSHIP_TOOLS:-$HOME/.cache/symship/tools}/lex-diff
mkdir -p "$cache"
cd "$cache"
for p in acorn@8.15.0 posthog-js@1.449.2 mermaid@12.3.0 rxjs@7.8.2; do
  d=${p/@/-}
  if [ ! -d "$d" ]; then
    npm pack --silent "$p" >/dev/null
    mkdir -p "$d" && tar xzf "$d.tgz" -C "$d"
  fi
done
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=("$cache/posthog-js-1.449.2" "$cache/mermaid-12.3.0" "$cache/rxjs-7.8.2" "$root/fixtures")
(cd "$root" && cargo build -q -p symship-scan --example lex_spans)
find "${dirs[@]}" \( -name '*.js' -o -name '*.mjs' -o -name '*.cjs' \) -not -path '*/node_modules/*' -not -name '*.d.*' \
  | xargs "$root/target/debug/examples/lex_spans" \
  | node --stack-size=8000 "$root/bench/lex-diff.mjs" "$cache/acorn-8.15.0/package"
