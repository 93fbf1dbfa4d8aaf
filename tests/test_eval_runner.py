"""Benchmark outputs through the engine: every prompt answered once, nothing rejected, resumable."""

from __future__ import annotations

from pathlib import Path

import pytest

from agorabench.data.benchmarks import PAPER_DECODING
from agorabench.errors import AgorabenchError
from agorabench.evaluation.runner import Prompt, generate_outputs, resolve_model
from agorabench.generation.config import EngineConfig
from agorabench.llm.base import Message
from agorabench.llm.config import GeneratorConfig
from agorabench.testing.fake_server import FakeServer, Faults


def prompts(count: int) -> list[Prompt]:
    return [Prompt(id=f"q{i}", messages=[Message(role="user", content=f"What is {i} + 1?")]) for i in range(count)]


def test_every_prompt_is_answered_once_even_empty_or_cut_off(tmp_path):
    answers = iter(["", "2"] * 20)
    faults = Faults(length=0.3, server_error=0.2, seed=4)
    with FakeServer(faults=faults, responder=lambda body: next(answers)) as server:
        model = GeneratorConfig(name="m", backend="openai", model="fake", base_urls=[server.openai_base_url])
        engine = EngineConfig(backoff_base_s=0.01, cache_dir=tmp_path / "cache")
        records = generate_outputs(model, "toy", "math", prompts(10), PAPER_DECODING["math"], tmp_path / "out", engine=engine)
        sent = server.stats()["requests"]
        again = generate_outputs(model, "toy", "math", prompts(10), PAPER_DECODING["math"], tmp_path / "out", engine=engine)
        assert server.stats()["requests"] == sent  # resumed: nothing left to do
    assert sorted(records) == [f"q{i}" for i in range(10)] and again.keys() == records.keys()
    # A truncated or empty answer is still an answer: graders score it, the engine never rejects it.
    assert any(r["finish_reason"] == "length" for r in records.values()) or any(r["response"] == "" for r in records.values())


def test_paper_decoding_presets():
    assert PAPER_DECODING["math"].temperature == 0.2 and PAPER_DECODING["code"].temperature == 0.0
    for decoding in PAPER_DECODING.values():
        assert (decoding.top_p, decoding.max_tokens, decoding.repetition_penalty) == (0.95, 1024, 1.03)


def test_model_specs(tmp_path):
    assert resolve_model("smollm2-135m-instruct").backend == "local"
    assert resolve_model("openai:gpt-4o-mini").backend == "openai"
    folder = tmp_path / "student"
    folder.mkdir()
    local = resolve_model(str(folder))
    assert (local.backend, local.model, local.name) == ("local", str(folder), "student")
    hub = resolve_model("meta-llama/Llama-3.1-8B")
    assert (hub.backend, hub.model) == ("local", "meta-llama/Llama-3.1-8B")
    with pytest.raises(AgorabenchError, match="--model"):
        resolve_model(str(Path(tmp_path) / "no" / "such" / "folder"))
