"""Instruction difficulty and response quality, graded 1-5 by an LLM judge through the generation engine.

Each (example, aspect) is one engine work item, so judging gets the engine's retries, request cache,
resume, rate limits and cost accounting with any backend. A reply without one usable score is
`Rejected` with a named reason (`no_score`, `out_of_range`, `conflicting_scores`); the engine asks
again with a reminder of the format and, once the budget is spent, records the item as failed.

Item ids carry a digest of what is judged (aspect, domain, text), so a judging folder keeps working
when the dataset grows or `max_examples` changes: judgments of unchanged examples are reused, those of
changed examples are simply not looked up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges.pairwise import digest
from agorabench.generation.config import EngineConfig, GenerateConfig
from agorabench.generation.runner import FAILURES, RECORDS, GenerationJob, run_jobs
from agorabench.generation.task import Rejected, Task, WorkItem
from agorabench.jsonl import read_jsonl_lenient
from agorabench.llm.base import Completion, Message, SamplingParams
from agorabench.llm.config import GeneratorConfig, resolve_generator
from agorabench.metrics.intrinsic import rubrics
from agorabench.metrics.intrinsic.dataset import Example

# ----------------------------------------------------------------------------- score parsing

_NUM = r"(-?\d+(?:\.\d+)?)"
_DECOR = r"[\s*_`'\"\[\](){}]*"  # markdown and brackets judges put around a number
# Explicit scores: "[RESULT] 4", "Score: 4", "**Final score:** 4", "Difficulty = 4", "4/5", "4 out of 5".
_EXPLICIT = [
    re.compile(r"\[RESULT\]\s*:?" + _DECOR + _NUM, re.IGNORECASE),
    re.compile(
        r"\b(?:final\s+)?(?:score|rating|grade)\b[^\S\n]*(?:\(\s*1\s*-\s*5\s*\))?"
        r"[*_`]*[^\S\n]*(?:[:=]|\bis\b|\bof\b)" + _DECOR + _NUM,
        re.IGNORECASE,
    ),
    # "difficulty of 3 steps" is prose, so these two labels need ":", "=" or "is".
    re.compile(
        r"\b(?:difficulty|quality)\b[^\S\n]*(?:\(\s*1\s*-\s*5\s*\))?[*_`]*[^\S\n]*(?:[:=]|\bis\b)"
        + _DECOR
        + _NUM,
        re.IGNORECASE,
    ),
    re.compile(r"(?<![\w.])" + _NUM + r"\s*/\s*5(?![\d/])"),
    re.compile(r"(?<![\w.])" + _NUM + r"\s+out\s+of\s+5(?!\d)", re.IGNORECASE),
]
# Weaker signs, read only when there is no explicit score: a bold number, a last line that is a number.
_BOLD = re.compile(r"\*\*\s*" + _NUM + r"\s*\*\*")
_LONE = re.compile(r"^" + _NUM + r"$")


def _explicit(text: str) -> list[float]:
    return [float(m.group(1)) for pattern in _EXPLICIT for m in pattern.finditer(text)]


def _weak(text: str) -> list[float]:
    values = [float(m.group(1)) for m in _BOLD.finditer(text)]
    if match := _LONE.match(_last_line(text).strip(" \t*_`#>[](){}").rstrip(".")):
        values.append(float(match.group(1)))
    return values


def _last_line(text: str) -> str:
    return next((line for line in reversed(text.splitlines()) if line.strip()), "")


def parse_score(text: str) -> int:
    """The 1-5 score in a judge's reply, or Rejected.

    Explicit scores (`Score: 4`, `[RESULT] 4`, `4/5`, `4 out of 5`) win over weak ones (`**4**`, a last
    line that is just a number). One distinct value: that is the score. Several (a judge quoting the
    scale, or changing its mind): the last line decides if it holds exactly one, else the reply is
    ambiguous. A score that is not an integer from 1 to 5 is rejected, never clipped.
    """
    for read in (_explicit, _weak):
        values = read(text)
        if not values:
            continue
        distinct = set(values)
        if len(distinct) > 1:
            final = set(read(_last_line(text)))
            if len(final) != 1:
                shown = ", ".join(f"{v:g}" for v in sorted(distinct))
                raise Rejected("conflicting_scores", f"several different scores: {shown}")
            distinct = final
        (value,) = distinct
        if value != int(value) or not 1 <= value <= 5:
            raise Rejected("out_of_range", f"score {value:g} is not an integer from 1 to 5")
        return int(value)
    raise Rejected("no_score", f"no 1-5 score in: {text[-200:]!r}")


# ----------------------------------------------------------------------------- the task

METRIC_OF = {"difficulty": "instruction_difficulty", "quality": "response_quality"}


@dataclass(frozen=True)
class JudgeRequest:
    id: str
    example_id: str
    aspect: str
    domain: str
    instruction: str
    response: str


def judge_requests(examples: Sequence[Example], aspects: Sequence[str]) -> list[JudgeRequest]:
    requests = []
    for example in examples:
        for aspect in aspects:
            judged = [aspect, example.domain, example.instruction]
            if aspect == "quality":  # difficulty does not depend on the response
                judged.append(example.response)
            item_id = f"{example.id}:{aspect}:{digest(judged)}"
            requests.append(
                JudgeRequest(
                    item_id, example.id, aspect, example.domain, example.instruction, example.response
                )
            )
    return requests


class IntrinsicJudgeTask(Task):
    """Absolute 1-5 grading of instruction difficulty and/or response quality."""

    name = "intrinsic_judge"

    def __init__(self, requests: Sequence[JudgeRequest]):
        self.setting = {"method": "intrinsic_judge"}
        self.requests = {r.id: r for r in requests}

    def items(self) -> Iterator[WorkItem]:
        for r in self.requests.values():
            yield WorkItem(
                id=r.id, payload={"example_id": r.example_id, "aspect": r.aspect, "domain": r.domain}
            )

    def messages(self, item: WorkItem, attempt: int) -> list[Message]:
        r = self.requests[item.id]
        text, _ = rubrics.rubric(r.aspect, r.domain)
        template = rubrics.DIFFICULTY_USER if r.aspect == "difficulty" else rubrics.QUALITY_USER
        user = template.format(domain=r.domain, instruction=r.instruction, response=r.response, rubric=text)
        if attempt > 0:  # the last reply had no usable score: say so (and make it a new request)
            user += rubrics.REMINDER
        return [Message(role="system", content=rubrics.SYSTEM), Message(role="user", content=user)]

    def parse(self, item: WorkItem, completion: Completion) -> dict[str, Any]:
        self.check(completion)
        r = self.requests[item.id]
        return {
            "instruction": r.instruction,
            "response": completion.text,  # the judge's reply, kept for inspection
            "example_id": r.example_id,
            "aspect": r.aspect,
            "domain": r.domain,
            "score": parse_score(completion.text),
        }

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "rubric_version": rubrics.RUBRIC_VERSION}


# ----------------------------------------------------------------------------- running


@dataclass
class JudgeOutcome:
    scores: dict[str, dict[str, int]]  # example id -> aspect -> score
    failures: dict[str, dict[str, str]]  # example id -> aspect -> reason
    judge: GeneratorConfig
    folder: Path
    cost_usd: float
    requests_sent: int
    cached_responses: int
    rubric_fallbacks: list[str] = field(default_factory=list)  # domains graded with the general rubric

    def failure_reasons(self, aspect: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for by_aspect in self.failures.values():
            if reason := by_aspect.get(aspect):
                counts[reason] = counts.get(reason, 0) + 1
        return counts


def judge_folder(out_dir: Path, judge: GeneratorConfig) -> Path:
    """One engine folder per judge, so switching judges keeps both sets of judgments."""
    return out_dir / "judge" / re.sub(r"[^A-Za-z0-9._-]+", "_", judge.name)


def run_judge(
    examples: Sequence[Example],
    judge: GeneratorConfig | str,
    out_dir: Path,
    *,
    aspects: Sequence[str] = ("difficulty", "quality"),
    temperature: float = 0.0,
    max_tokens: int = 512,
    engine: EngineConfig | None = None,
    seed: int = 42,
    progress: Any = None,
) -> JudgeOutcome:
    """Judge every example (resuming whatever the folder already holds) and read the scores back."""
    generator = resolve_generator(judge, source="judge")
    folder = judge_folder(out_dir, generator)
    task = IntrinsicJudgeTask(judge_requests(examples, aspects))
    # top_p 1 with temperature 0: greedy; the engine still sends a per-attempt seed, so a retry after
    # an unusable reply is a new request.
    sampling = SamplingParams(temperature=temperature, top_p=1.0, max_tokens=max_tokens)
    config = GenerateConfig(
        generator=generator, sampling=sampling, engine=engine or EngineConfig(), seed=seed, output_dir=folder
    )
    (result,) = run_jobs([GenerationJob(config, generator, task, folder, progress)])
    if result.error is not None:
        raise AgorabenchError(f"judging with {generator.name!r} failed: {result.error}")

    records = {r["id"]: r for r in read_jsonl_lenient(folder / RECORDS) if r.get("id") in task.requests}
    failed = {
        f["id"]: f
        for f in read_jsonl_lenient(folder / FAILURES)
        if f.get("id") in task.requests and f["id"] not in records
    }
    scores: dict[str, dict[str, int]] = {}
    for item_id, record in records.items():
        r = task.requests[item_id]
        scores.setdefault(r.example_id, {})[r.aspect] = int(record["score"])
    failures: dict[str, dict[str, str]] = {}
    for item_id, failure in failed.items():
        r = task.requests[item_id]
        failures.setdefault(r.example_id, {})[r.aspect] = failure["reason"]
    cost = sum(r.get("cost_usd") or 0.0 for r in records.values()) + sum(
        f.get("cost_usd") or 0.0 for f in failed.values()
    )
    fallbacks = sorted({e.domain for e in examples if rubrics.rubric("quality", e.domain)[1]})
    return JudgeOutcome(
        scores=scores,
        failures=failures,
        judge=generator,
        folder=folder,
        cost_usd=round(cost, 6),
        requests_sent=result.stats.requests,
        cached_responses=result.stats.cached_responses,
        rubric_fallbacks=fallbacks,
    )


__all__ = [
    "METRIC_OF",
    "IntrinsicJudgeTask",
    "JudgeOutcome",
    "JudgeRequest",
    "judge_requests",
    "parse_score",
    "run_judge",
]
