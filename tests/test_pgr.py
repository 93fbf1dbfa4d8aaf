"""Performance Gap Recovered: the formula, when it is undefined and why, the paired and parametric
bootstrap CIs (checked against plain loops), the domain mean, and reading `agorabench evaluate` folders."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from agorabench.data.benchmarks import (
    PAPER_DECODING,
    BenchmarkData,
    BenchmarkSpec,
    register_benchmark,
    unregister_benchmark,
    user,
)
from agorabench.errors import AgorabenchError
from agorabench.metrics.pgr import (
    BenchmarkScores,
    PgrValue,
    benchmark_rng,
    pgr_benchmark,
    pgr_domain,
    scores_from_eval_dir,
    to_result,
)
from agorabench.results import Pgr


def judged(value: float, half_width: float = 1.96) -> BenchmarkScores:
    """A score with only a 95% CI (sd = half_width / 1.96), as judged benchmarks report."""
    return BenchmarkScores(value=value, ci=(value - half_width, value + half_width))


def items(accuracy: float, n: int, seed: int, prefix: str = "") -> BenchmarkScores:
    """n 0/1 items with `accuracy` of them correct, in a seeded random order."""
    correct = round(accuracy * n)
    flags = np.zeros(n)
    flags[:correct] = 1
    np.random.default_rng(seed).shuffle(flags)
    scores = {f"{prefix}{i}": float(x) for i, x in enumerate(flags)}
    return BenchmarkScores(value=100 * correct / n, item_scores=scores, n=n)


def width(ci: tuple[float, float]) -> float:
    return ci[1] - ci[0]


def loop_paired_draws(student, base, reference, rounds, seed, benchmark=""):
    """The paired bootstrap written plainly: the same index matrix, one round at a time."""
    ids = sorted(set(student.item_scores) & set(base.item_scores) & set(reference.item_scores))
    rng = benchmark_rng(seed, benchmark)
    idx = rng.integers(0, len(ids), size=(rounds, len(ids)))
    draws, gaps = [], []
    for row in idx:
        chosen = [ids[i] for i in row]
        mean = {
            role: 100 * sum(m.item_scores[i] for i in chosen) / len(chosen)
            for role, m in (("s", student), ("b", base), ("r", reference))
        }
        gap = mean["r"] - mean["b"]
        gaps.append(gap)
        if abs(gap) >= 1e-9:
            draws.append(100 * (mean["s"] - mean["b"]) / gap)
        else:
            draws.append(math.nan)
    return np.array(draws), np.array(gaps)


# --- the formula -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("student", "expected"),
    [(40.0, 50.0), (20.0, 0.0), (60.0, 100.0), (10.0, -25.0), (70.0, 125.0)],
)
def test_arithmetic(student, expected):
    result = pgr_benchmark(judged(student, 0.5), judged(20.0, 0.5), judged(60.0, 0.5))
    assert result.value == pytest.approx(expected)
    assert result.undefined_reason is None
    assert result.gap == pytest.approx(40.0)
    assert result.method == "parametric"


def test_value_is_the_formula_not_the_bootstrap():
    student, base, reference = items(0.43, 200, 1), items(0.21, 200, 2), items(0.58, 200, 3)
    expected = 100 * (43 - 21) / (58 - 21)
    for seed in (0, 1, 2):
        assert pgr_benchmark(student, base, reference, seed=seed, rounds=200).value == pytest.approx(expected)


def test_reference_clearly_below_base_is_undefined():
    # The ratio would be 50 for a student that got 10 points worse: there is no gap to recover.
    result = pgr_benchmark(judged(50.0, 0.5), judged(60.0, 0.5), judged(40.0, 0.5))
    assert result.value is None and result.gap == pytest.approx(-20.0)
    assert "the reference scores below the base" in result.undefined_reason


def test_no_noise_information_keeps_the_value_without_ci():
    result = pgr_benchmark(BenchmarkScores(40), BenchmarkScores(20), BenchmarkScores(60))
    assert result.value == pytest.approx(50.0)
    assert result.ci is None and result.method is None
    assert "noise is unknown" in result.ci_note


# --- undefined -----------------------------------------------------------------------------------------


def test_zero_gap_is_undefined():
    result = pgr_benchmark(judged(45.0), judged(40.0), judged(40.0))
    assert result.value is None and result.ci is None
    assert result.undefined_reason.startswith("reference gap +0.0 points (95% CI ")
    assert result.undefined_reason.endswith("is within noise")


def test_zero_gap_without_noise_information_is_undefined():
    result = pgr_benchmark(BenchmarkScores(45.0), BenchmarkScores(40.0), BenchmarkScores(40.0))
    assert result.value is None
    assert result.undefined_reason == "reference gap +0.0 points is smaller than the 1-point minimum"


def test_gap_within_noise():
    # Gap 1 point, each score +-10: the gap's CI spans 0.
    result = pgr_benchmark(judged(70.0, 10), judged(50.0, 10), judged(51.0, 10))
    assert result.value is None
    assert re.fullmatch(
        r"reference gap \+1\.0 points \(95% CI -\d+\.\d to \+\d+\.\d\) is within noise", result.undefined_reason
    )
    low, high = result.gap_ci
    assert low < 0 < high


def test_gap_below_minimum():
    # Tight CIs (sd 0.05): a 0.5-point gap is significant but below the 1-point minimum.
    tight = 0.05 * 1.96
    result = pgr_benchmark(judged(50.0, tight), judged(40.0, tight), judged(40.5, tight))
    assert result.value is None
    assert "is smaller than the 1-point minimum" in result.undefined_reason
    assert result.undefined_reason.startswith("reference gap +0.5 points (95% CI +0.")
    relaxed = pgr_benchmark(judged(50.0, tight), judged(40.0, tight), judged(40.5, tight), min_gap=0.2)
    assert relaxed.value == pytest.approx(2000.0)


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        (("student",), "no score for the student"),
        (("reference",), "no score for the reference"),
        (("base", "reference"), "no score for the base and the reference"),
        (("student", "base", "reference"), "no score for the student, the base and the reference"),
    ],
)
def test_missing_score(missing, reason):
    given = {"student": judged(40), "base": judged(20), "reference": judged(60)}
    for role in missing:
        given[role] = None
    result = pgr_benchmark(given["student"], given["base"], given["reference"])
    assert result.value is None and result.ci is None
    assert result.undefined_reason == reason


def test_nan_score_counts_as_missing():
    result = pgr_benchmark(judged(40), BenchmarkScores(math.nan), judged(60))
    assert result.undefined_reason == "no score for the base"


# --- paired bootstrap ------------------------------------------------------------------------------------


def test_paired_ci_matches_a_plain_loop():
    student, base, reference = items(0.45, 150, 1), items(0.25, 150, 2), items(0.65, 150, 3)
    rounds, seed = 500, 7
    result = pgr_benchmark(student, base, reference, rounds=rounds, seed=seed)
    draws, gaps = loop_paired_draws(student, base, reference, rounds, seed)
    assert result.method == "paired" and result.n == 150
    assert result.ci == pytest.approx(tuple(np.quantile(draws[~np.isnan(draws)], [0.025, 0.975])))
    assert result.gap_ci == pytest.approx(tuple(np.quantile(gaps, [0.025, 0.975])))
    assert result.skipped == int(np.isnan(draws).sum())


def test_paired_ci_is_deterministic_contains_value_and_narrows():
    small = [items(0.45, 100, 1), items(0.25, 100, 2), items(0.65, 100, 3)]
    large = [items(0.45, 1600, 1), items(0.25, 1600, 2), items(0.65, 1600, 3)]
    a = pgr_benchmark(*small, seed=3)
    assert a == pgr_benchmark(*small, seed=3)
    assert a.ci != pgr_benchmark(*small, seed=4).ci
    b = pgr_benchmark(*large, seed=3)
    for result in (a, b):
        assert result.value == pytest.approx(50.0)
        assert result.ci[0] < result.value < result.ci[1]
    # 16 times the items: about a quarter of the width.
    assert 0.15 < width(b.ci) / width(a.ci) < 0.4


def test_pairing_uses_the_same_items_for_all_three():
    # The student equals the reference item by item: every round gives exactly 100.
    base, reference = items(0.2, 80, 1), items(0.7, 80, 2)
    result = pgr_benchmark(reference, base, reference, rounds=300)
    assert result.value == pytest.approx(100.0)
    assert result.ci == pytest.approx((100.0, 100.0))


def test_only_shared_items_are_resampled():
    student = items(0.5, 120, 1)
    base = BenchmarkScores(
        20.0, item_scores={k: v for k, v in items(0.2, 120, 2).item_scores.items() if int(k) < 100}
    )
    reference = items(0.6, 120, 3)
    result = pgr_benchmark(student, base, reference, rounds=300)
    assert result.n == 100
    assert result.value == pytest.approx(100 * (50 - 20) / (60 - 20))  # the given values, not the subset's
    assert "paired over the 100 items all three models share (student 120, base 100, reference 120)" in result.ci_note
    draws, _ = loop_paired_draws(student, base, reference, 300, 0)
    assert result.ci == pytest.approx(tuple(np.quantile(draws[~np.isnan(draws)], [0.025, 0.975])))


def test_no_shared_items_falls_back_to_the_cis():
    student = BenchmarkScores(45.0, ci=(40.0, 50.0), item_scores={"a": 1.0})
    base = BenchmarkScores(25.0, ci=(20.0, 30.0), item_scores={"b": 0.0})
    reference = BenchmarkScores(65.0, ci=(60.0, 70.0), item_scores={"c": 1.0})
    result = pgr_benchmark(student, base, reference)
    assert result.method == "parametric"
    assert "no item id is shared" in result.ci_note


def test_rounds_with_a_zero_gap_are_skipped_and_counted():
    # Reference right on 4 of 20 items, base on none: ~1.2% of rounds draw none of the 4.
    base = BenchmarkScores(0.0, item_scores={str(i): 0.0 for i in range(20)})
    reference = BenchmarkScores(20.0, item_scores={str(i): float(i < 4) for i in range(20)})
    student = BenchmarkScores(10.0, item_scores={str(i): float(i < 2) for i in range(20)})
    result = pgr_benchmark(student, base, reference)
    assert 0 < result.skipped <= 100
    assert result.ci is not None
    assert f"{result.skipped} of 2000 rounds skipped" in result.ci_note
    draws, _ = loop_paired_draws(student, base, reference, 2000, 0)
    assert result.skipped == int(np.isnan(draws).sum())


def test_too_many_skipped_rounds_withhold_the_ci():
    # 2 of 10 reference items: ~11% of rounds have a zero gap. At a 50% level the gap's CI excludes 0,
    # so the value is defined, but more than 5% skipped rounds withhold its CI.
    base = BenchmarkScores(0.0, item_scores={str(i): 0.0 for i in range(10)})
    reference = BenchmarkScores(20.0, item_scores={str(i): float(i < 2) for i in range(10)})
    student = BenchmarkScores(10.0, item_scores={str(i): float(i < 1) for i in range(10)})
    result = pgr_benchmark(student, base, reference, level=0.5)
    assert result.value == pytest.approx(50.0)
    assert result.ci is None
    assert result.skipped > 100
    assert result.ci_note.startswith(f"no CI: the resampled reference gap was 0 in {result.skipped} of 2000 rounds")


# --- parametric bootstrap (judged benchmarks) ----------------------------------------------------------------


def test_parametric_ci_matches_the_delta_method():
    # s=40, b=20, r=60, each sd 1: d/ds = 2.5, d/db = d/dr = -1.25 -> sd 3.06 -> 95% half-width 6.0.
    result = pgr_benchmark(judged(40.0), judged(20.0), judged(60.0), rounds=4000)
    assert result.method == "parametric"
    half = 1.96 * math.sqrt(2.5**2 + 1.25**2 + 1.25**2)
    assert result.ci[0] == pytest.approx(50.0 - half, abs=0.6)
    assert result.ci[1] == pytest.approx(50.0 + half, abs=0.6)
    assert result.gap_ci == pytest.approx((40 - 1.96 * math.sqrt(2), 40 + 1.96 * math.sqrt(2)), abs=0.2)
    assert result == pgr_benchmark(judged(40.0), judged(20.0), judged(60.0), rounds=4000)


def test_mixed_inputs_use_the_parametric_path():
    # Per-item scores for the student only (e.g. a judged benchmark read with item scores by hand).
    student = BenchmarkScores(40.0, ci=(38.04, 41.96), item_scores={"a": 0.4})
    result = pgr_benchmark(student, judged(20.0), judged(60.0))
    assert result.method == "parametric" and result.value == pytest.approx(50.0)


# --- domain ------------------------------------------------------------------------------------------------


def test_domain_is_the_mean_of_defined_benchmarks():
    per = {
        "gsm8k": (items(0.45, 300, 1), items(0.25, 300, 2), items(0.65, 300, 3)),  # 50
        "math": (items(0.30, 300, 4), items(0.10, 300, 5), items(0.20, 300, 6)),  # 200
        "flat": (judged(45.0), judged(40.0), judged(40.0)),  # undefined
    }
    domain, each = pgr_domain(per, rounds=500)
    assert each["gsm8k"].value == pytest.approx(50.0)
    assert each["math"].value == pytest.approx(200.0)
    assert each["flat"].value is None
    assert domain.value == pytest.approx(125.0)
    assert domain.n == 600
    assert domain.ci[0] < domain.value < domain.ci[1]
    assert pgr_domain(per, rounds=500) == (domain, each)


def test_domain_ci_matches_a_plain_loop():
    per = {
        "gsm8k": (items(0.45, 120, 1), items(0.25, 120, 2), items(0.65, 120, 3)),
        "math": (items(0.35, 90, 4), items(0.15, 90, 5), items(0.55, 90, 6)),
    }
    rounds, seed = 400, 5
    domain, each = pgr_domain(per, rounds=rounds, seed=seed)
    loops = {name: loop_paired_draws(*per[name], rounds, seed, name)[0] for name in per}
    means = (loops["gsm8k"] + loops["math"]) / 2
    assert domain.ci == pytest.approx(tuple(np.quantile(means[~np.isnan(means)], [0.025, 0.975])))
    for name, draws in loops.items():
        assert each[name].ci == pytest.approx(tuple(np.quantile(draws[~np.isnan(draws)], [0.025, 0.975])))
    # Independent benchmarks: the mean's CI is narrower than either benchmark's.
    assert width(domain.ci) < min(width(each["gsm8k"].ci), width(each["math"].ci))


def test_domain_mixes_paired_and_parametric():
    per = {
        "ifeval": (items(0.45, 200, 1), items(0.25, 200, 2), items(0.65, 200, 3)),
        "alpaca_eval": (judged(30.0), judged(10.0), judged(50.0)),
    }
    domain, each = pgr_domain(per)
    assert each["ifeval"].method == "paired" and each["alpaca_eval"].method == "parametric"
    assert domain.value == pytest.approx(50.0) and domain.method is None
    assert domain.ci[0] < 50.0 < domain.ci[1]


def test_domain_undefined_joins_the_reasons():
    per = {
        "humaneval": (None, judged(20.0), judged(30.0)),
        "mbpp": (judged(45.0), judged(40.0), judged(40.0)),
    }
    domain, _ = pgr_domain(per)
    assert domain.value is None
    assert domain.undefined_reason.startswith(
        "no benchmark has a defined PGR: humaneval: no score for the student; mbpp: reference gap +0.0 points"
    )
    assert pgr_domain({})[0].undefined_reason == "no benchmarks in this domain"


def test_domain_without_a_bootstrap_for_one_benchmark_has_no_ci():
    per = {
        "gsm8k": (judged(40.0), judged(20.0), judged(60.0)),
        "math": (BenchmarkScores(30.0), BenchmarkScores(10.0), BenchmarkScores(50.0)),
    }
    domain, _ = pgr_domain(per)
    assert domain.value == pytest.approx(50.0)
    assert domain.ci is None and domain.ci_note == "no CI: no bootstrap for math"


# --- run results -------------------------------------------------------------------------------------------


def test_to_result():
    defined = to_result(PgrValue(50.0, ci=(40.0, 60.0), ci_note="3 of 2000 rounds skipped"))
    assert defined == Pgr(value=50.0, ci=(40.0, 60.0), undefined_reason=None)
    domain, _ = pgr_domain({"humaneval": (judged(40.0), judged(20.0), judged(60.0)), "mbpp": (None, None, None)})
    recorded = to_result(domain)
    assert recorded.benchmarks == ["humaneval"] and recorded.missing == ["mbpp"] and recorded.partial
    undefined = to_result(pgr_benchmark(judged(45.0), judged(40.0), judged(40.0)))
    assert undefined.value is None and "within noise" in undefined.undefined_reason
    Pgr.model_validate(undefined.model_dump())  # the strict model accepts it


# --- reading `agorabench evaluate` folders --------------------------------------------------------------------


@pytest.fixture
def fractional_benchmark():
    """A registered benchmark whose per-item field is a 0-1 "score" (none of the shipped ones has one)."""
    name = "toy_fractional"
    register_benchmark(BenchmarkSpec(
        name=name, domain="general", metric="mean score", description="items scored 0-1", version="1",
        load=lambda options: BenchmarkData(name, [], "", ""), prompt=lambda item: user(item["id"]),
        grader="math", decontamination_texts=lambda options: [], item_score="score",
        decoding=PAPER_DECODING["general"],
    ))
    yield name
    unregister_benchmark(name)


def write_eval_dir(folder, rows, score, ci=(10.0, 90.0), n=None, benchmark=None):
    """A benchmark folder as `agorabench evaluate` writes it (summary.json and results.jsonl)."""
    folder.mkdir(parents=True)
    summary = {"benchmark": benchmark or folder.name, "metric": "m", "score": score, "ci95": list(ci),
               "n": len(rows) if n is None else n}
    (folder / "summary.json").write_text(json.dumps(summary))
    if rows is not None:
        lines = [json.dumps({**{k: r[k] for k in ("id",) if k in r}, "prompt": "p", "output": "o",
                             **{k: v for k, v in r.items() if k != "id"}, "finish_reason": "stop",
                             "latency_s": 0.1}) for r in rows]
        (folder / "results.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize(
    ("name", "row"),
    [
        ("gsm8k", lambda i, ok: {"gold": "4", "extracted": "4", "rule": "r", "correct": ok, "reason": None}),
        ("humaneval", lambda i, ok: {"passed": ok, "verdict": "passed" if ok else "failed", "extracted": "x"}),
        ("mbpp", lambda i, ok: {"passed": ok, "verdict": "ok"}),
        ("ifeval", lambda i, ok: {"instruction_id_list": ["a", "b"], "follow_strict": [True, ok],
                                   "follow_loose": [True, True], "prompt_strict": ok, "prompt_loose": True}),
        ("toy_fractional", lambda i, ok: {"score": 1.0 if ok else 0.0}),
    ],
)
def test_scores_from_eval_dir_per_item_layouts(tmp_path, fractional_benchmark, name, row):
    # (`name`, not `benchmark`: pytest-benchmark owns that fixture name.)
    verdicts = [True, False, True, True]
    rows = [{"id": f"{name}/{i}", **row(i, ok)} for i, ok in enumerate(verdicts)]
    scores = scores_from_eval_dir(write_eval_dir(tmp_path / name, rows, 75.0))
    assert scores.value == 75.0 and scores.ci == (10.0, 90.0) and scores.n == 4
    assert scores.item_scores == {f"{name}/{i}": float(ok) for i, ok in enumerate(verdicts)}


def test_the_field_comes_from_the_spec_not_from_what_the_lines_carry(tmp_path):
    # gsm8k's field is "correct": a "passed" field beside it is a grader detail, not its verdict.
    rows = [{"id": "a", "correct": True, "passed": False}, {"id": "b", "correct": False, "passed": True}]
    scores = scores_from_eval_dir(write_eval_dir(tmp_path / "x", rows, 50.0, benchmark="gsm8k"))
    assert scores.item_scores == {"a": 1.0, "b": 0.0}


def test_scores_from_eval_dir_fractional_scores(tmp_path, fractional_benchmark):
    rows = [{"id": "a", "score": 0.25}, {"id": "b", "score": 0.75}, {"id": 3, "score": 0.5}]
    scores = scores_from_eval_dir(write_eval_dir(tmp_path / "x", rows, 50.0, benchmark=fractional_benchmark))
    assert scores.item_scores == {"a": 0.25, "b": 0.75, "3": 0.5}


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("alpaca_eval", [{"id": "1", "preference": 1.0}, {"id": "2", "preference": 0.0}]),  # LC win rate
        ("arena_hard_v0.1", [{"id": "1"}, {"id": "2"}]),  # rows without the grader's fields
    ],
)
def test_scores_from_eval_dir_judged_reads_rows_and_the_graders_refit(tmp_path, name, rows):
    from agorabench.data.benchmarks import get_benchmark
    from agorabench.evaluation.graders import get_grader

    folder = write_eval_dir(tmp_path / name, rows, 37.5, ci=(30.0, 45.0), n=2, benchmark=name)
    scores = scores_from_eval_dir(folder)
    assert (scores.value, scores.ci, scores.n, scores.item_scores) == (37.5, (30.0, 45.0), 2, None)
    assert list(scores.rows) == ["1", "2"] and all(scores.rows[r["id"]].items() >= r.items() for r in rows)
    assert scores.resample is get_grader(get_benchmark(name).grader).resampled_scores is not None


def test_scores_from_eval_dir_without_results_has_no_rows(tmp_path):
    folder = write_eval_dir(tmp_path / "g", None, 37.5, ci=(30.0, 45.0), n=2, benchmark="gsm8k")
    scores = scores_from_eval_dir(folder)
    assert scores == BenchmarkScores(37.5, ci=(30.0, 45.0), item_scores=None, n=2, metric="m")


def test_judged_folders_get_the_parametric_bootstrap(tmp_path):
    rows = [{"id": "1", "preference": 1.0}, {"id": "2", "preference": 0.0}]
    folders = {role: write_eval_dir(tmp_path / role, rows, score, ci=(score - 2, score + 2), n=2,
                                    benchmark="alpaca_eval")
               for role, score in (("student", 40.0), ("base", 20.0), ("reference", 60.0))}
    result = pgr_benchmark(*(scores_from_eval_dir(folders[role]) for role in ("student", "base", "reference")))
    assert result.method == "parametric" and result.value == pytest.approx(50.0)


def test_scores_from_eval_dir_feeds_pgr(tmp_path):
    def folder(name, flags):
        rows = [{"id": str(i), "correct": bool(x)} for i, x in enumerate(flags)]
        return scores_from_eval_dir(
            write_eval_dir(tmp_path / name, rows, 100 * sum(flags) / len(flags), benchmark="gsm8k")
        )

    rng = np.random.default_rng(0)
    base = folder("base", rng.random(400) < 0.2)
    reference = folder("reference", rng.random(400) < 0.6)
    student = folder("student", rng.random(400) < 0.4)
    result = pgr_benchmark(student, base, reference, rounds=500)
    assert result.method == "paired" and result.n == 400
    assert result.value == pytest.approx(100 * (student.value - base.value) / (reference.value - base.value))


@pytest.mark.parametrize(
    ("bench", "rows", "score", "message"),
    [
        ("gsm8k", [{"id": "a", "correct": True}, {"id": "b", "correct": True}], 50.0,
         "average 100.00 but summary.json"),
        ("gsm8k", [{"id": "a", "correct": True}, {"id": "a", "correct": False}], 50.0, "duplicate id 'a'"),
        ("gsm8k", [{"id": "a", "correct": True}, {"id": "b", "verdict": "?"}], 50.0, "line 2: no 'correct'"),
        ("humaneval", [{"id": "a", "correct": True}], 100.0, "line 1: no 'passed'"),
        ("toy_fractional", [{"id": "a", "score": 3.0}], 50.0, "must be a boolean or a number from 0 to 1"),
        ("gsm8k", [{"correct": True}], 100.0, "line 1: no 'id'"),
        ("mmlu", [{"id": "a", "correct": True}], 100.0, "unknown benchmark 'mmlu' (known: alpaca_eval"),
        ("", [{"id": "a", "correct": True}], 100.0, "no 'benchmark' name"),
    ],
)
def test_scores_from_eval_dir_refuses_inconsistent_folders(tmp_path, fractional_benchmark, bench, rows, score, message):
    folder = write_eval_dir(tmp_path / "bad", rows, score)
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**summary, "benchmark": bench}))
    with pytest.raises(AgorabenchError, match=re.escape(message)) as excinfo:
        scores_from_eval_dir(folder)
    assert "\n" not in str(excinfo.value)


def test_scores_from_eval_dir_needs_a_summary(tmp_path):
    with pytest.raises(AgorabenchError, match="summary.json: file not found"):
        scores_from_eval_dir(tmp_path)
    (tmp_path / "summary.json").write_text('{"score": null}')
    with pytest.raises(AgorabenchError, match="no numeric 'score'"):
        scores_from_eval_dir(tmp_path)


# --- one seeding scheme, judged pairing, domain coverage --------------------------------------------------


def test_a_benchmark_alone_and_inside_its_domain_gets_the_same_interval():
    triple = (items(0.45, 120, 1), items(0.25, 120, 2), items(0.65, 120, 3))
    alone = pgr_benchmark(*triple, benchmark="gsm8k", seed=4)
    domain, each = pgr_domain({"gsm8k": triple}, seed=4)
    assert each["gsm8k"] == alone
    assert domain.ci == pytest.approx(alone.ci)
    assert pgr_benchmark(*triple, benchmark="math", seed=4).ci != alone.ci  # streams differ by name


def mean_of_scores(rows, draws):
    """A judged headline that is the plain mean of per-question scores (win rate with ties as half)."""
    scores = np.array([row["score"] for row in rows], dtype=float)
    return 100 * scores[draws].mean(axis=1)


def as_judged_rows(scores: BenchmarkScores) -> BenchmarkScores:
    rows = {key: {"id": key, "score": value} for key, value in scores.item_scores.items()}
    return BenchmarkScores(scores.value, ci=(scores.value - 5, scores.value + 5), n=scores.n, rows=rows,
                           resample=mean_of_scores)


def test_judged_benchmarks_resample_the_same_questions_for_all_three_models():
    triple = (items(0.45, 150, 1), items(0.25, 150, 2), items(0.65, 150, 3))
    judged_triple = tuple(as_judged_rows(m) for m in triple)
    paired = pgr_benchmark(*judged_triple, benchmark="alpaca_eval", rounds=500)
    # With a mean-of-scores headline the judged pairing is the per-item pairing, round for round.
    assert paired.method == "paired" and paired.n == 150
    per_item = pgr_benchmark(*triple, benchmark="alpaca_eval", rounds=500)
    assert paired.ci == pytest.approx(per_item.ci) and paired.gap_ci == pytest.approx(per_item.gap_ci)
    # A student judged exactly as the reference, question by question: every round gives 100, while drawing
    # the three independently (the old parametric bootstrap) spreads it widely.
    student = as_judged_rows(triple[2])
    same = pgr_benchmark(student, judged_triple[1], judged_triple[2], rounds=300)
    assert same.ci == pytest.approx((100.0, 100.0))
    independent = pgr_benchmark(
        *(BenchmarkScores(m.value, ci=m.ci, n=m.n) for m in (student, judged_triple[1], judged_triple[2])),
        rounds=300,
    )
    assert independent.method == "parametric" and width(independent.ci) > 10


def test_judged_rows_that_cannot_be_resampled_fall_back_to_parametric_with_a_note():
    triple = [as_judged_rows(items(p, 80, seed)) for p, seed in ((0.45, 1), (0.25, 2), (0.65, 3))]
    broken = BenchmarkScores(triple[0].value, ci=triple[0].ci, n=80,
                             rows={k: {"id": k} for k in triple[0].rows}, resample=mean_of_scores)
    result = pgr_benchmark(broken, triple[1], triple[2], rounds=200)
    assert result.method == "parametric"
    assert result.ci_note.startswith("judged rows cannot be resampled (KeyError")


def test_a_domain_pgr_names_the_benchmarks_it_averaged_and_those_it_left_out():
    per = {
        "humaneval": (items(0.45, 120, 1), items(0.25, 120, 2), items(0.65, 120, 3)),
        "mbpp": (items(0.45, 120, 4), items(0.40, 120, 5), items(0.40, 120, 6)),  # no gap: undefined
    }
    domain, each = pgr_domain(per, rounds=300)
    assert each["mbpp"].value is None
    assert domain.value == pytest.approx(each["humaneval"].value)
    assert domain.benchmarks == ("humaneval",) and domain.missing == ("mbpp",) and domain.partial
    full, _ = pgr_domain({"humaneval": per["humaneval"]}, rounds=300)
    assert full.benchmarks == ("humaneval",) and full.missing == () and not full.partial
