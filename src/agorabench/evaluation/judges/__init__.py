"""LLM judges: AlpacaEval 2.0 (win rate and length-controlled win rate against reference outputs) and
Arena-Hard (five-level verdicts in both orders, Bradley-Terry scores, bootstrap intervals).

Judging runs through the generation engine, so any backend can judge and judgments get retries, the
request cache, resume and cost accounting. The statistics are plain functions of the judgments:
`length_controlled_win_rate` (alpaca_eval's GLMs, with its own code when the `alpaca-eval` package is
installed), `resampled_lc_win_rates`, `estimate_instruction_difficulty`, `bradley_terry`, `bootstrap_ci`.
Their data (instructions, references, questions, baseline answers) loads in `agorabench.data.benchmarks`.
"""

from agorabench.evaluation.judges.alpaca_eval import (
    AlpacaEvalResult,
    judge_alpaca_eval,
)
from agorabench.evaluation.judges.arena_hard import (
    ArenaHardResult,
    Battle,
    arena_hard_score,
    bradley_terry,
    judge_arena_hard,
    win_rate_from_ratings,
)
from agorabench.evaluation.judges.length_control import (
    Annotation,
    GamedBaselines,
    LengthControlData,
    estimate_instruction_difficulty,
    length_control_data,
    length_controlled_win_rate,
    load_gamed_baselines,
    load_instruction_difficulty,
    resampled_lc_win_rates,
    win_rate,
)
from agorabench.evaluation.judges.pairwise import (
    GRADED_LABELS,
    BootstrapResult,
    Comparison,
    PairwiseJudgeTask,
    bootstrap_ci,
    fit_logistic,
    parse_graded_verdict,
    parse_preference,
)

__all__ = [
    "GRADED_LABELS",
    "AlpacaEvalResult",
    "Annotation",
    "ArenaHardResult",
    "Battle",
    "BootstrapResult",
    "Comparison",
    "GamedBaselines",
    "LengthControlData",
    "PairwiseJudgeTask",
    "arena_hard_score",
    "bootstrap_ci",
    "bradley_terry",
    "estimate_instruction_difficulty",
    "fit_logistic",
    "judge_alpaca_eval",
    "judge_arena_hard",
    "length_control_data",
    "length_controlled_win_rate",
    "load_gamed_baselines",
    "load_instruction_difficulty",
    "parse_graded_verdict",
    "parse_preference",
    "resampled_lc_win_rates",
    "win_rate",
    "win_rate_from_ratings",
]
