#!/usr/bin/env bash
# Installs everything callintel needs into ./.venv (and, as root on Debian, the system packages
# the test suite uses). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[dev]"

# System packages: chromium (web UI tests), espeak-ng + sox (re-rendering audio fixtures).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for pkg in chromium espeak-ng sox; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" libsox-fmt-all >/dev/null || \
      echo "warning: could not install ${missing[*]}; the tests that need them will be skipped" >&2
  fi
fi
echo "callintel installed in .venv"
