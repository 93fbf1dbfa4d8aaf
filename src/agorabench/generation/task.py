"""What the engine generates: a `Task` yields work items, builds each item's prompt, and parses
(or rejects) each completion. AgoraBench's nine settings are tasks; so is the built-in `answer` task."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from agorabench.llm.base import Completion, Message


@dataclass(frozen=True)
class WorkItem:
    """One record to produce. `id` is stable across reruns: it is how resume recognises finished work."""

    id: str
    payload: dict[str, Any] = field(default_factory=dict)


class Rejected(Exception):
    """A completion that is not acceptable data. `reason` is a short name counted in the metadata."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason = reason


class Task(abc.ABC):
    name: str
    # Stored on every record, e.g. {"method": "response_generation", "domain": "math"}.
    setting: dict[str, Any]
    # Stop phrases the task's prompts rely on; added to every request's sampling params.
    stop: tuple[str, ...] = ()
    # The JSON schema every reply must match (structured output), or None; set in every request's sampling params.
    json_schema: dict[str, Any] | None = None
    # Its string fields that hold Python code (`SamplingParams.python_fields`), or None.
    python_fields: tuple[str, ...] | None = None

    @abc.abstractmethod
    def items(self) -> Iterator[WorkItem]:
        """Every item of the task, in a stable order."""

    @abc.abstractmethod
    def messages(self, item: WorkItem, attempt: int) -> list[Message]:
        """The prompt for `item`; `attempt` counts earlier rejected outputs for it."""

    @abc.abstractmethod
    def parse(self, item: WorkItem, completion: Completion) -> dict[str, Any]:
        """Record fields (at least `instruction` and `response`) from a completion, or raise Rejected."""

    def check(self, completion: Completion) -> None:
        """Checks every task shares: a cut-off, filtered or empty output is not data."""
        if completion.finish_reason == "length":
            raise Rejected("truncated", "the output hit max_tokens")
        if completion.finish_reason == "content_filter":
            raise Rejected("content_filter")
        if not completion.text.strip():
            raise Rejected("empty_output")

    def accept(self, item: WorkItem, record: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Called once per accepted record (e.g. to grow a demonstration pool)."""

    def restore(self, records: list[dict[str, Any]]) -> None:  # noqa: B027 - optional hook
        """Records already in the output folder from an earlier run (e.g. to refill a pool)."""

    def report(self) -> dict[str, Any]:
        """Task-specific counts for the run's metadata (e.g. inputs dropped before generation)."""
        return {}

    def identity(self) -> dict[str, Any]:
        """What defines this task's outputs; a rerun into the same folder must have the same identity."""
        return {"name": self.name, "setting": self.setting}
