#!/usr/bin/env bash
# The API and backup benchmark (benches/api.rs) with footrest and restic both emulated for a
# slow CPU: qemu-user on a Cortex-A53 (the Pi Zero 2 / Pi 3 core) with Debian's arm64 restic.
#
#   cross/qemu-bench.sh [aarch64|armv7] [suite]   (default: aarch64, the machine's own suite)
#
# With a suite (e.g. trixie), restic is that suite's Debian package for the architecture.
# Builds the cross binary with cross/build.sh when missing and fetches the sysroot as
# qemu-smoke.sh does. The bare tiny_http server of the RPC table runs natively: under emulation
# only the backup table's ratios compare like with like.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cache=$CARGO_TARGET_DIR/cross/sysroot
# shellcheck source=cross/qemu-lib.sh
source cross/qemu-lib.sh
need_qemu

short=${1:-aarch64}
read -r target darch qemu cpu < <(arch_info "$short")
bin=$CARGO_TARGET_DIR/cross/$target/footrest
[ -x "$bin" ] || cross/build.sh --no-check "$short"
fetch_sysroot "$darch"
sysroot=$cache/$darch
if [ -n "${2:-}" ]; then
  fetch_restic_suite "$darch" "$2"
  # The suite's restic inside the sysroot tree, so that the wrapper below runs it.
  sysroot=$cache/$darch-$2
fi

wrappers=$CARGO_TARGET_DIR/cross/bench-$short
mkdir -p "$wrappers"
# restic runs on the same emulated CPU as footrest.
restic_wrapper "$wrappers/restic" "$qemu" "$sysroot" "$cpu"
cat >"$wrappers/footrest" <<W
#!/bin/sh
exec $qemu -cpu $cpu '$bin' "\$@"
W
chmod 0755 "$wrappers/footrest"

echo "$short ($cpu under $("$qemu" --version | head -n1)), $("$wrappers/restic" version)"
FOOTREST_BENCH_RESTIC=$wrappers/restic FOOTREST_BENCH_DAEMON=$wrappers/footrest \
  cargo bench --bench api
