#!/usr/bin/env bash
# Times `sourcemap process` (inject + upload) of symship against posthog-cli 0.19.0 on the corpora built by
# bench/make-corpus.sh, each tool against its own fresh symship-testserver (real S3 via s3s-fs), cold and re-run
# (the same directory and server again), with /usr/bin/time: wall, CPU (user+sys) and peak RSS. Writes a
# markdown table with the ratios against posthog-cli to bench/results/process-<date>.md.
#
# Env:
#   SYMSHIP_BIN        symship binary (default target/release/symship)
#   TESTSERVER_BIN     symship-testserver binary (default target/release/symship-testserver)
#                      (cargo build --release -p symship-cli -p symship-testserver)
#   CORPORA            default: "vite-app mermaid+tfjs+posthog-js" (a+b = several corpora in one directory)
#   BENCH_TOOLS        default: "posthog-cli symship"; `symship-before` is a second symship build
#                      (SYMSHIP_BEFORE_BIN), for before/after comparisons of a change
#   SYMSHIP_BEFORE_BIN the `symship-before` binary (e.g. a release build of the commit before a change)
#   BASELINE           the tool the ratio columns divide by (default posthog-cli; e.g. symship-before)
#   RUNS               runs per corpus and tool (default 1); the table shows medians (of each column)
#   SYMSHIP_TOOLS      tools cache (default ~/.cache/symship/tools)
# symship's content-hash cache (SYMSHIP_CACHE_DIR) starts empty in each corpus's temporary directory, so
# the cold run computes every hash and the re-run finds what the cold run remembered, as on a machine
# that runs the same job twice.
#
#   OUT_SUFFIX         appended to the results file's name (e.g. `2k`)
#   LATENCY_MS         when set, every request to the test server (API and S3) waits this long before it
#                      is handled (its `latency` fault on all routes), as a remote PostHog and object store
#                      would; the table then says so. Default: none (loopback).
#   THROTTLE           the test server's per-key throttle of the symbol-set endpoints (429 with Retry-After):
#                      `posthog` (default: PostHog's 1200/minute and 12000/hour, spec §2.6), DRF rates such as
#                      `20/second,100/minute`, or `off`. The 429s each run got are in the table.
#   TOOL_TIMEOUT       seconds a tool's cold run may take (default: no limit); a run killed at the limit is
#                      reported as such (its sets finished by then, no re-run) instead of stopping the benchmark
#   BUILD_TMPDIR       where the fresh copy of the corpus (the build the tools write into) lives (default /tmp).
#                      On an ext4 file system without a journal (this machine's), every new file's inode is
#                      found past the recently deleted ones (the kernel's `recently_deleted`), which made the
#                      temporary files of symship's crash-safe writes a third of its CPU; posthog-cli writes
#                      in place. `/dev/shm` (tmpfs) measures the tools without that.
#   SERVER_TMPDIR      where the test server keeps its S3 objects (default /dev/shm when it is a writable
#                      tmpfs, else $TMPDIR). The server stands in for PostHog and its remote object store; on
#                      the local disk its file creation (s3s-fs writes a file per object) took half of both
#                      tools' cold runs on this machine and measured the disk, not the clients.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${SYMSHIP_TOOLS:-$HOME/.cache/symship/tools}"
corpus="$root/bench/corpus"
symship="${SYMSHIP_BIN:-$root/target/release/symship}"
server_bin="${TESTSERVER_BIN:-$root/target/release/symship-testserver}"
posthog="${SYMSHIP_POSTHOG_CLI:-$tools/posthog-cli-0.19.0/bin/posthog-cli}"
read -r -a corpora <<<"${CORPORA:-vite-app mermaid+tfjs+posthog-js}"
read -r -a want <<<"${BENCH_TOOLS:-posthog-cli symship}"
symship_before="${SYMSHIP_BEFORE_BIN:-}"
baseline="${BASELINE:-posthog-cli}"
runs="${RUNS:-1}"
log() { printf 'process-bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
count_js() { find "$1" -type f \( -name '*.js' -o -name '*.mjs' -o -name '*.cjs' \) | wc -l; }

[ -x /usr/bin/time ] || { log "installing GNU time"; apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }; }
[ -x "$posthog" ] || die "posthog-cli 0.19.0 not found at $posthog: run scripts/install-tools posthog-cli"
[ -x "$symship" ] || die "symship not found at $symship: cargo build --release -p symship-cli, or set SYMSHIP_BIN"
if [[ " ${want[*]} " == *" symship-before "* ]]; then
  [ -x "$symship_before" ] || die "symship-before needs SYMSHIP_BEFORE_BIN (an executable symship build)"
fi
[ -x "$server_bin" ] || die "symship-testserver not found at $server_bin: cargo build --release -p symship-testserver"
for c in "${corpora[@]}"; do
  for part in ${c//+/ }; do
    [ -f "$corpus/$part/.complete" ] || die "corpus $part missing: run bench/make-corpus.sh"
  done
done

server_tmp="${SERVER_TMPDIR:-}"
if [ -z "$server_tmp" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -f -c %T /dev/shm)" = tmpfs ]; then
  server_tmp=/dev/shm
fi
server_pid=""; tmp=""
server_args=()
latency="${LATENCY_MS:-}"
if [ -n "$latency" ]; then
  [[ "$latency" =~ ^[0-9]+$ ]] || die "LATENCY_MS must be a whole number of milliseconds"
  server_args=(--fault "*:latency=$latency" --fault "s3_*:latency=$latency")
fi
throttle="${THROTTLE:-posthog}"
[ "$throttle" = off ] || server_args+=(--throttle "$throttle")
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

# start_server: a fresh server; sets server_pid and env_file
start_server() {
  env_file="$tmp/server.env"
  TMPDIR="${server_tmp:-${TMPDIR:-/tmp}}" "$server_bin" "${server_args[@]}" >"$env_file" 2>"$tmp/server.log" &
  server_pid=$!
  for _ in $(seq 1 200); do
    [ "$(grep -c '^POSTHOG_CLI_' "$env_file" 2>/dev/null || true)" -ge 3 ] && return 0
    sleep 0.05
  done
  cat "$tmp/server.log" >&2; die "symship-testserver did not start"
}
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
# server_ticks: CPU clock ticks (user+sys) the test server and its children (s3s-fs) have used so far
server_ticks() {
  local t=0 p
  for p in "$server_pid" $(ps --ppid "$server_pid" -o pid= 2>/dev/null); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
hz="$(getconf CLK_TCK)"

# admin <path>: GET the test server's admin API
admin() {
  local host; host="$(sed -n 's/^POSTHOG_CLI_HOST=//p' "$env_file")"
  python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' "$host/_admin/$1"
}
finished_sets() { admin state | python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["symbol_sets"] if s["content_hash"]))'; }
throttled() { admin load | python3 -c 'import json,sys; print(json.load(sys.stdin)["throttled"])'; }
transfers() { admin requests | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["server"].startswith("s3") and r["method"] in ("PUT","POST")))'; }

# run_tool <tool> <dir> <label>: one timed `sourcemap process` there; prints "wall cpu rss_kb", or
# "timeout cpu rss_kb" when TOOL_TIMEOUT killed it
run_tool() {
  local tool="$1" dir="$2" label="$3" bin="$posthog" limit=()
  [ "$tool" = symship ] && bin="$symship"
  [ "$tool" = symship-before ] && bin="$symship_before"
  [ -n "${TOOL_TIMEOUT:-}" ] && limit=(timeout -s KILL "$TOOL_TIMEOUT")
  local rc=0
  (cd "$dir" && set -a && . "$env_file" && set +a &&
        SYMSHIP_CACHE_DIR="$tmp/symship-cache" \
        /usr/bin/time -f '%e %U %S %M' -o "$tmp/$label.time" "${limit[@]}" "$bin" sourcemap process --directory . >"$tmp/$label.log" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ -n "${TOOL_TIMEOUT:-}" ] && [ "$rc" -eq 137 ]; then
      awk '{printf "timeout %.2f %s\n", $2 + $3, $4}' "$tmp/$label.time"; return 0
    fi
    tail -20 "$tmp/$label.log" >&2; die "$tool failed ($label; log above)"
  fi
  awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$tmp/$label.time"
}

version() { case "$1" in symship) "$symship" --version | head -1 ;; symship-before) "$symship_before" --version | head -1 ;; posthog-cli) "$posthog" --version | head -1 ;; esac; }
# medians: the median of each of the three columns of the lines on stdin
medians() {
  awk 'NF == 3 { n++; for (i = 1; i <= 3; i++) v[i, n] = $i }
    END { for (i = 1; i <= 3; i++) { m = 0
      for (a = 1; a <= n; a++) { c = 0; for (b = 1; b <= n; b++) if (v[i, b] < v[i, a] || (v[i, b] == v[i, a] && b < a)) c++
        if (c == int((n - 1) / 2)) lo = v[i, a]; if (c == int(n / 2)) hi = v[i, a] }
      printf "%s%s", (i > 1 ? " " : ""), (lo + hi) / 2 } print "" }'
}
# paired <walls> <posthog walls>: the lowest and highest ratio of the runs taken side by side ("lo-hi")
paired() {
  awk -v a="$1" -v b="$2" 'BEGIN { n = split(a, x, " "); split(b, y, " "); lo = ""; hi = ""
    for (i = 1; i <= n; i++) if (y[i] > 0) { r = x[i] / y[i]; if (lo == "" || r < lo) lo = r; if (hi == "" || r > hi) hi = r }
    if (lo == "") print "n/a"; else printf "%.2f-%.2f", lo, hi }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# median <numbers>: their median
median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g | awk '{v[NR] = $1} END { if (NR == 0) print 0; else printf "%.2f", (v[int((NR + 1) / 2)] + v[int(NR / 2) + 1]) / 2 }'; }

declare -A res
rows=()
for c in "${corpora[@]}"; do
  parts=(${c//+/ })
  js=0; maps=0; bytes=0
  for part in "${parts[@]}"; do
    js=$((js + $(count_js "$corpus/$part")))
    maps=$((maps + $(find "$corpus/$part" -type f -name '*.map' | wc -l)))
    bytes=$((bytes + $(du -sb "$corpus/$part" | cut -f1)))
  done
  for ((r = 1; r <= runs; r++)); do
    # The tools alternate within each run, so drift of the machine touches both alike, and the order
    # rotates from run to run, so neither always goes first.
    order=("${want[@]}")
    for ((k = 0; k < (r - 1) % ${#want[@]}; k++)); do order=("${order[@]:1}" "${order[0]}"); done
    for t in "${order[@]}"; do
      tmp="$(mktemp -d "${BUILD_TMPDIR:-/tmp}/symship-bench.XXXXXX")"
      mkdir "$tmp/build"
      for part in "${parts[@]}"; do
        if [ ${#parts[@]} -eq 1 ]; then cp -r "$corpus/$part/." "$tmp/build/"; else cp -r "$corpus/$part" "$tmp/build/$part"; fi
      done
      # The copy must hold the whole corpus before and after each tool's runs (a clean-up by another
      # process once removed the copy mid-run; the tool then correctly reported what was left).
      [ "$(count_js "$tmp/build")" = "$js" ] || die "the copy in $tmp/build does not hold the corpus's $js JS files"
      start_server
      s0=$(server_ticks)
      read -r w cpu m < <(run_tool "$t" "$tmp/build" cold)
      s1=$(server_ticks)
      res["$c/$t/cold/server"]+="$(awk -v a="$s0" -v b="$s1" -v hz="$hz" 'BEGIN{printf "%.2f", (b - a) / hz}') "
      killed=""
      if [ "$w" = timeout ]; then w="$TOOL_TIMEOUT"; killed=1; res["$c/$t/killed"]=1; fi
      sets=$(finished_sets); sent_cold=$(transfers)
      res["$c/$t/cold"]+="$w $cpu $m"$'\n'; res["$c/$t/cold/walls"]+="$w "
      log "$c: $t cold (run $r/$runs): ${w}s wall, ${cpu}s CPU, $((m / 1024)) MB, $sets sets finished, $sent_cold transfers"
      if [ -n "$killed" ]; then
        log "$c: $t was killed at TOOL_TIMEOUT=${TOOL_TIMEOUT}s; no re-run"
        w2=0; cpu2=0; m2=0
      else
        read -r w2 cpu2 m2 < <(run_tool "$t" "$tmp/build" rerun)
      fi
      res["$c/$t/rerun/server"]+="$(awk -v a="$s1" -v b="$(server_ticks)" -v hz="$hz" 'BEGIN{printf "%.2f", (b - a) / hz}') "
      [ "$(count_js "$tmp/build")" = "$js" ] || die "the copy in $tmp/build changed during $t's runs: the figures are not of the corpus"
      sent_rerun=$(( $(transfers) - sent_cold ))
      res["$c/$t/429"]="$(throttled)"
      res["$c/$t/rerun"]+="$w2 $cpu2 $m2"$'\n'; res["$c/$t/rerun/walls"]+="$w2 "
      log "$c: $t re-run (run $r/$runs): ${w2}s wall, ${cpu2}s CPU, $((m2 / 1024)) MB, $sent_rerun transfers"
      # Every run must finish every set and re-send nothing; the table shows the last run's.
      if [ -z "${res["$c/$t/killed"]:-}" ] && [ -n "${res["$c/$t/sets"]:-}" ] && [ "${res["$c/$t/sets"]}" != "$sets" ]; then
        die "$t finished $sets sets in run $r, ${res["$c/$t/sets"]} before"
      fi
      res["$c/$t/sets"]="$sets"; res["$c/$t/sent2"]="$sent_rerun"
      stop_server; rm -rf "$tmp"; tmp=""
    done
  done
  for t in "${want[@]}"; do
    for phase in cold rerun; do
      res["$c/$t/$phase"]="$(medians <<<"${res["$c/$t/$phase"]}")"
    done
  done
  for t in "${want[@]}"; do
    for phase in cold rerun; do
      read -r w cpu m <<<"${res["$c/$t/$phase"]}"
      read -r pw pcpu pm <<<"${res["$c/$baseline/$phase"]:-0 0 0}"
      scpu="$(median "${res["$c/$t/$phase/server"]:-}")"
      bound="$(awk -v a="$cpu" -v b="$scpu" -v n="$(nproc)" 'BEGIN{printf "%.2f", (a + b) / n}')"
      shown="$w"; [ -n "${res["$c/$t/killed"]:-}" ] && shown="> $w (killed)"
      rows+=("| $c | $js / $maps | $((bytes / 1048576)) MB | $t | $phase | $shown | $cpu | $scpu | $bound | $(awk -v k="$m" 'BEGIN{printf "%.0f", k/1024}') | ${res["$c/$t/sets"]} | $([ $phase = rerun ] && echo "${res["$c/$t/sent2"]}" || echo -) | $([ $phase = rerun ] && echo "${res["$c/$t/429"]:-0}" || echo -) | $(ratio "$w" "$pw") | $(paired "${res["$c/$t/$phase/walls"]}" "${res["$c/$baseline/$phase/walls"]:-}") | $(ratio "$cpu" "$pcpu") | $(ratio "$m" "$pm") |")
    done
  done
done

mkdir -p "$root/bench/results"
out="$root/bench/results/process-$(date +%F)${latency:+-latency-${latency}ms}${OUT_SUFFIX:+-$OUT_SUFFIX}.md"
{
  echo "# process benchmark, $(date '+%F %H:%M %Z')"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)."
  echo
  echo "Tools:"
  for t in "${want[@]}"; do echo "- $t: \`$(version "$t")\`"; done
  echo
  echo "\`<tool> sourcemap process --directory .\` on a fresh copy of the corpus in a temporary directory outside git,"
  echo "against a fresh \`symship-testserver\` (loopback API + s3s-fs) per tool; *cold* is the first run, *re-run*"
  echo "the same command again on the same directory and server. \`/usr/bin/time\`: wall s, CPU s (user+sys), peak"
  echo "RSS. *sets*: symbol sets finished on the server after the cold run; *sent*: transfers during the re-run."
  echo "Median of $runs run(s) per tool, the tools alternating within each run."
  [ -n "$latency" ] && echo "Every request to the test server (API and S3) waited ${latency} ms before it was handled (LATENCY_MS)."
  [ "$throttle" != off ] && echo "The server throttled the symbol-set endpoints per key at \`$throttle\` (THROTTLE; \`posthog\` is 1200/minute and 12000/hour); *429s*: answers 429 the tool got in both runs."
  echo "The server's S3 objects are kept in \`${server_tmp:-${TMPDIR:-/tmp}}\` (SERVER_TMPDIR)."
  echo "The corpus copy the tools write into is in \`${BUILD_TMPDIR:-/tmp}\` (BUILD_TMPDIR)."
  if [ "$baseline" = posthog-cli ]; then
    echo "Ratios against posthog-cli. Issue 18's targets for symship: at 20 ms, cold wall <= 0.15x; at 0 ms, client CPU"
    echo "<= 0.4x; re-run wall <= 0.2x; peak RSS <= 100 MiB everywhere."
  else
    echo "Ratios against \`$baseline\` (BASELINE; the *vs ph* columns divide by it, not by posthog-cli)."
  fi
  echo "The tools' order rotates from run to run."
  echo
  echo "*wall vs ph, per run*: the lowest and highest ratio of the runs side by side (run 1 against run 1, ...): how"
  echo "far the machine's noise moves one measurement."
  echo
  echo "*server CPU*: CPU s (user+sys) the test server and its S3 (s3s-fs) spent on the run (from /proc, median); *bound*:"
  echo "(CPU + server CPU) / $(nproc) cores: the client and the stand-in for PostHog share this machine's cores, so no run"
  echo "of that tool on it can take less wall time than this, however fast its network use (against the real PostHog"
  echo "the server's share runs elsewhere)."
  echo
  echo "| corpus | JS / maps | size | tool | run | wall s | CPU s | server CPU s | bound s | peak RSS MB | sets | sent | 429s | wall vs ph | wall vs ph, per run | CPU vs ph | RSS vs ph |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$out"
log "wrote $out"
cat "$out"
