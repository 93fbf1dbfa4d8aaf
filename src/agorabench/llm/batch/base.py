"""What the batch backends share: the queue, grouping into batches, the ledger, polling and result mapping.

The engine stays as it is: it calls `complete(messages, params)` once per attempt from many workers. Here
`complete` files the request under its custom_id (a hash of the provider and the request body, so a rerun
asks the same things under the same ids) and waits for its outcome:

1. **Queue.** A request joins the queue, or the request already waiting under that custom_id (one answer
   serves both), or, on a rerun, the ledger batch that already holds it (below).
2. **Group.** The queue becomes one batch when no request has joined it for `idle_s`, when its oldest request
   has waited `max_hold_s`, or at once when the next request would pass the provider's limits
   (`BatchLimits`: requests and bytes per batch).
3. **Submit.** The provider module uploads and creates the batch; the ledger gets a "submitted" line with
   the batch id and every custom_id it holds. A batch the provider refuses outright fails its requests with
   `FatalError` (the run stops with one line); a transport failure fails them with `TransientError` (the
   engine retries them into a later batch).
4. **Poll** with backoff (`poll_first_s`, times `poll_factor`, at most `poll_max_s`); each state change is a
   ledger line. A provider that rejects the batch after validation: `FatalError`, as in 3.
5. **Resolve.** When the batch ends, its results are read: a success is a `Completion` with the real usage;
   an errored, expired or canceled request, or one without a result, a `TransientError` or `ItemError` by
   kind, so it goes back through the engine's retries (a later batch) like an online failure. The ledger
   gets an "ended" line with the counts, the usage and what it cost at the batch price.
6. **Resume.** A rerun reads the ledger: a request whose custom_id is in a batch not yet consumed waits for
   that batch (polling it again) or, if it ended, re-reads its results (a success is reused; a failure is
   asked again in a new batch). A batch the provider no longer knows (404) is marked lost and its requests
   are submitted again. When a run ends with nothing in flight, the batches it read are marked consumed.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from agorabench.errors import ConfigError
from agorabench.llm.base import (
    Backend,
    BackendError,
    Completion,
    FatalError,
    ItemError,
    Message,
    SamplingParams,
    TransientError,
    Usage,
)
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.http import classify_status, error_detail, transport_error
from agorabench.llm.registry import backend_spec

from .ledger import LEDGER_FILE, Ledger, LedgerBatch

Outcome = Completion | BackendError


@dataclass(frozen=True)
class BatchLimits:
    """What one batch may hold, per the provider's documentation."""

    max_requests: int
    max_bytes: int  # of the encoded requests (OpenAI: the input file; Anthropic: the request body)


@dataclass
class BatchStatus:
    """A batch as the provider reports it."""

    status: str  # the provider's word: validating, in_progress, completed, ended, expired, ...
    ended: bool  # processing is over: results can be read
    rejected: str | None = None  # the provider refused the whole batch: why
    counts: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # what reading the results needs (e.g. file ids)


class BatchGone(Exception):
    """The provider no longer knows the batch or its results (HTTP 404)."""


def custom_id(provider: str, model: str, messages: list[Message], params: SamplingParams) -> str:
    """A stable id for a request: SHA-256 of (provider, model, messages, sampling params), so a rerun asks the
    same things under the same ids and each attempt (a new seed) has its own, even where the provider's body
    carries no seed (Anthropic). 64 hex characters: within both providers' rules (Anthropic: [a-zA-Z0-9_-]{1,64})."""
    asked = [provider, model, [[m.role, m.content] for m in messages], params.model_dump(mode="json")]
    canonical = json.dumps(asked, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def one_line(text: str, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit]


def fresh(error: BackendError) -> BackendError:
    """A new exception of the same kind and message, so that several waiters never share a traceback."""
    return type(error)(error.kind, str(error))


@contextlib.contextmanager
def sdk_errors(
    sdk: ModuleType, where: str, *, submitting: bool = False, rate_limited: tuple[int, ...] = (429,)
) -> Iterator[None]:
    """Map an SDK failure to the engine's errors. Submitting, a 4xx other than 401/403/404/408/409/429 is the
    provider refusing the batch (FatalError: no resubmission would fare better); otherwise a 404 is
    `BatchGone`."""
    try:
        yield
    except sdk.APIStatusError as exc:
        status = exc.status_code
        detail = one_line(error_detail(exc.body)) or f"HTTP {status}"
        if status == 404 and not submitting:
            raise BatchGone(f"{where}: HTTP 404: {detail}") from None
        error = classify_status(status, exc.response.headers, where, detail, rate_limited)
        if submitting and isinstance(error, ItemError):
            raise FatalError("batch_rejected", f"{where}: the provider rejected a batch: {detail}") from None
        raise error from None
    except (sdk.APITimeoutError, sdk.APIConnectionError) as exc:
        raise transport_error(exc, where) from None


class _Request:
    """One custom_id in flight: queued, being submitted, or in a batch, with the engine's waiters."""

    __slots__ = ("custom_id", "line", "waiters", "batch")

    def __init__(self, cid: str, line: bytes):
        self.custom_id = cid
        self.line = line
        self.waiters: list[asyncio.Future] = []
        self.batch: _Batch | None = None


class _Batch:
    """A submitted batch: from this run, or from the ledger (a rerun)."""

    def __init__(self, batch_id: str, custom_ids: list[str], *, status: str = "submitted", ended_earlier: bool = False):
        self.id = batch_id
        self.custom_ids = custom_ids
        self.status = status
        self.ended_earlier = ended_earlier  # it ended in an earlier run: only its successes are reused
        self.waiting: dict[str, _Request] = {}
        self.results: dict[str, Outcome] | None = None  # read once it ended
        self.follower: asyncio.Task | None = None


class BatchBackend(Backend, abc.ABC):
    """A `Backend` over a provider's batch API. A provider module sets `provider`, `limits` and `sdk_module`
    and writes `request_body`, `encode`, `submit`, `retrieve` and `results`."""

    provider: str
    limits: BatchLimits
    rate_limited_statuses: tuple[int, ...] = (429,)
    # Grouping and polling (seconds); see the module docstring.
    idle_s: float = 1.0
    max_hold_s: float = 60.0
    poll_first_s: float = 0.5
    poll_factor: float = 1.5
    poll_max_s: float = 60.0
    poll_error_budget: int = 30  # failed polls in a row before the waiting requests are failed (retryable)
    api_timeout_s: float = 600.0  # per batch-API call (uploads of up to a few hundred MB included)

    def __init__(self, config: GeneratorConfig, state_dir: Path):
        self.config = config
        self.model = config.model
        self.base_url = (config.base_urls or [backend_spec(config.backend).default_base_url or ""])[0]
        if not self.base_url:
            raise ConfigError(f"generator {config.name!r}: batch mode needs a base URL")
        self._price = config.price()
        self.ledger = Ledger(Path(state_dir) / LEDGER_FILE)
        self._queue: list[_Request] = []
        self._queue_bytes = 0
        self._first_queued = 0.0
        self._last_queued = 0.0
        self._wake: asyncio.Event | None = None
        self._submitter: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._requests: dict[str, _Request] = {}  # custom_id -> in flight
        self._orphans: dict[str, Outcome] = {}  # results whose waiters gave up, for the engine's next ask
        self._batches: dict[str, _Batch] = {}
        self._resumable: dict[str, _Batch] = {}  # custom_id -> the ledger batch holding it (latest wins)
        for entry in self.ledger.batches().values():
            self._adopt(entry)

    def _adopt(self, entry: LedgerBatch) -> None:
        if not entry.resumable or entry.provider != self.provider:
            return
        batch = _Batch(entry.batch_id, entry.custom_ids, status=entry.status, ended_earlier=entry.ended)
        self._batches[batch.id] = batch
        for cid in entry.custom_ids:
            self._resumable[cid] = batch

    # ------------------------------------------------------------------ provider hooks

    @abc.abstractmethod
    def request_body(self, messages: list[Message], params: SamplingParams) -> dict[str, Any]:
        """The provider's request body, exactly as the online backend sends it."""

    @abc.abstractmethod
    def encode(self, cid: str, body: dict[str, Any]) -> bytes:
        """One request as the batch carries it; its length counts against `limits.max_bytes`."""

    @abc.abstractmethod
    async def submit(self, lines: list[bytes]) -> tuple[str, dict[str, Any]]:
        """Create a batch of these encoded requests: (batch id, details for the ledger's "submitted" line)."""

    @abc.abstractmethod
    async def retrieve(self, batch_id: str) -> BatchStatus: ...

    @abc.abstractmethod
    async def results(self, batch_id: str, status: BatchStatus) -> dict[str, Outcome]:
        """custom_id -> outcome, for every request the provider reports on."""

    async def close_clients(self) -> None:  # noqa: B027 - optional
        """Close the SDK clients."""

    # ------------------------------------------------------------------ the engine's side

    async def complete(self, messages: list[Message], params: SamplingParams) -> Completion:
        body = self.request_body(messages, params)
        cid = custom_id(self.provider, self.model, messages, params)
        waiter: asyncio.Future = asyncio.get_running_loop().create_future()
        self._ask(cid, body, waiter)
        outcome = await waiter  # a value, never an exception: nothing is left unretrieved when a run stops
        if isinstance(outcome, BackendError):
            raise fresh(outcome)
        return outcome

    def _ask(self, cid: str, body: dict[str, Any], waiter: asyncio.Future) -> None:
        if cid in self._orphans:
            waiter.set_result(self._orphans.pop(cid))
            return
        request = self._requests.get(cid)
        if request is not None:  # the same request is already on its way: one answer serves both
            request.waiters.append(waiter)
            return
        request = _Request(cid, self.encode(cid, body))
        request.waiters.append(waiter)
        batch = self._resumable.pop(cid, None)
        if batch is not None and self._rejoin(batch, request):
            return
        self._enqueue(request)

    def _rejoin(self, batch: _Batch, request: _Request) -> bool:
        """Attach a request to the ledger batch that holds it; False when it must be asked again."""
        if batch.results is not None:  # this run already read that batch
            outcome = batch.results.get(request.custom_id)
            if outcome is None or (batch.ended_earlier and not isinstance(outcome, Completion)):
                return False
            self._deliver(request, outcome)
            return True
        self._requests[request.custom_id] = request
        request.batch = batch
        batch.waiting[request.custom_id] = request
        if batch.follower is None:
            batch.follower = self._spawn(self._follow(batch, first_poll_s=0.0))
        return True

    def _enqueue(self, request: _Request) -> None:
        size = len(request.line)
        if size > self.limits.max_bytes:
            self._deliver(request, ItemError("too_large", f"request of {size} bytes exceeds a batch's limit"))
            return
        self._requests[request.custom_id] = request
        if self._queue and (
            len(self._queue) >= self.limits.max_requests or self._queue_bytes + size > self.limits.max_bytes
        ):
            self._flush()  # full: submit now
        now = time.monotonic()
        if not self._queue:
            self._first_queued = now
        self._last_queued = now
        self._queue.append(request)
        self._queue_bytes += size
        if self._submitter is None:
            self._wake = asyncio.Event()
            self._submitter = self._spawn(self._submit_when_idle())
        assert self._wake is not None
        self._wake.set()

    def _deliver(self, request: _Request, outcome: Outcome) -> None:
        if self._requests.get(request.custom_id) is request:
            del self._requests[request.custom_id]
        live = [w for w in request.waiters if not w.done()]
        request.waiters.clear()
        if not live:  # every waiter gave up (e.g. a timeout): keep it for the engine's retry
            self._orphans[request.custom_id] = outcome
        for waiter in live:
            waiter.set_result(outcome)

    # ------------------------------------------------------------------ grouping and submitting

    async def _submit_when_idle(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                due = min(self._last_queued + self.idle_s, self._first_queued + self.max_hold_s)
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                self._flush()

    def _flush(self) -> None:
        group, self._queue, self._queue_bytes = self._queue, [], 0
        self._spawn(self._submit(group))

    async def _submit(self, group: list[_Request]) -> None:
        live: list[_Request] = []
        for request in group:
            request.waiters = [w for w in request.waiters if not w.done()]
            if request.waiters:
                live.append(request)
            elif self._requests.get(request.custom_id) is request:
                del self._requests[request.custom_id]  # nobody waits any more (the run is stopping)
        if not live:
            return
        lines = [r.line for r in live]
        try:
            batch_id, details = await self.submit(lines)
        except Exception as exc:
            if not isinstance(exc, BackendError):  # an SDK surprise: retryable, and named
                message = f"{self.base_url}: submitting a batch failed: {type(exc).__name__}: {one_line(exc)}"
                exc = TransientError("batch_error", message)
            if exc.kind == "batch_rejected":
                self.ledger.append("rejected", batch_id=None, requests=len(live), reason=str(exc))
            for request in live:
                self._deliver(request, exc)
            return
        cids = [r.custom_id for r in live]
        self.ledger.append(
            "submitted", batch_id=batch_id, provider=self.provider, model=self.model, base_url=self.base_url,
            requests=len(live), bytes=sum(len(line) for line in lines), **details, custom_ids=cids,
        )
        batch = _Batch(batch_id, cids)
        self._batches[batch_id] = batch
        for request in live:
            request.batch = batch
            batch.waiting[request.custom_id] = request
        batch.follower = self._spawn(self._follow(batch, first_poll_s=self.poll_first_s))

    # ------------------------------------------------------------------ polling and resolving

    async def _follow(self, batch: _Batch, first_poll_s: float) -> None:
        try:
            status = await self._poll_until_ended(batch, first_poll_s)
            if status is None:
                return
            results = await self._read_results(batch, status)
            if results is None:
                return
        except Exception as exc:  # an SDK surprise must not leave the engine waiting forever
            message = f"{self.base_url}: following batch {batch.id} failed: {type(exc).__name__}: {one_line(exc)}"
            self._fail_waiting(batch, TransientError("batch_error", message))
            return
        finally:
            batch.follower = None
        self._resolve(batch, status, results)

    async def _poll_until_ended(self, batch: _Batch, delay: float) -> BatchStatus | None:
        failures = 0
        where = f"{self.base_url} batch {batch.id}"
        while True:
            await asyncio.sleep(delay)
            delay = min(max(delay, self.poll_first_s) * self.poll_factor, self.poll_max_s)
            try:
                status = await self.retrieve(batch.id)
            except BatchGone as gone:
                self._lose(batch, str(gone))
                return None
            except FatalError as exc:
                self._fail_waiting(batch, exc)
                return None
            except BackendError as exc:
                failures += 1
                if failures > self.poll_error_budget:
                    self._fail_waiting(batch, TransientError(exc.kind, f"{where}: polling failed: {exc}"))
                    return None
                continue
            failures = 0
            if status.rejected is not None:
                reason = one_line(status.rejected)
                self.ledger.append("rejected", batch_id=batch.id, status=status.status, reason=reason)
                batch.status = status.status
                message = f"{self.base_url}: the provider rejected batch {batch.id} ({status.status}): {reason}"
                self._fail_waiting(batch, FatalError("batch_rejected", message), resumable=False)
                return None
            if status.status != batch.status:
                batch.status = status.status
                if not status.ended:
                    self.ledger.append("status", batch_id=batch.id, status=status.status)
            if status.ended:
                return status

    async def _read_results(self, batch: _Batch, status: BatchStatus) -> dict[str, Outcome] | None:
        failures = 0
        delay = self.poll_first_s
        while True:
            try:
                return await self.results(batch.id, status)
            except BatchGone as gone:
                self._lose(batch, str(gone))
                return None
            except FatalError as exc:
                self._fail_waiting(batch, exc)
                return None
            except BackendError as exc:
                failures += 1
                if failures > self.poll_error_budget:
                    self._fail_waiting(batch, TransientError(exc.kind, f"reading batch {batch.id} failed: {exc}"))
                    return None
            await asyncio.sleep(delay)
            delay = min(delay * self.poll_factor, self.poll_max_s)

    def _resolve(self, batch: _Batch, status: BatchStatus, results: dict[str, Outcome]) -> None:
        batch.results = results
        if not batch.ended_earlier:
            usage = Usage()
            counts: dict[str, int] = {"succeeded": 0}
            for cid in batch.custom_ids:
                outcome = results.get(cid)
                if isinstance(outcome, Completion):
                    counts["succeeded"] += 1
                    usage.prompt_tokens += outcome.usage.prompt_tokens
                    usage.completion_tokens += outcome.usage.completion_tokens
                else:
                    kind = outcome.kind if outcome is not None else "no_result"
                    counts[kind] = counts.get(kind, 0) + 1
            cost = round(self._price.cost(usage), 8) if self._price is not None else None
            self.ledger.append(
                "ended", batch_id=batch.id, status=status.status, counts=counts, provider_counts=status.counts,
                usage=usage.model_dump(), cost_usd=cost,
            )
        reason = f"batch {batch.id} ended ({status.status}) without a result for this request"
        missing = TransientError(f"batch_{status.status}", f"{self.base_url}: {reason}")
        for cid, request in list(batch.waiting.items()):
            del batch.waiting[cid]
            request.batch = None
            outcome = results.get(cid)
            if batch.ended_earlier and not isinstance(outcome, Completion):
                self._enqueue(request)  # it failed in an earlier run: ask again
            else:
                self._deliver(request, outcome if outcome is not None else missing)

    def _lose(self, batch: _Batch, reason: str) -> None:
        """The provider no longer has the batch (or its results): submit what waits on it again."""
        self.ledger.append("lost", batch_id=batch.id, reason=one_line(reason))
        batch.results = {}
        batch.ended_earlier = True
        for cid, request in list(batch.waiting.items()):
            del batch.waiting[cid]
            request.batch = None
            self._enqueue(request)

    def _fail_waiting(self, batch: _Batch, error: BackendError, resumable: bool = True) -> None:
        """Fail the requests waiting on a batch; unless the batch is dead, a retry of one waits on it again."""
        for cid, request in list(batch.waiting.items()):
            del batch.waiting[cid]
            request.batch = None
            if resumable:
                self._resumable[cid] = batch
            self._deliver(request, error)

    # ------------------------------------------------------------------ housekeeping

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        if not self._requests and not self._orphans:
            # The run ended with nothing in flight: the engine has taken every result it read.
            for batch in self._batches.values():
                if batch.results is not None and batch.results:
                    self.ledger.append("consumed", batch_id=batch.id)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.ledger.close()
        await self.close_clients()
