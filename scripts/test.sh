#!/usr/bin/env bash
# The whole test suite: lint, types, unit, integration and end-to-end tests over real services.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check src tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
