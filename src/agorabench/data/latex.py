"""LaTeX answers in `\\boxed{}`. The MATH loader takes its gold answers with `last_boxed` and the math grader
its extracted ones with `boxed_run`, so both read a box the same way (balanced braces, escaped braces
ignored, `\\fbox` too, `\\boxed 5` without braces, an unclosed box skipped)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)\b")
# Between two boxes of one answer (math-verify's rule, see `boxed_run`): "and", "or", a comma or a semicolon.
_BOX_SEPARATOR = re.compile(r"\b(?:and|or)\b|,|;")


@dataclass(frozen=True)
class Box:
    """One `\\boxed{...}`: where it starts, where it ends (the index after it) and its content."""

    start: int
    end: int
    content: str


def _closing(text: str, start: int) -> int | None:
    """The index of the brace closing the group that opens at text[start] ("{"), or None if it never
    closes. Escaped braces (`\\{`, `\\}`) do not count."""
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
                return j
        j += 1
    return None


def _box_at(text: str, match: re.Match[str]) -> Box | None:
    rest = match.end()
    while rest < len(text) and text[rest] == " ":
        rest += 1
    if rest < len(text) and text[rest] == "{":
        close = _closing(text, rest)
        if close is None:
            return None
        return Box(match.start(), close + 1, text[rest + 1 : close].strip())
    if rest > match.end():  # "\boxed 5": the next token
        token = re.match(r"[^\s$]+", text[rest:])
        if token:
            return Box(match.start(), rest + token.end(), token.group(0).rstrip("."))
    return None


def last_boxed(text: str) -> str | None:
    """The content of the last well-formed `\\boxed{...}` / `\\fbox{...}` (or `\\boxed 5`), or None."""
    for match in reversed(list(_BOX_COMMAND.finditer(text))):
        box = _box_at(text, match)
        if box is not None:
            return box.content
    return None


def boxes(text: str) -> list[Box]:
    """The well-formed boxes of `text`, in order; a box inside another one is part of its content."""
    found: list[Box] = []
    for match in _BOX_COMMAND.finditer(text):
        if found and match.start() < found[-1].end:
            continue
        box = _box_at(text, match)
        if box is not None:
            found.append(box)
    return found


def boxed_run(text: str) -> list[str]:
    """The final answer of a text as its boxes give it: the contents of the last box and of the boxes just
    before it that belong to the same answer (`\\boxed{2} and \\boxed{3}`), in order; [] if none.

    The rule is math-verify's (latex2sympy2_extended's `extract_boxed_content`, mode "last"): walking
    back from the last box, an earlier box joins when less than 10 characters separate the two, or less
    than 70 that contain "and", "or", a comma or a semicolon and the two contents differ; the first box
    that does not join ends the run. A box repeated right after itself counts once (`\\boxed{5} ...
    **Final Answer** \\boxed{5}`). We walk the boxes ourselves to keep each content apart (math-verify
    joins them with commas, which reads `\\boxed{1}, \\boxed{234}` as 1234). Empty boxes are dropped."""
    found = boxes(text)
    if not found:
        return []
    run = [found[-1]]
    for box in reversed(found[:-1]):
        later = run[-1]
        between = text[box.end : later.start]
        if len(between) < 10 or (box.content != later.content and len(between) < 70 and _BOX_SEPARATOR.search(between)):
            run.append(box)
        else:
            break
    contents: list[str] = []
    for box in reversed(run):
        if box.content and (not contents or contents[-1] != box.content):
            contents.append(box.content)
    return contents
