"""The fake server's batch APIs: OpenAI's Batch API and Anthropic's Message Batches, enough for the real SDKs.

    POST /v1/files                               OpenAI: upload a batch input file (multipart, purpose=batch)
    GET  /v1/files/{id}                          OpenAI: the file object
    GET  /v1/files/{id}/content                  OpenAI: a file's bytes (input, output and error files)
    POST /v1/batches                             OpenAI: create a batch over an uploaded file
    GET  /v1/batches/{id}                        OpenAI: poll (validating -> in_progress -> completed | expired
                                                 | failed)
    POST /v1/messages/batches                    Anthropic: create a Message Batch
    GET  /v1/messages/batches/{id}               Anthropic: poll (in_progress -> ended)
    GET  /v1/messages/batches/{id}/results       Anthropic: the results JSONL (the batch's `results_url`)
    GET  /admin/batches                          counters and every batch (see `_BatchService.snapshot`)
    POST /admin/batches                          replace the `BatchFaults` (a JSON object of its fields)

Each request of a batch is answered, when the batch ends, by the server's responder (the one the online
endpoints use), so canned outputs work as online. `BatchFaults` sets how long a batch takes (polls and
seconds), which requests error or expire (per custom_id, seeded; by default once each, so a retry succeeds)
and whether the provider rejects whole batches. `fake_server.make_app` registers the routes
(`add_batch_routes`); tests configure them over HTTP (`configure_batches`, `batch_stats`), which works the
same for the in-process `FakeServer` and for `python -m agorabench.testing.fake_server`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from agorabench.testing.fake_server import _ANTHROPIC, _OPENAI, _json_response, _prompt_tokens, requested_schema

__all__ = ["BatchFaults", "add_batch_routes", "batch_stats", "configure_batches"]

OPENAI_MAX_REQUESTS = 50_000
OPENAI_MAX_BYTES = 200_000_000
ANTHROPIC_MAX_REQUESTS = 100_000
ANTHROPIC_MAX_BYTES = 256_000_000
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # Anthropic's rule for custom_id


@dataclass(frozen=True)
class BatchFaults:
    """How the fake batch APIs behave. A batch takes the values in force when it was created."""

    polls: int = 2  # a batch ends at its `polls`-th poll (OpenAI's first poll moves it to in_progress) ...
    delay_s: float = 0.0  # ... and not before this many seconds after its creation
    errored: float = 0.0  # share of requests answered with a per-request error (OpenAI 500, Anthropic api_error)
    expired: float = 0.0  # share of requests left unprocessed (OpenAI batch_expired, Anthropic expired)
    once: bool = True  # a custom_id errors or expires at most once, so that its retry succeeds
    reject: str | None = None  # reject every batch with this message (OpenAI: failed; Anthropic: HTTP 400)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.polls < 1 or self.delay_s < 0:
            raise ValueError("polls must be at least 1 and delay_s not negative")
        if not (0.0 <= self.errored <= 1.0 and 0.0 <= self.expired <= 1.0 and self.errored + self.expired <= 1.0):
            raise ValueError("errored and expired are shares in [0, 1] whose sum is at most 1")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchFaults:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown batch settings: {', '.join(unknown)}")
        return cls(**data)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


class _BatchService:
    """State of both batch APIs, on the server's event loop."""

    def __init__(self, service: Any):
        self.service = service  # fake_server._Service: responder, models, api key
        self.faults = BatchFaults()
        self.ids = itertools.count(1)
        self.files: dict[str, dict[str, Any]] = {}  # id -> {"object": file object, "data": bytes}
        self.openai: dict[str, dict[str, Any]] = {}
        self.anthropic: dict[str, dict[str, Any]] = {}
        self.counts: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()  # custom_id -> times answered
        self.faulted: set[str] = set()

    # ----------------------------------------------------------------- shared

    def _authorized(self, request: web.Request, dialect: Any) -> bool:
        return self.service.api_key is None or dialect.presented_key(request) == self.service.api_key

    def _fault(self, cid: str, faults: BatchFaults) -> str | None:
        if faults.once and cid in self.faulted:
            return None
        digest = hashlib.sha256(f"{faults.seed}:{cid}".encode()).digest()
        roll = int.from_bytes(digest[:8], "big") / 2**64
        kind = "errored" if roll < faults.errored else "expired" if roll < faults.errored + faults.expired else None
        if kind is not None:
            self.faulted.add(cid)
        return kind

    def _answer(self, body: dict[str, Any], dialect: Any) -> dict[str, Any] | None:
        """The completion the online endpoint would give, or None if the responder failed."""
        try:
            text = self.service.responder(body)
        except Exception:
            return None
        model = body.get("model") or self.service.models[0]
        n = next(self.ids)
        count = self.service.count_tokens
        structured = requested_schema(body)  # a forced tool's reply comes back as its tool_use input
        return dialect.completion(
            n, model, text, False, _prompt_tokens(body, count), count(text),
            tool=structured[0] if structured is not None else None,
        )

    def _ready(self, batch: dict[str, Any]) -> bool:
        faults: BatchFaults = batch["faults"]
        return batch["polls"] >= faults.polls and time.time() - batch["created"] >= faults.delay_s

    # ----------------------------------------------------------------- OpenAI

    def _openai_file(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        file_id = f"file-fake{next(self.ids)}"
        obj = {
            "id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
            "filename": filename, "purpose": purpose, "status": "processed", "status_details": None,
            "expires_at": None,
        }
        self.files[file_id] = {"object": obj, "data": data}
        return obj

    async def upload_file(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request, _OPENAI):
            return _OPENAI.error(401, "Incorrect API key provided.")
        data, filename, purpose = None, "upload.jsonl", None
        try:
            reader = await request.multipart()  # streamed: no request-size cap
            async for part in reader:
                if part.name == "file":
                    filename = part.filename or filename
                    data = bytes(await part.read(decode=False))
                elif part.name == "purpose":
                    purpose = (await part.text()).strip()
        except (ValueError, AssertionError, KeyError):
            return _OPENAI.error(400, "expected a multipart/form-data body")
        if data is None or purpose is None:
            return _OPENAI.error(400, "a 'file' and a 'purpose' field are required")
        self.counts["files_uploaded"] += 1
        return _json_response(self._openai_file(data, filename, purpose))

    async def get_file(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request, _OPENAI):
            return _OPENAI.error(401, "Incorrect API key provided.")
        file = self.files.get(request.match_info["file_id"])
        if file is None:
            return _OPENAI.error(404, "No such File object.")
        return _json_response(file["object"])

    async def file_content(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request, _OPENAI):
            return _OPENAI.error(401, "Incorrect API key provided.")
        file = self.files.get(request.match_info["file_id"])
        if file is None:
            return _OPENAI.error(404, "No such File object.")
        self.counts["files_downloaded"] += 1
        return web.Response(body=file["data"], content_type="application/octet-stream")

    async def create_openai_batch(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request, _OPENAI):
            return _OPENAI.error(401, "Incorrect API key provided.")
        try:
            body = json.loads(await request.content.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _OPENAI.error(400, "request body must be a JSON object")
        endpoint, file_id = body.get("endpoint"), body.get("input_file_id")
        if body.get("completion_window") != "24h":
            return _OPENAI.error(400, "completion_window must be '24h'")
        if endpoint not in ("/v1/chat/completions", "/v1/responses", "/v1/completions", "/v1/embeddings"):
            return _OPENAI.error(400, f"unsupported endpoint {endpoint!r}")
        file = self.files.get(file_id)
        if file is None:
            return _OPENAI.error(400, f"No such File object: {file_id}")
        lines, problems = self._openai_lines(file["data"], endpoint)
        batch_id = f"batch_fake{next(self.ids)}"
        now = time.time()
        obj = {
            "id": batch_id, "object": "batch", "endpoint": endpoint, "errors": None, "input_file_id": file_id,
            "completion_window": "24h", "status": "validating", "output_file_id": None, "error_file_id": None,
            "created_at": int(now), "in_progress_at": None, "expires_at": int(now) + 86400, "finalizing_at": None,
            "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        faults = self.faults
        if faults.reject is not None:
            problems = [faults.reject]
        self.openai[batch_id] = {
            "object": obj, "lines": lines, "problems": problems, "faults": faults, "created": now, "polls": 0,
        }
        self.counts["openai_batches_created"] += 1
        self.counts["requests_submitted"] += len(lines)
        return _json_response(obj)

    @staticmethod
    def _openai_lines(data: bytes, endpoint: str) -> tuple[list[dict[str, Any]], list[str]]:
        """The input file's requests, and what makes it invalid (the batch then fails validation)."""
        lines: list[dict[str, Any]] = []
        problems: list[str] = []
        seen: set[str] = set()
        if len(data) > OPENAI_MAX_BYTES:
            problems.append(f"the input file is larger than {OPENAI_MAX_BYTES} bytes")
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                problems.append(f"line {number} is not valid JSON")
                continue
            cid = line.get("custom_id") if isinstance(line, dict) else None
            if not isinstance(cid, str) or not cid:
                problems.append(f"line {number} has no custom_id")
            elif cid in seen:
                problems.append(f"line {number}: duplicate custom_id {cid!r}")
            elif line.get("method") != "POST" or line.get("url") != endpoint:
                problems.append(f"line {number}: method must be POST and url {endpoint}")
            elif not isinstance(line.get("body"), dict) or not isinstance(line["body"].get("messages"), list):
                problems.append(f"line {number}: body must be a JSON object with a 'messages' list")
            else:
                seen.add(cid)
                lines.append(line)
        if len(lines) > OPENAI_MAX_REQUESTS:
            problems.append(f"more than {OPENAI_MAX_REQUESTS} requests")
        if not lines and not problems:
            problems.append("the input file holds no requests")
        return lines, problems

    async def get_openai_batch(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request, _OPENAI):
            return _OPENAI.error(401, "Incorrect API key provided.")
        batch = self.openai.get(request.match_info["batch_id"])
        if batch is None:
            return _OPENAI.error(404, "No such Batch object.")
        self.counts["polls"] += 1
        obj = batch["object"]
        if obj["status"] in ("validating", "in_progress"):
            batch["polls"] += 1
            now = int(time.time())
            if obj["status"] == "validating":
                if batch["problems"]:
                    obj.update(status="failed", failed_at=now, errors={"object": "list", "data": [
                        {"code": "invalid_request", "message": p, "param": None, "line": None}
                        for p in batch["problems"]
                    ]})
                    return _json_response(obj)
                obj.update(status="in_progress", in_progress_at=now)
            if self._ready(batch):
                self._finish_openai(batch)
        return _json_response(obj)

    def _finish_openai(self, batch: dict[str, Any]) -> None:
        obj, faults = batch["object"], batch["faults"]
        output, errors = [], []
        expired = False
        for line in batch["lines"]:
            cid = line["custom_id"]
            line_id = f"batch_req_fake{next(self.ids)}"
            fault = self._fault(cid, faults)
            if fault == "expired":
                expired = True
                errors.append({"id": line_id, "custom_id": cid, "response": None, "error": {
                    "code": "batch_expired",
                    "message": "This request could not be executed before the completion window expired.",
                }})
                continue
            answer = None if fault == "errored" else self._answer(line["body"], _OPENAI)
            if answer is None:
                error = {"message": "The server had an error (injected by the fake server).", "type": "server_error",
                         "param": None, "code": None}
                errors.append({"id": line_id, "custom_id": cid, "error": None, "response": {
                    "status_code": 500, "request_id": f"req_fake{next(self.ids)}", "body": {"error": error},
                }})
                continue
            self.answered[cid] += 1
            output.append({"id": line_id, "custom_id": cid, "error": None, "response": {
                "status_code": 200, "request_id": f"req_fake{next(self.ids)}", "body": answer,
            }})
        now = int(time.time())
        for key, rows, name in (("output_file_id", output, "output"), ("error_file_id", errors, "errors")):
            if rows:
                data = "".join(json.dumps(row) + "\n" for row in rows).encode()
                obj[key] = self._openai_file(data, f"{obj['id']}_{name}.jsonl", "batch_output")["id"]
        obj["request_counts"] = {"total": len(batch["lines"]), "completed": len(output), "failed": len(errors)}
        obj.update(finalizing_at=now, **({"status": "expired", "expired_at": now} if expired else
                                         {"status": "completed", "completed_at": now}))

    # ----------------------------------------------------------------- Anthropic

    async def create_anthropic_batch(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request, _ANTHROPIC):
            return _ANTHROPIC.error(401, "invalid x-api-key")
        raw = await request.content.read()  # streamed: no request-size cap below the API's own
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        requests = body.get("requests") if isinstance(body, dict) else None
        problem = self._anthropic_problem(requests, len(raw))
        faults = self.faults
        if faults.reject is not None:
            problem = faults.reject
        if problem is not None:
            self.counts["anthropic_batches_rejected"] += 1
            return _ANTHROPIC.error(400, problem)
        assert isinstance(requests, list)
        batch_id = f"msgbatch_fake{next(self.ids)}"
        now = time.time()
        obj = {
            "id": batch_id, "type": "message_batch", "processing_status": "in_progress",
            "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "created_at": _iso(now), "expires_at": _iso(now + 86400), "ended_at": None, "archived_at": None,
            "cancel_initiated_at": None, "results_url": None,
        }
        self.anthropic[batch_id] = {
            "object": obj, "requests": requests, "faults": faults, "created": now, "polls": 0, "results": None,
        }
        self.counts["anthropic_batches_created"] += 1
        self.counts["requests_submitted"] += len(requests)
        return _json_response(obj)

    @staticmethod
    def _anthropic_problem(requests: Any, size: int) -> str | None:
        if not isinstance(requests, list) or not requests:
            return "requests: a non-empty list is required"
        if len(requests) > ANTHROPIC_MAX_REQUESTS or size > ANTHROPIC_MAX_BYTES:
            return f"a batch holds at most {ANTHROPIC_MAX_REQUESTS} requests and {ANTHROPIC_MAX_BYTES} bytes"
        seen: set[str] = set()
        for index, entry in enumerate(requests):
            cid = entry.get("custom_id") if isinstance(entry, dict) else None
            params = entry.get("params") if isinstance(entry, dict) else None
            if not isinstance(cid, str) or not _CUSTOM_ID.match(cid):
                return f"requests.{index}.custom_id: must match {_CUSTOM_ID.pattern}"
            if cid in seen:
                return f"requests.{index}.custom_id: duplicate {cid!r}"
            seen.add(cid)
            if not isinstance(params, dict) or not isinstance(params.get("messages"), list):
                return f"requests.{index}.params: must be an object with a 'messages' list"
            if not isinstance(params.get("max_tokens"), int) or params["max_tokens"] < 1:
                return f"requests.{index}.params.max_tokens: a positive integer is required"
        return None

    async def get_anthropic_batch(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request, _ANTHROPIC):
            return _ANTHROPIC.error(401, "invalid x-api-key")
        batch = self.anthropic.get(request.match_info["batch_id"])
        if batch is None:
            return _ANTHROPIC.error(404, "message batch not found")
        self.counts["polls"] += 1
        obj = batch["object"]
        if obj["processing_status"] == "in_progress":
            batch["polls"] += 1
            if self._ready(batch):
                self._finish_anthropic(batch, f"{request.url.origin()}/v1/messages/batches/{obj['id']}/results")
        return _json_response(obj)

    def _finish_anthropic(self, batch: dict[str, Any], results_url: str) -> None:
        obj, faults = batch["object"], batch["faults"]
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        rows = []
        for entry in batch["requests"]:
            cid = entry["custom_id"]
            fault = self._fault(cid, faults)
            answer = None if fault is not None else self._answer(entry["params"], _ANTHROPIC)
            if fault == "expired":
                result: dict[str, Any] = {"type": "expired"}
            elif answer is None:
                result = {"type": "errored", "error": {"type": "error", "error": {
                    "type": "api_error", "message": "Internal server error (injected by the fake server)."}}}
            else:
                self.answered[cid] += 1
                result = {"type": "succeeded", "message": answer}
            counts[result["type"]] += 1
            rows.append({"custom_id": cid, "result": result})
        batch["results"] = "".join(json.dumps(row) + "\n" for row in rows).encode()
        obj.update(
            processing_status="ended", request_counts=counts, ended_at=_iso(time.time()), results_url=results_url
        )

    async def anthropic_results(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request, _ANTHROPIC):
            return _ANTHROPIC.error(401, "invalid x-api-key")
        batch = self.anthropic.get(request.match_info["batch_id"])
        if batch is None:
            return _ANTHROPIC.error(404, "message batch not found")
        if batch["results"] is None:
            return _ANTHROPIC.error(400, "the message batch is still processing")
        self.counts["results_downloaded"] += 1
        return web.Response(body=batch["results"], content_type="application/binary")

    # ----------------------------------------------------------------- admin

    def snapshot(self) -> dict[str, Any]:
        batches = [
            {"api": "openai", "id": bid, "status": b["object"]["status"], "requests": len(b["lines"])}
            for bid, b in self.openai.items()
        ] + [
            {"api": "anthropic", "id": bid, "status": b["object"]["processing_status"], "requests": len(b["requests"])}
            for bid, b in self.anthropic.items()
        ]
        return {
            "counts": dict(self.counts),
            "batches_created": self.counts["openai_batches_created"] + self.counts["anthropic_batches_created"],
            "requests_answered": sum(self.answered.values()),
            "answered_twice": sorted(cid for cid, n in self.answered.items() if n > 1),
            "batches": batches,
            "faults": asdict(self.faults),
        }

    async def get_admin(self, request: web.Request) -> web.StreamResponse:
        return _json_response(self.snapshot())

    async def post_admin(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object of BatchFaults fields")
            self.faults = BatchFaults.from_dict(data)
        except (ValueError, TypeError) as exc:
            return _json_response({"error": str(exc)}, status=400)
        return _json_response(asdict(self.faults))


def add_batch_routes(app: web.Application, service: Any) -> None:
    """Register both batch APIs on the fake server's application (`service`: its `_Service`)."""
    batches = _BatchService(service)
    app.router.add_post("/v1/files", batches.upload_file)
    app.router.add_get("/v1/files/{file_id}", batches.get_file)
    app.router.add_get("/v1/files/{file_id}/content", batches.file_content)
    app.router.add_post("/v1/batches", batches.create_openai_batch)
    app.router.add_get("/v1/batches/{batch_id}", batches.get_openai_batch)
    app.router.add_post("/v1/messages/batches", batches.create_anthropic_batch)
    app.router.add_get("/v1/messages/batches/{batch_id}", batches.get_anthropic_batch)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", batches.anthropic_results)
    app.router.add_get("/admin/batches", batches.get_admin)
    app.router.add_post("/admin/batches", batches.post_admin)


# --------------------------------------------------------------------------- helpers for tests


def configure_batches(server_url: str, faults: BatchFaults | None = None, **settings: Any) -> dict[str, Any]:
    """Replace the batch faults of the server at `server_url` (its root, e.g. `FakeServer.url`)."""
    data = asdict(faults) if faults is not None else asdict(BatchFaults(**settings))
    request = urllib.request.Request(
        server_url.rstrip("/") + "/admin/batches", data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def batch_stats(server_url: str) -> dict[str, Any]:
    """The server's batch counters and batches (`GET /admin/batches`)."""
    with urllib.request.urlopen(server_url.rstrip("/") + "/admin/batches", timeout=10) as response:
        return json.loads(response.read())
