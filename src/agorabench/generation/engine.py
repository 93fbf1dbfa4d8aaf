"""The generation engine: an asyncio scheduler that turns a task's items into records.

Per item: build the prompt, look the request up in the cache, reserve the request's worst-case price under a
spend cap (if any), wait for the rate limiter (configured limits and the provider's advertised ones), call the
backend under a timeout, retry transport failures with exponential backoff and jitter (honouring
Retry-After) under one budget and rejected outputs with a fresh sample under another, then append the
record, or a failure with its reason, to disk at once. A fixed pool of workers pulls items from one
iterator, so memory stays flat however many items there are.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from agorabench.generation.cache import RequestCache, request_key
from agorabench.generation.config import EngineConfig
from agorabench.generation.store import JsonlStore
from agorabench.generation.task import Rejected, Task, WorkItem
from agorabench.llm.base import (
    Backend,
    Completion,
    FatalError,
    ItemError,
    Message,
    SamplingParams,
    TransientError,
    Usage,
)
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.pricing import Pricing
from agorabench.llm.rate_limit import RateLimiter


def derive_seed(run_seed: int, item_id: str, attempt: int) -> int:
    """A per-request sampling seed: stable across reruns, different for each item and each attempt."""
    digest = hashlib.sha256(f"{run_seed}:{item_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def estimate_tokens(messages: list[Message]) -> int:
    """Rough prompt size (4 characters a token), for rate limiting and dry runs only."""
    return sum(len(m.content) for m in messages) // 4 + 4 * len(messages)


def pending_items(task: Task, done_ids: set[str], limit: int | None) -> list[WorkItem]:
    """Items not yet on disk, in task order, so that the folder ends with `limit` records in all."""
    todo: list[WorkItem] = []
    for item in task.items():
        if limit is not None and len(done_ids) + len(todo) >= limit:
            break
        if item.id not in done_ids:
            todo.append(item)
    return todo


class Progress(Protocol):
    def update(self, stats: RunStats) -> None: ...


@dataclass
class RunStats:
    """Counters for one invocation of the engine."""

    planned: int = 0
    succeeded: int = 0
    failed: int = 0
    cached_responses: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0  # dollars actually paid by this invocation (cache hits are free)
    stopped_by_spend_cap: bool = False  # a request would have crossed the spend cap: the rest was not sent
    rate_limit_waits: int = 0  # requests that waited for a provider's rate-limit window to reset
    transport_errors: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    failure_reasons: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "requests_sent": self.requests,
            "cached_responses": self.cached_responses,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "transport_errors": dict(self.transport_errors),
            "rejections": dict(self.rejections),
            "failure_reasons": dict(self.failure_reasons),
            "stopped_by_spend_cap": self.stopped_by_spend_cap,
            "rate_limit_waits": self.rate_limit_waits,
            "wall_time_s": round(time.monotonic() - self.started, 3),
        }


class FatalRunError(Exception):
    """The run cannot go on (bad key, unknown model, unreachable endpoint)."""


class SpendCap:
    """Dollars a run may still spend. Each request in flight reserves its worst case (estimated prompt x input
    price + max_tokens x output price) and settles to its real cost when it returns; a request that does not fit
    waits for those in flight, and when none is left it is not sent: the cap is reached and no more are."""

    def __init__(self, allowed_usd: float):
        self.allowed_usd = allowed_usd
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.in_flight = 0
        self.reached = False
        self._changed: asyncio.Event | None = None

    async def reserve(self, worst_usd: float) -> bool:
        """Take `worst_usd` of the budget, waiting for requests in flight if needed; False: the cap is reached."""
        while not self.reached:
            if self.spent_usd + self.reserved_usd + worst_usd <= self.allowed_usd:
                self.reserved_usd += worst_usd
                self.in_flight += 1
                return True
            if self.in_flight == 0:
                self.reached = True
                break
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()
        self._signal()
        return False

    def settle(self, worst_usd: float, actual_usd: float) -> None:
        self.in_flight -= 1
        self.reserved_usd = self.reserved_usd - worst_usd if self.in_flight else 0.0
        self.spent_usd += actual_usd
        self._signal()

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None


class _SpendCapReached(Exception):
    """Internal: the next request would cross the spend cap; the item stays not done."""


@dataclass
class _Attempts:
    calls: int = 0  # requests sent plus answers taken from the cache
    transport: int = 0
    rejected: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class Engine:
    def __init__(
        self,
        backend: Backend,
        task: Task,
        *,
        generator: GeneratorConfig,
        sampling: SamplingParams,
        config: EngineConfig,
        records: JsonlStore,
        failures: JsonlStore,
        cache: RequestCache | None = None,
        seed: int = 42,
        progress: Progress | None = None,
        stats: RunStats | None = None,
        spend: SpendCap | None = None,
    ):
        self.backend = backend
        self.task = task
        self.generator = generator
        self.sampling = sampling
        self.config = config
        self.records = records
        self.failures = failures
        self.cache = cache
        self.seed = seed
        self.progress = progress
        self.pricing: Pricing | None = generator.price()
        # The provider's advertised limits live on the backend (one per generator, shared by its jobs).
        self.limiter = RateLimiter(
            generator.requests_per_minute, generator.tokens_per_minute, getattr(backend, "rate_limits", None)
        )
        if spend is not None and self.pricing is None:
            raise ValueError("a spend cap needs the generator's price")
        self.spend = spend
        self._prompt_scale = 1.0  # real / estimated prompt tokens, at least 1: what the cap reserves per request
        # Shared with the caller so counts survive an interrupt that unwinds run().
        self.stats = stats if stats is not None else RunStats()
        self._rng = random.Random(seed)  # jitter only; never affects what is generated
        self._any_success = False
        self._model_id = backend.cache_identity()

    async def run(self, items: Iterable[WorkItem]) -> RunStats:
        items = list(items)
        self.stats.planned = len(items)
        if not items:
            return self.stats
        queue = iter(items)
        width = min(self.generator.max_concurrency, len(items))
        provider = self.limiter.provider
        waits_before = provider.waits if provider is not None else 0  # shared by the jobs of one backend
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(width):
                    group.create_task(self._worker(queue))
        except BaseExceptionGroup as group_error:
            # Surface the first real error (a fatal one if any) instead of a group of one.
            fatal = group_error.subgroup(FatalRunError)
            first = (fatal or group_error).exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None
        finally:
            if provider is not None:
                self.stats.rate_limit_waits = provider.waits - waits_before
            self._report()
        return self.stats

    async def _worker(self, queue) -> None:
        for item in queue:  # one shared iterator: each item is taken by exactly one worker
            if self.spend is not None and self.spend.reached:
                return  # the items left are not done; a rerun with a higher cap does them
            try:
                await self._produce(item)
            except _SpendCapReached:
                self.stats.stopped_by_spend_cap = True
                return

    async def _produce(self, item: WorkItem) -> None:
        tries = _Attempts()
        while True:
            messages = self.task.messages(item, tries.rejected)
            params = self.sampling.model_copy(update={"seed": derive_seed(self.seed, item.id, tries.rejected)})
            outcome = await self._request(item, messages, params, tries)
            if outcome is None:
                return  # recorded as failed
            completion, latency, cached = outcome
            try:
                fields = self.task.parse(item, completion)
            except Rejected as rejection:
                tries.rejected += 1
                self.stats.rejections[rejection.reason] += 1
                if tries.rejected > self.config.max_validation_retries:
                    self._fail(item, f"rejected:{rejection.reason}", str(rejection), tries)
                    return
                continue
            self._succeed(item, fields, completion, latency, cached, tries)
            return

    async def _request(
        self, item: WorkItem, messages: list[Message], params: SamplingParams, tries: _Attempts
    ) -> tuple[Completion, float, bool] | None:
        key = request_key(self._model_id, params, messages) if self.cache is not None else None
        if key is not None and (hit := self.cache.get(key)) is not None:
            self.stats.cached_responses += 1
            tries.calls += 1
            self._count_usage(hit.usage, tries, paid=False)
            return hit, 0.0, True
        prompt_estimate = estimate_tokens(messages)
        estimate = prompt_estimate + params.max_tokens
        while True:
            reserved = await self._reserve_spend(prompt_estimate, params.max_tokens)
            ticket = None
            paid = 0.0
            try:
                ticket = await self.limiter.acquire(estimate, prompt_estimate)
                started = time.monotonic()
                self.stats.requests += 1
                tries.calls += 1
                try:
                    async with asyncio.timeout(self.generator.timeout_s):
                        completion = await self.backend.complete(messages, params)
                except TimeoutError:
                    error: TransientError | None = TransientError("timeout", "request timed out")
                except TransientError as exc:
                    error = exc
                except ItemError as exc:
                    self.stats.transport_errors[exc.kind] += 1
                    self._fail(item, exc.kind, str(exc), tries)
                    return None
                except FatalError as exc:
                    raise FatalRunError(str(exc)) from None
                else:
                    error = None
                if error is None:
                    latency = time.monotonic() - started
                    used = completion.usage.prompt_tokens + completion.usage.completion_tokens
                    self.limiter.settle(estimate, used)
                    self._any_success = True
                    paid = self._count_usage(completion.usage, tries, paid=True)
                    if prompt_estimate > 0 and completion.usage.prompt_tokens > prompt_estimate * self._prompt_scale:
                        self._prompt_scale = completion.usage.prompt_tokens / prompt_estimate
                    if key is not None:
                        self.cache.put(key, completion)
                    return completion, latency, False
            finally:
                self.limiter.release(ticket)
                if reserved is not None:
                    self.spend.settle(reserved, paid)
            self.limiter.settle(estimate, 0)
            tries.transport += 1
            self.stats.transport_errors[error.kind] += 1
            if tries.transport > self.config.max_transport_retries:
                if error.kind == "connection" and not self._any_success:
                    # Nothing has ever answered: the endpoint is down or wrong, not flaky.
                    raise FatalRunError(f"cannot reach the generator: {error}")
                self._fail(item, error.kind, str(error), tries)
                return None
            await asyncio.sleep(self._backoff(tries.transport, error.retry_after))

    async def _reserve_spend(self, prompt_estimate: int, max_tokens: int) -> float | None:
        """Under a spend cap, reserve this request's worst case (None without a cap); raise when it cannot fit."""
        if self.spend is None:
            return None
        worst = self.pricing.worst_case(prompt_estimate * self._prompt_scale, max_tokens)
        if not await self.spend.reserve(worst):
            raise _SpendCapReached
        return worst

    def _backoff(self, failures: int, retry_after: float | None) -> float:
        if retry_after is not None:
            self.limiter.pause(retry_after)
            return retry_after
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (failures - 1))
        return ceiling * (0.5 + 0.5 * self._rng.random())  # jitter: spread a burst of retries out

    def _count_usage(self, usage: Usage, tries: _Attempts, paid: bool) -> float:
        """Add a sample's tokens and price to the item (and, if paid, to the run); returns its price."""
        cost = self.pricing.cost(usage) if self.pricing else 0.0
        tries.prompt_tokens += usage.prompt_tokens
        tries.completion_tokens += usage.completion_tokens
        tries.cost_usd += cost
        if paid:
            self.stats.prompt_tokens += usage.prompt_tokens
            self.stats.completion_tokens += usage.completion_tokens
            self.stats.cost_usd += cost
        return cost

    def _succeed(
        self,
        item: WorkItem,
        fields: dict[str, Any],
        completion: Completion,
        latency: float,
        cached: bool,
        tries: _Attempts,
    ) -> None:
        record: dict[str, Any] = {"id": item.id, **fields}
        record.setdefault("setting", self.task.setting)
        record.setdefault("generator", self.generator.name)
        record.setdefault("seed_ids", [])
        record.setdefault("theme", None)
        record.update(
            model=completion.model,
            usage=completion.usage.model_dump(),
            # What this record cost, rejected samples included: the price of one accepted instance.
            cost_usd=round(tries.cost_usd, 8),
            total_usage={"prompt_tokens": tries.prompt_tokens, "completion_tokens": tries.completion_tokens},
            finish_reason=completion.finish_reason,
            attempts=tries.calls,
            latency_s=round(latency, 4),
            cached=cached,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.records.append(record)
        self.task.accept(item, record)
        self.stats.succeeded += 1
        self._report()

    def _fail(self, item: WorkItem, reason: str, detail: str, tries: _Attempts) -> None:
        self.failures.append(
            {
                "id": item.id,
                "reason": reason,
                "detail": detail[:500],
                "attempts": tries.calls,
                "cost_usd": round(tries.cost_usd, 8),
                "payload": item.payload,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        self.stats.failed += 1
        self.stats.failure_reasons[reason] += 1
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress.update(self.stats)
