"""The built-in `answer` task: answer each instruction of a JSONL file. It proves the engine end to end
and is also plain response generation for any instruction set you bring."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agorabench.errors import AgorabenchError
from agorabench.generation.task import Task, WorkItem
from agorabench.jsonl import iter_jsonl
from agorabench.llm.base import Completion, Message


def read_instructions(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL file, each with a non-empty string `instruction` (and optionally `id`)."""
    rows = []
    for number, row in iter_jsonl(path):
        if not isinstance(row.get("instruction"), str):
            raise AgorabenchError(f"{path}: line {number} has no string field 'instruction'")
        if not row["instruction"].strip():
            raise AgorabenchError(f"{path}: line {number} has an empty 'instruction'")
        rows.append(row)
    if not rows:
        raise AgorabenchError(f"{path}: no instructions in the file")
    return rows


class AnswerTask(Task):
    name = "answer"

    def __init__(self, rows: list[dict[str, Any]], system_prompt: str | None = None, source: str = ""):
        self.rows = rows
        self.system_prompt = system_prompt
        self.source = source
        self.setting = {"method": "response_generation", "domain": None}

    @classmethod
    def from_file(cls, path: Path, system_prompt: str | None = None) -> AnswerTask:
        return cls(read_instructions(path), system_prompt, source=str(path))

    def items(self) -> Iterator[WorkItem]:
        seen: Counter[str] = Counter()
        for row in self.rows:
            if "id" in row:
                item_id = str(row["id"])
            else:
                # Content-addressed, so editing or reordering the file keeps finished work finished.
                digest = hashlib.sha256(row["instruction"].encode()).hexdigest()[:16]
                seen[digest] += 1
                item_id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
            yield WorkItem(id=item_id, payload=row)

    def messages(self, item: WorkItem, attempt: int) -> list[Message]:
        turns = []
        system = item.payload.get("system", self.system_prompt)
        if system:
            turns.append(Message(role="system", content=system))
        turns.append(Message(role="user", content=item.payload["instruction"]))
        return turns

    def parse(self, item: WorkItem, completion: Completion) -> dict[str, Any]:
        self.check(completion)
        return {"instruction": item.payload["instruction"], "response": completion.text.strip()}

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "system_prompt": self.system_prompt}
