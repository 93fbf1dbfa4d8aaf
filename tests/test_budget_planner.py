"""`agorabench budget`: the planner's choices on hand-built run results, and the command as a user runs it."""

from __future__ import annotations

import itertools
import json
import math
import random
import subprocess

import pytest
from typer.testing import CliRunner

from agorabench.analysis import planner
from agorabench.analysis.planner import Estimate, Option, Point
from agorabench.cli import app
from agorabench.errors import ConfigError
from agorabench.results import (
    Cell,
    DataStats,
    GeneratorInfo,
    ModelScores,
    Pgr,
    RunResults,
    ScalingPoint,
    StudentInfo,
)
from conftest import REPO, cli_command

RG, IG, QE = "response_generation", "instance_generation", "quality_enhancement"


def pgr(value, low=None, high=None, reason=None) -> Pgr:
    if value is None:
        return Pgr(value=None, undefined_reason=reason)
    return Pgr(value=value, ci=(low, high))


def cell(generator, method, domain, instances, cost, curve, *, prompt=0, completion=0, acceptance=0.9,
         student="gemma", status="done", error=None, undefined=None) -> Cell:
    """A finished cell: `curve` is [(instances, value, low, high)], smallest first; its last point is the cell."""
    scaling = [
        ScalingPoint(instances=n, status="done", cost_usd=round(cost / instances * n, 6), domain_pgr=pgr(v, lo, hi))
        for n, v, lo, hi in curve
    ] if len(curve) > 1 else []
    last = pgr(None, reason=undefined) if undefined else pgr(*curve[-1][1:])
    return Cell(
        generator=generator, method=method, domain=domain, student=student, status=status, error=error,
        data=DataStats(requested=instances + 20, instances=instances, failed=20, acceptance_rate=acceptance,
                       prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost),
        domain_pgr=None if status != "done" else last, scaling=scaling,
    )


def results() -> RunResults:
    """Three generators (gpt-4o in batch mode, gpt-4o-mini, a free local Llama), three settings, two students."""
    base = ModelScores(label="Gemma 3 270M (base)", model="google/gemma-3-270m")
    ref = ModelScores(label="reference", model="google/gemma-3-270m-it")
    cells = [
        # RG/general: gpt-4o and gpt-4o-mini overlap; the free Llama is clearly behind.
        cell("gpt-4o", RG, "general", 1000, 3.75, [(250, 20.0, 14.0, 26.0), (1000, 30.0, 24.0, 36.0)],
             prompt=400_000, completion=500_000, acceptance=0.8),
        cell("gpt-4o-mini", RG, "general", 1000, 0.30, [(250, 18.0, 12.0, 24.0), (1000, 27.0, 21.0, 33.0)],
             prompt=420_000, completion=480_000),
        cell("llama-3.1-8b-instruct", RG, "general", 1000, 0.0, [(250, 8.0, 3.0, 13.0), (1000, 12.0, 6.0, 18.0)],
             prompt=300_000, completion=450_000, acceptance=0.9),
        # IG/math: gpt-4o measured once; gpt-4o-mini has a 3-point curve; Llama's PGR is undefined.
        cell("gpt-4o", IG, "math", 838, 6.81, [(838, 4.3, -2.7, 11.3)], prompt=586_600, completion=335_200),
        cell("gpt-4o-mini", IG, "math", 1000, 0.55,
             [(100, 2.0, -5.0, 9.0), (400, 8.0, 3.0, 13.0), (1000, 15.0, 10.0, 20.0)],
             prompt=600_000, completion=350_000),
        cell("llama-3.1-8b-instruct", IG, "math", 1000, 0.0, [(1000, 0.0, 0.0, 0.0)],
             prompt=500_000, completion=300_000, undefined="reference gap within noise (CI includes 0)"),
        # QE/code: the free Llama wins outright; gpt-4o-mini failed.
        cell("gpt-4o", QE, "code", 500, 3.0, [(100, 5.0, 1.0, 9.0), (500, 9.0, 5.0, 12.5)],
             prompt=250_000, completion=180_000),
        cell("gpt-4o-mini", QE, "code", 500, 0.2, [(500, 3.0, 0.0, 6.0)], status="failed",
             error="train: CUDA out of memory"),
        cell("llama-3.1-8b-instruct", QE, "code", 500, 0.0, [(500, 16.0, 13.0, 19.0)],
             prompt=200_000, completion=150_000, acceptance=0.5),
        # The second student ranks RG/general the other way round.
        cell("gpt-4o", RG, "general", 1000, 3.75, [(1000, 10.0, 6.0, 14.0)], student="smol"),
        cell("gpt-4o-mini", RG, "general", 1000, 0.30, [(1000, 35.0, 30.0, 40.0)], student="smol"),
    ]
    return RunResults(
        name="fixture", created_at="2026-12-01T00:00:00+00:00", student_base="google/gemma-3-270m",
        recipe="agorabench", benchmarks={"general": ["ifeval"], "math": ["gsm8k"], "code": ["humaneval"]},
        base=base, reference=ref,
        generators=[
            GeneratorInfo(name="gpt-4o", model="gpt-4o", backend="openai", price_input_per_mtok=1.25,
                          price_output_per_mtok=5.0, cost_usd=13.56),
            GeneratorInfo(name="gpt-4o-mini", model="gpt-4o-mini", backend="openai", price_input_per_mtok=0.15,
                          price_output_per_mtok=0.6, cost_usd=1.05),
            GeneratorInfo(name="llama-3.1-8b-instruct", model="meta-llama/Llama-3.1-8B-Instruct", backend="vllm"),
        ],
        cells=cells,
        students=[
            StudentInfo(name="gemma", base_model="google/gemma-3-270m", recipe="agorabench", base=base, reference=ref),
            StudentInfo(name="smol", base_model="HuggingFaceTB/SmolLM2-135M", recipe="agorabench", base=base,
                        reference=ref),
        ],
        scaling=[250, 1000],
    )


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "results.json").write_text(results().model_dump_json(indent=1))
    return folder


def recommendation(result, setting):
    return next(r for r in result["recommendations"] if r["setting"] == setting)


# ------------------------------------------------------------------------------------------------ choices


def test_the_free_generator_that_wins_is_recommended_and_said_free(run_dir):
    result = planner.plan_budget(run_dir, 10.0)
    qe = recommendation(result, "QE/code")
    assert qe["generator"] == "llama-3.1-8b-instruct" and qe["cost_usd"] == 0.0 and qe["instances"] == 500
    assert qe["expected_pgr"] == {"value": 16.0, "ci": [13.0, 19.0]} and qe["estimate"] == "measured"
    assert qe["cannot_separate_from"] == []  # gpt-4o's [5, 12.5] stays below [13, 19]
    basis = {g["generator"]: g["basis"] for g in result["generators"]}
    assert basis == {"gpt-4o": "measured", "gpt-4o-mini": "measured", "llama-3.1-8b-instruct": "free"}
    assert any("llama-3.1-8b-instruct: no price" in n and "counted as free" in n for n in result["notes"])
    # gpt-4o's measured cost is at batch prices (half the list price), and the plan says so.
    assert any("gpt-4o: measured at batch prices" in n for n in result["notes"])
    # The failed cell is named, not planned.
    assert any("gpt-4o-mini: not planned: status failed: train: CUDA out of memory" == n for n in qe["notes"])


def test_the_cheaper_of_two_measured_generators_wins_when_it_recovers_more():
    options = [Option("big", "RG/math", [Point(1000, 20.0, (15.0, 25.0))], 0.01),
               Option("small", "RG/math", [Point(1000, 30.0, (25.0, 35.0))], 0.001)]
    result = planner.plan_setting(options, budget=100.0)
    assert result["generator"] == "small" and result["choice"].cost_usd == pytest.approx(1.0)
    # CIs that touch ([25, 35] and [15, 25]) are not separated; ones that do not are.
    assert [e.generator for e in result["alternatives"]] == ["big"]
    options[0] = Option("big", "RG/math", [Point(1000, 20.0, (15.0, 24.9))], 0.01)
    assert planner.plan_setting(options, budget=100.0)["alternatives"] == []


def test_a_best_choice_that_does_not_help_says_so_and_the_mix_skips_it():
    options = [Option("g", "RG/math", [Point(1000, -4.0, (-9.0, 1.0))], 0.0)]
    result = planner.plan_setting(options, budget=1.0)
    assert result["generator"] == "g" and any("not expected to help" in n for n in result["notes"])
    inputs = planner.PlanInput("t.csv", "csv", None, ["RG/math"], options, [])
    mix = planner.plan(inputs, 1.0)["mix"]
    assert mix["settings"] == [] and mix["left_out"][0]["reason"].startswith("no affordable choice with a positive")


def test_a_budget_that_buys_only_the_smaller_measured_size(run_dir):
    # gpt-4o on RG/general costs $0.00375 an instance: $0.9375 buys exactly its 250-instance point.
    inputs = planner.load_plan_input(run_dir)
    gpt4o = next(o for o in inputs.options if o.generator == "gpt-4o" and o.setting == "RG/general")
    assert gpt4o.cost_per_instance == pytest.approx(3.75 / 1000)
    estimate, _ = planner._best_of_option(gpt4o, 250 * 3.75 / 1000, None)
    assert (estimate.instances, estimate.basis, estimate.value, estimate.ci) == (250, "measured", 20.0, (14.0, 26.0))
    # Too little for the smallest measured size: no estimate, and the reason says what it would cost.
    estimate, why = planner._best_of_option(gpt4o, 0.5, None)
    assert estimate is None and "buys 133 instances" in why and "250" in why and "$0.94" in why


def test_between_two_sizes_pgr_is_interpolated_in_log_size(run_dir):
    # $2 buys 533 instances of gpt-4o on RG/general (250 -> 20.0 [14, 26], 1000 -> 30.0 [24, 36]).
    inputs = planner.load_plan_input(run_dir)
    gpt4o = next(o for o in inputs.options if o.generator == "gpt-4o" and o.setting == "RG/general")
    estimate, _ = planner._best_of_option(gpt4o, 2.0, None)
    t = math.log(533 / 250) / math.log(1000 / 250)
    assert estimate.instances == 533 and estimate.basis == "interpolated"
    assert estimate.value == pytest.approx(20 + 10 * t) and estimate.ci == pytest.approx((14 + 10 * t, 26 + 10 * t))
    assert estimate.value > 20 + 10 * (533 - 250) / 750 + 1  # not linear in instances: log size rises early
    assert estimate.cost_usd == pytest.approx(533 * 0.00375) and estimate.cost_usd <= 2.0
    assert "interpolated between 250 and 1,000" in estimate.note


def test_beyond_the_largest_size_pgr_is_flat_and_flagged_extrapolated(run_dir):
    result = planner.plan_budget(run_dir, 100.0, instances=4000)
    rg = recommendation(result, "RG/general")
    assert rg["generator"] == "gpt-4o" and rg["instances"] == 4000 and rg["estimate"] == "extrapolated"
    assert rg["expected_pgr"] == {"value": 30.0, "ci": [24.0, 36.0]} and rg["cost_usd"] == pytest.approx(15.0)
    assert any("extrapolated: not measured beyond 1,000" in n for n in rg["notes"])
    # Without --instances the plan stops at the largest measured size: more data buys no estimated PGR.
    rg = recommendation(planner.plan_budget(run_dir, 100.0), "RG/general")
    assert (rg["instances"], rg["estimate"]) == (1000, "measured")
    assert any("budget buys 26,666 instances; PGR is measured up to 1,000 only" in n for n in rg["notes"])


def test_instances_n_prices_n_of_each_generator_and_takes_the_best_affordable(run_dir):
    # 400 instances on IG/math: gpt-4o (smallest size 838) cannot be estimated, gpt-4o-mini is measured there.
    ig = recommendation(planner.plan_budget(run_dir, 1.0, instances=400), "IG/math")
    assert (ig["generator"], ig["instances"], ig["estimate"]) == ("gpt-4o-mini", 400, "measured")
    assert ig["cost_usd"] == pytest.approx(400 * 0.00055)
    assert any("gpt-4o: not measured below 838" in n for n in ig["notes"])
    # 900 of gpt-4o cost $7.31: over a $5 budget, so gpt-4o-mini's interpolated 900 is the plan.
    ig = recommendation(planner.plan_budget(run_dir, 5.0, instances=900), "IG/math")
    assert ig["generator"] == "gpt-4o-mini" and ig["estimate"] == "interpolated"
    assert any(n.startswith("gpt-4o: 900 instances cost $7.31") and "over the budget" in n for n in ig["notes"])


def test_an_undefined_pgr_is_never_recommended(run_dir):
    for budget, instances in [(0.01, None), (10.0, None), (1000.0, None), (1000.0, 1000)]:
        result = planner.plan_budget(run_dir, budget, instances=instances)
        ig = recommendation(result, "IG/math")
        assert ig["generator"] != "llama-3.1-8b-instruct"
        assert all(e["generator"] != "llama-3.1-8b-instruct" for e in ig["cannot_separate_from"])
        assert all(not (e["setting"] == "IG/math" and e["generator"] == "llama-3.1-8b-instruct")
                   for e in result["mix"]["settings"])
        assert any("llama-3.1-8b-instruct: not planned: PGR undefined: reference gap within noise" in n
                   for n in ig["notes"])


def test_overlapping_cis_are_reported_as_not_separated_naming_both(run_dir):
    rg = recommendation(planner.plan_budget(run_dir, 10.0), "RG/general")
    assert rg["generator"] == "gpt-4o" and rg["expected_pgr"]["value"] == 30.0
    assert [e["generator"] for e in rg["cannot_separate_from"]] == ["gpt-4o-mini"]  # Llama's [6, 18] is apart
    line = next(n for n in rg["notes"] if n.startswith("cannot separate"))
    assert "gpt-4o (1,000 instances, $3.75, PGR 30.0 [24.0, 36.0])" in line
    assert "gpt-4o-mini (1,000 instances, $0.30, PGR 27.0 [21.0, 33.0])" in line and "gpt-4o-mini costs less" in line


def test_price_makes_a_free_generator_cost_its_measured_tokens(run_dir):
    free = planner.plan_budget(run_dir, 10.0)
    priced = planner.plan_budget(run_dir, 10.0, prices={"llama-3.1-8b-instruct": (0.2, 0.6)})
    assert recommendation(free, "QE/code")["cost_usd"] == 0.0
    # 200k prompt + 150k completion tokens over 500 instances at an acceptance rate of 0.5 (rejected samples).
    expected = (200_000 * 0.2 + 150_000 * 0.6) / 1e6 / 500 / 0.5 * 500
    qe = recommendation(priced, "QE/code")
    assert qe["generator"] == "llama-3.1-8b-instruct" and qe["cost_usd"] == pytest.approx(expected, rel=1e-4)
    basis = {g["generator"]: g for g in priced["generators"]}["llama-3.1-8b-instruct"]
    assert basis["basis"] == "price" and basis["price_output_per_mtok"] == 0.6
    assert not any("counted as free" in n for n in priced["notes"])
    # A price dear enough takes Llama out of a small budget.
    dear = planner.plan_budget(run_dir, 0.5, prices={"llama-3.1-8b-instruct": (50.0, 50.0)})
    assert recommendation(dear, "QE/code")["generator"] is None


def test_the_student_is_chosen_and_named(run_dir):
    first = planner.plan_budget(run_dir, 10.0)
    assert first["source"]["student"] == "gemma"
    assert any("PGR of student gemma (base google/gemma-3-270m)" in n and "2 students" in n for n in first["notes"])
    smol = planner.plan_budget(run_dir, 10.0, student="smol")
    assert [r["setting"] for r in smol["recommendations"]] == ["RG/general"]
    assert recommendation(smol, "RG/general")["generator"] == "gpt-4o-mini"
    assert any("PGR of student smol (base HuggingFaceTB/SmolLM2-135M)" in n for n in smol["notes"])


# ------------------------------------------------------------------------------------------------ the mix


def brute_force(candidates: dict[str, list[Estimate]], budget: float) -> float:
    best = 0.0
    for picks in itertools.product(*[[None, *c] for c in candidates.values()]):
        chosen = [p for p in picks if p is not None]
        if sum(p.cost_usd for p in chosen) <= budget + 1e-9:
            best = max(best, sum(p.value for p in chosen))
    return best


@pytest.mark.parametrize("budget", [0.5, 1.0, 2.0, 4.0, 7.0, 12.0])
def test_the_mix_is_the_best_under_the_total_budget(run_dir, budget):
    inputs = planner.load_plan_input(run_dir)
    candidates = planner.mix_candidates(inputs.options, budget)
    candidates = {s: candidates.get(s, []) for s in inputs.settings}
    value, cost, picks = planner.best_mix(candidates, budget)
    assert value == pytest.approx(brute_force(candidates, budget)) and cost <= budget + 1e-9
    assert len({p.setting for p in picks}) == len(picks) and sum(p.value for p in picks) == pytest.approx(value)
    mix = planner.plan(inputs, budget)["mix"]
    assert mix["sum_pgr"] == pytest.approx(value, abs=1e-3) and mix["cost_usd"] <= budget + 1e-6
    assert mix["mean_pgr"] == pytest.approx(value / 3, abs=1e-3)


def test_the_mix_spends_where_pgr_per_dollar_is_best(run_dir):
    # $1 in all: Llama's free QE/code, gpt-4o-mini's full RG/general ($0.30) and its 1,000 IG/math ($0.55); gpt-4o's
    # better RG/general ($3.75) does not fit.
    mix = planner.plan_budget(run_dir, 1.0)["mix"]
    picks = {e["setting"]: (e["generator"], e["instances"]) for e in mix["settings"]}
    assert picks == {"QE/code": ("llama-3.1-8b-instruct", 500), "RG/general": ("gpt-4o-mini", 1000),
                     "IG/math": ("gpt-4o-mini", 1000)}
    assert mix["cost_usd"] == pytest.approx(0.85) and mix["sum_pgr"] == pytest.approx(16 + 27 + 15)


def test_best_mix_matches_brute_force_on_random_options():
    rng = random.Random(7)
    for _ in range(40):
        candidates = {
            f"S{s}": [Estimate(f"g{g}", f"S{s}", 100, round(rng.uniform(0, 5), 2), round(rng.uniform(-10, 40), 1),
                               None, "measured") for g in range(rng.randint(0, 4))]
            for s in range(rng.randint(1, 4))
        }
        budget = rng.uniform(0.5, 10)
        value, cost, picks = planner.best_mix(candidates, budget)
        assert value == pytest.approx(brute_force(candidates, budget)) and cost <= budget + 1e-9


# ------------------------------------------------------------------------------------------------ the command


def run_process(*args: str) -> subprocess.CompletedProcess:
    """The command as a user runs it (a new Python process: what a traceback would reach)."""
    return subprocess.run(cli_command("budget", *args), capture_output=True, text=True, timeout=120, cwd=REPO)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The command in this process (typer's CliRunner; starting a process per case takes ~4 s here)."""
    result = CliRunner().invoke(app, ["budget", *args])
    # Anything but a clean exit (an exception the CLI's error wrapper let through) fails the test here.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def test_cli_prints_the_plan_and_writes_the_json(run_dir, tmp_path):
    out = tmp_path / "plan" / "budget.json"
    proc = run_process(str(run_dir), "--budget", "5", "--json", str(out),
                   "--price", "llama-3.1-8b-instruct=0.2,0.6")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(out.read_text())
    assert [r["setting"] for r in plan["recommendations"]] == ["IG/math", "RG/general", "QE/code"]
    for rec in plan["recommendations"]:
        assert {"setting", "generator", "instances", "cost_usd", "expected_pgr", "estimate",
                "cannot_separate_from", "notes"} <= set(rec)
    assert plan["mix"]["settings"] and plan["mix"]["cost_usd"] <= 5 and plan["budget_usd"] == 5.0
    assert "per setting" in proc.stdout and "best mix for $5.00 in all" in proc.stdout
    assert "PGR of student gemma" in proc.stdout and "priced by --price" in proc.stdout
    assert f"json: {out}" in proc.stdout


def test_cli_plans_from_a_csv_table(tmp_path):
    table = tmp_path / "published.csv"
    table.write_text(
        "generator,method,domain,pgr,problem_solving,cost_usd,instances,ci_low,ci_high\n"
        "gpt-4o,RG,math,20.0,76.6,5.00,1000,15.0,25.0\n"
        "gpt-4o-mini,RG,math,18.0,70.2,0.50,1000,13.0,23.0\n"
        "local,RG,math,5.0,50.0,,1000,1.0,9.0\n"
        "gpt-4o,IG,code,12.0,85.0,8.00,1000,9.0,15.0\n"
        "gpt-4o-mini,IG,code,,80.1,0.60,1000,,\n"
    )
    out = tmp_path / "plan.json"
    proc = run_cli(str(table), "--budget", "2", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(out.read_text())
    rg, ig = recommendation(plan, "RG/math"), recommendation(plan, "IG/code")
    assert rg["generator"] == "gpt-4o-mini" and rg["cost_usd"] == pytest.approx(0.5)  # gpt-4o costs $5: over $2
    assert rg["expected_pgr"] == {"value": 18.0, "ci": [13.0, 23.0]}
    assert ig["generator"] is None and any("pgr is empty" in n for n in ig["notes"])
    assert any("local: no cost_usd in the table: counted as free" in n for n in plan["notes"])
    assert plan["source"]["kind"] == "csv"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--budget", "0"], "--budget must be a positive number"),
        (["--budget", "-3"], "--budget must be a positive number"),
        (["--budget", "lots"], "--budget 'lots' is not a number"),
        (["--budget", "nan"], "--budget must be a positive number"),
        (["--budget", "5", "--student", "nobody"],
         "--student 'nobody' is not a student of this run (students: gemma, smol)"),
        (["--budget", "5", "--price", "llama-3.1-8b-instruct"], "expected NAME=INPUT,OUTPUT"),
        (["--budget", "5", "--price", "llama-3.1-8b-instruct=0.2"], "expected NAME=INPUT,OUTPUT"),
        (["--budget", "5", "--price", "llama-3.1-8b-instruct=a,b"], "expected NAME=INPUT,OUTPUT"),
        (["--budget", "5", "--price", "=0.2,0.2"], "expected NAME=INPUT,OUTPUT"),
        (["--budget", "5", "--price", "llama-3.1-8b-instruct=-1,2"], "expected NAME=INPUT,OUTPUT"),
        (["--budget", "5", "--price", "nobody=1,2"], "no generator 'nobody' in this run"),
        (["--budget", "5", "--instances", "0"], "--instances must be a positive whole number"),
    ],
)
def test_cli_bad_flags_are_one_line(run_dir, tmp_path, args, expected):
    out = tmp_path / "plan.json"
    proc = run_cli(str(run_dir), *args, "--json", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and expected in proc.stderr, proc.stderr
    assert proc.stdout == "" and not out.exists()


def test_cli_budget_below_one_instance_of_everything_names_the_cheapest(tmp_path):
    priced = results()
    priced.cells = [c for c in priced.cells if c.generator != "llama-3.1-8b-instruct"]
    (tmp_path / "results.json").write_text(priced.model_dump_json())
    proc = run_process(str(tmp_path / "results.json"), "--budget", "0.0002")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    # gpt-4o-mini on RG/general: $0.30 for 1,000 instances, the cheapest per instance.
    assert "below the cost of one instance of every choice: the cheapest is gpt-4o-mini on RG/general, $0.0003" \
        in proc.stderr
    # One instance is affordable but no measured size is: one line too, naming the cheapest measured dataset.
    proc = run_cli(str(tmp_path / "results.json"), "--budget", "0.01")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "buys no size whose PGR was measured: the cheapest is gpt-4o-mini on IG/math, 100 instances for $0.06" \
        in proc.stderr


def test_cli_student_and_price_do_not_apply_to_a_csv(tmp_path):
    table = tmp_path / "published.csv"
    table.write_text("generator,method,domain,pgr,problem_solving,cost_usd,instances\ng,RG,math,20,70,1,1000\n")
    for flags, expected in [(["--student", "s"], "a CSV table has no students"),
                            (["--price", "g=1,2"], "a CSV table has no token counts to price")]:
        proc = run_cli(str(table), "--budget", "5", *flags)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and expected in proc.stderr
    proc = run_cli(str(table), "--budget", "5")
    assert proc.returncode == 0 and "the table has no CIs" in proc.stdout


@pytest.mark.parametrize("what", ["missing", "empty folder", "not json", "not results", "bad csv"])
def test_cli_unreadable_run_is_one_line(tmp_path, what):
    target = {"missing": tmp_path / "nowhere", "empty folder": tmp_path, "not json": tmp_path / "results.json",
              "not results": tmp_path / "results.json", "bad csv": tmp_path / "t.csv"}[what]
    if what == "not json":
        target.write_text("{ this is not json")
    elif what == "not results":
        target.write_text(json.dumps({"name": "x"}))
    elif what == "bad csv":
        target.write_bytes(b"\xff\xfe\x00garbage")
    proc = run_cli(str(target), "--budget", "5")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(target.name) in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_parse_price_and_budget_accept_the_documented_forms():
    assert planner.parse_price("my-llama=0.2,0.6") == ("my-llama", 0.2, 0.6)
    assert planner.parse_budget("$20") == 20.0 and planner.parse_instances("10,000") == 10_000
    with pytest.raises(ConfigError):
        planner.parse_budget("inf")
