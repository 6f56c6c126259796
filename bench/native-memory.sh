#!/usr/bin/env bash
# Peak RSS of `symbol-sets upload` on one generated ELF debug file of at least 1 GiB (issue 17:
# symship must stay at or under 100 MiB), symship beside posthog-cli 0.19.0 in the same run, each
# against its own fresh symship-testserver (real S3 via s3s-fs), with /usr/bin/time: wall, CPU
# (user+sys), peak RSS. Writes bench/results/native-memory-<date>.md.
#
# The file: fixtures/native/elf/hello (gcc 12, DWARF 5, a GNU build id) with a `.debug_str`-like
# section of SIZE_MIB MiB added by objcopy (`--add-section .debug_gen=...`): DWARF-like text
# (source paths and mangled names) repeated every 24 KiB, so that it deflates to a container far
# under PostHog's 100 MiB limit. Real DWARF deflates 3-5x: a real 1 GiB debug file would be over
# that limit, so the memory of a file this size is measured on compressible content. Generated into a temporary directory (TMPDIR;
# it needs about SIZE_MIB MiB twice while objcopy runs) and deleted afterwards.
#
# Last run (results/native-memory-2026-11-30.md, release builds, load 3.6): symship 15 MiB peak RSS
# in 11.0 s, posthog-cli 0.19.0 2209 MiB in 14.4 s.
#
# Env:
#   SYMSHIP_BIN      symship binary (default target/release/symship)
#   TESTSERVER_BIN   symship-testserver binary (default target/release/symship-testserver)
#                    (cargo build --release -p symship-cli -p symship-testserver)
#   SIZE_MIB         size of the generated section (default 1100, so the file is over 1 GiB)
#   BENCH_TOOLS      default: "symship posthog-cli"
#   SYMSHIP_TOOLS    tools cache (default ~/.cache/symship/tools)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="${SYMSHIP_TOOLS:-$HOME/.cache/symship/tools}"
symship="${SYMSHIP_BIN:-$root/target/release/symship}"
server_bin="${TESTSERVER_BIN:-$root/target/release/symship-testserver}"
posthog="${SYMSHIP_POSTHOG_CLI:-$tools/posthog-cli-0.19.0/bin/posthog-cli}"
size_mib="${SIZE_MIB:-1100}"
read -r -a want <<<"${BENCH_TOOLS:-symship posthog-cli}"
log() { printf 'native-memory: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ -x /usr/bin/time ] || { log "installing GNU time"; apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }; }
command -v objcopy >/dev/null || die "objcopy not found: apt-get install binutils"
[ -x "$posthog" ] || die "posthog-cli 0.19.0 not found at $posthog: run scripts/install-tools posthog-cli"
[ -x "$symship" ] || die "symship not found at $symship: cargo build --release -p symship-cli, or set SYMSHIP_BIN"
[ -x "$server_bin" ] || die "symship-testserver not found at $server_bin: cargo build --release -p symship-testserver"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/symship-bench-native.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

log "generating a ${size_mib} MiB DWARF-like section in $tmp"
python3 - "$tmp/gen.bin" "$size_mib" <<'PY'
import random, sys
rnd = random.Random(17)
words = [w.encode() for w in ("src util include core net parser render io alloc buffer token stream "
         "handler request response session cache config worker thread queue map vector string").split()]
block = bytearray()
while len(block) < 24 << 10:   # 24 KiB of NUL-terminated paths and mangled names, inside deflate's window
    n = rnd.randint(2, 6)
    block += b"/build/" + b"/".join(rnd.choice(words) for _ in range(n)) + b".cc\0"
    block += b"_ZN" + b"".join(b"%d%s" % (len(w), w) for w in (rnd.choice(words) for _ in range(n))) + b"Ev\0"
mib = bytes(block) * ((1 << 20) // len(block) + 1)
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        f.write(b"%08d" % i + mib[8:1 << 20])
PY
mkdir -p "$tmp/build"
objcopy --add-section .debug_gen="$tmp/gen.bin" --set-section-flags .debug_gen=noload,readonly \
  "$root/fixtures/native/elf/hello" "$tmp/build/app.debug"
rm -f "$tmp/gen.bin"
bytes=$(stat -c %s "$tmp/build/app.debug")
log "$tmp/build/app.debug: $bytes bytes, build id $(readelf -n "$tmp/build/app.debug" | sed -n 's/^ *Build ID: //p')"

start_server() {
  env_file="$tmp/server.env"
  "$server_bin" --data-dir "$tmp/server-$1" >"$env_file" 2>"$tmp/server.log" &
  server_pid=$!
  for _ in $(seq 1 200); do
    [ "$(grep -c '^POSTHOG_CLI_' "$env_file" 2>/dev/null || true)" -ge 3 ] && return 0
    sleep 0.05
  done
  cat "$tmp/server.log" >&2; die "symship-testserver did not start"
}
stop_server() { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""; rm -rf "$tmp/server-$1"; }
finished() {
  local host; host="$(sed -n 's/^POSTHOG_CLI_HOST=//p' "$env_file")"
  python3 -c 'import json,sys,urllib.request; s=json.load(urllib.request.urlopen(sys.argv[1]+"/_admin/state"))["symbol_sets"]; print(sum(1 for x in s if x["content_hash"]), max([x.get("size") or 0 for x in s] or [0]))' "$host"
}

rows=()
for t in "${want[@]}"; do
  bin="$posthog"; [ "$t" = symship ] && bin="$symship"
  start_server "$t"
  if ! (cd "$tmp" && set -a && . "$env_file" && set +a &&
        /usr/bin/time -f '%e %U %S %M' -o "$tmp/$t.time" "$bin" symbol-sets upload -d build >"$tmp/$t.log" 2>&1); then
    tail -20 "$tmp/$t.log" >&2; die "$t failed (log above)"
  fi
  read -r sets _ < <(finished)
  [ "$sets" = 1 ] || { tail -20 "$tmp/$t.log" >&2; die "$t: the server finished $sets symbol sets, not 1"; }
  read -r w u s m <"$tmp/$t.time"
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
  log "$t: ${w}s wall, ${cpu}s CPU, $((m / 1024)) MiB peak RSS"
  rows+=("| $t ($("$bin" --version | head -1)) | $w | $cpu | $((m / 1024)) |")
  stop_server "$t"
done

out="$root/bench/results/native-memory-$(date -u +%Y-%m-%d).md"
{
  echo "# symbol-sets upload of one $((bytes / 1048576)) MiB ELF debug file: peak memory"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, loopback test server (s3s-fs), bench/native-memory.sh (SIZE_MIB=$size_mib)."
  echo
  echo "| tool | wall s | CPU s | peak RSS MiB |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$out"
cat "$out"
