# Sourced by install.sh, test.sh and quickstart.sh: chooses the Python they install into and run, as $PYTHON.
#
#   PYTHON               use this interpreter as it is (nothing below runs)
#   AGORABENCH_VENV=1    always use the project virtualenv, even where python3 would accept packages
#   AGORABENCH_VENV_DIR  where that virtualenv lives (default: .venv in the repository)
#
# Inside a virtualenv (or conda env), its python3 is used. Outside one, a python3 that refuses packages
# (PEP 668 "externally managed": Debian's and Ubuntu's /usr/bin/python3, Homebrew's) gets the project
# virtualenv instead, made on first use and said in one line; any other python3 (pyenv, a container's) is
# used as it is. Debian ships venv separately (python3-venv): installed with apt when we are root, else
# named in a one-line error.
if [ -z "${PYTHON:-}" ]; then
  _venv_dir="${AGORABENCH_VENV_DIR:-$(pwd)/.venv}"
  _base="$(command -v python3 || true)"
  if [ -z "$_base" ]; then
    echo "error: no python3 on PATH (agorabench needs Python 3.10 or newer)" >&2
    exit 1
  fi
  # 0: inside a venv/conda env; 2: externally managed; 1: a python3 that takes packages.
  _state=0
  "$_base" - <<'EOF' || _state=$?
import os, sys, sysconfig
inside = sys.prefix != getattr(sys, "base_prefix", sys.prefix) or bool(os.environ.get("CONDA_PREFIX"))
managed = os.path.isfile(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(0 if inside else 2 if managed else 1)
EOF
  if [ "$_state" = 0 ] && [ "${AGORABENCH_VENV:-0}" != 1 ]; then
    PYTHON="$_base"
  elif [ "$_state" = 1 ] && [ "${AGORABENCH_VENV:-0}" != 1 ]; then
    PYTHON="$_base"
  else
    if [ ! -x "$_venv_dir/bin/python" ]; then
      if ! "$_base" -m venv "$_venv_dir" >/dev/null 2>&1; then
        rm -rf "$_venv_dir"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
          && apt-get update -qq >/dev/null 2>&1 \
          && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 \
          && "$_base" -m venv "$_venv_dir" >/dev/null 2>&1; then
          :
        else
          echo "error: $_base cannot make a virtualenv (on Debian/Ubuntu: sudo apt install python3-venv), or set PYTHON to a Python that accepts packages" >&2
          exit 1
        fi
      fi
    fi
    if [ "$_state" = 2 ]; then
      echo "agorabench: $_base is externally managed (PEP 668); using the project virtualenv $_venv_dir" >&2
    else
      echo "agorabench: using the project virtualenv $_venv_dir" >&2
    fi
    PYTHON="$_venv_dir/bin/python"
  fi
  unset _venv_dir _base _state
fi
export PYTHON
