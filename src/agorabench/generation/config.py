"""The configs of generation: how the engine schedules, retries and caches (`EngineConfig`), and everything
`agorabench generate` needs as one reviewable file (`GenerateConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from agorabench.generation.settings.config import SettingConfig
from agorabench.io import StrictModel, default_cache_dir
from agorabench.llm.base import SamplingParams
from agorabench.llm.config import EMBEDDED_MODEL, GeneratorConfig


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
    max_cost_usd: float | None = Field(
        None,
        gt=0,
        description="spend cap per output folder, in US dollars: stop before a request could take the folder's "
        "spend past it (records kept, status 'stopped: spend cap'; a rerun with a higher cap resumes)",
    )

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        return default_cache_dir()


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
