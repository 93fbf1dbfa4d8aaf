"""What the HTTP backends share: SDK clients over several endpoints (least-in-flight choice), posting a body we
built through the SDK's own auth/timeouts/errors, and one mapping of failures to the engine's error kinds.

The `openai` and `anthropic` SDKs are generated from one template: both have `AsyncX(api_key, base_url,
max_retries, timeout, http_client)`, a low-level `post(path, body=, cast_to=...)`, the raw response type
`AsyncAPIResponse` and the same exception classes (`APIStatusError`, `APITimeoutError`, `APIConnectionError`).
A backend for another such SDK subclasses `HttpBackend` and writes only its request body, its response parser
and, if its provider has its own, the names of its rate-limit headers.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from agorabench.errors import ConfigError
from agorabench.llm.base import Backend, FatalError, ItemError, TransientError
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.rate_limit import OPENAI_RATE_LIMIT_HEADERS, ProviderLimits
from agorabench.llm.registry import backend_spec

# Servers such as vLLM ignore the key but the SDKs insist on one.
PLACEHOLDER_KEY = "not-needed"


def retry_after_seconds(headers: Any) -> float | None:
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


def classify_status(
    status: int, headers: Any, where: str, detail: str = "", rate_limited: tuple[int, ...] = (429,)
) -> Exception:
    """Map an HTTP error to transient (retry), item (skip this one) or fatal (stop the run)."""
    summary = f"{where}: HTTP {status}"
    if status in rate_limited:
        return TransientError("rate_limited", summary, retry_after_seconds(headers))
    if status >= 500 or status in (408, 409):
        return TransientError(f"http_{status}", summary, retry_after_seconds(headers))
    if status in (401, 403):
        return FatalError("auth", f"{summary}: the API key was rejected")
    if status == 404:
        return FatalError("not_found", f"{summary}: unknown model or wrong base URL")
    return ItemError(f"http_{status}", f"{summary}: {detail}" if detail else summary)


def error_detail(body: Any) -> str:
    """The first line of an error body's message (OpenAI's and Anthropic's shapes), or ''."""
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if isinstance(message, str):
            return message.splitlines()[0][:200]
    return ""


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


class HttpBackend(Backend):
    """A backend over one SDK's async client per base URL. Subclasses pass the SDK and its AsyncX client class,
    may set `rate_limited_statuses` and `rate_limit_headers`, and call `self.post(path, body)`.

    `rate_limits` holds what the provider's rate-limit headers last said (`ProviderLimits`, read on every
    response, errors included); the engine paces every request of this backend by it."""

    rate_limited_statuses: tuple[int, ...] = (429,)
    rate_limit_headers: dict[str, tuple[str, str, str]] = OPENAI_RATE_LIMIT_HEADERS

    def __init__(self, config: GeneratorConfig, sdk: ModuleType, client_class: Callable[..., Any]):
        if config.needs_endpoint():
            raise ConfigError(config.endpoint_message())
        self.config = config
        self.model = config.model
        self._sdk = sdk
        self.rate_limits = ProviderLimits(self.rate_limit_headers)
        # `AsyncAPIResponse[bytes]` as cast_to makes `post` return the SDK's raw response (status, headers, the
        # body read) without parsing it: as cheap as `cast_to=bytes`, which drops the headers.
        self._raw = sdk.AsyncAPIResponse[bytes]
        api_key = config.api_key() or PLACEHOLDER_KEY
        self._urls = config.base_urls or [backend_spec(config.backend).default_base_url or ""]
        aiohttp_client = getattr(sdk, "DefaultAioHttpClient", None)
        self._clients = [
            client_class(
                api_key=api_key,
                base_url=url,
                max_retries=0,  # the engine retries, with its own budgets
                timeout=config.timeout_s,
                # The SDKs' aiohttp transport: about half the client CPU per request of httpx, which
                # matters at hundreds of requests in flight (docs/performance.md).
                **({"http_client": aiohttp_client(timeout=config.timeout_s)} if aiohttp_client else {}),
            )
            for url in self._urls
        ]
        self._in_flight = [0] * len(self._clients)

    def _pick(self) -> int:
        """Least-loaded endpoint: several base_urls share the work in proportion to their speed."""
        counts = self._in_flight
        return counts.index(min(counts))

    async def post(self, path: str, body: dict[str, Any]) -> tuple[bytes, str]:
        """POST `body` to the least-loaded endpoint; (raw response body, the endpoint) or an engine error.

        The SDK's documented low-level `post` gives its auth, base URL, timeouts and error types with a
        body we built and parse: the typed `create` methods spend most of the client CPU per request
        type-walking the params and building pydantic objects (benchmarks/engine_throughput.py). The raw
        response keeps the headers, whose rate limits go to `self.rate_limits`."""
        sdk = self._sdk
        index = self._pick()
        where = self._urls[index]
        self._in_flight[index] += 1
        try:
            response = await self._clients[index].post(path, body=body, cast_to=self._raw)
            self.rate_limits.observe(response.headers)
            raw = response.http_response.content
        except sdk.APIStatusError as exc:
            self.rate_limits.observe(exc.response.headers)
            raise classify_status(
                exc.status_code, exc.response.headers, where, error_detail(exc.body), self.rate_limited_statuses
            ) from None
        except (sdk.APITimeoutError, sdk.APIConnectionError) as exc:
            raise transport_error(exc, where) from None
        finally:
            self._in_flight[index] -= 1
        return raw, where

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()
