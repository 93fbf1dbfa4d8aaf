"""LaTeX answers: the last `\\boxed{}` of a text. The MATH loader takes its gold answers with it and the math
grader its extracted ones, so both read a box the same way."""

from __future__ import annotations

import re

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)\b")


def _balanced(text: str, start: int) -> str | None:
    """The content of the brace group opening at text[start] ("{"), or None if it never closes.
    Escaped braces (`\\{`, `\\}`) do not count."""
    depth, j = 0, start
    while j < len(text):
        char = text[j]
        if char == "\\":
            j += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : j]
        j += 1
    return None


def last_boxed(text: str) -> str | None:
    """The content of the last well-formed `\\boxed{...}` / `\\fbox{...}` (or `\\boxed 5`), or None."""
    for match in reversed(list(_BOX_COMMAND.finditer(text))):
        rest = match.end()
        while rest < len(text) and text[rest] == " ":
            rest += 1
        if rest < len(text) and text[rest] == "{":
            content = _balanced(text, rest)
            if content is not None:
                return content.strip()
        elif rest > match.end():  # "\boxed 5": the next token
            token = re.match(r"[^\s$]+", text[rest:])
            if token:
                return token.group(0).rstrip(".")
    return None
