"""Top log-probabilities of the first output token: asked with `SamplingParams.top_logprobs`, returned as
`Completion.top_logprobs` by the OpenAI-compatible backend (over HTTP, against the fake server) and by
vLLM's mapping; none from Anthropic. The request cache and run identities tell the two kinds of request
apart, and requests without it keep the keys they always had."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from agorabench.generation.answer_task import AnswerTask
from agorabench.generation.cache import request_key
from agorabench.generation.config import EngineConfig, GenerateConfig
from agorabench.generation.runner import run_generate
from agorabench.llm.base import Message, SamplingParams
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.vllm_backend import completion_from_output, vllm_sampling_kwargs
from agorabench.testing.fake_server import FakeServer, Reply
from conftest import complete_once, read_jsonl, write_instructions

ALTERNATIVES = {"M": math.log(0.7), "m": math.log(0.2), "Both": math.log(0.06), "The": math.log(0.04)}


def judge_like(body: dict) -> Reply:
    return Reply("M", ALTERNATIVES)


def openai_config(url: str) -> GeneratorConfig:
    return GeneratorConfig(name="fake", backend="openai", model="fake-model", base_urls=[url], timeout_s=5.0)


def test_openai_backend_returns_the_first_tokens_alternatives_over_http():
    bodies = []

    def responder(body):
        bodies.append(body)
        return judge_like(body)

    with FakeServer(responder=responder) as server:
        config = openai_config(server.openai_base_url)
        asked = complete_once(config, SamplingParams(max_tokens=1, top_logprobs=3))
        plain = complete_once(config, SamplingParams(max_tokens=1))
    assert bodies[0]["logprobs"] is True and bodies[0]["top_logprobs"] == 3
    assert "logprobs" not in bodies[1] and "top_logprobs" not in bodies[1]
    assert asked.text == "M"
    assert asked.top_logprobs == pytest.approx({"M": math.log(0.7), "m": math.log(0.2), "Both": math.log(0.06)})
    assert plain.top_logprobs is None


def test_a_plain_reply_gets_its_first_word_with_probability_one():
    with FakeServer() as server:  # the echo responder: "Answer: ..."
        result = complete_once(openai_config(server.openai_base_url), SamplingParams(max_tokens=8, top_logprobs=5))
    assert result.top_logprobs == {"Answer:": 0.0}


def test_anthropic_backend_has_no_logprobs(monkeypatch):
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", "sk-ant-test")
    with FakeServer(responder=judge_like) as server:
        config = GeneratorConfig(
            name="claude-fake",
            backend="anthropic",
            model="claude-3-5-sonnet-20241022",
            base_urls=[server.anthropic_base_url],
            api_key_env="FAKE_ANTHROPIC_KEY",
            timeout_s=5.0,
        )
        result = complete_once(config, SamplingParams(max_tokens=1, top_logprobs=5))
    assert result.text == "M" and result.top_logprobs is None


def test_unset_top_logprobs_leaves_every_dump_and_cache_key_as_before():
    params = SamplingParams(temperature=0.0, top_p=1.0, max_tokens=256, seed=7)
    dumped = params.model_dump(mode="json")
    assert dumped == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 256, "stop": [], "seed": 7,
                      "repetition_penalty": 1.0}
    messages = [Message(role="user", content="hello")]
    # The key as it was computed before the field existed.
    before = json.dumps({"model": "m", "params": dumped, "messages": [["user", "hello"]]},
                        sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert request_key("m", params, messages) == hashlib.sha256(before.encode()).hexdigest()
    with_logprobs = params.model_copy(update={"top_logprobs": 5})
    assert with_logprobs.model_dump(mode="json")["top_logprobs"] == 5
    assert request_key("m", with_logprobs, messages) != request_key("m", params, messages)
    assert SamplingParams.model_validate_json(with_logprobs.model_dump_json()) == with_logprobs


def generate(tmp_path: Path, url: str, out: str, top_logprobs: int | None):
    task = AnswerTask.from_file(write_instructions(tmp_path / "in.jsonl", 3))
    config = GenerateConfig(
        engine=EngineConfig(backoff_base_s=0.01, backoff_max_s=0.1, cache_dir=tmp_path / "cache"),
        sampling=SamplingParams(max_tokens=8, top_logprobs=top_logprobs),
    )
    result, _ = run_generate(config, openai_config(url), task, tmp_path / out)
    return result


def test_a_cached_text_only_reply_is_not_reused_for_a_logprob_request(tmp_path):
    with FakeServer(responder=judge_like) as server:
        generate(tmp_path, server.openai_base_url, "plain", None)
        assert server.stats()["requests"] == 3
        asked = generate(tmp_path, server.openai_base_url, "asked", 5)
        assert server.stats()["requests"] == 6 and asked.stats.cached_responses == 0
        again = generate(tmp_path, server.openai_base_url, "again", 5)
        assert server.stats()["requests"] == 6 and again.stats.cached_responses == 3
    identity = json.loads((tmp_path / "asked" / "run.json").read_text())
    assert identity["sampling"]["top_logprobs"] == 5
    assert "top_logprobs" not in json.loads((tmp_path / "plain" / "run.json").read_text())["sampling"]
    assert all(r["cached"] for r in read_jsonl(tmp_path / "again" / "records.jsonl"))


@dataclass
class _Logprob:
    logprob: float
    decoded_token: str | None


@dataclass
class _Output:
    text: str
    token_ids: list[int]
    finish_reason: str | None
    logprobs: list[dict[int, _Logprob]] | None = None


@dataclass
class _RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[_Output]


def test_vllm_asks_for_and_reads_the_first_positions_logprobs():
    assert "logprobs" not in vllm_sampling_kwargs(SamplingParams())
    assert vllm_sampling_kwargs(SamplingParams(top_logprobs=5))["logprobs"] == 5
    first = {77: _Logprob(-0.1, "M"), 109: _Logprob(-2.5, "m"), 5: _Logprob(-3.0, "M"), 9: _Logprob(-9.0, None)}
    output = _RequestOutput([1, 2, 3], [_Output("M", [77], "length", [first, {1: _Logprob(0.0, "x")}])])
    completion = completion_from_output(output, "local")  # type: ignore[arg-type]
    assert completion.top_logprobs == {"M": -0.1, "m": -2.5}
    plain = _RequestOutput([1], [_Output("M", [77], "stop")])
    assert completion_from_output(plain, "local").top_logprobs is None  # type: ignore[arg-type]
