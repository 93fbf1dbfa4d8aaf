"""Turn a plan and its finished stages into the run's results document (scores, data statistics, PGR)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from agorabench.io import write_text_atomic
from agorabench.jsonl import read_jsonl_lenient
from agorabench.metrics.pgr import BenchmarkScores, pgr_domain, scores_from_eval_dir, to_result
from agorabench.pipeline.executor import Outcome
from agorabench.pipeline.plan import Plan
from agorabench.pipeline.stages import Stage
from agorabench.pipeline.store import ArtifactStore
from agorabench.results import Cell, DataStats, GeneratorInfo, ModelScores, RunResults, Score
from agorabench.training.recipes import load_recipe, recipe_summary


def _eval_scores(stage: Stage, store: ArtifactStore) -> BenchmarkScores | None:
    if not store.is_done(stage.key):
        return None
    return scores_from_eval_dir(store.get(stage.key).path / stage.params["benchmark"])


def _score(scores: BenchmarkScores | None) -> Score | None:
    if scores is None:
        return None
    n = scores.n if scores.n is not None else len(scores.item_scores or {})
    return Score(value=round(scores.value, 4), ci=scores.ci, n=n, metric=scores.metric)


def _data_stats(stage: Stage, store: ArtifactStore, requested: int) -> DataStats | None:
    entry = store.get(stage.key)
    if entry is None or not (entry.path / "metadata.json").is_file():
        return None
    metadata = json.loads((entry.path / "metadata.json").read_text())
    records = read_jsonl_lenient(entry.path / "records.jsonl") if (entry.path / "records.jsonl").is_file() else []
    usage = [r.get("usage") or {} for r in records]
    counts = metadata.get("counts", {})
    return DataStats(
        requested=requested,
        instances=counts.get("records", len(records)),
        failed=counts.get("failed", 0),
        acceptance_rate=metadata.get("acceptance_rate"),
        failure_reasons=counts.get("failure_reasons", {}),
        prompt_tokens=sum(u.get("prompt_tokens") or 0 for u in usage),
        completion_tokens=sum(u.get("completion_tokens") or 0 for u in usage),
        cost_usd=round(metadata.get("cost_usd_total") or 0.0, 6),
    )


def _cell_status(cell, outcomes: dict[str, Outcome], store: ArtifactStore) -> tuple[str, str | None]:
    stages = [cell.generate, cell.train, *cell.evaluate.values()]
    for stage in stages:
        outcome = outcomes.get(stage.key)
        if outcome is not None and outcome.status == "failed":
            return "failed", f"{stage.kind}: {outcome.error}"
        entry = store.get(stage.key)
        if outcome is None and entry is not None and entry.status == "failed":
            return "failed", f"{stage.kind}: {entry.error}"
    if all(store.is_done(s.key) for s in stages):
        return "done", None
    return "pending", None


def assemble(plan: Plan, store: ArtifactStore, outcomes: dict[str, Outcome], seed: int = 0) -> RunResults:
    config = plan.config
    base_scores = {b: _eval_scores(s, store) for b, s in plan.base.items()}
    reference_scores = {b: _eval_scores(s, store) for b, s in plan.reference.items()}
    reference_label = (
        f"{config.reference.model} (reference)" if config.reference.model
        else f"{config.student.base} trained on gold data (reference)"
    )
    cells: list[Cell] = []
    cost_by_generator: dict[str, float] = {}
    for cell in plan.cells:
        status, error = _cell_status(cell, outcomes, store)
        data = _data_stats(cell.generate, store, config.instances)
        if data is not None:
            cost_by_generator[cell.generator] = cost_by_generator.get(cell.generator, 0.0) + data.cost_usd
        student = {b: _eval_scores(s, store) for b, s in cell.evaluate.items()}
        result = Cell(generator=cell.generator, method=cell.method, domain=cell.domain, status=status, error=error,
                      data=data, student_scores={b: _score(v) for b, v in student.items() if v is not None})
        if cell.intrinsic is not None and store.is_done(cell.intrinsic.key):
            summary = json.loads((store.get(cell.intrinsic.key).path / "summary.json").read_text())
            result.intrinsic = summary.get("metrics", {})
        if status == "done":
            triples = {b: (student[b], base_scores.get(b), reference_scores.get(b)) for b in cell.evaluate}
            domain_value, per_benchmark = pgr_domain(triples, seed=seed)
            result.pgr = {b: to_result(v) for b, v in per_benchmark.items()}
            result.domain_pgr = to_result(domain_value)
        cells.append(result)

    generators = []
    for gen in plan.generators:
        price = gen.price()
        # The generator's own score per domain (the mean over the domain's benchmarks): problem solving.
        own = {b: _eval_scores(s, store) for b, s in plan.generator_scores.get(gen.name, {}).items()}
        problem_solving = {}
        for domain, names in results_benchmarks(config).items():
            values = [own[b].value for b in names if own.get(b) is not None]
            if values and len(values) == len(names):
                problem_solving[domain] = round(sum(values) / len(values), 4)
        generators.append(GeneratorInfo(
            name=gen.name, model=gen.model, backend=gen.backend,
            price_input_per_mtok=price.input_per_mtok if price else None,
            price_output_per_mtok=price.output_per_mtok if price else None,
            cost_usd=round(cost_by_generator.get(gen.name, 0.0), 6),
            problem_solving=problem_solving,
        ))
    return RunResults(
        name=config.name,
        profile=config.profile,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seed=config.seed,
        student_base=config.student.base,
        recipe=config.student.recipe,
        training=recipe_summary(load_recipe(config.student.recipe), config.student.num_processes or 1),
        benchmarks=results_benchmarks(config),
        base=ModelScores(label=f"{config.student.base} (base)", model=config.student.base,
                         scores={b: _score(v) for b, v in base_scores.items() if v is not None}),
        reference=ModelScores(label=reference_label, model=config.reference.model or "gold",
                              scores={b: _score(v) for b, v in reference_scores.items() if v is not None}),
        generators=generators,
        cells=cells,
        notes=list(plan.notes),
    )


def results_benchmarks(config) -> dict[str, list[str]]:
    return {d: list(config.evaluation.benchmarks[d]) for d in config.domains()}


def write_results(results: RunResults, run_dir: Path) -> Path:
    path = run_dir / "results.json"
    write_text_atomic(path, results.model_dump_json(indent=1) + "\n")
    return path


__all__ = ["assemble", "results_benchmarks", "write_results"]
