"""The bundled math seed sets: schema, answer blocks, and every answer checked by computation."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path

import pytest
import sympy
from math_verify import parse, verify

import agorabench

SEEDS = Path(agorabench.__file__).parent / "data" / "seeds" / "math"
RESULT = re.compile(r"\[RESULT\](.*?)\[/RESULT\]", re.DOTALL)

FILES = {
    # file name: (minimum count, id prefix, required string fields)
    "instance_generation.jsonl": (
        50,
        "math-ig-",
        ("id", "instruction", "response", "answer", "check", "topic", "level"),
    ),
    "response_generation.jsonl": (50, "math-rg-", ("id", "instruction", "answer", "check", "topic")),
    "quality_enhancement.jsonl": (
        30,
        "math-qe-",
        ("id", "instruction", "response", "flaw", "answer", "check"),
    ),
}


def load(name: str) -> list[dict]:
    with open(SEEDS / name, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


ROWS = {name: load(name) for name in FILES}
ALL = [row for rows in ROWS.values() for row in rows]


def math_expr(latex: str) -> list:
    return parse(f"${latex}$")


def check_value(check: str):
    return eval(check, {"math": math, "Fraction": Fraction, "__builtins__": {}})


def as_sympy(value) -> sympy.Basic:
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, int):
        return sympy.Integer(value)
    # Float checks carry rounding noise such as 11.999999999999998.
    return sympy.Float(round(float(value), 9), 15)


def numeric(parsed: list) -> float:
    exprs = [item for item in parsed if isinstance(item, sympy.Basic)]
    assert exprs, f"no expression parsed: {parsed!r}"
    return float(sympy.N(exprs[0], 30))


@pytest.mark.parametrize("name", sorted(FILES))
def test_counts_ids_and_fields(name):
    minimum, prefix, fields = FILES[name]
    rows = ROWS[name]
    assert len(rows) >= minimum
    for row in rows:
        assert row["id"].startswith(prefix)
        for field in fields:
            assert isinstance(row.get(field), str) and row[field].strip(), (row["id"], field)
    if name == "instance_generation.jsonl":
        assert {row["level"] for row in rows} == {"grade-school", "competition"}
        counts = {
            level: sum(row["level"] == level for row in rows) for level in ("grade-school", "competition")
        }
        assert min(counts.values()) >= 20, counts


def test_ids_and_instructions_unique_across_files():
    ids = [row["id"] for row in ALL]
    assert len(ids) == len(set(ids))
    normalized = [re.sub(r"\W+", " ", row["instruction"].lower()).strip() for row in ALL]
    assert len(normalized) == len(set(normalized))


@pytest.mark.parametrize("row", ALL, ids=lambda row: row["id"])
def test_check_expression_equals_answer(row):
    value = check_value(row["check"])
    assert row["check"].strip() != row["answer"].strip(), "check must compute the answer, not restate it"
    gold = math_expr(row["answer"])
    assert verify(gold, [as_sympy(value)]), (row["answer"], value)
    assert math.isclose(numeric(gold), float(value), rel_tol=1e-9, abs_tol=1e-9), (row["answer"], value)


@pytest.mark.parametrize("row", ROWS["instance_generation.jsonl"], ids=lambda row: row["id"])
def test_instance_generation_response_ends_with_one_verified_result(row):
    response = row["response"]
    blocks = RESULT.findall(response)
    assert len(blocks) == 1
    assert response.rstrip().endswith("[/RESULT]")
    assert response.count("[RESULT]") == 1 and response.count("[/RESULT]") == 1
    assert verify(math_expr(row["answer"]), math_expr(blocks[0].strip()))


@pytest.mark.parametrize("row", ROWS["quality_enhancement.jsonl"], ids=lambda row: row["id"])
def test_quality_enhancement_flaw_label_matches_response(row):
    """Where a flawed response has a [RESULT] block, `response_correct` says whether its answer is right."""
    blocks = RESULT.findall(row["response"])
    if blocks:
        correct = verify(math_expr(row["answer"]), math_expr(blocks[0].strip()))
        assert correct == row["response_correct"], (blocks[0], row["answer"])
