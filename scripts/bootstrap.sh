# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh: makes a fresh clone ready to run.
# Idempotent: each step runs only when needed and prints one line when it does.
#   PYTHON=python3.12      use that interpreter for .venv
#   BOOTSTRAP_NODE=0       skip the Node.js check and npm install (the demo needs no Node)
#   BOOTSTRAP_BROWSER=0    skip chromium and chromedriver (only the browser test needs them)
#   BOOTSTRAP_TEST_TOOLS=0 install only redis-server (no sentinel, nginx, browser): the demo
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

_say() { printf 'bootstrap: %s\n' "$*" >&2; }
_die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }
_hash() { cksum < "$1" | tr -d ' \t'; }

# 1. A Python >= 3.10 and the project's venv with the package and its test extras.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c '' 2>/dev/null; then
  py=""
  for cand in ${PYTHON:-python3 python3.13 python3.12 python3.11 python3.10}; do
    if command -v "$cand" >/dev/null 2>&1 \
      && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      py=$cand; break
    fi
  done
  [ -n "$py" ] || _die "need Python >= 3.10 (found none; set PYTHON=/path/to/python3.x)"
  _say "creating .venv with $py ($("$py" -c 'import sys; print(sys.version.split()[0])'))"
  rm -rf .venv
  "$py" -m venv .venv \
    || _die "'$py -m venv' failed; on Debian/Ubuntu: sudo apt-get install python3-venv"
fi
stamp=.venv/.bootstrap-pyproject
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$(_hash pyproject.toml)" ]; then
  _say "installing the package and test dependencies into .venv (pip install -e '.[test]')"
  PIP_DISABLE_PIP_VERSION_CHECK=1 .venv/bin/python -m pip install -q -e '.[test]'
  _hash pyproject.toml > "$stamp"
fi

# 2. redis-server, redis-cli and redis-sentinel (tests start their own servers and sentinels;
#    no system service is needed, nor started), and nginx (the examples' load balancer, run
#    in the foreground by its test; its system service is not started either).
packages=""
command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 \
  || packages="redis-server"
# BOOTSTRAP_TEST_TOOLS=0 (the demo): only Redis itself.
if [ "${BOOTSTRAP_TEST_TOOLS:-1}" != 0 ]; then
  command -v redis-sentinel >/dev/null 2>&1 || packages="${packages:+$packages }redis-sentinel"
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages="${packages:+$packages }nginx"
fi
# Headless Chromium and Debian's chromedriver for the chat demo's browser test (Selenium is
# pointed at /usr/bin/chromedriver, so nothing is ever downloaded at test time).
if [ "${BOOTSTRAP_BROWSER:-1}" != 0 ] && [ "${BOOTSTRAP_TEST_TOOLS:-1}" != 0 ]; then
  command -v chromium >/dev/null 2>&1 || packages="${packages:+$packages }chromium"
  command -v chromedriver >/dev/null 2>&1 || packages="${packages:+$packages }chromium-driver"
fi
if [ -n "$packages" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    _say "installing $packages with apt-get (no system service is started)"
    # policy-rc.d 101 = "do not start services from maintainer scripts".
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && added_policy=1
    fi
    status=0
    # shellcheck disable=SC2086 # $packages is a list of words
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages; } \
      >/dev/null || status=$?
    [ "$added_policy" = 1 ] && rm -f "$policy"
    [ "$status" = 0 ] || _die "apt-get install $packages failed (exit $status)"
  else
    _die "not found: $packages; as root on Debian/Ubuntu: apt-get install $packages
  (Redis >= 7 and its sentinel, nginx; Chromium with chromedriver, or set BOOTSTRAP_BROWSER=0)
  macOS: brew install redis nginx chromium chromedriver"
  fi
fi

# 3. Node.js >= 18 and the interop tests' npm packages (from the committed lockfile).
if [ "${BOOTSTRAP_NODE:-1}" != 0 ]; then
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
    || _die "node and npm not found; the interop tests need Node.js >= 18
  Debian/Ubuntu: sudo apt-get install nodejs npm    macOS: brew install node"
  node -e 'process.exit(+process.versions.node.split(".")[0] < 18 ? 1 : 0)' \
    || _die "Node.js >= 18 needed, found $(node --version)"
  nodedir=tests/interop/node
  [ -f "$nodedir/package-lock.json" ] || _die "$nodedir/package-lock.json missing"
  stamp=$nodedir/node_modules/.bootstrap-lock
  if [ "$(cat "$stamp" 2>/dev/null || true)" != "$(_hash "$nodedir/package-lock.json")" ]; then
    _say "installing the interop tests' npm packages (npm ci in $nodedir)"
    (cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    _hash "$nodedir/package-lock.json" > "$stamp"
  fi
fi
unset -f _say _die _hash
