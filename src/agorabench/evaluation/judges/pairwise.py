"""Pairwise LLM judging as an engine task, and the statistics both judged benchmarks share.

A `Comparison` puts one model's answer beside a baseline answer for one instruction, in a fixed position
(A = shown first). `PairwiseJudgeTask` turns comparisons into judge requests and parses the verdict; it
runs through the generation engine (`run_judgments`), so judging gets the engine's retries, request
cache, resume, rate limits and cost accounting, and any backend can judge. A reply without a usable
verdict is `Rejected` with a reason, so the engine asks again (with a reminder of the format appended,
which also makes the retry a new request rather than a cache hit) and, once the budget is spent, records
the item as failed with that reason.

Verdicts are stored twice: as the judge gave them (positional, "A>B") and from the evaluated model's
point of view (`score`: 1 win, 0.5 tie, 0 loss; `strong`: a "much better" verdict), so the statistics
never need to know the order the judge saw.

With an official AlpacaEval prompt (`prompts.AlpacaEvalPrompt`, preference mode) the judge names the
better output with one token and the request asks for the first token's top log-probabilities; `score`
is then the continuous preference P(model's label) / P(either label), as alpaca_eval's `logprob_parser`
computes it, and `preference_source` says "logprobs". A backend that returns none (Anthropic, the
embedded one) gives the 0/1 preference of the text verdict, `preference_source` "verdict".
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges import prompts
from agorabench.generation.config import EngineConfig, GenerateConfig
from agorabench.generation.runner import FAILURES, RECORDS, GenerateResult, GenerationJob, run_jobs
from agorabench.generation.task import Rejected, Task, WorkItem
from agorabench.jsonl import read_jsonl_lenient
from agorabench.llm.base import Completion, Message, SamplingParams
from agorabench.llm.config import GeneratorConfig, resolve_generator

Mode = Literal["preference", "graded"]
Position = Literal["A", "B"]

# Arena-Hard's five verdicts, best for A first.
GRADED_LABELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")

# ----------------------------------------------------------------------------- verdict parsing

_GRADED = re.compile(r"\[\[\s*([AB])\s*(>>|<<|>|<|=)\s*([AB])\s*\]\]")
_BRACKETED_LETTER = re.compile(r"\[\[\s*([AB])\s*\]\]")
# A reply that is nothing but the letter: "A", "**B**", "Reply A.", "(B)", "[B]".
_BARE_LETTER = re.compile(
    r"^[\s*_`'\"(\[]*(?:(?:reply|answer|response|output|assistant)\s+)?([AB])[\s*_`'\")\].!]*$", re.IGNORECASE
)
# A last line such as "Verdict: B", "Preferred reply: [A]", "Better: **B**".
_LABELLED_LETTER = re.compile(
    r"(?:verdict|preferred|preference|better|winner|choice|answer)\b[^:\n]{0,20}[:=]\s*"
    r"[*_`'\"(\[]*(?:(?:reply|answer|response|output|assistant)\s+)?([AB])[*_`'\")\].!]*\s*$",
    re.IGNORECASE,
)


def normalise_graded(first: str, relation: str, second: str) -> str | None:
    """One of GRADED_LABELS for a matched `[[X rel Y]]`, or None when it compares a reply with itself."""
    if first == second:
        return None
    if relation == "=":
        return "A=B"
    a_better = (first == "A") == (relation in (">", ">>"))
    strong = len(relation) == 2
    if a_better:
        return "A>>B" if strong else "A>B"
    return "B>>A" if strong else "B>A"


def parse_graded_verdict(text: str) -> str:
    """The five-level verdict in a judge's reply, or Rejected.

    Every `[[X>Y]]`-style label in the reply is read (`<`, `<<` and `B=A` spellings are normalised). One
    distinct verdict: that is it. Several distinct verdicts (a judge quoting the scale, or changing its
    mind) are accepted only when the last non-empty line holds exactly one, i.e. a final verdict line as
    the prompt asks; otherwise the reply is ambiguous and is rejected so the judge is asked again.
    """
    labels = [normalise_graded(*m.groups()) for m in _GRADED.finditer(text)]
    labels = [label for label in labels if label]
    if not labels:
        raise Rejected("no_verdict", f"no [[A>B]]-style verdict in: {text[-200:]!r}")
    if len(set(labels)) == 1:
        return labels[0]
    last_line = next((line for line in reversed(text.splitlines()) if line.strip()), "")
    final = {normalise_graded(*m.groups()) for m in _GRADED.finditer(last_line)} - {None}
    if len(final) == 1:
        return final.pop()  # type: ignore[return-value]
    raise Rejected("ambiguous_verdict", f"several different verdicts: {sorted(set(labels))}")


def parse_preference(text: str) -> Position:
    """Which reply the judge prefers ("A" or "B"), or Rejected.

    Accepted, in order: `[[A]]` / `[[B]]` anywhere (exactly one distinct letter); a reply that is only the
    letter ("B", "**A**", "Reply B."); a last line like "Verdict: A". Anything else is no verdict.
    """
    letters = {m.group(1) for m in _BRACKETED_LETTER.finditer(text)}
    if len(letters) == 1:
        return letters.pop()  # type: ignore[return-value]
    if len(letters) > 1:
        raise Rejected("ambiguous_verdict", "both [[A]] and [[B]] in the reply")
    stripped = text.strip()
    if match := _BARE_LETTER.match(stripped):
        return match.group(1).upper()  # type: ignore[return-value]
    last_line = stripped.splitlines()[-1] if stripped else ""
    if match := _LABELLED_LETTER.search(last_line):
        letter = match.group(1)
        if letter in "AB":  # an upper-case letter only: "answer: a" is too likely to be prose
            return letter  # type: ignore[return-value]
    raise Rejected("no_verdict", f"no [[A]]/[[B]] verdict in: {text[-200:]!r}")


def parse_label(text: str, labels: tuple[str, str]) -> Position | None:
    """"A" or "B" when the reply is just one of the two label tokens (labels[0] names position A), case
    kept ("m" and "M" are different labels); None otherwise."""
    word = text.strip().strip("\"'`*_.()[]").strip()
    if word == labels[0]:
        return "A"
    if word == labels[1]:
        return "B"
    return None


def logprob_preference(top_logprobs: dict[str, float] | None, labels: tuple[str, str]) -> float | None:
    """P(first label) / (P(first) + P(second)) from the first token's alternatives; a label not among them
    has probability 0 (as alpaca_eval's `logprob_parser`); None when neither is there."""
    if not top_logprobs:
        return None
    first, second = (top_logprobs.get(label, -math.inf) for label in labels)
    if first == second == -math.inf:
        return None
    return 1.0 / (1.0 + math.exp(second - first)) if second != -math.inf else 1.0


def model_view(verdict: str, model_position: Position) -> tuple[float, bool]:
    """(score, strong) of the evaluated model for a positional verdict: 1 win, 0.5 tie, 0 loss."""
    if verdict in ("A", "B"):
        return (1.0 if verdict == model_position else 0.0), False
    if verdict == "A=B":
        return 0.5, False
    winner = verdict[0]
    return (1.0 if winner == model_position else 0.0), ">>" in verdict


# ----------------------------------------------------------------------------- the task


@dataclass(frozen=True)
class Comparison:
    """One judge request: `model_answer` and `baseline_answer` to `instruction`, the model shown at
    `model_position`. `id` must be unique in a run and stable across reruns (resume keys on it)."""

    id: str
    question_id: str
    instruction: str
    model_answer: str
    baseline_answer: str
    model_position: Position
    # Which system prompt (graded mode): "solve_first" or "open_ended".
    style: str = "solve_first"
    category: str | None = None

    @property
    def answer_a(self) -> str:
        return self.model_answer if self.model_position == "A" else self.baseline_answer

    @property
    def answer_b(self) -> str:
        return self.baseline_answer if self.model_position == "A" else self.model_answer


_SYSTEMS = {
    ("preference", "solve_first"): prompts.PREFERENCE_SYSTEM,
    ("preference", "open_ended"): prompts.PREFERENCE_SYSTEM,
    ("graded", "solve_first"): prompts.GRADED_SYSTEM_SOLVE_FIRST,
    ("graded", "open_ended"): prompts.GRADED_SYSTEM_OPEN_ENDED,
}


class PairwiseJudgeTask(Task):
    """Ask a judge model to compare the two answers of each comparison.

    mode "preference": which is better, A or B (AlpacaEval-style, no ties);
    mode "graded": one of A>>B, A>B, A=B, B>A, B>>A (Arena-Hard-style).
    `identity_extra` (e.g. a digest of the answers) goes into the run identity, so a folder holding
    judgments of other answers is refused rather than silently reused.
    `official` (preference mode only): ask with that official AlpacaEval prompt instead of ours, and
    read the preference from log-probabilities where the backend gives them (module docstring).
    """

    def __init__(
        self,
        benchmark: str,
        mode: Mode,
        comparisons: Sequence[Comparison],
        identity_extra: dict[str, Any] | None = None,
        official: prompts.AlpacaEvalPrompt | None = None,
    ):
        if mode not in ("preference", "graded"):
            raise ValueError(f"unknown judging mode {mode!r}")
        if official is not None and mode != "preference":
            raise ValueError("an official AlpacaEval prompt asks for a preference, not a graded verdict")
        ids = [c.id for c in comparisons]
        if len(ids) != len(set(ids)):
            raise ValueError("comparison ids must be unique")
        self.name = f"judge/{benchmark}"
        self.mode = mode
        self.setting = {"method": "judge", "domain": "general", "benchmark": benchmark, "mode": mode}
        self.comparisons = {c.id: c for c in comparisons}
        self.identity_extra = identity_extra or {}
        self.official = official

    def items(self) -> Iterator[WorkItem]:
        for comparison in self.comparisons.values():
            yield WorkItem(id=comparison.id, payload={"question_id": comparison.question_id})

    def messages(self, item: WorkItem, attempt: int) -> list[Message]:
        c = self.comparisons[item.id]
        if self.official is not None:
            turns = self.official.messages(c.instruction, c.answer_a, c.answer_b)
            if attempt > 0:  # a new request, with a reminder of the two labels
                role, content = turns[-1]
                turns[-1] = (role, content + self.official.reminder())
            return [Message(role=role, content=content) for role, content in turns]  # type: ignore[arg-type]
        system = _SYSTEMS[(self.mode, c.style)]
        template = prompts.PREFERENCE_USER if self.mode == "preference" else prompts.GRADED_USER
        user = template.format(instruction=c.instruction, answer_a=c.answer_a, answer_b=c.answer_b)
        if attempt > 0:  # the last reply had no usable verdict: say so (and make it a new request)
            user += prompts.PREFERENCE_REMINDER if self.mode == "preference" else prompts.GRADED_REMINDER
        return [Message(role="system", content=system), Message(role="user", content=user)]

    def parse(self, item: WorkItem, completion: Completion) -> dict[str, Any]:
        if self.official is not None:
            return self._parse_official(item, completion, self.official)
        self.check(completion)
        c = self.comparisons[item.id]
        text = completion.text
        verdict = parse_preference(text) if self.mode == "preference" else parse_graded_verdict(text)
        score, strong = model_view(verdict, c.model_position)
        return {
            "instruction": c.instruction,
            "response": text,
            "question_id": c.question_id,
            "category": c.category,
            "model_position": c.model_position,
            "verdict": verdict,
            "score": score,
            "strong": strong,
        }

    def _parse_official(
        self, item: WorkItem, completion: Completion, official: prompts.AlpacaEvalPrompt
    ) -> dict[str, Any]:
        # The official judge answers in max_tokens=1, so finish_reason "length" is the normal case here.
        if completion.finish_reason == "content_filter":
            raise Rejected("content_filter")
        c = self.comparisons[item.id]
        text = completion.text
        p_first = logprob_preference(completion.top_logprobs, official.labels)
        verdict = parse_label(text, official.labels)
        if verdict is None and p_first is None:
            first, second = official.labels
            raise Rejected("no_verdict", f"neither {first!r} nor {second!r} in: {text[-200:]!r}")
        if p_first is None:
            score, _ = model_view(verdict, c.model_position)  # type: ignore[arg-type]
        else:
            verdict = verdict or ("A" if p_first >= 0.5 else "B")
            score = p_first if c.model_position == "A" else 1.0 - p_first
        return {
            "instruction": c.instruction,
            "response": text,
            "question_id": c.question_id,
            "category": c.category,
            "model_position": c.model_position,
            "verdict": verdict,
            "score": score,
            "strong": False,
            "preference_source": "logprobs" if p_first is not None else "verdict",
            "top_logprobs": completion.top_logprobs,
        }

    def identity(self) -> dict[str, Any]:
        identity = {
            **super().identity(),
            "mode": self.mode,
            "prompt_version": prompts.PROMPT_VERSION,
            **self.identity_extra,
        }
        if self.official is not None:
            identity["prompt_version"] = self.official.name
        return identity


# ----------------------------------------------------------------------------- running


def judge_sampling(max_tokens: int, top_logprobs: int | None = None) -> SamplingParams:
    """Greedy decoding for judges (as both official pipelines do); the engine still sends a per-attempt
    seed, so a retry after an unusable reply is a new request. `top_logprobs`: also ask for the first
    token's alternatives (the official AlpacaEval annotator asks for 5, at temperature 1; at temperature 0
    the log-probabilities are the model's own on every backend, and the text verdict is its likeliest)."""
    return SamplingParams(temperature=0.0, top_p=1.0, max_tokens=max_tokens, top_logprobs=top_logprobs)


@dataclass
class Judgments:
    """What a judging run left on disk, restricted to the task's comparisons."""

    records: dict[str, dict[str, Any]]  # comparison id -> record
    failures: dict[str, dict[str, Any]]  # comparison id -> failure (reason, detail)
    run: GenerateResult | None
    cost_usd: float

    def failure_reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for failure in self.failures.values():
            counts[failure["reason"]] = counts.get(failure["reason"], 0) + 1
        return counts

    def provenance(self, judge: GeneratorConfig, out_dir: Path) -> dict[str, Any]:
        """Who judged, at what cost, and where the judgments are: the fields every judged result carries."""
        return {
            "failure_reasons": self.failure_reasons(),
            "judge": {"name": judge.name, "backend": judge.backend, "model": judge.model},
            "judge_cost_usd": self.cost_usd,
            "requests_sent": self.run.stats.requests if self.run else 0,
            "cached_responses": self.run.stats.cached_responses if self.run else 0,
            "output_dir": str(out_dir),
        }


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return read_jsonl_lenient(path)  # the torn last line of an interrupted run is skipped


def read_judgments(task: PairwiseJudgeTask, out_dir: Path, run: GenerateResult | None = None) -> Judgments:
    records = {r["id"]: r for r in _read_jsonl(out_dir / RECORDS) if r.get("id") in task.comparisons}
    failures = {
        f["id"]: f
        for f in _read_jsonl(out_dir / FAILURES)
        if f.get("id") in task.comparisons and f["id"] not in records
    }
    cost = sum(r.get("cost_usd") or 0.0 for r in records.values())
    cost += sum(f.get("cost_usd") or 0.0 for f in failures.values())
    return Judgments(records, failures, run, round(cost, 6))


def judging_job(
    task: PairwiseJudgeTask,
    judge: GeneratorConfig | str,
    out_dir: Path,
    *,
    sampling: SamplingParams,
    engine: EngineConfig | None = None,
    seed: int = 42,
    progress: Any = None,
) -> GenerationJob:
    """An engine job for a judging task; run several (e.g. one per evaluated model) with `run_jobs`."""
    generator = resolve_generator(judge, source="judge")
    config = GenerateConfig(
        generator=generator, sampling=sampling, engine=engine or EngineConfig(), seed=seed, output_dir=out_dir
    )
    return GenerationJob(config, generator, task, Path(out_dir), progress)


def run_judgments(job: GenerationJob) -> Judgments:
    """Run (or resume) one judging job; judgments already in the folder are not asked again, and
    identical requests anywhere before are answered from the request cache."""
    (result,) = run_jobs([job])
    if result.error is not None:
        raise AgorabenchError(f"judging with {job.generator.name!r} failed: {result.error}")
    assert isinstance(job.task, PairwiseJudgeTask)
    return read_judgments(job.task, job.output_dir, result)


def digest(data: Any) -> str:
    """A short SHA-256 of JSON-serialisable data (sorted keys), for run identities."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def seeded_subset(ids: Sequence[str], limit: int | None, seed: int) -> list[str]:
    """`limit` ids chosen by a seeded hash, kept in their original order. Subsets are nested: raising
    the limit only adds ids, so judgments made for a smaller limit are all reused."""
    if limit is None or limit >= len(ids):
        return list(ids)
    if limit < 1:
        raise ValueError("limit must be at least 1")
    rank = {i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in ids}
    chosen = set(sorted(ids, key=rank.__getitem__)[:limit])
    return [i for i in ids if i in chosen]


def seeded_position(seed: int, question_id: str) -> Position:
    """A fixed pseudo-random position for the model's answer on one question."""
    return "A" if hashlib.sha256(f"position:{seed}:{question_id}".encode()).digest()[0] % 2 == 0 else "B"


# ----------------------------------------------------------------------------- statistics


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    l2: float | np.ndarray = 0.0,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> np.ndarray:
    """Coefficients of a logistic regression without intercept, by Newton's method.

    `y` may be soft (any value in [0, 1]: a tie is 0.5), which is the same fit as duplicating each row
    as a win weighted y and a loss weighted 1 - y. Minimises
    -sum_i w_i [y_i log p_i + (1 - y_i) log(1 - p_i)] + l2/2 * |beta|^2, p_i = sigmoid(X_i . beta);
    `l2` may be a vector (one strength per coefficient, 0 leaves a coefficient unpenalised).
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    penalty = np.broadcast_to(np.asarray(l2, dtype=float), (k,))
    beta = np.zeros(k)

    def loss(b: np.ndarray) -> float:
        z = X @ b
        # log p = -log(1 + e^-z), log(1 - p) = -log(1 + e^z)
        nll = np.sum(w * (y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z)))
        return float(nll + 0.5 * np.sum(penalty * b * b))

    current = loss(beta)
    for _ in range(max_iter):
        p = _sigmoid(X @ beta)
        grad = X.T @ (w * (p - y)) + penalty * beta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + np.diag(penalty) + 1e-12 * np.eye(k)
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        t = 1.0
        while True:  # backtracking: Newton's full step can overshoot far from the optimum
            candidate = beta - t * step
            value = loss(candidate)
            if value <= current + 1e-12 or t < 1e-8:
                break
            t *= 0.5
        beta, previous, current = candidate, current, value
        if np.max(np.abs(t * step)) < tol or abs(previous - current) < tol * max(1.0, abs(current)):
            break
    return beta


@dataclass(frozen=True)
class BootstrapResult:
    low: float
    high: float
    samples: np.ndarray = field(repr=False)
    confidence: float = 0.95


def bootstrap_ci(
    groups: Sequence[Hashable],
    statistic: Callable[[np.ndarray], float],
    *,
    n_rounds: int = 100,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Percentile bootstrap interval of `statistic`, resampling whole groups (e.g. questions).

    `groups[i]` is the group of row i; each round draws as many groups as there are, with replacement,
    and calls `statistic` with the row indices of the drawn groups (a group drawn twice appears twice).
    Resampling questions rather than single judgments keeps the two judgments of one question (both
    orders) together, so the interval reflects how many questions there are. Seeded: same input, same
    interval.
    """
    index: dict[Hashable, list[int]] = {}
    for row, group in enumerate(groups):
        index.setdefault(group, []).append(row)
    members = [np.asarray(rows, dtype=int) for rows in index.values()]
    if not members:
        raise ValueError("bootstrap_ci needs at least one row")
    rng = np.random.default_rng(seed)
    samples = np.empty(n_rounds)
    for r in range(n_rounds):
        drawn = rng.integers(0, len(members), size=len(members))
        samples[r] = statistic(np.concatenate([members[g] for g in drawn]))
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return BootstrapResult(float(low), float(high), samples, confidence)
