"""Student training (issue 5): recipes, dataset reading, and a few real SFT steps of SmolLM2-135M."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agorabench.cli import app
from agorabench.errors import AgorabenchError, ConfigError
from agorabench.training.data import DatasetError, read_examples
from agorabench.training.recipes import BUILTIN_RECIPES, load_recipe

BASE = "smollm2-135m-instruct"

PAIRS = [
    ("What is 2 + 2?", "2 + 2 = 4. [RESULT] 4 [/RESULT]"),
    ("What is 3 + 5?", "3 + 5 = 8. [RESULT] 8 [/RESULT]"),
    ("What is 7 - 2?", "7 - 2 = 5. [RESULT] 5 [/RESULT]"),
    ("What is 4 * 3?", "4 * 3 = 12. [RESULT] 12 [/RESULT]"),
]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_jsonl(tmp_path / "data.jsonl", [{"instruction": i, "response": r} for i, r in PAIRS])


# --- fast: recipes and data -------------------------------------------------------------------------


def test_builtin_recipes_match_the_paper():
    paper = BUILTIN_RECIPES["agorabench"]
    assert (paper.learning_rate, paper.num_epochs, paper.max_length) == (1e-5, 5, 4096)
    assert (paper.per_device_batch_size, paper.gradient_accumulation_steps) == (4, 8)
    assert (paper.bf16, paper.weight_decay, paper.seed) == (True, 0.01, 42)
    small = load_recipe("cpu-small")
    assert small.max_length == 512 and small.gradient_checkpointing and small.bf16
    assert load_recipe("lora").lora is not None


def test_recipe_yaml_overrides_a_builtin_and_refuses_unknown_keys(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text(yaml.safe_dump({"base": "cpu-small", "max_length": 256, "overlength": "drop"}))
    recipe = load_recipe(good)
    assert (recipe.name, recipe.max_length, recipe.overlength, recipe.gradient_checkpointing) == (
        "mine", 256, "drop", True,
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "learning_rte": 1e-5}))
    with pytest.raises(ConfigError) as info:
        load_recipe(bad)
    assert "learning_rte" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="unknown recipe"):
        load_recipe("no-such-recipe")


def test_reads_prompt_completion_from_a_run_folder(tmp_path, dataset):
    run = tmp_path / "run"
    run.mkdir()
    (run / "records.jsonl").write_text(dataset.read_text())
    examples = read_examples(run)
    assert len(examples) == 4
    assert examples[0] == {
        "prompt": [{"role": "user", "content": PAIRS[0][0]}],
        "completion": [{"role": "assistant", "content": PAIRS[0][1]}],
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ('{"instruction": "a", "response": "b"}\n{not json\n', "line 2 is not valid JSON"),
        ('{"instruction": "a", "response": "b"}\n{"instruction": "a"}\n', "line 2 has no non-empty string 'response'"),
        ('[1, 2]\n', "line 1 is not a JSON object"),
    ],
)
def test_malformed_dataset_is_one_line_naming_file_and_line(tmp_path, content, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetError) as info:
        read_examples(path)
    message = str(info.value)
    assert expected in message and str(path) in message and "\n" not in message
    assert isinstance(info.value, AgorabenchError)


def test_cli_refuses_a_malformed_dataset_before_loading_a_model(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "a", "response": "b"}\nnot json\n')
    result = CliRunner().invoke(app, ["train", "--data", str(path), "--recipe", "tiny", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "line 2 is not valid JSON" in lines[0]
    assert not (tmp_path / "o").exists()


# --- slow: real training of SmolLM2-135M -------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from agorabench.training.sft import train

    folder = tmp_path_factory.mktemp("train")
    data = write_jsonl(folder / "data.jsonl", [{"instruction": i, "response": r} for i, r in PAIRS])
    recipe = load_recipe("tiny").model_copy(update={"max_steps": 3})
    return train(data, BASE, recipe, folder / "student")


@pytest.mark.slow
def test_loss_goes_down_and_the_log_is_written(trained):
    assert trained.steps == 3 and len(trained.losses) == 3
    assert trained.losses[-1] < trained.losses[0]
    log = json.loads((trained.out_dir / "training_log.json").read_text())
    assert [entry["step"] for entry in log["loss_per_step"]] == [1, 2, 3]
    assert log["tokens_per_s"] > 0 and log["peak_memory_gb"] > 0
    assert log["examples"] == 4 and log["overlength"]["count"] == 0


@pytest.mark.slow
def test_resolved_recipe_is_saved(trained):
    saved = yaml.safe_load((trained.out_dir / "recipe.yaml").read_text())
    assert saved == json.loads((trained.out_dir / "recipe.json").read_text())
    assert saved["max_steps"] == 3 and saved["max_length"] == 128 and saved["seed"] == 42
    assert load_recipe(trained.out_dir / "recipe.yaml") == trained.recipe


@pytest.mark.slow
def test_checkpoint_reloads_and_generates(trained):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(trained.out_dir)
    model = AutoModelForCausalLM.from_pretrained(trained.out_dir)
    assert tokenizer.chat_template  # the template used in training travels with the checkpoint
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 2?"}], add_generation_prompt=True, return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    assert tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


@pytest.mark.slow
def test_prompt_tokens_carry_label_minus_100(tmp_path):
    from agorabench.training.sft import build_trainer, load_base

    model, tokenizer, plain = load_base(BASE)
    assert not plain  # SmolLM2-Instruct has its own (ChatML) template
    examples = [
        {"prompt": [{"role": "user", "content": i}], "completion": [{"role": "assistant", "content": r}]}
        for i, r in PAIRS
    ]
    trainer = build_trainer(examples, model, tokenizer, load_recipe("tiny"), tmp_path)
    row = trainer.train_dataset[0]
    batch = trainer.data_collator([row])
    labels, ids = batch["labels"][0].tolist(), batch["input_ids"][0].tolist()
    prompt_len = len(
        tokenizer.apply_chat_template(examples[0]["prompt"], add_generation_prompt=True, tokenize=True,
                                      return_dict=True)["input_ids"]
    )
    assert prompt_len > 0
    assert all(label == -100 for label in labels[:prompt_len])
    trained_ids = [t for t, label in zip(ids, labels) if label != -100]
    assert PAIRS[0][1] in tokenizer.decode(trained_ids)
    assert "What is 2 + 2?" not in tokenizer.decode(trained_ids)
