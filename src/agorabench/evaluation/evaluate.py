"""`agorabench evaluate`: a model's score on benchmarks, with the per-item evidence.

Output, per benchmark, under OUT/<benchmark>/:
  outputs/        the engine's folder (records.jsonl, metadata.json): resumable, cached
  results.jsonl   one line per item: prompt, output, extracted answer, verdict, timing
  summary.json    score, metric, n, 95% bootstrap CI, data checksum and source, decoding
and OUT/summary.json with every benchmark's summary.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from pathlib import Path
from typing import Any

from agorabench.data.benchmarks import get_benchmark
from agorabench.evaluation.graders import GradeContext, get_grader, grading_version
from agorabench.evaluation.runner import Prompt, generate_outputs
from agorabench.evaluation.stats import bootstrap_mean_ci
from agorabench.io import write_json_atomic
from agorabench.llm.base import Message
from agorabench.llm.config import GeneratorConfig


def subset(items: list[Any], limit: int | None, seed: int) -> list[Any]:
    """A seeded random subset of `limit` items, kept in the benchmark's order (all items if None)."""
    if limit is None or limit >= len(items):
        return list(items)
    chosen = set(random.Random(seed).sample(range(len(items)), limit))
    return [item for i, item in enumerate(items) if i in chosen]


def evaluate_benchmark(
    model: GeneratorConfig,
    name: str,
    out_dir: Path,
    *,
    limit: int | None = None,
    seed: int = 42,
    judge: GeneratorConfig | None = None,
    options: dict[str, Any] | None = None,
    workers: int = 2,
    progress=None,
    max_tokens: int | None = None,
    system_prompt: str | None = None,
) -> dict[str, Any]:
    """Evaluate one benchmark into OUT/<name>/; `max_tokens` caps the benchmark's decoding (quick runs);
    `system_prompt` opens every prompt (a run passes its recipe's, the one its students were trained with)."""
    benchmark = get_benchmark(name)
    grader = get_grader(benchmark.grader)
    decoding = benchmark.decoding
    if max_tokens is not None:
        decoding = decoding.model_copy(update={"max_tokens": max_tokens})
    started = time.monotonic()
    data = benchmark.load(options or {})
    data = dataclasses.replace(data, items=subset(data.items, limit, seed))
    prompts = [Prompt(item["id"], with_system(benchmark.prompt(item), system_prompt)) for item in data.items]
    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    records = generate_outputs(
        model, name, benchmark.domain, prompts, decoding, folder / "outputs", seed=seed, progress=progress
    )
    outputs = {p.id: records[p.id]["response"] for p in prompts}
    context = GradeContext(out_dir=folder, judge=judge, workers=workers, seed=seed)
    graded = grader.grade(data, outputs, context)
    if graded.ci is not None:
        ci = graded.ci
    else:
        low, high = bootstrap_mean_ci(graded.per_item_scores, seed=seed)
        ci = (100 * low, 100 * high)
    by_id = {item["id"]: item for item in graded.items}
    with open(folder / "results.jsonl", "w", encoding="utf-8") as handle:
        for prompt in prompts:
            record = records[prompt.id]
            handle.write(json.dumps({
                "id": prompt.id,
                "prompt": prompt.messages[-1].content,
                "output": record["response"],
                **{k: v for k, v in by_id.get(prompt.id, {}).items() if k != "id"},
                "finish_reason": record.get("finish_reason"),
                "latency_s": record.get("latency_s"),
            }, ensure_ascii=False) + "\n")
    summary = {
        "benchmark": name,
        "grading_version": grading_version(name),
        "domain": benchmark.domain,
        "model": {"name": model.name, "backend": model.backend, "model": model.model},
        "metric": graded.metric,
        "score": round(graded.score, 4),
        "ci95": [round(ci[0], 4), round(ci[1], 4)],
        "n": len(prompts),
        "limit": limit,
        "subset_seed": seed if limit is not None else None,
        "data": {"source": str(data.source), "checksum": data.checksum},
        "decoding": decoding.model_dump(mode="json"),
        "system_prompt": system_prompt,
        "judge": None if judge is None else {"name": judge.name, "model": judge.model},
        "extra": graded.extra,
        "wall_time_s": round(time.monotonic() - started, 2),
    }
    write_json_atomic(folder / "summary.json", summary)
    return summary


def with_system(messages: list[Message], system_prompt: str | None) -> list[Message]:
    """A benchmark's prompt with the system message first (unless it has its own or there is none)."""
    if not system_prompt or (messages and messages[0].role == "system"):
        return messages
    return [Message(role="system", content=system_prompt), *messages]


def evaluate(model: GeneratorConfig, names: list[str], out_dir: Path, **kwargs: Any) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        get_grader(get_benchmark(name).grader)  # an unknown name fails before any work
    summaries = {name: evaluate_benchmark(model, name, out_dir, **kwargs) for name in names}
    write_json_atomic(out_dir / "summary.json", summaries)
    return summaries
