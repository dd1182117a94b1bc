#!/usr/bin/env bash
# Builds every package from the binaries cross/build.sh left in target/cross/:
#   Debian (.deb), OpenWrt (.ipk), Synology DSM 7 (.spk), and the container build context.
#
#   packaging/build-all.sh [--host BINARY] [OUT_DIR]     (default OUT_DIR: target/packages)
#
# --host BINARY packages one x86_64 binary (any build, e.g. target/debug/footrest) for the x86_64
# flavour of each format: fast, for the tests. Without it, every target found in target/cross/ is
# packaged; missing ones are skipped with a note (build them with cross/build.sh).
set -euo pipefail
source "$(dirname "$0")/common.sh"
host=
if [ "${1:-}" = --host ]; then host=$2; shift 2; fi
out=${1:-${CARGO_TARGET_DIR:-$pkg_root/target}/packages}
mkdir -p "$out"
cross=${CARGO_TARGET_DIR:-$pkg_root/target}/cross

# rust target | deb arch | OpenWrt arch | Synology arch | container arch ("-" = none)
# The armv6 build goes into the armhf .deb: Raspberry Pi OS's armhf is ARMv6, so it runs on a
# Pi Zero as well as on armv7 Debian.
table="x86_64-unknown-linux-musl amd64 x86_64 x86_64 amd64
aarch64-unknown-linux-musl arm64 aarch64_generic armv8 arm64
armv7-unknown-linux-musleabihf - arm_cortex-a7_neon-vfpv4 armv7 arm
arm-unknown-linux-musleabihf armhf arm_arm1176jzf-s_vfp - -
mipsel-unknown-linux-musl - mipsel_24kc - -"

ctx=$out/container
mkdir -p "$ctx"
cp "$pkg_dir/container/Containerfile" "$ctx/Containerfile"
while read -r target deb owrt syno oci; do
  if [ -n "$host" ]; then
    [ "$target" = x86_64-unknown-linux-musl ] || continue
    bin=$host
  else
    bin=$cross/$target/footrest
    if [ ! -f "$bin" ]; then echo "skipping $target: no $bin" >&2; continue; fi
  fi
  [ "$deb" = - ] || "$pkg_dir/debian/build.sh" "$bin" "$deb" "$out"
  [ "$owrt" = - ] || "$pkg_dir/openwrt/build.sh" "$bin" "$owrt" "$out"
  [ "$syno" = - ] || "$pkg_dir/synology/build.sh" "$bin" "$syno" "$out"
  if [ "$oci" != - ]; then install -m 0755 "$bin" "$ctx/footrest-$oci"; echo "$ctx/footrest-$oci"; fi
done <<<"$table"
