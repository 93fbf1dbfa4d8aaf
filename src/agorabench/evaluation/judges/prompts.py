"""Judge prompts: ours, and AlpacaEval 2.0's official one when the `alpaca-eval` package is installed.

Ours ask for the same kinds of verdict as AlpacaEval 2.0 (which of two replies is better) and Arena-Hard
(a five-level verdict, the judge first solving hard prompts itself), so scores are comparable in kind, but
the wording is ours: exact numbers from the official leaderboards also depend on their judge model and
template, and are not reproduced by these prompts.

`alpaca_eval_prompt()` reads the official AlpacaEval 2.0 annotator (`weighted_alpaca_eval_gpt4_turbo`:
its `configs.yaml` and the template it names) from the installed package's files, without importing
the package. That judge sees the two outputs as models "m" and "M", answers with one token, and its
preference is read from the log-probabilities of that token (`AlpacaEvalPrompt.labels`).

Bump `PROMPT_VERSION` whenever one of our prompts changes: it is part of every judging run's identity, so
old judgments are never mixed with new ones in one output folder (the request cache keys on the text
anyway). The official prompt's identity is the annotator's name and the package's version.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass

import yaml

from agorabench.io import package_file

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


# ----------------------------------------------------------------------------- AlpacaEval 2.0's own

ALPACA_EVAL_PACKAGE = "alpaca_eval"
ALPACA_EVAL_ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"  # AlpacaEval 2.0's default annotator

_CHATML_TURN = re.compile(r"<\|im_start\|>(\w+)[^\n]*\n(.*?)<\|im_end\|>", re.DOTALL)
_PLACEHOLDER = re.compile(r"{([^ \s]+?)}")  # what alpaca_eval's make_prompts fills in


@dataclass(frozen=True)
class AlpacaEvalPrompt:
    """An official AlpacaEval annotator's prompt, as its config describes it.

    `template` is ChatML text with `{instruction}`, `{output_1}` and `{output_2}`; output_1 is shown
    first (position A). `labels` are the tokens naming output_1 and output_2 in the reply (the
    config's `numerator_token` first). The preference for output_1 is
    P(labels[0]) / (P(labels[0]) + P(labels[1])) over the first token's `top_logprobs` alternatives."""

    annotator: str
    version: str  # of the alpaca-eval package
    template: str
    labels: tuple[str, str]
    top_logprobs: int
    max_tokens: int

    @property
    def name(self) -> str:
        return f"alpaca_eval:{self.annotator}@{self.version}"

    def messages(self, instruction: str, output_1: str, output_2: str) -> list[tuple[str, str]]:
        """(role, content) turns, filled in as alpaca_eval does: each placeholder's first occurrence
        replaced in turn, then the ChatML split into turns with stripped contents."""
        values = {"instruction": instruction, "output_1": output_1, "output_2": output_2}
        text = self.template
        for key in dict.fromkeys(_PLACEHOLDER.findall(self.template)):
            if key in values:
                text = text.replace("{" + key + "}", values[key], 1)
        return [(role, content.strip()) for role, content in _CHATML_TURN.findall(text.strip())]

    def reminder(self) -> str:
        """Appended to the user turn when a reply named neither output (ours: the official prompt has none)."""
        first, second = self.labels
        return f"\n\nImportant: answer with exactly {first} or {second} and nothing else."


def alpaca_eval_prompt(annotator: str = ALPACA_EVAL_ANNOTATOR) -> AlpacaEvalPrompt | None:
    """The official annotator's prompt from the installed `alpaca-eval` package, or None without it.
    Only log-probability annotators (`fn_completion_parser: logprob_parser`) are supported."""
    configs = package_file(ALPACA_EVAL_PACKAGE, "evaluators_configs", annotator, "configs.yaml")
    if configs is None:
        return None
    config = yaml.safe_load(configs.read_text(encoding="utf-8"))[annotator]
    if config.get("fn_completion_parser") != "logprob_parser":
        raise ValueError(f"{configs}: {annotator} does not read log-probabilities; not supported")
    parser = config["completion_parser_kwargs"]
    first = parser["numerator_token"]
    others = [t for t in parser["denominator_tokens"] if t != first]
    if len(others) != 1:
        raise ValueError(f"{configs}: expected two label tokens, got {parser['denominator_tokens']}")
    template = package_file(ALPACA_EVAL_PACKAGE, "evaluators_configs", *config["prompt_template"].split("/"))
    if template is None:
        raise ValueError(f"{configs}: the template {config['prompt_template']} is not in the package")
    completions = config.get("completions_kwargs") or {}
    return AlpacaEvalPrompt(
        annotator=annotator,
        version=importlib.metadata.version("alpaca-eval"),
        template=template.read_text(encoding="utf-8"),
        labels=(first, others[0]),
        top_logprobs=int(completions.get("top_logprobs", 5)),
        max_tokens=int(completions.get("max_tokens", 1)),
    )
