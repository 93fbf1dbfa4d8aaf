"""Markdown code fences in model text: the one pattern that generation's validators (a code instance must be
fenced code) and evaluation's code graders (the code of an answer) both read fences with."""

from __future__ import annotations

import re

# ```tag\n ... ```: the tag (possibly empty) and the code. Non-greedy, so each fence closes at the next ```.
FENCED_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[ \t]*\n(.*?)```", re.DOTALL)
# The tags that mark Python, and an untagged block.
PYTHON_TAGS = frozenset({"python", "py", "python3", ""})


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(tag as written, code) of every fenced block, in order. Tags keep their case: callers decide
    whether "Python" is "python"."""
    return FENCED_BLOCK.findall(text)
