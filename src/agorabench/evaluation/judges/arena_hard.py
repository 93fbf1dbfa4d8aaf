"""Arena-Hard: pairwise judgments against a baseline in both orders, the Bradley-Terry score against it and
its bootstrap interval, as lmarena/arena-hard-auto computes them for v0.1 and v2.0.

Data: `agorabench.data.benchmarks.arena_hard` (v0.1: 500 questions vs gpt-4-0314; v2.0: hard_prompt vs
o3-mini and creative_writing vs gemini-2.0-flash). Prompts: `arena_hard_prompts` (upstream's, verbatim).

Judging, as upstream: every question is judged twice, game 1 with the baseline as Assistant A and game 2
with the model as Assistant A, at temperature 0 (`max_tokens` 4096 for v0.1, 16000 for v2.0). The verdict
is read as upstream reads it: v0.1 takes the one distinct `[[...]]` label (several different labels: no
verdict), v2.0 the last `[[...]]` label of the upper-cased reply, else the last `[...]` one. A reply without
a usable verdict is asked again by the engine (with `RETRY_NOTE`); one that fails after its retries is
counted (`n_failed`) and left out: v0.1 drops that game only, v2.0 the whole question (upstream's
`show_result.py` skips a question with a null game).

Scores:
- A game is a battle of the model against its question's baseline: win 1, tie 0.5, loss 0. A decisive
  verdict (`>>`) counts `strong_weight` = 3 times (v0.1 `--weight 3` repeats the battle row 3 times; v2.0
  maps `A>>B` to `[1] * weight`, weight 3).
- The score is the model's Bradley-Terry win probability against the baseline, in percent. Upstream v0.1
  fits Bradley-Terry (logistic regression, Elo scale, baseline anchored at 1000) and converts the rating to
  the win rate against the baseline; v2.0 (without style control) averages the battle rows. With the
  baseline as the only opponent both are the weighted share of battles won, ties counted half, which is what
  is computed here (`bradley_terry` gives the Elo rating, reported beside it).
- Never pooled across baselines: v0.1 has one; v2.0's headline is `hard_prompt` alone (upstream's default
  and main column), and `by_category` scores each category against its own baseline.
- Interval: upstream's bootstrap, 100 seeded rounds resampling battle rows (the 3 rows of a `>>` verdict
  independently). `ci_low`/`ci_high` are its 2.5-97.5 percentiles (v0.1 prints exactly these; the run's
  summary calls every CI a 95% one); `upstream_interval` is what upstream prints: v0.1 the same, v2.0 the
  5%-95% quantiles around the bootstrap mean. The headline itself is the fit on all battles (for v2.0 it
  differs from upstream's printed bootstrap mean by bootstrap noise only).
- Per question, `rows` (what the grader stores in results.jsonl) hold both games' verdicts from the
  model's side and the question's weighted points; `resampled_headline` recomputes the headline from them on
  resampled questions, for the paired PGR bootstrap.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agorabench.data.benchmarks.arena_hard import FACTS, ArenaHardData, headline_metric, load_arena_hard
from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges import arena_hard_prompts as prompts
from agorabench.evaluation.judges.pairwise import (
    BootstrapResult,
    Comparison,
    PairwiseJudgeTask,
    bootstrap_ci,
    digest,
    fit_logistic,
    judge_sampling,
    judging_job,
    model_view,
    normalise_graded,
    run_judgments,
    seeded_subset,
)
from agorabench.generation.config import EngineConfig
from agorabench.generation.task import Rejected, WorkItem
from agorabench.llm.base import Completion, Message
from agorabench.llm.config import GeneratorConfig, resolve_generator

__all__ = [
    "ArenaHardResult",
    "BootstrapResult",
    "bootstrap_ci",
    "bradley_terry",
    "judge_arena_hard",
    "parse_arena_hard_verdict",
    "resampled_headline",
    "win_rate_from_ratings",
]

DEFAULT_STRONG_WEIGHT = 3
DEFAULT_ROUNDS = 100  # upstream's --num-rounds (v0.1) and its fixed 100 (v2.0)
JUDGE_MAX_TOKENS = {"v0.1": 4096, "v2.0": 16000}  # config/judge_config.yaml, config/arena-hard-v2.0.yaml
UPSTREAM_CONFIDENCE = {"v0.1": 0.95, "v2.0": 0.90}  # 2.5-97.5 percentiles; 5%-95% quantiles
DROPS_WHOLE_QUESTION = {"v0.1": False, "v2.0": True}
GAMES = ("B", "A")  # the model's position in game 1 (baseline first) and game 2 (swapped)
ELO_SCALE = 400.0
ELO_BASE = 10.0
ELO_ANCHOR = 1000.0

# ----------------------------------------------------------------------------- statistics


def bradley_terry(
    model_a: Sequence[str],
    model_b: Sequence[str],
    outcome: Sequence[float],
    weights: Sequence[float] | None = None,
    *,
    anchor: str | None = None,
    anchor_rating: float = ELO_ANCHOR,
    scale: float = ELO_SCALE,
    base: float = ELO_BASE,
    l2: float = 1e-6,
) -> dict[str, float]:
    """Bradley-Terry ratings from battles, by weighted logistic regression.

    Battle i is `model_a[i]` vs `model_b[i]` with `outcome[i]` = 1 (a won), 0.5 (tie), 0 (b won) and
    weight `weights[i]` (default 1). P(a beats b) = 1 / (1 + base ** ((R_b - R_a) / scale)); ratings
    are anchored so that `anchor` (default: the first model by name) has `anchor_rating`. A ridge of
    `l2` keeps the ratings of an unbeaten (or never winning) model finite.
    """
    if not (len(model_a) == len(model_b) == len(outcome)):
        raise ValueError("model_a, model_b and outcome must have the same length")
    models = sorted(set(model_a) | set(model_b))
    if anchor is None:
        anchor = models[0]
    if anchor not in models:
        raise ValueError(f"anchor {anchor!r} is in no battle")
    free = [m for m in models if m != anchor]
    column = {m: j for j, m in enumerate(free)}
    X = np.zeros((len(outcome), len(free)))
    for i, (a, b) in enumerate(zip(model_a, model_b, strict=True)):
        if a == b:
            raise ValueError(f"battle {i} has {a!r} on both sides")
        if a in column:
            X[i, column[a]] += 1.0
        if b in column:
            X[i, column[b]] -= 1.0
    y = np.asarray(outcome, dtype=float)
    w = None if weights is None else np.asarray(weights, dtype=float)
    beta = fit_logistic(X, y, sample_weight=w, l2=l2) if free else np.zeros(0)
    per_unit = scale / math.log(base)  # natural log-odds -> rating points
    ratings = {anchor: anchor_rating}
    ratings.update({m: anchor_rating + per_unit * float(beta[column[m]]) for m in free})
    return ratings


def win_rate_from_ratings(
    rating: float, baseline_rating: float, scale: float = ELO_SCALE, base: float = ELO_BASE
) -> float:
    """P(a model rated `rating` beats one rated `baseline_rating`), in [0, 1]."""
    return 1.0 / (1.0 + base ** ((baseline_rating - rating) / scale))


@dataclass(frozen=True)
class Battle:
    """One game from the evaluated model's side: score 1 win, 0.5 tie, 0 loss; strong: a '>>' verdict."""

    question_id: str
    score: float
    strong: bool
    category: str = ""


def _row_counts(battles: Sequence[Battle], strong_weight: int) -> np.ndarray:
    """How many battle rows each battle is upstream: `strong_weight` for a '>>' verdict, else 1."""
    if isinstance(strong_weight, bool) or int(strong_weight) != strong_weight or strong_weight < 1:
        raise ValueError(f"strong_weight must be a positive integer (upstream repeats rows), not {strong_weight!r}")
    return np.array([int(strong_weight) if b.strong else 1 for b in battles], dtype=int)


def score_against_baseline(
    battles: Sequence[Battle], strong_weight: int = DEFAULT_STRONG_WEIGHT
) -> tuple[float, float]:
    """(win rate in [0, 1], Elo-scale rating with the baseline at 1000) of the model from its battles: the
    Bradley-Terry fit against the one baseline, whose win probability is the weighted share of battles won."""
    if not battles:
        raise ValueError("no battles")
    counts = _row_counts(battles, strong_weight)
    scores = np.array([b.score for b in battles], dtype=float)
    ratings = bradley_terry(
        ["model"] * len(battles), ["baseline"] * len(battles), scores, counts.astype(float), anchor="baseline"
    )
    return float(np.dot(counts, scores) / counts.sum()), ratings["model"]


def arena_hard_score(
    battles: Sequence[Battle],
    strong_weight: int = DEFAULT_STRONG_WEIGHT,
    n_bootstrap: int = DEFAULT_ROUNDS,
    seed: int = 42,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Score (percent), Elo-scale rating and upstream's bootstrap interval of a battle set against one
    baseline: `n_bootstrap` rounds, each drawing as many battle rows as there are, with replacement (a '>>'
    verdict is `strong_weight` rows); the `confidence` percentile interval and the mean of the rounds."""
    win, rating = score_against_baseline(battles, strong_weight)
    rows = np.repeat(np.array([b.score for b in battles], dtype=float), _row_counts(battles, strong_weight))
    rng = np.random.default_rng(seed)
    means = 100.0 * rows[rng.integers(0, len(rows), size=(n_bootstrap, len(rows)))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return {
        "score": 100.0 * win,
        "ci_low": float(low),
        "ci_high": float(high),
        "confidence": confidence,
        "bootstrap_mean": float(means.mean()),
        "rating": rating,
        "n": len({b.question_id for b in battles}),
        "n_battles": len(battles),
    }


def verdict_counts(battles: Sequence[Battle]) -> dict[str, int]:
    """Battles by verdict from the model's side."""
    counts = {"much_better": 0, "better": 0, "tie": 0, "worse": 0, "much_worse": 0}
    for b in battles:
        if b.score == 0.5:
            counts["tie"] += 1
        elif b.score == 1.0:
            counts["much_better" if b.strong else "better"] += 1
        else:
            counts["much_worse" if b.strong else "worse"] += 1
    return counts


def resampled_headline(rows: Sequence[Mapping[str, Any]], draws: np.ndarray) -> np.ndarray:
    """The headline (0-100) on resampled questions: `rows` are the per-question rows of `judge_arena_hard`
    (as stored in results.jsonl), `draws` an int array (rounds, n) of row indices. Each round is the
    weighted share of battles won over the drawn questions of the headline category; on `np.arange(n)[None]`
    it is the reported headline."""
    headline = np.array([bool(r["headline"]) for r in rows])
    points = np.where(headline, np.array([float(r["points"]) for r in rows]), 0.0)
    weight = np.where(headline, np.array([float(r["weight"]) for r in rows]), 0.0)
    draws = np.asarray(draws, dtype=int)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * points[draws].sum(axis=1) / weight[draws].sum(axis=1)


# ----------------------------------------------------------------------------- verdicts and the task

_DOUBLE = re.compile(r"\[\[([AB<>=]+)\]\]")  # both versions' first pattern
_SINGLE = re.compile(r"\[([AB<>=]+)\]")  # v2.0's fallback
_LABEL = re.compile(r"^([AB])(>>|<<|>|<|=)([AB])$")


def parse_arena_hard_verdict(text: str, version: str) -> str:
    """The verdict (one of `GRADED_LABELS`) in a judge's reply, read as upstream reads it, or Rejected.

    v0.1 (`gen_judgment.get_score`): the distinct `[[...]]` labels; none or several different ones: no
    verdict. v2.0: the last `[[...]]` label of the upper-cased reply, else the last `[...]` one. `B<A`-style
    spellings are normalised (v2.0 maps them; v0.1 would drop the game)."""
    if version == "v0.1":
        found = {m for m in _DOUBLE.findall(text) if m}
        if len(found) > 1:
            raise Rejected("ambiguous_verdict", f"several different verdicts: {sorted(found)}")
        raw = found.pop() if found else None
    else:
        upper = text.upper()
        raw = next((found[-1] for p in (_DOUBLE, _SINGLE) if (found := [m for m in p.findall(upper) if m])), None)
    if raw is None:
        raise Rejected("no_verdict", f"no [[A>B]]-style verdict in: {text[-200:]!r}")
    match = _LABEL.match(raw)
    label = normalise_graded(*match.groups()) if match else None
    if label is None:
        raise Rejected("no_verdict", f"not a verdict label: [[{raw}]]")
    return label


class ArenaHardJudgeTask(PairwiseJudgeTask):
    """The pairwise judging task with upstream's prompts (by version and category) and verdict reading."""

    def __init__(self, version: str, comparisons: Sequence[Comparison], identity_extra: dict[str, Any]):
        super().__init__(f"arena_hard_{version}", "graded", comparisons, identity_extra)
        self.version = version

    def messages(self, item: WorkItem, attempt: int) -> list[Message]:
        c = self.comparisons[item.id]
        user = prompts.USER_TEMPLATE.format(question=c.instruction, answer_a=c.answer_a, answer_b=c.answer_b)
        if attempt > 0:  # the last reply had no usable verdict: say so (and make it a new request)
            user += prompts.RETRY_NOTE
        system = prompts.system_prompt(self.version, c.category or "")
        return [Message(role="system", content=system), Message(role="user", content=user)]

    def parse(self, item: WorkItem, completion: Completion) -> dict[str, Any]:
        self.check(completion)
        c = self.comparisons[item.id]
        verdict = parse_arena_hard_verdict(completion.text, self.version)
        score, strong = model_view(verdict, c.model_position)
        return {
            "instruction": c.instruction,
            "response": completion.text,
            "question_id": c.question_id,
            "category": c.category,
            "model_position": c.model_position,
            "verdict": verdict,
            "score": score,
            "strong": strong,
        }

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "version": self.version, "arena_hard_prompt_version": prompts.PROMPT_VERSION}


# ----------------------------------------------------------------------------- judging


@dataclass
class ArenaHardResult:
    score: float  # percent: the headline's Bradley-Terry win rate against its baseline
    ci_low: float  # upstream's bootstrap, 2.5-97.5 percentiles
    ci_high: float
    rating: float  # Elo scale, baseline = 1000
    n: int  # headline questions with at least one counted battle
    n_battles: int  # headline battles counted
    n_requested: int  # questions asked about, every category
    n_failed: int  # judgments (games) that failed after retries
    n_dropped: int  # questions left out of every score (v2.0: a failed game drops its question)
    failure_reasons: dict[str, int]
    verdicts: dict[str, int]  # headline battles by verdict
    position_consistency: float | None  # share of headline questions whose two games agree in direction
    metric: str  # e.g. "Arena-Hard v2.0 hard_prompt score vs o3-mini-2025-01-31 (%)"
    headline_category: str | None  # v2.0: hard_prompt; v0.1: None (every question)
    baseline: str  # the headline's baseline
    upstream_interval: dict[str, float]  # what upstream prints: confidence, centre, low, high
    by_category: dict[str, dict[str, Any]]  # every category scored alone against its own baseline
    baselines: dict[str, str]
    version: str
    official_judge: str
    strong_weight: int
    n_bootstrap: int
    seed: int
    judge: dict[str, str]
    data_sha256: str
    judge_cost_usd: float
    requests_sent: int
    cached_responses: int
    output_dir: str
    battles: list[Battle] = field(default_factory=list, repr=False)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)  # per question, for results.jsonl
    benchmark: str = "arena_hard"

    def to_dict(self, with_battles: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rows")
        if not with_battles:
            data.pop("battles")
        return data


def arena_hard_comparisons(
    answers: Mapping[str, str], data: ArenaHardData, ids: Sequence[str]
) -> list[Comparison]:
    """Two games per question: the baseline shown first (game 1), then the model shown first (game 2)."""
    questions = data.by_id()
    comparisons = []
    for qid in ids:
        q = questions[qid]
        for position in GAMES:
            comparisons.append(
                Comparison(
                    id=f"{qid}:model_{position}",
                    question_id=qid,
                    instruction=q.prompt,
                    model_answer=answers[qid],
                    baseline_answer=data.baseline_answer(q),
                    model_position=position,  # type: ignore[arg-type]
                    style="open_ended" if q.category in prompts.SYSTEM_BY_CATEGORY[data.version] else "solve_first",
                    category=q.category,
                )
            )
    return comparisons


def _headline(data: ArenaHardData, categories: Sequence[str] | None) -> str | None:
    """The category the headline scores: the version's (v2.0 hard_prompt, v0.1 every question), or the one
    category asked for when that is another."""
    if data.headline_category is not None and categories is not None and len(set(categories)) == 1:
        return categories[0]
    return data.headline_category


def _question_rows(
    ids: Sequence[str],
    data: ArenaHardData,
    records: Mapping[str, dict[str, Any]],
    strong_weight: int,
    headline: str | None,
) -> tuple[list[dict[str, Any]], list[Battle]]:
    """Per question: both games from the model's side and what counts of them (v2.0: both or none), and
    whether it is in the headline; and the counted battles."""
    questions = data.by_id()
    rows, battles = [], []
    for qid in ids:
        q = questions[qid]
        games = []
        for position in GAMES:
            record = records.get(f"{qid}:model_{position}")
            games.append({
                "model_position": position,
                "verdict": record["verdict"] if record else None,
                "score": float(record["score"]) if record else None,
                "strong": bool(record["strong"]) if record else None,
            })
        counted = [g for g in games if g["verdict"] is not None]
        if DROPS_WHOLE_QUESTION[data.version] and len(counted) < len(games):
            counted = []
        weights = [strong_weight if g["strong"] else 1 for g in counted]
        rows.append({
            "id": qid,
            "category": q.category,
            "baseline": data.baseline_model(q.category),
            "headline": headline is None or q.category == headline,
            "games": games,
            "counted": len(counted),
            "points": float(sum(w * g["score"] for w, g in zip(weights, counted, strict=True))),
            "weight": float(sum(weights)),
        })
        battles += [Battle(qid, g["score"], g["strong"], q.category) for g in counted]
    return rows, battles


def _upstream_interval(version: str, battles: Sequence[Battle], strong_weight: int, rounds: int, seed: int) -> dict:
    """The interval upstream prints: v0.1 the 95% percentiles around the fit, v2.0 5%-95% around the
    bootstrap mean (the same seeded rounds as `ci_low`/`ci_high`)."""
    confidence = UPSTREAM_CONFIDENCE[version]
    stats = arena_hard_score(battles, strong_weight, rounds, seed, confidence)
    centre = stats["score"] if version == "v0.1" else stats["bootstrap_mean"]
    return {"confidence": confidence, "centre": centre, "low": stats["ci_low"], "high": stats["ci_high"]}


def _consistency(rows: Sequence[dict[str, Any]]) -> float | None:
    pairs = [[g["score"] for g in r["games"]] for r in rows if r["headline"] and r["counted"] == 2]
    if not pairs:
        return None
    return float(np.mean([np.sign(a - 0.5) == np.sign(b - 0.5) for a, b in pairs]))


def judge_arena_hard(
    answers: Mapping[str, str],
    judge: GeneratorConfig | str,
    out_dir: Path | str,
    *,
    version: str = "v2.0",
    data: ArenaHardData | None = None,
    path: Path | str | None = None,
    categories: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 42,
    max_tokens: int | None = None,
    engine: EngineConfig | None = None,
    strong_weight: int = DEFAULT_STRONG_WEIGHT,
    n_bootstrap: int = DEFAULT_ROUNDS,
    progress: Any = None,
) -> ArenaHardResult:
    """Judge a model's answers (question id -> answer) against the baseline(s) in both orders.

    `data` (else `load_arena_hard(version, path)`) decides the version. Only questions present in `answers`
    (and in `categories`, if given) are judged; `limit` takes a seeded, nested subset of them. `max_tokens`
    defaults to upstream's for the version. Judgments go to `out_dir` (records.jsonl, failed.jsonl,
    metadata.json, plus judge_summary.json); rerunning resumes.
    """
    data = data or load_arena_hard(version, path)
    out_dir = Path(out_dir)
    questions = data.by_id()
    unknown = [k for k in answers if k not in questions]
    if unknown:
        raise AgorabenchError(f"answers for unknown Arena-Hard {data.version} question ids: {unknown[:5]}")
    bad = [k for k, v in answers.items() if not isinstance(v, str)]
    if bad:
        raise AgorabenchError(f"answers must be strings; not for ids {bad[:5]}")
    if categories is not None:
        wrong = sorted(set(categories) - {q.category for q in data.questions})
        if wrong:
            raise AgorabenchError(f"unknown Arena-Hard categories {wrong}")
    wanted = [
        q.id for q in data.questions if q.id in answers and (categories is None or q.category in categories)
    ]
    ids = seeded_subset(wanted, limit, seed)
    if not ids:
        raise AgorabenchError("no answers to judge")
    _row_counts([], strong_weight)  # a bad weight fails before any request

    task = ArenaHardJudgeTask(
        data.version,
        arena_hard_comparisons(answers, data, ids),
        identity_extra={
            "data_sha256": data.sha256,
            "baselines": data.baselines,
            "answers": digest(dict(answers)),
        },
    )
    generator = resolve_generator(judge, source="judge")
    job = judging_job(
        task,
        generator,
        out_dir,
        sampling=judge_sampling(max_tokens or JUDGE_MAX_TOKENS[data.version]),
        engine=engine,
        seed=seed,
        progress=progress,
    )
    judgments = run_judgments(job)

    headline = _headline(data, categories)
    rows, battles = _question_rows(ids, data, judgments.records, strong_weight, headline)
    top = [b for b in battles if headline is None or b.category == headline]
    if not top:
        what = "judgment" if headline is None else f"{headline} judgment"
        raise AgorabenchError(
            f"no Arena-Hard {data.version} {what} counted ({judgments.failure_reasons() or 'none asked'}); "
            f"see {out_dir / 'failed.jsonl'}"
        )
    baseline_models = {data.baseline_model(b.category) for b in top}
    if len(baseline_models) != 1:  # never pool battles against different baselines
        raise AgorabenchError(f"Arena-Hard {data.version}: the headline would pool baselines {baseline_models}")
    (baseline,) = baseline_models
    overall = arena_hard_score(top, strong_weight, n_bootstrap, seed)
    score = float(resampled_headline(rows, np.arange(len(rows))[None])[0])  # the value PGR's bootstrap refits
    by_category = {}
    for category in sorted({b.category for b in battles}):
        subset = [b for b in battles if b.category == category]
        by_category[category] = {
            **arena_hard_score(subset, strong_weight, n_bootstrap, seed),
            "baseline": data.baseline_model(category),
            "metric": headline_metric(data.version, category if data.version != "v0.1" else None,
                                      data.baseline_model(category)),
            "verdicts": verdict_counts(subset),
            "upstream_interval": _upstream_interval(data.version, subset, strong_weight, n_bootstrap, seed),
        }
    result = ArenaHardResult(
        score=score,
        ci_low=overall["ci_low"],
        ci_high=overall["ci_high"],
        rating=overall["rating"],
        n=overall["n"],
        n_battles=overall["n_battles"],
        n_requested=len(ids),
        n_failed=len(judgments.failures),
        n_dropped=sum(1 for r in rows if r["counted"] == 0),
        verdicts=verdict_counts(top),
        position_consistency=_consistency(rows),
        metric=headline_metric(data.version, headline, baseline),
        headline_category=headline,
        baseline=baseline,
        upstream_interval=_upstream_interval(data.version, top, strong_weight, n_bootstrap, seed),
        by_category=by_category,
        baselines={c: data.baseline_model(c) for c in sorted({questions[i].category for i in ids})},
        version=data.version,
        official_judge=FACTS[data.version].judge,
        strong_weight=strong_weight,
        n_bootstrap=n_bootstrap,
        seed=seed,
        data_sha256=data.sha256,
        **judgments.provenance(generator, out_dir),
        battles=battles,
        rows=rows,
        benchmark=f"arena_hard_{data.version}",
    )
    (out_dir / "judge_summary.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
