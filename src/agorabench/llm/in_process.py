"""The base of backends that run the model in this process (transformers, vLLM).

Concurrent `complete()` calls are gathered by a `MicroBatcher` and handed, as one batch, to a worker thread
that owns the model. The model is created by that thread on first use (so importing a backend stays cheap
and a model loads only when a request needs it); a load that failed is not retried for every batch.
A subclass writes `_load_runtime()` (create the model) and `_run_batch(requests)` (one result per request:
a Completion, or the exception for that request alone). One that decodes continuously (requests join a
running batch as others finish) sets `continuous = True` and writes `_serve(tickets, more)` instead
(`llm/batching.py`: settle each ticket when its request is done; `more(n)` takes up to n queued requests).
"""

from __future__ import annotations

import abc
from collections import Counter
from dataclasses import dataclass
from typing import Any

from agorabench.llm.base import Backend, Completion, FatalError, Message, SamplingParams, as_messages
from agorabench.llm.batching import MicroBatcher
from agorabench.llm.config import GeneratorConfig


@dataclass(frozen=True)
class Request:
    messages: list[Message]
    params: SamplingParams


def one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class InProcessBackend(Backend):
    """A model in this process behind a micro-batcher; `runtime()` loads it once, in the worker thread."""

    # True: the batcher calls the subclass's `_serve(tickets, more)` (continuous batching: settle every ticket,
    # these and those `more(n)` returns, in the worker thread) instead of `_run_batch`.
    continuous = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Refused where the class is written, not at the first request.
        if cls.continuous and not callable(getattr(cls, "_serve", None)):
            raise TypeError(f"{cls.__name__} sets continuous = True but writes no _serve(tickets, more)")

    def __init__(self, config: GeneratorConfig, *, max_batch_size: int | None = None, max_wait_s: float | None = None):
        self.config = config
        self.model = config.model
        self._runtime: Any = None
        self._load_error: FatalError | None = None
        options: dict[str, Any] = {} if max_wait_s is None else {"max_wait_s": max_wait_s}
        if self.continuous:
            options["serve"] = self._serve  # type: ignore[attr-defined]  # checked in __init_subclass__
        else:
            options["run_batch"] = self._run_batch
        self.max_batch_size = max_batch_size or config.max_batch_size
        self._batcher: MicroBatcher[Request, Completion] = MicroBatcher(
            max_batch_size=self.max_batch_size,
            name=f"agorabench-{config.backend}-{config.name}",
            **options,
        )

    async def complete(self, messages: list[Message], params: SamplingParams) -> Completion:
        return await self._batcher.submit(Request(as_messages(messages), params))

    async def aclose(self) -> None:
        await self._batcher.aclose()
        self._runtime = None

    @property
    def batch_sizes(self) -> Counter[int]:
        """How many batches of each size have run (to check that concurrency is really batched)."""
        return self._batcher.batch_sizes

    def runtime(self) -> Any:
        """The loaded model; loads it on first call. Called from the worker thread."""
        if self._runtime is not None:
            return self._runtime
        if self._load_error is not None:  # loading takes seconds to minutes: fail fast afterwards
            raise self._load_error
        try:
            self._runtime = self._load_runtime()
        except FatalError as exc:
            self._load_error = exc
            raise
        return self._runtime

    @abc.abstractmethod
    def _load_runtime(self) -> Any:
        """Create the model (raise FatalError with a one-line reason when it cannot be)."""

    @abc.abstractmethod
    def _run_batch(self, requests: list[Request]) -> list[Completion | Exception]:
        """One result per request, in order, computed in the worker thread."""

