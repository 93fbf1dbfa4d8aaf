"""`agorabench run`: configs and profiles, the plan, the artifact store, and real runs end to end
(generators behind the fake OpenAI-compatible server on 127.0.0.1; the student is the embedded SmolLM2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from typer.testing import CliRunner

from agorabench.cli import app
from agorabench.errors import ConfigError
from agorabench.pipeline.config import RunConfig, load_run_config, parse_setting, profile_config
from agorabench.pipeline.plan import build_plan
from agorabench.pipeline.store import ArtifactStore, stage_key
from agorabench.results import RunResults
from agorabench.testing.fake_server import FakeServer, Faults

RG_GENERAL = "1. Review your notes every day.\n2. Sleep well before the exam.\n3. Practise with past questions.\n[END]"


def fake_generator(name: str, url: str, model: str = "fake-model") -> dict:
    return {"name": name, "backend": "openai", "model": model, "base_urls": [url], "max_concurrency": 4}


def small_config(generators: list[dict], **overrides) -> RunConfig:
    data = {
        "profile": "tiny",
        "name": "t",
        "generators": generators,
        "settings": ["RG/general"],
        "instances": 2,
        "generation": {"sampling": {"max_tokens": 64}, "token_budget": 256,
                       "engine": {"backoff_base_s": 0.01, "max_validation_retries": 1}},
        "student": {"base": "smollm2-135m-instruct", "recipe": "tiny"},
        "reference": {"gold": {}},
        "evaluation": {"benchmarks": {"general": ["ifeval"]}, "limit": 3, "max_tokens": 16},
    }
    data.update(overrides)
    return RunConfig.model_validate(data)


# --- configs, plan, store (fast) ----------------------------------------------------------------------


def test_profiles_build_plans_with_shared_base_and_reference():
    paper = build_plan(profile_config("agorabench"))
    assert len(paper.cells) == 6 * 9 and len(paper.base) == 6 and len(paper.reference) == 6
    stages = paper.stages()
    # base and reference once, each generator on the 6 benchmarks (its problem solving), per cell generate,
    # train and 2 evaluations
    assert len(stages) == 6 + 6 + 6 * 6 + 54 * (1 + 1 + 2)
    assert len({s.key for s in stages}) == len(stages)
    position = {s.key: i for i, s in enumerate(stages)}
    assert all(position[need.key] < position[s.key] for s in stages for need in s.needs.values())
    quick = build_plan(profile_config("quickstart"))
    assert {c.domain for c in quick.cells} == {"general"} and set(quick.base) == {"ifeval"}
    assert set(quick.reference_training) == {"general"}  # the base trained on the gold slice
    assert not quick.generator_scores  # the quickstart does not score its generators as problem solvers
    # Where it does, SmolLM2, the base here, has the base's problem-solving evaluation, run once.
    scored = build_plan(profile_config("quickstart", evaluation={"score_generators": True}))
    assert scored.generator_scores["smollm2-135m-instruct"]["ifeval"].key == scored.base["ifeval"].key
    # Two generators (SmolLM2 and the base model Gemma 3 270M, few-shot) on the verifiable-constraint data.
    assert sorted(c.generator for c in quick.cells) == ["gemma-3-270m", "smollm2-135m-instruct"]
    for cell in quick.cells:
        generate = cell.generate.params
        assert generate["prompt_format"] == "json" and generate["example_turns"] == 2
        assert generate["seeds"] == [{"source": "agorabench", "path": None, "split": "train", "config": None,
                                      "limit": None, "bundled": "response_generation_constraints"}]
    gold = quick.reference_training["general"].params
    assert gold["data_path"].endswith("gold_constraints.jsonl") and gold["max_examples"] == 240


def test_changing_one_generator_changes_only_its_keys():
    a, b = fake_generator("a", "http://127.0.0.1:1/v1"), fake_generator("b", "http://127.0.0.1:1/v1")
    before = {s.label: s.key for s in build_plan(small_config([a, b])).stages()}
    after = {s.label: s.key for s in build_plan(small_config([a, {**b, "model": "other"}])).stages()}
    changed = {label for label in before if before[label] != after[label]}
    assert changed and all(label.startswith(("b.", "generator-b.")) for label in changed)
    assert {label for label in before if label.startswith(("b.", "generator-b."))} == changed
    # Endpoints and concurrency change speed, not outputs: same keys.
    moved = {s.label: s.key for s in build_plan(small_config([{**a, "base_urls": ["http://10.0.0.1/v1"],
                                                                    "max_concurrency": 64}, b])).stages()}
    assert moved == before


@pytest.fixture
def editable_prompts(tmp_path, monkeypatch):
    """A copy of the settings' prompt templates that the test may edit, rendered instead of the package's."""
    import shutil

    import jinja2

    from agorabench.generation.settings import base

    folder = tmp_path / "prompts"
    shutil.copytree(base.PROMPTS, folder)
    monkeypatch.setattr(base._ENVIRONMENT, "loader", jinja2.FileSystemLoader(folder))
    monkeypatch.setattr(base._ENVIRONMENT, "cache", {})
    return folder


def test_editing_a_template_changes_exactly_the_stages_that_render_it(editable_prompts):
    from agorabench.generation.settings.base import template_digests

    settings = ["RG/general", "QE/general", "RG/math", "IG/math"]
    config = small_config([fake_generator("a", "http://127.0.0.1:1/v1")], settings=settings,
                          evaluation={"benchmarks": {"general": ["ifeval"], "math": ["gsm8k"]}, "limit": 3})

    def keys() -> dict[tuple[str, str], str]:
        return {(s.kind, s.label): s.key for s in build_plan(config).stages()}

    def stages_of(method: str, domain: str, benchmarks: list[str]) -> set[tuple[str, str]]:
        label = f"a.{method}.{domain}"
        return {("generate", label), ("train", label)} | {("evaluate", f"{label}.{b}") for b in benchmarks}

    before = keys()
    own = editable_prompts / "response_generation_general.j2"
    own.write_text(own.read_text() + "\nKeep it short.\n")
    edited = keys()
    assert {k for k in before if before[k] != edited[k]} == stages_of("response_generation", "general", ["ifeval"])

    # A shared partial: every setting that includes it, and only those (their generate, train and evaluate).
    partial = editable_prompts / "_response_format.j2"
    users = [(m, d) for m, d in [("response_generation", "general"), ("quality_enhancement", "general"),
                                 ("response_generation", "math"), ("instance_generation", "math")]
             if "_response_format.j2" in template_digests(m, d)]
    assert ("response_generation", "math") in users and ("quality_enhancement", "general") not in users
    partial.write_text(partial.read_text() + "\n")
    again = keys()
    expected = set().union(*(stages_of(m, d, ["ifeval"] if d == "general" else ["gsm8k"]) for m, d in users))
    assert {k for k in edited if edited[k] != again[k]} == expected
    # The base, the reference and the generator's own scores render no setting template.
    assert all(edited[k] == again[k] for k in edited if not k[1].startswith("a."))


def test_a_new_grader_version_redoes_exactly_the_evaluations_it_grades(monkeypatch):
    import dataclasses

    from agorabench.evaluation import graders

    config = small_config([fake_generator("a", "http://127.0.0.1:1/v1")], settings=["RG/general", "RG/math"],
                          evaluation={"benchmarks": {"general": ["ifeval"], "math": ["gsm8k"]}, "limit": 3})
    before = {(s.kind, s.label): s.key for s in build_plan(config).stages()}
    monkeypatch.setitem(graders.GRADERS, "ifeval", dataclasses.replace(graders.GRADERS["ifeval"], version="2"))
    after = {(s.kind, s.label): s.key for s in build_plan(config).stages()}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {k for k in before if k[0] == "evaluate" and k[1].endswith(".ifeval")}
    assert len(changed) == 4  # the base, the gold reference, the generator itself and its RG/general student


def test_run_config_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="METHOD/DOMAIN"):
        parse_setting("general")
    assert parse_setting("QE-code") == ("quality_enhancement", "code")
    bad = tmp_path / "run.yaml"
    bad.write_text(yaml.safe_dump({"profile": "tiny", "evaluation": {"benchmarks": {"math": ["humaneval"]}}}))
    with pytest.raises(ConfigError, match="humaneval.*belongs to domain 'code'") as info:
        load_run_config(bad)
    assert "\n" not in str(info.value)
    bad.write_text(yaml.safe_dump({"profile": "tiny", "reference": {"model": "x", "gold": {}}}))
    with pytest.raises(ConfigError, match="either model"):
        load_run_config(bad)
    bad.write_text(yaml.safe_dump({"profile": "tiny", "instnces": 3}))
    with pytest.raises(ConfigError, match="instnces"):
        load_run_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"profile": "quickstart", "instances": 5, "evaluation": {"limit": 7}}))
    config = load_run_config(good)
    assert config.instances == 5 and config.evaluation.limit == 7 and config.evaluation.max_tokens == 128


def test_store_records_done_failed_and_running(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    key = stage_key("train", {"x": 1})
    assert key == stage_key("train", {"x": 1}) != stage_key("train", {"x": 2})
    folder = store.start(key, "train", "a label/with slash", {"x": 1})
    assert folder.is_dir() and "/" not in folder.name and not store.is_done(key)
    assert store.get(key).status == "running"  # a crash leaves it so; the next run resumes
    store.finish(key)
    assert store.is_done(key)
    store.finish(key, error="boom")
    assert store.get(key).status == "failed" and store.get(key).error == "boom"
    assert ArtifactStore(tmp_path / "store").get(key).error == "boom"  # persisted


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--profile", "agorabench", "--dry-run", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "264 stages" in result.output and "total" in result.output and "$" in result.output
    assert not (out / "store").exists()


# --- real runs (slow) -------------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_quickstart_end_to_end(tmp_path):
    """`agorabench run --tiny`: the offline profile in miniature, as a user runs it."""
    out = tmp_path / "tiny"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "agorabench", "run", "--tiny", "-o", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.monotonic() - started < 180
    results = RunResults.model_validate_json((out / "results.json").read_text())
    (cell,) = results.cells
    assert cell.status == "done" and cell.data.instances >= 1 and cell.domain_pgr is not None
    assert set(results.base.scores) == set(results.reference.scores) == {"ifeval"}
    assert "PGR (%) of tiny" in proc.stdout and f"report: {out / 'report' / 'report.html'}" in proc.stdout
    html = (out / "report" / "report.html").read_text()
    assert "smollm2-135m-instruct" in html
    again = subprocess.run([sys.executable, "-m", "agorabench", "run", "--tiny", "-o", str(out)],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stderr.count("done earlier") == 6


@pytest.mark.slow
def test_changed_generator_reruns_only_its_stages_and_failures_stay_local(tmp_path):
    from agorabench.pipeline.run import run_benchmark

    with FakeServer(responder=lambda body: RG_GENERAL) as server:
        a, b = fake_generator("a", server.openai_base_url), fake_generator("b", server.openai_base_url)
        dead = fake_generator("dead", "http://127.0.0.1:9/v1")  # nothing listens on port 9
        # Intrinsic metrics on (the offline MiniLM embedder's diversity): a stage per dataset, into results.json.
        config = small_config([a, b, dead], intrinsic={"max_examples": 2})
        first = run_benchmark(config, tmp_path / "run", report=False)
        statuses = {(s.kind, s.label): first.outcomes[s.key].status for s in build_plan(config).stages()}
        assert statuses[("intrinsic", "a.response_generation.general")] == "done"
        assert statuses[("generate", "dead.response_generation.general")] == "failed"
        assert statuses[("train", "dead.response_generation.general")] == "blocked"
        assert statuses[("evaluate", "dead.response_generation.general.ifeval")] == "blocked"
        assert statuses[("evaluate", "generator-dead.ifeval")] == "failed"  # its problem-solving score
        assert all(v == "done" for (_, label), v in statuses.items() if "dead" not in label)
        cells = {c.generator: c for c in first.results.cells}
        assert cells["a"].status == cells["b"].status == "done"
        assert cells["a"].intrinsic["response_diversity"] is not None and "instruction_diversity" in cells["b"].intrinsic
        assert cells["dead"].status == "failed" and "cannot reach" in cells["dead"].error

        changed = small_config([a, {**b, "model": "fake-model-2"}], intrinsic={"max_examples": 2})
        second = run_benchmark(changed, tmp_path / "run", report=False)
        ran = [(s.kind, s.label) for s in build_plan(changed).stages() if second.outcomes[s.key].status == "done"]
        label = "b.response_generation.general"
        assert ran == [("evaluate", "generator-b.ifeval"), ("generate", label), ("train", label),
                       ("evaluate", f"{label}.ifeval"), ("intrinsic", label)]
        assert all(second.outcomes[s.key].status == "cached"
                   for s in build_plan(changed).stages() if not s.label.startswith(("b.", "generator-b.")))
        scored = {g.name: g.problem_solving for g in second.results.generators}
        assert set(scored["a"]) == {"general"} and 0 <= scored["a"]["general"] <= 100


@pytest.mark.slow
def test_a_template_edit_reruns_exactly_the_stages_that_render_it(tmp_path, editable_prompts):
    from agorabench.pipeline.run import run_benchmark

    prompts: list[str] = []

    def responder(body) -> str:
        prompts.append(json.dumps(body))
        return RG_GENERAL

    with FakeServer(responder=responder) as server:
        # Without the generator's own scores: one evaluation less, and they render no setting template anyway.
        config = small_config([fake_generator("a", server.openai_base_url)], settings=["RG/general", "QE/general"],
                              evaluation={"benchmarks": {"general": ["ifeval"]}, "limit": 3, "max_tokens": 16,
                                          "score_generators": False})
        first = run_benchmark(config, tmp_path / "run", report=False)
        assert all(o.status == "done" for o in first.outcomes.values())
        template = editable_prompts / "quality_enhancement_general.j2"
        template.write_text(template.read_text() + "\nKeep what is good.\n")
        del prompts[:]
        second = run_benchmark(config, tmp_path / "run", report=False)
        ran = [(s.kind, s.label) for s in build_plan(config).stages() if second.outcomes[s.key].status == "done"]
        label = "a.quality_enhancement.general"
        assert ran == [("generate", label), ("train", label), ("evaluate", f"{label}.ifeval")]
        assert sum(o.status == "cached" for o in second.outcomes.values()) == len(second.outcomes) - 3
        # The rerun rendered the edited template: its requests carry the new sentence.
        assert prompts and all("Keep what is good." in p for p in prompts)


@pytest.mark.slow
def test_resume_after_sigkill_in_the_middle_of_generation(tmp_path):
    """Kill the run while a generation stage is half done: the rerun keeps its records and finishes."""
    instances = 12
    with FakeServer(responder=lambda body: RG_GENERAL, faults=Faults(latency_s=0.4)) as server:
        gen = {**fake_generator("slow", server.openai_base_url), "max_concurrency": 1}
        config = small_config([gen], instances=instances)
        config_file = tmp_path / "run.yaml"
        config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        out = tmp_path / "run"
        command = [sys.executable, "-m", "agorabench", "run", str(config_file), "-o", str(out)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        records = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            found = list((out / "store" / "generate").glob("*/records.jsonl")) if (out / "store").exists() else []
            if found and len(found[0].read_text().splitlines()) >= 3:
                records = found[0]
                break
            time.sleep(0.2)
        assert records is not None, "generation never started"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kept = len(records.read_text().splitlines())
        assert 3 <= kept < instances
        served_before = json.loads(__import__("urllib.request").request.urlopen(server.url + "/stats").read())
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        served_after = json.loads(__import__("urllib.request").request.urlopen(server.url + "/stats").read())
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(lines) == instances and len({r["id"] for r in lines}) == instances
    new_requests = served_after["requests"] - served_before["requests"]
    assert new_requests <= instances - kept + 1  # the killed run's finished records were not asked again
    results = RunResults.model_validate_json((out / "results.json").read_text())
    assert results.cells[0].status == "done"
