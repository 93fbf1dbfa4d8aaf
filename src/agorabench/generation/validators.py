"""Validators for generated instances. Each returns None (passed) or raises Rejected with a short,
named reason; the engine counts reasons in the run's metadata and retries with a fresh sample.

Checks shared by every domain: no template placeholder or stop phrase in the output, non-empty
instruction and response, prompt + response within a token budget (the student's tokenizer), no
refusal boilerplate. Math: exactly one `[RESULT] ... [/RESULT]` block, at the end, that math-verify can
parse. Code: only fenced code (no chatty text around it), and every Python block parses.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from agorabench.data.code_fences import FENCED_BLOCK, PYTHON_TAGS, fenced_blocks
from agorabench.generation.task import Rejected

# Bump when a check changes what it accepts: it is part of every generation stage's key, so a run
# regenerates datasets validated by the old rules instead of reusing them.
VALIDATORS_VERSION = "1"

# Template syntax and our own section markers: either one in the output means the generator copied
# the prompt's scaffolding instead of filling it in.
PLACEHOLDER_PATTERNS = [
    re.compile(r"\{\{.*?\}\}|\{%.*?%\}"),  # jinja
    re.compile(r"<(?:instruction|response|problem|solution|your [^>]{1,40})>", re.IGNORECASE),
    re.compile(r"\[(?:insert|your|placeholder)[^\]]{0,40}\]", re.IGNORECASE),
    re.compile(r"\b(?:lorem ipsum|PLACEHOLDER|TODO: fill)\b", re.IGNORECASE),
]

REFUSAL_PATTERNS = re.compile(
    r"(?:\bas an ai(?: language)? model\b|\bI(?:'m| am) (?:sorry|unable)\b.{0,40}\b(?:can(?:'|no)t|not able|unable)\b"
    r"|\bI can(?:'|no)t (?:help|assist|comply|provide)\b|\bI (?:won't|will not) (?:help|assist|provide)\b)",
    re.IGNORECASE | re.DOTALL,
)

RESULT_BLOCK = re.compile(r"\[RESULT\](.*?)\[/RESULT\]", re.DOTALL)


def check_placeholders(text: str, stop_phrases: Sequence[str] = ()) -> None:
    for pattern in PLACEHOLDER_PATTERNS:
        if match := pattern.search(text):
            raise Rejected("placeholder", f"template placeholder in output: {match.group(0)[:40]!r}")
    for phrase in stop_phrases:
        if phrase and phrase in text:
            raise Rejected("stop_phrase", f"stop phrase {phrase!r} in output")


def check_non_empty(instruction: str, response: str) -> None:
    if not instruction.strip():
        raise Rejected("empty_instruction")
    if not response.strip():
        raise Rejected("empty_response")


def check_refusal(response: str) -> None:
    # Only the opening matters: a refusal starts with it; a long answer may quote such a phrase.
    if REFUSAL_PATTERNS.search(response[:300]):
        raise Rejected("refusal", "refusal boilerplate in the response")


def check_token_budget(instruction: str, response: str, count_tokens: Callable[[str], int], budget: int) -> None:
    used = count_tokens(instruction) + count_tokens(response)
    if used > budget:
        raise Rejected("too_long", f"{used} tokens > budget {budget}")


# --- math ---------------------------------------------------------------------------------------------


def final_answer(response: str) -> str | None:
    """The content of the last [RESULT] block, or None."""
    blocks = RESULT_BLOCK.findall(response)
    return blocks[-1].strip() if blocks else None


def check_math(response: str) -> str:
    """Exactly one [RESULT] block, at the very end, whose content math-verify parses. Returns it."""
    blocks = RESULT_BLOCK.findall(response)
    if not blocks:
        raise Rejected("math_no_result", "no [RESULT] ... [/RESULT] block")
    if len(blocks) > 1:
        raise Rejected("math_multiple_results", f"{len(blocks)} [RESULT] blocks")
    if not response.rstrip().endswith("[/RESULT]"):
        raise Rejected("math_result_not_last", "text after the [RESULT] block")
    answer = blocks[0].strip()
    if not answer:
        raise Rejected("math_empty_result")
    if not math_answer_parses(answer):
        raise Rejected("math_unparseable_result", f"math-verify cannot parse {answer[:60]!r}")
    return answer


@lru_cache(maxsize=4096)
def math_answer_parses(answer: str) -> bool:
    """Whether math-verify reads `answer` as math: a number or expression, not prose.

    math-verify returns [value, original text]; a value that is only the text back, or a product of
    many one-letter symbols (its reading of words such as "yes"), means it found no math."""
    import sympy
    from math_verify import parse

    # Our own time limits apply (grading runs in worker processes); its SIGALRM timer fails off the
    # main thread, and it warns once when disabled.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    # Plain text first (finds numbers and expressions in text); then as LaTeX, where it also reads words
    # as products of symbols, so a bare word may have at most one ("A", "x", not "yes"), while text
    # with math syntax may have a few ("\\frac{a}{b}", "x + y").
    looks_like_math = re.search(r"[\\^_0-9=+*/]", answer) is not None
    for candidate, max_symbols in ((answer, 2), (f"${answer}$", 3 if looks_like_math else 1)):
        try:
            parsed = parse(candidate, parsing_timeout=None)
        except Exception:  # noqa: BLE001 - math-verify raises assorted errors on garbage
            continue
        if parsed and isinstance(parsed[0], sympy.Basic) and len(parsed[0].free_symbols) <= max_symbols:
            return True
    return False


# --- code ---------------------------------------------------------------------------------------------


def code_blocks(response: str) -> list[tuple[str, str]]:
    """(language tag, code) of every fenced block."""
    return [(lang.lower(), code) for lang, code in fenced_blocks(response)]


def check_code(response: str, max_prose_chars: int = 40) -> list[tuple[str, str]]:
    """The response is fenced code: it starts and ends with a fence, with at most `max_prose_chars` of
    text between blocks (a label such as "Example usage:", not an explanation), and every Python block
    parses. Returns the blocks."""
    blocks = code_blocks(response)
    if not blocks:
        raise Rejected("code_no_fence", "no fenced code block")
    stripped = response.strip()
    if not stripped.startswith("```") or not stripped.endswith("```"):
        raise Rejected("code_prose", "text before the first or after the last code fence")
    outside = FENCED_BLOCK.sub("", stripped).strip()
    if len(outside) > max_prose_chars:
        raise Rejected("code_prose", f"{len(outside)} characters of text between the code fences")
    for lang, code in blocks:
        if lang in PYTHON_TAGS:
            try:
                ast.parse(code)
            except SyntaxError as exc:
                raise Rejected("code_syntax_error", f"line {exc.lineno}: {exc.msg}") from None
    return blocks


def check_python_tests(tests: str) -> None:
    """Tests shipped with an instance must at least parse. (They run in the sandbox once it exists.)"""
    try:
        ast.parse(tests)
    except SyntaxError as exc:
        raise Rejected("tests_syntax_error", f"line {exc.lineno}: {exc.msg}") from None


def verdicts(passed: list[str]) -> dict[str, Any]:
    return {"passed": passed}
