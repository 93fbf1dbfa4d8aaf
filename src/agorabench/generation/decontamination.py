"""Benchmark decontamination: drop generated (or seed) instructions that overlap a benchmark test item.

Overlap = sharing any word n-gram (n = 13 by default, as in GPT-3's decontamination) with a test
item, after normalisation; a text shorter than n words is contaminated if it equals a test item's
normalised text or is contained in one. Test items are every registered benchmark's
`decontamination_texts` (`agorabench.data.benchmarks`): the data that ships in packages (GSM8K,
HumanEval, AlpacaEval 2.0, Arena-Hard, IFEval), and local copies of the others (MATH, MBPP) when their
paths are given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agorabench.data.benchmarks import BENCHMARKS
from agorabench.errors import AgorabenchError
from agorabench.generation.dedup import normalise


@dataclass
class Decontaminator:
    ngram: int = 13
    _grams: dict[int, str] = field(default_factory=dict)
    _short_texts: dict[str, str] = field(default_factory=dict)
    items_per_benchmark: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_benchmarks(
        cls, ngram: int = 13, local_paths: dict[str, Path] | None = None, only: Iterable[str] | None = None
    ) -> Decontaminator:
        """The texts of every registered benchmark (of those in `only`, when given, plus every benchmark with
        a local path: `local_paths` maps a benchmark to its `path` option, a local copy of its data)."""
        paths = {name: Path(path) for name, path in (local_paths or {}).items()}
        unknown = sorted(set(paths) - set(BENCHMARKS))
        if unknown:
            raise AgorabenchError(
                f"decontamination: unknown benchmark {unknown[0]!r} (known: {', '.join(sorted(BENCHMARKS))})"
            )
        index = cls(ngram=ngram)
        wanted = set(only) if only is not None else None
        for name, spec in BENCHMARKS.items():
            if name in paths or wanted is None or name in wanted:
                options = {"path": paths[name]} if name in paths else {}
                index.add_texts(name, spec.decontamination_texts(options))
        return index

    def add_texts(self, benchmark: str, texts: Iterable[str]) -> None:
        count = 0
        for text in texts:
            words = normalise(text).split()
            if not words:
                continue
            count += 1
            self._short_texts.setdefault(" ".join(words), benchmark)
            for i in range(len(words) - self.ngram + 1):
                self._grams.setdefault(hash(" ".join(words[i : i + self.ngram])), benchmark)
        self.items_per_benchmark[benchmark] = self.items_per_benchmark.get(benchmark, 0) + count

    def match(self, text: str) -> str | None:
        """The benchmark `text` overlaps, or None."""
        words = normalise(text).split()
        if not words:
            return None
        if len(words) < self.ngram:
            joined = " ".join(words)
            if joined in self._short_texts:
                return self._short_texts[joined]
            # A short instruction copied out of a longer test item.
            if len(words) >= 6:
                for item, benchmark in self._short_texts.items():
                    if joined in item:
                        return benchmark
            return None
        for i in range(len(words) - self.ngram + 1):
            benchmark = self._grams.get(hash(" ".join(words[i : i + self.ngram])))
            if benchmark is not None:
                return benchmark
        return None
