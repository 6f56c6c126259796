#!/usr/bin/env bash
# Times `sourcemap inject` of two symship builds (A = before, B = after a change) and posthog-cli 0.19.0 on the
# corpora of bench/make-corpus.sh, paired: in each run the three tools inject fresh copies of one corpus, in an
# order that rotates from run to run. Prints, per corpus, the median wall seconds and peak RSS of each tool, and
# the median with the lowest and highest of the per-run ratios B/A and B/posthog-cli; and the CPU time (user +
# sys) of A and B with the ratio B/A, which a busy machine moves less than the wall time.
#
# Usage: A=/path/symship-before B=/path/symship-after RUNS=5 CORPORA="vite-app mermaid+tfjs" bench/inject-ab.sh
# AB_TMPDIR: where the fresh copies go (default /tmp; /dev/shm takes the disk's allocation cost out of the times)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${SYMSHIP_TOOLS:-$HOME/.cache/symship/tools}"
corpus="$root/bench/corpus"
posthog="$tools/posthog-cli-0.19.0/bin/posthog-cli"
: "${A:?A=<symship binary before>}" "${B:?B=<symship binary after>}"
runs="${RUNS:-5}"
read -r -a corpora <<<"${CORPORA:-vite-app mermaid+tfjs}"
[ -x /usr/bin/time ] || { apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }; }
for bin in "$A" "$B" "$posthog"; do [ -x "$bin" ] || { echo "inject-ab: $bin is not executable" >&2; exit 1; }; done

one() { # <binary> <corpus> -> "wall rss_kb cpu"
  local bin="$1" c="$2" tmp; tmp="$(mktemp -d "${AB_TMPDIR:-/tmp}/symship-ab.XXXXXX")"
  local parts=(${c//+/ })
  for part in "${parts[@]}"; do
    [ -f "$corpus/$part/.complete" ] || { echo "inject-ab: corpus $part missing: run bench/make-corpus.sh" >&2; exit 1; }
    if [ ${#parts[@]} -eq 1 ]; then cp -r "$corpus/$part/." "$tmp/"; else cp -r "$corpus/$part" "$tmp/$part"; fi
  done
  sync
  (cd "$tmp" && env -u POSTHOG_CLI_TOKEN -u POSTHOG_CLI_ENV_ID POSTHOG_CLI_API_KEY=phx_golden POSTHOG_CLI_PROJECT_ID=1 \
    POSTHOG_CLI_HOST=http://127.0.0.1:9 SYMSHIP_NO_CACHE=1 \
    /usr/bin/time -f '%e %M %U %S' -o "$tmp.time" "$bin" sourcemap inject --directory . >"$tmp.log" 2>&1) \
    || { tail -20 "$tmp.log" >&2; exit 1; }
  awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}' "$tmp.time"; rm -rf "$tmp" "$tmp.time" "$tmp.log"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "| corpus | posthog-cli s (MB) | A s (MB) | B s (MB) | B/A median (range) | B/posthog-cli median (range) | A CPU s | B CPU s | B/A CPU median (range) |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in "${corpora[@]}"; do
  wa=(); wb=(); wp=(); ma=(); mb=(); mp=(); rab=(); rbp=(); ca=(); cb=(); rcab=()
  for ((r = 0; r < runs; r++)); do
    declare -A w=() m=() cpu=()
    order=(a b p); for ((k = 0; k < r % 3; k++)); do order=("${order[@]:1}" "${order[0]}"); done
    for t in "${order[@]}"; do
      case "$t" in a) bin="$A" ;; b) bin="$B" ;; p) bin="$posthog" ;; esac
      read -r w[$t] m[$t] cpu[$t] < <(one "$bin" "$c")
    done
    echo "inject-ab: $c run $((r + 1)): A ${w[a]} s (CPU ${cpu[a]}), B ${w[b]} s (CPU ${cpu[b]}), posthog-cli ${w[p]} s" >&2
    wa+=("${w[a]}"); wb+=("${w[b]}"); wp+=("${w[p]}"); ma+=("${m[a]}"); mb+=("${m[b]}"); mp+=("${m[p]}")
    rab+=("$(awk -v x="${w[b]}" -v y="${w[a]}" 'BEGIN{printf "%.3f", x/y}')")
    rbp+=("$(awk -v x="${w[b]}" -v y="${w[p]}" 'BEGIN{printf "%.3f", x/y}')")
    ca+=("${cpu[a]}"); cb+=("${cpu[b]}")
    rcab+=("$(awk -v x="${cpu[b]}" -v y="${cpu[a]}" 'BEGIN{printf "%.3f", (y > 0 ? x/y : 0)}')")
    unset w m cpu
  done
  mb_() { printf '%s\n' "$@" | median | awk '{printf "%.0f", $1/1024}'; }
  range() { printf '%s\n' "$@" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END{printf "%.2f-%.2f", lo, hi}'; }
  echo "| $c | $(printf '%s\n' "${wp[@]}" | median) ($(mb_ "${mp[@]}")) | $(printf '%s\n' "${wa[@]}" | median) ($(mb_ "${ma[@]}")) | $(printf '%s\n' "${wb[@]}" | median) ($(mb_ "${mb[@]}")) | $(printf '%s\n' "${rab[@]}" | median) ($(range "${rab[@]}")) | $(printf '%s\n' "${rbp[@]}" | median) ($(range "${rbp[@]}")) | $(printf '%s\n' "${ca[@]}" | median) | $(printf '%s\n' "${cb[@]}" | median) | $(printf '%s\n' "${rcab[@]}" | median) ($(range "${rcab[@]}")) |"
done
