"""Reading benchmark data files: checksums, one-line errors for missing or unreadable files, JSON or JSONL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from agorabench.errors import AgorabenchError
from agorabench.jsonl import read_jsonl


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks (baseline answer files run to megabytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_bytes(path: Path, what: str) -> bytes:
    if not path.is_file():
        raise AgorabenchError(f"{what} data not found: {path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise AgorabenchError(f"{what} data {path}: cannot read ({exc.strerror or exc})") from None


def json_rows(raw: bytes, path: Path, what: str) -> list[Any]:
    """Rows of a JSON array (or an object holding one list) or JSON Lines file."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AgorabenchError(f"{what} data {path}: not UTF-8 text") from None
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and path.suffix.lower() == ".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AgorabenchError(f"{what} data {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
        if isinstance(data, dict):  # {"test": [...]} or similar: the one list inside
            lists = [value for value in data.values() if isinstance(value, list)]
            if len(lists) != 1:
                raise AgorabenchError(f"{what} data {path}: expected a JSON array of records")
            data = lists[0]
        return data
    return read_jsonl(path)


def check_count(items: list, expected: int | None, source: Any, what: str) -> None:
    if expected is not None and len(items) != expected:
        raise AgorabenchError(f"{what} data {source}: {len(items)} records, expected {expected}")


def hub_error(exc: Exception) -> str:
    """The first line of a Hub failure (offline, unknown id), short enough for a one-line error."""
    return str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__


def local_file(options: dict[str, Any], what: str) -> Path | None:
    """`options["path"]` as a file that must exist, for decontamination of benchmarks that do not ship:
    never a Hub id (decontamination must not reach the network). None when no path is given."""
    if not options.get("path"):
        return None
    path = Path(options["path"]).expanduser()
    if not path.is_file():
        raise AgorabenchError(f"{what}: decontamination data {path} not found (a local JSON or JSONL file)")
    return path
