"""What `agorabench run` runs: generators x settings -> students -> benchmarks -> PGR, as one typed file.

A run config names the generators, the settings (any of the nine), instances per setting, the student base
and its recipe, the reference, the benchmarks per domain, the decoding and the seed. Built-in profiles:
`quickstart` (offline, 2 CPU cores, <= 20 min), `tiny` (the same in miniature, for tests) and `agorabench`
(the paper's setup, for keys and GPUs). A YAML file may start from a profile (`profile: quickstart`) and
override any field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_serializer, model_validator

from agorabench.data.seeds import PAPER_SEED_SOURCES, SeedSource
from agorabench.errors import ConfigError
from agorabench.generation.config import EngineConfig
from agorabench.io import StrictModel, agorabench_data, parse_model, read_yaml_mapping
from agorabench.llm.base import SamplingParams
from agorabench.llm.config import EMBEDDED_MODEL, GeneratorConfig
from agorabench.llm.registry import BACKENDS
from agorabench.metrics.intrinsic.config import IntrinsicConfig
from agorabench.taxonomy import DOMAINS, METHODS, Domain, parse_setting


class GenerationConfig(StrictModel):
    """How every generator writes data: the paper's sampling, one prompt format, one validation."""

    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=1.0, top_p=0.9, max_tokens=4096),
        description="the paper's generation sampling: temperature 1.0, top_p 0.9, 4096 tokens",
    )
    prompt_format: Literal["text", "json"] = "text"
    example_turns: int = Field(
        0, ge=0, description="response generation: seed pairs shown as earlier exchanges (few-shot, for base models)"
    )
    seeds: dict[str, list[SeedSource]] = Field(
        default_factory=dict, description="setting (METHOD/DOMAIN) -> seed sources; default: the bundled offline sets"
    )
    allow_fewer: bool = Field(
        False,
        description="run a response-generation or quality-enhancement setting whose seeds hold fewer inputs than "
        "`instances` (default: refused when the run is planned)",
    )
    token_budget: int = Field(
        4096, ge=16, description="instruction + response tokens, counted by the student's tokenizer"
    )
    engine: EngineConfig = Field(default_factory=EngineConfig)


    @field_validator("seeds")
    @classmethod
    def _setting_names(cls, value: dict[str, list[SeedSource]]) -> dict[str, list[SeedSource]]:
        # "RG/math", "rg-math" and "response_generation/math" all name one setting: key by the long form.
        return {"/".join(parse_setting(setting)): sources for setting, sources in value.items()}


class StudentConfig(StrictModel):
    name: str | None = Field(
        None, description="what the report calls this student (default: the base's last path part, e.g. Llama-3.1-8B)"
    )
    base: str = Field(description="Hub id, local folder or embedded model name (gemma-3-270m)")
    recipe: str = Field("agorabench", description="built-in recipe name or recipe YAML path")
    launch: str | None = Field(None, description="accelerate config for multi-GPU training (fsdp, multi_gpu, ...)")
    num_processes: int | None = Field(None, ge=1)
    reference: str | None = Field(
        None, description="this student's reference model (e.g. its base's instruct sibling); default: the run's "
        "`reference` (a gold reference trains each student's own base on the gold data)",
    )

    @property
    def label(self) -> str:
        return self.name or self.base.rstrip("/").rsplit("/", 1)[-1]


class GoldReference(StrictModel):
    """The base trained with the student's recipe on gold data, per domain."""

    data: dict[str, str] = Field(
        default_factory=dict,
        description="domain -> JSONL of instruction/response; missing domains use the bundled gold slice "
        "(our hand-written seed pairs with checked answers, disjoint from every benchmark item)",
    )
    max_examples: int | None = Field(
        None, ge=1, description="train on the first N gold pairs (e.g. as many as a generator's dataset)"
    )


class ReferenceConfig(StrictModel):
    """Either a model (the paper: the base's instruct sibling) or the base trained on gold data."""

    model: str | None = None
    gold: GoldReference | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ReferenceConfig:
        if (self.model is None) == (self.gold is None):
            raise ValueError("reference: give either model (e.g. the base's instruct sibling) or gold")
        return self


class EvaluationConfig(StrictModel):
    benchmarks: dict[Domain, list[str]] = Field(
        default_factory=lambda: {
            "math": ["gsm8k", "math"], "code": ["mbpp", "humaneval"], "general": ["alpaca_eval", "arena_hard_v2.0"],
        }
    )
    limit: int | None = Field(None, ge=1, description="items per benchmark (a seeded subset); default all")
    max_tokens: int | None = Field(None, ge=1, description="cap on new tokens per answer (paper: 1024)")
    judge: str | None = Field(None, description="judge for alpaca_eval / arena_hard_* (e.g. gpt-4o)")
    backend: str = Field("local", description="the in-process backend that runs students and checkpoints (local, vllm)")
    score_generators: bool = Field(
        True,
        description="also evaluate each generator on its domains' benchmarks: its problem-solving score, "
        "which `agorabench analyze` relates to PGR (the paper's analysis)",
    )
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="benchmark -> its options, e.g. {math: {path: /data/MATH/test.jsonl}}"
    )

    @field_validator("backend")
    @classmethod
    def _in_process(cls, value: str) -> str:
        if value not in BACKENDS or not BACKENDS[value].in_process:
            choices = ", ".join(name for name, spec in BACKENDS.items() if spec.in_process)
            raise ValueError(f"must be a backend that runs models in process ({choices})")
        return value

    @field_validator("benchmarks")
    @classmethod
    def _known(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from agorabench.data.benchmarks import BENCHMARKS

        for domain, names in value.items():
            for name in names:
                if name not in BENCHMARKS:
                    raise ValueError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
                if (owner := BENCHMARKS[name].domain) != domain:
                    raise ValueError(f"benchmark {name!r} belongs to domain {owner!r}, not {domain!r}")
        return value


class RayOptions(StrictModel):
    """`executor: ray` (docs/scale-out.md): where the cluster is and what stages ask of it."""

    address: str | None = Field(
        None, description="cluster address; default: RAY_ADDRESS, a local cluster, or a new one"
    )
    max_parallel: int | None = Field(None, ge=1, description="stages in flight at once (default: as resources allow)")
    gpus: bool = Field(
        True,
        description="stages that run models ask for GPUs: training student.num_processes (or 1), evaluation 1, "
        "local/vllm generators 1, intrinsic metrics 1; false on a CPU-only cluster",
    )


class RunConfig(StrictModel):
    name: str = "run"
    profile: str | None = None
    seed: int = 42
    generators: list[GeneratorConfig | str] = Field(min_length=1)
    settings: list[str] | Literal["all"] = "all"
    instances: int = Field(10_000, ge=1, description="instances requested per setting")
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    student: StudentConfig | None = Field(None, description="the one student (or `students:`)")
    students: list[StudentConfig] | None = Field(
        None, min_length=1, description="several students: every dataset trains and is evaluated on each, each "
        "against its own base and reference; the first one is also `student`",
    )
    reference: ReferenceConfig
    scaling: list[int] | None = Field(
        None, min_length=1, description="data sizes: each dataset's student is also trained on the first N records "
        "of the dataset in a seeded order (nested prefixes of one generation) and evaluated: PGR per size",
    )
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    intrinsic: IntrinsicConfig | None = Field(
        None, description="intrinsic metrics of each dataset (IntrinsicConfig; base defaults to the student's)"
    )
    max_cost_usd: float | None = Field(
        None, gt=0, description="spend cap of the whole run's generation in US dollars (generators: their own)"
    )
    executor: Literal["local", "ray"] = "local"
    ray: RayOptions = Field(default_factory=RayOptions)

    @field_validator("scaling")
    @classmethod
    def _sizes(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(size < 1 for size in value):
            raise ValueError(f"sizes must be at least 1, got {min(value)}")
        return sorted(set(value))

    @model_validator(mode="after")
    def _students_and_sizes(self) -> RunConfig:
        # Both only as a written config.yaml has them: `student` is then the first of `students`.
        if self.student is not None and self.students is not None and self.student != self.students[0]:
            raise ValueError("give `student` (one) or `students` (a list), not both")
        if self.student is None and self.students is None:
            raise ValueError("student: required (or students: a list)")
        if self.students is None:
            self.students = [self.student]
        self.student = self.students[0]  # the first student: what one-student code reads
        labels = [s.label for s in self.students]
        twice = sorted({name for name in labels if labels.count(name) > 1})
        if twice:
            raise ValueError(f"students: two students are named {twice[0]!r}; give each a distinct `name`")
        if self.scaling and self.scaling[-1] > self.instances:
            raise ValueError(
                f"scaling: size {self.scaling[-1]} is above the dataset ({self.instances} instances): the largest "
                "size is the dataset itself"
            )
        return self

    @model_serializer(mode="wrap")
    def _one_form(self, handler):
        # Written back (config.yaml) in the form a user writes: `student` for one, `students` for several.
        data = handler(self)
        if isinstance(data, dict):
            data.pop("students" if len(self.students or ()) <= 1 else "student", None)
        return data

    def data_sizes(self) -> list[int]:
        """The training sizes of every dataset, smallest first: `scaling` below `instances`, then the whole dataset."""
        return [size for size in self.scaling or () if size < self.instances] + [self.instances]

    @field_validator("settings")
    @classmethod
    def _settings(cls, value):
        if value == "all":
            return value
        seen = []
        for text in value:
            setting = "/".join(parse_setting(text))
            if setting not in seen:
                seen.append(setting)
        return seen

    def setting_pairs(self) -> list[tuple[str, str]]:
        if self.settings == "all":
            return [(m, d) for m in METHODS for d in DOMAINS]
        return [parse_setting(s) for s in self.settings]

    def domains(self) -> list[str]:
        """Domains with at least one setting and at least one benchmark, in the paper's order."""
        used = {d for _, d in self.setting_pairs()}
        return [d for d in DOMAINS if d in used and self.evaluation.benchmarks.get(d)]


# --- profiles ----------------------------------------------------------------------------------------

_OFFLINE_BENCHMARKS = {"math": ["gsm8k"], "code": ["humaneval"], "general": ["ifeval"]}

PROFILES: dict[str, dict[str, Any]] = {
    # The paper's setup: 6 generators x 9 settings x 10K instances, Llama-3.1-8B student and -Instruct reference.
    "agorabench": {
        "name": "agorabench",
        "generators": [
            "gpt-4o", "gpt-4o-mini", "claude-3.5-sonnet",
            "llama-3.1-405b-instruct", "llama-3.1-70b-instruct", "llama-3.1-8b-instruct",
        ],
        "settings": "all",
        "instances": 10_000,
        # The paper's seeds by Hub id (data/seeds.py; choices where the paper is vague: docs/running.md).
        "generation": {"seeds": {f"{m}/{d}": sources for (m, d), sources in PAPER_SEED_SOURCES.items()}},
        "student": {"base": "meta-llama/Llama-3.1-8B", "recipe": "agorabench", "launch": "fsdp", "num_processes": 4},
        "reference": {"model": "meta-llama/Llama-3.1-8B-Instruct"},
        # Arena-Hard v0.1, the version of the paper's time, with its official judge (also AlpacaEval 2.0's).
        "evaluation": {
            "benchmarks": {
                "math": ["gsm8k", "math"], "code": ["mbpp", "humaneval"], "general": ["alpaca_eval", "arena_hard_v0.1"],
            },
            "judge": "openai:gpt-4-1106-preview", "backend": "vllm",
        },
    },
    # Offline on 2 CPU cores (<= 20 min): two embedded generators, SmolLM2-135M-Instruct and the base model Gemma 3
    # 270M (prompted few-shot: example_turns), write response-generation data for verifiable-constraint instructions
    # (the kinds IFEval checks; data/seeds/general/*_constraints.jsonl, responses checked by IFEval's own checkers,
    # decontaminated against it), in the JSON format that the local backend enforces. The reference is the student
    # trained on 240 gold pairs of the same kind: +11.7 IFEval points over the base (95% CI +7.0 to +16.7, 300
    # items), a real gap, so PGR is defined. Measured choices: docs/running.md#the-quickstart.
    "quickstart": {
        "name": "quickstart",
        "generators": [EMBEDDED_MODEL, "gemma-3-270m"],
        "settings": ["response_generation/general"],
        "instances": 32,
        "generation": {
            "sampling": {"temperature": 1.0, "top_p": 0.9, "max_tokens": 192},
            "token_budget": 512,
            "prompt_format": "json",
            "example_turns": 2,
            "seeds": {
                "response_generation/general": [{"source": "agorabench", "bundled": "response_generation_constraints"}],
            },
        },
        "student": {"base": EMBEDDED_MODEL, "recipe": "quickstart"},
        "reference": {"gold": {"data": {"general": str(agorabench_data("seeds", "general", "gold_constraints.jsonl"))},
                               "max_examples": 240}},
        # 200 items: the reference gap measured +8.0 points (95% CI +3.5 to +13.0) at 200. Generators are not
        # scored as problem solvers here: SmolLM2's score is the base's, and Gemma, a base model, answers
        # IFEval to the token cap (over 4 minutes): two generators say nothing about that relation anyway.
        "evaluation": {"benchmarks": _OFFLINE_BENCHMARKS, "limit": 200, "max_tokens": 128, "score_generators": False},
    },
    "tiny": {
        "name": "tiny",
        "generators": [EMBEDDED_MODEL],
        "settings": ["response_generation/general"],
        "instances": 3,
        "generation": {
            "sampling": {"temperature": 1.0, "top_p": 0.9, "max_tokens": 96},
            "token_budget": 256,
        },
        "student": {"base": EMBEDDED_MODEL, "recipe": "tiny"},
        "reference": {"gold": {"max_examples": 8}},
        "evaluation": {"benchmarks": _OFFLINE_BENCHMARKS, "limit": 4, "max_tokens": 32},
    },
}


# The quickstart with the real base model as the student: 19 min 25 s measured on 2 cores, against 13 min 52 s
# for the default, too close to the 20-minute budget to be the default (docs/running.md).
PROFILES["quickstart-gemma"] = {
    **PROFILES["quickstart"],
    "name": "quickstart-gemma",
    "student": {"base": "gemma-3-270m", "recipe": "quickstart"},
}


# Beyond the paper, offline (<= 10 min on 2 cores): the quickstart's two embedded generators, each dataset trained
# at two sizes (a data-scaling curve), on two embedded students (SmolLM2-135M-Instruct and the base Gemma 3 270M:
# do they rank the generators alike?), then `agorabench budget` on the run. Measured: docs/running.md.
PROFILES["tiny-beyond"] = {
    **{key: value for key, value in PROFILES["quickstart"].items() if key != "student"},
    "name": "tiny-beyond",
    "instances": 8,
    "scaling": [4, 8],
    "students": [
        {"name": "smollm2", "base": EMBEDDED_MODEL, "recipe": "quickstart"},
        {"name": "gemma", "base": "gemma-3-270m", "recipe": "quickstart"},
    ],
    "reference": {"gold": {"data": {"general": str(agorabench_data("seeds", "general", "gold_constraints.jsonl"))},
                           "max_examples": 16}},
    "evaluation": {"benchmarks": _OFFLINE_BENCHMARKS, "limit": 20, "max_tokens": 32, "score_generators": False},
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    # One student or several: a file that gives `students` replaces its profile's `student`, and the other way.
    for one, other in (("student", "students"), ("students", "student")):
        if one in override:
            merged.pop(other, None)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def profile_config(name: str, **overrides: Any) -> RunConfig:
    if name not in PROFILES:
        raise ConfigError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})")
    return parse_model(RunConfig, _merge({**PROFILES[name], "profile": name}, overrides), f"profile {name}")


def load_run_config(path: Path) -> RunConfig:
    """A run YAML; `profile: NAME` starts from a built-in profile and the file's fields override it."""
    data = read_yaml_mapping(path, "a run config")
    profile = data.get("profile")
    if profile is not None:
        if profile not in PROFILES:
            raise ConfigError(f"{path}: profile {profile!r} is not one of {', '.join(PROFILES)}")
        data = _merge(PROFILES[profile], data)
    return parse_model(RunConfig, data, str(path))
