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

from agorabench.errors import AgorabenchError
from agorabench.llm.plain_template import PLAIN_CHAT_TEMPLATE
from agorabench.training.data import LengthReport, fit_to_length, read_examples
from agorabench.training.recipes import Recipe, load_recipe

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


def estimate_memory_gb(n_params: int, recipe: Recipe) -> float:
    """Rough peak for a full fine-tune with AdamW: fp32 weights + grads + 2 moments (16 B/param), plus
    activations, which we skip; LoRA trains few parameters, so weights alone (4 B/param)."""
    per_param = 4 if recipe.lora is not None else 16
    return n_params * per_param / 1e9


def _available_memory_gb() -> float | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_properties(0).total_memory / 1e9
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def build_trainer(examples: list[dict[str, Any]], model, tokenizer, recipe: Recipe, out_dir: Path, callbacks=()):
    """The configured SFTTrainer (not yet trained); tests use it to inspect tokenization and labels."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    config = SFTConfig(
        output_dir=str(out_dir / ".trainer"),
        learning_rate=recipe.learning_rate,
        num_train_epochs=recipe.num_epochs,
        max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.per_device_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        weight_decay=recipe.weight_decay,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of total steps
        lr_scheduler_type=recipe.lr_scheduler,
        bf16=recipe.bf16,
        gradient_checkpointing=recipe.gradient_checkpointing,
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
    return trainer_class(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )


def _model_loss_trainer_class():
    """SFTTrainer whose loss is the model's own (`labels` with -100 on prompt tokens, divided by the tokens of the
    whole accumulated batch, exactly as TRL's), without TRL's per-token metrics; still counts `num_tokens`."""
    from transformers import Trainer
    from trl import SFTTrainer

    class ModelLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = {**inputs, "use_cache": False}
            if self.model.training:
                mask = inputs.get("attention_mask")  # padding-free batches carry position_ids instead
                self._total_train_tokens += int(mask.sum()) if mask is not None else inputs["position_ids"].numel()
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return ModelLossSFTTrainer


def _peak_memory_gb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1e9
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # process peak RSS (KiB on Linux, B on macOS)
    return kb / (1e9 if sys.platform == "darwin" else 1e6)


def train(data: str | Path, base: str, recipe: str | Path | Recipe, out_dir: str | Path) -> TrainResult:
    import transformers
    import trl
    from transformers import TrainerCallback, set_seed

    recipe = load_recipe(recipe)
    out_dir = Path(out_dir)
    examples = read_examples(data)  # refuse a bad dataset before loading any model
    set_seed(recipe.seed)
    model, tokenizer, plain = load_base(base)
    kept, lengths = fit_to_length(examples, tokenizer, recipe.max_length, recipe.overlength)
    if lengths.overlength:
        log.warning("%s", lengths.line(recipe.max_length))

    n_params = sum(p.numel() for p in model.parameters())
    needed, available = estimate_memory_gb(n_params, recipe), _available_memory_gb()
    if available is not None and needed > 0.9 * available:
        log.warning(
            "training %s needs about %.1f GB (weights, gradients, optimizer; activations extra) but %.1f GB "
            "are available: expect an out-of-memory error, or use the lora recipe",
            base, needed, available,
        )

    history: list[dict[str, Any]] = []

    class _Record(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs:
                history.append({"step": state.global_step, "elapsed_s": time.monotonic() - started, **logs})

    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = build_trainer(kept, model, tokenizer, recipe, out_dir, callbacks=[_Record()])
    started = time.monotonic()  # read by _Record
    output = trainer.train()
    runtime = time.monotonic() - started

    steps = [h for h in history if "loss" in h]
    losses = [float(h["loss"]) for h in steps]
    tokens = max((float(h.get("num_tokens", 0)) for h in history), default=0.0)
    tokens_per_s = tokens / runtime if runtime > 0 else 0.0
    steady = _steady_tokens_per_s(history)
    peak = _peak_memory_gb()

    final = trainer.model
    if recipe.lora is not None and recipe.lora.merge:
        final = final.merge_and_unload()
    final.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
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
        "memory_estimate_gb": round(needed, 2),
        "versions": {"transformers": transformers.__version__, "trl": trl.__version__},
        "log": history,
    }
    (out_dir / LOG_FILE).write_text(json.dumps(record, indent=2) + "\n")
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
