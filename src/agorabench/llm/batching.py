"""Micro-batching: many concurrent `await submit(request)` calls, one worker thread, batched model calls.

In-process models (transformers on CPU, vLLM on GPU) are much faster per token when they decode several
requests together, but their calls block. `MicroBatcher` bridges the two worlds: callers await an
asyncio future; a single background thread takes up to `max_batch_size` queued requests (waiting a few
milliseconds after the first so that requests sent at the same moment share a batch), runs the blocking
`run_batch`, and hands each result back to the caller's event loop with `call_soon_threadsafe`.

One thread, not a pool: the model owns the machine's cores (or GPU) and is not thread-safe, and the
thread that runs the first batch may load the model, so loading never blocks the event loop.

Continuous batching: given `serve` instead of `run_batch`, the worker hands the first batch to
`serve(tickets, more)` as `Ticket`s, and `serve` settles each ticket as soon as its result is known and
calls `more(n)` for up to n requests queued meanwhile (never waiting), so new requests join a running
decode as earlier ones finish instead of waiting for the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")

# `run_batch` gets the requests in submission order and returns one entry per request, in the same order:
# a result, or an exception instance for a request that failed on its own (the others still succeed).
RunBatch = Callable[[list[Req]], Sequence["Res | BaseException"]]
# `serve(tickets, more)`: settle every ticket, the first ones and those `more(n)` returned (see Ticket).
Serve = Callable[[list["Ticket[Req, Res]"], Callable[[int], list["Ticket[Req, Res]"]]], None]

log = logging.getLogger(__name__)


class BatcherClosed(RuntimeError):
    """`submit` was called after `close`."""


@dataclass
class _Pending(Generic[Req]):
    request: Req
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_STOP = object()  # queue sentinel: the worker exits when it dequeues this


class _Serving:
    """One `serve` call's bookkeeping: its unsettled tickets, and in `sizes` the most it held at once
    (kept current, so that a caller who has its result already sees its batch counted)."""

    def __init__(self, sizes: Counter[int]) -> None:
        self.open: dict[int, Ticket[Any, Any]] = {}
        self.peak = 0
        self.sizes = sizes

    def add(self, tickets: list[Ticket[Any, Any]]) -> None:
        self.open.update((id(t), t) for t in tickets)
        if len(self.open) > self.peak:
            if self.peak:
                self.sizes[self.peak] -= 1
                if not self.sizes[self.peak]:
                    del self.sizes[self.peak]
            self.peak = len(self.open)
            self.sizes[self.peak] += 1


class Ticket(Generic[Req, Res]):
    """A request handed to a continuous `serve`: settle it once, with its result or its own exception."""

    __slots__ = ("request", "_pending", "_serving")

    def __init__(self, pending: _Pending[Req], serving: _Serving):
        self.request = pending.request
        self._pending = pending
        self._serving = serving

    @property
    def cancelled(self) -> bool:
        """The caller gave up (timeout, Ctrl-C): nobody waits for the result any more."""
        return self._pending.future.cancelled()

    @property
    def settled(self) -> bool:
        return id(self) not in self._serving.open

    def settle(self, result: Res | BaseException) -> None:
        if self._serving.open.pop(id(self), None) is not None:  # the first result counts
            _settle(self._pending, result)


class MicroBatcher(Generic[Req, Res]):
    """An asyncio-facing queue served in batches by one worker thread (started on first use)."""

    def __init__(
        self,
        run_batch: RunBatch[Req, Res] | None = None,
        max_batch_size: int = 8,
        max_wait_s: float = 0.005,
        name: str = "agorabench-batcher",
        *,
        serve: Serve[Req, Res] | None = None,
    ):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if (run_batch is None) == (serve is None):
            raise ValueError("give exactly one of run_batch and serve")
        self._run_batch = run_batch
        self._serve = serve
        self._stop_taken = False  # `more()` dequeued the stop sentinel: exit after the current serve
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._name = name
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        # How many batches of each size ran: cheap to keep, tells whether batching happens at all.
        # (With `serve`: per serve call, the most requests it held at once.)
        self.batch_sizes: Counter[int] = Counter()

    async def submit(self, request: Req) -> Res:
        """Queue `request` and wait for its result (or its exception)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        with self._lock:
            if self._closed:
                raise BatcherClosed(f"{self._name} is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put(_Pending(request, future, loop))
        return await future

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting requests; those already queued still run (cancelled ones are skipped).

        Idempotent. Blocks until the worker exits (up to `timeout`); from async code use `aclose`."""
        with self._lock:
            if self._closed:
                thread = self._thread
            else:
                self._closed = True
                thread = self._thread
                self._queue.put(_STOP)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    async def aclose(self, timeout: float | None = None) -> None:
        # The running batch may take seconds: wait for it off the event loop.
        await asyncio.to_thread(self.close, timeout)

    # --- worker thread ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            batch, stop = self._next_batch()
            if batch and self._serve is not None:
                self._serve_from(batch, self._serve)
            elif batch:
                self._run(batch)
            if stop or self._stop_taken:  # nothing can be queued behind the sentinel: submit() refuses once closed
                return

    def _next_batch(self) -> tuple[list[_Pending[Req]], bool]:
        """Block for one request, then gather more for up to `max_wait_s`. Returns (batch, stop)."""
        batch: list[_Pending[Req]] = []
        deadline: float | None = None
        while len(batch) < self.max_batch_size:
            if deadline is None:
                item = self._queue.get()
            else:
                remaining = deadline - time.monotonic()
                try:
                    # Requests that queued up while the previous batch ran are taken at once.
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
            if item is _STOP:
                return batch, True
            if item.future.cancelled():  # caller gave up (timeout, Ctrl-C): do not spend compute on it
                continue
            batch.append(item)
            if deadline is None:
                deadline = time.monotonic() + self.max_wait_s
        return batch, False

    def _run(self, batch: list[_Pending[Req]]) -> None:
        self.batch_sizes[len(batch)] += 1
        assert self._run_batch is not None
        try:
            results = list(self._run_batch([p.request for p in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(batch)} requests")
        except Exception as exc:  # noqa: BLE001 - every waiting caller gets the failure
            log.debug("batch of %d failed: %r", len(batch), exc)
            results = [exc] * len(batch)
        except BaseException as exc:  # SystemExit & co. in the worker: fail the callers, then stop
            for pending in batch:
                _settle(pending, RuntimeError(f"{self._name} worker stopped: {exc!r}"))
            raise
        for pending, result in zip(batch, results, strict=True):
            _settle(pending, result)

    def _serve_from(self, batch: list[_Pending[Req]], serve: Serve[Req, Res]) -> None:
        serving = _Serving(self.batch_sizes)

        def tickets(pendings: list[_Pending[Req]]) -> list[Ticket[Req, Res]]:
            made = [Ticket(p, serving) for p in pendings]
            serving.add(made)
            return made

        def more(limit: int) -> list[Ticket[Req, Res]]:
            return tickets(self._queued(limit))

        try:
            serve(tickets(batch), more)
        except Exception as exc:  # noqa: BLE001 - every caller still waiting gets the failure
            log.debug("serving %d requests failed: %r", len(serving.open), exc)
            for ticket in list(serving.open.values()):
                ticket.settle(exc)
        except BaseException as exc:
            for ticket in list(serving.open.values()):
                ticket.settle(RuntimeError(f"{self._name} worker stopped: {exc!r}"))
            raise
        for ticket in list(serving.open.values()):
            ticket.settle(RuntimeError(f"{self._name}: serve returned without a result for this request"))

    def _queued(self, limit: int) -> list[_Pending[Req]]:
        """Up to `limit` requests already queued, without waiting (cancelled ones skipped)."""
        taken: list[_Pending[Req]] = []
        while len(taken) < limit and not self._stop_taken:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._stop_taken = True
            elif not item.future.cancelled():
                taken.append(item)
        return taken


def _settle(pending: _Pending[Any], result: Any) -> None:
    """Resolve a caller's future from the worker thread, on the caller's own loop."""

    def resolve() -> None:
        if pending.future.done():  # cancelled while the batch ran
            return
        if isinstance(result, BaseException):
            pending.future.set_exception(result)
        else:
            pending.future.set_result(result)

    try:
        pending.loop.call_soon_threadsafe(resolve)
    except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
        pass
