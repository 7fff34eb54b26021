#!/usr/bin/env bash
# Installs everything Yinxin needs on a fresh Debian machine: system packages (CJK fonts,
# poppler-utils, SoftHSM2, OpenSSL, PostgreSQL server binaries, wrk, faketime, chromium for the
# Playwright tests of the web pages, since Playwright's own browser download needs the
# internet), a virtualenv at .venv and the Python packages. Safe to run again: it skips what is
# already there.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(fonts-noto-cjk poppler-utils softhsm2 opensc openssl libnss3-tools wrk postgresql faketime chromium)
# node + npm: the GB/T 38540 tests check SM2 signatures with sm-crypto (npm); a node that
# brings its own npm (NodeSource's) is kept as it is
command -v node >/dev/null 2>&1 || DEBS+=(nodejs)
command -v npm >/dev/null 2>&1 || DEBS+=(npm)
missing=()
for p in "${DEBS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests run initdb and pg_ctl as the postgres user when they run as root (initdb refuses
# root). Debian's package adds that user, but a machine can carry the binaries without it.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "setup: adding the postgres system user"
  if getent group postgres >/dev/null; then group=(--gid postgres); else group=(--user-group); fi
  useradd --system "${group[@]}" --home-dir /var/lib/postgresql --no-create-home \
    --shell /bin/bash postgres
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating virtualenv .venv"
  python3 -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "setup: installing Python packages"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[test]"
  touch .venv/.installed
fi

# The npm packages the tests use (tests/fixtures/node: sm-crypto, axe-core), from the
# lockfile, into .venv/node (tests/e2e/test_web_axe.py loads axe-core's axe.min.js from there).
# Without the registry (offline) setup goes on: those tests try npm again themselves.
NODE_DIR=.venv/node
LOCK=tests/fixtures/node/package-lock.json
if [ ! -f "$NODE_DIR/.installed" ] || [ "$LOCK" -nt "$NODE_DIR/.installed" ]; then
  echo "setup: installing npm packages for the tests (sm-crypto, axe-core)"
  mkdir -p "$NODE_DIR"
  cp tests/fixtures/node/package.json "$LOCK" "$NODE_DIR/"
  if (cd "$NODE_DIR" && npm ci --no-audit --no-fund --prefer-offline >/dev/null); then
    touch "$NODE_DIR/.installed"
  else
    echo "setup: npm ci failed (registry unreachable?); the tests will try again" >&2
  fi
fi
