"""The paper's run as a paying user plans it: the paper's seeds, inputs drawn without replacement, refusals
before anything runs, and an honest dry run that never waits on the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from agorabench.errors import ConfigError
from agorabench.generation.engine import estimate_tokens, pending_items
from agorabench.generation.settings.config import SettingConfig
from agorabench.generation.settings.registry import build_setting
from agorabench.pipeline.config import RunConfig, profile_config
from agorabench.pipeline.plan import build_plan
from agorabench.pipeline.preflight import check_inputs, count_inputs
from agorabench.taxonomy import SETTINGS


def run_cli(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agorabench", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def small(tmp_path, **overrides) -> RunConfig:
    data = {
        "generators": [{"name": "g", "backend": "openai", "model": "gpt-4o-mini", "base_urls": ["http://127.0.0.1:9/v1"]}],
        "settings": ["RG/general"], "instances": 20,
        "evaluation": {"benchmarks": {"general": ["ifeval"]}, "limit": 2},
    }
    data.update(overrides)
    return profile_config("tiny", **data)


def test_the_paper_profile_names_the_papers_seeds_for_every_setting():
    config = profile_config("agorabench")
    assert set(config.generation.seeds) == {f"{m}/{d}" for m, d in SETTINGS}
    sources = {k: [(s.source, s.path, s.config) for s in v] for k, v in config.generation.seeds.items()}
    assert sources["instance_generation/math"][0] == ("gsm8k", "openai/gsm8k", "main")
    assert len(sources["instance_generation/math"]) == 1 + 7  # GSM8K and MATH's seven subjects
    assert [s[0] for s in sources["instance_generation/code"]] == ["mbpp", "xp3x"]
    assert sources["instance_generation/general"] == [("lima", "GAIR/lima", None)]
    assert {sources[f"response_generation/{d}"][0][0] for d in ("math", "code", "general")} == {"magpie"}
    assert sources["quality_enhancement/code"] == [("conala", "neulab/conala", "mined")]
    # Every source is a Hub id (a user overrides them with local files, per setting).
    assert all(path and "/" in path and not os.path.exists(path) for v in sources.values() for _, path, _ in v)


def test_a_settings_seeds_given_in_short_form_replace_the_profiles(tmp_path):
    seeds = tmp_path / "rg.jsonl"
    seeds.write_text("".join(json.dumps({"instruction": f"Question {i}?"}) + "\n" for i in range(5)))
    config = profile_config("agorabench", generation={"seeds": {"RG/math": [{"source": "agorabench", "path": str(seeds)}]}})
    assert [s.path for s in config.generation.seeds["response_generation/math"]] == [str(seeds)]
    assert config.generation.seeds["response_generation/code"][0].source == "magpie"  # the rest stay


def test_response_generation_draws_its_inputs_without_replacement_seeded():
    def ids(n, seed):
        task = build_setting(SettingConfig(method="response_generation", domain="general"), n, seed)
        return [item.payload["id"] for item in pending_items(task, set(), n)]

    everything = ids(None, 1)
    first, again, other = ids(10, 1), ids(10, 1), ids(10, 2)
    assert len(first) == len(set(first)) == 10 and set(first) <= set(everything)
    assert first == again and first != other
    assert first != everything[:10]  # a draw, not the file's first rows


def test_a_short_setting_is_refused_when_the_run_is_planned_unless_allowed(tmp_path):
    config = small(tmp_path, instances=1000)
    (counted,) = count_inputs(config)
    assert counted.available is not None and counted.available < 1000 and counted.short
    with pytest.raises(ConfigError, match=rf"hold {counted.available} inputs, fewer than instances \(1000\).*allow_fewer"):
        check_inputs(config)
    allowed = small(tmp_path, instances=1000, generation={"allow_fewer": True})
    assert check_inputs(allowed)[0].available == counted.available


def test_refusals_are_one_line_and_run_nothing(tmp_path):
    short = tmp_path / "short.yaml"
    short.write_text(yaml.safe_dump({**small(tmp_path, instances=1000).model_dump(mode="json"), "profile": None}))
    out = tmp_path / "run"
    proc = run_cli("run", str(short), "-o", str(out))
    assert proc.returncode == 2 and "fewer than instances (1000)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr and not out.exists()

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"instruction": "fine"}\nnot json\n')
    bad = small(tmp_path, generation={"seeds": {"RG/general": [{"source": "agorabench", "path": str(broken)}]}})
    with pytest.raises(ConfigError, match=r"generation.seeds.response_generation/general: .*broken.jsonl"):
        check_inputs(bad)

    endpointless = tmp_path / "llama.yaml"
    endpointless.write_text(yaml.safe_dump({**small(tmp_path).model_dump(mode="json"), "profile": None,
                                            "generators": ["llama-3.1-8b-instruct"]}))
    proc = run_cli("run", str(endpointless), "-o", str(out))
    assert proc.returncode == 2 and "needs base_urls" in proc.stderr and not out.exists()


def test_a_run_passes_its_benchmark_paths_to_decontamination(tmp_path):
    math = tmp_path / "math.jsonl"
    math.write_text(json.dumps({"problem": "What is 1+1?", "answer": "2"}) + "\n")
    config = small(tmp_path, evaluation={"benchmarks": {"general": ["ifeval"]}, "options": {"math": {"path": str(math)}}})
    (cell,) = build_plan(config).cells
    assert cell.generate.params["benchmark_paths"] == {"math": str(math)}


def test_the_dry_run_counts_the_configured_seeds_and_renders_the_real_prompts(tmp_path):
    from rich.console import Console

    from agorabench.pipeline.run import dry_run

    seeds = tmp_path / "rg.jsonl"
    seeds.write_text("".join(json.dumps({"instruction": f"Explain topic number {i} in three sentences."}) + "\n"
                             for i in range(30)))
    config = small(tmp_path, generation={"seeds": {"RG/general": [{"source": "agorabench", "path": str(seeds)}]}})
    summary = dry_run(config, tmp_path / "run", Console(file=open(os.devnull, "w")), json_path=tmp_path / "p.json")
    (row,) = summary["datasets"]
    assert row["inputs"] == 30 and row["records"] <= 20 < row["requests"]  # retries expected on top of 20
    # The prompt tokens are those of the 20 prompts the stage would send (4 characters a token), times the
    # expected attempts per item.
    task = build_setting(SettingConfig(method="response_generation", domain="general", seeds=[
        {"source": "agorabench", "path": str(seeds)}]), 20, config.seed)
    rendered = sum(estimate_tokens(task.messages(item, 0)) for item in pending_items(task, set(), 20))
    assert row["prompt_tokens"] == pytest.approx(rendered * row["requests"] / 20, rel=0.02)
    # gpt-4o-mini's list price, on those tokens.
    assert row["cost_usd"] == pytest.approx((row["prompt_tokens"] * 0.15 + row["output_tokens"] * 0.60) / 1e6, abs=1e-4)
    assert json.loads((tmp_path / "p.json").read_text())["totals"]["requests"] == row["requests"]


def test_the_papers_dry_run_offline_is_short_narrow_and_says_what_it_left_out(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    started = time.monotonic()
    proc = run_cli("run", "--profile", "agorabench", "--dry-run", "-o", str(tmp_path / "run"),
                   "--json", str(tmp_path / "plan.json"), timeout=120, env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert elapsed < 60 and len(lines) <= 150 and max(len(line) for line in lines) <= 80
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert len(plan["datasets"]) == 54 and all(d["requests"] >= 10_000 for d in plan["datasets"])
    text = proc.stderr
    assert "seed size unknown offline" in text and "Retrying" not in text
    assert "llama-3.1-8b-instruct" in text and "set base_urls" in text
    assert plan["totals"]["cost_usd"] > 0 and plan["totals"]["prompt_tokens"] > 54 * 10_000


class _GenerationOnly:
    """The generation stages of a plan, for the executor (training and evaluation are not what this tests)."""

    def __init__(self, plan):
        self.generators, self.cells = plan.generators, plan.cells

    def stages(self):
        return [cell.generate for cell in self.cells]


def test_a_run_spend_cap_stops_before_crossing_and_resumes_when_raised(tmp_path):
    from rich.console import Console

    from agorabench.pipeline.budget import RunBudget, check_caps
    from agorabench.pipeline.executor import run_local
    from agorabench.pipeline.store import ArtifactStore
    from agorabench.testing.fake_server import FakeServer

    answer = "1. Review your notes every day.\n2. Sleep well before the exam.\n3. Practise with past questions.\n[END]"
    price = {"input_per_mtok": 3000.0, "output_per_mtok": 3000.0}  # about 25 cents a request here
    with FakeServer(responder=lambda body: answer) as server:
        generators = [{"name": name, "backend": "openai", "model": "m", "base_urls": [server.openai_base_url],
                       "pricing": price, "max_concurrency": 1} for name in ("a", "b")]
        settings = {"generators": generators, "settings": ["RG/general"], "instances": 4,
                    "generation": {"engine": {"cache": False}}}
        config = small(tmp_path, max_cost_usd=1.0, **settings)
        plan = _GenerationOnly(build_plan(config))
        store = ArtifactStore(tmp_path / "run" / "store")
        log = tmp_path / "log.txt"
        with log.open("w") as handle:
            outcomes = run_local(plan, store, console=Console(file=handle, width=200), budget=RunBudget(config, plan, store))
        first, second = (outcomes[s.key] for s in plan.stages())
        assert first.status == "failed" and first.error.startswith("stopped at the spend cap")
        assert second.status == "blocked" and "spend cap" in second.error
        spent = RunBudget(config, plan, store).spent()
        kept = (store.get(plan.stages()[0].key).path / "records.jsonl").read_text().splitlines()
        assert 0 < spent <= 1.0 and 1 <= len(kept) < 4  # stopped part-way, under the cap
        assert "stopped before crossing the spend cap ($1.00" in log.read_text()
        # A cap below what was spent is one line; a raised one resumes: every record, nothing asked twice.
        with pytest.raises(ConfigError, match="below what this run has already spent"):
            check_caps(small(tmp_path, max_cost_usd=spent / 2, **settings), plan, store)
        requests_before = server.stats()["requests"]
        raised = small(tmp_path, max_cost_usd=100.0, **settings)
        outcomes = run_local(plan, store, console=Console(file=open(os.devnull, "w")), budget=RunBudget(raised, plan, store))
        assert all(o.status == "done" for o in outcomes.values())
        for stage in plan.stages():
            records = (store.get(stage.key).path / "records.jsonl").read_text().splitlines()
            assert len(records) == 4
        assert server.stats()["requests"] - requests_before == 8 - len(kept)  # kept records are not asked again


def test_a_student_tokenizer_that_cannot_be_loaded_is_refused_before_anything_runs(tmp_path):
    from agorabench.pipeline.preflight import check_tokenizer

    config = small(tmp_path, student={"base": "no-such-org/no-such-model", "recipe": "tiny"})
    with pytest.raises(ConfigError, match=r"student.base: its tokenizer \(no-such-org/no-such-model\).*cannot be loaded"):
        check_tokenizer(config)
    check_tokenizer(small(tmp_path))  # the embedded student's loads offline
