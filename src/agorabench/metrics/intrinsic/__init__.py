"""Intrinsic metrics of a generated dataset (AgoraBench, section 5): instruction difficulty and response
quality (LLM judge, 1-5), reward-model score, response perplexity under the student's base model, and
instruction / response diversity (sentence-embedding cosine distance). `compute_intrinsic` runs the
configured ones and writes per_example.jsonl and summary.json; see docs/metrics.md.

Heavy libraries (torch, transformers, sentence-transformers) are imported only by the metrics that need them.
"""

from agorabench.metrics.intrinsic.config import DEFAULT_DIVERSITY_SAMPLE, DEFAULT_EMBEDDER, IntrinsicConfig
from agorabench.metrics.intrinsic.dataset import Example, read_dataset
from agorabench.metrics.intrinsic.diversity import mean_pairwise_cosine_distance
from agorabench.metrics.intrinsic.judge import parse_score
from agorabench.metrics.intrinsic.runner import (
    METRICS,
    PER_EXAMPLE,
    SUMMARY,
    IntrinsicResult,
    compute_intrinsic,
    default_out_dir,
)

__all__ = [
    "DEFAULT_DIVERSITY_SAMPLE",
    "DEFAULT_EMBEDDER",
    "METRICS",
    "PER_EXAMPLE",
    "SUMMARY",
    "Example",
    "IntrinsicConfig",
    "IntrinsicResult",
    "compute_intrinsic",
    "default_out_dir",
    "mean_pairwise_cosine_distance",
    "parse_score",
    "read_dataset",
]
