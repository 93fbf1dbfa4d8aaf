"""Append-only JSONL record files that survive a crash at any instant.

Each record is written as one line and flushed to the OS as soon as it completes, so a SIGKILL loses at
most the line being written. On open, a torn last line is cut off and the ids already on disk are read
back: the rerun skips them, so no record is duplicated and none is lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agorabench.errors import AgorabenchError


class JsonlStore:
    def __init__(self, path: Path):
        self.path = path
        self.records: list[dict[str, Any]] = []
        self.repaired_bytes = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            self._load_and_repair()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open for appends
        self.ids = {record["id"] for record in self.records}

    def _load_and_repair(self) -> None:
        data = self.path.read_bytes()
        # Everything after the last newline is a line torn by a crash mid-write: drop it.
        end = data.rfind(b"\n") + 1
        if end < len(data):
            self.repaired_bytes = len(data) - end
            with open(self.path, "r+b") as handle:
                handle.truncate(end)
        for number, line in enumerate(data[:end].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                record["id"]
            except (ValueError, KeyError, TypeError):
                raise AgorabenchError(
                    f"{self.path}: line {number} is not a JSON record with an id; "
                    "fix or remove it, then rerun"
                ) from None
            self.records.append(record)

    def append(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        self.ids.add(record["id"])
        self.records.append(record)

    def sync(self) -> None:
        """Make the file durable against power loss too (a crash of the process alone loses nothing)."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self.sync()
            self._file.close()
