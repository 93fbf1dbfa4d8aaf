"""The benchmarks, each declared once, as data: one module of this package per benchmark.

A module declares its benchmark with one `register_benchmark(BenchmarkSpec(...))` call: where the items
come from (`load`), how each is asked (`prompt`), which grader scores the answers (`grader`, a name that
`agorabench.evaluation.graders` resolves), which texts generation must not reproduce
(`decontamination_texts`), which per-item field the paired bootstrap averages (`item_score`), the paper's
decoding for it, and a `version` to bump whenever its items or its prompt change.

Adding a benchmark is adding one file here: the registry imports every module of this package the first
time it is read (modules whose names start with "_" are helpers and are skipped).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agorabench.errors import AgorabenchError
from agorabench.llm.base import Message, SamplingParams
from agorabench.taxonomy import DOMAINS, Domain

# The paper's decoding for students: temperature 0.2 for math, 0 otherwise; top-p 0.95;
# 1024 new tokens; repetition penalty 1.03.
PAPER_DECODING: dict[str, SamplingParams] = {
    "math": SamplingParams(temperature=0.2, top_p=0.95, max_tokens=1024, repetition_penalty=1.03),
    "code": SamplingParams(temperature=0.0, top_p=0.95, max_tokens=1024, repetition_penalty=1.03),
    "general": SamplingParams(temperature=0.0, top_p=0.95, max_tokens=1024, repetition_penalty=1.03),
}


@dataclass(frozen=True)
class BenchmarkData:
    """A benchmark's items (dicts that all carry a string "id"), the SHA-256 of the data they came from,
    and where that was. `raw`: the loader's full data object where a grader needs more than the items
    (a judged benchmark's references and baseline answers)."""

    name: str
    items: list[dict[str, Any]]
    checksum: str
    source: str
    raw: Any = None


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    domain: Domain  # which PGR domain the benchmark counts toward
    metric: str
    description: str
    version: str  # bump when the items or the prompt change: evaluations are then redone
    load: Callable[[dict[str, Any]], BenchmarkData]  # options (e.g. {"path": ...}) -> data
    prompt: Callable[[dict[str, Any]], list[Message]]  # one item -> the messages the model answers
    grader: str  # a name in agorabench.evaluation.graders
    decontamination_texts: Callable[[dict[str, Any]], Iterable[str]]  # options -> texts
    # The results.jsonl field the paired bootstrap averages; None for judged benchmarks (no per-item mean).
    item_score: str | None
    decoding: SamplingParams


def user(text: str) -> list[Message]:
    """A prompt of one user message: how every benchmark here asks."""
    return [Message(role="user", content=text)]


class _Registry(Mapping[str, BenchmarkSpec]):
    """name -> spec, filled by the benchmark modules of this package on first read."""

    def __init__(self) -> None:
        self._specs: dict[str, BenchmarkSpec] = {}
        self._discovered = False

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True  # first: a module that reads the registry while registering must not recurse
        for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if not module.name.startswith("_"):
                importlib.import_module(f"{__name__}.{module.name}")

    def __getitem__(self, name: str) -> BenchmarkSpec:
        self._discover()
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        self._discover()
        return iter(dict(self._specs))

    def __len__(self) -> int:
        self._discover()
        return len(self._specs)


BENCHMARKS = _Registry()


def register_benchmark(spec: BenchmarkSpec) -> BenchmarkSpec:
    """Add a benchmark; two modules claiming one name is a mistake, so a second registration fails."""
    if spec.name in BENCHMARKS._specs:
        raise AgorabenchError(f"benchmark {spec.name!r} is registered twice")
    if spec.domain not in DOMAINS:
        known = ", ".join(DOMAINS)
        raise AgorabenchError(f"benchmark {spec.name!r}: domain {spec.domain!r} is not one of {known}")
    if not spec.version or not spec.grader:
        raise AgorabenchError(f"benchmark {spec.name!r}: needs a version and a grader name")
    BENCHMARKS._specs[spec.name] = spec
    return spec


def unregister_benchmark(name: str) -> None:
    """Remove a benchmark (tests, and code that replaces one); an absent name is not an error."""
    BENCHMARKS._specs.pop(name, None)


def get_benchmark(name: str) -> BenchmarkSpec:
    if name not in BENCHMARKS:
        raise AgorabenchError(f"unknown benchmark {name!r} (known: {', '.join(sorted(BENCHMARKS))})")
    return BENCHMARKS[name]
