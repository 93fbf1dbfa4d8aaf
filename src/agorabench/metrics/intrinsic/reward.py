"""Reward-model score of each response: any `AutoModelForSequenceClassification` reward model (a Hub id,
a local folder), scoring (instruction, response) as the model was trained to see it.

The conversation goes through the tokenizer's chat template when it has one (reward models are trained on
chat-formatted pairs), else as "instruction\\n\\nresponse". The score is the first logit (reward models have
one label). Sequences longer than max_length are cut, keeping the start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from agorabench.errors import AgorabenchError
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
class RewardModel:
    model: object
    tokenizer: object
    pad_id: int
    device: str
    chat: bool  # whether the chat template formats the pair

    @property
    def num_labels(self) -> int:
        return int(self.model.config.num_labels)


def load_reward_model(name: str, device: str | None = None, dtype: str = "float32") -> RewardModel:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from agorabench.llm.embedded import resolve_local_model

    quiet_loading()
    where = resolve_local_model(name)
    device = pick_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(where)
        model = AutoModelForSequenceClassification.from_pretrained(where, dtype=torch_dtype(dtype))
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AgorabenchError(f"cannot load reward model {name!r}: {first}") from None
    model.to(device).eval()
    # The model finds each sequence's last token by looking for its config's pad id, so padding must use
    # exactly that id; a model without one gets the tokenizer's (or the end token) written into its config.
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    pad_id = config.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad_id is None:
            raise AgorabenchError(
                f"reward model {name!r}: neither the model nor its tokenizer defines a pad or end token"
            )
        config.pad_token_id = pad_id
        model.config.pad_token_id = pad_id
    return RewardModel(
        model, tokenizer, int(pad_id), device, chat=bool(getattr(tokenizer, "chat_template", None))
    )


def encode_pair(rm: RewardModel, instruction: str, response: str, max_length: int) -> list[int]:
    if rm.chat:
        conversation = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
        ids = token_ids(rm.tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True))
    else:
        ids = token_ids(rm.tokenizer(f"{instruction}\n\n{response}"))
    return ids[:max_length]


def reward_scores(
    rm: RewardModel,
    pairs: Sequence[tuple[str, str]],
    *,
    batch_size: int = 8,
    max_length: int = 4096,
    max_batch_tokens: int | None = None,
    progress: Progress | None = None,
) -> list[float | None]:
    """One score per (instruction, response), in input order; None where the score is not finite."""
    import torch

    encoded = [encode_pair(rm, instruction, response, max_length) for instruction, response in pairs]
    scores: list[float | None] = [None] * len(encoded)
    with torch.inference_mode():
        for batch in length_sorted_batches([len(e) for e in encoded], batch_size, max_batch_tokens):
            ids, mask = right_padded([encoded[i] for i in batch], rm.pad_id, rm.device)
            logits = rm.model(input_ids=ids, attention_mask=mask).logits.float()
            for row, index in enumerate(batch):
                value = float(logits[row, 0])
                scores[index] = value if math.isfinite(value) else None
            if progress is not None:
                progress(len(batch))
    return scores
