"""Arena-Hard's judge prompts, verbatim from lmarena/arena-hard-auto (Apache-2.0).

- v0.1 (`config/judge_config.yaml`, 2024): one system prompt for every question (`SYSTEM_SOLVE_FIRST`:
  the judge writes its own answer first, then compares).
- v2.0 (`utils/judge_utils.py`, `JUDGE_SETTINGS`, 2025): the same prompt for `hard_prompt` (and its
  `coding` / `math` subcategories); `creative_writing` gets `SYSTEM_CREATIVE_WRITING`, which drops the
  "generate your own answer" step and compares the answers with each other only.
- Both versions send the same user message (`USER_TEMPLATE`: v0.1's `prompt_template`, v2.0's
  `config/arena-hard-v2.0.yaml`), the baseline as Assistant A in the first game and as Assistant B in the
  second, at temperature 0 with `max_tokens` 4096 (v0.1, judge gpt-4-1106-preview) or 16000 (v2.0, judge
  gpt-4.1).

`RETRY_NOTE` is ours: appended to the user message when a reply had no usable verdict and the engine asks
again (upstream v0.1 continues the conversation with a similar sentence; v2.0 does not retry). Bump
`PROMPT_VERSION` when any text here changes: it is part of the Arena-Hard grader's version and of every
judging run's identity.
"""

from __future__ import annotations

PROMPT_VERSION = "1"

SYSTEM_SOLVE_FIRST = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants "
    "to the user prompt displayed below. You will be given assistant A's answer and assistant B's answer. Your "
    "job is to evaluate which assistant's answer is better.\n\n"
    "Begin your evaluation by generating your own answer to the prompt. You must provide your answers before "
    "judging any answers.\n\n"
    "When evaluating the assistants' answers, compare both assistants' answers with your answer. You must "
    "identify and correct any mistakes or inaccurate information.\n\n"
    "Then consider if the assistant's answers are helpful, relevant, and concise. Helpful means the answer "
    "correctly responds to the prompt or follows the instructions. Note when user prompt has any ambiguity or "
    "more than one interpretation, it is more helpful and appropriate to ask for clarifications or more "
    "information from the user than providing an answer based on assumptions. Relevant means all parts of the "
    "response closely connect or are appropriate to what is being asked. Concise means the response is clear "
    "and not verbose or excessive.\n\n"
    "Then consider the creativity and novelty of the assistant's answers when needed. Finally, identify any "
    "missing important information in the assistants' answers that would be beneficial to include when "
    "responding to the user prompt.\n\n"
    "After providing your explanation, you must output only one of the following choices as your final "
    "verdict with a label:\n\n"
    "1. Assistant A is significantly better: [[A>>B]]\n"
    "2. Assistant A is slightly better: [[A>B]]\n"
    "3. Tie, relatively the same: [[A=B]]\n"
    "4. Assistant B is slightly better: [[B>A]]\n"
    "5. Assistant B is significantly better: [[B>>A]]\n\n"
    'Example output: "My final verdict is tie: [[A=B]]".'
)

SYSTEM_CREATIVE_WRITING = SYSTEM_SOLVE_FIRST.replace(
    "Begin your evaluation by generating your own answer to the prompt. You must provide your answers before "
    "judging any answers.\n\n",
    "",
).replace(
    "compare both assistants' answers with your answer.",
    "compare both assistants' answers.",
)

USER_TEMPLATE = (
    "<|User Prompt|>\n{question}\n\n"
    "<|The Start of Assistant A's Answer|>\n{answer_a}\n<|The End of Assistant A's Answer|>\n\n"
    "<|The Start of Assistant B's Answer|>\n{answer_b}\n<|The End of Assistant B's Answer|>"
)

RETRY_NOTE = (
    "\n\nFinish your judgment by outputting a final verdict label: "
    "[[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]]."
)

# Which system prompt a question gets: by version and category (anything not listed: solve first).
SYSTEM_BY_CATEGORY: dict[str, dict[str, str]] = {
    "v0.1": {},
    "v2.0": {"creative_writing": SYSTEM_CREATIVE_WRITING},
}


def system_prompt(version: str, category: str) -> str:
    return SYSTEM_BY_CATEGORY.get(version, {}).get(category, SYSTEM_SOLVE_FIRST)
