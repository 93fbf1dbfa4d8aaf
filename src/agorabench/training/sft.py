"""Fine-tune a student: TRL `SFTTrainer` on prompt-completion data, loss on completion tokens only.

`train(data, base, recipe, out_dir)` writes into `out_dir`:
  - the Hugging Face checkpoint (model + tokenizer, with the chat template used in training),
  - `training_log.json`: loss per step, tokens/s, peak memory, dataset length counts, versions,
  - `recipe.yaml` and `recipe.json`: the exact resolved recipe.
A base without a chat template (a pretrained base such as Gemma 3 270M) gets PLAIN_CHAT_TEMPLATE, which is
saved with the tokenizer, so the student is evaluated in the format it was trained in.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agorabench.errors import AgorabenchError, ConfigError
from agorabench.llm.plain_template import PLAIN_CHAT_TEMPLATE
from agorabench.training.data import LengthReport, fit_to_length, read_examples, with_system_prompt
from agorabench.training.recipes import Recipe, accumulation_steps, load_recipe

log = logging.getLogger(__name__)

LOG_FILE = "training_log.json"


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    losses: list[float]
    tokens_per_s: float
    steady_tokens_per_s: float | None
    peak_memory_gb: float
    runtime_s: float
    examples: int
    overlength: int
    recipe: Recipe
    log: list[dict[str, Any]] = field(default_factory=list, repr=False)


def load_base(base: str):
    """(model, tokenizer, used_plain_template) for a Hub id, local folder or embedded model name."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agorabench.llm.embedded import resolve_local_model

    where = resolve_local_model(base)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AgorabenchError(f"cannot load base model {base!r}: {first}") from None
    plain = not getattr(tokenizer, "chat_template", None)
    if plain:
        tokenizer.chat_template = PLAIN_CHAT_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, plain


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of a training run, by part (GB). Coefficients fitted to peak RSS measured on CPU here
    (SmolLM2-135M: 5.9 GB, Gemma 3 270M: 13.3 GB at cpu-small, 4 x 512 tokens); a guide, not a promise."""

    runtime: float  # interpreter, torch, tokenizer
    parameters: float  # weights + gradients + AdamW moments (full) or frozen weights + adapters (LoRA)
    logits: float  # the (tokens x vocabulary) logits, their bf16 copy and gradient: dominates big vocabularies
    activations: float  # kept for backward: per token, per layer, per hidden unit

    @property
    def total(self) -> float:
        return self.runtime + self.parameters + self.logits + self.activations

    def line(self) -> str:
        return (
            f"{self.total:.1f} GB (parameters and optimizer {self.parameters:.1f}, logits {self.logits:.1f}, "
            f"activations {self.activations:.1f}, runtime {self.runtime:.1f})"
        )


def estimate_memory(model, recipe: Recipe) -> MemoryEstimate:
    config = model.config.get_text_config()
    n_params = sum(p.numel() for p in model.parameters())
    tokens = recipe.per_device_batch_size * recipe.max_length
    # Full fine-tune with AdamW: fp32 weights, gradients and two moments (16 B/param). LoRA: frozen fp32
    # weights (4 B/param); the adapters are too small to count.
    per_param = 4 if recipe.lora is not None else 16
    vocab = getattr(config, "vocab_size", 0) or 0
    hidden = getattr(config, "hidden_size", 0) or 0
    layers = getattr(config, "num_hidden_layers", 0) or 0
    # Checkpointing keeps one tensor per layer instead of every intermediate: ~8x fewer bytes.
    per_activation = 5 if recipe.gradient_checkpointing else 39
    return MemoryEstimate(
        runtime=1.0,
        parameters=n_params * per_param / 1e9,
        logits=tokens * vocab * 13 / 1e9,
        activations=tokens * layers * hidden * per_activation / 1e9,
    )


def available_memory_gb() -> float | None:
    """Free memory of the device training runs on: the first GPU's total, else the host's MemAvailable."""
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_properties(0).total_memory / 1e9
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 / 1e9
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def memory_warning(estimate: MemoryEstimate, available: float | None, base: str) -> str | None:
    """The warning to print when the estimate does not fit in 90% of what is available."""
    if available is None or estimate.total <= 0.9 * available:
        return None
    return (
        f"training {base} needs about {estimate.line()} but {available:.1f} GB are available: expect an "
        "out-of-memory error; lower per_device_batch_size or max_length, turn on gradient_checkpointing, "
        "or use the lora recipe"
    )


def build_trainer(
    examples: list[dict[str, Any]], model, tokenizer, recipe: Recipe, out_dir: Path, callbacks=(), show_progress=False
):
    """The configured SFTTrainer (not yet trained); tests use it to inspect tokenization and labels."""
    import torch
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from agorabench.training.progress import RichTrainProgress

    cuda = torch.cuda.is_available()
    # transformers 5.2x renamed gradient_checkpointing (a deprecated alias now) to activation_checkpointing.
    renamed = "activation_checkpointing" in SFTConfig.__dataclass_fields__
    flag = "activation_checkpointing" if renamed else "gradient_checkpointing"
    checkpointing = {flag: recipe.gradient_checkpointing}
    config = SFTConfig(
        **checkpointing,
        output_dir=str(out_dir / ".trainer"),
        learning_rate=recipe.learning_rate,
        num_train_epochs=recipe.num_epochs,
        max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.per_device_batch_size,
        # Under accelerate launch each process sees WORLD_SIZE: the effective batch stays the recipe's.
        gradient_accumulation_steps=accumulation_steps(recipe, int(os.environ.get("WORLD_SIZE", "1"))),
        weight_decay=recipe.weight_decay,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of total steps
        lr_scheduler_type=recipe.lr_scheduler,
        bf16=recipe.bf16,
        seed=recipe.seed,
        data_seed=recipe.seed,
        max_length=recipe.max_length,
        truncation_mode="keep_start",
        completion_only_loss=True,
        packing=recipe.padding_free,
        padding_free=recipe.padding_free,
        logging_steps=recipe.logging_steps,
        save_strategy="no",
        report_to="none",
        use_cpu=not cuda,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    peft_config = None
    if recipe.lora is not None:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=recipe.lora.r,
            lora_alpha=recipe.lora.alpha,
            lora_dropout=recipe.lora.dropout,
            target_modules=recipe.lora.target_modules,
            task_type="CAUSAL_LM",
        )
    # TRL's fused LM head pays off on GPUs (it never builds the full logits); on a CPU it scores every position,
    # prompt and padding included, for its entropy/accuracy metrics and ran 1.6x slower than the model's own loss.
    trainer_class = SFTTrainer if cuda else _model_loss_trainer_class()
    trainer = trainer_class(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )
    # With tqdm off, Trainer prints every log dictionary; our bar says the same on one line.
    trainer.remove_callback(PrinterCallback)
    if show_progress:
        trainer.add_callback(RichTrainProgress())
    return trainer


def _model_loss_trainer_class():
    """SFTTrainer whose loss is the model's own (`labels` with -100 on prompt tokens, divided by the tokens of the
    whole accumulated batch, exactly as TRL's), without TRL's per-token metrics; still counts `num_tokens`."""
    import torch
    from transformers import Trainer
    from trl import SFTTrainer

    class ModelLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = {**inputs, "use_cache": False}
            if self.model.training:
                mask = inputs.get("attention_mask")  # padding-free batches carry position_ids instead
                local = mask.sum() if mask is not None else torch.tensor(inputs["position_ids"].numel())
                self._total_train_tokens += int(self.accelerator.gather_for_metrics(local).sum())
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return ModelLossSFTTrainer


def _peak_memory_gb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1e9
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # process peak RSS (KiB on Linux, B on macOS)
    return kb / (1e9 if sys.platform == "darwin" else 1e6)


def train(
    data: str | Path, base: str, recipe: str | Path | Recipe, out_dir: str | Path, show_progress: bool = False
) -> TrainResult:
    import transformers
    import trl
    from transformers import TrainerCallback, set_seed

    recipe = load_recipe(recipe)
    out_dir = Path(out_dir)
    # datasets' per-map bars and transformers' loading/saving bars say nothing a user needs; our bar (when
    # show_progress) says how training goes.
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()
    if recipe.lora is not None and os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        # Merging adapters needs the whole model in one process; FSDP leaves each with a shard.
        raise ConfigError(f"recipe {recipe.name!r} uses LoRA, which we do not merge under FSDP: launch with multi_gpu")
    examples = read_examples(data)  # refuse a bad dataset before loading any model
    accumulation_steps(recipe, int(os.environ.get("WORLD_SIZE", "1")))  # an effective batch it cannot keep: now
    examples = with_system_prompt(examples, recipe.system_prompt)
    set_seed(recipe.seed)
    model, tokenizer, plain = load_base(base)
    kept, lengths = fit_to_length(examples, tokenizer, recipe.max_length, recipe.overlength)
    if lengths.overlength:
        log.warning("%s", lengths.line(recipe.max_length))

    estimate = estimate_memory(model, recipe)
    warning = memory_warning(estimate, available_memory_gb(), base)
    if warning:
        log.warning("%s", warning)

    history: list[dict[str, Any]] = []

    class _Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                history.append({"step": state.global_step, "elapsed_s": time.monotonic() - started, **logs})

    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = build_trainer(kept, model, tokenizer, recipe, out_dir, callbacks=[_Record()], show_progress=show_progress)
    started = time.monotonic()  # read by _Record
    output = trainer.train()
    runtime = time.monotonic() - started

    steps = [h for h in history if "loss" in h]
    losses = [float(h["loss"]) for h in steps]
    tokens = max((float(h.get("num_tokens", 0)) for h in history), default=0.0)
    tokens_per_s = tokens / runtime if runtime > 0 else 0.0
    steady = _steady_tokens_per_s(history)
    peak = _peak_memory_gb()

    # Under `accelerate launch` every process reaches here; saving gathers FSDP/DeepSpeed shards (all ranks take
    # part) and only the main process writes files.
    main = trainer.is_world_process_zero()
    if recipe.lora is not None and recipe.lora.merge:
        if main:
            trainer.accelerator.unwrap_model(trainer.model).merge_and_unload().save_pretrained(out_dir)
    else:
        trainer.save_model(str(out_dir))
    trainer.accelerator.wait_for_everyone()
    if not main:
        return _result(out_dir, output, losses, tokens_per_s, steady, peak, runtime, lengths, recipe, history)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "training_args.bin").unlink(missing_ok=True)  # a pickle; recipe.json says the same in plain text
    _remove_trainer_scratch(out_dir / ".trainer")

    resolved = recipe.model_dump(mode="json")
    (out_dir / "recipe.json").write_text(json.dumps(resolved, indent=2) + "\n")
    (out_dir / "recipe.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    record = {
        "base": base,
        "data": str(data),
        "recipe": recipe.name,
        "chat_template": "plain (agorabench PLAIN_CHAT_TEMPLATE)" if plain else "base model's",
        "examples": lengths.total,
        "examples_trained": lengths.kept,
        "overlength": {"count": lengths.overlength, "action": lengths.action, "longest": lengths.longest},
        "steps": output.global_step,
        "train_loss": output.training_loss,
        "loss_per_step": [{"step": h["step"], "loss": float(h["loss"])} for h in steps],
        "tokens": tokens,
        "tokens_per_s": round(tokens_per_s, 1),
        "steady_tokens_per_s": None if steady is None else round(steady, 1),
        "runtime_s": round(runtime, 2),
        "peak_memory_gb": round(peak, 3),
        "memory_estimate_gb": round(estimate.total, 2),
        "versions": {"transformers": transformers.__version__, "trl": trl.__version__},
        "log": history,
    }
    (out_dir / LOG_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return _result(out_dir, output, losses, tokens_per_s, steady, peak, runtime, lengths, recipe, history)


def _result(out_dir, output, losses, tokens_per_s, steady, peak, runtime, lengths, recipe, history) -> TrainResult:
    return TrainResult(
        out_dir=out_dir,
        steps=output.global_step,
        losses=losses,
        tokens_per_s=tokens_per_s,
        steady_tokens_per_s=steady,
        peak_memory_gb=peak,
        runtime_s=runtime,
        examples=lengths.kept,
        overlength=lengths.overlength,
        recipe=recipe,
        log=history,
    )


def _steady_tokens_per_s(history: list[dict[str, Any]]) -> float | None:
    """Tokens/s after the first logged step, whose one-time costs (kernel selection, optimizer state allocation)
    a longer run amortises; None with fewer than two logged steps."""
    points = [(h["elapsed_s"], float(h["num_tokens"])) for h in history if "num_tokens" in h and "loss" in h]
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return None
    (t0, n0), (t1, n1) = points[0], points[-1]
    return (n1 - n0) / (t1 - t0)


def _remove_trainer_scratch(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


__all__ = ["LengthReport", "TrainResult", "build_trainer", "load_base", "train"]
