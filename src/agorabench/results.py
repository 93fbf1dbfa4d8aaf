"""The results of a benchmark run, as one typed document (`results.json` in the run folder).

Written by `agorabench run` as stages finish, read by `agorabench report` and `agorabench analyze`. Everything a
report shows comes from here, so a report can be rebuilt from the file alone.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agorabench.io import StrictModel as _Strict
from agorabench.taxonomy import DOMAINS, METHOD_SHORT, METHODS, Domain, Method

__all__ = ["DOMAINS", "METHODS", "METHOD_SHORT", "Agreement", "Cell", "DataStats", "GeneratorInfo", "ModelScores",
           "Pgr", "RankAgreement", "RunResults", "ScalingPoint", "Score", "StudentInfo"]


class Score(_Strict):
    """A model's score on one benchmark: the mean over items (0-100), its 95% bootstrap CI, and the item count."""

    value: float
    ci: tuple[float, float] | None = None
    n: int = 0
    metric: str | None = Field(
        None, description="what the value is, as the grader names it (e.g. 'Arena-Hard v0.1 score vs gpt-4-0314 (%)', "
        "'length-controlled win rate (length_controlled_minimal)')")


class Pgr(_Strict):
    """Performance Gap Recovered (percent). `value` is None when undefined, with the reason."""

    value: float | None
    ci: tuple[float, float] | None = None
    undefined_reason: str | None = None
    method: Literal["paired", "parametric"] | None = Field(
        default=None, description="the bootstrap behind the CI (paired: the same items for all three models)")
    benchmarks: list[str] = Field(
        default_factory=list, description="a domain PGR: the benchmarks its mean is over")
    missing: list[str] = Field(
        default_factory=list, description="a domain PGR: the domain's benchmarks left out (PGR undefined or no score)")
    partial: bool = Field(default=False, description="a domain PGR that leaves out one of the domain's benchmarks")


class ModelScores(_Strict):
    """The base student or the reference, evaluated once per run."""

    label: str = Field(description="e.g. 'Gemma 3 270M (base)' or 'base trained on gold data'")
    model: str = Field(description="model id or checkpoint path")
    scores: dict[str, Score] = Field(default_factory=dict, description="benchmark name -> score")


class DataStats(_Strict):
    """What one generation stage produced."""

    requested: int
    instances: int = Field(description="validated records")
    failed: int = 0
    acceptance_rate: float | None = Field(None, description="instances / (instances + failed)")
    failure_reasons: dict[str, int] = Field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class ScalingPoint(_Strict):
    """A cell's student trained on the first `instances` records of its dataset (a seeded order, so the sizes
    are nested prefixes of one generation), evaluated as the cell's own student is."""

    instances: int = Field(description="training examples: a prefix of the dataset (the largest: all of it)")
    status: Literal["done", "failed", "pending"] = "pending"
    error: str | None = Field(None, description="one line: the stage that failed and why")
    cost_usd: float = Field(
        0.0, description="what generating these records cost: the dataset's cost per record x instances")
    student_scores: dict[str, Score] = Field(default_factory=dict)
    pgr: dict[str, Pgr] = Field(default_factory=dict)
    domain_pgr: Pgr | None = None


class Cell(_Strict):
    """One (generator, method, domain) and, when a run has several, one student: its data, its student's
    scores, and PGR."""

    generator: str
    method: Method
    domain: Domain
    student: str | None = Field(None, description="the student's name (None in results written before students:)")
    status: Literal["done", "failed", "pending"] = "pending"
    error: str | None = Field(None, description="one line: the stage that failed and why")
    data: DataStats | None = None
    student_scores: dict[str, Score] = Field(default_factory=dict)
    pgr: dict[str, Pgr] = Field(default_factory=dict, description="benchmark name -> PGR")
    domain_pgr: Pgr | None = Field(None, description="mean of this domain's benchmark PGRs")
    intrinsic: dict[str, float | None] = Field(
        default_factory=dict,
        description="intrinsic metrics of the dataset (agorabench.metrics.intrinsic), when measured",
    )
    scaling: list[ScalingPoint] = Field(
        default_factory=list, description="the data-scaling curve (run config `scaling:`), smallest first; "
        "its last point is the whole dataset, i.e. this cell's own scores",
    )


class GeneratorInfo(_Strict):
    name: str
    model: str
    backend: str
    price_input_per_mtok: float | None = None
    price_output_per_mtok: float | None = None
    cost_usd: float = Field(0.0, description="generation cost over all its settings")
    problem_solving: dict[str, float] = Field(
        default_factory=dict, description="optional: domain -> the generator's own benchmark score (analysis)"
    )


class StudentInfo(_Strict):
    """One student of a run (`students:`): its base, recipe, and the base and reference it is measured against."""

    name: str
    base_model: str
    recipe: str
    training: str | None = None
    base: ModelScores
    reference: ModelScores


class RankAgreement(_Strict):
    """Kendall's tau between two students' rankings of the generators, on one setting or overall."""

    scope: str = Field(description="a setting (METHOD/DOMAIN) or 'overall' (generators ranked by mean domain PGR)")
    students: tuple[str, str]
    tau: float | None = Field(description="None when fewer than two generators have a defined PGR for both")
    ci: tuple[float, float] | None = Field(None, description="95% bootstrap CI over benchmark items")
    generators: list[str] = Field(default_factory=list, description="the generators ranked")
    flips: list[tuple[str, str]] = Field(
        default_factory=list, description="pairs of generators the two students order differently")
    note: str | None = None


class Agreement(_Strict):
    """How well a run's students agree on the ranking of its generators."""

    rounds: int = 0
    pairs: list[RankAgreement] = Field(default_factory=list)


class RunResults(_Strict):
    name: str
    profile: str | None = None
    created_at: str
    seed: int = 42
    student_base: str
    recipe: str
    training: str | None = Field(
        None, description="the recipe's batch and system prompt, e.g. \"agorabench: effective batch 32 = 4 per "
        "device x 2 accumulation x 4 devices; system prompt 'You are a helpful AI assistant.'\"")
    benchmarks: dict[str, list[str]] = Field(description="domain -> benchmark names")
    base: ModelScores
    reference: ModelScores
    generators: list[GeneratorInfo]
    cells: list[Cell]
    students: list[StudentInfo] = Field(
        default_factory=list, description="every student (the first is also student_base/base/reference above)")
    scaling: list[int] = Field(default_factory=list, description="the run config's data sizes (`scaling:`)")
    agreement: Agreement | None = Field(None, description="with two or more students: their ranking agreement")
    notes: list[str] = Field(default_factory=list)
