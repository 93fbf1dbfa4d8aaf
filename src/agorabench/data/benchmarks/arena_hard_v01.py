"""Arena-Hard v0.1, the AgoraBench paper's version: 500 questions judged in both orders against gpt-4-0314
(official judge gpt-4-1106-preview). Data from a local folder or the Hub dataset lmarena-ai/arena-hard-auto;
loader and declaration shared with v2.0 in `arena_hard.py`."""

from agorabench.data.benchmarks import register_benchmark
from agorabench.data.benchmarks.arena_hard import arena_hard_spec

register_benchmark(arena_hard_spec("arena_hard_v0.1", "v0.1"))
