#!/usr/bin/env bash
# Builds a Synology DSM 7 package (spk): an uncompressed tar of INFO, package.tgz (bin/footrest),
# scripts/, conf/ and the two icons. No Synology toolkit needed.
#
#   packaging/synology/build.sh BINARY SYNO_ARCH OUT_DIR
# SYNO_ARCH: x86_64, armv8 (aarch64 models) or armv7. INFO lists the DSM platforms of each family
# (the static binary runs on all of them).
set -euo pipefail
source "$(dirname "$0")/../common.sh"
[ $# -eq 3 ] || { echo "usage: $0 BINARY SYNO_ARCH OUT_DIR" >&2; exit 2; }
bin=$1 arch=$2 out=$3
case $arch in
  x86_64) platforms="x86_64" ;;
  armv8) platforms="armv8 rtd1296 rtd1619b armada37xx" ;;
  armv7) platforms="armv7 alpine alpine4k armada375 armada38x armadaxp comcerto2k monaco" ;;
  *) echo "unknown Synology arch: $arch (x86_64, armv8, armv7)" >&2; exit 2 ;;
esac
check_binary "$bin"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
syn=$pkg_dir/synology

install -D -m 0755 "$bin" "$work/target/bin/footrest"
mkdir -p "$work/spk"
reproducible_tgz "$work/spk/package.tgz" "$work/target"
install -d -m 0755 "$work/spk/scripts" "$work/spk/conf"
install -m 0755 "$syn"/scripts/* "$work/spk/scripts/"
install -m 0644 "$syn"/conf/* "$work/spk/conf/"
python3 "$syn/icon.py" 64 "$work/spk/PACKAGE_ICON.PNG"
python3 "$syn/icon.py" 256 "$work/spk/PACKAGE_ICON_256.PNG"

# DSM versions are x.y.z-build.
cat >"$work/spk/INFO" <<INFO
package="footrest"
version="$version-0001"
os_min_ver="7.0-40000"
displayname="footrest"
description="Schedules restic backups and keeps their history, with Backrest's HTTP API, in a few MB of memory."
maintainer="footrest developers"
arch="$platforms"
ctl_stop="yes"
thirdparty="yes"
silent_upgrade="yes"
checksum="$(md5sum "$work/spk/package.tgz" | cut -d' ' -f1)"
INFO
find "$work/spk" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
spk=$out/footrest-${arch}-${version}.spk
reproducible_tar "$spk" "$work/spk"
echo "$spk"
