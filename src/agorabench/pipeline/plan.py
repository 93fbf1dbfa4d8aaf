"""From a run config to the stages to run, in an order where every stage comes after what it needs.

    per student:
      base student ──evaluate──▶ one per benchmark            (shared by every cell of the student)
      reference    ──evaluate──▶ one per benchmark            (a model; or per domain: train on gold, evaluate)
    per (generator, setting): generate                        (one dataset, shared by every student)
      ├──▶ per student: train ──▶ evaluate on each benchmark of the setting's domain
      │        and per smaller `scaling` size: train on the first N records ──▶ evaluate
      └──▶ intrinsic metrics (when enabled)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agorabench.errors import AgorabenchError, ConfigError
from agorabench.evaluation.graders import grading_version
from agorabench.generation.settings.registry import setting_fingerprint
from agorabench.io import installed_versions
from agorabench.llm.config import GeneratorConfig, resolve_generator
from agorabench.llm.registry import backend_spec
from agorabench.metrics.intrinsic.rubrics import RUBRIC_VERSION
from agorabench.pipeline.config import RunConfig, StudentConfig
from agorabench.pipeline.stages import Stage, file_digest, gold_slice_path
from agorabench.training.recipes import accumulation_steps, load_recipe

# Rough training speed for the dry-run estimate: measured cpu-small on 2 cores (docs/performance.md).
CPU_TRAIN_TOKENS_PER_S = 170.0
TOKENS_PER_EXAMPLE = 400  # instruction + response, a typical synthetic example
TRAINING_PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate")


@dataclass
class ScalePoint:
    """A student trained on the first `instances` records of a cell's dataset, and its evaluations."""

    instances: int
    train: Stage
    evaluate: dict[str, Stage]


@dataclass
class Cell:
    generator: str
    method: str
    domain: str
    generate: Stage
    train: Stage
    evaluate: dict[str, Stage]
    intrinsic: Stage | None = None
    student: str = ""
    scaling: list[ScalePoint] = field(default_factory=list)  # the sizes below the whole dataset, smallest first


@dataclass
class StudentPlan:
    """One student's own stages: its base's evaluations and its reference."""

    name: str
    config: StudentConfig
    base: dict[str, Stage]  # benchmark -> evaluation of the base
    reference: dict[str, Stage]  # benchmark -> evaluation of the reference
    reference_training: dict[str, Stage]  # domain -> gold training (gold reference only)
    reference_label: str = ""
    reference_model: str = ""


@dataclass
class Plan:
    config: RunConfig
    generators: list[GeneratorConfig]
    students: list[StudentPlan]
    generator_scores: dict[str, dict[str, Stage]]  # generator -> benchmark -> evaluation of the generator itself
    cells: list[Cell]
    notes: list[str] = field(default_factory=list)

    # The first student's stages: what a one-student run has.
    @property
    def base(self) -> dict[str, Stage]:
        return self.students[0].base

    @property
    def reference(self) -> dict[str, Stage]:
        return self.students[0].reference

    @property
    def reference_training(self) -> dict[str, Stage]:
        return self.students[0].reference_training

    def stages(self) -> list[Stage]:
        """Every stage once, upstream first."""
        ordered: list[Stage] = []
        seen: set[str] = set()

        def add(stage: Stage) -> None:
            if stage.key in seen:
                return
            for need in stage.needs.values():
                add(need)
            seen.add(stage.key)
            ordered.append(stage)

        for student in self.students:
            for stage in [*student.base.values(), *student.reference_training.values(), *student.reference.values()]:
                add(stage)
        for stages in self.generator_scores.values():
            for stage in stages.values():
                add(stage)
        for cell in self.cells:
            for stage in [cell.generate, cell.train, *cell.evaluate.values()]:
                add(stage)
            for point in cell.scaling:
                for stage in [point.train, *point.evaluate.values()]:
                    add(stage)
            if cell.intrinsic is not None:
                add(cell.intrinsic)
        return ordered


def _generator_identity(gen: GeneratorConfig) -> dict[str, Any]:
    """What decides a generator's outputs: its name (two names are two generators, e.g. one model served by two
    providers) and model settings; not its endpoints, concurrency or limits, which change speed only."""
    return gen.model_dump(mode="json", include={"name", "backend", "model", "prompt_template", "dtype", "engine_args"})


def build_plan(config: RunConfig) -> Plan:
    generators = [
        g if isinstance(g, GeneratorConfig) else resolve_generator(g, f"generators[{i}]")
        for i, g in enumerate(config.generators)
    ]
    names = [g.name for g in generators]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"generators: names must be unique; {', '.join(twice)} appears more than once")
    use_gpus = config.executor == "ray" and config.ray.gpus

    def gpus(count: int) -> float:
        """What a model-running stage asks a Ray cluster for (the local executor ignores it)."""
        return float(count) if use_gpus else 0.0

    recipes = {}
    for student in config.students:
        recipes[student.label] = load_recipe(student.recipe)
        # An effective batch a recipe cannot keep on its launch: one line, before anything runs.
        accumulation_steps(recipes[student.label], student.num_processes or 1)
    ev = config.evaluation
    domains = config.domains()
    notes = []
    skipped = sorted({d for _, d in config.setting_pairs()} - set(domains))
    if skipped:
        notes.append(f"no benchmarks for domain(s) {', '.join(skipped)}: their settings are not run")
    several = len(config.students) > 1

    def train_stage(student: StudentConfig, label: str, data: Stage | Path, examples: int,
                    subset: int | None = None) -> Stage:
        recipe = recipes[student.label]
        params = {"base": student.base, "recipe": recipe.model_dump(mode="json"), "launch": student.launch,
                  "num_processes": student.num_processes,
                  # The libraries that decide the trained weights: an upgrade retrains rather than reuses.
                  "packages": installed_versions(TRAINING_PACKAGES)}
        needs = {}
        if isinstance(data, Stage):
            needs["data"] = data
            if subset is not None:  # a scaling size: the first N records in the run seed's order
                params["subset"] = {"size": subset, "seed": config.seed}
                examples = subset
        else:
            gold = config.reference.gold
            params.update(data_path=str(data), data_sha256=file_digest(data),
                          max_examples=gold.max_examples if gold else None)
            examples = min(examples, params["max_examples"] or examples)
        per_example = min(TOKENS_PER_EXAMPLE, recipe.max_length)
        tokens = examples * per_example * recipe.num_epochs
        if recipe.max_steps > 0:
            per_step = recipe.per_device_batch_size * recipe.gradient_accumulation_steps * per_example
            tokens = min(tokens, recipe.max_steps * per_step)
        gpu = student.launch is not None or backend_spec(config.evaluation.backend).uses_gpu == "required"
        estimate = {"train_tokens": int(tokens), "seconds": None if gpu else tokens / CPU_TRAIN_TOKENS_PER_S}
        return Stage("train", label, params, needs, estimate, gpus=gpus(student.num_processes or 1))

    def eval_stage(student: StudentConfig, label: str, benchmark: str, model: Stage | GeneratorConfig) -> Stage:
        # The label is not part of the key: the base and a generator that are the same model (the quickstart's
        # SmolLM2) share one evaluation.
        params = {"benchmark": benchmark, "limit": ev.limit, "max_tokens": ev.max_tokens, "judge": ev.judge,
                  "seed": config.seed, "options": ev.options.get(benchmark, {}), "backend": ev.backend,
                  # The recipe's system prompt opens every evaluation prompt, as it opened every training example.
                  "system_prompt": recipes[student.label].system_prompt,
                  # The benchmark's and its grader's versions: a changed prompt or grader redoes the scores.
                  "grading": grading_version(benchmark)}
        needs, runtime = {}, {"label": label}
        if isinstance(model, Stage):
            needs["model"] = model
        else:
            params["generator"] = _generator_identity(model)
            runtime["generator"] = model.model_dump(mode="json")
        requests = ev.limit or 0
        estimate = {"requests": requests or None, "output_tokens": requests * (ev.max_tokens or 1024) or None}
        runs_a_model = isinstance(model, Stage) or backend_spec(model.backend).runs_model_here
        return Stage("evaluate", f"{label}.{benchmark}", params, needs, estimate,
                     gpus=gpus(1) if runs_a_model else 0.0, runtime=runtime)

    def model_to_evaluate(spec: str, field: str) -> GeneratorConfig:
        from agorabench.evaluation.runner import resolve_model

        try:
            model = resolve_model(spec)
        except AgorabenchError as exc:
            raise ConfigError(f"{field}: {exc}") from None
        # Models that run in process (checkpoints, Hub ids, embedded) run with the configured in-process backend.
        if backend_spec(model.backend).in_process and model.backend != ev.backend:
            model = model.model_copy(update={"backend": ev.backend})
        return model

    benchmarks = {b: d for d in domains for b in ev.benchmarks[d]}
    benchmark_paths = {b: str(o["path"]) for b, o in sorted(ev.options.items()) if o.get("path")}
    gold_files: dict[str, tuple[Path, int]] = {}
    if config.reference.model is None:
        for domain in domains:
            path = Path(config.reference.gold.data.get(domain) or gold_slice_path(domain))
            if not path.is_file():
                raise ConfigError(f"reference.gold.data.{domain}: {path} is not a file")
            gold_files[domain] = (path, sum(1 for line in path.open(encoding="utf-8") if line.strip()))
    students: list[StudentPlan] = []
    for i, student in enumerate(config.students):
        where = f"students[{i}]" if several else "student"
        prefix = f"{student.label}." if several else ""  # labels only: keys do not depend on them
        base_model = model_to_evaluate(student.base, f"{where}.base")
        base = {b: eval_stage(student, f"{prefix}base", b, base_model) for b in benchmarks}
        reference: dict[str, Stage] = {}
        reference_training: dict[str, Stage] = {}
        reference_spec = student.reference or config.reference.model
        if reference_spec is not None:
            named_in = f"{where}.reference" if student.reference else "reference.model"
            reference_model = model_to_evaluate(reference_spec, named_in)
            reference = {b: eval_stage(student, f"{prefix}reference", b, reference_model) for b in benchmarks}
            label = f"{reference_spec} (reference)"
        else:
            for domain, (path, examples) in gold_files.items():
                reference_training[domain] = train_stage(student, f"{prefix}reference-gold-{domain}", path, examples)
                for b in ev.benchmarks[domain]:
                    reference[b] = eval_stage(student, f"{prefix}reference", b, reference_training[domain])
            label = f"{student.base} trained on gold data (reference)"
        students.append(StudentPlan(student.label, student, base, reference, reference_training,
                                    label, reference_spec or "gold"))
    if several and config.reference.model is not None:
        shared = [s.label for s in config.students if not s.reference]
        if len(shared) > 1:
            notes.append(f"students {', '.join(shared)} share the reference {config.reference.model}: give each "
                         "student its own `reference` (its base's instruct sibling) for the paper's PGR")

    generator_scores = {}
    if ev.score_generators:
        first = config.students[0]
        generator_scores = {
            gen.name: {b: eval_stage(first, f"generator-{gen.name}", b, gen) for b in benchmarks} for gen in generators
        }
    sizes = config.data_sizes()
    cells = []
    for gen in generators:
        for method, domain in config.setting_pairs():
            if domain not in domains:
                continue
            setting = f"{method}/{domain}"
            seeds = [s.model_dump(mode="json") for s in config.generation.seeds.get(setting, [])]
            params = {
                "generator": _generator_identity(gen), "method": method, "domain": domain,
                "instances": config.instances, "seed": config.seed, "seeds": seeds,
                "prompt_format": config.generation.prompt_format,
                # Only where set (and only RG reads it): older runs' generate keys stay valid.
                **({"example_turns": config.generation.example_turns}
                   if config.generation.example_turns and method == "response_generation" else {}),
                "sampling": config.generation.sampling.model_dump(mode="json"),
                # The first student's tokenizer counts the token budget: one dataset serves every student.
                "token_budget": config.generation.token_budget, "tokenizer": config.student.base,
                "prompts": setting_fingerprint(method, domain),
                # Local copies of benchmarks that do not ship (MATH, MBPP): decontamination checks them too.
                "benchmark_paths": benchmark_paths,
            }
            # runtime: what the stage runs with beyond what decides its output (endpoints, key names, limits)
            runtime = {"generator": gen.model_dump(mode="json"),
                       "engine": config.generation.engine.model_dump(mode="json")}
            name = f"{gen.name}.{method}.{domain}"
            generate = Stage("generate", name, params, runtime=runtime,
                             gpus=gpus(1) if backend_spec(gen.backend).runs_model_here else 0.0)
            intrinsic = None
            if config.intrinsic is not None:
                # Only the fields the user set (so the key of a default is the default's), base = the student's.
                options = {"base": config.student.base,
                           **config.intrinsic.model_dump(mode="json", exclude_unset=True)}
                params = {"options": options, "rubrics": RUBRIC_VERSION}
                intrinsic = Stage("intrinsic", name, params, {"data": generate}, gpus=gpus(1))
            for student_plan in students:
                student = student_plan.config
                label = f"{student.label}.{name}" if several else name
                train = train_stage(student, label, generate, config.instances)
                evaluate = {b: eval_stage(student, label, b, train) for b in ev.benchmarks[domain]}
                scaling = []
                for size in sizes[:-1]:
                    sized = f"{label}.n{size}"
                    train_n = train_stage(student, sized, generate, size, subset=size)
                    scaling.append(ScalePoint(size, train_n, {b: eval_stage(student, sized, b, train_n)
                                                              for b in ev.benchmarks[domain]}))
                cells.append(Cell(gen.name, method, domain, generate, train, evaluate, intrinsic,
                                  student_plan.name, scaling))
    return Plan(config, generators, students, generator_scores, cells, notes)
