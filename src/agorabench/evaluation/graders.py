"""The graders, by name: what a benchmark spec's `grader` field names (`agorabench.data.benchmarks`).

A grader scores a model's outputs (item id -> text) on a benchmark's data and says how it did so in a
`version`: bump it whenever the grader would give another verdict on the same output. `grading_version`
combines it with the benchmark's own version, so an evaluation is redone when either changes. The heavy
machinery (math-verify workers, the code sandbox, the judges) lives in its own modules, imported when a
grader runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agorabench.data.benchmarks import BenchmarkData, get_benchmark
from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges import prompts
from agorabench.llm.config import GeneratorConfig

if TYPE_CHECKING:
    import numpy as np


@dataclass
class GradeContext:
    """What a grader may need beyond outputs: a judge model, a folder for its judgments, workers."""

    out_dir: Path
    judge: GeneratorConfig | None = None
    workers: int = 2
    seed: int = 42


@dataclass
class Graded:
    items: list[dict[str, Any]]  # per item: id, extracted, correct (or score), and grader details
    score: float  # the headline metric, 0-100
    metric: str
    per_item_scores: list[float] = field(default_factory=list)  # for the bootstrap CI (0/1 or 0-1)
    extra: dict[str, Any] = field(default_factory=dict)
    ci: tuple[float, float] | None = None  # when the grader computes its own (e.g. Bradley-Terry)


GradeFunction = Callable[[BenchmarkData, dict[str, str], GradeContext], Graded]


# A judged grader's headline recomputed on resampled questions, for the paired PGR bootstrap
# (`agorabench.metrics.pgr`): `rows` are the per-question rows its `grade` returned in `Graded.items` (as
# stored in results.jsonl, in one order shared by the three models), `draws` an int array (rounds, n) of
# row indices; it returns the headline (0-100) of each round, shape (rounds,). On `np.arange(n)[None]` it
# gives the headline `grade` reported.
ResampleFunction = Callable[[Sequence[Mapping[str, Any]], "np.ndarray"], "np.ndarray"]


@dataclass(frozen=True)
class Grader:
    name: str
    version: str
    grade: GradeFunction
    resampled_scores: ResampleFunction | None = None  # judged graders; the others resample per-item scores


GRADERS: dict[str, Grader] = {}


def register_grader(grader: Grader) -> Grader:
    GRADERS[grader.name] = grader
    return grader


def get_grader(name: str) -> Grader:
    if name not in GRADERS:
        raise AgorabenchError(f"unknown grader {name!r} (known: {', '.join(sorted(GRADERS))})")
    return GRADERS[name]


def grading_version(benchmark: str) -> str:
    """What an evaluation's result depends on besides the model: the benchmark's version (items, prompt)
    and its grader's, e.g. "gsm8k@1+math@1"."""
    spec = get_benchmark(benchmark)
    grader = get_grader(spec.grader)
    return f"{spec.name}@{spec.version}+{grader.name}@{grader.version}"


def _accuracy(verdicts: list[bool]) -> tuple[float, list[float]]:
    scores = [1.0 if ok else 0.0 for ok in verdicts]
    return 100 * sum(scores) / max(len(scores), 1), scores


# --- math ----------------------------------------------------------------------------------------------


def _grade_math(data: BenchmarkData, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    from agorabench.evaluation.math_grader import grade_batch

    verdicts = grade_batch([(outputs[item["id"]], item["gold"]) for item in data.items], workers=ctx.workers)
    items = [
        {"id": item["id"], "gold": item["gold"], "extracted": v.extracted, "rule": v.rule,
         "correct": v.correct, "reason": v.reason}
        for item, v in zip(data.items, verdicts, strict=True)
    ]
    score, scores = _accuracy([v.correct for v in verdicts])
    return Graded(items, score, "accuracy", scores)


# --- code ----------------------------------------------------------------------------------------------


def extract_code(output: str, roots: Sequence[str] = ()) -> str:
    """The code of a reply (`code_grader.extract_code`): its Python fenced blocks, tags in any case; with
    ``roots``, only the imports and definitions they reach (evalplus' sanitizer)."""
    from agorabench.evaluation.code_grader import extract_code as extract

    return extract(output, roots)


def _grade_humaneval(data: BenchmarkData, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    """HumanEval and HumanEval+ (`code_grader.grade_humaneval`)."""
    from agorabench.evaluation.code_grader import grade_humaneval

    items = grade_humaneval(data.items, [outputs[item["id"]] for item in data.items], workers=ctx.workers)
    score, scores = _accuracy([row["passed"] for row in items])
    return Graded(items, score, "pass@1", scores)


def _grade_mbpp(data: BenchmarkData, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    """MBPP and MBPP+ (`code_grader.grade_mbpp`)."""
    from agorabench.evaluation.code_grader import grade_mbpp

    items = grade_mbpp(data.items, [outputs[item["id"]] for item in data.items], workers=ctx.workers)
    score, scores = _accuracy([row["passed"] for row in items])
    return Graded(items, score, "pass@1", scores)


# --- instruction following -----------------------------------------------------------------------------


def _grade_ifeval(data: BenchmarkData, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    from agorabench.evaluation.ifeval import grade_ifeval

    result = grade_ifeval(data.items, [outputs[item["id"]] for item in data.items])
    per_item = result["items"]
    scores = [1.0 if r["prompt_strict"] else 0.0 for r in per_item]
    return Graded(per_item, 100 * result["prompt_level_strict"], "prompt-level strict accuracy", scores,
                  extra={k: v for k, v in result.items() if k != "items"})


# --- judged: AlpacaEval 2.0 and Arena-Hard -------------------------------------------------------------


def _needs_judge(ctx: GradeContext, name: str) -> GeneratorConfig:
    if ctx.judge is None:
        raise AgorabenchError(f"{name} is judged by a model: pass --judge (e.g. --judge gpt-4o-mini)")
    return ctx.judge


def _grade_alpaca_eval(data: BenchmarkData, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    """AlpacaEval 2.0's LC win rate, by the GLM the data allow (named in the metric); per-question rows
    (preference, both lengths, difficulty, the GLM's C, gamed-baseline rows) for the paired bootstrap."""
    from agorabench.evaluation.judges.alpaca_eval import judge_alpaca_eval

    judge = _needs_judge(ctx, "alpaca_eval")
    raw = data.raw
    result = judge_alpaca_eval(
        outputs, judge, ctx.out_dir / "judge", data=raw, seed=ctx.seed,
        prompt=raw.judge_prompt or "auto", instruction_difficulty=raw.instruction_difficulty,
        gamed_baselines=raw.gamed_baselines, lc_model=raw.lc_model,
    )
    return Graded(result.rows, result.lc_win_rate, f"length-controlled win rate ({result.lc_model})",
                  extra=result.to_dict(), ci=result.lc_ci)


def _resample_alpaca_eval(rows: Sequence[Mapping[str, Any]], draws: np.ndarray) -> np.ndarray:
    from agorabench.evaluation.judges.length_control import resampled_lc_win_rates

    return resampled_lc_win_rates(rows, draws)


def _grade_arena_hard(data: BenchmarkData, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    """Arena-Hard v0.1 or v2.0 (as `data.raw` says): the headline against one baseline (v2.0: hard_prompt
    alone), per-question rows (category, both games' verdicts from the model's side, weighted points)."""
    from agorabench.evaluation.judges.arena_hard import judge_arena_hard

    judge = _needs_judge(ctx, data.name)
    result = judge_arena_hard(outputs, judge, ctx.out_dir / "judge", data=data.raw, seed=ctx.seed)
    return Graded(result.rows, result.score, result.metric, extra=result.to_dict(),
                  ci=(result.ci_low, result.ci_high))


def _resample_arena_hard(rows: Sequence[Mapping[str, Any]], draws: np.ndarray) -> np.ndarray:
    from agorabench.evaluation.judges.arena_hard import resampled_headline

    return resampled_headline(rows, draws)


def _arena_hard_version() -> str:
    """Its own version and that of upstream's judge prompts it sends (`arena_hard_prompts`)."""
    from agorabench.evaluation.judges import arena_hard_prompts

    return f"2+arena_hard_prompts{arena_hard_prompts.PROMPT_VERSION}"


def judged_version(version: str) -> str:
    """A judged grader's version: its own and the judge prompts' (its verdicts change with either)."""
    return f"{version}+prompts{prompts.PROMPT_VERSION}"


register_grader(Grader("math", "2", _grade_math))
register_grader(Grader("humaneval", "2", _grade_humaneval))
register_grader(Grader("mbpp", "2", _grade_mbpp))
register_grader(Grader("ifeval", "1", _grade_ifeval))
register_grader(Grader("alpaca_eval", judged_version("2"), _grade_alpaca_eval, _resample_alpaca_eval))
register_grader(Grader("arena_hard", _arena_hard_version(), _grade_arena_hard, _resample_arena_hard))
