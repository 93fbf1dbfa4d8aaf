"""Turn a plan and its finished stages into the run's results document (scores, data statistics, PGR)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from agorabench.io import write_text_atomic
from agorabench.jsonl import read_jsonl_lenient
from agorabench.metrics.agreement import CellPgr, rank_agreement
from agorabench.metrics.pgr import BenchmarkScores, pgr_domain, pgr_domain_draws, scores_from_eval_dir, to_result
from agorabench.pipeline.executor import Outcome
from agorabench.pipeline.plan import Plan
from agorabench.pipeline.stages import Stage
from agorabench.pipeline.store import ArtifactStore
from agorabench.results import (
    Agreement,
    DataStats,
    GeneratorInfo,
    ModelScores,
    RankAgreement,
    RunResults,
    ScalingPoint,
    Score,
    StudentInfo,
)
from agorabench.results import Cell as Result
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


def _status(stages: list[Stage], outcomes: dict[str, Outcome], store: ArtifactStore) -> tuple[str, str | None]:
    """done, failed (with the first failed stage and why) or pending, for the stages one result needs."""
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


def _student_scores(stages: dict[str, Stage], store: ArtifactStore) -> dict[str, BenchmarkScores | None]:
    return {b: _eval_scores(s, store) for b, s in stages.items()}


def _model_scores(label: str, model: str, scores: dict[str, BenchmarkScores | None]) -> ModelScores:
    return ModelScores(label=label, model=model, scores={b: _score(v) for b, v in scores.items() if v is not None})


def _scaling_point(point, data: DataStats | None, base, reference, store: ArtifactStore,
                   outcomes: dict[str, Outcome], seed: int) -> ScalingPoint:
    """One smaller size of a cell's curve: its student's scores and PGR against the cell's base and reference;
    its cost, the dataset's cost per record times the size (the records it trained on)."""
    status, error = _status([point.train, *point.evaluate.values()], outcomes, store)
    per_record = data.cost_usd / data.instances if data is not None and data.instances else 0.0
    result = ScalingPoint(instances=point.instances, status=status, error=error,
                          cost_usd=round(per_record * point.instances, 6))
    scores = _student_scores(point.evaluate, store)
    result.student_scores = {b: _score(v) for b, v in scores.items() if v is not None}
    if status == "done":
        triples = {b: (scores[b], base.get(b), reference.get(b)) for b in point.evaluate}
        domain_value, per_benchmark = pgr_domain(triples, seed=seed)
        result.pgr = {b: to_result(v) for b, v in per_benchmark.items()}
        result.domain_pgr = to_result(domain_value)
    return result


def assemble(plan: Plan, store: ArtifactStore, outcomes: dict[str, Outcome], seed: int = 0) -> RunResults:
    config = plan.config
    base_scores = {s.name: _student_scores(s.base, store) for s in plan.students}
    reference_scores = {s.name: _student_scores(s.reference, store) for s in plan.students}
    several = len(plan.students) > 1
    cells: list[Result] = []
    cost_by_generator: dict[str, float] = {}
    datasets: dict[str, DataStats | None] = {}  # generate key -> its stats: read and costed once, whatever the students
    domain_draws: dict[str, dict[tuple[str, str], CellPgr]] = {s.name: {} for s in plan.students}
    for cell in plan.cells:
        status, error = _status([cell.generate, cell.train, *cell.evaluate.values()], outcomes, store)
        if cell.generate.key not in datasets:
            datasets[cell.generate.key] = _data_stats(cell.generate, store, config.instances)
            if datasets[cell.generate.key] is not None:
                cost = datasets[cell.generate.key].cost_usd
                cost_by_generator[cell.generator] = cost_by_generator.get(cell.generator, 0.0) + cost
        data = datasets[cell.generate.key]
        student = _student_scores(cell.evaluate, store)
        base, reference = base_scores[cell.student], reference_scores[cell.student]
        result = Result(generator=cell.generator, method=cell.method, domain=cell.domain,
                        student=cell.student, status=status, error=error,
                        data=data, student_scores={b: _score(v) for b, v in student.items() if v is not None})
        if cell.intrinsic is not None and store.is_done(cell.intrinsic.key):
            summary = json.loads((store.get(cell.intrinsic.key).path / "summary.json").read_text())
            result.intrinsic = summary.get("metrics", {})
        if status == "done":
            triples = {b: (student[b], base.get(b), reference.get(b)) for b in cell.evaluate}
            domain_value, per_benchmark, draws = pgr_domain_draws(triples, seed=seed)
            result.pgr = {b: to_result(v) for b, v in per_benchmark.items()}
            result.domain_pgr = to_result(domain_value)
            domain_draws[cell.student][(f"{cell.method}/{cell.domain}", cell.generator)] = CellPgr(
                domain_value.value, draws)
        if cell.scaling:
            result.scaling = [_scaling_point(p, data, base, reference, store, outcomes, seed)
                              for p in cell.scaling]
            whole = ScalingPoint(instances=data.instances if data else config.instances, status=status, error=error,
                                 cost_usd=data.cost_usd if data else 0.0, student_scores=result.student_scores,
                                 pgr=result.pgr, domain_pgr=result.domain_pgr)
            result.scaling.append(whole)
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
    students = [
        StudentInfo(
            name=s.name, base_model=s.config.base, recipe=s.config.recipe,
            training=recipe_summary(load_recipe(s.config.recipe), s.config.num_processes or 1),
            base=_model_scores(f"{s.config.base} (base)", s.config.base, base_scores[s.name]),
            reference=_model_scores(s.reference_label, s.reference_model, reference_scores[s.name]),
        )
        for s in plan.students
    ]
    agreement = None
    if several:
        rounds = next((len(c.draws) for cells_ in domain_draws.values() for c in cells_.values()
                       if c.draws is not None), 0)
        pairs = rank_agreement(domain_draws, [g.name for g in plan.generators])
        agreement = Agreement(rounds=rounds, pairs=[RankAgreement(**vars(p)) for p in pairs])
    first = students[0]
    return RunResults(
        name=config.name,
        profile=config.profile,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seed=config.seed,
        student_base=first.base_model,
        recipe=first.recipe,
        training=first.training,
        benchmarks=results_benchmarks(config),
        base=first.base,
        reference=first.reference,
        generators=generators,
        cells=cells,
        students=students,
        scaling=config.data_sizes() if config.scaling else [],
        agreement=agreement,
        notes=list(plan.notes),
    )


def results_benchmarks(config) -> dict[str, list[str]]:
    return {d: list(config.evaluation.benchmarks[d]) for d in config.domains()}


def write_results(results: RunResults, run_dir: Path) -> Path:
    path = run_dir / "results.json"
    write_text_atomic(path, results.model_dump_json(indent=1) + "\n")
    return path


__all__ = ["assemble", "results_benchmarks", "write_results"]
