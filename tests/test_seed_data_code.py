"""The bundled offline code seeds: well-formed records, and every shipped solution passes its own tests.

Each IG response and each QE reference runs with its tests in a fresh interpreter (``python -c``), in a few
batches on a thread pool, so one bad item cannot hang or poison the others.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import agorabench

SEEDS = Path(agorabench.__file__).parent / "data/seeds/code"
FENCE = re.compile(r"\A```python\n(.*)\n```\Z", re.DOTALL)
LANGUAGES = {"python", "javascript", "sql", "bash", "cpp", "java"}


def load(name: str) -> list[dict]:
    text = (SEEDS / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


IG = load("instance_generation.jsonl")
RG = load("response_generation.jsonl")
QE = load("quality_enhancement.jsonl")


def fenced_code(text: str) -> str:
    """The code of a response that is exactly one ```python block with nothing around it."""
    match = FENCE.match(text)
    assert match, f"not a single fenced python block: {text[:80]!r}"
    assert "```" not in match.group(1), "more than one fenced block"
    return match.group(1)


def is_single_assert(test: str) -> bool:
    body = ast.parse(test).body
    return len(body) == 1 and isinstance(body[0], ast.Assert)


def program(code: str, tests: list[str]) -> str:
    """Code, then every test; report the index of each failing test, exit 1 if any failed."""
    lines = [code, "", "_failed = []"]
    for index, test in enumerate(tests):
        lines += [
            "try:",
            f"    {test}",
            "except BaseException as _error:",
            f"    _failed.append(({index}, type(_error).__name__, str(_error)[:200]))",
        ]
    lines += ["if _failed:", "    print(_failed)", "    raise SystemExit(1)"]
    return "\n".join(lines)


def run_item(item: dict, code: str) -> tuple[str, str | None]:
    try:
        done = subprocess.run(
            [sys.executable, "-c", program(code, item["tests"])],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return item["id"], "timed out"
    if done.returncode != 0:
        return item["id"], (done.stdout + done.stderr)[-500:]
    return item["id"], None


def run_all(pairs: list[tuple[dict, str]]) -> dict[str, str]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda pair: run_item(*pair), pairs)
    return {item_id: error for item_id, error in results if error is not None}


def test_counts():
    assert len(IG) >= 30
    assert len(RG) >= 50
    assert len(QE) >= 30


@pytest.mark.parametrize("records", [IG, RG, QE], ids=["ig", "rg", "qe"])
def test_ids_unique_and_prefixed(records):
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    prefix = {id(IG): "code-ig-", id(RG): "code-rg-", id(QE): "code-qe-"}[id(records)]
    assert all(i.startswith(prefix) for i in ids)


def test_ids_unique_across_files():
    ids = [r["id"] for r in IG + RG + QE]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("records", "fields"),
    [
        (IG, {"id", "instruction", "response", "entry_point", "tests", "topic", "language"}),
        (RG, {"id", "instruction", "entry_point", "tests", "topic", "language"}),
        (QE, {"id", "instruction", "response", "flaw", "reference", "entry_point", "tests", "language"}),
    ],
    ids=["ig", "rg", "qe"],
)
def test_required_fields(records, fields):
    for record in records:
        missing = fields - record.keys()
        assert not missing, (record["id"], missing)
        assert record["instruction"].strip(), record["id"]
        assert record["language"] in LANGUAGES, record["id"]
        assert isinstance(record["tests"], list), record["id"]


@pytest.mark.parametrize("records", [IG, RG, QE], ids=["ig", "rg", "qe"])
def test_python_items_have_tests_naming_the_entry_point(records):
    for record in records:
        if record["language"] != "python":
            assert record["tests"] == [], record["id"]
            continue
        assert record["entry_point"] and record["entry_point"] in record["instruction"], record["id"]
        assert 3 <= len(record["tests"]) <= 6, record["id"]
        for test in record["tests"]:
            assert is_single_assert(test), (record["id"], test)
            assert record["entry_point"] in test, (record["id"], test)


def test_rg_other_languages_are_few():
    others = [r for r in RG if r["language"] != "python"]
    assert len(others) <= 10
    assert sum(r["language"] == "python" for r in RG) >= 45


def test_ig_responses_are_one_fenced_block_that_parses():
    for record in IG:
        assert record["language"] == "python"
        ast.parse(fenced_code(record["response"]))


def test_qe_references_are_one_fenced_block_that_parses():
    for record in QE:
        ast.parse(fenced_code(record["reference"]))
        assert record["flaw"].strip(), record["id"]
        assert record["response"].strip() != record["reference"].strip(), record["id"]


def test_ig_responses_pass_their_tests():
    failures = run_all([(r, fenced_code(r["response"])) for r in IG])
    assert not failures, failures


def test_qe_references_pass_their_tests():
    failures = run_all([(r, fenced_code(r["reference"])) for r in QE])
    assert not failures, failures
