"""The `agorabench` command."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from agorabench.data.benchmarks import BENCHMARKS
from agorabench.errors import AgorabenchError
from agorabench.generation.config import GenerateConfig
from agorabench.io import load_config, parse_model
from agorabench.llm.config import EMBEDDED_MODEL, GeneratorConfig, resolve_generator
from agorabench.training.recipes import PAPER_SYSTEM_PROMPT

app = typer.Typer(
    name="agorabench",
    help="Measure language models as synthetic data generators (AgoraBench).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root() -> None:
    """Measure language models as synthetic data generators (AgoraBench)."""


EXAMPLE_INSTRUCTIONS = Path(__file__).parent / "data" / "examples" / "instructions.jsonl"


def fail(message: str, code: int = 2) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def user_errors(command):
    """Turn expected problems into one line on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except AgorabenchError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            print(
                "interrupted: finished records are saved; run the same command again to resume",
                file=sys.stderr,
            )
            raise typer.Exit(130) from None

    return wrapper


def _override(config: GenerateConfig, section: str, **values: Any) -> GenerateConfig:
    """Apply command-line values (those given) on top of the config file, re-validating them."""
    given = {k: v for k, v in values.items() if v is not None}
    if not given:
        return config
    data = config.model_dump()
    data[section] = {**data[section], **given}
    return parse_model(GenerateConfig, data, "command line")


@app.command()
@user_errors
def generate(
    config_file: Annotated[Path | None, typer.Option("--config", "-c", help="YAML file of generate settings")] = None,
    generator: Annotated[
        str | None,
        typer.Option(
            "--generator", "-g", help=f"preset, generator .yaml, or backend:model (default: {EMBEDDED_MODEL})"
        ),
    ] = None,
    base_url: Annotated[
        list[str] | None, typer.Option("--base-url", help="endpoint URL; repeat to spread load over several")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(help="AgoraBench method: instance_generation, response_generation, quality_enhancement"),
    ] = None,
    domain: Annotated[str | None, typer.Option(help="AgoraBench domain: math, code, general")] = None,
    prompt_format: Annotated[
        str | None, typer.Option(
            "--format",
            help="prompt/output format of a setting: text or json (schema-enforced); default: json for "
            f"{EMBEDDED_MODEL}, text (the paper's) for other generators",
        )
    ] = None,
    seeds: Annotated[
        list[str] | None,
        typer.Option(
            "--seeds",
            help="seed source as SOURCE or SOURCE=PATH_OR_HUB_ID (repeatable), e.g. gsm8k=openai/gsm8k; "
            "default: the bundled offline seeds",
        ),
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="JSONL of instructions to answer (no --method)")
    ] = None,
    n: Annotated[int | None, typer.Option("-n", help="number of records (default: all inputs)")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="output folder")] = None,
    seed: Annotated[int | None, typer.Option(help="run seed (sampling and ordering)")] = None,
    temperature: Annotated[float | None, typer.Option(help="sampling temperature (default: 1.0)")] = None,
    top_p: Annotated[float | None, typer.Option(help="nucleus sampling (default: 0.9)")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="max tokens per response (default: 4096)")] = None,
    concurrency: Annotated[int | None, typer.Option(help="requests in flight (default: generator's)")] = None,
    cache: Annotated[bool | None, typer.Option("--cache/--no-cache", help="reuse identical requests")] = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost", help="spend cap in US dollars for the output folder (engine.max_cost_usd)"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="estimate cost and time; send nothing")] = False,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="progress bar (default: on a terminal)")
    ] = None,
) -> None:
    """Generate records with a generator model; rerun the same command to resume."""
    from agorabench.generation.answer_task import AnswerTask
    from agorabench.generation.progress import RichProgress, wants_progress
    from agorabench.generation.runner import SpendCapReached, run_generate

    config = load_config(GenerateConfig, config_file) if config_file else GenerateConfig()
    # What the config file itself says (the overrides below re-validate, after which every field looks set).
    file_sets_format = config.setting is not None and "prompt_format" in config.setting.model_fields_set
    file_sets_max_tokens = "max_tokens" in config.sampling.model_fields_set
    config = _override(config, "sampling", temperature=temperature, top_p=top_p, max_tokens=max_tokens)
    config = _override(config, "engine", cache=cache, max_cost_usd=max_cost)
    if n is not None:
        config = config.model_copy(update={"n": n})
    if seed is not None:
        config = config.model_copy(update={"seed": seed})

    source = str(config_file) if config_file and generator is None else "--generator"
    gen = resolve_generator(generator if generator is not None else config.generator, source)
    gen = _override_generator(gen, base_urls=base_url, max_concurrency=concurrency)

    wants_setting = method is not None or domain is not None or config.setting is not None
    if prompt_format is None and wants_setting and not file_sets_format:
        from agorabench.generation.settings.config import EMBEDDED_MAX_TOKENS, default_prompt_format

        prompt_format = default_prompt_format(gen)  # json for the embedded model, text for the others
        if prompt_format == "json" and max_tokens is None and not file_sets_max_tokens:
            config = _override(config, "sampling", max_tokens=EMBEDDED_MAX_TOKENS)
    config = _with_setting(config, method, domain, prompt_format, seeds, input_file)
    if config.setting is not None:
        from agorabench.generation.settings.registry import build_setting

        task = build_setting(config.setting, config.n, config.seed)
        out = output or config.output_dir or Path("runs") / gen.name / config.setting.method / config.setting.domain
    else:
        path = input_file or config.task.input or EXAMPLE_INSTRUCTIONS
        task = AnswerTask.from_file(path, config.task.system_prompt)
        out = output or config.output_dir or Path("runs") / gen.name / task.name
        config = config.model_copy(update={"task": config.task.model_copy(update={"input": path})})
    # Record what was actually used (defaults included) in the run's metadata.
    config = config.model_copy(update={"output_dir": out, "generator": gen})

    if dry_run:
        _, plan = run_generate(config, gen, task, out, dry_run=True)
        _print_plan(gen, plan)
        return
    bar = RichProgress(f"{gen.name}/{task.name}") if wants_progress(progress) else None
    try:
        if bar is not None:
            with bar:
                result, _ = run_generate(config, gen, task, out, progress=bar)
        else:
            result, _ = run_generate(config, gen, task, out)
    except SpendCapReached as stopped:  # one line, not an error: records so far are kept
        print(str(stopped), file=sys.stderr)
        raise typer.Exit(stopped.exit_code) from None
    _print_summary(result)


@app.command()
@user_errors
def evaluate(
    model: Annotated[
        str, typer.Option("--model", "-m", help="checkpoint folder, Hub id, preset, backend:model or generator .yaml")
    ],
    benchmark: Annotated[
        str,
        typer.Option("--benchmark", "-b", help=f"comma-separated, of: {', '.join(BENCHMARKS)}"),
    ] = "gsm8k",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="output folder")] = None,
    limit: Annotated[int | None, typer.Option(help="a seeded random subset of N items per benchmark")] = None,
    seed: Annotated[int, typer.Option(help="subset and sampling seed")] = 42,
    judge: Annotated[
        str | None, typer.Option(help="judge model for alpaca_eval and arena_hard (preset, backend:model, .yaml)")
    ] = None,
    benchmark_path: Annotated[
        str | None, typer.Option(help="local file or Hub id for benchmarks that do not ship (math, mbpp)")
    ] = None,
    workers: Annotated[int, typer.Option(help="grading processes")] = 2,
    system_prompt: Annotated[
        str, typer.Option(help="system message opening every prompt: the built-in recipes train students with "
                          "this one (the paper's code's); '' for none")
    ] = PAPER_SYSTEM_PROMPT,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="progress bar (default: on a terminal)")
    ] = None,
) -> None:
    """Score a model on benchmarks: per-item results and a summary with a 95% CI."""
    from agorabench.data.benchmarks import get_benchmark
    from agorabench.evaluation.evaluate import evaluate as run_evaluation
    from agorabench.evaluation.runner import resolve_model

    names = [name.strip() for name in benchmark.split(",") if name.strip()]
    for name in names:
        get_benchmark(name)
    target = resolve_model(model)
    judge_config = resolve_generator(judge, "--judge") if judge else None
    out = output or Path("runs") / "evaluate" / target.name
    options = {"path": benchmark_path} if benchmark_path else {}
    from agorabench.generation.progress import RichProgress, wants_progress

    bar = RichProgress(f"{target.name} answering") if wants_progress(progress) else None
    if bar is not None:
        with bar:
            summaries = run_evaluation(
                target, names, out, limit=limit, seed=seed, judge=judge_config, options=options, workers=workers,
                progress=bar, system_prompt=system_prompt or None,
            )
    else:
        summaries = run_evaluation(
            target, names, out, limit=limit, seed=seed, judge=judge_config, options=options, workers=workers,
            system_prompt=system_prompt or None,
        )
    for name, summary in summaries.items():
        low, high = summary["ci95"]
        print(
            f"{name:12} {summary['metric']:>30}: {summary['score']:6.2f}  "
            f"(95% CI {low:.2f}-{high:.2f}, n={summary['n']})"
        )
    print(f"results in {out}")


@app.command()
@user_errors
def train(
    data: Annotated[str, typer.Option("--data", "-d", help="generated run folder or JSONL with instruction/response")],
    base: Annotated[
        str, typer.Option("--base", "-b", help="student base: Hub id, local folder or embedded model name")
    ] = EMBEDDED_MODEL,
    recipe: Annotated[
        str, typer.Option("--recipe", "-r", help="agorabench, cpu-small, lora, tiny, or a recipe .yaml")
    ] = "cpu-small",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="output folder (checkpoint, log, recipe)")
    ] = None,
    launch: Annotated[
        str | None,
        typer.Option(
            "--launch",
            help="run under `accelerate launch` with a config: multi_gpu, fsdp, deepspeed_zero3, multi_cpu, or a YAML",
        ),
    ] = None,
    num_processes: Annotated[
        int | None, typer.Option("--num-processes", min=1, help="processes (GPUs) for --launch; default: the config's")
    ] = None,
) -> None:
    """Fine-tune a student base model on a synthetic dataset (SFT, loss on responses only)."""
    from agorabench.training.launch import inside_launcher, resolve_launch_config, run_launched
    from agorabench.training.recipes import load_recipe
    from agorabench.training.sft import train as run_training

    resolved = load_recipe(recipe)
    out = output or Path("runs") / "train" / f"{Path(base).name}-{resolved.name}"
    if launch is not None and not inside_launcher():
        config = resolve_launch_config(launch)
        args = ["--data", data, "--base", base, "--recipe", recipe, "--output", str(out)]
        raise typer.Exit(run_launched(config, args, num_processes))
    result = run_training(data, base, resolved, out, show_progress=True)
    if not _is_main_process():
        return
    first, last = (result.losses[0], result.losses[-1]) if result.losses else (float("nan"), float("nan"))
    print(
        f"trained {result.examples} examples, {result.steps} steps: loss {first:.3f} -> {last:.3f}, "
        f"{result.tokens_per_s:.0f} tokens/s, {result.peak_memory_gb:.1f} GB peak"
    )
    if result.overlength:
        action = "dropped" if resolved.overlength == "drop" else "truncated"
        print(f"{result.overlength} examples longer than {resolved.max_length} tokens were {action}")
    print(f"checkpoint in {out}")

@app.command()
@user_errors
def run(
    config_file: Annotated[
        Path | None, typer.Argument(help="run config YAML (default: the quickstart profile)")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="run folder (default: runs/<name>)")] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", help="a built-in profile instead of a file: quickstart, quickstart-gemma, tiny, tiny-beyond, "
            "agorabench"
        ),
    ] = None,
    tiny: Annotated[
        bool, typer.Option("--tiny", help="the tiny profile: the whole pipeline in miniature (<3 min)")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan with estimated cost and time; run nothing")
    ] = False,
    stages: Annotated[
        bool, typer.Option("--stages", help="with --dry-run: one row per stage instead of per generator x setting")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="with --dry-run: also write the estimate as JSON to this file")
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="progress bars (default: on a terminal)")
    ] = None,
) -> None:
    """Rank generators as data generators: generate -> train -> evaluate -> PGR for every generator and
    setting, then the report. Rerun the same command to resume; finished stages are reused."""
    from rich.console import Console

    from agorabench.generation.progress import wants_progress
    from agorabench.pipeline.config import load_run_config, profile_config
    from agorabench.pipeline.run import dry_run as print_plan
    from agorabench.pipeline.run import failures, print_leaderboard, run_benchmark

    if sum(x is not None and x is not False for x in (config_file, profile, tiny or None)) > 1:
        raise AgorabenchError("give one of CONFIG, --profile or --tiny")
    if config_file is not None:
        config = load_run_config(config_file)
    else:
        config = profile_config("tiny" if tiny else profile or "quickstart")
    run_dir = output or Path("runs") / config.name
    console = Console(stderr=True, highlight=False, soft_wrap=True)  # a stage line stays one line in logs
    if dry_run:
        print_plan(config, run_dir, console, stages=stages, json_path=json_out)
        return
    if stages or json_out is not None:
        raise AgorabenchError("--stages and --json go with --dry-run")
    outcome = run_benchmark(config, run_dir, progress=wants_progress(progress), console=console)
    out = Console(highlight=False, soft_wrap=True)
    print_leaderboard(outcome.results, out)
    for line in failures(outcome.results):
        out.print(f"  {line}")
    out.print(f"results: {run_dir / 'results.json'}")
    if outcome.report is not None:
        out.print(f"report: {outcome.report}")
    if any(o.status == "failed" for o in outcome.outcomes.values()):
        raise typer.Exit(1)


@app.command()
@user_errors
def report(
    run_path: Annotated[Path, typer.Argument(help="run folder (or its results.json)")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="report folder (default: RUN/report)")] = None,
    analysis: Annotated[bool, typer.Option("--analysis/--no-analysis", help="add the analysis sections")] = True,
) -> None:
    """Write the report of a run: Markdown, one self-contained HTML page, JSON and CSV."""
    from agorabench.pipeline.run import write_run_report
    from agorabench.report import load_results

    results = load_results(run_path)
    folder = run_path if run_path.is_dir() else run_path.parent
    files, skipped = write_run_report(results, folder, out=output, analysis=analysis)
    if skipped:
        print(f"analysis left out: {skipped}", file=sys.stderr)
    print(f"report: {files['report.html']}")
    print(f"markdown: {files['report.md']}")


@app.command()
@user_errors
def analyze(
    source: Annotated[Path, typer.Argument(help="a finished run folder, its results.json, or a CSV table")],
    json_out: Annotated[Path | None, typer.Option("--json", help="write the analysis as JSON here")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="principal components in the PGR regression")] = 5,
    plots: Annotated[Path | None, typer.Option("--plots", help="folder for the plots (PNG)")] = None,
) -> None:
    """Relate PGR to problem-solving scores, intrinsic metrics (PCA, regression) and cost."""
    from agorabench.analysis import analyze as run_analysis

    result = run_analysis(source, json_out, k=k, plots_dir=plots)
    for level in ("coarse", "fine"):
        c = result["correlation"][level]
        print(f"problem solving vs PGR ({level}): r2 {_num(c.get('r2'))}, p {_num(c.get('p'))}, n {c.get('n')}")
    reg = result["regression"]
    print(f"PGR ~ top {reg.get('k')} components: r2 {_num(reg.get('r2'))}, p {_num(reg.get('p'))}")
    frontier = result.get("cost", {}).get("frontier") or []
    if frontier:
        print("cost-PGR frontier (cheapest first): " + ", ".join(map(str, frontier)))
    for note in result.get("source", {}).get("notes", []):
        print(f"note: {note}")
    if json_out is not None:
        print(f"json: {json_out}")


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"


@app.command()
@user_errors
def budget(
    source: Annotated[Path, typer.Argument(
        metavar="RUN", help="a finished run folder, its results.json, or a CSV table")],
    budget_usd: Annotated[str, typer.Option("--budget", metavar="USD", help="US dollars to spend")],
    instances: Annotated[str | None, typer.Option(
        "--instances", metavar="N", help="plan exactly N instances per setting")] = None,
    student: Annotated[str | None, typer.Option(
        "--student", help="whose PGR to plan by, in a run with several students (default: the first)")] = None,
    price: Annotated[list[str] | None, typer.Option(
        "--price", metavar="NAME=INPUT,OUTPUT",
        help="price a generator (USD per 1M prompt, completion tokens), e.g. a local one; repeatable")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the plan as JSON here")] = None,
) -> None:
    """Which generator, and how many instances, a budget buys per setting (and the best mix), from measured PGR."""
    from agorabench.analysis import planner
    from agorabench.io import write_json_atomic

    dollars = planner.parse_budget(budget_usd)
    size = planner.parse_instances(instances)
    prices = {}
    for text in price or []:
        name, p_in, p_out = planner.parse_price(text)
        prices[name] = (p_in, p_out)
    result = planner.plan_budget(source, dollars, instances=size, student=student, prices=prices)
    for line in planner.plan_lines(result):
        print(line)
    if json_out is not None:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(json_out, result, indent=1)
        except OSError as exc:
            raise AgorabenchError(f"--json {json_out}: cannot write ({exc.strerror or exc})") from None
        print(f"json: {json_out}")


@app.command()
@user_errors
def intrinsic(
    dataset: Annotated[Path, typer.Argument(help="a generated run folder or a JSONL of instruction/response")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="output folder (default: beside the data)")
    ] = None,
    config_file: Annotated[Path | None, typer.Option("--config", "-c", help="YAML of intrinsic-metric options")] = None,
    judge: Annotated[str | None, typer.Option(help="judge for difficulty and quality (a generator spec)")] = None,
    reward_model: Annotated[str | None, typer.Option(help="sequence-classification reward model")] = None,
    base: Annotated[str | None, typer.Option(help="student base for response perplexity")] = None,
    embedder: Annotated[str | None, typer.Option(help="sentence embedder for diversity ('none' to skip)")] = None,
    max_examples: Annotated[int | None, typer.Option(help="a seeded subset of this many examples")] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress")] = None,
) -> None:
    """Measure a dataset: instruction difficulty, response quality, reward, perplexity, diversity."""
    from agorabench.generation.progress import wants_progress
    from agorabench.metrics.intrinsic import IntrinsicConfig, compute_intrinsic, default_out_dir

    options = load_config(IntrinsicConfig, config_file) if config_file else IntrinsicConfig()
    given = {"judge": judge, "reward_model": reward_model, "base": base, "max_examples": max_examples}
    if embedder is not None:
        given["embedder"] = None if embedder.lower() == "none" else embedder
    given = {k: v for k, v in given.items() if v is not None or k == "embedder"}
    options = parse_model(IntrinsicConfig, {**options.model_dump(), **given}, "command line")
    out = output or default_out_dir(dataset)
    result = compute_intrinsic(dataset, out, options, progress=wants_progress(progress))
    for name, value in result.metrics.items():
        print(f"{name}: {'n/a' if value is None else f'{value:.4g}'}")
    print(f"per example: {out / 'per_example.jsonl'}")



def _is_main_process() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _with_setting(
    config: GenerateConfig,
    method: str | None,
    domain: str | None,
    prompt_format: str | None,
    seeds: list[str] | None,
    input_file: Path | None,
) -> GenerateConfig:
    """Apply --method/--domain/--format/--seeds on top of the config file's `setting`."""
    if method is None and domain is None and prompt_format is None and not seeds:
        return config
    if input_file is not None:
        fail("--input answers a file of instructions; settings (--method/--domain) take --seeds instead")
    data = config.setting.model_dump() if config.setting is not None else {}
    given = {"method": method, "domain": domain, "prompt_format": prompt_format}
    data.update({k: v for k, v in given.items() if v is not None})
    if seeds:
        data["seeds"] = [_seed_source(spec) for spec in seeds]
    for flag in ("method", "domain"):
        if flag not in data:
            fail(f"--{flag} is required with --method/--domain (both name the setting)")
    return parse_model(GenerateConfig, {**config.model_dump(), "setting": data}, "command line")


def _seed_source(spec: str) -> dict[str, Any]:
    source, sep, path = spec.partition("=")
    return {"source": source, "path": path if sep else None}


def _override_generator(gen: GeneratorConfig, **values: Any) -> GeneratorConfig:
    given = {k: v for k, v in values.items() if v}
    if not given:
        return gen
    return parse_model(GeneratorConfig, {**gen.model_dump(), **given}, "command line")


def _print_plan(gen: GeneratorConfig, plan: dict[str, Any]) -> None:
    cost = "unknown (no price for this model; set generator.pricing)" if plan["cost_usd"] is None else (
        f"${plan['cost_usd']:.4f} expected, at most ${plan['max_cost_usd']:.4f}"
    )
    print(f"dry run for generator {gen.name!r} ({gen.backend}:{gen.model}); nothing was sent")
    print(f"  requests:      {plan['requests']} (already done: {plan['already_done']})")
    print(f"  prompt tokens: ~{plan['prompt_tokens']:,}")
    print(
        f"  output tokens: ~{plan['output_tokens']:,} "
        f"({plan['output_tokens_per_request']} per request, before retries)"
    )
    print(f"  cost:          {cost}")
    if plan.get("spend_cap_usd") is not None:
        print(f"  spend cap:     ${plan['spend_cap_usd']:.4f} (${plan.get('spent_usd') or 0.0:.4f} already spent)")
    print(f"  time:          ~{_duration(plan['seconds'])}")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _print_summary(result) -> None:
    stats = result.stats
    print(
        f"{result.status}: {result.records_total} records in {result.output_dir / 'records.jsonl'} "
        f"({stats.succeeded} new, {stats.cached_responses} from cache), {result.failures_total} failed"
    )
    if stats.failure_reasons:
        reasons = ", ".join(f"{k}: {v}" for k, v in stats.failure_reasons.most_common())
        print(f"  failures: {reasons} (see failed.jsonl; rerun to retry them)")
    if stats.rejections:
        print("  rejected outputs: " + ", ".join(f"{k}: {v}" for k, v in stats.rejections.most_common()))
    if stats.transport_errors:
        print("  retried errors: " + ", ".join(f"{k}: {v}" for k, v in stats.transport_errors.most_common()))
    wall = stats.as_dict()["wall_time_s"]
    print(
        f"  {stats.requests} requests, {stats.prompt_tokens + stats.completion_tokens:,} tokens, "
        f"${stats.cost_usd:.4f} spent this run (${result.cost_usd_total:.4f} for all records), {wall:.1f} s"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
