"""AlpacaEval 2.0: pairwise win rate against GPT-4-Turbo reference outputs, and the length-controlled
win rate, as alpaca_eval (tatsu-lab/alpaca_eval, the `alpaca-eval` package) computes them.

Data: the 805 instructions with `gpt4_1106_preview` reference outputs, loaded by
`agorabench.data.benchmarks.alpaca_eval`; an instruction's id is its `index` in AlpacaEval.

The judge. With `alpaca-eval` installed (the `alpaca` extra) the judge is asked what AlpacaEval 2.0's
own annotator, `weighted_alpaca_eval_gpt4_turbo`, asks: its template (read from the package's files, see
`prompts.alpaca_eval_prompt`), the two outputs shown as models "m" and "M" in the order alpaca_eval itself
draws (`official_position`), a one-token answer, and the preference P(model's label) / P("m" or "M")
from the first token's top-5 log-probabilities (its `logprob_parser`). Differences: greedy decoding
(temperature 0; the official config asks for temperature 1 and notes that the temperature applies to
sampling, not to the log-probabilities read; at 0 every backend reports the model's own), and a backend
without log-probabilities (Anthropic, the embedded one) gives the 0/1 preference of its text answer;
`preference_sources` counts which. Without the package (or with `prompt="agorabench"`) the prompt is
ours (`prompts.PREFERENCE_*`, [[A]]/[[B]] verdicts, 0/1 preferences, positions by a seeded hash).

Position bias. `order="official"` is alpaca_eval's draw; `"random"` our seeded hash of the id; `"both"`
asks twice, once per order, and averages (twice the cost; position bias cancels per instruction).

Length control: `judges/length_control.py` (alpaca_eval's GLMs, which variant runs when, ours vs the
package's fit, the resampled refits).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agorabench.data.benchmarks.alpaca_eval import AlpacaEvalData, load_alpaca_eval
from agorabench.errors import AgorabenchError
from agorabench.evaluation.judges import prompts
from agorabench.evaluation.judges.length_control import (
    GLMS,
    Annotation,
    GlmName,
    Implementation,
    LengthControlData,
    length_control_data,
    length_controlled_win_rate,
    question_rows,
    resampled_lc_win_rates,
    win_rate,
)
from agorabench.evaluation.judges.pairwise import (
    Comparison,
    PairwiseJudgeTask,
    Position,
    bootstrap_ci,
    digest,
    judge_sampling,
    judging_job,
    run_judgments,
    seeded_position,
    seeded_subset,
)
from agorabench.generation.config import EngineConfig
from agorabench.llm.config import GeneratorConfig, resolve_generator

BENCHMARK = "alpaca_eval_2.0"
Order = Literal["official", "random", "both"]
PromptChoice = Literal["auto", "official", "agorabench"]
OFFICIAL_SWITCH_SEED = 0  # PairwiseAnnotator's seed, which its output-order switch processor gets


def official_position(instruction: str, seed: int = OFFICIAL_SWITCH_SEED) -> Position:
    """The model's position as alpaca_eval draws it: output_1 is the reference and output_2 the model,
    switched when `random.Random("is_switched_outputs" + instruction + str(seed))` picks True from
    [False, True] (its RandomSwitchTwoColumnsProcessor, with the PairwiseAnnotator's default seed 0)."""
    switched = random.Random("is_switched_outputs" + instruction + str(seed)).choices([False, True], k=1)[0]
    return "A" if switched else "B"


# ----------------------------------------------------------------------------- judging


@dataclass
class AlpacaEvalResult:
    win_rate: float  # percent: the mean preference
    discrete_win_rate: float  # percent: preferences rounded to 0/1 (0.5 stays), alpaca_eval's discrete_win_rate
    lc_win_rate: float  # percent
    n: int  # instructions with a verdict
    standard_error: float | None  # of the win rate, percent (None for a single instruction)
    ci: tuple[float, float]  # bootstrap interval of the win rate (over instructions), percent
    lc_ci: tuple[float, float]
    n_requested: int
    n_failed: int  # instructions without any verdict (excluded)
    failure_reasons: dict[str, int]
    n_wins: int  # preference > 0.5
    n_losses: int  # preference < 0.5
    n_ties: int  # preference == 0.5
    position_consistency: float | None  # order="both": fraction of instructions judged alike both ways
    avg_length_model: float
    avg_length_reference: float
    lc_model: str  # the GLM that ran: length_controlled_v1, _noreg or _minimal
    lc_implementation: str  # "alpaca_eval <version>" or "agorabench"
    lc_C: float
    lc_coefficients: dict[str, float]
    lc_sources: dict[str, str | None]  # where the difficulty and the gamed baselines came from
    lc_notes: list[str]  # why a better variant did not run
    prompt: str  # "agorabench:<PROMPT_VERSION>" or "alpaca_eval:<annotator>@<version>"
    preference_sources: dict[str, int]  # judgments by "logprobs" (continuous) and "verdict" (0/1 text)
    order: str
    seed: int
    judge: dict[str, str]
    data_sha256: str
    judge_cost_usd: float
    requests_sent: int
    cached_responses: int
    output_dir: str
    annotations: list[Annotation] = field(default_factory=list, repr=False)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)  # `question_rows`
    benchmark: str = BENCHMARK

    def to_dict(self, with_annotations: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rows")
        if not with_annotations:
            data.pop("annotations")
        return data


def alpaca_eval_comparisons(
    outputs: Mapping[str, str], data: AlpacaEvalData, ids: Sequence[str], order: Order, seed: int
) -> list[Comparison]:
    examples = data.by_id()
    comparisons = []
    for qid in ids:
        example = examples[qid]
        if order == "both":
            positions: tuple[Position, ...] = ("A", "B")
        elif order == "official":
            positions = (official_position(example.instruction),)
        else:
            positions = (seeded_position(seed, qid),)
        for position in positions:
            comparisons.append(
                Comparison(
                    id=f"{qid}:model_{position}",
                    question_id=qid,
                    instruction=example.instruction,
                    model_answer=outputs[qid],
                    baseline_answer=example.reference,
                    model_position=position,
                    category=example.dataset,
                )
            )
    return comparisons


def judge_alpaca_eval(
    outputs: Mapping[str, str],
    judge: GeneratorConfig | str,
    out_dir: Path | str,
    *,
    limit: int | None = None,
    order: Order | None = None,
    seed: int = 42,
    data: AlpacaEvalData | None = None,
    prompt: PromptChoice = "auto",
    instruction_difficulty: Mapping[str, float] | str | Path | Literal[False] | None = None,
    gamed_baselines: str | Path | Literal[False] | None = None,
    lc_model: GlmName | None = None,
    lc_implementation: Implementation = "auto",
    max_tokens: int | None = None,
    engine: EngineConfig | None = None,
    n_bootstrap: int = 1000,
    progress: Any = None,
) -> AlpacaEvalResult:
    """Judge a model's outputs (instruction id -> output) against the reference outputs.

    `prompt`: "official" (AlpacaEval 2.0's annotator, from the alpaca-eval package), "agorabench" (ours),
    "auto" (official when the package is installed). `order`: default "official" with the official
    prompt, "random" with ours. `instruction_difficulty`, `gamed_baselines`: see `length_control_data`
    (None: the official files from the Hub, when they can be had); `lc_model` forces a GLM.
    `max_tokens`: default the official annotator's (1) or 256 for ours.

    Only instructions present in `outputs` are judged (`limit`: a seeded, nested subset of them).
    Judgments go to `out_dir` (records.jsonl, failed.jsonl, metadata.json, plus judge_summary.json);
    rerunning resumes, and instructions whose judgment failed are excluded from the scores and counted.
    """
    official = _choose_prompt(prompt)
    order = order or ("official" if official is not None else "random")
    if order not in ("official", "random", "both"):
        raise AgorabenchError(f"order must be 'official', 'random' or 'both', not {order!r}")
    data = data or load_alpaca_eval()
    out_dir = Path(out_dir)
    known = data.by_id()
    unknown = [k for k in outputs if k not in known]
    if unknown:
        raise AgorabenchError(
            f"outputs for unknown AlpacaEval ids: {unknown[:5]} (ids are '0' ... '{len(known) - 1}')"
        )
    bad = [k for k, v in outputs.items() if not isinstance(v, str)]
    if bad:
        raise AgorabenchError(f"outputs must be strings; not for ids {bad[:5]}")
    ids = seeded_subset([e.id for e in data.examples if e.id in outputs], limit, seed)
    if not ids:
        raise AgorabenchError("no outputs to judge")
    if lc_model is not None and lc_model not in GLMS:
        raise AgorabenchError(f"unknown lc_model {lc_model!r} (known: {', '.join(GLMS)})")
    lc_data = length_control_data(instruction_difficulty, gamed_baselines)  # fails early on a bad path
    if lc_model is not None and GLMS.index(lc_model) < GLMS.index(lc_data.best_model()):
        raise AgorabenchError(f"lc_model={lc_model} needs data that is missing: {'; '.join(lc_data.notes)}")

    task = PairwiseJudgeTask(
        BENCHMARK,
        "preference",
        alpaca_eval_comparisons(outputs, data, ids, order, seed),
        identity_extra={"order": order, "data_sha256": data.sha256, "outputs": digest(dict(outputs))},
        official=official,
    )
    generator = resolve_generator(judge, source="judge")
    if official is not None:
        sampling = judge_sampling(max_tokens or official.max_tokens, top_logprobs=official.top_logprobs)
    else:
        sampling = judge_sampling(max_tokens or 256)
    job = judging_job(task, generator, out_dir, sampling=sampling, engine=engine, seed=seed, progress=progress)
    judgments = run_judgments(job)

    by_question: dict[str, list[float]] = {}
    sources: dict[str, int] = {}
    for record in judgments.records.values():
        by_question.setdefault(record["question_id"], []).append(float(record["score"]))
        source = record.get("preference_source", "verdict")
        sources[source] = sources.get(source, 0) + 1
    annotations = [
        Annotation(qid, float(np.mean(by_question[qid])), len(outputs[qid]), len(known[qid].reference))
        for qid in ids
        if qid in by_question
    ]
    if not annotations:
        raise AgorabenchError(
            f"no AlpacaEval judgment succeeded ({judgments.failure_reasons()}); see {out_dir / 'failed.jsonl'}"
        )
    result = alpaca_eval_result(
        annotations,
        lc_data=lc_data,
        lc_model=lc_model,
        lc_implementation=lc_implementation,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    consistency = None
    if order == "both":
        pairs = [v for v in by_question.values() if len(v) == 2]
        consistency = float(np.mean([(v[0] > 0.5) == (v[1] > 0.5) for v in pairs])) if pairs else None
    summary = AlpacaEvalResult(
        **result,
        n_requested=len(ids),
        n_failed=len(ids) - len(annotations),
        position_consistency=consistency,
        prompt=official.name if official is not None else f"agorabench:{prompts.PROMPT_VERSION}",
        preference_sources=dict(sorted(sources.items())),
        order=order,
        seed=seed,
        data_sha256=data.sha256,
        **judgments.provenance(generator, out_dir),
        annotations=annotations,
    )
    (out_dir / "judge_summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def _choose_prompt(choice: PromptChoice) -> prompts.AlpacaEvalPrompt | None:
    if choice not in ("auto", "official", "agorabench"):
        raise AgorabenchError(f"prompt must be 'auto', 'official' or 'agorabench', not {choice!r}")
    if choice == "agorabench":
        return None
    official = prompts.alpaca_eval_prompt()
    if official is None and choice == "official":
        raise AgorabenchError(
            "the official AlpacaEval prompt needs the alpaca-eval package: pip install 'agorabench[alpaca]'"
        )
    return official


def alpaca_eval_result(
    annotations: Sequence[Annotation],
    *,
    instruction_difficulty: Mapping[str, float] | None = None,
    lc_data: LengthControlData | None = None,
    lc_model: GlmName | None = None,
    lc_implementation: Implementation = "auto",
    n_bootstrap: int = 1000,
    seed: int = 42,
) -> dict[str, Any]:
    """The scores of a set of annotations: raw and length-controlled win rates with bootstrap intervals
    over instructions (the LC by `resampled_lc_win_rates`). `instruction_difficulty` alone is shorthand
    for `lc_data=LengthControlData(instruction_difficulty)`; neither: length_controlled_minimal."""
    if lc_data is None:
        lc_data = LengthControlData(difficulty=None if instruction_difficulty is None else dict(instruction_difficulty))
        if instruction_difficulty is not None:
            lc_data.sources["instruction_difficulty"] = "given"
    prefs = np.array([a.preference for a in annotations])
    lc = length_controlled_win_rate(
        annotations, lc_data.difficulty, lc_data.gamed, model=lc_model, implementation=lc_implementation
    )
    rows = question_rows(annotations, lc, lc_data.difficulty, lc_data.gamed)
    n = len(annotations)
    ids = [a.id for a in annotations]
    raw_ci = bootstrap_ci(ids, lambda r: 100.0 * float(prefs[r].mean()), n_rounds=n_bootstrap, seed=seed)
    rounds = np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))
    lc_samples = np.concatenate(
        [resampled_lc_win_rates(rows, rounds[i : i + 256]) for i in range(0, n_bootstrap, 256)]
    )
    lc_low, lc_high = np.percentile(lc_samples, [2.5, 97.5])
    return {
        "win_rate": win_rate(annotations),
        "discrete_win_rate": 100.0 * float(np.mean(np.where(prefs == 0.5, 0.5, np.round(prefs)))),
        "lc_win_rate": lc.win_rate,
        "n": n,
        "standard_error": 100.0 * float(prefs.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
        "ci": (raw_ci.low, raw_ci.high),
        "lc_ci": (float(lc_low), float(lc_high)),
        "n_wins": int(np.sum(prefs > 0.5)),
        "n_losses": int(np.sum(prefs < 0.5)),
        "n_ties": int(np.sum(prefs == 0.5)),
        "avg_length_model": float(np.mean([a.model_length for a in annotations])),
        "avg_length_reference": float(np.mean([a.baseline_length for a in annotations])),
        "lc_model": lc.model,
        "lc_implementation": lc.implementation,
        "lc_C": lc.C,
        "lc_coefficients": lc.coefficients,
        "lc_sources": dict(lc_data.sources),
        "lc_notes": list(lc_data.notes),
        "rows": rows,
    }
