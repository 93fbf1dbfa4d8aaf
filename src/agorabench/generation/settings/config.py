"""Configuration of the nine AgoraBench settings (method x domain), their seeds and validators."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from agorabench.data.seeds import SeedSource
from agorabench.io import StrictModel
from agorabench.taxonomy import Domain, Method

# The embedded generator's tokenizer stands in for the student's until you name yours.
DEFAULT_TOKENIZER = "smollm2-135m-instruct"


class ValidationConfig(StrictModel):
    token_budget: int = Field(4096, ge=16, description="instruction + response tokens (the paper's max length)")
    tokenizer: str | None = Field(
        DEFAULT_TOKENIZER, description="tokenizer that counts the budget: the student's (Hub id, folder); null: chars/4"
    )
    near_duplicate_threshold: float = Field(0.7, gt=0.0, le=1.0, description="word 3-gram Jaccard")
    decontaminate: bool = True
    decontamination_ngram: int = Field(13, ge=4)
    benchmark_paths: dict[str, Path] = Field(
        default_factory=dict, description="benchmark -> local copy of its data (math, mbpp do not ship offline)"
    )
    code_max_prose_chars: int = Field(
        40, ge=0, description="text allowed between code fences (labels); none before the first or after the last"
    )

    @field_validator("benchmark_paths")
    @classmethod
    def _registered(cls, value: dict[str, Path]) -> dict[str, Path]:
        from agorabench.data.benchmarks import BENCHMARKS

        for name in value:
            if name not in BENCHMARKS:
                raise ValueError(f"unknown benchmark {name!r} (known: {', '.join(sorted(BENCHMARKS))})")
        return value


class SettingConfig(StrictModel):
    """Which setting to generate, and how."""

    method: Method
    domain: Domain
    prompt_format: Literal["text", "json"] = Field("text", description="json: the paper's format ablation")
    seeds: list[SeedSource] = Field(
        default_factory=lambda: [SeedSource(source="agorabench")],
        description="seed sources; default: the bundled offline set for this setting",
    )
    demonstrations_from_seeds: int = Field(2, ge=0, description="IG: demonstrations drawn from the seeds")
    demonstrations_from_run: int = Field(1, ge=0, description="IG: from instances accepted in this run")
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
