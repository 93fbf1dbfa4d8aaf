"""What the reward model and the perplexity share: device and dtype choice, length-sorted batches, and
right padding.

Right padding keeps every real token at the position it has when the example is run alone, and the
causal mask keeps real tokens from seeing the padding after them, so a batched value equals the value
of the example alone (up to float rounding). Sorting by length first keeps the padding small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

Progress = Callable[[int], None]  # called with the number of examples just finished


def quiet_loading() -> None:
    """transformers' per-tensor "Loading weights" bars would tear through our progress bars."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def pick_device(device: str | None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int, max_tokens: int | None = None
) -> Iterator[list[int]]:
    """Indices in batches of similar length, longest first (an out-of-memory error comes early, not after
    an hour). A batch holds at most `batch_size` examples and, when given, at most `max_tokens` padded
    tokens (rows x its longest row), except that a single longer example still gets a batch of its own."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for index in order:
        longest = lengths[batch[0]] if batch else lengths[index]
        if batch and (len(batch) >= batch_size or (max_tokens and (len(batch) + 1) * longest > max_tokens)):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


def right_padded(sequences: Sequence[Sequence[int]], pad_id: int, device: str):
    """(input_ids, attention_mask) tensors, padded on the right to the longest sequence."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


def token_ids(encoded) -> list[int]:
    """A flat list of ids from what apply_chat_template / a tokenizer call returns (list or BatchEncoding)."""
    if hasattr(encoded, "keys"):
        encoded = encoded["input_ids"]
    return [int(i) for i in encoded]
