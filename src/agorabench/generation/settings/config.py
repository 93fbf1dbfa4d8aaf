"""Configuration of the nine AgoraBench settings (method x domain), their seeds and validators."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from agorabench.data.seeds import SeedSource
from agorabench.io import StrictModel
from agorabench.llm.config import EMBEDDED_MODEL, GeneratorConfig
from agorabench.llm.registry import backend_spec
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
    prompt_format: Literal["text", "json"] = Field(
        "text", description="json: the paper's format ablation, the reply's JSON schema enforced by the backend"
    )
    seeds: list[SeedSource] = Field(
        default_factory=lambda: [SeedSource(source="agorabench")],
        description="seed sources; default: the bundled offline set for this setting",
    )
    demonstrations_from_seeds: int = Field(2, ge=0, description="IG: demonstrations drawn from the seeds")
    demonstrations_from_run: int = Field(1, ge=0, description="IG: from instances accepted in this run")
    example_turns: int = Field(
        0,
        ge=0,
        description="RG: earlier exchanges before each prompt (other seed instructions, each with its seed "
        "response as the reply, in the reply's format): how a base model, which continues text rather than "
        "follows instructions, is prompted few-shot; needs seed rows with responses",
    )
    validation: ValidationConfig = Field(default_factory=ValidationConfig)


# `agorabench generate`'s max_tokens where it picks the JSON format for the embedded model (`--max-tokens` or a
# config file's `sampling.max_tokens` win): SmolLM2-135M's valid replies stay under ~400 tokens, and one that
# runs on is cut at this many instead of 4096 (the local backend caps each string to fit: llm/grammar.py).
EMBEDDED_MAX_TOKENS = 512


def default_prompt_format(generator: GeneratorConfig) -> Literal["text", "json"]:
    """`agorabench generate`'s format when none is given: json for the embedded model where its backend enforces
    the schema (SmolLM2-135M rarely keeps the text layout; its schema-constrained JSON parses, and its fields
    become records as the text format's would), the paper's text format for every other generator."""
    spec = backend_spec(generator.backend)
    return "json" if generator.model == EMBEDDED_MODEL and spec.supports_structured_output else "text"
