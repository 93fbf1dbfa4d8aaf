"""A fake OpenAI- and Anthropic-compatible HTTP server for tests and throughput benchmarks.

It speaks just enough of both wire formats for the real SDKs to work against it:

    POST /v1/chat/completions   OpenAI chat completions (non-streaming)
    POST /v1/messages           Anthropic Messages (non-streaming)
    GET  /v1/models             the configured model names (a shape both SDKs accept)
    GET  /health                {"status": "ok"}
    GET  /stats                 counters (see `_Stats.snapshot`)
    POST /admin/stats/reset     zero the counters (e.g. after a benchmark's warm-up)
    GET  /admin/faults          the current `Faults` as JSON
    POST /admin/faults          replace the `Faults` (a JSON object of `Faults` fields; missing = default)

What each completion says comes from a `responder(body) -> str` (the parsed request JSON):
`echo_responder` by default, or `canned_responder(...)` for fixed answers. A responder may return a
`Reply` instead, to say which log-probabilities the first token's alternatives have: a chat-completions
request with `logprobs: true` gets OpenAI's `choices[0].logprobs.content` (one entry per word, the
first with the `top_logprobs` alternatives asked for; a plain string reply gives its first word
probability 1). Failures are injected at random, per request, with the probabilities in `Faults`
(seeded, so a run is reproducible).

Structured output: a request with a JSON schema (OpenAI `response_format` json_schema, or an Anthropic tool
forced by `tool_choice`; `requested_schema(body)` reads either) is counted per schema name in `/stats`
(`schemas`). The responder's reply is checked against the schema (object, required and no other properties,
types), as a real server's constrained decoding would guarantee: a reply that does not match is counted
(`schema_violations`) and sent anyway. Anthropic gets it as the forced tool's `tool_use` input, with
`stop_reason` "tool_use".

`RateLimits` makes it behave like a provider with a quota: every completion answer carries the provider's
rate-limit headers (OpenAI's `x-ratelimit-*`, Anthropic's `anthropic-ratelimit-*`), counting down within a
fixed window, and a request past the quota gets a 429 (counted in `/stats` as `rate_limited`). With `api_key`
set, a request without that key gets a 401 (`unauthorized`); the keys presented are counted either way (`keys`).

Two ways to run it:

* in-process, for pytest::

      with FakeServer(faults=Faults(rate_limit=0.1)) as server:
          client = openai.OpenAI(base_url=server.openai_base_url, api_key="x")

* as its own process, for the benchmark (it prints `listening on http://127.0.0.1:PORT`)::

      python -m agorabench.testing.fake_server --port 0 --port-file /tmp/port --latency 1.0

The request path is deliberately lean (plain dicts, `json.dumps`, no access log, no per-request
logging): the benchmark drives hundreds of requests per second at one server pinned to one core, and
the server must not be the bottleneck it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

__all__ = [
    "FAULT_KINDS",
    "FakeServer",
    "Faults",
    "RateLimits",
    "Reply",
    "Responder",
    "canned_responder",
    "echo_responder",
    "last_user_text",
    "make_app",
    "main",
]

# Every fault kind, in the order a request's single random draw is matched against them.
FAULT_KINDS = ("rate_limit", "server_error", "slow", "reset", "malformed", "length")

DEFAULT_MODELS = ("fake-model",)



@dataclass(frozen=True)
class Reply:
    """A responder's answer with the first token's alternatives: token -> natural-log probability."""

    text: str
    top_logprobs: Mapping[str, float] | None = None


Responder = Callable[[dict], "str | Reply"]


# --------------------------------------------------------------------------- fault configuration


@dataclass(frozen=True)
class Faults:
    """What goes wrong, and how often. Probabilities are per completion request and must sum to <= 1.

    Each request draws one number from `random.Random(seed)`, so a given config and request order
    always injects the same faults. Replacing the config (`FakeServer.set_faults`, `POST /admin/faults`)
    re-seeds the generator from the new `seed`.
    """

    rate_limit: float = 0.0  # 429 with retry-after / retry-after-ms headers
    server_error: float = 0.0  # 500
    slow: float = 0.0  # sleep `slow_s`, then answer normally (meant to trip the client's timeout)
    reset: float = 0.0  # drop the connection without a response
    malformed: float = 0.0  # 200, content-type application/json, body is truncated JSON
    length: float = 0.0  # 200 with truncated text and finish_reason "length" / stop_reason "max_tokens"
    slow_s: float = 5.0
    retry_after_ms: int = 50
    latency_s: float = 0.0  # added to every completion request, faulty or not
    # If set, a prompt (the last user message) never gets more than this many faults in a row, so a
    # client that retries is guaranteed to succeed eventually and tests stay deterministic.
    max_consecutive_faults_per_prompt: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            p = getattr(self, kind)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"fault probability {kind}={p!r} is not in [0, 1]")
        total = sum(getattr(self, kind) for kind in FAULT_KINDS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total:g}, more than 1")
        if self.slow_s < 0 or self.latency_s < 0 or self.retry_after_ms < 0:
            raise ValueError("slow_s, latency_s and retry_after_ms must not be negative")
        limit = self.max_consecutive_faults_per_prompt
        if limit is not None and limit < 0:
            raise ValueError("max_consecutive_faults_per_prompt must not be negative")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build from JSON-like data, rejecting unknown keys (a typo must not silently mean 'no fault')."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RateLimits:
    """A provider's quota, advertised in its rate-limit headers and enforced with 429s.

    One fixed window of `window_s` seconds at a time, starting with the first request after the last one ended,
    allows `requests` requests and `tokens` tokens (a request's prompt words plus its max_tokens, as providers
    count it when the request arrives); None: that dimension is unlimited and not advertised.
    """

    requests: int | None = None
    tokens: int | None = None
    window_s: float = 60.0

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise ValueError("window_s must be positive")


def _go_duration(seconds: float) -> str:
    """OpenAI's reset format: "20ms", "1.5s", "6m0s", "1h2m3s" (rounded up to the millisecond)."""
    ms = math.ceil(seconds * 1000)
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _rfc3339_in(seconds: float) -> str:
    """Anthropic's reset format: the time the window refills, in UTC, to the millisecond (rounded up)."""
    when = datetime.now(UTC) + timedelta(milliseconds=math.ceil(seconds * 1000))
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Quota:
    """The state of `RateLimits` on the server's loop."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self.window_end = 0.0
        self.requests = 0
        self.tokens = 0

    def admit(self, tokens: int) -> tuple[bool, float]:
        """(whether the request fits the window, seconds until the window ends), counting it if it fits."""
        now = time.monotonic()
        if now >= self.window_end:
            self.window_end = now + self.limits.window_s
            self.requests = self.tokens = 0
        left = self.window_end - now
        limits = self.limits
        if (limits.requests is not None and self.requests + 1 > limits.requests) or (
            limits.tokens is not None and self.tokens + tokens > limits.tokens
        ):
            return False, left
        self.requests += 1
        self.tokens += tokens
        return True, left

    def headers(self, dialect: str, left: float) -> dict[str, str]:
        limits = self.limits
        out: dict[str, str] = {}
        for dim, limit, used in (("requests", limits.requests, self.requests), ("tokens", limits.tokens, self.tokens)):
            if limit is None:
                continue
            remaining = str(max(0, limit - used))
            if dialect == "openai":
                out[f"x-ratelimit-limit-{dim}"] = str(limit)
                out[f"x-ratelimit-remaining-{dim}"] = remaining
                out[f"x-ratelimit-reset-{dim}"] = _go_duration(left)
            else:
                out[f"anthropic-ratelimit-{dim}-limit"] = str(limit)
                out[f"anthropic-ratelimit-{dim}-remaining"] = remaining
                out[f"anthropic-ratelimit-{dim}-reset"] = _rfc3339_in(left)
        return out


# --------------------------------------------------------------------------- responders


def _text_of(content: Any) -> str:
    """Message content as plain text: a string, or the text parts of a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last user message (both wire formats), or "" if there is none."""
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
    return ""


def requested_schema(body: Mapping[str, Any]) -> tuple[str, dict] | None:
    """(name, JSON schema) a request asks its reply to match: OpenAI's `response_format` json_schema or the
    Anthropic tool that `tool_choice` forces; None for a free-text request."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        return str(spec.get("name", "")), spec.get("schema") or {}
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        for tool in body.get("tools") or []:
            if isinstance(tool, dict) and tool.get("name") == choice.get("name"):
                return str(tool["name"]), tool.get("input_schema") or {}
    return None


_JSON_TYPES: dict[str, Any] = {
    "string": str, "object": dict, "array": list, "boolean": bool, "null": type(None), "integer": int,
    "number": (int, float),
}


def matches_schema(value: Any, schema: Mapping[str, Any]) -> bool:
    """Whether `value` fits `schema` in what structured outputs use: type, properties, required,
    additionalProperties: false, items, enum."""
    kinds = schema.get("type")
    if kinds is not None:
        wanted = tuple(_JSON_TYPES[k] for k in ([kinds] if isinstance(kinds, str) else kinds) if k in _JSON_TYPES)
        if wanted and (not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted)):
            return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        if any(key not in value for key in schema.get("required") or ()):
            return False
        if schema.get("additionalProperties") is False and any(key not in properties for key in value):
            return False
        return all(matches_schema(v, properties[k]) for k, v in value.items() if k in properties)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return all(matches_schema(v, schema["items"]) for v in value)
    return True


def _reply_fits(text: str, schema: Mapping[str, Any]) -> bool:
    try:
        return matches_schema(json.loads(text), schema)
    except ValueError:
        return False


def echo_responder(body: Mapping[str, Any]) -> str:
    """Deterministic default: "Answer: <last user message>", plus " [seed=N]" when the request has a seed."""
    text = "Answer: " + last_user_text(body)
    seed = body.get("seed")
    if seed is not None:
        text += f" [seed={seed}]"
    return text


def canned_responder(
    responses: Sequence[str] | Mapping[str, str], default: Responder = echo_responder
) -> Responder:
    """Fixed answers.

    * a sequence: returned in order, one per request, cycling back to the start;
    * a mapping: the value of the first key (in insertion order) that is a substring of the last user
      message; a message matching no key gets `default(body)`.
    """
    if isinstance(responses, Mapping):
        table = list(responses.items())

        def by_substring(body: Mapping[str, Any]) -> str:
            prompt = last_user_text(body)
            for needle, answer in table:
                if needle in prompt:
                    return answer
            return default(body)

        return by_substring

    if isinstance(responses, str) or not responses:
        raise ValueError("canned responses must be a non-empty list of strings or a mapping")
    # Handlers all run on the server's one event-loop thread, so a plain iterator needs no lock.
    answers = itertools.cycle(list(responses))
    return lambda body: next(answers)


def _word_count(text: str) -> int:
    # Token counts only need to be plausible and cheap: one "token" per whitespace-separated word.
    return len(text.split())


def _prompt_tokens(body: Mapping[str, Any], count_tokens: Callable[[str], int] = _word_count) -> int:
    count = count_tokens(_text_of(body.get("system", "")))  # Anthropic puts the system prompt here
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                count += count_tokens(_text_of(message.get("content")))
    return count


def _truncate(text: str) -> str:
    """What a `length` fault returns: the first half of the words (at least one character)."""
    words = text.split()
    if len(words) > 1:
        return " ".join(words[: len(words) // 2])
    return text[: max(1, len(text) // 2)]


# --------------------------------------------------------------------------- wire formats


def _logprobs_content(text: str, alternatives: Mapping[str, float] | None, n: int) -> list[dict]:
    """OpenAI's `logprobs.content` for `text`: one entry per word (with its leading space, as BPE tokens
    have it); the first carries the `n` likeliest of `alternatives`, the others only themselves."""
    words = re.findall(r"\s*\S+", text) or ([text] if text else [])

    def entry(token: str, logprob: float) -> dict:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    content = []
    for i, word in enumerate(words):
        options = dict(alternatives) if i == 0 and alternatives else {word: 0.0}
        ranked = sorted(options.items(), key=lambda kv: -kv[1])[:n]
        content.append({**entry(word, options.get(word, 0.0)), "top_logprobs": [entry(t, lp) for t, lp in ranked]})
    return content


def _json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(payload).encode(), status=status, headers=headers, content_type="application/json"
    )


class _OpenAIDialect:
    """OpenAI chat completions: response bodies, error bodies and how the key is sent."""

    endpoint = "chat"
    name = "openai"
    error_types = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        429: ("requests", "rate_limit_exceeded"),
        500: ("server_error", None),
    }

    @staticmethod
    def presented_key(request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
        kind, code = self.error_types.get(status, ("server_error", None))
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return _json_response(body, status, headers)

    @staticmethod
    def completion(
        n: int,
        model: str,
        text: str,
        truncated: bool,
        prompt_tokens: int,
        completion_tokens: int,
        logprobs: list[dict] | None = None,
        tool: str | None = None,  # structured output needs nothing else here: the content is the JSON
    ) -> dict:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "length" if truncated else "stop",
        }
        if logprobs is not None:
            choice["logprobs"] = {"content": logprobs, "refusal": None}
        return {
            "id": f"chatcmpl-fake{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


class _AnthropicDialect:
    """Anthropic Messages: response bodies, error bodies and how the key is sent."""

    endpoint = "messages"
    name = "anthropic"
    error_types = {
        400: "invalid_request_error",
        401: "authentication_error",
        429: "rate_limit_error",
        500: "api_error",
    }

    @staticmethod
    def presented_key(request: web.Request) -> str | None:
        # The SDK sends `x-api-key`; with `auth_token=` it sends a bearer token instead. Accept both.
        key = request.headers.get("x-api-key")
        if key is not None:
            return key
        auth = request.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
        kind = self.error_types.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
        return _json_response(body, status, headers)

    @staticmethod
    def completion(
        n: int,
        model: str,
        text: str,
        truncated: bool,
        prompt_tokens: int,
        completion_tokens: int,
        logprobs: list[dict] | None = None,  # the Messages API has none: ignored
        tool: str | None = None,
    ) -> dict:
        content: list[dict] = [{"type": "text", "text": text}]
        stop = "max_tokens" if truncated else "end_turn"
        if tool is not None:  # a forced tool: the reply is its input (a reply that is no JSON object stays text)
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if isinstance(value, dict):
                content = [{"type": "tool_use", "id": f"toolu_fake{n}", "name": tool, "input": value}]
                stop = "max_tokens" if truncated else "tool_use"
        return {
            "id": f"msg_fake{n}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
        }


_OPENAI = _OpenAIDialect()
_ANTHROPIC = _AnthropicDialect()

# Valid JSON cut off mid-object: what a proxy dropping the tail of a response looks like.
_MALFORMED_BODY = b'{"id": "fake-truncated", "object": "chat.completion", "choices": [{"index": 0, "mess'


def _abort_connection(request: web.Request) -> None:
    """Drop the connection with a TCP reset and no response, like a crashed upstream or load balancer."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout makes close() send RST instead of a polite FIN.
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


# --------------------------------------------------------------------------- the service


class _Stats:
    """Counters served by `/stats`. Only touched from the event-loop thread."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0  # completion requests received (both endpoints), including rejected ones
        self.by_endpoint: Counter[str] = Counter()
        self.faults: Counter[str] = Counter({kind: 0 for kind in FAULT_KINDS})
        self.completions = 0  # well-formed 200 completions sent (normal, `length`, and finished `slow`)
        self.unauthorized = 0
        self.keys: Counter[str] = Counter()  # completion requests per API key presented ("" for none)
        self.auth_headers: Counter[str] = Counter()  # ... per header carrying it: authorization, x-api-key, none
        self.rate_limited = 0  # 429s sent because a request was past `RateLimits` (not injected faults)
        self.bad_requests = 0
        self.prompts: Counter[str] = Counter()  # completion requests per distinct last user message
        self.schemas: Counter[str] = Counter()  # structured-output requests per schema name
        self.schema_violations = 0  # replies sent that do not match their request's schema
        self.in_flight = 0
        self.max_in_flight = 0

    def snapshot(self, with_prompts: bool = True) -> dict[str, Any]:
        snap = {
            "requests": self.requests,
            "by_endpoint": dict(self.by_endpoint),
            "faults": dict(self.faults),
            "faults_total": sum(self.faults.values()),
            "completions": self.completions,
            "unauthorized": self.unauthorized,
            "keys": dict(self.keys),
            "auth_headers": dict(self.auth_headers),
            "rate_limited": self.rate_limited,
            "bad_requests": self.bad_requests,
            "distinct_prompts": len(self.prompts),
            "schemas": dict(self.schemas),
            "schema_violations": self.schema_violations,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }
        if with_prompts:
            snap["prompts"] = dict(self.prompts)
        return snap


class _Service:
    """The server's state and request handlers. One instance per application, used on one loop."""

    def __init__(
        self,
        faults: Faults | None,
        responder: Responder | None,
        api_key: str | None,
        models: Sequence[str] | None,
        rate_limits: RateLimits | None = None,
        token_counter: Callable[[str], int] | None = None,
    ) -> None:
        self.responder = responder or echo_responder
        # What `usage` reports: words by default (cheap); a real tokenizer where token counts matter (the
        # paper rehearsal bills by them).
        self.count_tokens = token_counter or _word_count
        self.api_key = api_key
        self.quota = _Quota(rate_limits) if rate_limits is not None else None
        self.models = list(models or DEFAULT_MODELS)
        self.stats = _Stats()
        self.ids = itertools.count(1)
        # Faults in a row per prompt, for `max_consecutive_faults_per_prompt`.
        self.fault_streaks: dict[str, int] = {}
        self.set_faults(faults or Faults())

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)

    # ----------------------------------------------------------------- fault choice

    def _draw_fault(self, prompt: str) -> str | None:
        faults = self.faults
        # Always draw exactly once per request, so the fault sequence depends only on request order.
        roll = self.rng.random()
        kind = None
        threshold = 0.0
        for candidate in FAULT_KINDS:
            threshold += getattr(faults, candidate)
            if roll < threshold:
                kind = candidate
                break
        limit = faults.max_consecutive_faults_per_prompt
        if limit is not None:
            streak = self.fault_streaks.get(prompt, 0)
            if kind is not None and streak >= limit:
                kind = None  # this prompt has failed enough times in a row: let it through
            if kind is None:
                self.fault_streaks.pop(prompt, None)
            else:
                self.fault_streaks[prompt] = streak + 1
        return kind

    # ----------------------------------------------------------------- completion endpoints

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, _OPENAI)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, _ANTHROPIC)

    async def _complete(self, request: web.Request, dialect: Any) -> web.StreamResponse:
        stats = self.stats
        stats.requests += 1
        stats.by_endpoint[dialect.endpoint] += 1
        stats.in_flight += 1
        if stats.in_flight > stats.max_in_flight:
            stats.max_in_flight = stats.in_flight
        try:
            return await self._answer(request, dialect)
        finally:
            stats.in_flight -= 1

    async def _answer(self, request: web.Request, dialect: Any) -> web.StreamResponse:
        stats = self.stats
        presented = dialect.presented_key(request)
        stats.keys[presented or ""] += 1
        headers = request.headers
        carrier = "x-api-key" if "x-api-key" in headers else "authorization" if "Authorization" in headers else "none"
        stats.auth_headers[carrier] += 1
        if self.api_key is not None and presented != self.api_key:
            stats.unauthorized += 1
            return dialect.error(401, "Incorrect API key provided.")
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            stats.bad_requests += 1
            return dialect.error(400, "request body must be a JSON object with a 'messages' list")
        if body.get("stream"):
            stats.bad_requests += 1
            return dialect.error(400, "the fake server does not support streaming")

        limit_headers: dict[str, str] | None = None
        if self.quota is not None:
            fits, left = self.quota.admit(_prompt_tokens(body, self.count_tokens) + int(body.get("max_tokens") or 0))
            limit_headers = self.quota.headers(dialect.name, left)
            if not fits:
                stats.rate_limited += 1
                retry = {"retry-after": str(math.ceil(left)), "retry-after-ms": str(math.ceil(left * 1000))}
                return dialect.error(429, "Rate limit reached (fake server quota).", {**limit_headers, **retry})

        prompt = last_user_text(body)
        stats.prompts[prompt] += 1
        faults = self.faults  # one config for the whole request, even if it is replaced meanwhile
        if faults.latency_s > 0:
            await asyncio.sleep(faults.latency_s)

        kind = self._draw_fault(prompt)
        if kind is not None:
            stats.faults[kind] += 1
        if kind == "rate_limit":
            ms = faults.retry_after_ms
            # `retry-after` must be whole seconds; round up so clients that only read it never come
            # back sooner than `retry-after-ms` asks.
            headers = {"retry-after": str(math.ceil(ms / 1000)), "retry-after-ms": str(ms)}
            return dialect.error(429, "Rate limit reached (injected by the fake server).", headers)
        if kind == "server_error":
            return dialect.error(500, "The server had an error (injected by the fake server).")
        if kind == "reset":
            _abort_connection(request)
            # aiohttp's attempt to write this to the aborted transport fails quietly (ConnectionError).
            return web.Response()
        if kind == "malformed":
            return web.Response(body=_MALFORMED_BODY, content_type="application/json")
        if kind == "slow":
            await asyncio.sleep(faults.slow_s)

        answer = self.responder(body)
        text, alternatives = (answer.text, answer.top_logprobs) if isinstance(answer, Reply) else (answer, None)
        truncated = kind == "length"
        if truncated:
            text = _truncate(text)
        logprobs = None
        if body.get("logprobs"):
            logprobs = _logprobs_content(text, alternatives, int(body.get("top_logprobs") or 0))
        structured = requested_schema(body)
        if structured is not None:
            stats.schemas[structured[0]] += 1
            if not truncated and not _reply_fits(text, structured[1]):  # a cut-off reply may not fit
                stats.schema_violations += 1
        model = body.get("model") or self.models[0]
        payload = dialect.completion(
            next(self.ids), model, text, truncated, _prompt_tokens(body, self.count_tokens), self.count_tokens(text),
            logprobs, tool=structured[0] if structured is not None else None,
        )
        stats.completions += 1
        return _json_response(payload, headers=limit_headers)

    # ----------------------------------------------------------------- other endpoints

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        if self.api_key is not None:
            anthropic_style = "x-api-key" in request.headers
            dialect = _ANTHROPIC if anthropic_style else _OPENAI
            if dialect.presented_key(request) != self.api_key:
                self.stats.unauthorized += 1
                return dialect.error(401, "Incorrect API key provided.")
        # One list whose entries carry both OpenAI's and Anthropic's fields, so either SDK parses it.
        data = [
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": "agorabench-fake",
                "type": "model",
                "display_name": name,
                "created_at": "1970-01-01T00:00:00Z",
            }
            for name in self.models
        ]
        return _json_response(
            {
                "object": "list",
                "data": data,
                "has_more": False,
                "first_id": self.models[0] if self.models else None,
                "last_id": self.models[-1] if self.models else None,
            }
        )

    async def health(self, request: web.Request) -> web.StreamResponse:
        return _json_response({"status": "ok"})

    async def get_stats(self, request: web.Request) -> web.StreamResponse:
        # `?prompts=0` leaves out the per-prompt table, which gets big in long benchmark runs.
        with_prompts = request.query.get("prompts", "1") not in ("0", "false", "no")
        return _json_response(self.stats.snapshot(with_prompts))

    async def reset_stats(self, request: web.Request) -> web.StreamResponse:
        self.stats.reset()
        return _json_response({"ok": True})

    async def get_faults(self, request: web.Request) -> web.StreamResponse:
        return _json_response(self.faults.to_dict())

    async def post_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object of Faults fields")
            faults = Faults.from_dict(data)
        except (ValueError, TypeError) as exc:
            return _json_response({"error": str(exc)}, status=400)
        self.set_faults(faults)
        return _json_response(faults.to_dict())


_SERVICE_KEY = web.AppKey("fake_server_service", _Service)


def make_app(
    faults: Faults | None = None,
    responder: Responder | None = None,
    api_key: str | None = None,
    models: Sequence[str] | None = None,
    rate_limits: RateLimits | None = None,
    token_counter: Callable[[str], int] | None = None,
) -> web.Application:
    """The aiohttp application, for embedding in your own runner. `FakeServer` and `main` use it.
    `token_counter`: text -> tokens for `usage` (default: whitespace-separated words)."""
    service = _Service(faults, responder, api_key, models, rate_limits, token_counter)
    # Batch uploads are large (OpenAI takes input files up to 200 MB, Anthropic batches up to 256 MB): allow as much.
    app = web.Application(client_max_size=256 * 1024**2)
    app[_SERVICE_KEY] = service
    app.router.add_post("/v1/chat/completions", service.chat_completions)
    app.router.add_post("/v1/messages", service.messages)
    app.router.add_get("/v1/models", service.list_models)
    app.router.add_get("/health", service.health)
    app.router.add_get("/stats", service.get_stats)
    app.router.add_post("/admin/stats/reset", service.reset_stats)
    app.router.add_get("/admin/faults", service.get_faults)
    app.router.add_post("/admin/faults", service.post_faults)
    from agorabench.testing.fake_batch import add_batch_routes  # the batch APIs (fake_batch.py)

    add_batch_routes(app, service)
    return app


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket bound before the server starts, so port 0 is resolved up front."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _start(app: web.Application, sock: socket.socket) -> web.AppRunner:
    runner = web.AppRunner(
        app,
        access_log=None,  # no per-request logging: it would cost more than the handler itself
        # A client that gives up (timeout, reset) cancels its handler, so `slow` requests whose
        # clients are gone do not pile up, and shutdown need not wait for them.
        handler_cancellation=True,
        # Shutdown should not wait long for in-flight requests (e.g. a `slow` one).
        shutdown_timeout=0.5,
    )
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


# --------------------------------------------------------------------------- in-process server


class FakeServer:
    """The fake server on 127.0.0.1, running in a background thread with its own event loop.

    Use as a context manager (or call `start()` / `close()`). `port=0` picks a free port; `.port`,
    `.url` and `.openai_base_url` hold the real one once `start()` (or `__enter__`) returns.
    """

    def __init__(
        self,
        faults: Faults | None = None,
        responder: Responder | None = None,
        api_key: str | None = None,
        models: Sequence[str] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        rate_limits: RateLimits | None = None,
        token_counter: Callable[[str], int] | None = None,
    ) -> None:
        self.host = host
        self.port = port  # the real port once started
        self._app = make_app(faults, responder, api_key, models, rate_limits, token_counter)
        self._service = self._app[_SERVICE_KEY]
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        # The Anthropic SDK appends /v1/messages itself.
        return self.url

    def start(self) -> FakeServer:
        if self._thread is not None:
            return self
        self._sock = _bind(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-llm-server", daemon=True)
        self._thread.start()
        try:
            self._runner = self._call(_start(self._app, self._sock))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop serving and join the thread. Safe to call twice."""
        if self._thread is None or self._loop is None:
            return
        try:
            if self._runner is not None:
                self._call(self._runner.cleanup())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            if self._sock is not None:
                self._sock.close()
            self._thread = self._loop = self._runner = self._sock = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def stats(self, with_prompts: bool = True) -> dict[str, Any]:
        """A snapshot of the counters, as `/stats` returns them."""
        return self._on_loop(lambda: self._service.stats.snapshot(with_prompts))

    def reset_stats(self) -> None:
        self._on_loop(self._service.stats.reset)

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault config (and re-seed the fault generator) for the requests that follow."""
        self._on_loop(lambda: self._service.set_faults(faults))

    @property
    def faults(self) -> Faults:
        return self._service.faults

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server's loop thread: the counters and config are only touched there."""
        if self._loop is None:
            return fn()  # not started: nothing else touches the state

        async def call() -> Any:
            return fn()

        return self._call(call())


# --------------------------------------------------------------------------- command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m agorabench.testing.fake_server",
        description="Fake OpenAI/Anthropic-compatible server for tests and benchmarks.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--port-file", help="write the chosen port here once listening")
    p.add_argument("--api-key", help="require this key (Bearer or x-api-key)")
    p.add_argument("--model", action="append", dest="models", help="model name to list (repeatable)")
    p.add_argument("--canned", help="JSON file: a list of answers (cycled) or {substring: answer}")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every completion")
    p.add_argument("--rate-limit", type=float, default=0.0, help="probability of a 429")
    p.add_argument("--server-error", type=float, default=0.0, help="probability of a 500")
    p.add_argument("--slow", type=float, default=0.0, help="probability of a slow answer")
    p.add_argument("--slow-s", type=float, default=5.0, help="how long a slow answer takes")
    p.add_argument("--reset", type=float, default=0.0, help="probability of a dropped connection")
    p.add_argument("--malformed", type=float, default=0.0, help="probability of an invalid JSON body")
    p.add_argument("--length", type=float, default=0.0, help="probability of a truncated answer")
    p.add_argument("--retry-after-ms", type=int, default=50)
    p.add_argument("--max-consecutive-faults", type=int, default=None, help="per prompt")
    p.add_argument("--quota-requests", type=int, default=None, help="requests per quota window (RateLimits)")
    p.add_argument("--quota-tokens", type=int, default=None, help="tokens per quota window (RateLimits)")
    p.add_argument("--quota-window-s", type=float, default=60.0, help="length of a quota window")
    return p.parse_args(argv)


def _faults_from_args(args: argparse.Namespace) -> Faults:
    return Faults(
        rate_limit=args.rate_limit,
        server_error=args.server_error,
        slow=args.slow,
        reset=args.reset,
        malformed=args.malformed,
        length=args.length,
        slow_s=args.slow_s,
        retry_after_ms=args.retry_after_ms,
        latency_s=args.latency,
        max_consecutive_faults_per_prompt=args.max_consecutive_faults,
        seed=args.seed,
    )


def _write_port_file(path: str, port: int) -> None:
    # Write then rename, so a reader polling for the file never sees it empty or half-written.
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


async def _serve(args: argparse.Namespace, faults: Faults, responder: Responder | None) -> None:
    quota = None
    if args.quota_requests is not None or args.quota_tokens is not None:
        quota = RateLimits(args.quota_requests, args.quota_tokens, args.quota_window_s)
    app = make_app(faults, responder, args.api_key, args.models, quota)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    runner = await _start(app, sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if args.port_file:
            _write_port_file(args.port_file, port)
        print(f"listening on http://{args.host}:{port}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        sock.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        faults = _faults_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    responder = None
    if args.canned:
        with open(args.canned) as f:
            responder = canned_responder(json.load(f))
    asyncio.run(_serve(args, faults, responder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
