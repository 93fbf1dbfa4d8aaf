"""The shared JSONL reader: U+2028 inside strings, gzip, clear errors, lenient resume reading."""

from __future__ import annotations

import gzip
import json

import pytest

from agorabench.errors import AgorabenchError
from agorabench.jsonl import read_jsonl, read_jsonl_lenient


def test_line_separator_inside_a_string_is_data(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"id": "x", "text": "one\u2028two"}, ensure_ascii=False) + "\n\n" + json.dumps({"id": "y"}) + "\n")
    assert [r["id"] for r in read_jsonl(path)] == ["x", "y"]
    assert read_jsonl(path)[0]["text"] == "one\u2028two"


def test_gzip_and_errors(tmp_path):
    packed = tmp_path / "a.jsonl.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write('{"id": 1}\n')
    assert read_jsonl(packed) == [{"id": 1}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n[1, 2]\n')
    with pytest.raises(AgorabenchError, match="line 2 is not a JSON object"):
        read_jsonl(bad)
    with pytest.raises(AgorabenchError, match="file not found"):
        read_jsonl(tmp_path / "absent.jsonl")


def test_lenient_reading_skips_a_torn_last_line(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "resp')
    assert read_jsonl_lenient(path) == [{"id": "a"}]
    assert read_jsonl_lenient(tmp_path / "absent.jsonl") == []
