"""Training throughput of a recipe on this machine: tokens/s and peak memory, SmolLM2-135M at sequence 512.

    python benchmarks/train_throughput.py [--recipe cpu-small] [--steps 4]

Runs `agorabench.training.sft.train` (TRL SFTTrainer) on synthetic examples long enough to fill max_length,
for a few optimizer steps. tokens/s counts every token the trainer saw (TRL's num_tokens) over the whole
train() wall time, first step included. Last line:
    train: <tokens/s> tokens/s, <GB> GB peak (<recipe>, SmolLM2-135M)
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

from agorabench.training.recipes import load_recipe
from agorabench.training.sft import train

WORDS = ["the", "of", "and", "to", "in", "is", "was", "for", "on", "that", "with", "as", "by", "at", "from", "it", "an", "be", "this", "are", "which", "or", "have"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="cpu-small")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps")
    parser.add_argument("--accum", type=int, default=1, help="gradient accumulation (recipe's by default: 8)")
    args = parser.parse_args()

    recipe = load_recipe(args.recipe).model_copy(
        update={"max_steps": args.steps, "gradient_accumulation_steps": args.accum, "logging_steps": 1}
    )
    rng = random.Random(0)
    n = recipe.per_device_batch_size * args.accum * args.steps
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.jsonl"
        with open(data, "w") as handle:
            for _ in range(n):
                instruction = " ".join(rng.choices(WORDS, k=60))
                response = " ".join(rng.choices(WORDS, k=recipe.max_length))  # truncated at max_length
                handle.write(json.dumps({"instruction": instruction, "response": response}) + "\n")
        result = train(data, "smollm2-135m-instruct", recipe, Path(tmp) / "out")
    print(f"steps {result.steps}, losses {[round(x, 3) for x in result.losses]}, {result.runtime_s:.1f} s")
    print(f"train: {result.tokens_per_s:.0f} tokens/s, {result.peak_memory_gb:.1f} GB peak ({recipe.name}, SmolLM2-135M)")


if __name__ == "__main__":
    main()
