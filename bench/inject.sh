#!/usr/bin/env bash
# Times `sourcemap inject` of symship, posthog-cli 0.19.0 and sentry-cli 3.8.2 on fresh copies of each corpus
# built by bench/make-corpus.sh, in one run, with /usr/bin/time (wall seconds, peak RSS), and writes a markdown
# table with the ratios against posthog-cli to bench/results/inject-<date>.md.
#
# Env:
#   SYMSHIP_BIN   symship binary (default: target/release/symship; build it with `cargo build --release -p symship-cli`)
#   BENCH_TOOLS   which tools to time (default: "symship posthog-cli sentry-cli"); a listed tool that is missing
#                 is an error. posthog-cli is always run, as the reference for the ratios.
#   CORPORA       default: "vite-app mermaid tfjs posthog-js mermaid+tfjs" (a+b = both corpora in one directory)
#   RUNS          timed runs per tool and corpus, each on a fresh copy (default 1); the table shows the medians
#   SYMSHIP_TOOLS tools cache (default ~/.cache/symship/tools); sentry-cli is installed there on first use.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${SYMSHIP_TOOLS:-$HOME/.cache/symship/tools}"
corpus="$root/bench/corpus"
symship="${SYMSHIP_BIN:-$root/target/release/symship}"
posthog="${SYMSHIP_POSTHOG_CLI:-$tools/posthog-cli-0.19.0/bin/posthog-cli}"
sentry_venv="$tools/bench/sentry-cli-3.8.2"
sentry="$sentry_venv/bin/sentry-cli"  # the wheel carries the binary
read -r -a want <<<"${BENCH_TOOLS:-symship posthog-cli sentry-cli}"
read -r -a corpora <<<"${CORPORA:-vite-app mermaid tfjs posthog-js mermaid+tfjs}"
runs="${RUNS:-1}"
log() { printf 'inject-bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# posthog-cli first: it is the reference column.
tools_run=(posthog-cli)
for t in "${want[@]}"; do
  case "$t" in
    posthog-cli) ;;
    symship | sentry-cli) tools_run+=("$t") ;;
    *) die "unknown tool '$t' in BENCH_TOOLS (symship, posthog-cli, sentry-cli)" ;;
  esac
done

[ -x /usr/bin/time ] || { log "installing GNU time"; apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }; }
[ -x "$posthog" ] || die "posthog-cli 0.19.0 not found at $posthog: run scripts/install-tools posthog-cli"
for t in "${tools_run[@]}"; do
  case "$t" in
    symship) [ -x "$symship" ] || die "symship not found at $symship: cargo build --release -p symship-cli, or set SYMSHIP_BIN" ;;
    sentry-cli)
      if [ ! -f "$sentry_venv/.complete" ]; then
        log "installing sentry-cli 3.8.2 into $sentry_venv"
        rm -rf "$sentry_venv"
        python3 -m venv "$sentry_venv"
        "$sentry_venv/bin/pip" install --quiet --disable-pip-version-check sentry-cli==3.8.2
        touch "$sentry_venv/.complete"
      fi ;;
  esac
done
for c in "${corpora[@]}"; do
  for part in ${c//+/ }; do
    [ -f "$corpus/$part/.complete" ] || die "corpus $part missing: run bench/make-corpus.sh"
  done
done

version() {
  case "$1" in
    symship) "$symship" --version 2>/dev/null | head -1 ;;
    posthog-cli) "$posthog" --version 2>/dev/null | head -1 ;;
    sentry-cli) "$sentry" --version 2>/dev/null | head -1 ;;
  esac
}

# run_tool <tool> <dir>: runs the inject there, writes "<wall> <maxrss_kb>" to <dir>.time, returns its status.
run_tool() {
  local tool="$1" dir="$2"
  case "$tool" in
    symship | posthog-cli)
      local bin="$posthog"; [ "$tool" = symship ] && bin="$symship"
      (cd "$dir" && env -u POSTHOG_CLI_TOKEN -u POSTHOG_CLI_ENV_ID POSTHOG_CLI_API_KEY=phx_golden \
        POSTHOG_CLI_PROJECT_ID=1 POSTHOG_CLI_HOST=http://127.0.0.1:9 \
        /usr/bin/time -f '%e %M' -o "$dir.time" "$bin" sourcemap inject --directory . >"$dir.log" 2>&1) ;;
    sentry-cli)
      (cd "$dir" && SENTRY_DISABLE_UPDATE_CHECK=1 SENTRY_LOAD_DOTENV=0 \
        /usr/bin/time -f '%e %M' -o "$dir.time" "$sentry" sourcemaps inject . >"$dir.log" 2>&1) ;;
  esac
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

tmp=""
trap 'if [ -n "$tmp" ]; then rm -rf "$tmp" "$tmp.time" "$tmp.log"; fi' EXIT
declare -A wall rss stamped
rows=()
for c in "${corpora[@]}"; do
  parts=(${c//+/ })
  js=0; maps=0; bytes=0
  for part in "${parts[@]}"; do
    js=$((js + $(find "$corpus/$part" -type f \( -name '*.js' -o -name '*.mjs' -o -name '*.cjs' \) | wc -l)))
    maps=$((maps + $(find "$corpus/$part" -type f -name '*.map' | wc -l)))
    bytes=$((bytes + $(du -sb "$corpus/$part" | cut -f1)))
  done
  for t in "${tools_run[@]}"; do
    walls=(); rsss=()
    for ((r = 1; r <= runs; r++)); do
      tmp="$(mktemp -d /tmp/symship-bench.XXXXXX)"
      for part in "${parts[@]}"; do
        if [ ${#parts[@]} -eq 1 ]; then cp -r "$corpus/$part/." "$tmp/"; else cp -r "$corpus/$part" "$tmp/$part"; fi
      done
      if ! run_tool "$t" "$tmp"; then
        tail -20 "$tmp.log" >&2; rm -rf "$tmp" "$tmp.time" "$tmp.log"; die "$t failed on corpus $c (log above)"
      fi
      read -r w m <"$tmp.time"
      walls+=("$w"); rsss+=("$m")
      if [ "$t" = sentry-cli ]; then pat='^//# debugId='; else pat='^//# chunkId='; fi
      stamped["$c/$t"]=$({ grep -rlE "$pat" "$tmp" --include='*.js' --include='*.mjs' --include='*.cjs' || true; } | wc -l)
      log "$c: $t run $r: ${w}s, $((m / 1024)) MB, ${stamped["$c/$t"]} files stamped"
      rm -rf "$tmp" "$tmp.time" "$tmp.log"; tmp=""
    done
    wall["$c/$t"]=$(printf '%s\n' "${walls[@]}" | median)
    rss["$c/$t"]=$(printf '%s\n' "${rsss[@]}" | median)
  done
  for t in "${tools_run[@]}"; do
    w="${wall["$c/$t"]}"; m="${rss["$c/$t"]}"
    pw="${wall["$c/posthog-cli"]}"; pm="${rss["$c/posthog-cli"]}"
    rw=$(awk -v a="$w" -v b="$pw" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    rm_=$(awk -v a="$m" -v b="$pm" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    rows+=("| $c | $js / $maps | $((bytes / 1048576)) MB | $t | $w | $(awk -v k="$m" 'BEGIN{printf "%.0f", k/1024}') | ${stamped["$c/$t"]} | $rw | $rm_ |")
  done
done

mkdir -p "$root/bench/results"
out="$root/bench/results/inject-$(date +%F).md"
{
  echo "# inject benchmark, $(date '+%F %H:%M %Z')"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)."
  echo
  echo "Tools:"
  for t in "${tools_run[@]}"; do echo "- $t: \`$(version "$t")\`"; done
  echo
  echo "Each cell is the median of $runs run(s), each on a fresh copy of the corpus in a temporary directory outside"
  echo "git; \`/usr/bin/time -f '%e %M'\` gives wall seconds and peak RSS. Commands: \`symship|posthog-cli sourcemap"
  echo "inject --directory .\` (POSTHOG_CLI_API_KEY/PROJECT_ID/HOST set, no release: no network), \`sentry-cli"
  echo "sourcemaps inject .\`. *stamped*: JS files that end up with a \`//# chunkId=\` line (\`//# debugId=\` for"
  echo "sentry-cli). Ratios are against posthog-cli (lower is better; the target for symship is at most 0.50 wall"
  echo "and 0.33 RSS on mermaid+tfjs)."
  echo
  echo "| corpus | JS / maps | size | tool | wall s | peak RSS MB | stamped | wall vs posthog-cli | RSS vs posthog-cli |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$out"
log "wrote $out"
cat "$out"
