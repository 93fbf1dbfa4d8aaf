"""OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, llama.cpp servers) through the `openai` SDK.

The SDK runs on its aiohttp transport: measured here it costs about half the CPU per request of the
default httpx transport, which matters at hundreds of requests in flight (docs/performance.md).
The SDK's own retries are off; the engine retries with its own budgets.
"""

from __future__ import annotations

import json

import openai

from agorabench.config import GeneratorConfig
from agorabench.llm.base import (
    Backend,
    Completion,
    FatalError,
    ItemError,
    Message,
    SamplingParams,
    TransientError,
    Usage,
    normalise_finish_reason,
)

# Servers such as vLLM ignore the key but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"


def retry_after_seconds(headers) -> float | None:
    """Retry-After in seconds from `retry-after-ms` (OpenAI's) or `retry-after` (HTTP's)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date; rare enough to fall back to our own backoff
    return None


def classify_status_error(exc: openai.APIStatusError, where: str) -> Exception:
    """Map an HTTP error to transient (retry), item (skip this one) or fatal (stop the run)."""
    status = exc.status_code
    summary = f"{where}: HTTP {status}"
    if status == 429:
        return TransientError("rate_limited", summary, retry_after_seconds(exc.response.headers))
    if status >= 500 or status in (408, 409):
        return TransientError(f"http_{status}", summary, retry_after_seconds(exc.response.headers))
    if status in (401, 403):
        return FatalError("auth", f"{summary}: the API key was rejected")
    if status == 404:
        return FatalError("not_found", f"{summary}: unknown model or wrong base URL")
    detail = _error_message(exc)
    return ItemError(f"http_{status}", f"{summary}: {detail}" if detail else summary)


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if isinstance(message, str):
            return message.splitlines()[0][:200]
    return ""


class OpenAIBackend(Backend):
    def __init__(self, config: GeneratorConfig):
        self.config = config
        self.model = config.model
        api_key = config.api_key() or PLACEHOLDER_KEY
        self._clients = [
            openai.AsyncOpenAI(
                api_key=api_key,
                base_url=url,
                max_retries=0,
                timeout=config.timeout_s,
                http_client=openai.DefaultAioHttpClient(timeout=config.timeout_s),
            )
            for url in config.base_urls
        ]
        self._in_flight = [0] * len(self._clients)

    def _pick(self) -> int:
        """Least-loaded endpoint: several base_urls share the work in proportion to their speed."""
        counts = self._in_flight
        return counts.index(min(counts))

    async def complete(self, messages: list[Message], params: SamplingParams) -> Completion:
        index = self._pick()
        client = self._clients[index]
        where = self.config.base_urls[index]
        request: dict = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if params.stop:
            request["stop"] = list(params.stop)
        if params.seed is not None:
            request["seed"] = params.seed
        if params.repetition_penalty != 1.0:
            request["repetition_penalty"] = params.repetition_penalty  # vLLM/SGLang extension
        self._in_flight[index] += 1
        try:
            # The SDK's documented low-level `post` (its auth, base URL, timeouts and error types) with
            # a body we built and a body we parse: `chat.completions.create` spends most of the client
            # CPU per request type-walking the params and building pydantic objects (benchmarks/).
            body = await client.post("/chat/completions", body=request, cast_to=bytes)
        except openai.APIStatusError as exc:
            raise classify_status_error(exc, where) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            raise transport_error(exc, where) from None
        finally:
            self._in_flight[index] -= 1
        return parse_chat_completion(body, where, self.model)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


def transport_error(exc: BaseException, where: str) -> TransientError:
    """A timeout or a broken connection, told apart by the cause rather than the SDK's class: the
    aiohttp transport reports a connection reset as a ConnectTimeout (APITimeoutError)."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 10:
        if isinstance(cause, ConnectionError) or (isinstance(cause, OSError) and cause.errno):
            return TransientError("connection", f"{where}: connection failed ({type(cause).__name__})")
        if type(cause).__name__ in ("ServerDisconnectedError", "ClientOSError", "ClientConnectionError"):
            return TransientError("connection", f"{where}: connection failed ({type(cause).__name__})")
        if "reset by peer" in str(cause) or "refused" in str(cause).lower():
            return TransientError("connection", f"{where}: connection failed ({cause})")
        cause = cause.__cause__ or cause.__context__
        seen += 1
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return TransientError("timeout", f"{where}: request timed out")
    return TransientError("connection", f"{where}: connection failed")


def parse_chat_completion(body: bytes, where: str, model: str) -> Completion:
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=normalise_finish_reason(choice.get("finish_reason")),
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens") or 0,
                completion_tokens=usage.get("completion_tokens") or 0,
            ),
            model=data.get("model") or model,
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise TransientError("malformed", f"{where}: malformed response body") from None
