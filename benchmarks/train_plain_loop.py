"""The yardstick for `train_throughput.py`: a plain PyTorch training loop, no trainer, same model and shapes.

    python benchmarks/train_plain_loop.py [--fp32] [--steps 6]

SmolLM2-135M, batch 4 x 512 random tokens (60 prompt tokens masked), AdamW, bf16 autocast unless --fp32.
tokens/s is measured from the end of step 2 (the first steps carry one-time kernel selection). Last line:
    plain loop: <tokens/s> tokens/s, <GB> GB peak (bf16|fp32, SmolLM2-135M)
"""

from __future__ import annotations

import argparse
import time

import torch

from agorabench.training.sft import _peak_memory_gb, load_base


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    model, _, _ = load_base("smollm2-135m-instruct")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
    ids = torch.randint(100, 40_000, (4, 512), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :60] = -100
    times = []
    for _ in range(max(args.steps, 3)):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
            loss = model(input_ids=ids, labels=labels, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
    steady = times[2:]
    rate = ids.numel() * len(steady) / sum(steady)
    print("step seconds:", [round(t, 1) for t in times])
    kind = "fp32" if args.fp32 else "bf16"
    print(f"plain loop: {rate:.0f} tokens/s, {_peak_memory_gb():.1f} GB peak ({kind}, SmolLM2-135M)")


if __name__ == "__main__":
    main()
