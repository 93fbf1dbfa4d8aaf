"""Reading JSONL files, the one way the project does it.

Lines are split on "\n" only: `str.splitlines()` also breaks at U+2028 and other characters that
JSON strings may contain raw (Arena-Hard's questions do). `.gz` files are read transparently.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agorabench.errors import AgorabenchError


def _text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return handle.read()
    return path.read_text(encoding="utf-8")


def iter_jsonl(path: Path | str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; one clear error for a missing file, a line
    that is not JSON, or a line that is not an object."""
    path = Path(path)
    try:
        text = _text(path)
    except FileNotFoundError:
        raise AgorabenchError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AgorabenchError(f"{path}: cannot read ({exc})") from None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise AgorabenchError(f"{path}: line {number} is not valid JSON") from None
        if not isinstance(row, dict):
            raise AgorabenchError(f"{path}: line {number} is not a JSON object")
        yield number, row


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    return [row for _, row in iter_jsonl(path)]


def read_jsonl_lenient(path: Path | str) -> list[dict[str, Any]]:
    """Objects of a file another run may still be writing: a missing file is empty, and blank or torn
    lines (a crash mid-write) are skipped. For resume bookkeeping, never for input data."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in _text(path).split("\n"):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
