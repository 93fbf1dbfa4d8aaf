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
    assert small.max_length == 512 and small.bf16 and not small.gradient_checkpointing
    assert load_recipe("lora").lora is not None


def test_recipe_yaml_overrides_a_builtin_and_refuses_unknown_keys(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text(yaml.safe_dump({"base": "cpu-small", "max_length": 256, "overlength": "drop", "gradient_checkpointing": True}))
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


@pytest.mark.slow
def test_cpu_loss_is_trls_loss(tmp_path):
    """On CPU we use the model's own loss instead of TRL's fused LM head (faster there): same objective."""
    import torch
    from trl import SFTTrainer

    from agorabench.training.sft import build_trainer, load_base

    model, tokenizer, _ = load_base(BASE)
    examples = [
        {"prompt": [{"role": "user", "content": i}], "completion": [{"role": "assistant", "content": r}]}
        for i, r in PAIRS
    ]
    trainer = build_trainer(examples, model, tokenizer, load_recipe("tiny"), tmp_path)
    assert type(trainer) is not SFTTrainer
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
    with torch.no_grad():
        ours = trainer.compute_loss(trainer.model, dict(batch))
        trls = SFTTrainer.compute_loss(trainer, trainer.model, dict(batch))
        tokens = int((batch["labels"][:, 1:] != -100).sum())
        ours_summed = trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=torch.tensor(tokens * 2))
    assert torch.allclose(ours, trls, rtol=1e-5), (ours, trls)
    # Under gradient accumulation the loss is divided by the tokens of the whole accumulated batch.
    assert torch.allclose(ours_summed, trls / 2, rtol=1e-5)


@pytest.mark.slow
def test_training_is_deterministic_given_the_seed(tmp_path, dataset):
    from safetensors.torch import load_file

    from agorabench.training.sft import train

    recipe = load_recipe("tiny").model_copy(update={"max_steps": 2})
    first = train(dataset, BASE, recipe, tmp_path / "a")
    second = train(dataset, BASE, recipe, tmp_path / "b")
    assert first.losses == second.losses
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)
    reseeded = train(dataset, BASE, recipe.model_copy(update={"seed": 7}), tmp_path / "c")
    assert reseeded.losses != first.losses  # the seed orders the data: another seed, another run


@pytest.mark.slow
def test_lora_recipe_trains_adapters_and_saves_a_merged_model(tmp_path, dataset):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from agorabench.llm.embedded import resolve_local_model
    from agorabench.training.sft import train

    recipe = load_recipe("lora").model_copy(
        update={"max_steps": 2, "per_device_batch_size": 2, "gradient_accumulation_steps": 1, "max_length": 128,
                "learning_rate": 1e-2}
    )
    result = train(dataset, BASE, recipe, tmp_path / "lora")
    assert result.steps == 2 and all(loss == loss for loss in result.losses)
    assert not (tmp_path / "lora" / "adapter_config.json").exists()  # merged into plain weights
    merged = load_file(tmp_path / "lora" / "model.safetensors")
    assert not any("lora_" in key for key in merged)
    base = load_file(Path(resolve_local_model(BASE)) / "model.safetensors")
    changed = [k for k in base if k in merged and not torch.equal(base[k], merged[k])]
    assert any("q_proj" in k for k in changed)  # adapters on all linear layers, merged
    assert not any("norm" in k for k in changed)  # nothing outside the adapters moved
    AutoModelForCausalLM.from_pretrained(tmp_path / "lora")


@pytest.mark.slow
def test_overlength_examples_are_dropped_and_counted(tmp_path):
    from agorabench.training.sft import train

    rows = [{"instruction": i, "response": r} for i, r in PAIRS]
    rows.append({"instruction": "Repeat.", "response": "word " * 400})
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    recipe = load_recipe("tiny").model_copy(update={"max_steps": 1, "overlength": "drop"})
    result = train(data, BASE, recipe, tmp_path / "out")
    log = json.loads((tmp_path / "out" / "training_log.json").read_text())
    assert result.overlength == 1 and result.examples == 4
    assert log["examples"] == 5 and log["examples_trained"] == 4
    assert log["overlength"]["action"] == "drop" and log["overlength"]["longest"] > 128


def test_memory_estimate_warns_with_its_parts():
    from types import SimpleNamespace

    import torch

    from agorabench.training.sft import estimate_memory, memory_warning

    class Fake(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1000, 1000))
            self.config = SimpleNamespace(
                get_text_config=lambda: SimpleNamespace(vocab_size=50_000, hidden_size=512, num_hidden_layers=20)
            )

    full = estimate_memory(Fake(), load_recipe("cpu-small"))
    assert full.parameters == pytest.approx(0.016)  # 1M parameters x 16 B
    assert full.logits == pytest.approx(4 * 512 * 50_000 * 13 / 1e9)
    lora = estimate_memory(Fake(), load_recipe("lora"))
    assert lora.parameters == pytest.approx(0.004) and lora.activations < full.activations  # checkpointing
    assert memory_warning(full, available=64.0, base="m") is None
    line = memory_warning(full, available=1.0, base="m")
    assert line is not None and "logits" in line and "1.0 GB are available" in line and "\n" not in line


@pytest.mark.slow
def test_memory_estimate_is_near_what_training_measured():
    """The coefficients came from cpu-small runs; the estimate for SmolLM2-135M stays within 25% of 5.9 GB."""
    from agorabench.training.sft import estimate_memory, load_base

    model, _, _ = load_base(BASE)
    assert 0.75 * 5.9 < estimate_memory(model, load_recipe("cpu-small")).total < 1.25 * 5.9


@pytest.mark.slow
def test_accelerate_launch_trains_with_two_processes(tmp_path, dataset):
    """The multi-process path (the one FSDP/DeepSpeed take on GPUs) through `accelerate launch`, on CPU (gloo)."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    proc = subprocess.run(
        [sys.executable, "-m", "agorabench", "train", "--data", str(dataset), "--base", BASE, "--recipe", "tiny",
         "-o", str(out), "--launch", "multi_cpu", "--num-processes", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = json.loads((out / "training_log.json").read_text())
    assert log["steps"] == 4 and (out / "model.safetensors").is_file()
    # Two processes each see half of every batch: 4 examples per epoch at batch 2 x 2 ranks is one step per epoch.
    assert "checkpoint in" in proc.stdout and proc.stdout.count("trained ") == 1  # the main process reports


def test_launch_configs_parse_as_accelerate_configs():
    from accelerate.commands.config.config_args import ClusterConfig

    from agorabench.training.launch import builtin_launch_configs, launch_command, resolve_launch_config

    assert {"multi_gpu", "fsdp", "deepspeed_zero3", "multi_cpu"} <= set(builtin_launch_configs())
    kinds = {name: ClusterConfig.from_yaml_file(resolve_launch_config(name)).distributed_type.value
             for name in builtin_launch_configs()}
    assert kinds["fsdp"] == "FSDP" and kinds["deepspeed_zero3"] == "DEEPSPEED"
    fsdp = ClusterConfig.from_yaml_file(resolve_launch_config("fsdp"))
    assert fsdp.fsdp_config["fsdp_version"] == 2 and fsdp.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    command = launch_command(resolve_launch_config("fsdp"), ["--data", "d"], num_processes=8)
    assert command[-4:] == ["agorabench", "train", "--data", "d"] and "--num_processes" in command
    with pytest.raises(ConfigError):
        resolve_launch_config("nope")


@pytest.mark.slow
def test_gemma_conversion_round_trip(tmp_path):
    """Gemma 3 270M: the GGUF split over four packages is assembled, de-quantized, saved as safetensors once;
    the folder loads with the same logits as the GGUF itself and trains with the plain template."""
    import contextlib
    import io

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agorabench.llm.embedded import EMBEDDED_STUDENT, embedded_gguf_path, embedded_model_dir
    from agorabench.llm.plain_template import PLAIN_CHAT_TEMPLATE
    from agorabench.training.sft import load_base, train

    folder = embedded_model_dir(EMBEDDED_STUDENT)
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.gguf"))
    gguf = embedded_gguf_path(EMBEDDED_STUDENT, assemble_into=tmp_path / "gguf")
    with contextlib.redirect_stderr(io.StringIO()):
        direct = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
            quantization_config=transformers.GgufConfig(gguf_file=gguf.name, dequantize=True),
        )
    converted = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    text = "The capital of France is"
    ids = tokenizer(text, return_tensors="pt")
    assert tokenizer.decode(ids["input_ids"][0], skip_special_tokens=True) == text
    with torch.no_grad():
        assert torch.equal(direct(**ids).logits, converted(**ids).logits)

    model, tokenizer, plain = load_base(EMBEDDED_STUDENT)
    assert plain and tokenizer.chat_template == PLAIN_CHAT_TEMPLATE  # a base model: no template of its own
    data = write_jsonl(tmp_path / "d.jsonl", [{"instruction": i, "response": r} for i, r in PAIRS])
    # tiny's lr 5e-4 is too hot for a full fine-tune of Gemma's 170M embedding parameters (the loss jumps)
    recipe = load_recipe("tiny").model_copy(update={"max_steps": 3, "learning_rate": 2e-5})
    result = train(data, EMBEDDED_STUDENT, recipe, tmp_path / "s")
    assert result.steps == 3 and result.losses[-1] < result.losses[0]
    assert AutoTokenizer.from_pretrained(tmp_path / "s").chat_template == PLAIN_CHAT_TEMPLATE


def test_plain_template_renders_the_documented_format():
    from jinja2 import Template

    from agorabench.llm.plain_template import PLAIN_CHAT_TEMPLATE

    render = Template(PLAIN_CHAT_TEMPLATE).render
    chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
    assert render(messages=chat, eos_token="<eos>") == "### Instruction:\nHi\n\n### Response:\nYo<eos>"
    prompt = render(messages=chat[:1], eos_token="<eos>", add_generation_prompt=True)
    assert prompt == "### Instruction:\nHi\n\n### Response:\n"
    system = render(messages=[{"role": "system", "content": "Be brief."}, *chat[:1]], eos_token="")
    assert system == "Be brief.\n\n### Instruction:\nHi\n\n"
