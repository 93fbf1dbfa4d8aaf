"""Micro-batching: many concurrent `await submit(request)` calls, one worker thread, batched model calls.

In-process models (transformers on CPU, vLLM on GPU) are much faster per token when they decode several
requests together, but their calls block. `MicroBatcher` bridges the two worlds: callers await an
asyncio future; a single background thread takes up to `max_batch_size` queued requests (waiting a few
milliseconds after the first so that requests sent at the same moment share a batch), runs the blocking
`run_batch`, and hands each result back to the caller's event loop with `call_soon_threadsafe`.

One thread, not a pool: the model owns the machine's cores (or GPU) and is not thread-safe, and the
thread that runs the first batch may load the model, so loading never blocks the event loop.
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

log = logging.getLogger(__name__)


class BatcherClosed(RuntimeError):
    """`submit` was called after `close`."""


@dataclass
class _Pending(Generic[Req]):
    request: Req
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


_STOP = object()  # queue sentinel: the worker exits when it dequeues this


class MicroBatcher(Generic[Req, Res]):
    """An asyncio-facing queue served in batches by one worker thread (started on first use)."""

    def __init__(
        self,
        run_batch: RunBatch[Req, Res],
        max_batch_size: int = 8,
        max_wait_s: float = 0.005,
        name: str = "agorabench-batcher",
    ):
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._name = name
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        # How many batches of each size ran: cheap to keep, tells whether batching happens at all.
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
            if batch:
                self._run(batch)
            if stop:  # nothing can be queued behind the sentinel: submit() refuses once closed
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
