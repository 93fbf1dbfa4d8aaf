"""OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, llama.cpp servers) through the `openai` SDK."""

from __future__ import annotations

import json

import openai

from agorabench.llm.base import (
    Completion,
    Message,
    SamplingParams,
    TransientError,
    Usage,
    normalise_finish_reason,
    schema_name,
)
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.http import HttpBackend


class OpenAIBackend(HttpBackend):
    def __init__(self, config: GeneratorConfig):
        super().__init__(config, openai, openai.AsyncOpenAI)

    async def complete(self, messages: list[Message], params: SamplingParams) -> Completion:
        body, where = await self.post("/chat/completions", request_body(self.model, messages, params))
        return parse_chat_completion(body, where, self.model)


def request_body(model: str, messages: list[Message], params: SamplingParams) -> dict:
    """The chat-completions request body, online and in a batch's input file alike (so an OpenAI-compatible
    server gets identical requests either way)."""
    request: dict = {
        "model": model,
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
    if params.top_logprobs is not None:
        request["logprobs"] = True
        request["top_logprobs"] = params.top_logprobs
    if params.json_schema is not None:
        request["response_format"] = response_format(params.json_schema)
    return request


def response_format(schema: dict) -> dict:
    """Structured Outputs: the reply is one JSON object that matches `schema` (strict: enforced while decoding,
    by OpenAI and by the vLLM, SGLang and llama.cpp servers alike)."""
    return {"type": "json_schema", "json_schema": {"name": schema_name(schema), "schema": schema, "strict": True}}


def first_token_logprobs(choice: dict) -> dict[str, float] | None:
    """The first output token's alternatives (token -> logprob, the sampled one included) from a choice's
    `logprobs.content`, or None when the reply carries none."""
    content = (choice.get("logprobs") or {}).get("content") or []
    if not content:
        return None
    first = content[0]
    alternatives: dict[str, float] = {}
    for entry in [*(first.get("top_logprobs") or []), first]:
        token, logprob = entry.get("token"), entry.get("logprob")
        if isinstance(token, str) and isinstance(logprob, int | float) and token not in alternatives:
            alternatives[token] = float(logprob)
    return alternatives or None


def parse_chat_completion(body: bytes, where: str, model: str) -> Completion:
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        usage = data.get("usage") or {}
        # Structured Outputs: a model that declines answers in `refusal` instead of the schema's JSON.
        refused = bool(choice["message"].get("refusal")) and not text
        return Completion(
            text=text,
            finish_reason="content_filter" if refused else normalise_finish_reason(choice.get("finish_reason")),
            usage=Usage(
                prompt_tokens=usage.get("prompt_tokens") or 0,
                completion_tokens=usage.get("completion_tokens") or 0,
            ),
            model=data.get("model") or model,
            top_logprobs=first_token_logprobs(choice),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise TransientError("malformed", f"{where}: malformed response body") from None
