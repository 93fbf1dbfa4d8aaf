"""The dry run's estimate of a run: per generator x setting, what would be sent and what it would cost.

Honest by construction, and every assumption is named (docs/running.md, "What a dry run assumes"):

- inputs: the configured seeds are loaded and counted (RG/QE draw `instances` of them); a source that cannot
  be read (offline) is one note, "size unknown offline", and its setting is estimated from the bundled seeds;
- prompt tokens: every prompt the setting would send is rendered from those seeds and counted at 4
  characters a token (OpenAI's rule of thumb for English; no provider tokenizer ships offline);
- output tokens: a per-domain prior (`RESPONSE_TOKENS`) plus, for methods that write an instruction, the mean
  instruction length of the seeds; a finished generation of the same generator and setting in this run's
  store replaces the prior with what it measured;
- retries: a per-domain prior rejection rate (`REJECTION_RATE`, replaced by a measured acceptance rate in the
  same way), giving expected attempts (1 - p^(R+1)) / (1 - p) for R validation retries;
- dollars: the generator's price, at batch price in batch mode; an unknown price is left out and said so.
Nothing here waits on the network: the Hub is probed once (data/hub.py) and, offline, not asked.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from agorabench.data.seeds import SeedSource
from agorabench.errors import AgorabenchError
from agorabench.generation.engine import estimate_tokens, pending_items
from agorabench.generation.runner import API_FIRST_TOKEN_S, API_TOKENS_PER_S, LOCAL_TOKENS_PER_S
from agorabench.generation.settings.registry import build_setting
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.registry import backend_spec
from agorabench.pipeline.config import RunConfig
from agorabench.pipeline.plan import Cell, Plan
from agorabench.pipeline.preflight import needs_endpoint
from agorabench.pipeline.stages import generation_configs
from agorabench.pipeline.store import ArtifactStore

# Response tokens a generator writes, per domain. general: the mean AlpacaEval 2.0 output length of the paper's
# six generators (alpaca-eval 0.6.6's leaderboard CSV, `avg_length`: 1,488-2,181 characters, mean 1,906),
# at 4 characters a token. math and code: our assumption for worked solutions and fenced functions; a
# pilot run measures them (see the module docstring).
RESPONSE_TOKENS = {"math": 300, "code": 250, "general": 475}
DEFAULT_RESPONSE_TOKENS = 400  # a domain without its own prior
SECTION_TOKENS = 12  # [Instruction] / [Response] / [END] markers around an output that writes both
# Share of samples the validators reject (a math answer without its [RESULT] block, chatty code, a duplicate):
# our assumption for API-class generators, replaced by a run's measured acceptance rate when there is one.
REJECTION_RATE = {"math": 0.10, "code": 0.15, "general": 0.03}
DEFAULT_REJECTION_RATE = 0.10


@dataclass
class SettingSample:
    """What every generator of a setting would be asked: shared, since prompts do not depend on the generator."""

    method: str
    domain: str
    inputs: int | None  # RG/QE: inputs the seeds hold (None: unknown); IG: None (it writes new instructions)
    planned: int  # items to ask for
    prompt_tokens: int  # of one attempt at every planned item
    instruction_tokens: float  # mean instruction length of the seeds (what IG/QE outputs carry)
    writes_instruction: bool
    # IG: demonstrations per prompt taken from the run's own accepted instances (rendered here from seeds, since
    # the run has none yet), and the seeds' mean pair length they stand in for.
    run_demonstrations: int = 0
    seed_pair_tokens: float = 0.0
    notes: list[str] = field(default_factory=list)


@dataclass
class GenerationRow:
    generator: str
    setting: str  # "RG math"
    method: str
    domain: str
    status: str  # "to run", "done"
    inputs: int | None
    records: int  # expected records
    requests: int  # expected requests, validation retries included
    prompt_tokens: int
    output_tokens: int
    cost_usd: float | None
    seconds: float | None
    batch: bool = False
    flags: list[str] = field(default_factory=list)  # short markers: "offline", "price?", "endpoint?", "short"


def sample_setting(config: RunConfig, cell: Cell) -> SettingSample:
    params = {**cell.generate.params, **cell.generate.runtime}
    _, setting, gen_config = generation_configs(params)
    notes: list[str] = []
    try:
        task = build_setting(setting, gen_config.n, gen_config.seed)
    except AgorabenchError as exc:
        if not any(s.path for s in setting.seeds):
            raise
        # The real seeds cannot be read (offline, say): prompt sizes from the bundled seeds instead.
        notes.append(f"{cell.method}/{cell.domain}: {_short(str(exc))}")
        bundled = setting.model_copy(update={"seeds": [SeedSource(source="agorabench")]})
        task = build_setting(bundled, gen_config.n, gen_config.seed)
        task_inputs = None
    else:
        # What the seeds hold (the task itself keeps only the `instances` it drew).
        task_inputs = sum(1 for row in task.seeds if task.is_input(row)) if task.draws_inputs else None
    items = pending_items(task, set(), config.instances)
    prompt_tokens = sum(estimate_tokens(task.messages(item, 0)) for item in items)
    planned = len(items)
    if task_inputs is None and task.draws_inputs:
        # Offline: scale the bundled prompts to the instances the real seeds would give.
        prompt_tokens = round(prompt_tokens * config.instances / max(planned, 1))
        planned = config.instances
    instructions = [len(row.get("instruction", "")) / 4 for row in task.seeds] or [0.0]
    pairs = [(len(row.get("instruction", "")) + len(row.get("response", ""))) / 4 for row in task.seeds] or [0.0]
    run_demos = setting.demonstrations_from_run if task.draws_themes else 0
    return SettingSample(cell.method, cell.domain, task_inputs, planned, prompt_tokens,
                         statistics.fmean(instructions), task.writes_instruction,
                         run_demonstrations=run_demos, seed_pair_tokens=statistics.fmean(pairs), notes=notes)


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def measured(store: ArtifactStore | None, label: str) -> dict[str, float]:
    """Output tokens per request and acceptance rate of a finished generation with this label (any key)."""
    if store is None:
        return {}
    for entry in store.entries():
        if entry.kind != "generate" or entry.label != label or entry.status != "done":
            continue
        try:
            metadata = json.loads((entry.path / "metadata.json").read_text())
        except (OSError, ValueError):
            continue
        run = metadata.get("this_run") or {}
        found: dict[str, float] = {}
        if run.get("requests_sent"):
            found["output_tokens"] = run["completion_tokens"] / run["requests_sent"]
        if metadata.get("acceptance_rate"):
            found["acceptance"] = metadata["acceptance_rate"]
        return found
    return {}


def estimate_row(config: RunConfig, cell: Cell, generator: GeneratorConfig, sample: SettingSample,
                 store: ArtifactStore | None, done: bool) -> GenerationRow:
    from agorabench.taxonomy import setting_label

    seen = measured(store, cell.generate.label)
    per_output = seen.get("output_tokens") or (
        RESPONSE_TOKENS.get(cell.domain, DEFAULT_RESPONSE_TOKENS)
        + (sample.instruction_tokens + SECTION_TOKENS if sample.writes_instruction else 0)
    )
    per_output = min(per_output, config.generation.sampling.max_tokens)
    prior = REJECTION_RATE.get(cell.domain, DEFAULT_REJECTION_RATE)
    rejected = (1 - seen["acceptance"]) if "acceptance" in seen else prior
    retries = config.generation.engine.max_validation_retries
    attempts = (1 - rejected ** (retries + 1)) / (1 - rejected) if rejected < 1 else retries + 1
    records = round(sample.planned * (1 - rejected ** (retries + 1)))
    requests = round(sample.planned * attempts)
    # IG prompts show instances this run accepted, once it has some: outputs of `per_output` tokens where the
    # rendering above put a seed pair.
    # In batch mode the first attempts all go out in the first batch, before anything is accepted: only the
    # retries see the run's instances.
    grown = sample.run_demonstrations * max(0.0, per_output - sample.seed_pair_tokens)
    grown_attempts = (attempts - 1) if generator.mode == "batch" else attempts
    prompt_tokens = round(sample.prompt_tokens * attempts + grown * sample.planned * grown_attempts)
    output_tokens = round(requests * per_output)
    price = generator.price()
    cost = None
    if price is not None:
        cost = round((prompt_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6, 4)
    flags = []
    if sample.notes:
        flags.append("offline")
    if price is None:
        flags.append("price?")
    if needs_endpoint(generator):
        flags.append("endpoint?")
    if sample.inputs is not None and sample.inputs < config.instances:
        flags.append("short")
    batch = generator.mode == "batch"
    return GenerationRow(
        generator.name, setting_label(cell.method, cell.domain), cell.method, cell.domain,
        "done" if done else "to run", sample.inputs, records, requests, prompt_tokens, output_tokens,
        cost, _seconds(generator, requests, per_output, prompt_tokens), batch, flags,
    )


def _seconds(generator: GeneratorConfig, requests: int, per_output: float, prompt_tokens: int) -> float | None:
    if generator.mode == "batch":
        return None  # the provider's window: up to 24 h, whatever the size
    if backend_spec(generator.backend).in_process:
        return requests * per_output / LOCAL_TOKENS_PER_S
    latency = API_FIRST_TOKEN_S + per_output / API_TOKENS_PER_S
    per_s = generator.max_concurrency / latency
    if generator.requests_per_minute:
        per_s = min(per_s, generator.requests_per_minute / 60)
    if generator.tokens_per_minute and requests:
        per_s = min(per_s, generator.tokens_per_minute / 60 / ((prompt_tokens + requests * per_output) / requests))
    return requests / per_s if requests else 0.0


def estimate_generation(
    config: RunConfig, plan: Plan, store: ArtifactStore | None
) -> tuple[list[GenerationRow], list[str]]:
    """One row per generator x setting (in the plan's order), and the notes that say what was left out."""
    samples: dict[tuple[str, str], SettingSample] = {}
    by_name = {g.name: g for g in plan.generators}
    rows, notes, unread = [], [], []
    seen: set[str] = set()
    for cell in plan.cells:
        if cell.generate.key in seen:  # one dataset serves every student: estimate it once
            continue
        seen.add(cell.generate.key)
        key = (cell.method, cell.domain)
        if key not in samples:
            samples[key] = sample_setting(config, cell)
            unread += samples[key].notes
        done = store is not None and store.is_done(cell.generate.key)
        rows.append(estimate_row(config, cell, by_name[cell.generator], samples[key], store, done))
    if unread:
        notes.append(f"seed size unknown offline for {len(unread)} setting(s): inputs assumed to be instances "
                     f"({config.instances}) and prompt sizes taken from the bundled seeds; first: {unread[0]}")
    unpriced = sorted({r.generator for r in rows if "price?" in r.flags})
    if unpriced:
        notes.append(f"price unknown for {', '.join(unpriced)}: their cost is left out of the total "
                     "(give `pricing:` on the generator)")
    endpointless = sorted({r.generator for r in rows if "endpoint?" in r.flags})
    if endpointless:
        notes.append(f"{', '.join(endpointless)}: no endpoint of yours; set base_urls (an OpenAI-compatible "
                     "server such as vLLM) before a real run")
    short = sorted({f"{r.method}/{r.domain} ({r.inputs})" for r in rows if "short" in r.flags})
    if short:
        notes.append(f"fewer inputs than instances ({config.instances}): {', '.join(short)}; a real run refuses "
                     "this unless generation.allow_fewer is true")
    if any(r.batch for r in rows):
        notes.append("batch-mode generators: at batch prices, time bounded by the provider's 24 h window")
    return rows, notes


def rows_as_json(rows: list[GenerationRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
