"""Anthropic Messages API through the `anthropic` SDK (optional extra: `pip install 'agorabench[anthropic]'`)."""

from __future__ import annotations

import json

from agorabench.llm.base import (
    Completion,
    FatalError,
    Message,
    SamplingParams,
    TransientError,
    Usage,
    normalise_finish_reason,
    schema_name,
)
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.http import HttpBackend
from agorabench.llm.rate_limit import ANTHROPIC_RATE_LIMIT_HEADERS


def _import_anthropic():
    try:
        import anthropic
    except ImportError:
        raise FatalError(
            "missing_package", "the anthropic backend needs: pip install 'agorabench[anthropic]'"
        ) from None
    return anthropic


class AnthropicBackend(HttpBackend):
    rate_limited_statuses = (429, 529)  # 529: Anthropic's "overloaded"
    rate_limit_headers = ANTHROPIC_RATE_LIMIT_HEADERS  # anthropic-ratelimit-{requests,tokens,...}-{limit,...}

    def __init__(self, config: GeneratorConfig):
        anthropic = _import_anthropic()
        super().__init__(config, anthropic, anthropic.AsyncAnthropic)

    async def complete(self, messages: list[Message], params: SamplingParams) -> Completion:
        body, where = await self.post("/v1/messages", request_body(self.model, messages, params))
        return parse_message(body, where, self.model)


def request_body(model: str, messages: list[Message], params: SamplingParams) -> dict:
    """The Messages API request body, online and as a Message Batch request's `params` alike."""
    # Anthropic takes the system prompt apart from the turns.
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
    request: dict = {
        "model": model,
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
    if params.json_schema is not None:
        # Structured output the Anthropic way: one tool whose input is the schema, and the model made to call
        # it; the tool call's input is the reply (`parse_message`).
        name = schema_name(params.json_schema)
        request["tools"] = [{
            "name": name,
            "description": "Record your reply: fill in every field.",
            "input_schema": params.json_schema,
        }]
        request["tool_choice"] = {"type": "tool", "name": name}
    return request


def parse_message(body: bytes, where: str, model: str) -> Completion:
    try:
        data = json.loads(body)
        tool_inputs = [block["input"] for block in data["content"] if block.get("type") == "tool_use"]
        if tool_inputs:  # the forced tool of a structured request: its input is the JSON reply
            text = json.dumps(tool_inputs[0], ensure_ascii=False)
        else:
            text = "".join(block.get("text", "") for block in data["content"] if block.get("type") == "text")
        reason = data.get("stop_reason")
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            # A forced tool call ends with "tool_use": that is the whole reply, finished.
            finish_reason="stop" if tool_inputs and reason == "tool_use" else normalise_finish_reason(reason),
            usage=Usage(
                prompt_tokens=usage.get("input_tokens") or 0,
                completion_tokens=usage.get("output_tokens") or 0,
            ),
            model=data.get("model") or model,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TransientError("malformed", f"{where}: malformed response body") from None
