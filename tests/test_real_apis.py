"""The path a paying user takes, against a fake provider over real HTTP: keys, the provider's rate-limit headers,
spend caps, the price table and open-weight presets that need an endpoint of the user's."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO, cli_command, read_jsonl, write_instructions

from agorabench.errors import ConfigError
from agorabench.generation.answer_task import AnswerTask
from agorabench.generation.config import EngineConfig, GenerateConfig
from agorabench.generation.runner import STOPPED_SPEND_CAP, SpendCapReached, run_generate
from agorabench.llm.base import SamplingParams
from agorabench.llm.config import GENERATOR_PRESETS, GeneratorConfig, resolve_generator
from agorabench.llm.pricing import DEFAULT_PRICES, PRICE_ENTRIES, PRICES_FILE, Pricing, load_prices
from agorabench.llm.rate_limit import reset_seconds
from agorabench.testing.fake_server import FakeServer, RateLimits

OPENAI_KEY = "sk-test-openai-9f8e7d6c5b4a"
ANTHROPIC_KEY = "sk-ant-test-1a2b3c4d5e6f"
# $1,000 per 1M tokens both ways: a request of ~12 estimated prompt tokens and max_tokens 64 reserves ~$0.076 and
# really costs ~$0.017 (the fake server counts words), so caps of a few tenths of a dollar bind within 20 items.
DEAR = Pricing(input_per_mtok=1000.0, output_per_mtok=1000.0)


def engine_config(tmp_path: Path, **engine) -> GenerateConfig:
    fields = dict(backoff_base_s=0.01, backoff_max_s=0.1, cache_dir=tmp_path / "cache")
    fields.update(engine)
    return GenerateConfig(engine=EngineConfig(**fields), sampling=SamplingParams(max_tokens=64))


def with_urls(generator: GeneratorConfig, *urls: str, **fields) -> GeneratorConfig:
    """What `--base-url` does to a resolved generator."""
    return GeneratorConfig(**{**generator.model_dump(), "base_urls": list(urls), **fields})


def generate(tmp_path: Path, generator: GeneratorConfig, count: int = 10, out: str = "out", budget_usd=None, **engine):
    task = AnswerTask.from_file(write_instructions(tmp_path / "in.jsonl", count))
    result, _ = run_generate(engine_config(tmp_path, **engine), generator, task, tmp_path / out, budget_usd=budget_usd)
    return result


def folder_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def run_cli(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout)


def env_without(*names: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(extra)
    return env


# --- keys ----------------------------------------------------------------------------------------------------


def test_openai_shorthand_sends_the_provider_key_to_any_base_url(tmp_path):
    inputs = write_instructions(tmp_path / "in.jsonl", 4)
    out = tmp_path / "out"
    env = env_without("OPENAI_API_KEY", OPENAI_API_KEY=OPENAI_KEY, AGORABENCH_CACHE_DIR=str(tmp_path / "cache"))
    with FakeServer(api_key=OPENAI_KEY) as server:
        proc = run_cli(
            "generate", "-g", "openai:fake-model", "--base-url", server.openai_base_url, "-i", str(inputs),
            "-o", str(out), "--no-progress", env=env,
        )
        stats = server.stats()
    assert proc.returncode == 0, proc.stderr
    assert stats["keys"] == {OPENAI_KEY: 4} and stats["auth_headers"] == {"authorization": 4}
    assert stats["unauthorized"] == 0
    assert len(read_jsonl(out / "records.jsonl")) == 4
    # The key reaches no record, metadata, cache or message.
    assert OPENAI_KEY not in folder_text(out) + folder_text(tmp_path / "cache") + proc.stdout + proc.stderr


def test_without_the_key_a_keyless_server_gets_the_placeholder(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeServer() as server:
        result = generate(tmp_path, with_urls(resolve_generator("openai:fake-model"), server.openai_base_url), count=3)
        stats = server.stats()
    assert result.records_total == 3
    assert stats["keys"] == {"not-needed": 3} and stats["auth_headers"] == {"authorization": 3}


def test_anthropic_shorthand_sends_the_provider_key(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    generator = resolve_generator("anthropic:fake-model")
    assert generator.api_key_env is None  # the provider variable is used, not demanded
    with FakeServer(api_key=ANTHROPIC_KEY) as server:
        result = generate(tmp_path, with_urls(generator, server.anthropic_base_url), count=3)
        stats = server.stats()
    assert result.records_total == 3 and stats["unauthorized"] == 0
    # The header is the SDK's choice: x-api-key in anthropic 0.x/1.x, "Authorization: Bearer" in 2.x.
    assert stats["keys"] == {ANTHROPIC_KEY: 3} and sum(stats["auth_headers"].values()) == 3
    assert set(stats["auth_headers"]) <= {"x-api-key", "authorization"}
    assert ANTHROPIC_KEY not in folder_text(tmp_path / "out") + folder_text(tmp_path / "cache")

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with FakeServer() as keyless:
        keyless_generator = with_urls(generator, keyless.anthropic_base_url)
        again = generate(tmp_path, keyless_generator, count=2, out="keyless", cache=False)
        assert keyless.stats()["keys"] == {"not-needed": 2}
    assert again.records_total == 2


def test_the_providers_own_url_without_its_key_fails_in_one_line_before_any_connection(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    connections = []

    async def no_connection(*args, **kwargs):
        connections.append(args)
        raise AssertionError("nothing may connect")

    monkeypatch.setattr(asyncio, "open_connection", no_connection)
    for spec, variable, host in [
        ("openai:gpt-4o-mini", "OPENAI_API_KEY", "api.openai.com"),
        ("anthropic:claude-haiku-4-5", "ANTHROPIC_API_KEY", "api.anthropic.com"),
    ]:
        with pytest.raises(ConfigError) as raised:
            generate(tmp_path, resolve_generator(spec), count=2)
        message = str(raised.value)
        assert variable in message and host in message and "not set" in message and "\n" not in message
    assert connections == [] and not (tmp_path / "out").exists()
    # An explicitly named variable stays required wherever the endpoint is.
    named = GeneratorConfig(
        name="g", backend="openai", model="m", base_urls=["http://127.0.0.1:9/v1"], api_key_env="MY_UNSET_KEY_VAR"
    )
    with pytest.raises(ConfigError, match="MY_UNSET_KEY_VAR, which is not set"):
        named.api_key()


def test_cli_default_openai_url_without_key_is_one_line(tmp_path):
    env = env_without("OPENAI_API_KEY")
    proc = run_cli("generate", "-g", "openai:gpt-4o-mini", "-n", "1", "-o", str(tmp_path / "out"), env=env)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert "OPENAI_API_KEY" in lines[0] and "api.openai.com" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


# --- the providers' rate-limit headers -----------------------------------------------------------------------


def test_reset_formats_of_both_providers_are_read():
    assert reset_seconds("1s") == 1.0 and reset_seconds("20ms") == pytest.approx(0.02)
    assert reset_seconds("6m0s") == 360.0 and reset_seconds("1h2m3.5s") == pytest.approx(3723.5)
    assert 4.0 < reset_seconds(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 5))) <= 5.0
    assert reset_seconds("2020-01-01T00:00:00Z") == 0.0 and reset_seconds("soon") is None


def test_openai_remaining_requests_pace_the_run_instead_of_429s(tmp_path):
    quota = RateLimits(requests=5, window_s=2.0)
    with FakeServer(rate_limits=quota) as server:
        generator = GeneratorConfig(
            name="fake", backend="openai", model="fake-model", base_urls=[server.openai_base_url],
            max_concurrency=16, timeout_s=5.0,
        )
        started = time.monotonic()
        result = generate(tmp_path, generator, count=12, cache=False)
        elapsed = time.monotonic() - started
        stats = server.stats()
    assert result.records_total == 12 and result.failures_total == 0
    assert stats["rate_limited"] == 0 and not result.stats.transport_errors  # no 429 at all
    assert stats["requests"] == 12
    assert elapsed >= 4.0  # 5 + 5 + 2 requests: three windows of 2 s
    assert result.stats.rate_limit_waits > 0


def test_anthropic_remaining_tokens_pace_the_run_instead_of_429s(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    # A request counts ~8 prompt words + 64 max_tokens = ~72 tokens: 230 tokens a window hold 3 of them.
    quota = RateLimits(tokens=230, window_s=1.5)
    with FakeServer(rate_limits=quota, api_key=ANTHROPIC_KEY) as server:
        generator = with_urls(resolve_generator("anthropic:fake-model"), server.anthropic_base_url, max_concurrency=8)
        started = time.monotonic()
        result = generate(tmp_path, generator, count=9, cache=False)
        elapsed = time.monotonic() - started
        stats = server.stats()
    assert result.records_total == 9
    assert stats["rate_limited"] == 0 and not result.stats.transport_errors
    assert elapsed >= 3.0  # 3 + 3 + 3 requests: three windows of 1.5 s


# --- the spend cap ---------------------------------------------------------------------------------------------


def dear_generator(url: str, **fields) -> GeneratorConfig:
    return GeneratorConfig(
        name="dear", backend="openai", model="fake-model", base_urls=[url], pricing=DEAR, max_concurrency=4,
        timeout_s=5.0, **fields,
    )


def test_spend_cap_stops_before_crossing_then_a_higher_cap_resumes(tmp_path):
    out = tmp_path / "out"
    with FakeServer() as server:
        with pytest.raises(SpendCapReached) as raised:
            generate(tmp_path, dear_generator(server.openai_base_url), count=20, max_cost_usd=0.30)
        message = str(raised.value)
        first = read_jsonl(out / "records.jsonl")
        metadata = json.loads((out / "metadata.json").read_text())
        spent = sum(r["cost_usd"] for r in first)
        assert message.startswith(STOPPED_SPEND_CAP) and "\n" not in message and "--max-cost" in message
        assert 0 < len(first) < 20 and spent <= 0.30
        assert metadata["status"] == STOPPED_SPEND_CAP and metadata["this_run"]["stopped_by_spend_cap"]
        assert metadata["spend"]["cap_usd"] == 0.30
        assert read_jsonl(out / "failed.jsonl") == []  # what was not sent is not done, not failed
        assert server.stats()["requests"] == len(first)  # in-flight requests finished and were recorded
        # A cap below what the folder already cost: one line, nothing sent.
        with pytest.raises(SpendCapReached, match="nothing was run"):
            generate(tmp_path, dear_generator(server.openai_base_url), count=20, max_cost_usd=spent / 2)
        assert server.stats()["requests"] == len(first)
        # A higher cap resumes where the run stopped.
        result = generate(tmp_path, dear_generator(server.openai_base_url), count=20, max_cost_usd=10.0)
        assert server.stats()["requests"] == 20
    records = read_jsonl(out / "records.jsonl")
    assert result.status == "complete" and len(records) == len({r["id"] for r in records}) == 20
    assert json.loads((out / "metadata.json").read_text())["status"] == "complete"


def test_generator_cap_and_a_callers_budget_both_bind(tmp_path):
    with FakeServer() as server:
        with pytest.raises(SpendCapReached) as raised:
            generate(tmp_path, dear_generator(server.openai_base_url, max_cost_usd=0.25), count=20, out="gen")
        assert "$0.2500 cap" in str(raised.value)
        gen_spent = sum(r["cost_usd"] for r in read_jsonl(tmp_path / "gen" / "records.jsonl"))
        assert 0 < gen_spent <= 0.25
        with pytest.raises(SpendCapReached) as raised:
            generate(tmp_path, dear_generator(server.openai_base_url), count=20, out="budget", budget_usd=0.2)
        assert "budget" in str(raised.value)
        result = raised.value.result
        assert result is not None and 0 < result.stats.cost_usd <= 0.2 and result.records_total < 20
        assert raised.value.exit_code == 3


def test_unknown_price_under_a_cap_is_refused_before_any_request(tmp_path):
    with FakeServer() as server:
        url = server.openai_base_url
        generator = GeneratorConfig(name="free?", backend="openai", model="fake-model", base_urls=[url])
        assert generator.price() is None
        with pytest.raises(ConfigError) as raised:
            generate(tmp_path, generator, count=3, max_cost_usd=1.0)
        with pytest.raises(ConfigError):
            generate(tmp_path, generator, count=3, budget_usd=1.0)
        assert server.stats()["requests"] == 0
    message = str(raised.value)
    assert "fake-model" in message and "pricing:" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_cli_max_cost_stops_in_one_line_with_a_non_zero_exit(tmp_path):
    inputs = write_instructions(tmp_path / "in.jsonl", 20)
    generator = tmp_path / "dear.yaml"
    env = env_without("OPENAI_API_KEY", AGORABENCH_CACHE_DIR=str(tmp_path / "cache"))
    with FakeServer() as server:
        generator.write_text(
            f"backend: openai\nmodel: fake-model\nbase_urls: [{server.openai_base_url}]\nmax_concurrency: 4\n"
            "pricing: {input_per_mtok: 1000, output_per_mtok: 1000}\n"
        )
        args = ["generate", "-g", str(generator), "-i", str(inputs), "-o", str(tmp_path / "out"), "--no-progress"]
        dry = run_cli(*args, "--max-cost", "0.3", "--max-tokens", "64", "--dry-run", env=env)
        proc = run_cli(*args, "--max-cost", "0.3", "--max-tokens", "64", env=env)
    assert dry.returncode == 0 and "spend cap:     $0.3000" in dry.stdout, dry.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 3 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(STOPPED_SPEND_CAP) and "Traceback" not in proc.stderr


# --- prices as data --------------------------------------------------------------------------------------------


def test_the_price_table_is_data_with_a_source_and_a_date_for_every_price():
    prices, entries = load_prices(PRICES_FILE)
    assert prices == DEFAULT_PRICES and entries == PRICE_ENTRIES
    for name, entry in entries.items():
        assert entry.source.startswith("https://") and entry.checked.year >= 2024, name
    for model in (
        "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-5-mini", "gpt-5-nano-2025-08-07",
        "claude-3-5-sonnet-20241022", "claude-3-7-sonnet-20250219", "claude-sonnet-4-20250514",
        "claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001",
        "meta-llama/Llama-3.1-70B-Instruct",
    ):
        assert model in DEFAULT_PRICES, model
    assert DEFAULT_PRICES["claude-haiku-4-5"] == Pricing(input_per_mtok=1.0, output_per_mtok=5.0)
    assert DEFAULT_PRICES["gpt-4o-2024-08-06"] == DEFAULT_PRICES["gpt-4o"]
    # The package ships the file (hatch includes every file under src/agorabench in the wheel).
    assert PRICES_FILE.parent.name == "llm" and PRICES_FILE.exists()


def test_a_duplicate_or_malformed_price_is_one_line(tmp_path):
    bad = tmp_path / "prices.yaml"
    entry = "  input_per_mtok: 1\n  output_per_mtok: 2\n  checked: 2026-01-01\n  source: x\n"
    bad.write_text(f"m:\n{entry}  aliases: [m]\n")
    with pytest.raises(ConfigError, match="priced twice"):
        load_prices(bad)
    bad.write_text("m:\n  input_per_mtok: 1\n  checked: 2026-01-01\n  source: x\n")
    with pytest.raises(ConfigError) as raised:
        load_prices(bad)
    assert "output_per_mtok" in str(raised.value) and "\n" not in str(raised.value)


# --- open-weight presets: an endpoint of the user's ---------------------------------------------------------


def test_open_weight_presets_carry_no_endpoint_and_are_refused_until_given_one(tmp_path):
    for name in ("llama-3.1-405b-instruct", "llama-3.1-70b-instruct", "llama-3.1-8b-instruct"):
        generator = resolve_generator(name)
        assert generator.base_urls == [] and generator.needs_endpoint(), name
        assert "base_urls" not in GENERATOR_PRESETS[name]
    with pytest.raises(ConfigError) as raised:
        generate(tmp_path, resolve_generator("llama-3.1-70b-instruct"), count=2)
    message = str(raised.value)
    assert message.startswith("generator 'llama-3.1-70b-instruct' needs base_urls")
    assert "meta-llama/Llama-3.1-70B-Instruct" in message and "\n" not in message
    assert not (tmp_path / "out").exists()
    with FakeServer() as server:
        served = with_urls(resolve_generator("llama-3.1-8b-instruct"), server.openai_base_url)
        assert not served.needs_endpoint()
        result = generate(tmp_path, served, count=3)
        assert server.stats()["completions"] == 3
    assert result.records_total == 3
    assert read_jsonl(tmp_path / "out" / "records.jsonl")[0]["model"] == "meta-llama/Llama-3.1-8B-Instruct"


def test_cli_open_weight_preset_without_endpoint_is_one_line(tmp_path):
    proc = run_cli("generate", "-g", "llama-3.1-70b-instruct", "-n", "1", "-o", str(tmp_path / "o"), env=env_without())
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert "needs base_urls" in lines[0] and "--base-url" in lines[0]

