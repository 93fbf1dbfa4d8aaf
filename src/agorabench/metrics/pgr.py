"""Performance Gap Recovered (PGR), with bootstrap confidence intervals.

Per benchmark B, with scores on a 0-100 scale:

    PGR = 100 * (score_B(student) - score_B(base)) / (score_B(reference) - score_B(base))

A domain's PGR is the mean of its benchmarks' defined PGRs. PGR is undefined (None, with a one-line
reason) when a score is missing or when the reference gap is within noise: its 95% CI includes 0, or it
is smaller than `min_gap` points. Point values are the formula on the full scores; the bootstrap only
gives the intervals:

- paired, when all three models have per-item scores: each round resamples the item ids they share,
  the same ids for all three models;
- paired, for judged benchmarks (AlpacaEval, Arena-Hard) whose grader can recompute its headline on
  resampled questions (`Grader.resampled_scores`): the three models are judged on the same questions against
  the same baseline, so each round draws one set of question ids and refits each model's headline (LC win
  rate, Bradley-Terry score) on it;
- parametric, when only a score and its 95% CI are known (an evaluation without per-question rows): each
  model's score is drawn from a normal with that mean and sd = CI width / (2 * 1.96), the three independently.

Seeding: every benchmark's bootstrap draws from one stream fixed by the seed and the benchmark's name
(`benchmark_rng`), whether it is computed alone (`pgr_benchmark`) or inside its domain (`pgr_domain`), so
the same inputs give the same interval either way.

A domain PGR lists the benchmarks it averaged (`benchmarks`) and those of the domain it could not
(`missing`: PGR undefined, or no score): a "code PGR" that is HumanEval alone says so.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from agorabench.data.benchmarks import get_benchmark
from agorabench.errors import AgorabenchError
from agorabench.evaluation.graders import ResampleFunction, get_grader
from agorabench.jsonl import iter_jsonl
from agorabench.results import Pgr

ROLES = ("student", "base", "reference")
MAX_SKIPPED = 0.05  # above this fraction of rounds with a zero resampled gap, no CI
_ZERO = 1e-9  # a resampled gap this close to 0 points counts as 0
_CHUNK = 256  # bootstrap rounds per vectorised block (bounds memory: chunk x items x 3 floats)


@dataclass(frozen=True)
class BenchmarkScores:
    """One model's result on one benchmark: `value` 0-100, its 95% CI (0-100) when known, and per-item
    scores (item id -> 0-1) when the benchmark has them. A judged benchmark has none; instead `rows` (item id
    -> the grader's per-question row) and `resample`, which recomputes its headline on resampled rows."""

    value: float
    ci: tuple[float, float] | None = None
    item_scores: dict[str, float] | None = None
    n: int | None = None
    rows: dict[str, dict] | None = None
    resample: ResampleFunction | None = None
    metric: str | None = None  # the grader's name for the score (version, baseline, variant)


@dataclass(frozen=True)
class PgrValue:
    """A PGR (percent) and how it was obtained.

    `value` None: undefined, `undefined_reason` says why. `ci` None with a defined value: `ci_note` says
    why. `n`: items in the paired bootstrap (those all three models share), or the smallest item count
    known for the parametric one. `gap` = reference - base (points) and `gap_ci` its interval.
    `method`: "paired", "parametric", or None when there was nothing to resample.
    """

    value: float | None
    ci: tuple[float, float] | None = None
    undefined_reason: str | None = None
    ci_note: str | None = None
    n: int = 0
    gap: float | None = None
    gap_ci: tuple[float, float] | None = None
    method: Literal["paired", "parametric"] | None = None
    skipped: int = 0  # bootstrap rounds skipped because the resampled gap was 0
    benchmarks: tuple[str, ...] = ()  # a domain PGR: the benchmarks its mean is over
    missing: tuple[str, ...] = ()  # a domain PGR: the domain's benchmarks left out (PGR undefined or no score)

    @property
    def partial(self) -> bool:
        return bool(self.missing)


def _pct(x: float) -> str:
    return f"{x:+.1f}"


def _level_text(level: float) -> str:
    return f"{100 * level:g}% CI"


def _quantiles(draws: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return (float(low), float(high))


def _finite(scores: BenchmarkScores | None) -> bool:
    return scores is not None and scores.value is not None and math.isfinite(scores.value)


def _missing_reason(missing: list[str]) -> str:
    names = [f"the {role}" for role in missing]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"no score for {joined}"


# --- draws ---------------------------------------------------------------------------------------------


def _paired_draws(
    models: tuple[BenchmarkScores, ...], ids: list[str], rounds: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(numerator, gap) per round, in points: student - base and reference - base over resampled ids."""
    table = np.array([[m.item_scores[i] for m in models] for i in ids], dtype=float) * 100  # (n, 3)
    n = len(ids)
    means = np.empty((rounds, 3))
    for start in range(0, rounds, _CHUNK):
        size = min(_CHUNK, rounds - start)
        idx = rng.integers(0, n, size=(size, n))
        means[start:start + size] = table[idx].mean(axis=1)
    student, base, reference = means.T
    return student - base, reference - base


def _judged_draws(
    models: tuple[BenchmarkScores, ...], ids: list[str], rounds: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """As `_paired_draws`, for a judged benchmark: one set of resampled question ids per round, shared by the
    three models, and each model's headline refitted on it by its grader."""
    resample = models[0].resample
    tables = [[m.rows[i] for i in ids] for m in models]
    n = len(ids)
    means = np.empty((rounds, 3))
    for start in range(0, rounds, _CHUNK):
        size = min(_CHUNK, rounds - start)
        idx = rng.integers(0, n, size=(size, n))
        for column, rows in enumerate(tables):
            means[start:start + size, column] = resample(rows, idx)
    student, base, reference = means.T
    return student - base, reference - base


def _parametric_draws(
    models: tuple[BenchmarkScores, ...], rounds: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    centre = np.array([m.value for m in models], dtype=float)
    sd = np.array([(m.ci[1] - m.ci[0]) / (2 * 1.96) for m in models], dtype=float)
    student, base, reference = rng.normal(centre[:, None], np.abs(sd)[:, None], size=(3, rounds))
    return student - base, reference - base


def _has_ci(m: BenchmarkScores) -> bool:
    return m.ci is not None and all(math.isfinite(x) for x in m.ci)


def _compute(
    student: BenchmarkScores | None,
    base: BenchmarkScores | None,
    reference: BenchmarkScores | None,
    *,
    rounds: int,
    rng: np.random.Generator,
    min_gap: float,
    level: float,
) -> tuple[PgrValue, np.ndarray | None]:
    """The PGR and its per-round draws (NaN where the round was skipped; None without a bootstrap)."""
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    given = dict(zip(ROLES, (student, base, reference), strict=True))
    missing = [role for role, scores in given.items() if not _finite(scores)]
    if missing:
        return PgrValue(None, undefined_reason=_missing_reason(missing)), None
    models = (student, base, reference)
    value_gap = float(reference.value - base.value)
    notes: list[str] = []

    # Which bootstrap: paired over shared items, else parametric from the CIs, else none.
    method: str | None = None
    n = 0
    draws: tuple[np.ndarray, np.ndarray] | None = None
    if all(m.item_scores for m in models):
        ids = sorted(set.intersection(*(set(m.item_scores) for m in models)))
        if ids:
            method, n = "paired", len(ids)
            sizes = [len(m.item_scores) for m in models]
            if any(size != n for size in sizes):
                counts = ", ".join(f"{role} {size}" for role, size in zip(ROLES, sizes, strict=True))
                notes.append(f"paired over the {n} items all three models share ({counts})")
            draws = _paired_draws(models, ids, rounds, rng)
        else:
            notes.append("no item id is shared by all three models")
    elif all(m.rows and m.resample is not None for m in models) and len({m.resample for m in models}) == 1:
        ids = sorted(set.intersection(*(set(m.rows) for m in models)))
        if ids:
            try:
                draws = _judged_draws(models, ids, rounds, rng)
                method, n = "paired", len(ids)
            except (KeyError, TypeError, ValueError) as exc:  # rows written by an older grader
                notes.append(f"judged rows cannot be resampled ({type(exc).__name__}: {exc}); parametric")
        else:
            notes.append("no question id is shared by all three models")
    if draws is None and all(_has_ci(m) for m in models):
        method = "parametric"
        known = [m.n for m in models if m.n]
        n = min(known) if known else 0
        draws = _parametric_draws(models, rounds, rng)
    if draws is None:
        notes.append("no per-item scores or CIs for all three models: no CI, and the gap's noise is unknown")

    gap_ci = _quantiles(draws[1], level) if draws is not None else None
    base_fields = {"n": n, "gap": value_gap, "gap_ci": gap_ci, "method": method}

    gap_text = f"reference gap {_pct(value_gap)} points"
    if gap_ci is not None:
        gap_text += f" ({_level_text(level)} {_pct(gap_ci[0])} to {_pct(gap_ci[1])})"
    if gap_ci is not None and gap_ci[0] <= 0 <= gap_ci[1]:
        return PgrValue(None, undefined_reason=f"{gap_text} is within noise", **base_fields), None
    if abs(value_gap) < min_gap:
        reason = f"{gap_text} is smaller than the {min_gap:g}-point minimum"
        return PgrValue(None, undefined_reason=reason, **base_fields), None
    if value_gap < 0:
        # A reference below the base has no gap to recover: the ratio would reward a student for getting worse.
        reason = f"{gap_text}: the reference scores below the base, so there is no gap to recover"
        return PgrValue(None, undefined_reason=reason, **base_fields), None

    value = float(100 * (student.value - base.value) / value_gap)
    if draws is None:
        return PgrValue(value, ci_note="; ".join(notes), **base_fields), None

    numerator, gaps = draws
    zero = np.abs(gaps) < _ZERO
    skipped = int(zero.sum())
    pgr_draws = np.full(rounds, np.nan)
    pgr_draws[~zero] = 100 * numerator[~zero] / gaps[~zero]
    ci = None
    if skipped > MAX_SKIPPED * rounds:
        notes.append(
            f"no CI: the resampled reference gap was 0 in {skipped} of {rounds} rounds "
            f"({100 * skipped / rounds:.1f}%, more than {100 * MAX_SKIPPED:g}%)"
        )
    else:
        if skipped:
            notes.append(f"{skipped} of {rounds} rounds skipped (resampled reference gap 0)")
        ci = _quantiles(pgr_draws[~zero], level)
    result = PgrValue(value, ci=ci, ci_note="; ".join(notes) or None, skipped=skipped, **base_fields)
    return result, pgr_draws


# --- public API ----------------------------------------------------------------------------------------


def benchmark_rng(seed: int, benchmark: str) -> np.random.Generator:
    """The one seeding scheme: a benchmark's bootstrap stream, fixed by the seed and its name (not by its
    position in a domain), so it is the same alone and inside its domain, and benchmarks of a domain are
    resampled independently."""
    return np.random.default_rng([seed, zlib.crc32(benchmark.encode("utf-8"))])


def pgr_benchmark(
    student: BenchmarkScores | None,
    base: BenchmarkScores | None,
    reference: BenchmarkScores | None,
    *,
    benchmark: str = "",
    rounds: int = 2000,
    seed: int = 0,
    min_gap: float = 1.0,
    level: float = 0.95,
) -> PgrValue:
    """PGR on one benchmark, with a seeded percentile bootstrap CI (see the module docstring); `benchmark`
    names its stream (`benchmark_rng`), so the interval equals the one `pgr_domain` gives it."""
    rng = benchmark_rng(seed, benchmark)
    return _compute(student, base, reference, rounds=rounds, rng=rng, min_gap=min_gap, level=level)[0]


def pgr_domain(
    per_benchmark: Mapping[
        str, tuple[BenchmarkScores | None, BenchmarkScores | None, BenchmarkScores | None]
    ],
    *,
    rounds: int = 2000,
    seed: int = 0,
    min_gap: float = 1.0,
    level: float = 0.95,
) -> tuple[PgrValue, dict[str, PgrValue]]:
    """A domain's PGR (the mean of its benchmarks' defined PGRs) and each benchmark's PGR.

    `per_benchmark`: benchmark name -> (student, base, reference), every benchmark of the domain (one with no
    scores at all as (None, None, None)). The domain CI is the percentile interval of the per-round mean of
    the benchmarks' bootstrap PGRs, each benchmark resampled with its own stream (`benchmark_rng`), `rounds`
    rounds each. The domain value names the benchmarks it averaged and those it left out.
    """
    value, results, _ = pgr_domain_draws(per_benchmark, rounds=rounds, seed=seed, min_gap=min_gap, level=level)
    return value, results


def pgr_domain_draws(
    per_benchmark: Mapping[
        str, tuple[BenchmarkScores | None, BenchmarkScores | None, BenchmarkScores | None]
    ],
    *,
    rounds: int = 2000,
    seed: int = 0,
    min_gap: float = 1.0,
    level: float = 0.95,
) -> tuple[PgrValue, dict[str, PgrValue], np.ndarray | None]:
    """`pgr_domain`, and the domain PGR's bootstrap draws (one per round, NaN where a round was skipped; None
    without a CI). Round r resamples the same item positions for every cell evaluated on the same items with
    the same seed (`benchmark_rng`), so draws of different cells, or students, pair round by round: what
    ranking statistics over cells resample (`metrics/agreement.py`)."""
    results: dict[str, PgrValue] = {}
    draws: dict[str, np.ndarray | None] = {}
    if not per_benchmark:
        return PgrValue(None, undefined_reason="no benchmarks in this domain"), results, None
    for name, (student, base, reference) in per_benchmark.items():
        rng = benchmark_rng(seed, name)
        results[name], draws[name] = _compute(
            student, base, reference, rounds=rounds, rng=rng, min_gap=min_gap, level=level
        )
    defined = [name for name, p in results.items() if p.value is not None]
    if not defined:
        reason = "no benchmark has a defined PGR: " + "; ".join(
            f"{name}: {p.undefined_reason}" for name, p in results.items()
        )
        return PgrValue(None, undefined_reason=reason), results, None

    value = float(np.mean([results[name].value for name in defined]))
    n = sum(results[name].n for name in defined)
    coverage = {"benchmarks": tuple(defined), "missing": tuple(name for name in results if name not in defined)}
    no_draws = [name for name in defined if draws[name] is None]
    if no_draws:
        note = "no CI: no bootstrap for " + ", ".join(no_draws)
        return PgrValue(value, ci_note=note, n=n, **coverage), results, None
    stacked = np.stack([draws[name] for name in defined])  # (benchmarks, rounds)
    means = stacked.mean(axis=0)
    valid = ~np.isnan(means)
    skipped = int((~valid).sum())
    if skipped > MAX_SKIPPED * rounds:
        note = (
            f"no CI: a benchmark's resampled reference gap was 0 in {skipped} of {rounds} rounds "
            f"({100 * skipped / rounds:.1f}%, more than {100 * MAX_SKIPPED:g}%)"
        )
        return PgrValue(value, ci_note=note, n=n, skipped=skipped, **coverage), results, None
    note = f"{skipped} of {rounds} rounds skipped (a resampled reference gap was 0)" if skipped else None
    ci = _quantiles(means[valid], level)
    methods = {results[name].method for name in defined}
    method = methods.pop() if len(methods) == 1 else None
    return PgrValue(value, ci=ci, ci_note=note, n=n, method=method, skipped=skipped, **coverage), results, means


def to_result(p: PgrValue) -> Pgr:
    """The run-results form (`agorabench.results.Pgr`: value, ci, undefined_reason, and for a domain the
    benchmarks averaged and missing). That model has no field for `ci_note`, so a note beside a defined value
    is not carried over."""
    return Pgr(value=p.value, ci=p.ci, undefined_reason=p.undefined_reason, method=p.method,
               benchmarks=list(p.benchmarks), missing=list(p.missing), partial=p.partial)


# --- reading `agorabench evaluate` output ---------------------------------------------------------------


def _item_value(raw: object, where: str, field: str) -> float:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, (int, float)) and math.isfinite(raw) and 0 <= raw <= 1:
        return float(raw)
    raise AgorabenchError(f"{where}: {field!r} must be a boolean or a number from 0 to 1, got {raw!r}")


def scores_from_eval_dir(folder: Path | str) -> BenchmarkScores:
    """A model's scores on one benchmark from its `agorabench evaluate` folder (OUT/<benchmark>/):
    `summary.json` gives the score, its 95% CI, n and the benchmark, whose spec names the per-item field
    of `results.jsonl` (`item_score`: "correct", "passed", ...) that gives per-item scores. Judged
    benchmarks (no such field) get `item_scores=None`."""
    folder = Path(folder)
    summary_path = folder / "summary.json"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AgorabenchError(
            f"{summary_path}: file not found (not an `agorabench evaluate` benchmark folder?)"
        ) from None
    except (OSError, ValueError) as exc:
        raise AgorabenchError(f"{summary_path}: cannot read ({exc})") from None
    score = summary.get("score") if isinstance(summary, dict) else None
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise AgorabenchError(f"{summary_path}: no numeric 'score'")
    ci_raw = summary.get("ci95")
    ci = None
    if (
        isinstance(ci_raw, list) and len(ci_raw) == 2
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in ci_raw)
    ):
        ci = (float(ci_raw[0]), float(ci_raw[1]))
    n = summary.get("n") if isinstance(summary.get("n"), int) else None
    metric = summary.get("metric") if isinstance(summary.get("metric"), str) else None

    field = _item_field(summary, summary_path)
    if field is None:  # judged: per-question rows for the paired bootstrap, when the grader can refit on them
        resample = get_grader(get_benchmark(summary["benchmark"]).grader).resampled_scores
        rows = _read_rows(folder / "results.jsonl") if resample is not None else None
        return BenchmarkScores(value=float(score), ci=ci, n=n, rows=rows or None, resample=resample, metric=metric)
    items = _read_item_scores(folder / "results.jsonl", field)
    if items is not None:
        if n is not None and len(items) != n:
            raise AgorabenchError(f"{folder / 'results.jsonl'}: {len(items)} items but summary.json says n={n}")
        mean = 100 * sum(items.values()) / len(items)
        if abs(mean - score) > 0.01:
            raise AgorabenchError(
                f"{folder / 'results.jsonl'}: per-item scores average {mean:.2f} "
                f"but summary.json's score is {score:.2f}"
            )
    if n is None and items is not None:
        n = len(items)
    return BenchmarkScores(value=float(score), ci=ci, item_scores=items, n=n, metric=metric)


def _item_field(summary: dict, summary_path: Path) -> str | None:
    """The per-item score field of the benchmark summary.json names, from its spec (None: judged)."""
    name = summary.get("benchmark")
    if not isinstance(name, str) or not name:
        raise AgorabenchError(f"{summary_path}: no 'benchmark' name")
    try:
        return get_benchmark(name).item_score
    except AgorabenchError as exc:
        raise AgorabenchError(f"{summary_path}: {exc}") from None


def _read_rows(path: Path) -> dict[str, dict] | None:
    """A judged evaluation's per-question rows by id (None when results.jsonl is absent)."""
    if not path.exists():
        return None
    rows: dict[str, dict] = {}
    for number, row in iter_jsonl(path):
        if "id" not in row:
            raise AgorabenchError(f"{path}: line {number}: no 'id'")
        rows[str(row["id"])] = row
    return rows


def _read_item_scores(path: Path, field: str | None) -> dict[str, float] | None:
    if field is None or not path.exists():
        return None  # a judged benchmark: no per-item verdicts
    rows = list(iter_jsonl(path))
    if not rows:
        return None
    items: dict[str, float] = {}
    for number, row in rows:
        where = f"{path}: line {number}"
        if "id" not in row:
            raise AgorabenchError(f"{where}: no 'id'")
        if field not in row:
            raise AgorabenchError(f"{where}: no {field!r} (other lines have it)")
        key = str(row["id"])
        if key in items:
            raise AgorabenchError(f"{where}: duplicate id {key!r}")
        items[key] = _item_value(row[field], where, field)
    return items
