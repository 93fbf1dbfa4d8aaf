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

from agorabench.errors import ConfigError
from agorabench.llm.registry import backend_spec
from agorabench.pipeline.assemble import assemble, write_results
from agorabench.pipeline.budget import RunBudget, check_caps
from agorabench.pipeline.config import RunConfig
from agorabench.pipeline.executor import Outcome, run_local
from agorabench.pipeline.plan import Plan, build_plan
from agorabench.pipeline.preflight import preflight
from agorabench.pipeline.stages import Stage
from agorabench.pipeline.store import ArtifactStore
from agorabench.results import RunResults
from agorabench.taxonomy import METHOD_SHORT, SETTINGS, parse_setting, setting_label
from agorabench.training.recipes import load_recipe, recipe_summary


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
    preflight(config, plan.generators)  # one line and nothing run when a generator or a setting cannot work
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    store = ArtifactStore(run_dir / "store")
    check_caps(config, plan, store)
    budget = RunBudget(config, plan, store)
    if config.executor == "ray" and budget.active:
        # Ray runs generation stages at once: a cap checked when each starts could be crossed by the others.
        raise ConfigError("max_cost_usd is kept by the local executor only: use executor: local with a spend cap")
    if config.executor == "ray":
        from agorabench.pipeline.ray_executor import run_ray

        outcomes = run_ray(plan, store, console=console, address=config.ray.address,
                           max_parallel=config.ray.max_parallel)
    else:
        outcomes = run_local(plan, store, progress=progress, console=console, budget=budget)
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
    """Tokens and seconds a training or evaluation stage would take (rough, labelled as such)."""
    if stage.kind == "train":
        return {"tokens": stage.estimate.get("train_tokens"), "seconds": stage.estimate.get("seconds")}
    if stage.kind == "evaluate":
        requests = stage.estimate.get("requests")
        if requests is None:
            from agorabench.data.benchmarks import get_benchmark
            from agorabench.data.hub import hub_reachable

            hub_reachable()  # offline: a Hub benchmark fails at once instead of retrying
            try:
                requests = len(get_benchmark(stage.params["benchmark"]).load(stage.params["options"]).items)
            except Exception:  # noqa: BLE001 - data not available offline: the plan says unknown
                requests = None
        tokens = None if requests is None else requests * (config.evaluation.max_tokens or 1024)
        seconds = None
        if tokens is not None and backend_spec(config.evaluation.backend).uses_gpu != "required":
            # Embedded-size models on CPU, batch 32 with continuous batching: the quickstart's IFEval runs took
            # 113-145 s for 200 prompts x 128 tokens, i.e. ~180-225 of these cap-tokens a second (many answers end
            # early). 60 before the local backend's own decode loop (docs/performance.md).
            seconds = tokens / 180.0
        return {"requests": requests, "tokens": tokens, "seconds": seconds}
    return {}


def dry_run(config: RunConfig, run_dir: Path, console: Console, *, stages: bool = False,
            json_path: Path | None = None) -> dict[str, Any]:
    """Print what the run would do and cost, send nothing. By default one row per generator x setting plus
    the training and evaluation totals; `stages`: one row per stage. `json_path`: the same as JSON."""
    from agorabench.data.hub import hub_reachable
    from agorabench.pipeline.estimate import estimate_generation, rows_as_json

    hub_reachable()  # once, up front: offline, nothing below waits on the Hub
    plan = build_plan(config)
    store = ArtifactStore(run_dir / "store") if (run_dir / "store").exists() else None
    rows, notes = estimate_generation(config, plan, store)
    notes = [*plan.notes, *notes]
    others: dict[str, dict[str, Any]] = {}
    per_stage = []
    for stage in plan.stages():
        if stage.kind == "generate":
            continue
        done = store is not None and store.is_done(stage.key)
        estimate = {} if done else estimate_stage(stage, config)
        group = others.setdefault(stage.kind, {"stages": 0, "to_run": 0, "requests": 0, "tokens": 0,
                                               "seconds": 0.0, "unknown_seconds": False})
        group["stages"] += 1
        group["to_run"] += not done
        for key in ("requests", "tokens", "seconds"):
            if estimate.get(key) is not None:
                group[key] += estimate[key]
        group["unknown_seconds"] |= not done and estimate.get("seconds") is None
        per_stage.append((stage, done, estimate))
    to_run = [r for r in rows if r.status != "done"]
    totals = {
        "requests": sum(r.requests for r in to_run),
        "prompt_tokens": sum(r.prompt_tokens for r in to_run),
        "output_tokens": sum(r.output_tokens for r in to_run),
        "cost_usd": round(sum(r.cost_usd or 0.0 for r in to_run), 2),
        "cost_complete": all(r.cost_usd is not None for r in to_run),
        "generation_seconds": sum(r.seconds or 0.0 for r in to_run),
    }
    title = f"plan for {config.name}: {len(plan.stages())} stages, {len(rows)} datasets"
    if stages:
        _print_stage_table(title, rows, per_stage, plan, console)
    else:
        _print_summary_table(title, rows, others, totals, console)
    trainings = [recipe_summary(load_recipe(s.recipe), s.num_processes or 1) for s in config.students]
    training = trainings[0]
    if len(config.students) == 1:
        _print_wrapped(console, f"students: {config.student.base}, recipe {training}")
    else:
        listed = "; ".join(f"{s.label} ({s.base}), recipe {t}" for s, t in zip(config.students, trainings, strict=True))
        _print_wrapped(console, f"students: {listed}")
    if config.scaling:
        smaller = ", ".join(map(str, config.data_sizes()[:-1]))
        _print_wrapped(console, f"data scaling: each dataset also trains on its first {smaller} records (nested "
                       f"prefixes in the order of seed {config.seed}) besides all {config.instances}")
    for note in notes:
        _print_wrapped(console, f"note: {note}")
    _print_wrapped(console, "assumptions (docs/running.md): prompts rendered from the seeds at 4 characters a "
                   "token; output lengths and rejection rates from priors unless this run measured them; list "
                   "prices (batch prices in batch mode); training and CPU evaluation times measured here, GPU "
                   "stages unknown (?)")
    summary = {"run": config.name, "datasets": rows_as_json(rows), "totals": totals, "other_stages": others,
               "training": training, "notes": notes}
    if json_path is not None:
        from agorabench.io import write_json_atomic

        write_json_atomic(json_path, summary)
    return summary


FLAG_CODES = {"offline": "o", "price?": "p", "endpoint?": "e", "short": "s"}


def _flag_codes(flags: list[str]) -> str:
    return "".join(FLAG_CODES[f] for f in flags)


SUMMARY_COLUMNS = (("generator", 22, "<"), ("!", 3, "<"), ("setting", 10, "<"), ("seeds", 5, ">"), ("reqs", 5, ">"),
                   ("in tok", 6, ">"), ("out tok", 7, ">"), ("$", 8, ">"), ("time", 6, ">"))


def _line(values: list[str]) -> str:
    cells = []
    for (_, width, align), value in zip(SUMMARY_COLUMNS, values, strict=True):
        value = value if len(value) <= width else value[: width - 1] + "~"
        cells.append(f"{value:{align}{width}}")
    return " ".join(cells).rstrip()


def _print_summary_table(title: str, rows, others, totals, console: Console) -> None:
    # Fixed widths, not rich's fitting: 54 rows for the paper's profile must read at 80 columns, no wrapping.
    lines = [title, _line([name for name, _, _ in SUMMARY_COLUMNS])]
    for r in rows:
        cost = "done" if r.status == "done" else _dollars(r.cost_usd)
        inputs = "-" if r.inputs is None and r.method == "instance_generation" else _short_count(r.inputs)
        lines.append(_line([r.generator, _flag_codes(r.flags), r.setting, inputs, _short_count(r.requests),
                            _short_count(r.prompt_tokens), _short_count(r.output_tokens), cost,
                            "batch" if r.batch else _time(r.seconds)]))
    lines.append(_line(["generation total", "", "", "", _short_count(totals["requests"]),
                        _short_count(totals["prompt_tokens"]), _short_count(totals["output_tokens"]),
                        _dollars(totals["cost_usd"]) + ("" if totals["cost_complete"] else "+"),
                        _time(totals["generation_seconds"])]))
    for kind, group in others.items():
        seconds = "?" if group["unknown_seconds"] and not group["seconds"] else (
            _time(group["seconds"]) + ("+" if group["unknown_seconds"] else ""))
        lines.append(_line([f"{kind}: {group['to_run']} of {group['stages']}", "", "", "",
                            _short_count(group["requests"] or None), _short_count(group["tokens"] or None), "", "",
                            seconds]))
    for line in lines:
        console.print(line, markup=False, highlight=False)
    _print_wrapped(console, "! o: seed size unknown offline, p: no price, e: needs base_urls, s: fewer seed inputs "
                   "than instances. seeds: RG/QE inputs the seeds hold. Batch-mode generators: $ at batch prices, "
                   "time 'batch' (within 24 h).")


def _print_wrapped(console: Console, text: str) -> None:
    """A note as lines of at most 80 characters (the dry run must read in an 80-column terminal)."""
    import textwrap

    console.print(textwrap.fill(text, width=80, subsequent_indent="  "), markup=False, highlight=False)


def _dollars(value) -> str:
    if value is None:
        return "?"
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def _print_stage_table(title: str, rows, per_stage, plan: Plan, console: Console) -> None:
    table = Table(title=title)
    for column in ("stage", "what", "status", "requests", "tokens", "$", "time"):
        table.add_column(column, justify="right" if column in ("requests", "tokens", "$", "time") else "left",
                         overflow="fold")
    by_label = {f"{r.generator}.{r.method}.{r.domain}": r for r in rows}
    for cell in {c.generate.key: c for c in plan.cells}.values():  # a dataset once, however many students
        r = by_label[cell.generate.label]
        label = cell.generate.label + (f" [{_flag_codes(r.flags)}]" if r.flags else "")
        table.add_row("generate", label, r.status, _fmt(r.requests),
                      _fmt(r.prompt_tokens + r.output_tokens), _money(r.cost_usd), _time(r.seconds))
    for stage, done, estimate in per_stage:
        table.add_row(stage.kind, stage.label, "done" if done else "to run", _fmt(estimate.get("requests")),
                      _fmt(estimate.get("tokens")), "-", _time(estimate.get("seconds")))
    console.print(table)


def _short_count(value) -> str:
    """12,345 as 12.3K, 597,100 as 597K, 4,567,890 as 4.6M: counts that fit a five-character column."""
    if value is None:
        return "?"
    value = float(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= size:
            scaled = value / size
            return f"{scaled:.1f}{unit}" if scaled < 100 else f"{scaled:.0f}{unit}"
    return f"{value:.0f}"


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
    students = results.students or [None]
    for student in students:
        name = student.name if student else None
        cells = [c for c in results.cells if len(students) == 1 or c.student == name]
        base_model = student.base_model if student else results.student_base
        if len(students) > 1 and student.name != base_model:
            base_model = f"{student.name} ({base_model})"
        table = Table(title=f"PGR (%) of {results.name}: student {base_model}")
        table.add_column("generator")
        for method, domain in settings:
            table.add_column(f"{METHOD_SHORT[method]} {domain}", justify="right")
        table.add_column("cost", justify="right")
        for gen in results.generators:
            row = [gen.name]
            for method, domain in settings:
                cell = next((c for c in cells if (c.generator, c.method, c.domain) == (gen.name, method, domain)), None)
                row.append(_cell_text(cell))
            row.append(f"${gen.cost_usd:,.2f}" if gen.cost_usd else "free/local")
            table.add_row(*row)
        console.print(table)
        scaled = [c for c in cells if len(c.scaling) > 1]
        if scaled:
            sizes = sorted({p.instances for c in scaled for p in c.scaling})
            curve = Table(title=f"data scaling: PGR (%) by training instances, student {base_model} "
                          "(its benchmark score after the |)")
            curve.add_column("generator")
            curve.add_column("setting")
            for size in sizes:
                curve.add_column(str(size), justify="right")
            for c in scaled:
                at = {p.instances: p for p in c.scaling}
                curve.add_row(c.generator, f"{METHOD_SHORT[c.method]} {c.domain}",
                              *[_point_text(at[size]) if size in at else "-" for size in sizes])
            console.print(curve)
        base, reference = (student.base, student.reference) if student else (results.base, results.reference)
        scores = Table(title="benchmark scores")
        for column in ("benchmark", "base", "reference"):
            scores.add_column(column, justify="left" if column == "benchmark" else "right")
        for bench in base.scores.keys() | reference.scores.keys():
            b, r = base.scores.get(bench), reference.scores.get(bench)
            scores.add_row(bench, "-" if b is None else f"{b.value:.1f}", "-" if r is None else f"{r.value:.1f}")
        console.print(scores)
    if results.agreement is not None and results.agreement.pairs:
        agree = Table(title="students' agreement on the ranking of generators (Kendall's tau, 95% CI)")
        for column in ("students", "scope", "tau", "order flips"):
            agree.add_column(column, justify="right" if column == "tau" else "left")
        for pair in results.agreement.pairs:
            tau = "n/a" if pair.tau is None else f"{pair.tau:+.2f}" + (
                f" [{pair.ci[0]:+.2f}, {pair.ci[1]:+.2f}]" if pair.ci else "")
            flips = ", ".join(f"{a} > {b}" for a, b in pair.flips) or "none"
            scope = pair.scope if pair.scope == "overall" else setting_label(*parse_setting(pair.scope))
            agree.add_row(" vs ".join(pair.students), scope, tau, flips)
        console.print(agree)


def _point_text(point) -> str:
    """A scaling point: its PGR, and the student's mean score over the domain's benchmarks (a curve to read
    even where PGR is undefined)."""
    scores = [s.value for s in point.student_scores.values()]
    return _cell_text(point) + (f" | {sum(scores) / len(scores):.1f}" if scores else "")


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
    text = f"{cell.domain_pgr.value:.1f}" + (f" [{ci[0]:.0f}, {ci[1]:.0f}]" if ci else "")
    return text + (" partial" if cell.domain_pgr.partial else "")


def failures(results: RunResults) -> list[str]:
    several = len(results.students) > 1

    def where(c) -> str:
        return f"{c.student}: " * several + f"{c.generator} {c.method}/{c.domain}"

    lines = [f"{where(c)}: {c.error}" for c in results.cells if c.status == "failed"]
    lines += [f"{where(c)} at {p.instances} instances: {p.error}"
              for c in results.cells for p in c.scaling if p.status == "failed"]
    for c in results.cells:
        if c.domain_pgr is not None and c.domain_pgr.value is None and c.domain_pgr.undefined_reason:
            lines.append(f"{where(c)}: PGR undefined: {c.domain_pgr.undefined_reason}")
        elif c.domain_pgr is not None and c.domain_pgr.partial:
            lines.append(f"{where(c)}: PGR is the mean of {', '.join(c.domain_pgr.benchmarks)}"
                         f" only ({', '.join(c.domain_pgr.missing)} has no defined PGR)")
    return lines


__all__ = ["Plan", "RunOutcome", "dry_run", "print_leaderboard", "run_benchmark"]
