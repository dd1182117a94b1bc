#!/usr/bin/env bash
# Runs footrest's whole test suite on a fresh Debian machine.
#
# Installs what the tests need when it is missing: restic 0.14 (Debian bookworm, apt) and
# restic 0.18 (the trixie .deb of the same mirror this machine already uses, unpacked into a
# cache dir, never installed system-wide). Then runs the suite once per restic version; the
# tests pick the binary from FOOTREST_TEST_RESTIC.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=${FOOTREST_TEST_CACHE:-$root/target/test-deps}
mkdir -p "$cache"

apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# restic 0.14 from the machine's own suite (bookworm).
if ! command -v restic >/dev/null 2>&1; then
  echo "installing restic (apt)"
  apt_install restic
fi
restic_old=$(command -v restic)

# restic 0.18 from trixie: a private sources list and lists dir pointing at the mirror the
# machine already uses, then `apt-get download` and `dpkg-deb -x` into the cache.
restic_new=$cache/restic-trixie/usr/bin/restic
if [ ! -x "$restic_new" ]; then
  echo "fetching restic from trixie"
  mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -v security | head -n1 | awk '{print $2}' || true)
  mirror=${mirror:-$(grep -rhoE 'https?://[^ ]+/debian/?' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 || true)}
  [ -n "$mirror" ] || { echo "no Debian mirror found in the apt sources" >&2; exit 1; }
  apt_dir=$cache/apt-trixie
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  echo "deb [signed-by=$keyring] $mirror trixie main" >"$apt_dir/sources.list"
  opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
        -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")
  if ! apt-get "${opts[@]}" update -qq 2>"$apt_dir/update.err"; then
    # An older keyring may not know trixie's signing key yet.
    echo "deb [trusted=yes] $mirror trixie main" >"$apt_dir/sources.list"
    apt-get "${opts[@]}" update -qq
  fi
  (cd "$apt_dir" && rm -f restic_*.deb && apt-get "${opts[@]}" download restic >/dev/null)
  rm -rf "$cache/restic-trixie"
  dpkg-deb -x "$apt_dir"/restic_*.deb "$cache/restic-trixie"
fi

# The browser tests (tests/ui): Debian's Chromium, Node.js, and playwright-core and axe-core
# from tests/ui/package-lock.json (playwright-core only drives the browser: it downloads none).
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium (apt)"
  apt_install chromium
fi
if ! command -v node >/dev/null 2>&1; then
  echo "installing nodejs (apt)"
  apt_install nodejs
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "installing npm (apt)"
  apt_install npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "the browser tests need Node.js 20 or newer (playwright-core); this is $(node --version)" >&2
  exit 1
fi
ui=$root/tests/ui
# npm ci again only when the lock file changed since the last install.
stamp=$ui/node_modules/.footrest-package-lock.json
if ! cmp -s "$ui/package-lock.json" "$stamp" || [ ! -f "$ui/node_modules/playwright-core/package.json" ] \
    || [ ! -f "$ui/node_modules/axe-core/package.json" ]; then
  echo "installing playwright-core and axe-core (npm ci in tests/ui)"
  (cd "$ui" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$ui/package-lock.json" "$stamp"
fi

# The MQTT tests run Debian's mosquitto broker and its clients.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] || ! command -v mosquitto_sub >/dev/null 2>&1; then
  echo "installing mosquitto and mosquitto-clients (apt)"
  apt_install mosquitto mosquitto-clients
fi

# The metrics tests read /metrics with the Prometheus project's Python parser
# (prometheus_client from PyPI, in a venv under the cache).
py=$cache/py
if ! "$py/bin/python" -c 'import prometheus_client' >/dev/null 2>&1; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "installing python3-venv (apt)"
    apt_install python3 python3-venv
  fi
  echo "installing prometheus_client (pip, in $py)"
  rm -rf "$py"
  python3 -m venv "$py"
  "$py/bin/pip" install --quiet --disable-pip-version-check 'prometheus_client==0.26.0'
fi
export FOOTREST_TEST_PYTHON=$py/bin/python

"$restic_old" version
"$restic_new" version
echo "prometheus_client $("$py/bin/python" -c 'import importlib.metadata as m; print(m.version("prometheus_client"))')"
/usr/bin/chromium --version 2>/dev/null
echo "node $(node --version), playwright-core $(node -p "require('$ui/node_modules/playwright-core/package.json').version")," \
  "axe-core $(node -p "require('$ui/node_modules/axe-core/package.json').version")"
if [ "${1:-}" = "--deps-only" ]; then
  echo "FOOTREST_TEST_RESTIC=$restic_old"
  echo "FOOTREST_TEST_RESTIC=$restic_new"
  exit 0
fi

cargo build --quiet --all-targets
# Everything once with the oldest supported restic, then the tests that run restic again with
# the newer one.
echo "=== all tests with $("$restic_old" version | head -n1)"
# FOOTREST_CROSS=1: the size budget's musl cross build (tests/cross_footprint.rs) runs too.
FOOTREST_CROSS=1 FOOTREST_TEST_RESTIC=$restic_old cargo test --quiet --all-targets
echo "=== restic-facing tests with $("$restic_new" version | head -n1)"
FOOTREST_TEST_RESTIC=$restic_new cargo test --quiet --test integration
