#!/usr/bin/env bash
# Builds footrest_<version>_<arch>.deb with dpkg-deb (no cargo-deb needed; Cargo.toml's
# [package.metadata.deb] describes the same package for `cargo deb`).
#
#   packaging/debian/build.sh BINARY DEB_ARCH OUT_DIR
set -euo pipefail
source "$(dirname "$0")/../common.sh"
[ $# -eq 3 ] || { echo "usage: $0 BINARY DEB_ARCH OUT_DIR" >&2; exit 2; }
bin=$1 arch=$2 out=$3
check_binary "$bin"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root

install -D -m 0755 "$bin" "$root/usr/bin/footrest"
install -D -m 0644 "$pkg_dir/systemd/footrest.service" "$root/lib/systemd/system/footrest.service"
install -D -m 0644 "$pkg_dir/debian/default" "$root/etc/default/footrest"
install -D -m 0644 "$pkg_dir/debian/copyright" "$root/usr/share/doc/footrest/copyright"
install -D -m 0644 "$pkg_dir/README.md" "$root/usr/share/doc/footrest/README.packaging.md"

install -d -m 0755 "$root/DEBIAN"
for s in postinst prerm postrm; do
  install -m 0755 "$pkg_dir/debian/$s" "$root/DEBIAN/$s"
done
echo /etc/default/footrest >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: footrest
Version: $version
Architecture: $arch
Maintainer: footrest developers <footrest@localhost>
Installed-Size: $size
Depends: restic (>= 0.14), adduser
Recommends: ca-certificates
Section: admin
Priority: optional
Description: restic backup scheduler with Backrest's HTTP API
 footrest schedules and runs restic backups, keeps their history and speaks
 Backrest's HTTP API, in a few MB of memory. Built for small machines such as
 a Raspberry Pi. Runs as the system user footrest under a hardened systemd unit.
CONTROL
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=$out/footrest_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
