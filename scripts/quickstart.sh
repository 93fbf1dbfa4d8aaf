#!/usr/bin/env bash
# Install, then run the benchmark's offline quickstart profile: two embedded generators (SmolLM2-135M-Instruct
# and Gemma 3 270M) write data, students are fine-tuned and evaluated on IFEval, PGR is computed against a
# reference trained on gold data, and the report written.
# No API key, no GPU, no network beyond the package install; about 17 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh  # $PYTHON, exported: install.sh below uses the same one
bash scripts/install.sh
exec "$PYTHON" -m agorabench run -o runs/quickstart "$@"
