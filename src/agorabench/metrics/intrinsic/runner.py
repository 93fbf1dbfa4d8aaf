"""`compute_intrinsic`: every configured intrinsic metric of one dataset, per example and aggregated.

Writes into out_dir:
  per_example.jsonl  one line per example: id, domain, and each per-example metric (null where it failed)
  summary.json       {"metrics": {name: float | null}, "n": examples, "details": {...}}
  judge/<judge>/     the judging run (the engine's resumable folder: records, failures, metadata)

`metrics` is flat: instruction_difficulty, response_quality (mean judge scores, 1-5), reward (mean
reward-model score), perplexity (mean of per-example perplexity; the median is in details.perplexity, not a
second metric, so an analysis does not weigh perplexity twice), instruction_diversity, response_diversity.
A metric that is not configured is absent (listed in details.skipped); one that was configured but could not
be computed is null, with the reason in details.

Judging resumes through the engine; the other metrics are recomputed on every call (minutes at most),
and both output files are replaced atomically, so an interrupted run never leaves half a file.
"""

from __future__ import annotations

import contextlib
import gc
import json
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agorabench import __version__
from agorabench.data.files import file_sha256
from agorabench.evaluation.judges.pairwise import seeded_subset
from agorabench.io import write_text_atomic
from agorabench.llm.config import resolve_generator
from agorabench.metrics.intrinsic.config import IntrinsicConfig
from agorabench.metrics.intrinsic.dataset import Example, read_dataset

PER_EXAMPLE = "per_example.jsonl"
SUMMARY = "summary.json"

METRICS = (
    "instruction_difficulty",
    "response_quality",
    "reward",
    "perplexity",
    "instruction_diversity",
    "response_diversity",
)


@dataclass
class IntrinsicResult:
    out_dir: Path
    n: int
    metrics: dict[str, float | None]
    details: dict[str, Any]
    per_example: list[dict[str, Any]]


def default_out_dir(dataset: str | Path) -> Path:
    """Next to the data: RUN/intrinsic for a run folder, DIR/NAME.intrinsic for a JSONL file."""
    path = Path(dataset).expanduser()
    return path / "intrinsic" if path.is_dir() else path.with_name(path.stem + ".intrinsic")


def compute_intrinsic(
    dataset: str | Path,
    out_dir: str | Path,
    options: IntrinsicConfig | None = None,
    *,
    progress: bool = False,
) -> IntrinsicResult:
    """Compute the configured metrics of `dataset` (a generated run folder or an instruction/response
    JSONL) into `out_dir`. `progress`: draw rich progress bars on stderr."""
    options = options or IntrinsicConfig()
    out_dir = Path(out_dir)
    path, examples = read_dataset(dataset)
    total = len(examples)
    if options.max_examples is not None:
        keep = set(seeded_subset([e.id for e in examples], options.max_examples, options.seed))
        examples = [e for e in examples if e.id in keep]
    # Resolve the judge before any model loads: a bad spec is a one-line error, at once.
    judge = resolve_generator(options.judge, source="judge") if options.judge is not None else None

    rows = {e.id: {"id": e.id, "domain": e.domain} for e in examples}
    metrics: dict[str, float | None] = {}
    details: dict[str, Any] = {
        "dataset": str(path),
        "dataset_sha256": file_sha256(path),
        "examples_in_dataset": total,
        "subset": None
        if options.max_examples is None
        else {"max_examples": options.max_examples, "seed": options.seed},
        "config": options.model_dump(mode="json"),
        "agorabench_version": __version__,
        "skipped": {},
    }
    out_dir.mkdir(parents=True, exist_ok=True)

    if judge is not None:
        _judge_stage(examples, options, judge, out_dir, rows, metrics, details, progress)
    else:
        for aspect in ("instruction_difficulty", "response_quality"):
            details["skipped"][aspect] = "no judge configured"

    if options.reward_model is not None:
        _reward_stage(examples, options, rows, metrics, details, progress)
    else:
        details["skipped"]["reward"] = "no reward_model configured"

    if options.base is not None:
        _perplexity_stage(examples, options, rows, metrics, details, progress)
    else:
        details["skipped"]["perplexity"] = "no base model configured"

    if options.embedder is not None:
        _diversity_stage(examples, options, metrics, details, progress)
    else:
        for kind in ("instruction_diversity", "response_diversity"):
            details["skipped"][kind] = "no embedder configured"

    per_example = list(rows.values())
    write_text_atomic(out_dir / PER_EXAMPLE, "".join(_json(row) + "\n" for row in per_example), fsync=True)
    summary = {"metrics": metrics, "n": len(examples), "details": details}
    write_text_atomic(out_dir / SUMMARY, json.dumps(summary, indent=2, allow_nan=False) + "\n", fsync=True)
    return IntrinsicResult(out_dir, len(examples), metrics, details, per_example)


# ----------------------------------------------------------------------------- stages


def _judge_stage(examples, options, judge, out_dir, rows, metrics, details, progress) -> None:
    from agorabench.metrics.intrinsic.judge import METRIC_OF, run_judge

    with _engine_bar(progress, f"judge {judge.name}") as bar:
        outcome = run_judge(
            examples,
            judge,
            out_dir,
            aspects=options.judge_aspects,
            temperature=options.judge_temperature,
            max_tokens=options.judge_max_tokens,
            engine=options.engine,
            seed=options.seed,
            progress=bar,
        )
    details["judge"] = {
        "name": outcome.judge.name,
        "backend": outcome.judge.backend,
        "model": outcome.judge.model,
        "folder": str(outcome.folder),
        "cost_usd": outcome.cost_usd,
        "requests_sent": outcome.requests_sent,
        "cached_responses": outcome.cached_responses,
        "rubric_fallbacks": outcome.rubric_fallbacks,
    }
    for aspect, name in METRIC_OF.items():
        if aspect not in options.judge_aspects:
            details["skipped"][name] = "not in judge_aspects"
            continue
        for e in examples:
            rows[e.id][name] = outcome.scores.get(e.id, {}).get(aspect)
        metrics[name], details[name] = _aggregate([rows[e.id][name] for e in examples], examples)
        details[name]["failure_reasons"] = outcome.failure_reasons(aspect)


def _reward_stage(examples, options, rows, metrics, details, progress) -> None:
    from agorabench.metrics.intrinsic.reward import load_reward_model, reward_scores

    rm = load_reward_model(options.reward_model, options.device, options.dtype)
    with _bar(progress, "reward", len(examples)) as advance:
        scores = reward_scores(
            rm,
            [(e.instruction, e.response) for e in examples],
            batch_size=options.batch_size,
            max_length=options.max_length,
            max_batch_tokens=options.max_batch_tokens,
            progress=advance,
        )
    for e, score in zip(examples, scores, strict=True):
        rows[e.id]["reward"] = score
    metrics["reward"], details["reward"] = _aggregate(scores, examples)
    details["reward"].update(model=options.reward_model, num_labels=rm.num_labels, chat_template=rm.chat)
    del rm
    gc.collect()


def _perplexity_stage(examples, options, rows, metrics, details, progress) -> None:
    from agorabench.metrics.intrinsic.perplexity import load_student_base, response_perplexities

    student = load_student_base(options.base, options.device, options.dtype)
    with _bar(progress, "perplexity", len(examples)) as advance:
        values = response_perplexities(
            student,
            [(e.instruction, e.response) for e in examples],
            batch_size=options.batch_size,
            max_length=options.max_length,
            max_batch_tokens=options.max_batch_tokens,
            progress=advance,
        )
    for e, (value, n_tokens) in zip(examples, values, strict=True):
        rows[e.id]["perplexity"] = value
        rows[e.id]["response_tokens"] = n_tokens
    ppl = [v for v, _ in values]
    metrics["perplexity"], details["perplexity"] = _aggregate(ppl, examples)
    present = [v for v in ppl if v is not None]
    details["perplexity"].update(
        median=statistics.median(present) if present else None,
        base=options.base,
        chat_template="plain (agorabench PLAIN_CHAT_TEMPLATE)" if student.plain else "base model's",
        max_length=options.max_length,
        scored_tokens=sum(n for _, n in values),
    )
    del student
    gc.collect()


def _diversity_stage(examples, options, metrics, details, progress) -> None:
    from agorabench.metrics.intrinsic.diversity import diversity, load_embedder, sample_indices

    embedder = load_embedder(options.embedder, options.device)
    chosen = sample_indices(len(examples), options.diversity_sample, options.seed)
    per_field = len(chosen) if chosen is not None else len(examples)
    with _bar(progress, "diversity", 2 * per_field) as advance:
        for name, field in (("instruction_diversity", "instruction"), ("response_diversity", "response")):
            result = diversity(
                [getattr(e, field) for e in examples],
                embedder,
                sample=options.diversity_sample,
                seed=options.seed,
                batch_size=options.embed_batch_size,
                progress=advance,
            )
            metrics[name] = result.value
            details[name] = {**result.details, "embedder": options.embedder}
    del embedder
    gc.collect()


# ----------------------------------------------------------------------------- helpers


def _aggregate(
    values: Sequence[float | None], examples: Sequence[Example]
) -> tuple[float | None, dict[str, Any]]:
    """(mean over examples with a value, details: counts, spread, and the mean per domain)."""
    present = [v for v in values if v is not None]
    info: dict[str, Any] = {"n": len(present), "n_missing": len(values) - len(present)}
    if not present:
        info["reason"] = "no example has a value"
        return None, info
    info["std"] = statistics.pstdev(present)
    info["min"], info["max"] = min(present), max(present)
    by_domain: dict[str, list[float]] = {}
    for v, e in zip(values, examples, strict=True):
        if v is not None:
            by_domain.setdefault(e.domain, []).append(v)
    info["by_domain"] = {d: statistics.fmean(vs) for d, vs in sorted(by_domain.items())}
    return statistics.fmean(present), info


def _json(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=False)


@contextlib.contextmanager
def _bar(enabled: bool, description: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr advanced by the yielded callback; None when disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(compact=True),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@contextlib.contextmanager
def _engine_bar(enabled: bool, description: str) -> Iterator[Any]:
    """The engine's own progress bar (requests, tokens, dollars) for judging."""
    if not enabled:
        yield None
        return
    from agorabench.generation.progress import RichProgress

    with RichProgress(description) as bar:
        yield bar
