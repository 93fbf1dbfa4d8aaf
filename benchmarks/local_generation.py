"""Generation speed of the embedded model through the local backend: tokens/s of new text over all rows.

    python benchmarks/local_generation.py [--dtype float32|bfloat16] [--tokens 64]

Sends 1, then 8 concurrent requests (the backend batches them), greedy, up to --tokens new tokens each,
after one warm-up request; prompts ask for long stories so rows rarely stop early, and the rate counts the
tokens actually generated. Last line:
    local generation: <tok/s batch 1> tokens/s at batch 1, <tok/s batch 8> at batch 8 (<dtype>, SmolLM2-135M)
"""

from __future__ import annotations

import argparse
import asyncio
import time

from agorabench.llm import create_backend
from agorabench.llm.base import Message, SamplingParams
from agorabench.llm.config import EMBEDDED_MODEL, GeneratorConfig


async def measure(dtype: str, tokens: int) -> dict[int, float]:
    backend = create_backend(GeneratorConfig(name="bench", backend="local", model=EMBEDDED_MODEL, dtype=dtype,
                                             max_batch_size=8))
    params = SamplingParams(temperature=0.0, max_tokens=tokens)

    def ask(i: int):
        text = f"Write a long story about a lighthouse keeper number {i}, with many details."
        return backend.complete([Message(role="user", content=text)], params)

    await ask(0)  # warm-up: model load and kernel selection
    rates = {}
    for batch in (1, 8):
        started = time.perf_counter()
        done = await asyncio.gather(*(ask(i) for i in range(batch)))
        elapsed = time.perf_counter() - started
        rates[batch] = sum(c.usage.completion_tokens for c in done) / elapsed
    await backend.aclose()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    rates = asyncio.run(measure(args.dtype, args.tokens))
    print(f"local generation: {rates[1]:.0f} tokens/s at batch 1, {rates[8]:.0f} at batch 8 ({args.dtype}, SmolLM2-135M)")


if __name__ == "__main__":
    main()
