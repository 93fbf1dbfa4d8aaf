"""`agorabench run`: the whole benchmark, resumable, ending with results.json and the report.

    <run>/config.yaml     the resolved run config
    <run>/store/          every stage's output (pipeline/store.py)
    <run>/results.json    scores, data statistics and PGR (agorabench/results.py)
    <run>/report/         report.md, report.html, CSVs (agorabench.report)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from agorabench.llm.registry import backend_spec
from agorabench.pipeline.assemble import assemble, write_results
from agorabench.pipeline.config import RunConfig
from agorabench.pipeline.executor import Outcome, run_local
from agorabench.pipeline.plan import Plan, build_plan
from agorabench.pipeline.stages import Stage
from agorabench.pipeline.store import ArtifactStore
from agorabench.results import RunResults
from agorabench.taxonomy import METHOD_SHORT, SETTINGS


@dataclass
class RunOutcome:
    results: RunResults
    outcomes: dict[str, Outcome]
    report: Path | None
    run_dir: Path


def run_benchmark(config: RunConfig, run_dir: Path, *, progress: bool = False, console: Console | None = None,
                  report: bool = True) -> RunOutcome:
    console = console or Console(stderr=True, highlight=False)
    plan = build_plan(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    store = ArtifactStore(run_dir / "store")
    if config.executor == "ray":
        from agorabench.pipeline.ray_executor import run_ray

        outcomes = run_ray(plan, store, console=console, address=config.ray.address,
                           max_parallel=config.ray.max_parallel)
    else:
        outcomes = run_local(plan, store, progress=progress, console=console)
    results = assemble(plan, store, outcomes, seed=config.seed)
    write_results(results, run_dir)
    report_path = None
    if report:
        files, _ = write_run_report(results, run_dir)
        report_path = files.get("report.html")
    return RunOutcome(results, outcomes, report_path, run_dir)


def write_run_report(results: RunResults, run_dir: Path, out: Path | None = None,
                     analysis: bool = True) -> tuple[dict[str, Path], str | None]:
    """The report of a run, with the analysis sections when the run has enough points for them.
    Returns (files written, why the analysis was left out or None)."""
    from agorabench.errors import AgorabenchError
    from agorabench.report import ReportSection, write_report

    out = out or run_dir / "report"
    sections, skipped = [], None
    if analysis:
        from agorabench.analysis import analyze
        from agorabench.analysis.sections import analysis_sections

        try:
            found = analyze(run_dir)
        except AgorabenchError as exc:  # too few finished cells to analyse is no reason to withhold the report
            skipped = str(exc)
        else:
            sections = [ReportSection(*section) for section in analysis_sections(found, out / "figures")]
    return write_report(results, out, extra_sections=sections), skipped


# --- dry run ---------------------------------------------------------------------------------------------


def estimate_stage(stage: Stage, config: RunConfig) -> dict[str, Any]:
    """Requests, tokens, dollars and seconds a stage would take (rough, labelled as such)."""
    if stage.kind == "generate":
        from agorabench.generation.config import GenerateConfig
        from agorabench.generation.engine import pending_items
        from agorabench.generation.runner import estimate_plan
        from agorabench.generation.settings.config import SettingConfig
        from agorabench.generation.settings.registry import build_setting
        from agorabench.llm.config import GeneratorConfig

        gen = GeneratorConfig.model_validate(stage.runtime["generator"])
        setting = SettingConfig(method=stage.params["method"], domain=stage.params["domain"])
        task = build_setting(setting, config.instances, config.seed)
        gen_config = GenerateConfig(generator=gen, setting=setting, sampling=config.generation.sampling,
                                    engine=config.generation.engine, n=config.instances, seed=config.seed)
        plan = estimate_plan(task, gen_config, pending_items(task, set(), config.instances), gen, already_done=0)
        return {"requests": plan["requests"], "tokens": plan["prompt_tokens"] + plan["output_tokens"],
                "cost_usd": plan["cost_usd"], "seconds": plan["seconds"]}
    if stage.kind == "train":
        return {"tokens": stage.estimate.get("train_tokens"), "seconds": stage.estimate.get("seconds")}
    if stage.kind == "evaluate":
        requests = stage.estimate.get("requests")
        if requests is None:
            from agorabench.data.benchmarks import get_benchmark

            try:
                requests = len(get_benchmark(stage.params["benchmark"]).load(stage.params["options"]).items)
            except Exception:  # noqa: BLE001 - data not available offline: the plan says unknown
                requests = None
        tokens = None if requests is None else requests * (config.evaluation.max_tokens or 1024)
        seconds = None
        if tokens is not None and backend_spec(config.evaluation.backend).uses_gpu != "required":
            seconds = tokens / 60.0  # embedded-size models on CPU, batched (docs/performance.md)
        return {"requests": requests, "tokens": tokens, "seconds": seconds}
    return {}


def dry_run(config: RunConfig, run_dir: Path, console: Console) -> dict[str, Any]:
    plan = build_plan(config)
    store = ArtifactStore(run_dir / "store") if (run_dir / "store").exists() else None
    table = Table(title=f"plan for {config.name} ({len(plan.stages())} stages)")
    for column in ("stage", "what", "status", "requests", "tokens", "$", "time"):
        table.add_column(column, justify="right" if column in ("requests", "tokens", "$", "time") else "left",
                         overflow="fold")
    totals = {"requests": 0, "tokens": 0, "cost_usd": 0.0, "seconds": 0.0}
    unknown_time = False
    for stage in plan.stages():
        done = store is not None and store.is_done(stage.key)
        estimate = {} if done else estimate_stage(stage, config)
        for key in totals:
            if estimate.get(key) is not None:
                totals[key] += estimate[key]
        unknown_time |= not done and estimate.get("seconds") is None
        table.add_row(stage.kind, stage.label, "done" if done else "to run", _fmt(estimate.get("requests")),
                      _fmt(estimate.get("tokens")), _money(estimate.get("cost_usd")), _time(estimate.get("seconds")))
    table.add_row("total", "", "", _fmt(totals["requests"]), _fmt(totals["tokens"]), _money(totals["cost_usd"]),
                  _time(totals["seconds"]) + ("+" if unknown_time else ""), style="bold")
    console.print(table)
    for note in plan.notes:
        console.print(f"note: {note}")
    console.print("estimates are rough: generation from expected output lengths and list prices, training and "
                  "evaluation time from CPU speeds measured here (GPU stages: unknown, shown as -)")
    return totals


def _fmt(value) -> str:
    return "-" if value is None else f"{int(value):,}"


def _money(value) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _time(seconds) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- the leaderboard on the terminal -------------------------------------------------------------------


def print_leaderboard(results: RunResults, console: Console) -> None:
    settings = sorted({(c.method, c.domain) for c in results.cells},
                      key=SETTINGS.index)
    table = Table(title=f"PGR (%) of {results.name}: student {results.student_base}")
    table.add_column("generator")
    for method, domain in settings:
        table.add_column(f"{METHOD_SHORT[method]} {domain}", justify="right")
    table.add_column("cost", justify="right")
    for gen in results.generators:
        row = [gen.name]
        for method, domain in settings:
            cell = next(
                (c for c in results.cells if (c.generator, c.method, c.domain) == (gen.name, method, domain)), None
            )
            row.append(_cell_text(cell))
        row.append(f"${gen.cost_usd:,.2f}" if gen.cost_usd else "free/local")
        table.add_row(*row)
    console.print(table)
    scores = Table(title="benchmark scores")
    for column in ("benchmark", "base", "reference"):
        scores.add_column(column, justify="left" if column == "benchmark" else "right")
    for bench in results.base.scores.keys() | results.reference.scores.keys():
        b, r = results.base.scores.get(bench), results.reference.scores.get(bench)
        scores.add_row(bench, "-" if b is None else f"{b.value:.1f}", "-" if r is None else f"{r.value:.1f}")
    console.print(scores)


def _cell_text(cell) -> str:
    if cell is None:
        return "-"
    if cell.status == "failed":
        return "failed"
    if cell.status != "done" or cell.domain_pgr is None:
        return "-"
    if cell.domain_pgr.value is None:
        return "n/a"
    ci = cell.domain_pgr.ci
    return f"{cell.domain_pgr.value:.1f}" + (f" [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else "")


def failures(results: RunResults) -> list[str]:
    lines = [f"{c.generator} {c.method}/{c.domain}: {c.error}" for c in results.cells if c.status == "failed"]
    for c in results.cells:
        if c.domain_pgr is not None and c.domain_pgr.value is None and c.domain_pgr.undefined_reason:
            lines.append(f"{c.generator} {c.method}/{c.domain}: PGR undefined: {c.domain_pgr.undefined_reason}")
    return lines


__all__ = ["Plan", "RunOutcome", "dry_run", "print_leaderboard", "run_benchmark"]
