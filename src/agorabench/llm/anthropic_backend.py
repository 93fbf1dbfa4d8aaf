"""Anthropic Messages API through the `anthropic` SDK (optional extra: `pip install 'agorabench[anthropic]'`)."""

from __future__ import annotations

import json

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
from agorabench.llm.openai_backend import retry_after_seconds, transport_error


def _import_anthropic():
    try:
        import anthropic
    except ImportError:
        raise FatalError(
            "missing_package", "the anthropic backend needs: pip install 'agorabench[anthropic]'"
        ) from None
    return anthropic


class AnthropicBackend(Backend):
    def __init__(self, config: GeneratorConfig):
        anthropic = _import_anthropic()
        self._sdk = anthropic
        self.config = config
        self.model = config.model
        api_key = config.api_key() or "not-needed"
        urls = config.base_urls or ["https://api.anthropic.com"]
        self._urls = urls
        http_client = getattr(anthropic, "DefaultAioHttpClient", None)
        self._clients = [
            anthropic.AsyncAnthropic(
                api_key=api_key,
                base_url=url,
                max_retries=0,
                timeout=config.timeout_s,
                **({"http_client": http_client(timeout=config.timeout_s)} if http_client else {}),
            )
            for url in urls
        ]
        self._in_flight = [0] * len(self._clients)

    async def complete(self, messages: list[Message], params: SamplingParams) -> Completion:
        sdk = self._sdk
        index = self._in_flight.index(min(self._in_flight))
        where = self._urls[index]
        # Anthropic takes the system prompt apart from the turns.
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        turns = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
        request: dict = {
            "model": self.model,
            "messages": turns,
            "max_tokens": params.max_tokens,
            # Recent SDKs dropped these from `messages.create` (newer models fix them), but the API takes
            # them for the models AgoraBench studies. Anthropic's temperature range is [0, 1].
            "temperature": min(params.temperature, 1.0),
            "top_p": params.top_p,
        }
        if system:
            request["system"] = system
        if params.stop:
            request["stop_sequences"] = list(params.stop)
        self._in_flight[index] += 1
        try:
            # The SDK's low-level `post`: its auth, headers, timeouts and error types, our body (as in
            # the OpenAI backend, this skips per-request type-walking of the params).
            body = await self._clients[index].post("/v1/messages", body=request, cast_to=bytes)
        except sdk.APIStatusError as exc:
            raise _classify(exc, where) from None
        except (sdk.APITimeoutError, sdk.APIConnectionError) as exc:
            raise transport_error(exc, where) from None
        finally:
            self._in_flight[index] -= 1
        return parse_message(body, where, self.model)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


def _classify(exc, where: str) -> Exception:
    status = exc.status_code
    summary = f"{where}: HTTP {status}"
    if status in (429, 529):
        return TransientError("rate_limited", summary, retry_after_seconds(exc.response.headers))
    if status >= 500 or status in (408, 409):
        return TransientError(f"http_{status}", summary, retry_after_seconds(exc.response.headers))
    if status in (401, 403):
        return FatalError("auth", f"{summary}: the API key was rejected")
    if status == 404:
        return FatalError("not_found", f"{summary}: unknown model or wrong base URL")
    return ItemError(f"http_{status}", summary)


def parse_message(body: bytes, where: str, model: str) -> Completion:
    try:
        data = json.loads(body)
        text = "".join(block.get("text", "") for block in data["content"] if block.get("type") == "text")
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=normalise_finish_reason(data.get("stop_reason")),
            usage=Usage(
                prompt_tokens=usage.get("input_tokens") or 0,
                completion_tokens=usage.get("output_tokens") or 0,
            ),
            model=data.get("model") or model,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TransientError("malformed", f"{where}: malformed response body") from None
