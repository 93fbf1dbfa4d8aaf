"""Validators on their own: the edge cases of each check."""

from __future__ import annotations

import pytest

from agorabench.generation import validators as v
from agorabench.generation.settings.base import split_sections
from agorabench.generation.task import Rejected


def reason(check, *args):
    with pytest.raises(Rejected) as raised:
        check(*args)
    return raised.value.reason


def test_math_result_block_rules():
    assert v.check_math("Two and two.\n[RESULT] 4 [/RESULT]") == "4"
    assert v.check_math("So $x=\\frac{1}{2}$.\n[RESULT] \\frac{1}{2} [/RESULT]\n") == "\\frac{1}{2}"
    assert reason(v.check_math, "The answer is 4.") == "math_no_result"
    assert reason(v.check_math, "[RESULT] 4 [/RESULT] [RESULT] 5 [/RESULT]") == "math_multiple_results"
    assert reason(v.check_math, "[RESULT] 4 [/RESULT] Hope this helps!") == "math_result_not_last"
    assert reason(v.check_math, "[RESULT]  [/RESULT]") == "math_empty_result"
    assert reason(v.check_math, "[RESULT] no idea at all [/RESULT]") == "math_unparseable_result"


def test_math_answers_math_verify_reads():
    for answer in ("42", "-3.5", "\\frac{3}{4}", "2\\sqrt{3}", "50\\pi - 100", "x = 3", "A", "\\$4.80", "12 apples"):
        assert v.math_answer_parses(answer), answer
    for answer in ("forty two", "yes", "hello world"):
        assert not v.math_answer_parses(answer), answer


def test_code_fences_and_prose():
    good = "```python\ndef f():\n    return 1\n```"
    assert v.check_code(good)
    assert v.check_code(good + "\nExample usage:\n```python\nprint(f())\n```")  # a label between blocks
    assert reason(v.check_code, "Here is the code:\n" + good) == "code_prose"
    assert reason(v.check_code, good + "\nThis function returns one.") == "code_prose"
    assert reason(v.check_code, good + "\n" + "This is a long explanation of the code. " * 3 + "\n" + good) == "code_prose"
    assert reason(v.check_code, "def f(): return 1") == "code_no_fence"
    assert reason(v.check_code, "```python\ndef f(:\n```") == "code_syntax_error"
    assert v.check_code("```sql\nSELECT * FROM t;\n```")  # other languages are not parsed


def test_validators_and_graders_read_fences_alike():
    from agorabench.evaluation.graders import extract_code

    reply = "Intro.\n```Python\nx = 1\n```\nthen\n```js\nlet y;\n```\n```py\nz = 2\n```"
    # One pattern: the same blocks, tags as written.
    assert [lang for lang, _ in v.code_blocks(reply)] == ["python", "js", "py"]  # validators lowercase
    # The graders take Python blocks, tags in any case ("Python", "py"); "js" never is.
    assert extract_code(reply) == "x = 1\n\n\nz = 2\n"
    assert extract_code("```\nprint(1)\n```") == "print(1)\n"  # an untagged block is Python
    assert extract_code("no fences at all") == "no fences at all"
    assert reason(v.check_code, "```Python\ndef f(:\n```") == "code_syntax_error"  # here "Python" is Python


def test_placeholders_refusals_budget():
    assert reason(v.check_placeholders, "Solve {{ problem }} now") == "placeholder"
    assert reason(v.check_placeholders, "Write <your instruction here>") == "placeholder"
    assert reason(v.check_placeholders, "done [END] more", ("[END]",)) == "stop_phrase"
    v.check_placeholders("Use a dict {key: value} and a list [1, 2].")
    assert reason(v.check_refusal, "I'm sorry, but I can't help with that.") == "refusal"
    assert reason(v.check_refusal, "As an AI language model, I have no opinions.") == "refusal"
    v.check_refusal("Sorry to hear about your cat! Here are steps to help it settle in.")
    assert reason(v.check_token_budget, "a " * 10, "b " * 10, lambda t: len(t.split()), 15) == "too_long"


def test_sections_parse_loose_headers():
    assert split_sections("[Instruction]\nQ\n[Response]\nA\n[END]\nignored") == {"instruction": "Q", "response": "A"}
    assert split_sections("Instruction: Q\nResponse: A") == {"instruction": "Q", "response": "A"}
    assert split_sections("### Instruction\nQ\n### Response\nA\n[Tests]\nassert 1") == {
        "instruction": "Q", "response": "A", "tests": "assert 1",
    }
