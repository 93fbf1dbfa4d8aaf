"""The one small interface every generator backend implements.

A backend turns chat `messages` plus `SamplingParams` into a `Completion`. It does not retry: it raises
`TransientError` for failures worth retrying (the engine owns backoff, budgets and rate limits),
`ItemError` for a request that will never succeed as sent, and `FatalError` when no request can succeed
(bad key, unknown model) so the engine stops instead of burning through every item.
"""

from __future__ import annotations

import abc
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Role
    content: str


def as_messages(raw: list[dict] | list[Message]) -> list[Message]:
    return [m if isinstance(m, Message) else Message(**m) for m in raw]


class SamplingParams(BaseModel):
    """Decoding settings sent with every request. Defaults are the paper's generation settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    max_tokens: int = Field(4096, ge=1)
    stop: tuple[str, ...] = ()
    # Per-request seed. The engine derives it from (run seed, item id, attempt), so a rerun sends
    # byte-identical requests (hits the cache) and a retry after a rejected output sends a new one.
    seed: int | None = None
    repetition_penalty: float = Field(1.0, gt=0.0)
    # Also return the log-probabilities of this many most likely alternatives of the first output token
    # (OpenAI's `logprobs`/`top_logprobs`, which vLLM speaks too): `Completion.top_logprobs`. Backends that
    # have none (Anthropic, the embedded and transformers backends) ignore it. Left out of every dump while
    # unset, so request-cache keys and run identities of requests without it are what they always were.
    top_logprobs: int | None = Field(None, ge=0, le=20)
    # Structured output: the reply must be one JSON object matching this JSON schema (the strict subset that
    # every backend takes: every property required, additionalProperties false). Each backend enforces it its
    # own way: OpenAI `response_format`, vLLM structured outputs, an Anthropic tool's input schema, a grammar
    # on the embedded model's logits (`llm/grammar.py`). Its `title` names it where the API wants a name.
    # Left out of every dump while unset, like top_logprobs.
    json_schema: dict[str, Any] | None = None
    # With json_schema: its string properties whose values must be Python source that parses (`ast.parse`),
    # e.g. a setting's `code` and `tests`. Only the local backend enforces it (a grammar for a subset of Python,
    # `llm/python_grammar.py`), for a small model whose code in a JSON string otherwise often does not parse;
    # the APIs have no such constraint and send the plain schema. Left out of every dump while unset.
    python_fields: tuple[str, ...] | None = None

    @model_serializer(mode="wrap")
    def _omit_unset_options(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for name in ("top_logprobs", "json_schema", "python_fields"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_tokens: int = 0
    completion_tokens: int = 0


FinishReason = Literal["stop", "length", "content_filter", "tool_calls", "other"]


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    finish_reason: FinishReason
    usage: Usage
    model: str
    # The first output token's most likely alternatives, token -> natural-log probability (the sampled
    # token included), when the request asked (`SamplingParams.top_logprobs`) and the backend gives them.
    top_logprobs: dict[str, float] | None = None


def normalise_finish_reason(reason: str | None) -> FinishReason:
    mapping = {
        "stop": "stop",
        "eos": "stop",
        "end_turn": "stop",
        "stop_sequence": "stop",
        "length": "length",
        "max_tokens": "length",
        "content_filter": "content_filter",
        "refusal": "content_filter",
        "tool_calls": "tool_calls",
        "tool_use": "tool_calls",
    }
    return mapping.get(reason or "", "other")  # type: ignore[return-value]


def schema_name(schema: dict[str, Any]) -> str:
    """The name an API wants for a JSON schema (OpenAI's `json_schema.name`, an Anthropic tool's name): its
    `title` reduced to letters, digits, `_` and `-` (at most 64), else "output"."""
    title = schema.get("title")
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", title).strip("_")[:64] if isinstance(title, str) else ""
    return name or "output"


class BackendError(Exception):
    """Base of backend failures. `kind` is a short machine-readable reason counted in the run metadata."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class TransientError(BackendError):
    """Worth retrying: 429, 5xx, timeouts, connection resets, malformed bodies."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(kind, message)
        self.retry_after = retry_after


class ItemError(BackendError):
    """This request will not succeed as sent (e.g. 400 context too long); other requests may."""


class FatalError(BackendError):
    """No request can succeed (authentication, unknown model, missing package): stop the run."""


class Backend(abc.ABC):
    """An async text generator. `model` names what answers, for records, pricing and the cache key."""

    model: str

    @abc.abstractmethod
    async def complete(self, messages: list[Message], params: SamplingParams) -> Completion: ...

    async def aclose(self) -> None:  # noqa: B027 - an optional hook: not every backend holds resources
        """Release connections, threads or models."""

    def cache_identity(self) -> str:
        """What, besides messages and params, determines the answer: the model (never a key or URL)."""
        return self.model
