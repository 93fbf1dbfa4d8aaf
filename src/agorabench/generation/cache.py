"""Request cache: an identical request (model, sampling params, messages) is never paid for twice.

SQLite in WAL mode: safe for several processes sharing one cache, cheap per write (no fsync per commit).
The key is a SHA-256 of the request's content; it never contains an API key or a URL.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

from agorabench.llm.base import Completion, Message, SamplingParams


def request_key(model: str, params: SamplingParams, messages: list[Message]) -> str:
    payload = json.dumps(
        {
            "model": model,
            "params": params.model_dump(mode="json"),
            "messages": [[m.role, m.content] for m in messages],
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class RequestCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
        )

    def get(self, key: str) -> Completion | None:
        row = self._db.execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
        return Completion.model_validate_json(row[0]) if row else None

    def put(self, key: str, completion: Completion) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO completions (key, value, created) VALUES (?, ?, ?)",
            (key, completion.model_dump_json(), time.time()),
        )

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._db.close()
