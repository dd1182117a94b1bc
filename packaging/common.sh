# Sourced by the packaging scripts: the version, and reproducible archive helpers.
# shellcheck shell=bash

pkg_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pkg_dir=$pkg_root/packaging
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$pkg_root/Cargo.toml" | head -n1)
# Archive timestamps: the last commit's time, so the same tree gives the same bytes.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$pkg_root" log -1 --format=%ct 2>/dev/null || echo 0)}

# tar of a directory's contents, owned by root, sorted, with fixed times. $1 = output, $2 = dir,
# rest = extra tar flags (e.g. -z). Entries are "./name", as dpkg and opkg expect.
reproducible_tar() {
  local out=$1 dir=$2
  shift 2
  tar "$@" --format=gnu --owner=0 --group=0 --numeric-owner --sort=name \
    --mtime="@$SOURCE_DATE_EPOCH" -C "$dir" -cf "$out" .
}

# gzip without a name or timestamp in the header.
reproducible_tgz() {
  local out=$1 dir=$2
  reproducible_tar /dev/stdout "$dir" | gzip -9n >"$out"
}

# Checks that a binary exists and is executable; prints its --version (host binaries only).
check_binary() {
  [ -f "$1" ] || { echo "no binary at $1 (run cross/build.sh first)" >&2; return 1; }
}
