#!/usr/bin/env bash
# Install everything, lint the package (ruff, rules in pyproject.toml), then run the whole test suite
# (slow end-to-end tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
AGORABENCH_CHROMIUM="${AGORABENCH_CHROMIUM:-1}" bash scripts/install.sh
"${PYTHON:-python3}" -m ruff check src
exec "${PYTHON:-python3}" -m pytest -q "$@"
