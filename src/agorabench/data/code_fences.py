"""Markdown code fences in model text: the one pattern that generation's validators (a code instance must be
fenced code) and evaluation's code graders (the code of an answer) both read fences with."""

from __future__ import annotations

import re

# ```tag\n ... ```: the tag (possibly empty) and the code. Non-greedy, so each fence closes at the next ```.
FENCED_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[ \t]*\n(.*?)```", re.DOTALL)
# A fence opened and never closed (a reply cut off by the token budget): the tag and the code to the end.
_OPEN_BLOCK = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[ \t]*\n(.*)\Z", re.DOTALL)
# The tags that mark Python (compared lowercased: "Python", "PY" and "python3" are Python), and an untagged
# block.
PYTHON_TAGS = frozenset({"python", "py", "python3", ""})


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(tag as written, code) of every closed fenced block, in order. Tags keep their case: compare them
    with `is_python_tag`."""
    return FENCED_BLOCK.findall(text)


def is_python_tag(tag: str) -> bool:
    """Whether a fence's tag marks Python, whatever its case (```Python, ```PY, ```python3, untagged)."""
    return tag.lower() in PYTHON_TAGS


def python_blocks(text: str) -> list[str]:
    """The code of every Python (or untagged) fenced block, in order, tags compared case-insensitively; a
    last fence left open (the reply ran out of tokens inside it) counts, to the end of the text."""
    blocks = [code for tag, code in fenced_blocks(text) if is_python_tag(tag)]
    rest = FENCED_BLOCK.sub("", text)
    tail = _OPEN_BLOCK.search(rest)
    if tail and is_python_tag(tail.group(1)):
        blocks.append(tail.group(2))
    return blocks
