"""The two commands on a stock system Python: where python3 is externally managed (PEP 668: Debian's, Ubuntu's,
Homebrew's), the scripts make and use the project virtualenv and say so in one line (scripts/python_env.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = Path("/usr/bin/python3")
BASH = shutil.which("bash") or "/bin/bash"


def choose(env: dict[str, str]) -> subprocess.CompletedProcess:
    script = 'source scripts/python_env.sh && echo "PYTHON=$PYTHON"'
    return subprocess.run([BASH, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def externally_managed(python: Path) -> bool:
    probe = "import os, sysconfig; print(os.path.isfile(os.path.join(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"
    return subprocess.run([str(python), "-c", probe], capture_output=True, text=True).stdout.strip() == "True"


@pytest.mark.skipif(not SYSTEM_PYTHON.exists() or not externally_managed(SYSTEM_PYTHON),
                    reason="no externally managed /usr/bin/python3 here")
def test_an_externally_managed_python3_gets_the_project_virtualenv(tmp_path):
    venv = tmp_path / "venv"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "AGORABENCH_VENV_DIR": str(venv)}
    first = choose(env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"PYTHON={venv}/bin/python"
    assert first.stderr.strip() == (
        f"agorabench: {SYSTEM_PYTHON} is externally managed (PEP 668); using the project virtualenv {venv}"
    )
    # The virtualenv takes packages (pip works in it), and a second call reuses it.
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--version"], capture_output=True, text=True)
    assert pip.returncode == 0 and str(venv) in pip.stdout
    again = choose(env)
    assert again.returncode == 0 and again.stdout.strip() == first.stdout.strip()


def test_a_python_that_takes_packages_or_a_given_one_is_used_as_it_is(tmp_path):
    env = {**os.environ, "AGORABENCH_VENV_DIR": str(tmp_path / "unused")}
    env.pop("PYTHON", None)
    chosen = choose(env)
    assert chosen.returncode == 0 and chosen.stderr == ""
    assert chosen.stdout.strip() == f"PYTHON={shutil.which('python3', path=env['PATH'])}"
    assert not (tmp_path / "unused").exists()
    given = choose({**env, "PYTHON": sys.executable})
    assert given.stdout.strip() == f"PYTHON={sys.executable}"


def test_no_python3_is_one_line(tmp_path):
    chosen = choose({"HOME": str(tmp_path), "PATH": str(tmp_path)})
    # bash itself is found by absolute path; python3 is not on this PATH.
    assert chosen.returncode == 1 and chosen.stderr.strip() == (
        "error: no python3 on PATH (agorabench needs Python 3.10 or newer)"
    )
