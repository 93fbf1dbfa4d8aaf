"""The dataset whose intrinsic metrics are measured: a generated run folder (its records.jsonl) or any
JSONL with non-empty string `instruction` and `response` fields, the same inputs `agorabench train`
accepts. Each example keeps an id (the record's `id`, else its position among the records) and a
domain (`setting.domain` of a generated record, else "general") that picks the judge's rubric."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agorabench.jsonl import iter_jsonl
from agorabench.training.data import DatasetError, dataset_file

DEFAULT_DOMAIN = "general"


@dataclass(frozen=True)
class Example:
    id: str
    instruction: str
    response: str
    domain: str = DEFAULT_DOMAIN


def read_dataset(data: str | Path) -> tuple[Path, list[Example]]:
    """(the JSONL file, its examples in file order); any problem is one line naming file, line and field."""
    path = dataset_file(data)
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for number, record in iter_jsonl(path):
        for key in ("instruction", "response"):
            value = record.get(key)
            if not isinstance(value, str) or not value.strip():
                raise DatasetError(f"{path}: line {number} has no non-empty string {key!r}")
        raw_id = record.get("id", len(examples))
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id) == "":
            raise DatasetError(
                f"{path}: line {number}: 'id' must be a non-empty string or an integer, not {raw_id!r}"
            )
        example_id = str(raw_id)
        if example_id in seen:
            raise DatasetError(
                f"{path}: line {number}: id {example_id!r} already used on line {seen[example_id]}"
            )
        seen[example_id] = number
        examples.append(
            Example(example_id, record["instruction"], record["response"], _domain(record, path, number))
        )
    if not examples:
        raise DatasetError(f"{path}: the dataset is empty (no instruction/response records)")
    return path, examples


def _domain(record: dict, path: Path, number: int) -> str:
    setting = record.get("setting")
    if setting is None:
        return DEFAULT_DOMAIN
    if not isinstance(setting, dict):
        raise DatasetError(f"{path}: line {number}: 'setting' must be an object, not {setting!r}")
    domain = setting.get("domain", DEFAULT_DOMAIN)
    if not isinstance(domain, str) or not domain.strip():
        raise DatasetError(
            f"{path}: line {number}: 'setting.domain' must be a non-empty string, not {domain!r}"
        )
    return domain
