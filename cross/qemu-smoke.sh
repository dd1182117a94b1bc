#!/usr/bin/env bash
# End-to-end smoke test of the cross-built footrest under qemu-user, with Debian's restic for the
# same architecture (also emulated): start, GetConfig, AddRepo, SetConfig with a plan, Backup,
# GetOperations shows the backup with STATUS_SUCCESS.
#
#   cross/qemu-smoke.sh [aarch64] [armv7] [armv6] [mipsel]   (default: aarch64 armv7)
#
# Builds the binaries with cross/build.sh if they are missing (FOOTREST_SMOKE_REBUILD=1 always
# rebuilds). Debian's restic and libc6 for the architecture are fetched with `apt-get download`
# from the machine's own apt sources into target/cross/sysroot/<debian-arch> and used as the qemu
# sysroot (-L). Under qemu-user, an emulated footrest's children are started by the host kernel,
# so --restic-cmd points at a wrapper script that runs restic through qemu as well.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cache=$CARGO_TARGET_DIR/cross/sysroot
password="correct horse battery staple"

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(aarch64 armv7)

# shellcheck source=cross/qemu-lib.sh
source cross/qemu-lib.sh
need_qemu

now() { date +%s.%N; }

rpc() { # port method json -> prints the body, fails on a non-200 answer
  local out code
  out=$(curl -sS --max-time 1800 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data "$3" "http://127.0.0.1:$1/v1.Backrest/$2")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "$code" != 200 ]; then echo "$2 answered $code: $out" >&2; return 1; fi
  printf '%s' "$out"
}

# The RPC sequence; every step must pass (no `set -e` here: it is off inside a tested call).
scenario() {
  local port=$1 work=$2 cfg ops
  rpc "$port" GetConfig '{}' >/dev/null || return 1
  rpc "$port" AddRepo "$(jq -n --arg uri "$work/repo" --arg pw "$password" \
    '{repo: {id: "r", uri: $uri, password: $pw}}')" >/dev/null || return 1
  cfg=$(rpc "$port" GetConfig '{}') || return 1
  rpc "$port" SetConfig "$(jq --arg p "$work/src" '.plans = [{id: "p", repo: "r", paths: [$p]}]' \
    <<<"$cfg")" >/dev/null || return 1
  rpc "$port" Backup '{"value":"p"}' >/dev/null || return 1
  ops=$(rpc "$port" GetOperations '{}') || return 1
  jq -e '[.operations[] | select(.operationBackup != null and .status == "STATUS_SUCCESS")]
         | length == 1' <<<"$ops" >/dev/null \
    || { echo "no successful backup operation in: $ops" >&2; return 1; }
  # The snapshot is really in the repository, read back with the emulated restic.
  RESTIC_PASSWORD=$password XDG_CACHE_HOME=$work/cache "$work/restic" -r "$work/repo" \
    snapshots --json --no-lock | jq -e 'length == 1' >/dev/null \
    || { echo "the repository has no snapshot" >&2; return 1; }
}

smoke() {
  local short=$1 target darch qemu cpu
  read -r target darch qemu cpu < <(arch_info "$short")
  local bin=$CARGO_TARGET_DIR/cross/$target/footrest
  if [ ! -x "$bin" ] || [ -n "${FOOTREST_SMOKE_REBUILD:-}" ]; then
    cross/build.sh --no-check "$short" || return 1
  fi
  fetch_sysroot "$darch" || { echo "$short: could not fetch Debian's restic for $darch" >&2; return 1; }
  local sysroot=$cache/$darch
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/footrest-smoke-$short.XXXXXX")
  local t0
  t0=$(now)

  restic_wrapper "$work/restic" "$qemu" "$sysroot"
  "$work/restic" version || return 1

  mkdir -p "$work/src/sub"
  echo "hello footrest" >"$work/src/hello.txt"
  head -c 262144 /dev/urandom >"$work/src/sub/data.bin"

  XDG_CACHE_HOME=$work/cache HOME=$work FOOTREST_LOG=debug \
    $qemu -cpu "$cpu" "$bin" --bind-address 127.0.0.1:0 --config-file "$work/config.json" \
    --data-dir "$work/data" --restic-cmd "$work/restic" 2>"$work/footrest.log" &
  local pid=$!
  local port=
  for _ in $(seq 1 600); do
    port=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9]*\).*/\1/p' "$work/footrest.log" | head -n1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    cat "$work/footrest.log" >&2
    echo "$short: footrest did not start" >&2
    return 1
  fi
  local t_start
  t_start=$(now)

  local ok=
  scenario "$port" "$work" && ok=1
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local t_end
  t_end=$(now)
  if [ -z "$ok" ]; then
    echo "--- footrest log ($short)" >&2
    cat "$work/footrest.log" >&2
    echo "$short: FAILED (files kept in $work)" >&2
    return 1
  fi
  rm -rf "$work"
  results+=("$(awk -v a="$short" -v t="$target" -v d="$darch" -v s="$t_start" -v e="$t_end" \
    -v z="$t0" 'BEGIN{printf "%-8s %-32s %-8s %8.1fs %8.1fs  ok", a, t, d, s - z, e - z}')")
}

results=()
status=0
for a in "${arches[@]}"; do
  echo "=== $a"
  smoke "$a" || status=1
done
echo
printf '%-8s %-32s %-8s %9s %9s\n' arch target restic "listening" total
for r in "${results[@]}"; do echo "$r"; done
exit $status
