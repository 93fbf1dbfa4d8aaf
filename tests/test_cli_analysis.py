"""`agorabench report`, `agorabench analyze` and `agorabench intrinsic` as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from conftest import REPO, cli_command

DATA = Path(__file__).parent / "data"


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_report_of_a_run_folder_includes_the_analysis(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(DATA / "run_results_example.json", run / "results.json")
    proc = run_cli("report", str(run))
    assert proc.returncode == 0, proc.stderr
    assert f"report: {run / 'report' / 'report.html'}" in proc.stdout
    page = (run / "report" / "report.html").read_text()
    assert "PGR leaderboard" in page and "Problem solving vs PGR" in page and "gpt-4o-mini" in page
    assert (run / "report" / "leaderboard.csv").read_text().count("\n") == 1 + 3


def test_report_of_a_missing_run_is_one_line(tmp_path):
    proc = run_cli("report", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "nowhere does not exist" in proc.stderr


def test_analyze_a_table_writes_the_documented_json(tmp_path):
    out = tmp_path / "analysis.json"
    proc = run_cli("analyze", str(DATA / "analysis_example.csv"), "--json", str(out), "--plots", str(tmp_path / "plots"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for level in ("coarse", "fine"):
        assert {"r2", "p", "n"} <= set(result["correlation"][level])
    assert isinstance(result["pca"]["explained_variance_ratio"], list) and result["pca"]["loadings"]
    assert {"r2", "p", "k"} <= set(result["regression"])
    assert "problem solving vs PGR (coarse)" in proc.stdout and list((tmp_path / "plots").glob("*.png"))


def test_analyze_refuses_a_bad_table_in_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("generator,method,domain,pgr\ng,RG,math,10\n")
    proc = run_cli("analyze", str(bad), "--json", str(tmp_path / "o.json"))
    assert proc.returncode == 2 and "problem_solving" in proc.stderr and "Traceback" not in proc.stderr


def test_intrinsic_diversity_of_a_jsonl(tmp_path):
    data = tmp_path / "data.jsonl"
    rows = [
        {"instruction": "Name a prime number.", "response": "Seven is a prime number."},
        {"instruction": "Describe the sea.", "response": "The sea is vast, salty and restless."},
        {"instruction": "How do bees make honey?", "response": "Bees turn nectar into honey by evaporation."},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = run_cli("intrinsic", str(data), "-o", str(tmp_path / "m"), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert 0 < summary["metrics"]["instruction_diversity"] <= 2 and summary["n"] == 3
    assert "instruction_diversity:" in proc.stdout
    assert len((tmp_path / "m" / "per_example.jsonl").read_text().splitlines()) == 3
