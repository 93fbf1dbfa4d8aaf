"""The backend registry: a new backend is one module plus one `register_backend` line, and then works
everywhere a backend name is accepted (configs, `name:model` shorthands, `agorabench generate`, run plans)."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap

import pytest
from conftest import read_jsonl
from typer.testing import CliRunner

from agorabench.cli import app
from agorabench.errors import ConfigError
from agorabench.llm.config import GeneratorConfig, resolve_generator
from agorabench.llm.registry import BACKENDS, BackendSpec, backend_spec, register_backend
from agorabench.testing.fake_server import FakeServer

# A backend the package has never seen: it speaks the chat-completions protocol with plain aiohttp (no SDK),
# so nothing of the built-in HTTP backends is reused. The last line is its whole registration.
PLUGIN = '''
import aiohttp

from agorabench.llm.base import Backend, Completion, TransientError, Usage, normalise_finish_reason


class PlainHttpBackend(Backend):
    def __init__(self, config):
        self.model = config.model
        self.url = config.base_urls[0]

    async def complete(self, messages, params):
        body = {"model": self.model, "messages": [m.model_dump() for m in messages],
                "temperature": params.temperature, "max_tokens": params.max_tokens, "seed": params.seed}
        async with aiohttp.ClientSession() as session:
            async with session.post(self.url + "/chat/completions", json=body) as response:
                if response.status != 200:
                    raise TransientError(f"http_{response.status}", f"HTTP {response.status}")
                data = await response.json()
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Completion(text=choice["message"]["content"], finish_reason=normalise_finish_reason(
            choice.get("finish_reason")), usage=Usage(prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0)), model=self.model)


from agorabench.llm.registry import BackendSpec, register_backend
register_backend(BackendSpec("plainhttp", PlainHttpBackend, remote=True, default_base_url="{url}"))
'''

ANSWER = "1. Review your notes every day.\n2. Sleep well before the exam.\n3. Practise with past questions.\n[END]"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Write and import the plugin module; yields the fake server it points at; unregisters afterwards."""
    seen: list[dict] = []

    def responder(body: dict) -> str:
        seen.append(body)
        return ANSWER

    with FakeServer(responder=responder) as server:
        (tmp_path / "plainhttp_plugin.py").write_text(textwrap.dedent(PLUGIN.replace("{url}", server.openai_base_url)))
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.import_module("plainhttp_plugin")
        try:
            yield server, seen
        finally:
            BACKENDS.pop("plainhttp", None)
            sys.modules.pop("plainhttp_plugin", None)


def test_a_backend_registered_in_one_line_generates_over_http(plugin, tmp_path):
    server, seen = plugin
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "generate", "-g", "plainhttp:fake-model", "--method", "response_generation", "--domain", "general",
        "-n", "3", "--max-tokens", "64", "--no-cache", "--no-progress", "-o", str(out),
    ])
    assert result.exit_code == 0, result.output
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == 3 and all(r["response"].startswith("1. Review") for r in records)
    assert {r["generator"] for r in records} == {"fake-model"}
    # The requests really crossed HTTP to the server, one per record, with the setting's rendered prompt.
    assert len(seen) == 3 and all(body["model"] == "fake-model" for body in seen)
    assert all("[Instruction]" in body["messages"][-1]["content"] for body in seen)
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["counts"]["records"] == 3 and metadata["generator"]["backend"] == "plainhttp"


def test_the_spec_answers_what_callers_used_to_ask_by_name(plugin):
    from agorabench.pipeline.config import RunConfig
    from agorabench.pipeline.plan import build_plan

    spec = backend_spec("plainhttp")
    generator = resolve_generator("plainhttp:fake-model")
    # A remote spec's default URL fills a generator that names none.
    assert generator.base_urls == [spec.default_base_url] and spec.remote and not spec.runs_model_here
    plan = build_plan(RunConfig.model_validate({
        "profile": "tiny", "generators": [{"name": "p", "backend": "plainhttp", "model": "m"}],
        "settings": ["RG/general"], "student": {"base": "smollm2-135m-instruct", "recipe": "tiny"},
        "reference": {"gold": {}}, "evaluation": {"benchmarks": {"general": ["ifeval"]}},
        "executor": "ray",
    }))
    generate = next(s for s in plan.stages() if s.kind == "generate")
    assert generate.gpus == 0.0  # a remote backend's stages ask a cluster for no GPU


def test_every_builtin_backend_has_a_spec_and_unknown_names_are_one_line():
    assert {"openai", "anthropic", "local", "vllm"} <= set(BACKENDS)
    assert backend_spec("local").in_process and backend_spec("vllm").uses_gpu == "required"
    assert backend_spec("openai").remote and backend_spec("openai").default_base_url == "https://api.openai.com/v1"
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        backend_spec("nope")
    with pytest.raises(ValueError, match="unknown backend"):
        GeneratorConfig(name="x", backend="nope", model="m")
    with pytest.raises(ConfigError, match="unknown generator 'nope:m'"):
        resolve_generator("nope:m")


def test_registering_again_replaces_and_the_factory_may_be_an_import_path():
    spec = register_backend(BackendSpec("alias-openai", "agorabench.llm.openai_backend:OpenAIBackend", remote=True,
                                        default_base_url="http://127.0.0.1:9/v1"))
    try:
        backend = spec.create(resolve_generator("alias-openai:m"))
        assert type(backend).__name__ == "OpenAIBackend" and backend.model == "m"
    finally:
        BACKENDS.pop("alias-openai")
