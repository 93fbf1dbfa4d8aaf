#!/usr/bin/env bash
# Install everything, lint the package (ruff, rules in pyproject.toml), then run the whole test suite
# (slow end-to-end tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh  # $PYTHON, exported: install.sh below uses the same one
AGORABENCH_CHROMIUM="${AGORABENCH_CHROMIUM:-1}" bash scripts/install.sh
"$PYTHON" -m ruff check src
exec "$PYTHON" -m pytest -q "$@"
