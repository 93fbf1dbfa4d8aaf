"""AlpacaEval 2.0: pairwise win rate against GPT-4-Turbo reference outputs, and the length-controlled
win rate.

Data: the 805 instructions with `gpt4_1106_preview` reference outputs, loaded by
`agorabench.data.benchmarks.alpaca_eval`.

Position bias. Judges favour one position. AlpacaEval 2.0 shows the two outputs in a random order per
instruction; `order="random"` does the same (the position is a seeded hash of the instruction id, so a
rerun asks the same questions and hits the cache). `order="both"` asks twice, once per order, and averages
(a split decision counts as a tie, 0.5): twice the cost, and position bias cancels per instruction instead
of on average.

Verdicts are binary ([[A]] or [[B]]). The official annotator reads the judge's token log-probabilities
to get a continuous preference; the backends here return text only, so a preference is 0 or 1 (0.5 only
for a split decision with `order="both"`).

Length control. Judges also favour longer answers. The LC win rate (Dubois, Galambosi, Liang and
Hashimoto, "Length-Controlled AlpacaEval: A Simple Way to Debias Automatic Evaluators", arXiv 2404.04475,
2024; the `length_controlled_v1` GLM of alpaca_eval) fits, for one model against the reference, the
logistic regression

    logit P(model preferred on x) = theta + phi * tanh((len(model_x) - len(ref_x)) / std(len diff))
                                    + psi * difficulty_x

(theta: the model's identity term; lengths in characters, std over the model's own instructions; no
other intercept), then predicts every instruction with the length difference set to zero and averages:
LC win rate = 100 * mean_x sigmoid(theta + psi * difficulty_x). A model that wins only by writing more
is pulled toward 50%.

Differences from alpaca_eval's implementation, each forced by offline use or chosen for stability:
- `difficulty_x` is a per-instruction constant that alpaca_eval estimated once across its whole
  leaderboard and downloads from the Hub. Pass it as `instruction_difficulty` (e.g. the official
  `instruction_difficulty.csv` via `load_instruction_difficulty`), or estimate it from several models
  judged here with `estimate_instruction_difficulty` (the same joint fit, over the models you have).
  Without it the term is dropped and LC = 100 * sigmoid(theta).
- alpaca_eval regularises the fit with L1 (strength by 5-fold cross-validation) and with pseudo-data
  from deliberately verbose/concise versions of the baseline (also downloaded). Here: a weak ridge
  penalty (`l2=1.0` on the summed log-likelihood, sklearn's default strength), enough to keep a
  perfect record finite and negligible next to 805 instructions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agorabench.data.benchmarks.alpaca_eval import AlpacaEvalData, load_alpaca_eval
from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges.pairwise import (
    Comparison,
    PairwiseJudgeTask,
    _sigmoid,
    bootstrap_ci,
    digest,
    fit_logistic,
    judge_sampling,
    judging_job,
    run_judgments,
    seeded_position,
    seeded_subset,
)
from agorabench.generation.config import EngineConfig
from agorabench.llm.config import GeneratorConfig, resolve_generator

BENCHMARK = "alpaca_eval_2.0"

Order = Literal["random", "both"]

# ----------------------------------------------------------------------------- instruction difficulty


def load_instruction_difficulty(path: Path | str) -> dict[str, float]:
    """Per-instruction difficulty from a CSV of (index, difficulty) rows with a header line, the format
    of alpaca_eval's `instruction_difficulty.csv`; keys are our ids (the index as a string)."""
    values: dict[str, float] = {}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        try:
            values[str(int(float(parts[0])))] = float(parts[-1])
        except (ValueError, IndexError):
            raise AgorabenchError(f"{path}: line {number} is not 'index,difficulty'") from None
    return values


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Annotation:
    """One instruction's outcome for the evaluated model against the reference."""

    id: str
    preference: float  # 1: the model's output preferred, 0: the reference's, 0.5: split decision
    model_length: int  # characters
    baseline_length: int


def win_rate(annotations: Sequence[Annotation]) -> float:
    """Percent of instructions where the model is preferred (a split decision counts half)."""
    if not annotations:
        raise ValueError("no annotations")
    return 100.0 * float(np.mean([a.preference for a in annotations]))


@dataclass(frozen=True)
class LengthControlled:
    win_rate: float  # percent
    coefficients: dict[str, float]
    length_std: float  # the std of the length differences that scales the tanh term


def _design(annotations: Sequence[Annotation], difficulty: Mapping[str, float] | None):
    delta = np.array([a.model_length - a.baseline_length for a in annotations], dtype=float)
    std = float(delta.std(ddof=1)) if len(delta) > 1 else 0.0
    length = np.tanh(delta / std) if std > 0 else np.zeros_like(delta)
    columns = [np.ones(len(annotations)), length]
    names = ["model", "length"]
    if difficulty is not None:
        missing = [a.id for a in annotations if a.id not in difficulty]
        if missing:
            raise ValueError(f"no instruction difficulty for ids {missing[:5]}")
        columns.append(np.array([difficulty[a.id] for a in annotations], dtype=float))
        names.append("difficulty")
    return np.column_stack(columns), names, std


def length_controlled_win_rate(
    annotations: Sequence[Annotation],
    difficulty: Mapping[str, float] | None = None,
    l2: float = 1.0,
) -> LengthControlled:
    """The length-controlled win rate (percent): fit the GLM described in the module docstring, then
    average its predictions with the length difference set to zero."""
    if not annotations:
        raise ValueError("no annotations")
    X, names, std = _design(annotations, difficulty)
    y = np.array([a.preference for a in annotations], dtype=float)
    beta = fit_logistic(X, y, l2=l2)
    X0 = X.copy()
    X0[:, 1] = 0.0  # "what if the two outputs had the same length"
    lc = 100.0 * float(np.mean(_sigmoid(X0 @ beta)))
    return LengthControlled(lc, dict(zip(names, map(float, beta), strict=True)), std)


def estimate_instruction_difficulty(
    annotations_by_model: Mapping[str, Sequence[Annotation]], l2: float = 1.0
) -> dict[str, float]:
    """Per-instruction difficulty from several models judged against the same reference.

    Fits logit P(model m preferred on x) = theta_m + phi_m * tanh(len diff / std_m) + gamma_x jointly
    (gamma ridge-penalised) and returns -gamma standardised to mean 0, std 1: higher means the models
    beat the reference less often there. With a single model gamma is not identifiable from the data.
    """
    models = [m for m, rows in annotations_by_model.items() if rows]
    if len(models) < 2:
        raise ValueError("estimating instruction difficulty needs judgments of at least two models")
    ids = sorted({a.id for m in models for a in annotations_by_model[m]}, key=lambda i: (len(i), i))
    column = {i: k for k, i in enumerate(ids)}
    n_rows = sum(len(annotations_by_model[m]) for m in models)
    X = np.zeros((n_rows, 2 * len(models) + len(ids)))
    y = np.zeros(n_rows)
    row = 0
    for j, model in enumerate(models):
        rows = annotations_by_model[model]
        design, _, _ = _design(rows, None)
        for a, length in zip(rows, design[:, 1], strict=True):
            X[row, j] = 1.0
            X[row, len(models) + j] = length
            X[row, 2 * len(models) + column[a.id]] = 1.0
            y[row] = a.preference
            row += 1
    penalty = np.concatenate([np.full(2 * len(models), 1e-6), np.full(len(ids), l2)])
    gamma = fit_logistic(X, y, l2=penalty)[2 * len(models) :]
    gamma = gamma - gamma.mean()
    scale = gamma.std()
    values = -gamma / scale if scale > 0 else np.zeros_like(gamma)
    return {i: float(v) for i, v in zip(ids, values, strict=True)}


# ----------------------------------------------------------------------------- judging


@dataclass
class AlpacaEvalResult:
    win_rate: float  # percent
    lc_win_rate: float  # percent
    n: int  # instructions with a verdict
    standard_error: float | None  # of the win rate, percent (None for a single instruction)
    ci: tuple[float, float]  # bootstrap interval of the win rate (over instructions), percent
    lc_ci: tuple[float, float]
    n_requested: int
    n_failed: int  # instructions without any verdict (excluded)
    failure_reasons: dict[str, int]
    n_wins: int
    n_losses: int
    n_ties: int
    position_consistency: float | None  # order="both": fraction of instructions judged alike both ways
    avg_length_model: float
    avg_length_reference: float
    lc_coefficients: dict[str, float]
    difficulty: str  # "given", "none"
    order: str
    seed: int
    judge: dict[str, str]
    data_sha256: str
    judge_cost_usd: float
    requests_sent: int
    cached_responses: int
    output_dir: str
    annotations: list[Annotation] = field(default_factory=list, repr=False)
    benchmark: str = BENCHMARK

    def to_dict(self, with_annotations: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_annotations:
            data.pop("annotations")
        return data


def alpaca_eval_comparisons(
    outputs: Mapping[str, str], data: AlpacaEvalData, ids: Sequence[str], order: Order, seed: int
) -> list[Comparison]:
    examples = data.by_id()
    comparisons = []
    for qid in ids:
        example = examples[qid]
        positions = ("A", "B") if order == "both" else (seeded_position(seed, qid),)
        for position in positions:
            comparisons.append(
                Comparison(
                    id=f"{qid}:model_{position}",
                    question_id=qid,
                    instruction=example.instruction,
                    model_answer=outputs[qid],
                    baseline_answer=example.reference,
                    model_position=position,  # type: ignore[arg-type]
                    category=example.dataset,
                )
            )
    return comparisons


def judge_alpaca_eval(
    outputs: Mapping[str, str],
    judge: GeneratorConfig | str,
    out_dir: Path | str,
    *,
    limit: int | None = None,
    order: Order = "random",
    seed: int = 42,
    data: AlpacaEvalData | None = None,
    instruction_difficulty: Mapping[str, float] | None = None,
    max_tokens: int = 256,
    engine: EngineConfig | None = None,
    n_bootstrap: int = 100,
    progress: Any = None,
) -> AlpacaEvalResult:
    """Judge a model's outputs (instruction id -> output) against the reference outputs.

    Only instructions present in `outputs` are judged (`limit`: a seeded, nested subset of them).
    Judgments go to `out_dir` (records.jsonl, failed.jsonl, metadata.json, plus judge_summary.json);
    rerunning resumes, and instructions whose judgment failed are excluded from the scores and counted.
    """
    if order not in ("random", "both"):
        raise AgorabenchError(f"order must be 'random' or 'both', not {order!r}")
    data = data or load_alpaca_eval()
    out_dir = Path(out_dir)
    known = data.by_id()
    unknown = [k for k in outputs if k not in known]
    if unknown:
        raise AgorabenchError(
            f"outputs for unknown AlpacaEval ids: {unknown[:5]} (ids are '0' ... '{len(known) - 1}')"
        )
    bad = [k for k, v in outputs.items() if not isinstance(v, str)]
    if bad:
        raise AgorabenchError(f"outputs must be strings; not for ids {bad[:5]}")
    ids = seeded_subset([e.id for e in data.examples if e.id in outputs], limit, seed)
    if not ids:
        raise AgorabenchError("no outputs to judge")

    task = PairwiseJudgeTask(
        BENCHMARK,
        "preference",
        alpaca_eval_comparisons(outputs, data, ids, order, seed),
        identity_extra={"order": order, "data_sha256": data.sha256, "outputs": digest(dict(outputs))},
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

    by_question: dict[str, list[float]] = {}
    for record in judgments.records.values():
        by_question.setdefault(record["question_id"], []).append(float(record["score"]))
    annotations = [
        Annotation(qid, float(np.mean(by_question[qid])), len(outputs[qid]), len(known[qid].reference))
        for qid in ids
        if qid in by_question
    ]
    if not annotations:
        raise AgorabenchError(
            f"no AlpacaEval judgment succeeded ({judgments.failure_reasons()}); see {out_dir / 'failed.jsonl'}"
        )
    result = alpaca_eval_result(
        annotations, instruction_difficulty=instruction_difficulty, n_bootstrap=n_bootstrap, seed=seed
    )
    consistency = None
    if order == "both":
        pairs = [v for v in by_question.values() if len(v) == 2]
        consistency = float(np.mean([v[0] == v[1] for v in pairs])) if pairs else None
    summary = AlpacaEvalResult(
        **result,
        n_requested=len(ids),
        n_failed=len(ids) - len(annotations),
        position_consistency=consistency,
        order=order,
        seed=seed,
        data_sha256=data.sha256,
        **judgments.provenance(generator, out_dir),
        annotations=annotations,
    )
    (out_dir / "judge_summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def alpaca_eval_result(
    annotations: Sequence[Annotation],
    *,
    instruction_difficulty: Mapping[str, float] | None = None,
    n_bootstrap: int = 100,
    seed: int = 42,
) -> dict[str, Any]:
    """The scores of a set of annotations: raw and length-controlled win rates with bootstrap intervals
    over instructions (the GLM is refitted in every round)."""
    prefs = np.array([a.preference for a in annotations])
    lc = length_controlled_win_rate(annotations, instruction_difficulty)
    n = len(annotations)
    ids = [a.id for a in annotations]
    raw_ci = bootstrap_ci(
        ids, lambda rows: 100.0 * float(prefs[rows].mean()), n_rounds=n_bootstrap, seed=seed
    )
    lc_ci = bootstrap_ci(
        ids,
        lambda rows: (
            length_controlled_win_rate([annotations[r] for r in rows], instruction_difficulty).win_rate
        ),
        n_rounds=n_bootstrap,
        seed=seed,
    )
    return {
        "win_rate": win_rate(annotations),
        "lc_win_rate": lc.win_rate,
        "n": n,
        "standard_error": 100.0 * float(prefs.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
        "ci": (raw_ci.low, raw_ci.high),
        "lc_ci": (lc_ci.low, lc_ci.high),
        "n_wins": int(np.sum(prefs == 1.0)),
        "n_losses": int(np.sum(prefs == 0.0)),
        "n_ties": int(np.sum((prefs > 0.0) & (prefs < 1.0))),
        "avg_length_model": float(np.mean([a.model_length for a in annotations])),
        "avg_length_reference": float(np.mean([a.baseline_length for a in annotations])),
        "lc_coefficients": lc.coefficients,
        "difficulty": "given" if instruction_difficulty is not None else "none",
    }
