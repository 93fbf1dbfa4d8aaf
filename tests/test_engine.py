"""The generation engine against a real HTTP server on 127.0.0.1 with injected faults."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import read_jsonl, write_instructions

from agorabench.errors import AgorabenchError
from agorabench.generation.answer_task import AnswerTask
from agorabench.generation.config import EngineConfig, GenerateConfig
from agorabench.generation.engine import derive_seed
from agorabench.generation.runner import run_generate
from agorabench.llm.base import SamplingParams
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.pricing import Pricing
from agorabench.testing.fake_server import FakeServer, Faults


def fake_generator(*urls: str, **overrides) -> GeneratorConfig:
    fields = dict(
        name="fake",
        backend="openai",
        model="fake-model",
        base_urls=list(urls),
        max_concurrency=16,
        timeout_s=2.0,
    )
    fields.update(overrides)
    return GeneratorConfig(**fields)


def fast_config(tmp_path: Path, **engine) -> GenerateConfig:
    engine_fields = dict(backoff_base_s=0.01, backoff_max_s=0.1, cache_dir=tmp_path / "cache")
    engine_fields.update(engine)
    return GenerateConfig(engine=EngineConfig(**engine_fields), sampling=SamplingParams(max_tokens=64))


def generate(tmp_path, generator, count=20, out="out", **engine):
    task = AnswerTask.from_file(write_instructions(tmp_path / "in.jsonl", count))
    config = fast_config(tmp_path, **engine)
    result, _ = run_generate(config, generator, task, tmp_path / out)
    return result, task


def test_thirty_percent_faults_every_record_exactly_once(tmp_path):
    faults = Faults(
        rate_limit=0.05,
        server_error=0.05,
        slow=0.05,
        reset=0.05,
        malformed=0.05,
        length=0.05,
        slow_s=1.0,
        seed=7,
    )
    with FakeServer(faults=faults) as server:
        generator = fake_generator(server.openai_base_url, timeout_s=0.3, max_concurrency=32)
        result, task = generate(tmp_path, generator, count=200, max_transport_retries=12, max_validation_retries=6)
        injected = server.stats()["faults"]
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    expected_ids = [item.id for item in task.items()]
    assert sorted(r["id"] for r in records) == sorted(expected_ids)
    assert len(records) == len({r["id"] for r in records}) == 200
    assert result.failures_total == 0
    assert all(r["finish_reason"] == "stop" for r in records)
    # Each fault kind really happened and was survived.
    assert all(injected[kind] > 0 for kind in ("rate_limit", "server_error", "slow", "reset", "malformed", "length"))
    errors = result.stats.transport_errors
    assert errors["rate_limited"] and errors["http_500"] and errors["timeout"] and errors["connection"]
    assert errors["malformed"] > 0
    assert result.stats.rejections["truncated"] == injected["length"]


def test_exhausted_budget_is_recorded_as_failed_with_reason(tmp_path):
    with FakeServer(faults=Faults(server_error=1.0)) as server:
        generator = fake_generator(server.openai_base_url)
        result, _ = generate(tmp_path, generator, count=3, max_transport_retries=2)
    failures = read_jsonl(tmp_path / "out" / "failed.jsonl")
    assert [f["reason"] for f in failures] == ["http_500"] * 3
    assert all(f["attempts"] == 3 for f in failures)
    assert result.records_total == 0
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert metadata["counts"]["failure_reasons"] == {"http_500": 3}
    assert metadata["status"] == "complete_with_failures"


def test_rejected_outputs_have_their_own_budget(tmp_path):
    # Every answer is cut off: transport is healthy, so only the validation budget is spent.
    with FakeServer(faults=Faults(length=1.0)) as server:
        generator = fake_generator(server.openai_base_url)
        result, _ = generate(tmp_path, generator, count=2, max_validation_retries=2, max_transport_retries=0)
        assert server.stats()["requests"] == 6  # 2 items x (1 + 2 retries)
    failures = read_jsonl(tmp_path / "out" / "failed.jsonl")
    assert {f["reason"] for f in failures} == {"rejected:truncated"}
    assert result.stats.rejections["truncated"] == 6


def test_retry_after_is_honoured(tmp_path):
    faults = Faults(rate_limit=1.0, retry_after_ms=600, max_consecutive_faults_per_prompt=1)
    with FakeServer(faults=faults) as server:
        generator = fake_generator(server.openai_base_url)
        started = time.monotonic()
        result, _ = generate(tmp_path, generator, count=1, backoff_base_s=0.0)
        elapsed = time.monotonic() - started
    assert result.records_total == 1
    assert result.stats.transport_errors["rate_limited"] == 1
    assert elapsed >= 0.6


def test_backoff_grows_exponentially_without_retry_after(tmp_path):
    faults = Faults(server_error=1.0, max_consecutive_faults_per_prompt=3)
    with FakeServer(faults=faults) as server:
        generator = fake_generator(server.openai_base_url)
        started = time.monotonic()
        generate(tmp_path, generator, count=1, backoff_base_s=0.1, backoff_max_s=10)
        elapsed = time.monotonic() - started
    # Three failures: waits of 0.1, 0.2 and 0.4 s, each jittered to between half and all of it.
    assert 0.35 <= elapsed < 2.0


def test_identical_requests_are_never_paid_twice(tmp_path):
    with FakeServer() as server:
        generator = fake_generator(server.openai_base_url)
        first, _ = generate(tmp_path, generator, count=10, out="a")
        sent = server.stats()["requests"]
        second, _ = generate(tmp_path, generator, count=10, out="b")
        assert server.stats()["requests"] == sent == 10
        assert second.stats.cached_responses == 10 and second.stats.requests == 0
        third, _ = generate(tmp_path, generator, count=10, out="c", cache=False)
        assert server.stats()["requests"] == 20
    a = {r["id"]: r["response"] for r in read_jsonl(tmp_path / "a" / "records.jsonl")}
    b = {r["id"]: r["response"] for r in read_jsonl(tmp_path / "b" / "records.jsonl")}
    assert a == b
    assert all(r["cached"] for r in read_jsonl(tmp_path / "b" / "records.jsonl"))


def test_rerun_after_completion_sends_nothing_and_duplicates_nothing(tmp_path):
    with FakeServer() as server:
        generator = fake_generator(server.openai_base_url)
        generate(tmp_path, generator, count=10)
        again, _ = generate(tmp_path, generator, count=10, cache=False)
        assert server.stats()["requests"] == 10
    assert again.stats.planned == 0
    assert len(read_jsonl(tmp_path / "out" / "records.jsonl")) == 10


def test_failed_items_are_retried_on_the_next_run(tmp_path):
    with FakeServer(faults=Faults(server_error=1.0)) as server:
        generator = fake_generator(server.openai_base_url)
        generate(tmp_path, generator, count=4, max_transport_retries=0)
        assert len(read_jsonl(tmp_path / "out" / "failed.jsonl")) == 4
        server.set_faults(Faults())
        result, _ = generate(tmp_path, generator, count=4, max_transport_retries=0)
    assert result.records_total == 4
    assert read_jsonl(tmp_path / "out" / "failed.jsonl") == []


def test_several_base_urls_share_the_load(tmp_path):
    with FakeServer(faults=Faults(latency_s=0.02)) as one, FakeServer(faults=Faults(latency_s=0.02)) as two:
        generator = fake_generator(one.openai_base_url, two.openai_base_url, max_concurrency=8)
        result, _ = generate(tmp_path, generator, count=40)
        served = one.stats()["completions"], two.stats()["completions"]
    assert result.records_total == 40
    assert sum(served) == 40 and min(served) >= 10


def test_requests_per_minute_limit_paces_requests(tmp_path):
    with FakeServer() as server:
        generator = fake_generator(server.openai_base_url, requests_per_minute=600)  # 10 per second
        started = time.monotonic()
        generate(tmp_path, generator, count=25)
        elapsed = time.monotonic() - started
    # A one-second burst (10), then 15 more at 10/s.
    assert 1.3 <= elapsed < 4.0


def test_tokens_and_cost_are_accounted(tmp_path):
    price = Pricing(input_per_mtok=2.0, output_per_mtok=8.0)
    with FakeServer() as server:
        generator = fake_generator(server.openai_base_url, pricing=price)
        result, _ = generate(tmp_path, generator, count=5)
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    for record in records:
        usage = record["usage"]
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
        expected = (usage["prompt_tokens"] * 2.0 + usage["completion_tokens"] * 8.0) / 1e6
        assert record["cost_usd"] == pytest.approx(expected)
    metadata = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert metadata["cost_usd_total"] == pytest.approx(sum(r["cost_usd"] for r in records), abs=1e-6)
    assert metadata["this_run"]["cost_usd"] == pytest.approx(result.stats.cost_usd, abs=1e-6)
    assert metadata["pricing"] == {"input_per_mtok": 2.0, "output_per_mtok": 8.0, "batch_discount": 0.5}
    assert metadata["packages"]["openai"]
    assert metadata["counts"]["records"] == 5


def test_records_follow_the_schema_and_load_with_datasets(tmp_path):
    import datasets

    with FakeServer() as server:
        generate(tmp_path, fake_generator(server.openai_base_url), count=6)
    path = tmp_path / "out" / "records.jsonl"
    record = read_jsonl(path)[0]
    for key in (
        "id", "instruction", "response", "setting", "generator", "seed_ids", "theme", "usage",
        "cost_usd", "finish_reason", "attempts", "latency_s", "created_at",
    ):
        assert key in record, key
    assert record["response"].startswith("Answer: Question number")
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    assert loaded.num_rows == 6 and "response" in loaded.column_names


def test_seeds_are_stable_and_distinct():
    assert derive_seed(42, "a", 0) == derive_seed(42, "a", 0)
    assert len({derive_seed(42, "a", 0), derive_seed(42, "a", 1), derive_seed(42, "b", 0), derive_seed(1, "a", 0)}) == 4


def test_a_rejected_key_stops_the_run_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_KEY", "sk-wrong-key-123456")
    with FakeServer(api_key="sk-right-key") as server:
        generator = fake_generator(server.openai_base_url, api_key_env="FAKE_KEY")
        with pytest.raises(AgorabenchError) as raised:
            generate(tmp_path, generator, count=30)
        assert server.stats()["requests"] < 30
    message = str(raised.value)
    assert "401" in message and "rejected" in message and "sk-wrong" not in message
    assert "\n" not in message


def test_anthropic_backend_speaks_to_a_messages_endpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", "sk-ant-test")
    faults = Faults(rate_limit=0.1, server_error=0.1, length=0.1, seed=3)
    with FakeServer(faults=faults, api_key="sk-ant-test") as server:
        generator = GeneratorConfig(
            name="claude-fake",
            backend="anthropic",
            model="claude-3-5-sonnet-20241022",
            base_urls=[server.anthropic_base_url],
            api_key_env="FAKE_ANTHROPIC_KEY",
            timeout_s=2.0,
        )
        result, _ = generate(tmp_path, generator, count=20)
        assert server.stats()["by_endpoint"].get("messages", 0) > 0
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    assert len(records) == 20 and result.failures_total == 0
    assert records[0]["response"].startswith("Answer:")
    # Claude 3.5 Sonnet's default price applies: $3 / $15 per 1M tokens.
    usage = records[0]["usage"]
    assert records[0]["cost_usd"] >= (usage["prompt_tokens"] * 3 + usage["completion_tokens"] * 15) / 1e6 - 1e-12


def test_a_server_without_rate_limit_headers_is_probed_by_one_request_only(tmp_path):
    # Until a first answer says what the provider's limits are, one request goes alone; then all at once.
    with FakeServer(faults=Faults(latency_s=0.3)) as server:
        generator = fake_generator(server.openai_base_url, max_concurrency=16)
        started = time.monotonic()
        result, _ = generate(tmp_path, generator, count=16)
        elapsed = time.monotonic() - started
        assert server.stats()["max_in_flight"] == 15
    assert result.records_total == 16 and result.stats.rate_limit_waits == 0
    assert elapsed < 2.0  # two latencies, not sixteen


def test_cache_hits_are_free_under_a_spend_cap(tmp_path):
    price = Pricing(input_per_mtok=1000.0, output_per_mtok=1000.0)
    with FakeServer() as server:
        generator = fake_generator(server.openai_base_url, pricing=price)
        generate(tmp_path, generator, count=10, out="paid")
        sent = server.stats()["requests"]
        # The same requests into a new folder under a cap far below their price: answered from the cache.
        replay, _ = generate(tmp_path, generator, count=10, out="replay", max_cost_usd=0.001)
        assert server.stats()["requests"] == sent == 10
    assert replay.records_total == 10 and replay.stats.cached_responses == 10 and replay.stats.cost_usd == 0.0
