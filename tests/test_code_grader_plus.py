"""HumanEval+ and MBPP+ (evalplus) by path: both shapes of evalplus data, the grader's reference run, evalplus'
oracles and time limit. Each test writes a tiny evalplus-format file itself."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from agorabench.data.benchmarks import get_benchmark
from agorabench.errors import AgorabenchError
from agorabench.evaluation.code_grader import (
    PLUS_MIN_TIMEOUT_S,
    grade_humaneval,
    grade_mbpp,
    plus_tests,
)
from agorabench.evaluation.graders import grading_version

ADD_PROMPT = 'def add(a: int, b: int) -> int:\n    """Return a + b."""\n'
ADD_RIGHT = "    return a + b\n"
# Right on HumanEval's small inputs, wrong on evalplus' big ones: what the stronger tests are for.
ADD_WEAK = "```python\ndef add(a, b):\n    return a + b if abs(a) < 1000 else 0\n```"
ADD_GOOD = "```Python\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    assert add(1, 1) == 3\n```"

# evalplus' exporter's test (tools/humaneval/to_original_fmt.py HUMANEVAL_TEST_TEMPLATE), abridged.
EXPORTED_ADD_TEST = '''
import numpy as np

def assertion(out, exp, atol):
    exact_match = out == exp
    if not exact_match and atol != 0:
        assert np.allclose(out, exp, rtol=1e-07, atol=atol)
    else:
        assert exact_match


def check(candidate):
    inputs = [[1, 2], [-1, 1], [100000, 7], [-123456789, 123456789]]
    results = [3, 0, 100007, 0]
    for i, (inp, exp) in enumerate(zip(inputs, results)):
        assertion(candidate(*inp), exp, 0)
'''

POLY = '''import math


def poly(xs: list, x: float):
    """Evaluates polynomial with coefficients xs at point x."""
    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])


def find_zero(xs: list):
    """Find x such that poly(x) = 0."""
'''
FIND_ZERO = '''    begin, end = -1.0, 1.0
    while poly(xs, begin) * poly(xs, end) > 0:
        begin *= 2.0
        end *= 2.0
    while end - begin > 1e-10:
        center = (begin + end) / 2.0
        if poly(xs, center) * poly(xs, begin) > 0:
            begin = center
        else:
            end = center
    return begin
'''
# As evalplus' exporter writes HumanEval/32 (its arguments swapped: every answer fails it).
EXPORTED_FIND_ZERO_TEST = '''import math

def _poly(xs: list, x: float):
    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])


def check(candidate):
    inputs = [[[1, 2]], [[-6, 11, -6, 1]]]
    results = [-0.5, 1.0]
    for i, (inp, exp) in enumerate(zip(inputs, results)):
        assert _poly(*candidate(*inp), inp) <= 0.0001
'''


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def exported_add(task_id: str = "HumanEval/0") -> dict:
    return {"task_id": task_id, "prompt": ADD_PROMPT, "entry_point": "add", "canonical_solution": ADD_RIGHT,
            "test": EXPORTED_ADD_TEST}  # fmt: skip


def released_add(task_id: str = "HumanEval/0") -> dict:
    """evalplus' own release (HumanEvalPlus.jsonl.gz): `test` is HumanEval's original one, unused."""
    return {"task_id": task_id, "prompt": ADD_PROMPT, "entry_point": "add", "canonical_solution": ADD_RIGHT,
            "contract": "", "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
            "base_input": [[1, 2], [-1, 1]], "plus_input": [[100000, 7], [-(10**200), 1], [1, 2]], "atol": 0}  # fmt: skip


def load(name: str, path: Path, **options):
    return get_benchmark(name).load({"path": str(path), **options})


# ------------------------------------------------------------------------------------------- HumanEval+


def test_humaneval_plus_exported_tests_by_path(tmp_path):
    # the second test holds a 5001-digit literal, longer than Python's default limit for int <-> str
    big = "1" + "0" * 5000
    huge = {**exported_add("HumanEval/1"), "test": EXPORTED_ADD_TEST.replace("[100000, 7]", f"[{big}, 7]")}
    huge["test"] = huge["test"].replace("100007", big[:-1] + "7")
    data = load("humaneval_plus", write_jsonl(tmp_path / "HumanEvalPlus.jsonl", [exported_add(), huge]))
    assert data.name == "humaneval_plus" and data.items[0]["plus"] and data.items[0]["id"] == "HumanEval/0"
    good, weak = (grade_humaneval(data.items, [reply] * 2, workers=2) for reply in (ADD_GOOD, ADD_WEAK))
    assert [r["passed"] for r in good] == [True, True], good
    assert good[0]["reference"] == "passed" and good[0]["timeout_s"] == PLUS_MIN_TIMEOUT_S
    assert not weak[0]["passed"] and "AssertionError" in weak[0]["verdict"]


def test_humaneval_plus_from_evalplus_release_computes_the_expected_outputs(tmp_path):
    path = write_jsonl(tmp_path / "HumanEvalPlus-v0.1.10.jsonl.gz", [released_add()])
    data = load("humaneval_plus", path)
    item = data.items[0]
    assert "test" not in item and item["inputs"][-1] == [1, 2] and item["atol"] == 0
    [plus] = plus_tests(data.items, "humaneval")
    assert plus.reference == "passed" and "_evalplus_assert(candidate(*_inp)" in plus.test
    assert plus.test.count("[1, 2]") == 1  # evalplus' exporter drops inputs that print alike
    rows = grade_humaneval(data.items * 2, [ADD_GOOD, ADD_WEAK], workers=2)
    assert [r["passed"] for r in rows] == [True, False], rows


def test_humaneval_plus_find_zero_oracle(tmp_path):
    exported = {"task_id": "HumanEval/32", "prompt": POLY, "entry_point": "find_zero",
                "canonical_solution": FIND_ZERO, "test": EXPORTED_FIND_ZERO_TEST}  # fmt: skip
    released = {"task_id": "HumanEval/32", "prompt": POLY, "entry_point": "find_zero",
                "canonical_solution": FIND_ZERO, "base_input": [[[1, 2]]], "plus_input": [[[-6, 11, -6, 1]]],
                "atol": 1e-4}  # fmt: skip
    other_root = "```python\ndef find_zero(xs):\n    return 0.5\n```"
    for name, record in (("exported", exported), ("released", released)):
        data = load("humaneval_plus", write_jsonl(tmp_path / f"{name}.jsonl", [record]))
        rows = grade_humaneval(data.items * 2, [f"```python\n{POLY}{FIND_ZERO}```", other_root], workers=2)
        assert rows[0]["reference"] == "passed", (name, rows[0])
        assert [r["passed"] for r in rows] == [True, False], (name, rows)


def test_humaneval_plus_large_outputs_compare_with_the_reference_at_run_time(tmp_path):
    prompt = 'from typing import List\n\n\ndef all_prefixes(string: str) -> List[str]:\n    """All prefixes."""\n'
    record = {"task_id": "HumanEval/14", "prompt": prompt, "entry_point": "all_prefixes",
              "canonical_solution": "    return [string[:i + 1] for i in range(len(string))]\n",
              "base_input": [["abc"]], "plus_input": [["x" * 300], [""]], "atol": 0}  # fmt: skip
    data = load("humaneval_plus", write_jsonl(tmp_path / "he.jsonl", [record]))
    [plus] = plus_tests(data.items, "humaneval")
    assert "_reference['all_prefixes']" in plus.test and "x" * 300 + "'" not in plus.test.split("_inputs")[0]
    right = "```python\ndef all_prefixes(s):\n    return [s[:i] for i in range(1, len(s) + 1)]\n```"
    wrong = "```python\ndef all_prefixes(s):\n    return [s[:i] for i in range(1, min(len(s), 50) + 1)]\n```"
    rows = grade_humaneval(data.items * 2, [right, wrong], workers=2)
    assert [r["passed"] for r in rows] == [True, False], rows


def test_plus_time_limit_option_and_a_broken_reference(tmp_path):
    broken = {**exported_add("HumanEval/1"), "canonical_solution": "    return a - b\n"}
    path = write_jsonl(tmp_path / "he.jsonl", [exported_add(), broken])
    data = load("humaneval_plus", path, timeout_s=9)
    rows = grade_humaneval(data.items, [ADD_GOOD, ADD_GOOD], workers=2)
    assert [r["timeout_s"] for r in rows] == [9.0, 9.0]
    assert rows[0]["reference"] == "passed" and rows[1]["reference"].startswith("failed: AssertionError")
    assert rows[1]["passed"]  # the answer is still graded on the test


def test_humaneval_plus_loader_errors(tmp_path, monkeypatch):
    no_test = {k: v for k, v in exported_add().items() if k != "test"}
    with pytest.raises(AgorabenchError, match="needs `test`"):
        load("humaneval_plus", write_jsonl(tmp_path / "a.jsonl", [no_test]))
    with pytest.raises(AgorabenchError, match="lacks \\['entry_point'\\]"):
        load("humaneval_plus", write_jsonl(tmp_path / "b.jsonl", [{**exported_add(), "entry_point": ""}]))
    with pytest.raises(AgorabenchError, match="not found"):
        load("humaneval_plus", tmp_path / "missing.jsonl.gz")  # not a file here: read as a Hub id
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AgorabenchError, match="cannot load 'evalplus/humanevalplus'"):
        get_benchmark("humaneval_plus").load({})


def test_humaneval_plus_is_a_benchmark_of_its_own(tmp_path):
    spec = get_benchmark("humaneval_plus")
    assert spec.grader == "humaneval" and spec.domain == "code" and spec.item_score == "passed"
    assert grading_version("humaneval_plus") == "humaneval_plus@1+humaneval@2"
    assert grading_version("humaneval") == "humaneval@2+humaneval@2"
    assert len(list(spec.decontamination_texts({}))) == 164  # HumanEval's prompts: the same problems
    path = write_jsonl(tmp_path / "he.jsonl", [exported_add()])
    assert list(spec.decontamination_texts({"path": path})) == [ADD_PROMPT]
    data = spec.load({"path": str(path)})
    assert "```python\n" + ADD_PROMPT in spec.prompt(data.items[0])[0].content


# ------------------------------------------------------------------------------------------- MBPP+

# evalplus' exporter's MBPP+ test (tools/mbpp/to_original_fmt.py MBPP_TEST_TEMPLATE), abridged.
EXPORTED_MBPP_TEST = '''import numpy as np
from math import inf

def assertion(out, exp, atol):
    exact_match = out == exp
    if not exact_match and atol != 0:
        assert np.allclose(out, exp, rtol=1e-07, atol=atol)
    else:
        assert exact_match, f"out: {out}, exp: {exp}"


inputs = [[2], [10], [35], [37], [1], [7919 * 7907]]
results = [False, True, True, False, True, True]
for i, (inp, exp) in enumerate(zip(inputs, results)):
    assertion(is_not_prime(*inp), exp, 0)
'''
MBPP_EXPORTED = {
    "task_id": 3, "prompt": "Write a python function to identify non-prime numbers.",
    "code": "import math\ndef is_not_prime(n):\n    if n < 2:\n        return True\n"
            "    return any(n % i == 0 for i in range(2, int(math.sqrt(n)) + 1))\n",
    "source_file": "Benchmark Questions Verification V2.ipynb", "test_imports": ["import math"],
    "test_list": ["assert is_not_prime(2) == False", "assert is_not_prime(10) == True"],
    "test": EXPORTED_MBPP_TEST,
}  # fmt: skip
MBPP_RELEASED = [
    {"task_id": "Mbpp/2", "entry_point": "similar_elements",
     "prompt": '"""\nWrite a function to find the shared elements from the given two lists.\n'
               'assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))\n"""\n',
     "canonical_solution": "def similar_elements(test_tup1, test_tup2):\n  return tuple(set(test_tup1) & set(test_tup2))\n",
     "base_input": [[[3, 4, 5, 6], [5, 7, 4, 10]]], "plus_input": [[[1, 2, 3], [3, 2, 9]]], "atol": 0},
    {"task_id": "Mbpp/85", "entry_point": "surfacearea_sphere",
     "prompt": '"""\nWrite a function to find the surface area of a sphere.\n'
               'assert math.isclose(surfacearea_sphere(10), 1256.6370614359173, rel_tol=0.001)\n"""\n',
     "canonical_solution": "import math\ndef surfacearea_sphere(r):\n  return 4 * math.pi * (r**2)\n",
     "base_input": [[10], [15]], "plus_input": [[0.5], [1e-3]], "atol": 0.0001},
]  # fmt: skip


def test_mbpp_plus_exported_tests_by_path(tmp_path):
    data = load("mbpp_plus", write_jsonl(tmp_path / "MbppPlus.jsonl", [MBPP_EXPORTED]))
    item = data.items[0]
    assert item["id"] == "Mbpp/3" and item["entry_point"] == "is_not_prime" and item["setup"] == "import math"
    assert "Your code should pass these tests:\nassert is_not_prime(2) == False" in (
        get_benchmark("mbpp_plus").prompt(item)[0].content
    )
    right = "```Python\nimport math\ndef is_not_prime(n):\n    return n < 2 or any(n % d == 0 for d in range(2, n))\n```"
    # passes the three base asserts, fails evalplus' inputs (1 and a product of two primes)
    weak = "```python\ndef is_not_prime(n):\n    return n % 2 == 0 or n % 5 == 0 or n % 7 == 0\n```\n```python\nprint(is_not_prime(3))\n```"
    rows = grade_mbpp(data.items * 2, [right, weak], workers=2)
    assert [r["passed"] for r in rows] == [True, False], rows
    assert rows[0]["reference"] == "passed" and "print" not in rows[1]["extracted"]


def test_mbpp_plus_from_evalplus_release(tmp_path):
    data = load("mbpp_plus", write_jsonl(tmp_path / "MbppPlus-v0.2.0.jsonl.gz", MBPP_RELEASED))
    first, second = data.items
    assert first["inputs"][0] == [(3, 4, 5, 6), (5, 7, 4, 10)]  # evalplus' deserialisation: tuples again
    assert first["tests"] == ["assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))"]
    assert first["text"] == "Write a function to find the shared elements from the given two lists."
    replies = [
        # another order of the same elements: evalplus compares these tasks as sets
        "```python\ndef similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b), reverse=True))\n```",
        # close enough for the task's atol
        "```python\ndef surfacearea_sphere(r):\n    return 4 * 3.14159265 * r * r\n```",
    ]
    rows = grade_mbpp(data.items, replies, workers=2)
    assert [r["reference"] for r in rows] == ["passed", "passed"]
    assert [r["passed"] for r in rows] == [True, True], rows
    bad = ["```python\ndef similar_elements(a, b):\n    return tuple(set(a))\n```",
           "```python\ndef surfacearea_sphere(r):\n    return 12.5 * r * r\n```"]  # fmt: skip
    assert [r["passed"] for r in grade_mbpp(data.items, bad, workers=2)] == [False, False]


def test_mbpp_plus_decontamination_and_registry(tmp_path):
    spec = get_benchmark("mbpp_plus")
    assert spec.grader == "mbpp" and grading_version("mbpp_plus") == "mbpp_plus@1+mbpp@2"
    assert list(spec.decontamination_texts({})) == []  # no local copy: nothing, and no Hub request
    path = write_jsonl(tmp_path / "m.jsonl", [MBPP_EXPORTED])
    assert list(spec.decontamination_texts({"path": path})) == [MBPP_EXPORTED["prompt"]]


def test_base_mbpp_grades_as_before_with_a_fresh_namespace(tmp_path):
    rows = [{"task_id": 11, "text": "Triple.", "test_list": ["assert triple(2) == 6"], "test_setup_code": ""}]
    data = get_benchmark("mbpp").load({"path": str(write_jsonl(tmp_path / "mbpp.jsonl", rows)), "timeout_s": 2})
    assert data.items[0]["timeout_s"] == 2.0 and "plus" not in data.items[0]
    [row] = grade_mbpp(data.items, ["```PYTHON\ndef triple(x):\n    return 3 * x\nassert triple(1) == 4\n```"])
    assert row["passed"] and "reference" not in row
