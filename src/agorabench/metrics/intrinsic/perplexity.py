"""Perplexity of each response under the student's base model, over response tokens only.

Each example is laid out exactly as the student is trained on it (training/sft.py, TRL's
prompt-completion handling): the base model's chat template, or PLAIN_CHAT_TEMPLATE for a base without
one; the scored tokens are those after the longest common prefix of the rendered prompt (with its
generation prompt) and the rendered prompt + response, i.e. the tokens carrying the training loss,
closing tokens of the template included. Long examples are cut at max_length keeping the start, as
training does.

perplexity = exp(mean negative log-likelihood of the scored tokens), per example. Batches are right
padded and each example's loss is taken over its own tokens only: the original AgoraBench code gave
every example its batch's mean loss, which we test against.

Memory: a forward pass holds batch rows x longest row x vocabulary logits (float32 on CPU), which is why
batches are capped in padded tokens as well as in examples (`max_batch_tokens`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from agorabench.metrics.intrinsic.batching import (
    Progress,
    length_sorted_batches,
    pick_device,
    quiet_loading,
    right_padded,
    token_ids,
    torch_dtype,
)


@dataclass
class StudentBase:
    model: object
    tokenizer: object  # its chat_template is the one training uses
    plain: bool  # the base had no chat template: PLAIN_CHAT_TEMPLATE is used
    device: str


def load_student_base(base: str, device: str | None = None, dtype: str = "float32") -> StudentBase:
    """The base exactly as `agorabench train` loads it (same template choice), moved to device/dtype."""
    from agorabench.training.sft import load_base

    quiet_loading()
    model, tokenizer, plain = load_base(base)
    device = pick_device(device)
    model.to(device=device, dtype=torch_dtype(dtype)).eval()
    return StudentBase(model, tokenizer, plain, device)


@dataclass(frozen=True)
class Scored:
    ids: list[int]  # prompt + response tokens, as trained on
    start: int  # position of the first scored (response) token; len(ids) - start tokens are scored

    @property
    def n_scored(self) -> int:
        return len(self.ids) - self.start


def training_layout(tokenizer, instruction: str, response: str, max_length: int) -> Scored:
    """The example's tokens and where its response starts, as TRL's SFTTrainer builds them."""
    prompt = [{"role": "user", "content": instruction}]
    full = prompt + [{"role": "assistant", "content": response}]
    prompt_ids = token_ids(
        tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)
    )
    full_ids = token_ids(tokenizer.apply_chat_template(full, tokenize=True, return_dict=True))
    start = 0
    while start < min(len(prompt_ids), len(full_ids)) and prompt_ids[start] == full_ids[start]:
        start += 1
    # The first token of a sequence has nothing before it to be predicted from.
    return Scored(full_ids[:max_length], max(start, 1))


def response_perplexities(
    student: StudentBase,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 8,
    max_length: int = 4096,
    max_batch_tokens: int | None = None,
    progress: Progress | None = None,
) -> list[tuple[float | None, int]]:
    """(perplexity, scored tokens) per (instruction, response), in input order. Perplexity is None when no
    response token fits in max_length or the value overflows."""
    import torch
    import torch.nn.functional as F

    layouts = [training_layout(student.tokenizer, i, r, max_length) for i, r in pairs]
    pad_id = student.tokenizer.pad_token_id  # load_base sets it (the end token when the base has none)
    results: list[tuple[float | None, int]] = [(None, 0)] * len(layouts)
    with torch.inference_mode():
        for batch in length_sorted_batches([len(s.ids) for s in layouts], batch_size, max_batch_tokens):
            ids, mask = right_padded([layouts[i].ids for i in batch], pad_id, student.device)
            logits = student.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            for row, index in enumerate(batch):
                scored = layouts[index]
                if scored.n_scored <= 0:
                    continue
                end = len(scored.ids)
                # Position t's logits predict token t + 1; only this example's own tokens are used.
                predicted = logits[row, scored.start - 1 : end - 1].float()
                target = ids[row, scored.start : end]
                nll = float(F.cross_entropy(predicted, target, reduction="mean"))
                try:
                    value: float | None = math.exp(nll)
                except OverflowError:
                    value = None
                results[index] = (value, scored.n_scored)
            if progress is not None:
                progress(len(batch))
    return results
