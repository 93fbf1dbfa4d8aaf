"""Getting a model's outputs on benchmark prompts, through the generation engine.

Any backend can be evaluated (a local checkpoint or Hub id through transformers, vLLM, or an
OpenAI-compatible endpoint), and every evaluation gets the engine's retries, request cache, resume,
progress and accounting. Unlike generation, nothing is rejected: an empty or cut-off answer is an
answer, and the grader scores it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agorabench.errors import AgorabenchError, ConfigError
from agorabench.generation.config import EngineConfig, GenerateConfig
from agorabench.generation.runner import GenerationJob, run_jobs
from agorabench.generation.task import Task, WorkItem
from agorabench.llm.base import Completion, Message, SamplingParams
from agorabench.llm.config import GeneratorConfig, resolve_generator


@dataclass(frozen=True)
class Prompt:
    id: str
    messages: list[Message]


class BenchmarkOutputs(Task):
    """One benchmark's prompts as an engine task whose every completion is accepted."""

    def __init__(self, benchmark: str, domain: str, prompts: list[Prompt]):
        self.name = f"evaluate/{benchmark}"
        self.setting = {"method": "evaluation", "domain": domain, "benchmark": benchmark}
        self.prompts = prompts

    def items(self) -> Iterator[WorkItem]:
        for prompt in self.prompts:
            yield WorkItem(id=prompt.id, payload={"messages": prompt.messages})

    def messages(self, item: WorkItem, attempt: int) -> list[Message]:
        return item.payload["messages"]

    def parse(self, item: WorkItem, completion: Completion) -> dict[str, Any]:
        return {"instruction": item.payload["messages"][-1].content, "response": completion.text}

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "setting": self.setting}


def resolve_model(spec: str) -> GeneratorConfig:
    """A model to evaluate: a generator spec (preset, backend:model, .yaml), or a checkpoint folder /
    Hub id, run in process with transformers (base models get the plain prompt format)."""
    try:
        return resolve_generator(spec, source="--model")
    except ConfigError:
        if spec.endswith((".yaml", ".yml", ".json")):
            raise
    from agorabench.llm.embedded import EMBEDDED_MODELS

    if spec in EMBEDDED_MODELS:  # e.g. the embedded student base, gemma-3-270m
        return GeneratorConfig(name=spec, backend="local", model=spec)
    path = Path(spec).expanduser()
    if path.is_dir() or (spec.count("/") == 1 and not path.exists()):
        name = path.name if path.is_dir() else spec.split("/")[-1]
        return GeneratorConfig(name=name, backend="local", model=str(path) if path.is_dir() else spec)
    raise AgorabenchError(
        f"--model: {spec!r} is not a generator preset, backend:model, config file, checkpoint folder or Hub id"
    )


def generate_outputs(
    model: GeneratorConfig,
    benchmark: str,
    domain: str,
    prompts: list[Prompt],
    decoding: SamplingParams,
    out_dir: Path,
    *,
    seed: int = 42,
    engine: EngineConfig | None = None,
    progress=None,
) -> dict[str, dict[str, Any]]:
    """The model's records for every prompt ({id: record}); resumable in `out_dir`."""
    config = GenerateConfig(
        generator=model, sampling=decoding, engine=engine or EngineConfig(), seed=seed, output_dir=out_dir
    )
    task = BenchmarkOutputs(benchmark, domain, prompts)
    (result,) = run_jobs([GenerationJob(config, model, task, out_dir, progress)])
    if result.error is not None:
        raise AgorabenchError(result.error)
    from agorabench.generation.store import JsonlStore

    store = JsonlStore(out_dir / "records.jsonl")
    try:
        records = {r["id"]: r for r in store.records}
    finally:
        store.close()
    missing = [p.id for p in prompts if p.id not in records]
    if missing:
        raise AgorabenchError(
            f"{benchmark}: {len(missing)} prompts got no answer (see {out_dir / 'failed.jsonl'}); rerun to retry"
        )
    return records
