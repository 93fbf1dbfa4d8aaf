"""The bundled offline seed data for the general (instruction-following) domain is well formed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agorabench

SEED_DIR = Path(agorabench.__file__).parent / "data" / "seeds" / "general"

CATEGORIES = {
    "advice",
    "explanation",
    "writing",
    "brainstorming",
    "planning",
    "comparison",
    "summarization",
    "rewriting",
    "classification",
    "extraction",
    "roleplay",
    "reasoning",
    "other",
}

# file name -> (id prefix, required text fields, minimum count)
FILES = {
    "instance_generation.jsonl": ("general-ig-", ("instruction", "response", "topic", "category"), 50),
    "response_generation.jsonl": ("general-rg-", ("instruction", "topic", "category"), 50),
    "quality_enhancement.jsonl": (
        "general-qe-",
        ("instruction", "response", "flaw", "topic", "category"),
        30,
    ),
}

BOILERPLATE = ("as an ai", "i cannot", "i'm sorry", "i am sorry", "as a language model")


def load(name: str) -> list[dict]:
    rows = []
    with open(SEED_DIR / name, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                row = json.loads(line)
                assert isinstance(row, dict), f"{name}:{number} is not a JSON object"
                rows.append(row)
    return rows


@pytest.mark.parametrize("name", sorted(FILES))
def test_counts_fields_and_categories(name):
    prefix, fields, minimum = FILES[name]
    rows = load(name)
    assert len(rows) >= minimum
    for row in rows:
        assert isinstance(row.get("id"), str) and row["id"].startswith(prefix), row.get("id")
        for field in fields:
            value = row.get(field)
            assert isinstance(value, str) and value.strip(), f"{row['id']}: empty or missing {field!r}"
        assert row["category"] in CATEGORIES, f"{row['id']}: unknown category {row['category']!r}"


def test_ids_unique_across_files():
    ids = [row["id"] for name in FILES for row in load(name)]
    assert len(ids) == len(set(ids))


def test_instructions_not_repeated_across_files():
    seen: dict[str, str] = {}
    for name in FILES:
        for row in load(name):
            key = " ".join(row["instruction"].lower().split())
            assert key not in seen, f"{row['id']} repeats {seen[key]}"
            seen[key] = row["id"]


def test_instance_generation_responses_have_no_refusal_boilerplate():
    for row in load("instance_generation.jsonl"):
        text = row["response"].lower().replace("\u2019", "'")
        for phrase in BOILERPLATE:
            assert phrase not in text, f"{row['id']} contains {phrase!r}"


def test_quality_enhancement_pairs_name_their_flaw():
    rows = load("quality_enhancement.jsonl")
    for row in rows:
        assert row["flaw"].strip() and row["response"].strip() and row["instruction"].strip()
    # The flawed responses are meant to be improved, so they must not be copies of one another.
    responses = [row["response"] for row in rows]
    assert len(set(responses)) == len(responses)
