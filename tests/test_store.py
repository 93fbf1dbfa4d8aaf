"""Crash-safe record files, the request cache and the rate limiter."""

from __future__ import annotations

import asyncio
import time

import pytest

from agorabench.errors import AgorabenchError
from agorabench.generation.cache import RequestCache, request_key
from agorabench.generation.store import JsonlStore
from agorabench.llm.base import Completion, Message, SamplingParams, Usage
from agorabench.llm.rate_limit import RateLimiter, TokenBucket


def test_store_appends_and_reads_back_ids(tmp_path):
    store = JsonlStore(tmp_path / "r.jsonl")
    store.append({"id": "a", "x": 1})
    store.append({"id": "b", "x": 2})
    store.close()
    again = JsonlStore(tmp_path / "r.jsonl")
    assert again.ids == {"a", "b"} and again.repaired_bytes == 0


def test_store_cuts_a_torn_last_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "resp')
    store = JsonlStore(path)
    assert store.ids == {"a", "b"} and store.repaired_bytes > 0
    store.append({"id": "c"})
    store.close()
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n{"id": "c"}\n'


def test_store_refuses_corruption_in_the_middle(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "c"}\n')
    with pytest.raises(AgorabenchError, match="line 2"):
        JsonlStore(path)


def test_cache_round_trip_and_key_sensitivity(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    messages = [Message(role="user", content="hi")]
    params = SamplingParams(seed=1)
    key = request_key("m", params, messages)
    completion = Completion(text="hello", finish_reason="stop", usage=Usage(prompt_tokens=1, completion_tokens=1), model="m")
    assert cache.get(key) is None
    cache.put(key, completion)
    assert cache.get(key) == completion and len(cache) == 1
    # Any change to model, params or messages is a different request.
    assert request_key("m2", params, messages) != key
    assert request_key("m", SamplingParams(seed=2), messages) != key
    assert request_key("m", params, [Message(role="user", content="hi!")]) != key
    assert request_key("m", SamplingParams(seed=1), [Message(role="user", content="hi")]) == key


def test_token_bucket_paces_after_the_burst():
    async def take(count):
        bucket = TokenBucket(rate_per_minute=1200)  # 20/s, burst of 20
        started = time.monotonic()
        for _ in range(count):
            await bucket.acquire()
        return time.monotonic() - started

    assert asyncio.run(take(20)) < 0.1
    assert 0.4 <= asyncio.run(take(30)) < 1.0


def test_tokens_per_minute_with_refund():
    async def scenario():
        limiter = RateLimiter(requests_per_minute=None, tokens_per_minute=6000)  # 100 tokens/s
        await limiter.acquire(100)
        limiter.settle(100, 10)  # the request used 10: 90 come back
        started = time.monotonic()
        await limiter.acquire(90)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.1


def test_pause_delays_every_request():
    async def scenario():
        limiter = RateLimiter(None, None)
        limiter.pause(0.3)
        started = time.monotonic()
        await limiter.acquire(1)
        return time.monotonic() - started

    assert asyncio.run(scenario()) >= 0.29
