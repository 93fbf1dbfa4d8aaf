"""Training data: a generated run folder (its records.jsonl) or any JSONL with `instruction` and `response`,
turned into TRL's conversational prompt-completion format:

    {"prompt": [{"role": "user", "content": ...}], "completion": [{"role": "assistant", "content": ...}]}

Any problem is one line naming the file and the line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agorabench.errors import AgorabenchError
from agorabench.jsonl import iter_jsonl

log = logging.getLogger(__name__)

RECORDS_FILE = "records.jsonl"


class DatasetError(AgorabenchError):
    """The training dataset is missing, empty or malformed."""


def dataset_file(data: str | Path) -> Path:
    """The JSONL file behind DATASET: the file itself, or a generated run folder's records.jsonl."""
    path = Path(data).expanduser()
    if path.is_dir():
        candidate = path / RECORDS_FILE
        if not candidate.is_file():
            raise DatasetError(f"{path}: a dataset folder must hold {RECORDS_FILE} (a generated run)")
        return candidate
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file or folder")
    return path


def nested_subset(data: str | Path, size: int, seed: int) -> list[str]:
    """The first `size` records (JSONL lines) of a dataset in one seeded order: sorted by id (completion order
    varies between runs), then shuffled with `seed`. Every size takes a prefix of the same order, so the
    subsets of growing sizes are nested. Refuses a dataset with fewer records than `size`."""
    import json
    import random

    path = dataset_file(data)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) < size:
        raise DatasetError(f"{path}: {len(lines)} records, fewer than the {size} this training size needs")
    keyed = sorted(lines, key=lambda line: (str(json.loads(line).get("id", "")), line))
    random.Random(seed).shuffle(keyed)
    return keyed[:size]


def _records(path: Path):
    """The shared JSONL reader's (line, object) pairs; its one-line errors become DatasetErrors."""
    try:
        yield from iter_jsonl(path)
    except AgorabenchError as exc:
        raise DatasetError(str(exc)) from None


def read_examples(data: str | Path) -> list[dict[str, Any]]:
    """Prompt-completion examples, in file order. Refuses empty files and malformed lines."""
    path = dataset_file(data)
    examples: list[dict[str, Any]] = []
    for number, record in _records(path):
        for key in ("instruction", "response"):
            value = record.get(key)
            if not isinstance(value, str) or not value.strip():
                raise DatasetError(f"{path}: line {number} has no non-empty string {key!r}")
        examples.append(
            {
                "prompt": [{"role": "user", "content": record["instruction"]}],
                "completion": [{"role": "assistant", "content": record["response"]}],
            }
        )
    if not examples:
        raise DatasetError(f"{path}: the dataset is empty (no instruction/response records)")
    return examples


def with_system_prompt(examples: list[dict[str, Any]], system_prompt: str | None) -> list[dict[str, Any]]:
    """The examples with the recipe's system message first in each prompt (the paper's code trains with one;
    the loss stays on the completion). The same text opens every evaluation prompt of a run."""
    if not system_prompt:
        return examples
    system = {"role": "system", "content": system_prompt}
    return [{**e, "prompt": [system, *e["prompt"]]} for e in examples]


@dataclass
class LengthReport:
    total: int
    overlength: int  # examples longer than max_length tokens (chat template included)
    action: str
    kept: int
    longest: int
    lengths: list[int] = field(default_factory=list, repr=False)

    def line(self, max_length: int) -> str:
        if not self.overlength:
            return f"{self.total} examples, all within {max_length} tokens (longest {self.longest})"
        verb = "truncated to" if self.action == "truncate" else "dropped for exceeding"
        return f"{self.overlength} of {self.total} examples {verb} {max_length} tokens (longest {self.longest})"


def token_length(tokenizer, example: dict[str, Any]) -> int:
    """Tokens of prompt + completion as the trainer will see them (chat template applied)."""
    ids = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # transformers 5 may return a BatchEncoding
        ids = ids["input_ids"]
    return len(ids)


def fit_to_length(
    examples: list[dict[str, Any]],
    tokenizer,
    max_length: int,
    overlength: Literal["truncate", "drop"],
) -> tuple[list[dict[str, Any]], LengthReport]:
    """Count examples longer than max_length; drop them or keep them for TRL to truncate (keep the start)."""
    lengths = [token_length(tokenizer, example) for example in examples]
    over = [n > max_length for n in lengths]
    kept = [e for e, o in zip(examples, over, strict=True) if not o] if overlength == "drop" else list(examples)
    report = LengthReport(
        total=len(examples),
        overlength=sum(over),
        action=overlength,
        kept=len(kept),
        longest=max(lengths),
        lengths=lengths,
    )
    if not kept:
        raise DatasetError(
            f"all {len(examples)} examples are longer than max_length {max_length} tokens; "
            "raise max_length or use overlength: truncate"
        )
    return kept, report
