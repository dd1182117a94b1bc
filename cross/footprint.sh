#!/usr/bin/env bash
# Measures footrest's footprint and prints the tables of BENCHMARKS.md (## Footprint):
#   1. stripped size of the static binary per target, with and without the `tls` feature;
#   2. on x86_64 musl: idle RSS (empty history and a 10k-operation history) and the time from
#      exec to the first answered request, beside a bare tiny_http hello-world built with the same
#      profile (examples/hello_tiny_http.rs, the floor) and Debian's restic-rest-server (a Go
#      daemon of the restic world, for scale).
#
#   cross/footprint.sh [--quick]    (--quick: sizes for x86_64 only)
#
# Exits non-zero if the x86_64 musl binary with tls is over the 2.5 MB (2,500,000-byte) budget (tests/cross_footprint.rs
# checks the same in the test suite).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
quick=
[ "${1:-}" = --quick ] && quick=1
budget=2500000   # 2.5 MB
runs=${FOOTPRINT_RUNS:-7}

all=(x86_64 aarch64 armv7 armv6 mipsel)
[ -n "$quick" ] && all=(x86_64)
cross/build.sh --no-check "${all[@]}" >/tmp/footprint-build.log 2>&1 \
  || { tail -40 /tmp/footprint-build.log; exit 1; }
cross/build.sh --no-check --no-tls "${all[@]}" >>/tmp/footprint-build.log 2>&1 \
  || { tail -40 /tmp/footprint-build.log; exit 1; }
# The floor is built the way cross/build.sh builds footrest (std from source, same flags).
RUSTC_BOOTSTRAP=1 CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C force-unwind-tables=no" \
  cargo zigbuild --quiet --release --locked --target x86_64-unknown-linux-musl \
  -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size \
  --example hello_tiny_http >>/tmp/footprint-build.log 2>&1 \
  || { tail -40 /tmp/footprint-build.log; exit 1; }
hello=$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release/examples/hello_tiny_http

# restic-rest-server: Debian packages it from trixie on (bookworm has none). Take it from the
# machine's apt sources if they have it, else download trixie's .deb into a cache dir (as
# tests/run.sh does for restic 0.18); it is a static Go binary.
rest=$(command -v restic-rest-server || true)
if [ -z "$rest" ]; then
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends restic-rest-server \
    >/dev/null 2>&1 || true
  rest=$(command -v restic-rest-server || true)
fi
if [ -z "$rest" ]; then
  cache=$CARGO_TARGET_DIR/cross/rest-server
  rest=$cache/usr/bin/restic-rest-server
  if [ ! -x "$rest" ]; then
    # The mirror of an active sources line (not a commented snapshot URL).
    mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
      /etc/apt/sources.list.d/ 2>/dev/null | grep -v security | head -n1 | awk '{print $2}' || true)
    [ -n "$mirror" ] || { echo "no Debian mirror in the apt sources" >&2; exit 1; }
    apt=$cache-apt
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
      >"$apt/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::Archives=$apt/archives"
          -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
          -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
    if ! apt-get "${opts[@]}" update -qq 2>/dev/null; then
      # An older keyring may not know trixie's signing key yet.
      echo "deb [trusted=yes] $mirror trixie main" >"$apt/sources.list"
      apt-get "${opts[@]}" update -qq
    fi
    (cd "$apt/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download restic-rest-server >/dev/null)
    rm -rf "$cache"
    dpkg-deb -x "$apt"/debs/restic-rest-server_*.deb "$cache"
  fi
fi

echo "### Binary size (stripped, static musl, release profile)"
echo
echo "| target | with tls (default) | without tls | tls costs |"
echo "|---|---:|---:|---:|"
triple() {
  case $1 in
    x86_64) echo x86_64-unknown-linux-musl ;; aarch64) echo aarch64-unknown-linux-musl ;;
    armv7) echo armv7-unknown-linux-musleabihf ;; armv6) echo arm-unknown-linux-musleabihf ;;
    mipsel) echo mipsel-unknown-linux-musl ;;
  esac
}
over=
for a in "${all[@]}"; do
  t=$(triple "$a")
  w=$(stat -c %s "$CARGO_TARGET_DIR/cross/$t/footrest")
  n=$(stat -c %s "$CARGO_TARGET_DIR/cross-notls/$t/footrest")
  awk -v t="$t" -v w="$w" -v n="$n" 'BEGIN{printf "| %s | %d (%.2f MiB) | %d (%.2f MiB) | %+.0f KiB |\n", t, w, w/1048576, n, n/1048576, (w-n)/1024}'
  if [ "$a" = x86_64 ] && [ "$w" -gt "$budget" ]; then over=$w; fi
done
echo

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
footrest=$CARGO_TARGET_DIR/cross/x86_64-unknown-linux-musl/footrest
# 10k finished backups written through the oplog's own API (an ignored test does the writing).
FOOTREST_SEED_DIR=$work/seeded FOOTREST_SEED_COUNT=10000 \
  cargo test --quiet --locked --test cross_footprint -- --ignored --exact seed_history \
  >>/tmp/footprint-build.log 2>&1 || { tail -20 /tmp/footprint-build.log; exit 1; }

echo "### Idle memory and startup, x86_64 musl (median of $runs runs)"
echo
python3 - "$work" "$runs" "$footrest" "$hello" "$rest" "$quick" <<'PY'
import json, os, shutil, socket, statistics, subprocess, sys, time

work, runs, footrest, hello, rest, quick = sys.argv[1], int(sys.argv[2]), *sys.argv[3:7]

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

def request(port, raw):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        return data

def post(method):
    return (f"POST /v1.Backrest/{method} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}").encode()

GET = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])

def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))

def measure(name, argv_for, req, data_for=None):
    starts, rss, hwm, thr = [], [], [], []
    for i in range(runs):
        port = free_port()
        d = os.path.join(work, f"{name}-{i}")
        if data_for:
            data_for(d)
        else:
            os.makedirs(d, exist_ok=True)
        env = dict(os.environ, HOME=d, XDG_CACHE_HOME=os.path.join(d, "cache"), FOOTREST_LOG="warn")
        t0 = time.perf_counter()
        p = subprocess.Popen(argv_for(port, d), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
        try:
            while True:
                try:
                    r = request(port, req)
                    if r.startswith(b"HTTP/1."):
                        break
                except OSError:
                    pass
                if p.poll() is not None:
                    raise SystemExit(f"{name} exited with {p.returncode}")
                if time.perf_counter() - t0 > 30:
                    raise SystemExit(f"{name} did not answer within 30 s")
                time.sleep(0.0005)
            starts.append((time.perf_counter() - t0) * 1000)
            request(port, req)
            time.sleep(1.0)
            rss.append(status_kib(p.pid, "VmRSS"))
            hwm.append(status_kib(p.pid, "VmHWM"))
            thr.append(threads(p.pid))
        finally:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    med = statistics.median
    return name, med(rss), med(hwm), med(thr), med(starts), min(starts)

def footrest_argv(port, d):
    return [footrest, "--bind-address", f"127.0.0.1:{port}", "--config-file",
            os.path.join(d, "config.json"), "--data-dir", os.path.join(d, "data")]

def seeded(d):
    shutil.copytree(os.path.join(work, "seeded"), d)

rows = [
    measure("footrest, empty history", footrest_argv, post("GetConfig")),
    measure("footrest, 10k operations", footrest_argv, post("GetConfig"), seeded),

    measure("hello_tiny_http (floor)", lambda port, d: [hello, f"127.0.0.1:{port}"], GET),
    measure("restic-rest-server (Go)", lambda port, d: [rest, "--listen", f"127.0.0.1:{port}",
            "--path", os.path.join(d, "repos"), "--no-auth"], GET),
]
size = {"footrest": os.path.getsize(footrest), "hello": os.path.getsize(hello),
        "restic-rest-server": os.path.getsize(rest)}
print("| process | binary | idle RSS | peak RSS | threads | exec → first answer (median / best) |")
print("|---|---:|---:|---:|---:|---:|")
for name, r, h, t, s, best in rows:
    key = next(k for k in size if name.startswith(k))
    print(f"| {name} | {size[key] / 1048576:.2f} MiB | {r / 1024:.1f} MiB | {h / 1024:.1f} MiB "
          f"| {t} | {s:.1f} ms / {best:.1f} ms |")
PY
echo
if [ -n "$over" ]; then
  echo "OVER BUDGET: x86_64 musl with tls is $over bytes, budget $budget" >&2
  exit 1
fi
echo "x86_64 musl with tls is within the $budget-byte budget."
