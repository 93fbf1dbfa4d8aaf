"""Beyond the paper (issue 15): data-scaling curves and several students in `agorabench run` (config, plan,
nested subsets, Kendall's tau of the students' rankings, results), and their bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from agorabench.cli import app
from agorabench.errors import ConfigError
from agorabench.metrics.agreement import CellPgr, flipped_pairs, kendall_tau, rank_agreement
from agorabench.metrics.pgr import BenchmarkScores, pgr_domain, pgr_domain_draws
from agorabench.pipeline.config import RunConfig, load_run_config, profile_config
from agorabench.pipeline.plan import build_plan
from agorabench.training.data import DatasetError, nested_subset

TWO_STUDENTS = [
    {"base": "smollm2-135m-instruct", "recipe": "tiny", "name": "smollm2"},
    {"base": "gemma-3-270m", "recipe": "tiny", "name": "gemma"},
]


def tiny(**overrides) -> RunConfig:
    return profile_config("tiny", **overrides)


# --- config -----------------------------------------------------------------------------------------


def test_scaling_sizes_are_sorted_and_end_with_the_dataset():
    config = tiny(instances=10, scaling=[5, 2, 5, 10])
    assert config.scaling == [2, 5, 10] and config.data_sizes() == [2, 5, 10]
    # A largest size below the dataset: the dataset itself is still the last point.
    assert tiny(instances=10, scaling=[4]).data_sizes() == [4, 10]
    assert tiny(instances=10).data_sizes() == [10]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instances": 10, "scaling": [5, 20]}, r"scaling: size 20 is above the dataset \(10 instances\)"),
        ({"scaling": [0, 2]}, "sizes must be at least 1"),
        ({"students": [{"base": "smollm2-135m-instruct"}, {"base": "smollm2-135m-instruct", "recipe": "tiny"}]},
         "two students are named 'smollm2-135m-instruct'"),
        ({"students": []}, "students"),
    ],
)
def test_bad_scaling_and_students_are_one_line_errors(tmp_path, overrides, message):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"profile": "tiny", **overrides}))
    with pytest.raises(ConfigError, match=message) as info:
        load_run_config(path)
    assert "\n" not in str(info.value)
    # The command: one line on stderr, a non-zero exit, nothing run (no run folder).
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(path), "-o", str(out)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert not out.exists()


def test_student_and_students_one_form_each_and_written_back_as_given(tmp_path):
    one = tiny()
    assert one.students == [one.student] and [s.label for s in one.students] == ["smollm2-135m-instruct"]
    assert "students" not in one.model_dump(mode="json")
    several = tiny(students=TWO_STUDENTS)  # a file's `students` replaces its profile's `student`
    assert [s.label for s in several.students] == ["smollm2", "gemma"] and several.student.base == "smollm2-135m-instruct"
    dumped = several.model_dump(mode="json")
    assert "student" not in dumped and len(dumped["students"]) == 2
    for config in (one, several):  # config.yaml as a run writes it loads back to the same config
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        assert load_run_config(path) == config
    with pytest.raises(ValueError, match="not both"):
        RunConfig.model_validate({**one.model_dump(mode="json"), "students": TWO_STUDENTS})
    assert profile_config("agorabench", students=[{"base": "meta-llama/Llama-3.1-8B"}]).students[0].label == "Llama-3.1-8B"


# --- plan ---------------------------------------------------------------------------------------------


def test_plan_shares_each_dataset_and_gives_each_student_its_own_base_reference_and_sizes():
    one = build_plan(tiny(instances=8))
    plan = build_plan(tiny(instances=8, scaling=[2, 4, 8], students=TWO_STUDENTS,
                           generators=["smollm2-135m-instruct", "gemma-3-270m"]))
    assert [s.name for s in plan.students] == ["smollm2", "gemma"]
    assert len(plan.cells) == 2 * 2  # generators x students (one setting)
    kinds = [s.kind for s in plan.stages()]
    # one dataset per generator, shared by both students
    assert kinds.count("generate") == 2 and len({c.generate.key for c in plan.cells}) == 2
    # per student: gold reference training + per cell 3 sizes
    assert kinds.count("train") == 2 * (1 + 2 * 3)
    for cell in plan.cells:
        assert [p.instances for p in cell.scaling] == [2, 4]
        for point in cell.scaling:
            assert point.train.params["subset"] == {"size": point.instances, "seed": 42}
            assert point.train.needs["data"] is cell.generate
            assert point.train.params["base"] == cell.train.params["base"]
        assert "subset" not in cell.train.params  # the whole dataset: the key a one-size run has
    smollm2, gemma = plan.students
    assert smollm2.base["ifeval"].key != gemma.base["ifeval"].key
    assert gemma.reference_training["general"].params["base"] == "gemma-3-270m"
    # The first student's stages keep the keys of the same run with one student and no scaling.
    first_cell = next(c for c in plan.cells if c.student == "smollm2" and c.generator == "smollm2-135m-instruct")
    assert first_cell.train.key == one.cells[0].train.key
    assert smollm2.base["ifeval"].key == one.base["ifeval"].key
    assert smollm2.reference["ifeval"].key == one.reference["ifeval"].key


def test_a_shared_reference_model_across_students_is_noted():
    config = profile_config("agorabench", students=[
        {"base": "meta-llama/Llama-3.1-8B", "recipe": "agorabench", "launch": "fsdp", "num_processes": 4},
        {"base": "Qwen/Qwen2.5-7B", "recipe": "agorabench", "launch": "fsdp", "num_processes": 4,
         "reference": "Qwen/Qwen2.5-7B-Instruct"},
    ])
    plan = build_plan(config)
    llama, qwen = plan.students
    assert llama.reference_model == "meta-llama/Llama-3.1-8B-Instruct"
    assert qwen.reference_model == "Qwen/Qwen2.5-7B-Instruct"
    assert not any("share the reference" in n for n in plan.notes)
    shared = build_plan(profile_config("agorabench", students=[
        {"base": "meta-llama/Llama-3.1-8B"}, {"base": "Qwen/Qwen2.5-7B"}]))
    assert any("share the reference meta-llama/Llama-3.1-8B-Instruct" in n for n in shared.notes)


def test_dry_run_lists_students_and_sizes_and_counts_each_dataset_once(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"profile": "tiny", "instances": 8, "scaling": [4], "students": TWO_STUDENTS}))
    result = CliRunner().invoke(app, ["run", str(path), "--dry-run", "-o", str(tmp_path / "r"),
                                      "--json", str(tmp_path / "plan.json")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "students: smollm2 (smollm2-135m-instruct)" in text and "gemma (gemma-3-270m)" in text
    assert "first 4 records" in text
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert len(plan["datasets"]) == 1  # one generator x one setting, whatever the students


# --- nested subsets ------------------------------------------------------------------------------------


def test_nested_subsets_are_prefixes_of_one_seeded_order(tmp_path):
    rows = [{"id": f"r{i:03d}", "instruction": f"q{i}", "response": f"a{i}"} for i in range(20)]
    one, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    one.write_text("".join(json.dumps(r) + "\n" for r in rows))
    other.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))  # another completion order
    small, large = nested_subset(one, 5, seed=42), nested_subset(one, 12, seed=42)
    assert large[:5] == small and len(set(large)) == 12
    assert nested_subset(other, 12, seed=42) == large  # the order depends on the ids, not on the file
    assert nested_subset(one, 12, seed=1) != large
    assert sorted(nested_subset(one, 20, seed=42)) == sorted(one.read_text().splitlines())
    with pytest.raises(DatasetError, match="20 records, fewer than the 21"):
        nested_subset(one, 21, seed=42)


# --- Kendall's tau -------------------------------------------------------------------------------------


def test_kendall_tau_and_flips():
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert kendall_tau([1.0], [2.0]) is None and kendall_tau([1, 1, 1], [1, 2, 3]) is None
    assert flipped_pairs(["a", "b", "c"], [3, 2, 1], [3, 1, 2]) == [("b", "c")]


def _scores(values: list[float]) -> BenchmarkScores:
    items = {f"q{i}": v for i, v in enumerate(values)}
    return BenchmarkScores(100 * float(np.mean(values)), item_scores=items, n=len(values))


def test_domain_draws_pair_round_by_round_across_cells():
    rng = np.random.default_rng(0)
    base = _scores(list((rng.random(200) < 0.2).astype(float)))
    reference = _scores(list((rng.random(200) < 0.6).astype(float)))
    student = _scores(list((rng.random(200) < 0.4).astype(float)))
    value, _, draws = pgr_domain_draws({"ifeval": (student, base, reference)}, rounds=500, seed=3)
    assert value.value == pgr_domain({"ifeval": (student, base, reference)}, rounds=500, seed=3)[0].value
    assert draws.shape == (500,) and np.quantile(draws, 0.025) == pytest.approx(value.ci[0])
    # The same student again: the same items are resampled in every round, so the draws are identical.
    _, _, again = pgr_domain_draws({"ifeval": (student, base, reference)}, rounds=500, seed=3)
    np.testing.assert_array_equal(draws, again)


def test_rank_agreement_per_setting_and_overall_with_bootstrap_ci():
    rng = np.random.default_rng(1)

    def cell(value: float, spread: float = 5.0) -> CellPgr:
        return CellPgr(value, value + spread * rng.standard_normal(400))

    generators = ["g1", "g2", "g3"]
    a = {("RG/general", "g1"): cell(60), ("RG/general", "g2"): cell(40), ("RG/general", "g3"): cell(20),
         ("IG/general", "g1"): cell(50), ("IG/general", "g2"): cell(45), ("IG/general", "g3"): CellPgr(None)}
    b = {("RG/general", "g1"): cell(55), ("RG/general", "g2"): cell(35), ("RG/general", "g3"): cell(25),
         ("IG/general", "g1"): cell(30), ("IG/general", "g2"): cell(48), ("IG/general", "g3"): cell(10)}
    results = {r.scope: r for r in rank_agreement({"s1": a, "s2": b}, generators)}
    assert set(results) == {"RG/general", "IG/general", "overall"}
    rg = results["RG/general"]
    assert rg.tau == pytest.approx(1.0) and rg.flips == [] and rg.students == ("s1", "s2")
    assert rg.ci is not None and rg.ci[0] > 0  # separated PGRs: the order holds in the resampled rounds
    ig = results["IG/general"]  # g3 undefined for s1: not ranked
    assert ig.generators == ["g1", "g2"] and ig.tau == pytest.approx(-1.0) and ig.flips == [("g1", "g2")]
    overall = results["overall"]  # g3 has no IG/general PGR for s1: the mean is over RG/general, shared by all
    assert overall.generators == ["g1", "g2", "g3"]
    assert overall.tau == pytest.approx(1.0)
    noisy = rank_agreement({"s1": {("RG/general", "g1"): cell(50, 30), ("RG/general", "g2"): cell(49, 30)},
                            "s2": {("RG/general", "g1"): cell(50, 30), ("RG/general", "g2"): cell(49, 30)}},
                           ["g1", "g2"])[0]
    assert noisy.tau == pytest.approx(1.0) and noisy.ci[0] < 0  # the CI says the order is not settled
    lone = rank_agreement({"s1": {("RG/general", "g1"): cell(5)}, "s2": {("RG/general", "g1"): cell(5)}}, ["g1"])
    assert lone[0].tau is None and "fewer than two" in lone[0].note


# --- a real run (slow) ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_students_and_two_sizes_end_to_end(tmp_path):
    """Two generators behind the fake OpenAI-compatible server, each dataset trained at two sizes on two
    students (the embedded SmolLM2 with two recipes), then the report and the budget planner on the run."""
    from agorabench.pipeline.run import run_benchmark
    from agorabench.results import RunResults
    from agorabench.testing.fake_server import FakeServer

    recipe = tmp_path / "slow.yaml"
    recipe.write_text(yaml.safe_dump({"base": "tiny", "learning_rate": 1e-4}))
    answer = "1. Review your notes every day.\n2. Sleep well before the exam.\n3. Practise with past questions.\n[END]"
    with FakeServer(responder=lambda body: answer) as server:
        generators = [{"name": name, "backend": "openai", "model": "fake-model", "base_urls": [server.openai_base_url],
                       "max_concurrency": 4, "pricing": {"input_per_mtok": price, "output_per_mtok": 2 * price}}
                      for name, price in (("a", 1.0), ("b", 3.0))]
        config = RunConfig.model_validate({
            "profile": "tiny", "name": "beyond", "generators": generators, "settings": ["RG/general"],
            "instances": 2, "scaling": [1, 2],
            "generation": {"sampling": {"max_tokens": 64}, "token_budget": 256,
                           "engine": {"backoff_base_s": 0.01, "max_validation_retries": 1}},
            "students": [{"name": "s1", "base": "smollm2-135m-instruct", "recipe": "tiny"},
                         {"name": "s2", "base": "smollm2-135m-instruct", "recipe": str(recipe)}],
            "reference": {"gold": {"max_examples": 4}},
            "evaluation": {"benchmarks": {"general": ["ifeval"]}, "limit": 3, "max_tokens": 16},
        })
        outcome = run_benchmark(config, tmp_path / "run", progress=False)
    results = RunResults.model_validate_json((tmp_path / "run" / "results.json").read_text())
    assert [s.name for s in results.students] == ["s1", "s2"] and results.scaling == [1, 2]
    assert sorted((c.student, c.generator) for c in results.cells) == [("s1", "a"), ("s1", "b"), ("s2", "a"),
                                                                        ("s2", "b")]
    for cell in results.cells:
        assert cell.status == "done", cell.error
        assert [p.instances for p in cell.scaling] == [1, cell.data.instances] and cell.data.instances == 2
        small, whole = cell.scaling
        assert small.status == whole.status == "done" and small.domain_pgr is not None
        assert whole.cost_usd == cell.data.cost_usd > 0
        assert small.cost_usd == pytest.approx(cell.data.cost_usd / 2, abs=1e-6)
    # Each student against its own reference: s2 trained its own on the gold data.
    assert results.students[1].reference.label.endswith("trained on gold data (reference)")
    assert {p.scope for p in results.agreement.pairs} == {"response_generation/general", "overall"}
    assert all(p.students == ("s1", "s2") for p in results.agreement.pairs)
    assert outcome is not None
    report = (tmp_path / "run" / "report" / "report.md").read_text()
    assert "Data scaling" in report and "s2" in report
    # The budget planner reads the run, and with 3 IFEval items no PGR is defined: it says so in one line
    # (exit 2) rather than recommend a number the data does not support. (Plans on defined PGRs:
    # tests/test_budget_planner.py.)
    plan_json = tmp_path / "budget.json"
    pgrs = [c.domain_pgr.value for c in results.cells]
    result = CliRunner().invoke(app, ["budget", str(tmp_path / "run"), "--budget", "1", "--json", str(plan_json)])
    if all(value is None for value in pgrs):
        assert result.exit_code == 2 and "nothing to plan" in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1 and not plan_json.exists()
    else:
        assert result.exit_code == 0, result.output
        assert "recommendations" in json.loads(plan_json.read_text())


def test_analysis_of_a_run_with_several_students_uses_the_first_students_pgr(tmp_path):
    from agorabench.analysis.table import load_run
    from agorabench.results import RunResults

    scores = {"label": "x", "model": "x", "scores": {}}
    cells = [{"generator": g, "method": "response_generation", "domain": "general", "student": s, "status": "done",
              "data": {"requested": 8, "instances": 8}, "domain_pgr": {"value": v}}
             for s, g, v in (("s1", "a", 10.0), ("s1", "b", 20.0), ("s2", "a", 30.0), ("s2", "b", 40.0))]
    results = RunResults.model_validate({
        "name": "r", "created_at": "now", "student_base": "b1", "recipe": "tiny", "benchmarks": {"general": ["ifeval"]},
        "base": scores, "reference": scores, "generators": [{"name": "a", "model": "a", "backend": "openai"},
                                                             {"name": "b", "model": "b", "backend": "openai"}],
        "cells": cells,
        "students": [{"name": n, "base_model": n, "recipe": "tiny", "base": scores, "reference": scores}
                     for n in ("s1", "s2")],
    })
    path = tmp_path / "results.json"
    path.write_text(results.model_dump_json())
    table = load_run(path)
    assert sorted((r.generator, r.pgr) for r in table.rows) == [("a", 10.0), ("b", 20.0)]
    assert any("first of 2 students, s1: 2 cells of the others left out" in n for n in table.notes)
