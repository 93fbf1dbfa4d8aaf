"""Generator backends behind one async interface (`Backend.complete`), and a factory by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agorabench.llm.base import Backend, Completion, Message, SamplingParams, Usage

if TYPE_CHECKING:  # config imports llm.base; a runtime import here would be circular
    from agorabench.config import GeneratorConfig

__all__ = ["BACKENDS", "Backend", "Completion", "Message", "SamplingParams", "Usage", "create_backend"]


def _openai(config: GeneratorConfig) -> Backend:
    from agorabench.llm.openai_backend import OpenAIBackend

    return OpenAIBackend(config)


def _anthropic(config: GeneratorConfig) -> Backend:
    from agorabench.llm.anthropic_backend import AnthropicBackend

    return AnthropicBackend(config)


def _local(config: GeneratorConfig) -> Backend:
    from agorabench.llm.local_backend import LocalBackend

    return LocalBackend(config)


def _vllm(config: GeneratorConfig) -> Backend:
    from agorabench.llm.vllm_backend import VLLMBackend

    return VLLMBackend(config)


# Registry: backend name -> factory. Imports stay inside the factories so that heavy or optional
# packages (torch, vllm, anthropic) load only when that backend is used.
BACKENDS: dict[str, Callable[[GeneratorConfig], Backend]] = {
    "openai": _openai,
    "anthropic": _anthropic,
    "local": _local,
    "vllm": _vllm,
}


def create_backend(config: GeneratorConfig) -> Backend:
    return BACKENDS[config.backend](config)
