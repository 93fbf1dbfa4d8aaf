"""Judge prompts, written for agorabench.

They ask for the same kinds of verdict as AlpacaEval 2.0 (which of two replies is better) and Arena-Hard
(a five-level verdict, the judge first solving hard prompts itself), so scores are comparable in kind, but
the wording is ours: exact numbers from the official leaderboards also depend on their judge model and
template, and are not reproduced by these prompts.

Bump `PROMPT_VERSION` whenever a prompt changes: it is part of every judging run's identity, so old
judgments are never mixed with new ones in one output folder (the request cache keys on the text anyway).
"""

from __future__ import annotations

PROMPT_VERSION = "1"

# ----------------------------------------------------------------------------- AlpacaEval-style

PREFERENCE_SYSTEM = """\
You compare two replies to the same request and decide which one a careful user would rather receive.

What matters, in this order:
- Correctness: facts, reasoning, code and arithmetic that are right.
- Following the request: every explicit instruction and constraint is respected (format, length, tone, language).
- Usefulness: the reply actually solves the user's problem, with the detail the request calls for.
- Clarity: easy to read and to act on.

Do not let the order of the replies, their length or their polish sway you: a longer reply is better only \
when the extra content helps. Ties are not allowed: if the replies are equally good or equally bad, \
still pick the one you would rather get."""

PREFERENCE_USER = """\
<request>
{instruction}
</request>

<reply_A>
{answer_a}
</reply_A>

<reply_B>
{answer_b}
</reply_B>

Which reply is better, A or B? Answer with [[A]] or [[B]] and nothing else."""

PREFERENCE_REMINDER = (
    "\n\nImportant: your whole answer must be exactly [[A]] or [[B]] (with the double brackets)."
)

# ----------------------------------------------------------------------------- Arena-Hard-style

_VERDICT_SCALE = """\
Finish with your verdict, on its own last line, as exactly one of these labels:
[[A>>B]]  A is clearly better
[[A>B]]   A is somewhat better
[[A=B]]   neither is better
[[B>A]]   B is somewhat better
[[B>>A]]  B is clearly better"""

GRADED_SYSTEM_SOLVE_FIRST = f"""\
You grade two AI assistants' answers, A and B, to one user prompt.

1. Before reading their answers closely, work out your own answer to the prompt. Write it down.
2. Check each answer against yours. Name every mistake or inaccuracy and say what is right instead.
3. Weigh how helpful each answer is (does it do what was asked? when the prompt is ambiguous, asking for \
clarification beats guessing), how relevant every part is, and whether it is concise rather than padded. \
Where the task calls for it, weigh creativity too.
4. Note important information that either answer leaves out.

Position and length are not merits: judge what each answer says.

{_VERDICT_SCALE}"""

GRADED_SYSTEM_OPEN_ENDED = f"""\
You grade two AI assistants' answers, A and B, to one user prompt; the task is open-ended (for example \
creative writing), so there is no single correct answer to write first.

1. Check each answer for mistakes and for places where it ignores what the prompt asks.
2. Weigh how well each answer fulfils the prompt, how relevant every part is, and whether it is concise \
rather than padded; weigh originality, style and craft as the task calls for.
3. Note anything important that either answer leaves out.

Position and length are not merits: judge what each answer says.

{_VERDICT_SCALE}"""

GRADED_USER = """\
<user_prompt>
{instruction}
</user_prompt>

<answer_A>
{answer_a}
</answer_A>

<answer_B>
{answer_b}
</answer_B>"""

GRADED_REMINDER = (
    "\n\nImportant: end your reply with exactly one verdict label on its own line: "
    "[[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]]."
)
