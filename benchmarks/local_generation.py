"""Generation speed of the embedded model through the local backend, today's decoder against the one before
issue 14, side by side in one process (one model load, the two taking turns so that both see the same
machine load): tokens/s of new text over all requests, from the first request sent to the last answer.

    python benchmarks/local_generation.py [--batch 8] [--requests 24] [--tokens 128] [--rounds 2] [--levers]
                                          [--threads N]

The workload is the quickstart's: `--requests` (3 x batch by default, as many as a quickstart setting's
instances) sent at once to a backend whose max_batch_size is `--batch` (the quickstart's: GeneratorConfig's
default), half of them sampled as generation samples (temperature 1.0, top_p 0.9, seeded), half greedy with
repetition penalty 1.03 as evaluation decodes, up to `--tokens` new tokens each, on prompts whose answers
end at different lengths. "before" is the path before issue 14: one HF generate() per batch of up to
`--batch` requests, its sampler sorting the whole vocabulary for top-p. The script also checks that both
give the same text for every request (seeded requests must not depend on their batch mates).

--levers also times each change alone and combined (threads, attention, batch size), on the same workload
and on a pure decode one (`--batch` greedy requests that all run to `--tokens`). Last line:
    local generation: <new> tokens/s vs <old> tokens/s before (<ratio>x) at batch <b>
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

from agorabench.llm import local_backend
from agorabench.llm.base import Completion, Message, SamplingParams
from agorabench.llm.config import EMBEDDED_MODEL, GeneratorConfig
from agorabench.llm.local_backend import LocalBackend, _Runtime

TOPICS = ["a lighthouse keeper", "a volcano", "two rival bakers", "a lost satellite", "an old violin", "a desert town"]
ASKS = [
    "Write a long story about {t}, with many details.",
    "In one sentence, what is {t}?",
    "Give three short facts about {t}, as a numbered list.",
    "Write a haiku about {t}.",
    "Explain to a child what {t} is, in a short paragraph.",
    "Answer yes or no: is {t} a real thing?",
]


class Before(LocalBackend):
    """The local backend as it was before issue 14: one HF generate() per batch, whole-vocabulary top-p."""

    continuous = False
    hf_generate = True


class Static(LocalBackend):
    """The new loop without continuous batching: each batch decodes alone (finished rows still leave it)."""

    continuous = False


def workload(count: int, tokens: int) -> list[tuple[list[Message], SamplingParams]]:
    requests = []
    for i in range(count):
        text = ASKS[i % len(ASKS)].format(t=TOPICS[(i // len(ASKS)) % len(TOPICS)])
        if i % 2 == 0:  # a generation sample
            params = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=tokens, seed=1000 + i)
        else:  # an evaluation decode
            params = SamplingParams(temperature=0.0, max_tokens=tokens, repetition_penalty=1.03)
        requests.append(([Message(role="user", content=text)], params))
    return requests


def decode_only(count: int, tokens: int) -> list[tuple[list[Message], SamplingParams]]:
    text = "Write a long story about a lighthouse keeper number {i}, with many details."
    params = SamplingParams(temperature=0.0, max_tokens=tokens)
    return [([Message(role="user", content=text.format(i=i))], params) for i in range(count)]


async def timed(backend: LocalBackend, requests: list) -> tuple[float, list[Completion]]:
    started = time.perf_counter()
    done = await asyncio.gather(*(backend.complete(messages, params) for messages, params in requests))
    elapsed = time.perf_counter() - started
    return sum(c.usage.completion_tokens for c in done) / elapsed, list(done)


def make(kind: type[LocalBackend], runtime: _Runtime, batch: int) -> LocalBackend:
    config = GeneratorConfig(name="bench", backend="local", model=EMBEDDED_MODEL, max_batch_size=batch)
    backend = kind(config)
    backend._runtime = runtime  # one model for all: loaded once, the same weights and threads
    return backend


class Setting:
    """One variant to time: a backend class, a batch size, and what to change around it while it runs."""

    def __init__(self, name: str, kind: type[LocalBackend], batch: int, **changes: Any):
        self.name, self.kind, self.batch, self.changes = name, kind, batch, changes

    def __enter__(self) -> None:
        import torch

        self.undo: list[Callable[[], None]] = []
        if "candidates" in self.changes:  # top-p over the N most likely tokens, or the whole vocabulary
            saved = local_backend._RowSampler.candidates
            local_backend._RowSampler.candidates = self.changes["candidates"]
            self.undo.append(lambda: setattr(local_backend._RowSampler, "candidates", saved))
        if self.changes.get("plain_cache"):  # transformers' DynamicCache: concatenates every step, no joins
            from transformers import DynamicCache

            saved_cache = local_backend._new_cache
            local_backend._new_cache = lambda model: DynamicCache(config=model.config)
            self.undo.append(lambda: setattr(local_backend, "_new_cache", saved_cache))
        if "threads" in self.changes:
            saved_threads = torch.get_num_threads()
            torch.set_num_threads(self.changes["threads"])
            self.undo.append(lambda: torch.set_num_threads(saved_threads))
        if "attention" in self.changes:
            model = self.changes["runtime"].model
            saved_attention = model.config._attn_implementation
            model.set_attn_implementation(self.changes["attention"])
            self.undo.append(lambda: model.set_attn_implementation(saved_attention))

    def __exit__(self, *exc: object) -> None:
        for undo in reversed(self.undo):
            undo()


async def compare(settings: list[Setting], runtime: _Runtime, requests: list, rounds: int) -> dict[str, tuple]:
    """Best tokens/s of each setting over `rounds` rounds, the settings taking turns within each round."""
    best: dict[str, tuple[float, list[Completion]]] = {}
    for _ in range(rounds):
        for setting in settings:
            backend = make(setting.kind, runtime, setting.batch)
            with setting:
                rate, done = await timed(backend, requests)
            await backend.aclose()
            if setting.name not in best or rate > best[setting.name][0]:
                best[setting.name] = (rate, done)
    return best


def same_texts(a: list[Completion], b: list[Completion]) -> str:
    return f"{sum(x.text == y.text for x, y in zip(a, b, strict=True))}/{len(a)} texts identical"


async def main_async(args: argparse.Namespace) -> None:
    import torch

    runtime = _Runtime.load(GeneratorConfig(name="bench", backend="local", model=EMBEDDED_MODEL, dtype="float32"))
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {runtime.model.config._attn_implementation}")
    requests = workload(args.requests, args.tokens)
    warm = make(LocalBackend, runtime, args.batch)
    await timed(warm, requests[:2])  # kernel selection, allocator warm-up
    await warm.aclose()

    b = args.batch
    if args.levers:
        levers = [
            Setting("before: HF generate(), full sort", Before, b, candidates=None),
            Setting("HF generate(), top-p over candidates", Before, b),
            Setting("loop, DynamicCache, full sort, static batches", Static, b, candidates=None, plain_cache=True),
            Setting("loop, DynamicCache, static batches", Static, b, plain_cache=True),
            Setting("loop, growing cache, static batches", Static, b),
            Setting("loop, growing cache, continuous (default)", LocalBackend, b),
            Setting("default, 1 thread", LocalBackend, b, threads=1),
            Setting("default, 2 threads", LocalBackend, b, threads=2),
            Setting("default, eager attention", LocalBackend, b, attention="eager", runtime=runtime),
            Setting(f"default, max_batch_size {2 * b}", LocalBackend, 2 * b),
            Setting(f"default, max_batch_size {3 * b}", LocalBackend, 3 * b),
        ]
        for title, reqs in (("quickstart workload", requests), ("decode only", decode_only(b, args.tokens))):
            results = await compare(levers, runtime, reqs, args.rounds)
            base_rate, base_done = results[levers[0].name]
            print(f"\n{title}: {len(reqs)} requests, up to {args.tokens} new tokens each, batch {b}")
            for setting in levers:
                rate, done = results[setting.name]
                print(f"  {setting.name:48s} {rate:7.1f} tokens/s  {rate / base_rate:5.2f}x  {same_texts(done, base_done)}")

    results = await compare(
        [Setting("before", Before, b, candidates=None), Setting("new", LocalBackend, b)], runtime, requests, args.rounds
    )
    (old, old_done), (new, new_done) = results["before"], results["new"]
    print(f"\nquickstart workload: {len(requests)} requests, batch {b}: {same_texts(new_done, old_done)}")
    print(f"local generation: {new:.0f} tokens/s vs {old:.0f} tokens/s before ({new / old:.2f}x) at batch {b}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=GeneratorConfig.model_fields["max_batch_size"].default)
    parser.add_argument("--requests", type=int, default=None, help="default: 3 x batch")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levers", action="store_true", help="also time each change alone")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the backend's choice)")
    args = parser.parse_args()
    args.requests = args.requests or 3 * args.batch
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
