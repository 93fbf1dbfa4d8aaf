"""The artifact store: every stage's output in a folder named by a hash of its inputs, indexed in SQLite.

    <run>/store/index.sqlite          one row per stage: key, kind, label, inputs, status, error, times
    <run>/store/<kind>/<label>-<key>/  the stage's files

A stage's key hashes everything that determines its output (the generator's identity, the setting, the
seed, the upstream stages' keys, ...), so a rerun finds finished stages by key and skips them, and changing
one generator changes only its stages' keys. A stage that crashed or was interrupted keeps its folder:
generation and evaluation resume inside it (the engine's own resume), training starts over.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("running", "done", "failed")


def stage_key(kind: str, inputs: dict[str, Any]) -> str:
    """A stable hash of a stage's inputs (canonical JSON: sorted keys, no whitespace)."""
    blob = json.dumps({"kind": kind, "inputs": inputs}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    key: str
    kind: str
    label: str
    status: str
    path: Path
    error: str | None
    started_at: float | None
    finished_at: float | None


class ArtifactStore:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        # A connection per call: stages may run in other processes (Ray workers on the same machine).
        self._db = root / "index.sqlite"
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS artifacts (key TEXT PRIMARY KEY, kind TEXT, label TEXT, inputs TEXT,"
                " status TEXT, path TEXT, error TEXT, started_at REAL, finished_at REAL)"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._db, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        return db

    def folder(self, kind: str, label: str, key: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label)[:80]
        return self.root / kind / f"{safe}-{key}"

    def get(self, key: str) -> Entry | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT key, kind, label, status, path, error, started_at, finished_at FROM artifacts WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return Entry(row[0], row[1], row[2], row[3], Path(row[4]), row[5], row[6], row[7])

    def is_done(self, key: str) -> bool:
        entry = self.get(key)
        return entry is not None and entry.status == "done" and entry.path.exists()

    def start(self, key: str, kind: str, label: str, inputs: dict[str, Any]) -> Path:
        path = self.folder(kind, label, key)
        path.mkdir(parents=True, exist_ok=True)
        (path / "inputs.json").write_text(json.dumps(inputs, indent=2, sort_keys=True, default=str) + "\n")
        with self._connect() as db:
            db.execute(
                "INSERT INTO artifacts (key, kind, label, inputs, status, path, started_at) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET status = 'running', error = NULL, started_at = excluded.started_at,"
                " finished_at = NULL",
                (key, kind, label, json.dumps(inputs, sort_keys=True, default=str), str(path), time.time()),
            )
        return path

    def finish(self, key: str, error: str | None = None) -> None:
        with self._connect() as db:
            db.execute(
                "UPDATE artifacts SET status = ?, error = ?, finished_at = ? WHERE key = ?",
                ("failed" if error else "done", error, time.time(), key),
            )

    def entries(self) -> list[Entry]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT key, kind, label, status, path, error, started_at, finished_at "
                "FROM artifacts ORDER BY started_at"
            ).fetchall()
        return [Entry(r[0], r[1], r[2], r[3], Path(r[4]), r[5], r[6], r[7]) for r in rows]
