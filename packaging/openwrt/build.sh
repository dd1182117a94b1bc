#!/usr/bin/env bash
# Builds an OpenWrt package (ipk) with plain tar and gzip, as OpenWrt's own ipkg-build does:
# an outer tar.gz of debian-binary, control.tar.gz and data.tar.gz. No SDK needed.
# (OpenWrt 25.x and snapshots use apk packages instead; this is for opkg, up to 24.10.)
#
#   packaging/openwrt/build.sh BINARY OPENWRT_ARCH OUT_DIR
# OPENWRT_ARCH is the router's opkg architecture (`opkg print-architecture`), e.g. mipsel_24kc,
# aarch64_cortex-a53, arm_cortex-a7_neon-vfpv4, x86_64. The binary is static, so one build serves
# every architecture of its CPU family.
set -euo pipefail
source "$(dirname "$0")/../common.sh"
[ $# -eq 3 ] || { echo "usage: $0 BINARY OPENWRT_ARCH OUT_DIR" >&2; exit 2; }
bin=$1 arch=$2 out=$3
check_binary "$bin"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=$work/data ctrl=$work/control

install -D -m 0755 "$bin" "$data/usr/bin/footrest"
install -D -m 0755 "$pkg_dir/openwrt/footrest.init" "$data/etc/init.d/footrest"
install -D -m 0600 "$pkg_dir/openwrt/footrest.config" "$data/etc/config/footrest"
install -D -m 0644 "$pkg_dir/openwrt/keep.d" "$data/lib/upgrade/keep.d/footrest"

install -d -m 0755 "$ctrl"
install -m 0755 "$pkg_dir/openwrt/postinst" "$ctrl/postinst"
install -m 0755 "$pkg_dir/openwrt/prerm" "$ctrl/prerm"
echo /etc/config/footrest >"$ctrl/conffiles"
cat >"$ctrl/control" <<CONTROL
Package: footrest
Version: $version
Source: footrest
License: Apache-2.0
Section: utils
Architecture: $arch
Depends: ca-bundle
Installed-Size: $(du -sb "$data" | cut -f1)
Description: restic backup scheduler with Backrest's HTTP API, in a few MB of memory.
 Needs restic: opkg install restic, or run footrest install-restic.
CONTROL
find "$work" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$work/pkg"
reproducible_tgz "$work/pkg/control.tar.gz" "$ctrl"
reproducible_tgz "$work/pkg/data.tar.gz" "$data"
echo 2.0 >"$work/pkg/debian-binary"
touch -d "@$SOURCE_DATE_EPOCH" "$work/pkg" "$work/pkg"/*
ipk=$out/footrest_${version}_${arch}.ipk
# Member order as ipkg-build writes it.
tar --format=gnu --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -C "$work/pkg" \
  -cf - ./debian-binary ./data.tar.gz ./control.tar.gz | gzip -9n >"$ipk"
echo "$ipk"
