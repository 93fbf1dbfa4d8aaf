"""The paper's setup for the students: one system prompt in training and evaluation, and an effective batch that
stays the recipe's on any device count (issue 13, item 6)."""

from __future__ import annotations

import json

import pytest
import yaml

from agorabench.errors import ConfigError
from agorabench.evaluation.evaluate import evaluate_benchmark
from agorabench.llm.config import GeneratorConfig
from agorabench.pipeline.config import RunConfig, profile_config
from agorabench.pipeline.plan import build_plan
from agorabench.testing.fake_server import FakeServer
from agorabench.training.data import read_examples, with_system_prompt
from agorabench.training.recipes import (
    BUILTIN_RECIPES,
    PAPER_SYSTEM_PROMPT,
    accumulation_steps,
    batch_text,
    load_recipe,
)


def test_the_paper_recipe_keeps_an_effective_batch_of_32_on_any_device_count():
    paper = BUILTIN_RECIPES["agorabench"]
    assert paper.effective_batch_size == 32 and paper.system_prompt == PAPER_SYSTEM_PROMPT
    assert accumulation_steps(paper, 1) == 8 and accumulation_steps(paper, 4) == 2 and accumulation_steps(paper, 8) == 1
    assert batch_text(paper, 4) == "effective batch 32 = 4 per device x 2 accumulation x 4 devices"
    with pytest.raises(ConfigError) as info:
        accumulation_steps(paper, 3)
    message = str(info.value)
    assert "effective_batch_size 32 is not a multiple of per_device_batch_size 4 x 3 device(s) = 12" in message
    assert "\n" not in message
    # A recipe without an effective batch uses its accumulation as given (the CPU recipes).
    assert accumulation_steps(load_recipe("cpu-small"), 2) == 8


def test_the_paper_profile_plans_its_stated_batch_and_refuses_one_it_cannot_keep(tmp_path):
    plan = build_plan(profile_config("agorabench"))
    train = plan.cells[0].train
    assert train.params["num_processes"] == 4 and train.params["recipe"]["effective_batch_size"] == 32
    mine = tmp_path / "odd.yaml"
    mine.write_text(yaml.safe_dump({"base": "agorabench", "effective_batch_size": 30}))
    config = profile_config("agorabench").model_dump(mode="json")
    config["student"]["recipe"] = str(mine)
    with pytest.raises(ConfigError, match="effective_batch_size 30 is not a multiple of per_device_batch_size 4 x 4"):
        build_plan(RunConfig.model_validate(config))


def test_training_examples_open_with_the_system_prompt(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"instruction": "What is 2 + 2?", "response": "4"}) + "\n")
    examples = read_examples(data)
    (example,) = with_system_prompt(examples, PAPER_SYSTEM_PROMPT)
    assert example["prompt"] == [{"role": "system", "content": PAPER_SYSTEM_PROMPT},
                                 {"role": "user", "content": "What is 2 + 2?"}]
    assert example["completion"] == [{"role": "assistant", "content": "4"}]  # the loss stays on the answer
    assert with_system_prompt(examples, None) == examples


def test_the_system_prompt_is_in_every_training_and_evaluation_stage_key(tmp_path):
    plan = build_plan(profile_config("agorabench"))
    evaluations = [s for s in plan.stages() if s.kind == "evaluate"]
    assert evaluations and all(s.params["system_prompt"] == PAPER_SYSTEM_PROMPT for s in evaluations)
    quick = profile_config("quickstart").model_dump(mode="json")
    before = {(s.kind, s.label): s.key for s in build_plan(RunConfig.model_validate(quick)).stages()}
    none = tmp_path / "no-system.yaml"
    none.write_text(yaml.safe_dump({"base": quick["student"]["recipe"], "system_prompt": None}))
    quick["student"]["recipe"] = str(none)
    after = {(s.kind, s.label): s.key for s in build_plan(RunConfig.model_validate(quick)).stages()}
    changed = {kind for (kind, label), key in before.items() if after[kind, label] != key}
    unchanged = {kind for (kind, label), key in before.items() if after[kind, label] == key}
    # Every model-facing stage is redone with another system prompt; generation is not (its prompts are the
    # generator's own).
    assert {"train", "evaluate"} <= changed and "train" not in unchanged and "evaluate" not in unchanged
    assert "generate" in unchanged and "generate" not in changed


def test_evaluation_prompts_open_with_the_system_prompt_over_http(tmp_path):
    seen: list[list[dict]] = []

    def responder(body):
        seen.append(body["messages"])
        return "The answer is\n[RESULT] 3 [/RESULT]"

    with FakeServer(responder=responder) as server:
        model = GeneratorConfig(name="m", backend="openai", model="m", base_urls=[server.openai_base_url])
        summary = evaluate_benchmark(model, "gsm8k", tmp_path / "with", limit=2, system_prompt=PAPER_SYSTEM_PROMPT)
        assert summary["system_prompt"] == PAPER_SYSTEM_PROMPT
        assert len(seen) == 2 and all(m[0] == {"role": "system", "content": PAPER_SYSTEM_PROMPT} for m in seen)
        assert all(m[-1]["role"] == "user" for m in seen)
        seen.clear()
        evaluate_benchmark(model, "gsm8k", tmp_path / "without", limit=2)
        assert len(seen) == 2 and all(m[0]["role"] == "user" for m in seen)  # no system prompt: none sent
