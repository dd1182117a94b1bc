#!/usr/bin/env bash
# Builds static musl binaries of footrest for the devices it runs on, checks that each one starts
# under qemu-user (`--version`), and prints a size table.
#
#   cross/build.sh [--no-tls] [--no-check] [--panic-messages] [TARGET...]
#
# TARGET is a Rust target triple or a short name: x86_64, aarch64, armv7, armv6, mipsel
# (default: all five). Binaries land in target/cross/<triple>/footrest (target/cross-notls/... with
# --no-tls, which builds without the default `tls` feature).
#
# Panics: the binaries are built with -C panic=immediate-abort, so a panic (a bug) ends the
# process at once (SIGILL on x86, SIGTRAP on arm) and prints nothing; the formatting and location data a panic
# message needs cost 0.27 MB. --panic-messages builds with panic=abort instead: the message and
# its source location are printed before the abort (as with a plain `cargo build --release`).
#
# Route (the only one that works with the toolchain this machine can fetch):
#   - std is built from rust-src for every target with -Zbuild-std (RUSTC_BOOTSTRAP=1 on the
#     stable toolchain), with std's `optimize_for_size` feature instead of its default set (no
#     `backtrace`: no symbolizer linked in) and without unwind tables (-C force-unwind-tables=no;
#     nothing unwinds with panic=abort): 0.7 MB less than rustup's prebuilt std on x86_64
#     (BENCHMARKS.md, Binary size).
#   - x86_64 and aarch64 musl: rustup's target (`rustup target add`) still supplies Rust's
#     self-contained musl crt objects and libc.
#   - armv7, armv6 (Pi Zero/1) and mipsel: no prebuilt target is served, so those link with
#     -C link-self-contained=no and take crt and libc from zig's musl instead.
#   - mipsel is linked non-PIE (-C relocation-model=static): static-pie crashes at startup there.
#   - cargo-zigbuild with ziglang (both from PyPI) is the linker and C compiler for every target.
#
# Installs what it needs: ziglang + cargo-zigbuild (pip), rustup targets and rust-src,
# qemu-user-static (apt) for the check.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}

features=()
outdir=$CARGO_TARGET_DIR/cross
check=1
panic=immediate-abort
targets=()
for a in "$@"; do
  case $a in
    --no-tls) features=(--no-default-features); outdir=$CARGO_TARGET_DIR/cross-notls ;;
    --no-check) check= ;;
    --panic-messages) panic=abort ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    x86_64) targets+=(x86_64-unknown-linux-musl) ;;
    aarch64) targets+=(aarch64-unknown-linux-musl) ;;
    armv7) targets+=(armv7-unknown-linux-musleabihf) ;;
    armv6|arm) targets+=(arm-unknown-linux-musleabihf) ;;
    mipsel) targets+=(mipsel-unknown-linux-musl) ;;
    *-*) targets+=("$a") ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf
           arm-unknown-linux-musleabihf mipsel-unknown-linux-musl)
fi

# --- tools ---------------------------------------------------------------------------------
if ! command -v cargo-zigbuild >/dev/null 2>&1 || ! python3 -c 'import ziglang' 2>/dev/null; then
  echo "installing ziglang and cargo-zigbuild (pip)"
  python3 -m pip install --quiet --root-user-action=ignore ziglang cargo-zigbuild
  hash -r
fi
sysroot=$(rustc --print sysroot)
if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
  rustup component add rust-src
fi
if [ -n "$check" ] && ! command -v qemu-aarch64-static >/dev/null 2>&1; then
  echo "installing qemu-user-static (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi

# --- per-target settings -------------------------------------------------------------------
# prints: <rustup serves the target: yes|no> <extra rustflags> <qemu command line, "-" for native>
settings() {
  case $1 in
    # musl targets link statically by default (crt-static).
    x86_64-unknown-linux-musl) echo "yes||-" ;;
    aarch64-unknown-linux-musl) echo "yes||qemu-aarch64-static -cpu cortex-a53" ;;
    armv7-unknown-linux-musleabihf)
      echo "no|-C link-self-contained=no|qemu-arm-static -cpu cortex-a7" ;;
    arm-unknown-linux-musleabihf)
      echo "no|-C link-self-contained=no|qemu-arm-static -cpu arm1176" ;;
    mipsel-unknown-linux-musl)
      echo "no|-C link-self-contained=no -C relocation-model=static -C target-feature=+crt-static|qemu-mipsel-static -cpu 24Kc" ;;
    *) echo "unsupported target: $1" >&2; return 1 ;;
  esac
}

# std's features for -Zbuild-std; this replaces std's default set, which holds `backtrace`.
std_features=optimize_for_size
installed_targets=$(rustup target list --installed)
rows=()
for t in "${targets[@]}"; do
  IFS='|' read -r prebuilt flags qemu < <(settings "$t")
  args=(zigbuild --release --locked --target "$t" "${features[@]}"
        -Zbuild-std=std,panic_abort "-Zbuild-std-features=$std_features")
  if [ "$prebuilt" = yes ]; then
    grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
  fi
  flags="-C force-unwind-tables=no $flags"
  [ "$panic" = abort ] || flags="-Zunstable-options -C panic=immediate-abort $flags"
  var=CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$t")_RUSTFLAGS
  echo "=== $t"
  start=$(date +%s)
  # Flags go in the per-target variable so host build scripts are not built with them.
  env RUSTC_BOOTSTRAP=1 "$var=$flags" cargo "${args[@]}"
  secs=$(( $(date +%s) - start ))
  mkdir -p "$outdir/$t"
  cp "$CARGO_TARGET_DIR/$t/release/footrest" "$outdir/$t/footrest.tmp"
  mv "$outdir/$t/footrest.tmp" "$outdir/$t/footrest"
  bin=$outdir/$t/footrest
  runs=unchecked
  if [ -n "$check" ]; then
    if [ "$qemu" = - ]; then out=$("$bin" --version); else out=$($qemu "$bin" --version); fi
    [ "$out" = "footrest $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)" ] \
      || { echo "$t: --version printed '$out'" >&2; exit 1; }
    runs="ok (${qemu%% *})"
    [ "$qemu" = - ] && runs="ok (native)"
  fi
  rows+=("$(printf '%-34s %10s %8s  %5ss  %s' "$t" "$(stat -c %s "$bin")" \
    "$(awk -v b="$(stat -c %s "$bin")" 'BEGIN{printf "%.2f", b/1048576}')" "$secs" "$runs")")
done

echo
printf '%-34s %10s %8s  %6s  %s\n' target bytes MiB build "--version"
for r in "${rows[@]}"; do echo "$r"; done
