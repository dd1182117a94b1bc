# Shared by qemu-smoke.sh and qemu-bench.sh (sourced from the repo root, with $cache set to
# the sysroot cache): the architectures, and Debian's restic + libc6 for one as a qemu sysroot.

need() { command -v "$1" >/dev/null 2>&1; }
need_qemu() {
  if ! need qemu-aarch64-static || ! need curl || ! need jq; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      qemu-user-static curl jq >/dev/null
  fi
}

# <short name> -> <rust target> <debian arch> <qemu binary> <qemu cpu>
arch_info() {
  case $1 in
    aarch64) echo "aarch64-unknown-linux-musl arm64 qemu-aarch64-static cortex-a53" ;;
    armv7) echo "armv7-unknown-linux-musleabihf armhf qemu-arm-static cortex-a7" ;;
    # Debian's armhf restic is built for armv7: under qemu it runs on a newer CPU than a Pi Zero's.
    armv6) echo "arm-unknown-linux-musleabihf armhf qemu-arm-static arm1176" ;;
    mipsel) echo "mipsel-unknown-linux-musl mipsel qemu-mipsel-static 24Kc" ;;
    *) echo "unknown architecture: $1" >&2; return 1 ;;
  esac
}

# Debian's restic + libc6 for one architecture, unpacked into one tree.
fetch_sysroot() {
  local darch=$1 dir=$cache/$1
  if [ -x "$dir/usr/bin/restic" ]; then return; fi
  echo "fetching restic and libc6 for $darch (apt-get download)"
  local apt=$cache/apt-$darch
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs"
  local opts=(-o "APT::Architecture=$darch" -o "APT::Architectures=$darch"
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::Archives=$apt/archives"
              -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
              -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
  # A mirror mid-sync fails one index now and then; the download below says if it mattered.
  apt-get "${opts[@]}" update -qq || echo "apt-get update had errors; trying the download anyway" >&2
  (cd "$apt/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download restic libc6 >/dev/null) \
    || return 1
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  for d in "$apt"/debs/*.deb; do dpkg-deb -x "$d" "$dir.tmp" || return 1; done
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

# Debian's restic of another suite (e.g. trixie's 0.18) for one architecture, unpacked over a
# copy of that architecture's sysroot (fetch_sysroot first) into $cache/<arch>-<suite>.
fetch_restic_suite() { # darch suite
  local darch=$1 suite=$2 dir=$cache/$1-$2
  if [ -x "$dir/usr/bin/restic" ]; then return; fi
  local mirror
  mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ \
    2>/dev/null | grep -v security | head -n1 | awk '{print $2}' || true)
  [ -n "$mirror" ] || { echo "no Debian mirror found in the apt sources" >&2; return 1; }
  echo "fetching restic for $darch from $suite (apt-get download)"
  local apt=$cache/apt-$darch-$suite
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs"
  echo "deb [trusted=yes] $mirror $suite main" >"$apt/sources.list"
  local opts=(-o "APT::Architecture=$darch" -o "APT::Architectures=$darch"
              -o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::Archives=$apt/archives"
              -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
              -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
  apt-get "${opts[@]}" update -qq || return 1
  (cd "$apt/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download restic >/dev/null) || return 1
  rm -rf "$dir.tmp"
  cp -a "$cache/$darch" "$dir.tmp"
  dpkg-deb -x "$apt"/debs/restic_*.deb "$dir.tmp" || return 1
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

# A script at $1 that runs the sysroot's restic under qemu: footrest's children are started by
# the host kernel, so --restic-cmd must name something the host can run.
restic_wrapper() { # path qemu sysroot [cpu]
  cat >"$1" <<EOF
#!/bin/sh
exec $2 ${4:+-cpu $4 }-L '$3' '$3/usr/bin/restic' "\$@"
EOF
  chmod 0755 "$1"
}
