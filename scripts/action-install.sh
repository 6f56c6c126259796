#!/usr/bin/env bash
# The GitHub Action's install steps (action.yml). No prebuilt binary is downloaded: symship is
# either already on PATH, restored from the actions/cache entry of an earlier run, or built from
# the action's own source with `cargo install --path`.
#
#   action-install.sh locate   decide; writes `build`, `bin-dir`, `key`, `version` to $GITHUB_OUTPUT
#   action-install.sh build    cargo install into $SYMSHIP_BIN_DIR/.. (after a cache miss)
#
# Environment: GITHUB_ACTION_PATH (the action's source), SYMSHIP_WANT_VERSION (the `version`
# input; empty = whatever symship is on PATH, else the action's own), RUNNER_OS, RUNNER_ARCH.
set -euo pipefail

src="${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: run this from action.yml}"
want="$(printf '%s' "${SYMSHIP_WANT_VERSION:-}" | tr -d '[:space:]')"
want="${want#v}"
out="${GITHUB_OUTPUT:-/dev/stdout}"

note() { printf '%s\n' "$*" >&2; }
die() { printf '::error title=symship action::%s\n' "$*" >&2; exit 2; }

source_version() {
  sed -n '/^\[workspace\.package\]/,/^\[/ s/^version *= *"\([^"]*\)".*/\1/p' "$src/Cargo.toml" | head -n 1
}

case "${1:-}" in
  locate)
    [[ -z $want || $want =~ ^[0-9A-Za-z.+-]+$ ]] || die "input version must look like 1.2.3"
    if command -v symship >/dev/null 2>&1; then
      have="$(symship --version 2>/dev/null | awk '{print $2}')"
      if [ -z "$want" ] || [ "$have" = "$want" ]; then
        note "using symship $have from PATH ($(command -v symship))"
        { echo "build=false"; echo "bin-dir=$(dirname "$(command -v symship)")"; echo "version=$have"; } >>"$out"
        exit 0
      fi
      note "symship $have on PATH is not the requested $want: building"
    fi
    version="$(source_version)"
    [ -n "$version" ] || die "no version in $src/Cargo.toml"
    if [ -n "$want" ] && [ "$want" != "$version" ]; then
      die "this action's source is symship $version, not $want: pin the action to the matching tag (uses: .../symship@v$want) or leave version empty"
    fi
    # The cache key covers the version and every source file that goes into the binary.
    hash="$(cd "$src" && find Cargo.toml Cargo.lock crates/symship-cli crates/symship-scan crates/symship-api \
      crates/symship-release crates/symship-upload -type f -not -path '*/tests/*' -print0 2>/dev/null |
      sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
    key="symship-${RUNNER_OS:-local}-${RUNNER_ARCH:-local}-$version-$hash"
    dir="${HOME}/.cache/symship-action/$key"
    { echo "build=true"; echo "bin-dir=$dir/bin"; echo "key=$key"; echo "version=$version"; } >>"$out"
    note "symship $version: cache key $key"
    ;;
  build)
    bin_dir="${SYMSHIP_BIN_DIR:?}"
    if [ -x "$bin_dir/symship" ]; then note "restored from the cache: $bin_dir/symship"; exit 0; fi
    command -v cargo >/dev/null 2>&1 ||
      die "cargo is needed to build symship: add a Rust toolchain step (e.g. dtolnay/rust-toolchain@stable) before this action, or put symship on PATH"
    note "building symship from $src (a few minutes, once per version: the result is cached)"
    cargo install --locked --path "$src/crates/symship-cli" --root "$(dirname "$bin_dir")" >&2
    "$bin_dir/symship" --version >&2
    ;;
  *)
    die "usage: action-install.sh locate|build"
    ;;
esac
