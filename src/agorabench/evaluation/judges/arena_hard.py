"""Arena-Hard: pairwise judgments against a baseline model in both orders, Bradley-Terry scores and
bootstrap confidence intervals.

Data: the questions and baseline answers, loaded by `agorabench.data.benchmarks.arena_hard` (v2.0 ships;
v0.1 by path). Creative-writing questions get a judge prompt without the "solve it yourself first" step,
as upstream.

Judging. Every question is judged twice, the baseline shown first and then the model shown first, with
a five-level verdict (A>>B, A>B, A=B, B>A, B>>A). Both games are battles. A judgment that failed after
its retries is left out and counted (`n_failed`); the question's other game still counts, where
upstream drops the whole question.

Scores (Arena-Hard's method, our code):
- Each battle is a row of a logistic regression without intercept (Bradley-Terry): win 1, tie 0.5,
  loss 0 for the evaluated model. A decisive verdict (">>") counts `strong_weight` times: upstream
  repeats such a battle 3 times in both v0.1 (`WEIGHT=3`) and v2.0 (`weight=3`), and we keep 3 as the
  default; here it is a row weight, which is the same fit.
- Ratings are on the Elo scale upstream prints (400 points per factor 10 in odds, baseline anchored at
  1000); the score is the model's win probability against the baseline from the ratings, in percent.
  With the baseline as the only opponent this equals the weighted share of battles won (ties half),
  exactly what v2.0's `show_result.py` averages; `bradley_terry` itself takes any set of models.
- Confidence interval: percentile bootstrap, 100 seeded rounds by default, resampling questions (both
  games of a question stay together), 95%. Upstream resamples single battles (the tripled rows
  independently) and v2.0 prints 5%-95% (a 90% interval) around the bootstrap mean; the point estimate
  here is the fit on all data.
- Besides the headline score over every judged question, `by_category` scores each category against
  its own baseline; upstream's v2.0 leaderboard reports `hard_prompt` (the default) and
  `creative_writing` separately, so use `by_category["hard_prompt"]` to compare with it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agorabench.data.benchmarks.arena_hard import ArenaHardData, load_arena_hard
from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges.pairwise import (
    BootstrapResult,
    Comparison,
    PairwiseJudgeTask,
    bootstrap_ci,
    digest,
    fit_logistic,
    judge_sampling,
    judging_job,
    run_judgments,
    seeded_subset,
)
from agorabench.generation.config import EngineConfig
from agorabench.llm.config import GeneratorConfig, resolve_generator

__all__ = [
    "ArenaHardResult",
    "BootstrapResult",
    "bootstrap_ci",
    "bradley_terry",
    "judge_arena_hard",
    "win_rate_from_ratings",
]

OPEN_ENDED_CATEGORIES = frozenset({"creative_writing"})

DEFAULT_STRONG_WEIGHT = 3
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


def score_against_baseline(
    battles: Sequence[Battle], strong_weight: float = DEFAULT_STRONG_WEIGHT
) -> tuple[float, float]:
    """(win rate in [0, 1], Elo-scale rating with the baseline at 1000) of the model from its battles."""
    if not battles:
        raise ValueError("no battles")
    ratings = bradley_terry(
        ["model"] * len(battles),
        ["baseline"] * len(battles),
        [b.score for b in battles],
        [strong_weight if b.strong else 1.0 for b in battles],
        anchor="baseline",
    )
    return win_rate_from_ratings(ratings["model"], ratings["baseline"]), ratings["model"]


def arena_hard_score(
    battles: Sequence[Battle],
    strong_weight: float = DEFAULT_STRONG_WEIGHT,
    n_bootstrap: int = 100,
    seed: int = 42,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Score (percent), Elo-scale rating and bootstrap interval (over questions) of a battle set."""
    win, rating = score_against_baseline(battles, strong_weight)
    ci = bootstrap_ci(
        [b.question_id for b in battles],
        lambda rows: 100.0 * score_against_baseline([battles[r] for r in rows], strong_weight)[0],
        n_rounds=n_bootstrap,
        seed=seed,
        confidence=confidence,
    )
    return {
        "score": 100.0 * win,
        "ci_low": ci.low,
        "ci_high": ci.high,
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


# ----------------------------------------------------------------------------- judging


@dataclass
class ArenaHardResult:
    score: float  # percent: win rate against the baseline from Bradley-Terry ratings
    ci_low: float
    ci_high: float
    rating: float  # Elo scale, baseline = 1000
    n: int  # questions with at least one battle
    n_battles: int
    n_requested: int  # questions asked about
    n_failed: int  # judgments (games) that failed after retries, excluded
    failure_reasons: dict[str, int]
    verdicts: dict[str, int]
    position_consistency: float | None  # share of questions whose two games agree in direction
    by_category: dict[str, dict[str, Any]]
    baselines: dict[str, str]
    version: str
    strong_weight: float
    n_bootstrap: int
    seed: int
    judge: dict[str, str]
    data_sha256: str
    judge_cost_usd: float
    requests_sent: int
    cached_responses: int
    output_dir: str
    battles: list[Battle] = field(default_factory=list, repr=False)
    benchmark: str = "arena_hard"

    def to_dict(self, with_battles: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_battles:
            data.pop("battles")
        return data


def arena_hard_comparisons(
    answers: Mapping[str, str], data: ArenaHardData, ids: Sequence[str]
) -> list[Comparison]:
    """Two games per question: the baseline shown first, then the model shown first."""
    questions = data.by_id()
    comparisons = []
    for qid in ids:
        q = questions[qid]
        for position in ("B", "A"):
            comparisons.append(
                Comparison(
                    id=f"{qid}:model_{position}",
                    question_id=qid,
                    instruction=q.prompt,
                    model_answer=answers[qid],
                    baseline_answer=data.baseline_answer(q),
                    model_position=position,  # type: ignore[arg-type]
                    style="open_ended" if q.category in OPEN_ENDED_CATEGORIES else "solve_first",
                    category=q.category,
                )
            )
    return comparisons


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
    max_tokens: int = 4096,
    engine: EngineConfig | None = None,
    strong_weight: float = DEFAULT_STRONG_WEIGHT,
    n_bootstrap: int = 100,
    progress: Any = None,
) -> ArenaHardResult:
    """Judge a model's answers (question id -> answer) against the baseline(s) in both orders.

    Only questions present in `answers` (and in `categories`, if given) are judged; `limit` takes a
    seeded, nested subset of them. Judgments go to `out_dir` (records.jsonl, failed.jsonl,
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

    task = PairwiseJudgeTask(
        f"arena_hard_{data.version}",
        "graded",
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
        sampling=judge_sampling(max_tokens),
        engine=engine,
        seed=seed,
        progress=progress,
    )
    judgments = run_judgments(job)

    battles = [
        Battle(r["question_id"], float(r["score"]), bool(r["strong"]), questions[r["question_id"]].category)
        for r in sorted(judgments.records.values(), key=lambda r: r["id"])
    ]
    if not battles:
        raise AgorabenchError(
            f"no Arena-Hard judgment succeeded ({judgments.failure_reasons()}); see {out_dir / 'failed.jsonl'}"
        )
    overall = arena_hard_score(battles, strong_weight, n_bootstrap, seed)
    by_category = {}
    for category in sorted({b.category for b in battles}):
        subset = [b for b in battles if b.category == category]
        by_category[category] = {
            **arena_hard_score(subset, strong_weight, n_bootstrap, seed),
            "baseline": data.baseline_model(category),
        }
    games: dict[str, list[float]] = {}
    for b in battles:
        games.setdefault(b.question_id, []).append(b.score)
    pairs = [g for g in games.values() if len(g) == 2]
    consistency = (
        float(np.mean([np.sign(g[0] - 0.5) == np.sign(g[1] - 0.5) for g in pairs])) if pairs else None
    )
    result = ArenaHardResult(
        score=overall["score"],
        ci_low=overall["ci_low"],
        ci_high=overall["ci_high"],
        rating=overall["rating"],
        n=overall["n"],
        n_battles=overall["n_battles"],
        n_requested=len(ids),
        n_failed=len(judgments.failures),
        verdicts=verdict_counts(battles),
        position_consistency=consistency,
        by_category=by_category,
        baselines={c: data.baseline_model(c) for c in sorted({questions[i].category for i in ids})},
        version=data.version,
        strong_weight=strong_weight,
        n_bootstrap=n_bootstrap,
        seed=seed,
        data_sha256=data.sha256,
        **judgments.provenance(generator, out_dir),
        battles=battles,
    )
    (out_dir / "judge_summary.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
