"""The benchmark registry. Each benchmark declares its data source, prompt, decoding, grader and
metric; `agorabench evaluate --benchmark NAME` looks it up here.

Graders live in their own modules (math_grader, code_grader, ifeval, judges); this file only says how
each benchmark uses them. Heavy modules are imported when a benchmark is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agorabench.errors import AgorabenchError
from agorabench.evaluation.runner import PAPER_DECODING, Prompt
from agorabench.llm.base import Message, SamplingParams
from agorabench.llm.config import GeneratorConfig

MATH_INSTRUCTION = "Solve the problem step by step. End with the final answer as [RESULT] answer [/RESULT]."
CODE_INSTRUCTION = "Complete the following Python code. Reply with the code in a ```python block."


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


@dataclass(frozen=True)
class Benchmark:
    name: str
    domain: str  # math, code or general: which PGR domain it counts toward
    metric: str
    description: str
    load: Callable[[dict[str, Any]], Any]  # options -> data with .items, .checksum, .source
    prompts: Callable[[Any], list[Prompt]]
    grade: Callable[[Any, dict[str, str], GradeContext], Graded]
    decoding: SamplingParams


REGISTRY: dict[str, Benchmark] = {}


def register(benchmark: Benchmark) -> Benchmark:
    REGISTRY[benchmark.name] = benchmark
    return benchmark


def get(name: str) -> Benchmark:
    if name not in REGISTRY:
        raise AgorabenchError(f"unknown benchmark {name!r} (known: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[name]


def user(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


# --- math ----------------------------------------------------------------------------------------------


def _grade_math(data, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    from agorabench.evaluation.math_grader import grade_batch

    verdicts = grade_batch([(outputs[item["id"]], item["gold"]) for item in data.items], workers=ctx.workers)
    items = [
        {"id": item["id"], "gold": item["gold"], "extracted": v.extracted, "rule": v.rule, "correct": v.correct,
         "reason": v.reason}
        for item, v in zip(data.items, verdicts)
    ]
    scores = [1.0 if v.correct else 0.0 for v in verdicts]
    return Graded(items, 100 * sum(scores) / max(len(scores), 1), "accuracy", scores)


def _load_gsm8k(options):
    from agorabench.evaluation.math_data import load_gsm8k_test

    return load_gsm8k_test()


def _load_math(options):
    from agorabench.evaluation.math_data import load_math

    return load_math(options.get("path") or "HuggingFaceH4/MATH-500")


register(Benchmark(
    name="gsm8k", domain="math", metric="accuracy",
    description="GSM8K test (1,319 grade-school problems), final answer judged with math-verify",
    load=_load_gsm8k,
    prompts=lambda data: [Prompt(i["id"], user(f"{i['question']}\n\n{MATH_INSTRUCTION}")) for i in data.items],
    grade=_grade_math,
    decoding=PAPER_DECODING["math"],
))

register(Benchmark(
    name="math", domain="math", metric="accuracy",
    description="MATH (default HuggingFaceH4/MATH-500 from the Hub, or --benchmark-path FILE)",
    load=_load_math,
    prompts=lambda data: [Prompt(i["id"], user(f"{i['problem']}\n\n{MATH_INSTRUCTION}")) for i in data.items],
    grade=_grade_math,
    decoding=PAPER_DECODING["math"],
))


# --- code ----------------------------------------------------------------------------------------------

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(output: str) -> str:
    """The code of a reply: its fenced blocks joined, or the reply itself when it has none."""
    blocks = _FENCE.findall(output)
    return "\n\n".join(blocks) if blocks else output


def _grade_humaneval(data, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    from agorabench.evaluation.code_grader import humaneval_harness, run_harnesses

    completions = ["\n" + extract_code(outputs[item["task_id"]]) for item in data.items]
    harnesses = [
        humaneval_harness(item["prompt"], completion, item["test"], item["entry_point"])
        for item, completion in zip(data.items, completions)
    ]
    results = run_harnesses(harnesses, workers=ctx.workers)
    items = [
        {"id": item["task_id"], "passed": r.passed, "verdict": r.reason, "extracted": completion[:2000]}
        for item, r, completion in zip(data.items, results, completions)
    ]
    scores = [1.0 if r.passed else 0.0 for r in results]
    return Graded(items, 100 * sum(scores) / max(len(scores), 1), "pass@1", scores)


def _load_humaneval(options):
    import hashlib

    from agorabench.evaluation.code_grader import _humaneval_path, load_humaneval
    from agorabench.evaluation.math_data import BenchmarkData

    path = _humaneval_path()
    return BenchmarkData("humaneval", load_humaneval(), hashlib.sha256(path.read_bytes()).hexdigest(), str(path))


register(Benchmark(
    name="humaneval", domain="code", metric="pass@1",
    description="HumanEval (164 problems), completions run against the tests in the sandbox",
    load=_load_humaneval,
    prompts=lambda data: [
        Prompt(i["task_id"], user(f"{CODE_INSTRUCTION}\n\n```python\n{i['prompt']}```")) for i in data.items
    ],
    grade=_grade_humaneval,
    decoding=PAPER_DECODING["code"],
))


# --- instruction following -----------------------------------------------------------------------------


def _grade_ifeval(data, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    from agorabench.evaluation.ifeval import grade_ifeval

    result = grade_ifeval(data.items, [outputs[str(item["key"])] for item in data.items])
    per_item = result["items"]
    scores = [1.0 if r["prompt_strict"] else 0.0 for r in per_item]
    return Graded(per_item, 100 * result["prompt_level_strict"], "prompt-level strict accuracy", scores,
                  extra={k: v for k, v in result.items() if k != "items"})


def _load_ifeval(options):
    from agorabench.evaluation.ifeval import load_ifeval

    return load_ifeval()


register(Benchmark(
    name="ifeval", domain="general", metric="prompt-level strict accuracy",
    description="IFEval (541 prompts with verifiable instructions), no judge",
    load=_load_ifeval,
    prompts=lambda data: [Prompt(str(i["key"]), user(i["prompt"])) for i in data.items],
    grade=_grade_ifeval,
    decoding=PAPER_DECODING["general"],
))


# --- MBPP (not shipped offline: a Hub id or a local file) ------------------------------------------------


def load_mbpp(options: dict[str, Any]):
    """MBPP test split: `google-research-datasets/mbpp` (config `full`, or `sanitized` via
    --benchmark-path google-research-datasets/mbpp:sanitized), or a local JSON/JSONL file."""
    import hashlib

    from agorabench.data.seeds import read_rows
    from agorabench.evaluation.math_data import BenchmarkData

    spec = options.get("path") or "google-research-datasets/mbpp:full"
    local = Path(spec).expanduser()
    if local.exists():
        rows = read_rows(local)
        checksum = hashlib.sha256(local.read_bytes()).hexdigest()
    else:
        import datasets

        hub_id, _, config = spec.partition(":")
        try:
            dataset = datasets.load_dataset(hub_id, config or "full", split="test")
        except Exception as exc:  # noqa: BLE001 - offline, missing: one line for the user
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise AgorabenchError(f"mbpp: cannot load {spec!r} ({first}); pass --benchmark-path FILE") from None
        rows = list(dataset)
        checksum = dataset._fingerprint
    items = []
    for row in rows:
        text = row.get("text") or row.get("prompt")
        tests = row.get("test_list")
        if not isinstance(text, str) or not isinstance(tests, list) or "task_id" not in row:
            raise AgorabenchError(f"mbpp: {spec}: rows need task_id, text (or prompt) and test_list")
        setup = "\n".join(row.get("test_imports") or []) + "\n" + (row.get("test_setup_code") or "")
        items.append({"id": str(row["task_id"]), "text": text, "tests": tests, "setup": setup.strip()})
    if not items:
        raise AgorabenchError(f"mbpp: {spec}: no items")
    return BenchmarkData(name="mbpp", items=items, checksum=checksum, source=spec)


def _mbpp_prompt(item: dict[str, Any]) -> list[Message]:
    tests = "\n".join(item["tests"])
    return user(f"{item['text']}\nYour code should pass these tests:\n{tests}\n\nReply with the code in a ```python block.")


def _grade_mbpp(data, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    from agorabench.evaluation.code_grader import mbpp_harness, run_harnesses

    harnesses = [mbpp_harness(extract_code(outputs[item["id"]]), item["tests"], item["setup"]) for item in data.items]
    results = run_harnesses(harnesses, workers=ctx.workers)
    items = [{"id": item["id"], "passed": r.passed, "verdict": r.reason} for item, r in zip(data.items, results)]
    scores = [1.0 if r.passed else 0.0 for r in results]
    return Graded(items, 100 * sum(scores) / max(len(scores), 1), "pass@1", scores)


register(Benchmark(
    name="mbpp", domain="code", metric="pass@1",
    description="MBPP test (Hub google-research-datasets/mbpp full or sanitized, or a local file)",
    load=load_mbpp,
    prompts=lambda data: [Prompt(i["id"], _mbpp_prompt(i)) for i in data.items],
    grade=_grade_mbpp,
    decoding=PAPER_DECODING["code"],
))


# --- judged benchmarks: AlpacaEval 2.0 and Arena-Hard ------------------------------------------------------


@dataclass
class JudgedData:
    """Items of a judged benchmark (the loader's own objects, each with `.id`) and where they came from."""

    name: str
    items: list[Any]
    checksum: str
    source: str
    raw: Any = None  # the loader's full data object (references, baselines)


def _needs_judge(ctx: GradeContext, name: str) -> GeneratorConfig:
    if ctx.judge is None:
        raise AgorabenchError(f"{name} is judged by a model: pass --judge (e.g. --judge gpt-4o-mini)")
    return ctx.judge


def _load_alpaca_eval(options):
    from agorabench.evaluation.judges.alpaca_eval import load_alpaca_eval

    data = load_alpaca_eval(options.get("path"))
    return JudgedData("alpaca_eval", data.examples, data.sha256, data.source, data)


def _grade_alpaca_eval(data, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    from agorabench.evaluation.judges.alpaca_eval import judge_alpaca_eval

    result = judge_alpaca_eval(outputs, _needs_judge(ctx, "alpaca_eval"), ctx.out_dir / "judge", data=data.raw, seed=ctx.seed)
    items = [{"id": a.id, "preference": getattr(a, "preference", None)} for a in result.annotations]
    return Graded(items, result.lc_win_rate, "length-controlled win rate", extra=result.to_dict(), ci=result.lc_ci)


def _load_arena_hard(options):
    from agorabench.evaluation.judges.arena_hard import load_arena_hard

    version = options.get("arena_hard_version", "v2.0")
    data = load_arena_hard(version, path=options.get("path"))
    return JudgedData("arena_hard", data.questions, data.sha256, data.source, data)


def _grade_arena_hard(data, outputs: dict[str, str], ctx: GradeContext) -> Graded:
    from agorabench.evaluation.judges.arena_hard import judge_arena_hard

    result = judge_arena_hard(outputs, _needs_judge(ctx, "arena_hard"), ctx.out_dir / "judge", data=data.raw, seed=ctx.seed)
    return Graded([], result.score, "score vs baseline (Bradley-Terry)", extra=result.to_dict(),
                  ci=(result.ci_low, result.ci_high))


register(Benchmark(
    name="alpaca_eval", domain="general", metric="length-controlled win rate",
    description="AlpacaEval 2.0 (805 instructions) vs GPT-4-Turbo references, judged pairwise",
    load=_load_alpaca_eval,
    prompts=lambda data: [Prompt(e.id, user(e.instruction)) for e in data.items],
    grade=_grade_alpaca_eval,
    decoding=PAPER_DECODING["general"],
))

register(Benchmark(
    name="arena_hard", domain="general", metric="score vs baseline (Bradley-Terry)",
    description="Arena-Hard v2.0 (750 questions) vs its baselines, judged in both orders",
    load=_load_arena_hard,
    prompts=lambda data: [Prompt(q.id, user(q.prompt)) for q in data.items],
    grade=_grade_arena_hard,
    decoding=PAPER_DECODING["general"],
))
