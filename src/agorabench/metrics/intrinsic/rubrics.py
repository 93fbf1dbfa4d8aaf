"""Rubrics and prompts for absolute grading (1-5) of instruction difficulty and response quality.

Written for agorabench: the paper graded both on a 1-5 scale with an LLM judge; the wording here is ours.
One rubric per domain (math, code, general) and aspect; a domain without its own rubric is graded with
the general one. The judge is asked to end with a line `Score: N`; `parse_score` also reads the other
ways judges write a score.

Bump `RUBRIC_VERSION` whenever a prompt changes: it is part of the judging run's identity, so
judgments made with an older wording are never mixed with new ones in one folder.
"""

from __future__ import annotations

RUBRIC_VERSION = "1"

DIFFICULTY: dict[str, str] = {
    "math": """\
1: A single arithmetic step or a fact to recall; no reasoning needed.
2: A routine problem of a few steps (a grade-school word problem, one standard formula).
3: Several steps that must be planned, using standard high-school techniques (algebra, geometry, counting).
4: Needs a non-obvious idea or combines several areas; careful case analysis or competition-style reasoning.
5: Olympiad or university research level: long chains of reasoning, original insight or a rigorous proof.""",
    "code": """\
1: A one-liner or pure syntax question; no algorithm to design.
2: A short function built from a standard pattern (a loop, string or list handling).
3: A moderate algorithm or data structure where edge cases and correctness need some care.
4: Non-trivial algorithm design (dynamic programming, graphs, tricky parsing) or several interacting parts,
   possibly with efficiency requirements.
5: Expert level: intricate algorithms under tight constraints, concurrency, or system design that needs deep
   knowledge of the language and its runtime.""",
    "general": """\
1: A simple fact or a short casual reply; anyone could answer it at once.
2: A straightforward request that needs modest knowledge or a few well-formed sentences.
3: Several explicit constraints to respect, some domain knowledge, or a structured output to produce.
4: Expert knowledge, several parts, careful reasoning, or creative constraints that pull against each other.
5: Deep expertise and many interacting constraints, or an open problem whose ambiguity must be resolved with
   judgment; hard even for a knowledgeable person.""",
}

QUALITY: dict[str, str] = {
    "math": """\
1: No real solution: off-topic, or a wrong answer without meaningful work.
2: Major errors in the reasoning; the final answer is wrong or not supported by the work.
3: A sensible approach with mistakes or gaps; or a correct answer whose reasoning is hard to follow.
4: Correct reasoning and final answer, with small flaws in clarity or completeness.
5: Correct and complete: every step justified and easy to follow, the final answer stated in the form the
   problem asks for.""",
    "code": """\
1: Does not address the task, or would not run at all.
2: Attempts the task but has major bugs or misses the main requirement.
3: Works for typical inputs but misses edge cases or some stated requirements.
4: Correct and readable, with minor issues of efficiency, style or explanation.
5: Correct on edge cases, efficient, idiomatic and clearly presented, in exactly the format asked for.""",
    "general": """\
1: Ignores the request, is wrong on the main point, or is harmful.
2: Addresses part of the request; significant errors, or important constraints ignored.
3: Adequate: answers the request, but generic, thin, or missing some constraints.
4: Helpful, accurate and follows the constraints, with a little room for improvement.
5: Excellent: accurate, complete, follows every constraint, well organised and pitched at the right level.""",
}

SYSTEM = """\
You are a careful, consistent grader of training data for language models. You grade one property on an \
absolute scale from 1 to 5, using the rubric you are given. Judge only that property. Be strict: reserve 5 \
for examples that fully meet its description. Write at most three sentences of justification, then end with \
a line of the form
Score: N
where N is a single integer from 1 to 5."""

DIFFICULTY_USER = """\
Rate how DIFFICULT the following {domain} instruction is to answer well (not how well it is written).

<instruction>
{instruction}
</instruction>

Rubric (difficulty):
{rubric}

Justify briefly, then end with "Score: N" (N from 1 to 5)."""

QUALITY_USER = """\
Rate the QUALITY of the response to the following {domain} instruction.

<instruction>
{instruction}
</instruction>

<response>
{response}
</response>

Rubric (response quality):
{rubric}

Justify briefly, then end with "Score: N" (N from 1 to 5)."""

# Appended after an unusable reply: says what went wrong, and makes the retry a new request (not a cache hit).
REMINDER = (
    "\n\nImportant: your previous answer had no usable score. End your answer with one line exactly like "
    "`Score: 3`, with one integer from 1 to 5, and give no other score."
)


def rubric(aspect: str, domain: str) -> tuple[str, bool]:
    """(rubric text, whether it is the general fallback for a domain without its own)."""
    table = DIFFICULTY if aspect == "difficulty" else QUALITY
    if domain in table:
        return table[domain], False
    return table["general"], True
