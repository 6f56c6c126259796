#!/usr/bin/env bash
# The GitHub Action's install steps (action.yml). symship is already on PATH, or restored from the
# actions/cache entry of an earlier run, or downloaded from the GitHub release of the action's
# version (the archive is used only when its SHA-256 matches the release's .sha256 file), or, when
# that fails, built from the action's own source with `cargo install --path`.
#
#   action-install.sh locate    decide; writes `build`, `bin-dir`, `key`, `version` to $GITHUB_OUTPUT
#   action-install.sh download  fetch and verify the released binary into $SYMSHIP_BIN_DIR (after a
#                               cache miss); on any failure it says why and leaves the directory
#                               empty, so that `build` runs
#   action-install.sh build     cargo install into $SYMSHIP_BIN_DIR/.. (when nothing is there yet)
#
# Environment: GITHUB_ACTION_PATH (the action's source), SYMSHIP_WANT_VERSION (the `version`
# input; empty = whatever symship is on PATH, else the action's own), RUNNER_OS, RUNNER_ARCH,
# SYMSHIP_VERSION (download: the version to fetch), SYMSHIP_RELEASE_BASE_URL (download: where
# releases live; default https://github.com/symship/symship/releases/download, a release's files
# under v<version>/).
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
    # The cache key covers the version and every source file that goes into the binary: every crate
    # but the test-only ones, so that a new crate is covered without editing this list.
    hash="$(cd "$src" && find Cargo.toml Cargo.lock crates -type f -not -path '*/tests/*' \
      -not -path 'crates/symship-testserver/*' -not -path 'crates/symship-test-support/*' -print0 2>/dev/null |
      sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
    key="symship-${RUNNER_OS:-local}-${RUNNER_ARCH:-local}-$version-$hash"
    dir="${HOME}/.cache/symship-action/$key"
    { echo "build=true"; echo "bin-dir=$dir/bin"; echo "key=$key"; echo "version=$version"; } >>"$out"
    note "symship $version: cache key $key"
    ;;
  download)
    bin_dir="${SYMSHIP_BIN_DIR:?}"
    if [ -x "$bin_dir/symship" ] || [ -x "$bin_dir/symship.exe" ]; then note "restored from the cache: $bin_dir"; exit 0; fi
    version="${SYMSHIP_VERSION:?}"
    [[ $version =~ ^[0-9A-Za-z.+-]+$ ]] || die "bad version $version"
    fallback() { printf '::warning title=symship action::%s; building symship from source instead\n' "$*" >&2; rm -rf "$tmp"; exit 0; }
    exe=symship
    case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
      Linux/X64) target=x86_64-unknown-linux-musl ;;
      Linux/ARM64) target=aarch64-unknown-linux-musl ;;
      macOS/X64) target=x86_64-apple-darwin ;;
      macOS/ARM64) target=aarch64-apple-darwin ;;
      Windows/X64) target=x86_64-pc-windows-msvc exe=symship.exe ;;
      *) tmp=""; fallback "no released binary for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}" ;;
    esac
    base="${SYMSHIP_RELEASE_BASE_URL:-https://github.com/symship/symship/releases/download}"
    base="${base%/}/v$version"
    proto='=https'
    case "$base" in http://127.0.0.1:* | http://localhost:*) proto='=http,https' ;; esac
    archive="symship-$target.tar.gz"
    tmp="$(mktemp -d)"
    fetch() { curl --proto "$proto" --fail --location --silent --show-error --retry 2 --max-time 300 -o "$2" "$1"; }
    command -v curl >/dev/null 2>&1 || fallback "curl is not installed"
    note "downloading $base/$archive"
    fetch "$base/$archive" "$tmp/$archive" || fallback "could not download $base/$archive"
    fetch "$base/$archive.sha256" "$tmp/$archive.sha256" ||
      fallback "the release has no checksum $archive.sha256: the archive is not used unverified"
    expected="$(awk 'NR == 1 { print tolower($1) }' "$tmp/$archive.sha256")"
    [[ $expected =~ ^[0-9a-f]{64}$ ]] || fallback "$archive.sha256 holds no SHA-256"
    if command -v sha256sum >/dev/null 2>&1; then
      actual="$(sha256sum "$tmp/$archive" | awk '{ print $1 }')"
    else
      actual="$(shasum -a 256 "$tmp/$archive" | awk '{ print $1 }')"
    fi
    [ "$actual" = "$expected" ] ||
      fallback "the SHA-256 of $archive is $actual, the release's checksum file says $expected: refused"
    mkdir -p "$tmp/x"
    tar -xzf "$tmp/$archive" -C "$tmp/x" || fallback "$archive is not a tar.gz archive"
    [ -f "$tmp/x/$exe" ] || fallback "$archive has no $exe"
    mkdir -p "$bin_dir"
    mv "$tmp/x/$exe" "$bin_dir/$exe"
    chmod 755 "$bin_dir/$exe"
    if ! have="$("$bin_dir/$exe" --version 2>/dev/null)"; then
      rm -f "$bin_dir/$exe"
      fallback "the downloaded $exe does not run"
    fi
    rm -rf "$tmp"
    note "installed $have from $archive (SHA-256 $actual verified)"
    ;;
  build)
    bin_dir="${SYMSHIP_BIN_DIR:?}"
    if [ -x "$bin_dir/symship" ]; then note "already installed (from the cache or the release): $bin_dir/symship"; exit 0; fi
    command -v cargo >/dev/null 2>&1 ||
      die "cargo is needed to build symship: add a Rust toolchain step (e.g. dtolnay/rust-toolchain@stable) before this action, or put symship on PATH"
    note "building symship from $src (a few minutes, once per version: the result is cached)"
    cargo install --locked --path "$src/crates/symship-cli" --root "$(dirname "$bin_dir")" >&2
    "$bin_dir/symship" --version >&2
    ;;
  *)
    die "usage: action-install.sh locate|download|build"
    ;;
esac
