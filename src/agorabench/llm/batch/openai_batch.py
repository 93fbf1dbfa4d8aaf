"""OpenAI's Batch API through the `openai` SDK: a JSONL input file (`files.create(purpose="batch")`), a batch on
`/v1/chat/completions` (`batches.create(completion_window="24h")`), `batches.retrieve` to poll, and
`files.content` for the output and error files. Each line's body is the online backend's request body, so an
OpenAI-compatible server that implements the Batch API gets the very requests it would get online."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai

from agorabench.llm.base import Message, SamplingParams, TransientError
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.http import PLACEHOLDER_KEY, classify_status, error_detail
from agorabench.llm.openai_backend import parse_chat_completion, request_body

from .base import BatchBackend, BatchLimits, BatchStatus, Outcome, one_line, sdk_errors

ENDPOINT = "/v1/chat/completions"
# The openai SDK's `batches.create`: "The file can contain up to 50,000 requests, and can be up to 200 MB in size."
LIMITS = BatchLimits(max_requests=50_000, max_bytes=200_000_000)
_RUNNING = ("validating", "in_progress", "finalizing", "cancelling")
_ENDED = ("completed", "expired", "cancelled")


class OpenAIBatchBackend(BatchBackend):
    provider = "openai"
    limits = LIMITS

    def __init__(self, config: GeneratorConfig, state_dir: Path):
        super().__init__(config, state_dir)
        self._client = openai.AsyncOpenAI(
            api_key=config.api_key() or PLACEHOLDER_KEY, base_url=self.base_url, timeout=self.api_timeout_s
        )

    async def close_clients(self) -> None:
        # Closed inside the run's event loop: left to the garbage collector, the SDK's client schedules its
        # close on a loop that has ended ("Task exception was never retrieved ... Event loop is closed").
        await self._client.close()

    def request_body(self, messages: list[Message], params: SamplingParams) -> dict[str, Any]:
        return request_body(self.model, messages, params)

    def encode(self, cid: str, body: dict[str, Any]) -> bytes:
        line = {"custom_id": cid, "method": "POST", "url": ENDPOINT, "body": body}
        return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    async def submit(self, lines: list[bytes]) -> tuple[str, dict[str, Any]]:
        with sdk_errors(openai, self.base_url, submitting=True):
            upload = await self._client.files.create(
                file=("agorabench-batch.jsonl", b"".join(lines), "application/jsonl"), purpose="batch"
            )
            batch = await self._client.batches.create(
                input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h",
                metadata={"source": "agorabench"},
            )
        return batch.id, {"input_file_id": upload.id}

    async def retrieve(self, batch_id: str) -> BatchStatus:
        with sdk_errors(openai, self.base_url):
            batch = await self._client.batches.retrieve(batch_id)
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        details = {"output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id}
        if batch.status == "failed":  # validation refused the whole input file
            errors = batch.errors.data if batch.errors is not None and batch.errors.data else []
            reason = "; ".join(
                f"{e.message}" + (f" (line {e.line})" if e.line is not None else "") for e in errors if e.message
            )
            return BatchStatus(batch.status, True, rejected=reason or "validation failed", counts=counts)
        if batch.status not in _RUNNING and batch.status not in _ENDED:
            message = f"{self.base_url}: batch {batch_id} has unknown status {batch.status!r}"
            raise TransientError("batch_status", message)
        return BatchStatus(batch.status, batch.status in _ENDED, counts=counts, details=details)

    async def results(self, batch_id: str, status: BatchStatus) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        where = f"{self.base_url} batch {batch_id}"
        for key in ("output_file_id", "error_file_id"):
            file_id = status.details.get(key)
            if not file_id:
                continue
            with sdk_errors(openai, self.base_url):
                content = await self._client.files.content(file_id)
            for raw in content.content.split(b"\n"):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                    cid = row["custom_id"]
                except (ValueError, KeyError, TypeError):
                    continue  # not a result line: the request shows up as missing and is asked again
                outcomes[cid] = self._outcome(row, where)
        return outcomes

    def _outcome(self, row: dict[str, Any], where: str) -> Outcome:
        response = row.get("response")
        if isinstance(response, dict) and response.get("status_code") == 200:
            return _parse(response.get("body"), where, self.model)
        if isinstance(response, dict) and isinstance(response.get("status_code"), int):
            body = response.get("body")
            return classify_status(response["status_code"], None, where, one_line(error_detail(body)))
        error = row.get("error") if isinstance(row.get("error"), dict) else {}
        code = str(error.get("code") or "error")
        message = one_line(error.get("message") or code)
        kind = code if code.startswith("batch_") else f"batch_{code}"  # batch_expired, batch_cancelled, ...
        return TransientError(kind, f"{where}: {message}")


def _parse(body: Any, where: str, model: str) -> Outcome:
    try:
        return parse_chat_completion(json.dumps(body).encode(), where, model)
    except TransientError as exc:
        return exc
