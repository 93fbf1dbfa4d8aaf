"""`batches.jsonl`: what a batch-mode backend submitted, in the job's output folder, one JSON object a line.

One line per event, appended, flushed and fsynced at once (a SIGKILL loses at most the line being written, and
the next open cuts that torn tail):

    {"event": "submitted", "batch_id": "batch_...", "provider": "openai", "model": "...", "base_url": "...",
     "requests": 20, "bytes": 10422, "custom_ids": ["3f2a...", ...], "at": "..."}   (plus provider details,
                                                                                    e.g. "input_file_id")
    {"event": "status", "batch_id": "...", "status": "in_progress", "at": "..."}    each state change seen
    {"event": "ended", "batch_id": "...", "status": "completed", "counts": {"succeeded": 18, "errored": 1,
     "expired": 1}, "usage": {"prompt_tokens": ..., "completion_tokens": ...}, "cost_usd": 0.0012, "at": "..."}
                                                                                    what was billed, at batch price
    {"event": "rejected", "batch_id": "..." or null, "requests": 20, "reason": "...", "at": "..."}
    {"event": "lost", "batch_id": "...", "reason": "...", "at": "..."}             gone at the provider (404)
    {"event": "consumed", "batch_id": "...", "at": "..."}                           a run ended with every result
                                                                                    of the batch handed over

A rerun reads it back (`LedgerBatch` per batch): a request whose custom_id is in a batch that is neither
rejected, lost nor consumed waits for (or re-reads) that batch's result instead of being submitted again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agorabench.jsonl import read_jsonl_lenient

LEDGER_FILE = "batches.jsonl"


@dataclass
class LedgerBatch:
    """One batch as the ledger tells it."""

    batch_id: str
    provider: str
    custom_ids: list[str]
    status: str = "submitted"
    ended: bool = False  # processing over: its results can be read
    rejected: bool = False
    lost: bool = False
    consumed: bool = False
    submitted: dict[str, Any] = field(default_factory=dict)  # the "submitted" line

    @property
    def resumable(self) -> bool:
        return not (self.rejected or self.lost or self.consumed)


class Ledger:
    """The append-only ledger file of one output folder (the folder's lock makes this process its only writer)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            data = path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end < len(data):  # a line torn by a crash mid-write: cut it so that the next append starts clean
                with open(path, "r+b") as handle:
                    handle.truncate(end)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open for appends

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        row = {"event": event, **fields, "at": datetime.now(UTC).isoformat(timespec="seconds")}
        self._file.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        return row

    def batches(self) -> dict[str, LedgerBatch]:
        """Every batch the ledger names, in submission order, with its last known state."""
        found: dict[str, LedgerBatch] = {}
        for row in read_jsonl_lenient(self.path):
            batch_id = row.get("batch_id")
            event = row.get("event")
            if event == "submitted" and isinstance(batch_id, str):
                found[batch_id] = LedgerBatch(
                    batch_id, str(row.get("provider", "")), list(row.get("custom_ids") or []), submitted=row
                )
                continue
            batch = found.get(batch_id) if isinstance(batch_id, str) else None
            if batch is None:
                continue
            if event in ("status", "ended", "rejected") and isinstance(row.get("status"), str):
                batch.status = row["status"]
            if event == "ended":
                batch.ended = True
            elif event == "rejected":
                batch.rejected = True
            elif event == "lost":
                batch.lost = True
            elif event == "consumed":
                batch.consumed = True
        return found

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
