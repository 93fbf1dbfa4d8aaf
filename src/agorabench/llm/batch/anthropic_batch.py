"""Anthropic's Message Batches through the `anthropic` SDK: `messages.batches.create(requests=[{custom_id,
params}])`, `messages.batches.retrieve` (`processing_status`: in_progress, canceling, ended) and
`messages.batches.results` (one result per custom_id: succeeded, errored, canceled or expired). Each
request's `params` is the online backend's request body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agorabench.llm.anthropic_backend import _import_anthropic, parse_message, request_body
from agorabench.llm.base import ItemError, Message, SamplingParams, TransientError
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.http import PLACEHOLDER_KEY

from .base import BatchBackend, BatchLimits, BatchStatus, Outcome, one_line, sdk_errors

# Anthropic's batch processing guide: "A Message Batch is limited to either 100,000 Message requests or 256 MB
# in size, whichever is reached first."
LIMITS = BatchLimits(max_requests=100_000, max_bytes=256_000_000)
_RUNNING = ("in_progress", "canceling")


class AnthropicBatchBackend(BatchBackend):
    provider = "anthropic"
    limits = LIMITS
    rate_limited_statuses = (429, 529)  # 529: Anthropic's "overloaded"

    def __init__(self, config: GeneratorConfig, state_dir: Path):
        self._sdk = _import_anthropic()
        super().__init__(config, state_dir)
        self._client = self._sdk.AsyncAnthropic(
            api_key=config.api_key() or PLACEHOLDER_KEY, base_url=self.base_url, timeout=self.api_timeout_s
        )

    async def close_clients(self) -> None:
        # Closed inside the run's event loop: left to the garbage collector, the SDK's client schedules its
        # close on a loop that has ended ("Task exception was never retrieved ... Event loop is closed").
        await self._client.close()

    def request_body(self, messages: list[Message], params: SamplingParams) -> dict[str, Any]:
        return request_body(self.model, messages, params)

    def encode(self, cid: str, body: dict[str, Any]) -> bytes:
        # One element of the create call's `requests` list, plus its separating comma.
        entry = {"custom_id": cid, "params": body}
        return (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + ",").encode()

    def _errors(self, submitting: bool = False):
        return sdk_errors(self._sdk, self.base_url, submitting=submitting, rate_limited=self.rate_limited_statuses)

    async def submit(self, lines: list[bytes]) -> tuple[str, dict[str, Any]]:
        requests = [json.loads(line[:-1]) for line in lines]
        with self._errors(submitting=True):
            batch = await self._client.messages.batches.create(requests=requests)
        return batch.id, {}

    async def retrieve(self, batch_id: str) -> BatchStatus:
        with self._errors():
            batch = await self._client.messages.batches.retrieve(batch_id)
        status = batch.processing_status
        if status != "ended" and status not in _RUNNING:
            raise TransientError("batch_status", f"{self.base_url}: batch {batch_id} has unknown status {status!r}")
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        return BatchStatus(status, status == "ended", counts=counts)

    async def results(self, batch_id: str, status: BatchStatus) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        where = f"{self.base_url} batch {batch_id}"
        with self._errors():
            decoder = await self._client.messages.batches.results(batch_id)
            async for entry in decoder:
                outcomes[entry.custom_id] = self._outcome(entry.result, where)
        return outcomes

    def _outcome(self, result: Any, where: str) -> Outcome:
        kind = getattr(result, "type", None)
        if kind == "succeeded":
            try:
                return parse_message(json.dumps(result.message.to_dict()).encode(), where, self.model)
            except TransientError as exc:
                return exc
        if kind == "errored":
            error = getattr(getattr(result, "error", None), "error", None)
            error_type = str(getattr(error, "type", None) or "api_error")
            message = one_line(getattr(error, "message", None) or error_type)
            if error_type == "invalid_request_error":  # this request cannot succeed as sent
                return ItemError("batch_invalid_request", f"{where}: {message}")
            return TransientError(f"batch_{error_type}", f"{where}: {message}")
        if kind in ("canceled", "expired"):
            return TransientError(f"batch_{kind}", f"{where}: the request was {kind} before it was processed")
        return TransientError("batch_unknown_result", f"{where}: unknown result type {kind!r}")
