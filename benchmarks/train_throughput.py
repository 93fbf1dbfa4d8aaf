"""Training throughput per recipe on this machine: tokens/s and peak memory, SmolLM2-135M at sequence 512.

    python benchmarks/train_throughput.py [--recipes cpu-small,lora] [--steps 5] [--base smollm2-135m-instruct]

Each recipe runs `agorabench.training.sft.train` (TRL SFTTrainer) in its own process (so peak RSS is its own) on
synthetic examples that fill max_length, for a few optimizer steps without gradient accumulation. Two figures:
  - steady: tokens/s from the end of the first optimizer step to the end of the last one (what a long run
    sustains; the first step carries one-time kernel selection and optimizer-state allocation);
  - whole: tokens/s over all of train(), first step included.
Peak memory is the process's peak RSS (model load included). The last line is cpu-small's:
    train: <tokens/s> tokens/s, <GB> GB peak (cpu-small, SmolLM2-135M)
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

WORDS = ["the", "of", "and", "to", "in", "is", "was", "for", "on", "that", "with", "as", "by", "at", "from", "it", "an", "be", "this", "are", "which", "or", "have"]
HEADLINE = "cpu-small"


def run_one(recipe_name: str, steps: int, base: str) -> dict:
    from agorabench.training.recipes import load_recipe
    from agorabench.training.sft import train

    recipe = load_recipe(recipe_name).model_copy(
        update={"max_steps": steps, "gradient_accumulation_steps": 1, "logging_steps": 1}
    )
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.jsonl"
        with open(data, "w") as handle:
            for _ in range(recipe.per_device_batch_size * steps):
                instruction = " ".join(rng.choices(WORDS, k=60))
                response = " ".join(rng.choices(WORDS, k=recipe.max_length))  # truncated at max_length
                handle.write(json.dumps({"instruction": instruction, "response": response}) + "\n")
        result = train(data, base, recipe, Path(tmp) / "out")
    return {
        "recipe": recipe.name,
        "steady": result.steady_tokens_per_s,
        "whole": result.tokens_per_s,
        "peak_gb": result.peak_memory_gb,
        "losses": [round(x, 3) for x in result.losses],
        "runtime_s": round(result.runtime_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipes", default="cpu-small,lora", help="comma-separated recipe names or YAML files")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per recipe (at least 2)")
    parser.add_argument("--base", default="smollm2-135m-instruct", help="student base (headline: SmolLM2-135M)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one recipe, print its JSON
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one, max(2, args.steps), args.base)))
        return

    names = [name.strip() for name in args.recipes.split(",") if name.strip()]
    if HEADLINE not in names:
        names.append(HEADLINE)
    names.sort(key=lambda name: name == HEADLINE)  # the headline recipe last
    rows = []
    for name in names:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", name, "--steps", str(args.steps), "--base", args.base],
            capture_output=True, text=True, check=False,
        )
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if proc.returncode != 0 or line is None:
            sys.exit(f"recipe {name} failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(line[len("RESULT "):]))
    print(f"{'recipe':<12} {'steady tok/s':>12} {'whole tok/s':>12} {'peak GB':>8}  losses")
    for row in rows:
        print(f"{row['recipe']:<12} {row['steady']:>12.0f} {row['whole']:>12.0f} {row['peak_gb']:>8.1f}  {row['losses']}")
    head = rows[-1]
    label = "SmolLM2-135M" if args.base == "smollm2-135m-instruct" else args.base
    print(f"train: {head['steady']:.0f} tokens/s, {head['peak_gb']:.1f} GB peak ({HEADLINE}, {label})")


if __name__ == "__main__":
    main()
