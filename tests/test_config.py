"""Typed configuration: unknown keys rejected, every error one line naming the field and value."""

from __future__ import annotations

import pytest

from agorabench.errors import ConfigError
from agorabench.generation.config import GenerateConfig
from agorabench.io import load_config
from agorabench.llm.base import Usage
from agorabench.llm.config import GENERATOR_PRESETS, GeneratorConfig, resolve_generator
from agorabench.llm.pricing import DEFAULT_PRICES, Pricing


def test_every_section_rejects_unknown_keys(tmp_path):
    for text, field in [
        ("bogus: 1\n", "bogus"),
        ("engine:\n  retries: 3\n", "engine.retries"),
        ("task:\n  file: x.jsonl\n", "task.file"),
        ("generator:\n  name: g\n  backend: openai\n  model: m\n  key: abc\n", "generator.GeneratorConfig.key"),
    ]:
        path = tmp_path / "c.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as raised:
            load_config(GenerateConfig, path)
        message = str(raised.value)
        assert message.startswith(str(path)) and "unknown field" in message and "\n" not in message
        assert field.split(".")[-1] in message


def test_wrong_type_names_field_and_value(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("n: lots\n")
    with pytest.raises(ConfigError, match=r"c.yaml: n: .*got 'lots'"):
        load_config(GenerateConfig, path)


def test_api_key_env_must_be_a_name_not_a_key():
    with pytest.raises(ValueError, match="NAME of an environment variable"):
        GeneratorConfig(name="g", backend="openai", model="m", api_key_env="sk-abc123-xyz")


def test_missing_key_message_names_the_variable_only(monkeypatch):
    monkeypatch.delenv("SOME_KEY_VAR", raising=False)
    generator = GeneratorConfig(name="g", backend="openai", model="m", api_key_env="SOME_KEY_VAR")
    with pytest.raises(ConfigError, match="SOME_KEY_VAR, which is not set"):
        generator.api_key()


def test_presets_resolve_and_carry_the_papers_prices():
    for name in GENERATOR_PRESETS:
        assert resolve_generator(name).name == name
    assert resolve_generator("gpt-4o").price() == Pricing(input_per_mtok=2.5, output_per_mtok=10.0)
    assert resolve_generator("gpt-4o-mini").price() == Pricing(input_per_mtok=0.15, output_per_mtok=0.6)
    assert resolve_generator("claude-3.5-sonnet").price() == Pricing(input_per_mtok=3.0, output_per_mtok=15.0)
    assert resolve_generator("llama-3.1-405b-instruct").price().output_per_mtok == 1.79
    assert resolve_generator("llama-3.1-70b-instruct").price() == Pricing(input_per_mtok=0.35, output_per_mtok=0.40)
    assert resolve_generator("llama-3.1-8b-instruct").price().input_per_mtok == 0.055
    assert resolve_generator("smollm2-135m-instruct").backend == "local"


def test_price_override_and_cost():
    override = Pricing(input_per_mtok=1.0, output_per_mtok=2.0)
    generator = GeneratorConfig(name="g", backend="openai", model="gpt-4o", pricing=override)
    assert generator.price() == override
    assert override.cost(Usage(prompt_tokens=1_000_000, completion_tokens=500_000)) == pytest.approx(2.0)
    assert DEFAULT_PRICES["gpt-4o"].cost(Usage(prompt_tokens=1000, completion_tokens=1000)) == pytest.approx(0.0125)


def test_shorthand_and_generator_files(tmp_path):
    assert resolve_generator("openai:my-model").model == "my-model"
    # Shorthands name no variable: the provider's is sent when set and demanded only by the provider's own URL.
    assert resolve_generator("anthropic:claude-x").api_key_env is None
    assert resolve_generator("anthropic:claude-x").key_variable() == "ANTHROPIC_API_KEY"
    assert resolve_generator("openai:my-model").key_variable() == "OPENAI_API_KEY"
    path = tmp_path / "vllm-70b.yaml"
    path.write_text("backend: openai\nmodel: meta-llama/Llama-3.1-70B-Instruct\nbase_urls: [http://a:8000/v1, http://b:8000/v1/]\n")
    generator = resolve_generator(str(path))
    assert generator.name == "vllm-70b" and generator.base_urls == ["http://a:8000/v1", "http://b:8000/v1"]
    with pytest.raises(ConfigError, match="unknown generator"):
        resolve_generator("nonsense")
    with pytest.raises(ConfigError, match="file not found"):
        resolve_generator(str(tmp_path / "absent.yaml"))
