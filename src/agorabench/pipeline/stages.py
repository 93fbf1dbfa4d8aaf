"""The stages of a benchmark run and what each one does.

A `Stage` is data: its kind, a label, the JSON-able parameters that determine its output, and the stages
it needs. `execute(kind, params, folder, needs)` does the work with the project's own commands' code
(generation engine, TRL training, evaluation harness, intrinsic metrics). It is a module-level function of
plain data, so an executor can run it in this process or ship it to a Ray worker.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agorabench.errors import AgorabenchError
from agorabench.io import agorabench_data
from agorabench.pipeline.store import stage_key

Kind = Literal["generate", "train", "evaluate", "intrinsic"]


class StageError(AgorabenchError):
    """A stage could not produce its output; the message is the one line the report shows."""


@dataclass
class Stage:
    kind: Kind
    label: str
    params: dict[str, Any]
    needs: dict[str, Stage] = field(default_factory=dict)  # role -> upstream stage
    estimate: dict[str, Any] = field(default_factory=dict)  # dry-run figures: requests, tokens, cost_usd, seconds
    gpus: float = 0.0  # what a Ray executor asks for
    runtime: dict[str, Any] = field(default_factory=dict)  # run-time parameters outside the key (endpoints, limits)

    @property
    def key(self) -> str:
        return stage_key(self.kind, {**self.params, "needs": {role: s.key for role, s in sorted(self.needs.items())}})


def gold_slice_path(domain: str) -> Path:
    """The bundled gold slice of a domain: our hand-written instruction/response pairs (answers computed,
    code tested), the instance-generation seeds. Disjoint from every benchmark item (13-gram checked)."""
    return agorabench_data("seeds", domain, "instance_generation.jsonl")


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# --- execution -----------------------------------------------------------------------------------------


def execute(kind: str, params: dict[str, Any], folder: Path, needs: dict[str, Path], progress: bool = False) -> None:
    runner = {"generate": _generate, "train": _train, "evaluate": _evaluate, "intrinsic": _intrinsic}[kind]
    runner(params, folder, needs, progress)


def generation_configs(params: dict[str, Any], folder: Path | None = None):
    """(generator, setting, generate config) of a generation stage, from its params (runtime merged in).
    The stage and the dry run's estimate build them here, so the estimate sees what the stage runs."""
    from agorabench.data.seeds import SeedSource
    from agorabench.generation.config import GenerateConfig
    from agorabench.generation.settings.config import SettingConfig, ValidationConfig
    from agorabench.llm.base import SamplingParams
    from agorabench.llm.config import GeneratorConfig

    generator = GeneratorConfig.model_validate(params["generator"])
    setting = SettingConfig(
        method=params["method"],
        domain=params["domain"],
        prompt_format=params["prompt_format"],
        example_turns=params.get("example_turns", 0),
        seeds=[SeedSource.model_validate(s) for s in params["seeds"]] or [SeedSource(source="agorabench")],
        validation=ValidationConfig(
            token_budget=params["token_budget"], tokenizer=params["tokenizer"],
            benchmark_paths=params.get("benchmark_paths") or {},
        ),
    )
    config = GenerateConfig(
        generator=generator,
        setting=setting,
        sampling=SamplingParams.model_validate(params["sampling"]),
        engine=params["engine"],
        n=params["instances"],
        seed=params["seed"],
        output_dir=folder,
    )
    return generator, setting, config


def _generate(params: dict[str, Any], folder: Path, needs: dict[str, Path], progress: bool) -> None:
    from agorabench.generation.progress import RichProgress
    from agorabench.generation.runner import SpendCapReached, run_generate
    from agorabench.generation.settings.registry import build_setting

    generator, setting, config = generation_configs(params, folder)
    task = build_setting(setting, config.n, config.seed)
    budget = params.get("budget_usd")  # what is left of the run's spend caps (pipeline/budget.py)
    try:
        if progress:
            with RichProgress(f"generate {generator.name} {params['method']}/{params['domain']}") as bar:
                result, _ = run_generate(config, generator, task, folder, progress=bar, budget_usd=budget)
        else:
            result, _ = run_generate(config, generator, task, folder, budget_usd=budget)
    except SpendCapReached as stopped:
        raise StageError(f"stopped at the spend cap: {stopped}") from None
    if result.records_total == 0:
        metadata = json.loads((folder / "metadata.json").read_text())
        reasons = metadata.get("counts", {}).get("failure_reasons", {})
        top = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])[:3])
        raise StageError(f"no valid instances out of {params['instances']} requested ({top or 'no reasons recorded'})")


def _train(params: dict[str, Any], folder: Path, needs: dict[str, Path], progress: bool) -> None:
    from agorabench.training.recipes import Recipe

    data = needs["data"] if "data" in needs else Path(params["data_path"])
    if params.get("max_examples"):
        lines = [line for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
        data = folder / "train_data.jsonl"
        data.write_text("".join(line + "\n" for line in lines[: params["max_examples"]]), encoding="utf-8")
    if params.get("subset"):  # a data-scaling size: a prefix of the dataset in the run seed's order
        from agorabench.training.data import DatasetError, nested_subset

        try:
            lines = nested_subset(data, params["subset"]["size"], params["subset"]["seed"])
        except DatasetError as exc:
            raise StageError(str(exc)) from None
        data = folder / "train_data.jsonl"
        data.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    recipe = Recipe.model_validate(params["recipe"])
    if params.get("launch"):
        import subprocess

        import yaml

        from agorabench.training.launch import launch_command, resolve_launch_config

        # The launched processes read the recipe from a file; beside the folder, so the checkpoint stays clean.
        recipe_file = folder.parent / f".{folder.name}.recipe.yaml"
        recipe_file.write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
        args = ["--data", str(data), "--base", params["base"], "--recipe", str(recipe_file), "--output", str(folder)]
        command = launch_command(resolve_launch_config(params["launch"]), args, params.get("num_processes"))
        code = subprocess.call(command)
        if code != 0:
            raise StageError(f"training under accelerate launch ({params['launch']}) exited with status {code}")
        return
    from agorabench.training.sft import train

    train(data, params["base"], recipe, folder, show_progress=progress)


def _evaluate(params: dict[str, Any], folder: Path, needs: dict[str, Path], progress: bool) -> None:
    from agorabench.evaluation.evaluate import evaluate_benchmark
    from agorabench.generation.progress import RichProgress
    from agorabench.llm.config import GeneratorConfig, resolve_generator

    if "model" in needs:  # a checkpoint trained by this run
        model = GeneratorConfig(name=params["label"], backend=params["backend"], model=str(needs["model"]))
    else:  # the base, the reference, or a generator scored as a problem solver
        model = GeneratorConfig.model_validate(params["generator"])
    judge = resolve_generator(params["judge"], "evaluation.judge") if params.get("judge") else None
    kwargs = {"limit": params["limit"], "seed": params["seed"], "judge": judge, "options": params["options"],
              "max_tokens": params["max_tokens"], "system_prompt": params.get("system_prompt")}
    if progress:
        with RichProgress(f"evaluate {params['label']} on {params['benchmark']}") as bar:
            evaluate_benchmark(model, params["benchmark"], folder, progress=bar, **kwargs)
    else:
        evaluate_benchmark(model, params["benchmark"], folder, **kwargs)


def _intrinsic(params: dict[str, Any], folder: Path, needs: dict[str, Path], progress: bool) -> None:
    from agorabench.metrics.intrinsic import IntrinsicConfig, compute_intrinsic

    options = IntrinsicConfig.model_validate(params["options"])
    compute_intrinsic(needs["data"], folder, options, progress=progress)
