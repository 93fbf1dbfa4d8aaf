"""The backend registry: one `BackendSpec` per backend, and the one place that knows their names.

Callers never compare backend names: they ask the spec (`backend_spec(config.backend).remote`, `.uses_gpu`,
...). Adding a backend is one new module with a `Backend` subclass and one `register_backend` line here (or
in any module imported before the config is read, e.g. a plugin of yours):

    register_backend(BackendSpec("mine", "my_pkg.my_backend:MyBackend", remote=True, default_base_url=...))

The factory is an import path, loaded on first use, so that heavy or optional packages (torch, vllm,
anthropic) load only when their backend runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agorabench.errors import ConfigError

if TYPE_CHECKING:
    from agorabench.llm.base import Backend
    from agorabench.llm.config import GeneratorConfig


@dataclass(frozen=True)
class BackendSpec:
    """What the rest of the package may know about a backend."""

    name: str
    factory: str | Callable[[GeneratorConfig], Backend]  # "module:Class" (lazy) or a callable
    remote: bool  # True: requests go to an HTTP endpoint (base_urls); False: the model runs in this process
    default_base_url: str | None = None  # used when a remote generator names no base_urls
    key_env: str | None = None  # the environment variable its provider's key is in (sent whenever it is set)
    supports_batch: bool = False  # a provider Batch API (half price, 24 h): `mode: batch` builds `batch_factory`
    # "module:Class" (lazy) or a callable taking (config, state_dir): the `mode: batch` backend, which keeps its
    # ledger of submitted batches in state_dir (the job's output folder) so that a rerun resumes them
    batch_factory: str | Callable[[GeneratorConfig, Path], Backend] | None = None
    supports_structured_output: bool = False  # JSON-schema-constrained outputs
    uses_gpu: Literal["never", "optional", "required"] = "never"  # what a scheduler should give its stages
    description: str = ""

    @property
    def in_process(self) -> bool:
        return not self.remote

    @property
    def runs_model_here(self) -> bool:
        """Its stages run a model on this machine (a scheduler gives them a GPU where there is one)."""
        return self.uses_gpu != "never"

    def create(self, config: GeneratorConfig, state_dir: Path | None = None) -> Backend:
        """The backend for `config`; in batch mode the batch backend, keeping its ledger in `state_dir`."""
        if config.mode == "batch":
            if self.batch_factory is None:
                raise ConfigError(f"backend {self.name!r} has no batch mode")
            if state_dir is None:
                raise ConfigError(f"generator {config.name!r}: batch mode needs an output folder for its ledger")
            return _load(self.batch_factory)(config, state_dir)
        return _load(self.factory)(config)


def _load(factory: str | Callable[..., Any]) -> Callable[..., Any]:
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        return getattr(importlib.import_module(module_name), attr)
    return factory


BACKENDS: dict[str, BackendSpec] = {}


def register_backend(spec: BackendSpec) -> BackendSpec:
    """Add (or replace) a backend; its name becomes valid in `backend:` fields and `name:model` shorthands."""
    BACKENDS[spec.name] = spec
    return spec


def backend_spec(name: str) -> BackendSpec:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})") from None


def create_backend(config: GeneratorConfig, state_dir: Path | None = None) -> Backend:
    """The generator's backend; `state_dir` (the output folder) is where a batch-mode backend keeps its ledger."""
    return backend_spec(config.backend).create(config, state_dir)


# --- the built-in backends: one line each ----------------------------------------------------------------

# Structured outputs (`SamplingParams.json_schema`): OpenAI `response_format` json_schema, an Anthropic forced
# tool, vLLM structured outputs, and a grammar over the local model's logits (llm/grammar.py).
register_backend(BackendSpec(
    "openai", "agorabench.llm.openai_backend:OpenAIBackend", remote=True,
    default_base_url="https://api.openai.com/v1", key_env="OPENAI_API_KEY",
    supports_batch=True, batch_factory="agorabench.llm.batch.openai_batch:OpenAIBatchBackend",
    supports_structured_output=True,
    description="OpenAI-compatible chat completions (OpenAI, vLLM and llama.cpp servers, SGLang)",
))
register_backend(BackendSpec(
    "anthropic", "agorabench.llm.anthropic_backend:AnthropicBackend", remote=True,
    default_base_url="https://api.anthropic.com", key_env="ANTHROPIC_API_KEY",
    supports_batch=True, batch_factory="agorabench.llm.batch.anthropic_batch:AnthropicBatchBackend",
    supports_structured_output=True,
    description="Anthropic Messages API",
))
register_backend(BackendSpec(
    "local", "agorabench.llm.local_backend:LocalBackend", remote=False, uses_gpu="optional",
    supports_structured_output=True,
    description="a transformers model in this process (embedded models, checkpoints, Hub ids)",
))
register_backend(BackendSpec(
    "vllm", "agorabench.llm.vllm_backend:VLLMBackend", remote=False, uses_gpu="required",
    supports_structured_output=True,
    description="vllm.LLM in this process",
))
