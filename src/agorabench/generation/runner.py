"""`agorabench generate`: set up an output folder, run the engine, write records and metadata.

Layout of an output folder:
  records.jsonl   accepted records, one JSON object a line (datasets.load_dataset("json", ...) reads it)
  failed.jsonl    items that exhausted their retry budgets, with the reason (retried on the next run)
  metadata.json   config, package versions, counts, rejections, failures, tokens, cost, wall time
  run.json        what defines the run; a rerun with a different definition is refused
  batches.jsonl   batch mode only: the provider batches submitted, their states and what they billed (a rerun
                  polls the unfinished ones instead of resubmitting; llm/batch/ledger.py)
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agorabench import __version__
from agorabench.errors import AgorabenchError, ConfigError
from agorabench.generation.cache import RequestCache
from agorabench.generation.config import GenerateConfig
from agorabench.generation.engine import Engine, FatalRunError, RunStats, SpendCap, estimate_tokens, pending_items
from agorabench.generation.store import JsonlStore
from agorabench.generation.task import Task
from agorabench.io import installed_versions, write_json_atomic
from agorabench.jsonl import read_jsonl_lenient
from agorabench.llm.base import FatalError
from agorabench.llm.config import GeneratorConfig
from agorabench.llm.registry import backend_spec, create_backend

RECORDS = "records.jsonl"
FAILURES = "failed.jsonl"
METADATA = "metadata.json"
RUN_IDENTITY = "run.json"

# The status of a run the spend cap stopped (metadata.json `status`, GenerateResult.status).
STOPPED_SPEND_CAP = "stopped: spend cap"

_VERSIONED_PACKAGES = ("openai", "anthropic", "aiohttp", "pydantic", "torch", "transformers", "vllm")

# Dry-run assumptions, documented in docs/engine.md: an API streams ~60 tokens/s per request after
# ~0.5 s to first token; the embedded model decodes ~80 tokens/s in batches of 8 on 2 CPU cores (fp32).
API_TOKENS_PER_S = 60.0
API_FIRST_TOKEN_S = 0.5
LOCAL_TOKENS_PER_S = 80.0


def package_versions() -> dict[str, str]:
    return {"agorabench": __version__, "python": sys.version.split()[0], **installed_versions(_VERSIONED_PACKAGES)}


class OutputFolder:
    """An output folder held by one process at a time (a lock file), bound to one run definition."""

    def __init__(self, path: Path, identity: dict[str, Any]):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._lock = open(path / ".lock", "w")  # noqa: SIM115 - held for the life of the run
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AgorabenchError(f"{path}: another agorabench process is writing this folder") from None
        self._check_identity(identity)

    def _check_identity(self, identity: dict[str, Any]) -> None:
        file = self.path / RUN_IDENTITY
        canonical = json.loads(json.dumps(identity, default=str))
        if file.exists():
            previous = json.loads(file.read_text())
            if previous != canonical:
                changed = sorted(k for k in set(previous) | set(canonical) if previous.get(k) != canonical.get(k))
                raise AgorabenchError(
                    f"{self.path}: holds a run with a different {', '.join(changed)}; "
                    "choose another output folder (-o) to start a new run"
                )
            return
        file.write_text(json.dumps(canonical, indent=2) + "\n")

    def release(self) -> None:
        self._lock.close()


def run_identity(task: Task, generator: GeneratorConfig, config: GenerateConfig) -> dict[str, Any]:
    return {
        "task": task.identity(),
        "generator": {"name": generator.name, "backend": generator.backend, "model": generator.model},
        "sampling": config.sampling.model_dump(mode="json"),
        "seed": config.seed,
    }


class SpendCapReached(AgorabenchError):
    """A generation stopped at its spend cap (or had nothing left to spend): what it wrote is kept, the rest is not
    done, and a rerun with a higher cap resumes. `result` is the run's result (None when nothing was opened)."""

    exit_code = 3

    def __init__(self, message: str, result: GenerateResult | None = None):
        super().__init__(message)
        self.result = result


def spend_cap_usd(generator: GeneratorConfig, config: GenerateConfig) -> float | None:
    """The folder's spend cap: the lower of the generator's and the engine's `max_cost_usd` (None: no cap)."""
    caps = [cap for cap in (generator.max_cost_usd, config.engine.max_cost_usd) if cap is not None]
    return min(caps) if caps else None


def folder_spend_usd(folder: Path) -> float:
    """Dollars a folder has already cost: its records' `cost_usd` (rejected samples included), or what earlier runs
    paid (metadata `spend.paid_usd_total`, which also counts failed and unfinished items) if that is more."""
    records = sum(row.get("cost_usd") or 0.0 for row in read_jsonl_lenient(folder / RECORDS))
    try:
        paid = float(json.loads((folder / METADATA).read_text())["spend"]["paid_usd_total"])
    except (OSError, ValueError, KeyError, TypeError):
        paid = 0.0
    return max(records, paid)


def check_spend_price(generator: GeneratorConfig, config: GenerateConfig, budget_usd: float | None) -> None:
    """A cap cannot be kept without a price: refuse, in one line, before any request."""
    capped = spend_cap_usd(generator, config) is not None or budget_usd is not None
    if capped and backend_spec(generator.backend).remote and generator.price() is None:
        raise ConfigError(
            f"generator {generator.name!r}: no price is known for model {generator.model!r}, so a spend cap "
            "cannot be kept; give one in its generator config: pricing: {input_per_mtok: ..., output_per_mtok: ...} "
            "(US dollars per 1M tokens)"
        )


@dataclass
class GenerateResult:
    output_dir: Path
    stats: RunStats
    records_total: int
    failures_total: int
    cost_usd_total: float
    status: str
    error: str | None = None


async def check_reachable(generator: GeneratorConfig, timeout_s: float = 10.0) -> None:
    """Fail fast, in one line, when an endpoint does not even accept a TCP connection."""
    if not backend_spec(generator.backend).remote:
        return
    for url in generator.base_urls:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), timeout_s)
        except (OSError, TimeoutError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise AgorabenchError(f"cannot reach generator {generator.name!r} at {url}: {reason}") from None
        writer.close()


def estimate_plan(
    task: Task, config: GenerateConfig, pending: list, generator: GeneratorConfig, already_done: int
) -> dict[str, Any]:
    """What a run would cost and take, before any request: rough by design, clearly labelled."""
    sampling = config.sampling
    prompt_tokens = sum(estimate_tokens(task.messages(item, 0)) for item in pending)
    output_each = min(sampling.max_tokens, config.engine.expected_output_tokens)
    output_tokens = output_each * len(pending)
    price = generator.price()
    cost = None
    if price is not None:
        cost = (prompt_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6
    if backend_spec(generator.backend).in_process:
        seconds = output_tokens / LOCAL_TOKENS_PER_S
    else:
        latency = API_FIRST_TOKEN_S + output_each / API_TOKENS_PER_S
        per_s = generator.max_concurrency / latency
        if generator.requests_per_minute:
            per_s = min(per_s, generator.requests_per_minute / 60)
        if generator.tokens_per_minute:
            per_request = prompt_tokens / max(len(pending), 1) + sampling.max_tokens
            per_s = min(per_s, generator.tokens_per_minute / 60 / per_request)
        seconds = len(pending) / per_s if pending else 0.0
    return {
        "requests": len(pending),
        "already_done": already_done,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "output_tokens_per_request": output_each,
        "cost_usd": None if cost is None else round(cost, 4),
        "max_cost_usd": None
        if price is None
        else round(
            (prompt_tokens * price.input_per_mtok + sampling.max_tokens * len(pending) * price.output_per_mtok) / 1e6, 4
        ),
        "seconds": round(seconds, 1),
    }


def write_metadata(
    folder: Path,
    config: GenerateConfig,
    generator: GeneratorConfig,
    task: Task,
    stats: RunStats,
    records: JsonlStore,
    failures: JsonlStore,
    status: str,
    started_at: str,
    spend: dict[str, Any] | None = None,
) -> dict[str, Any]:
    by_reason: dict[str, int] = {}
    for failure in failures.records:
        by_reason[failure["reason"]] = by_reason.get(failure["reason"], 0) + 1
    total_cost = sum(r.get("cost_usd") or 0.0 for r in records.records) + sum(
        f.get("cost_usd") or 0.0 for f in failures.records
    )
    accepted = stats.succeeded
    samples = accepted + sum(stats.rejections.values())
    data = {
        "status": status,
        "agorabench_version": __version__,
        "packages": package_versions(),
        "command": sys.argv,
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": json.loads(config.model_dump_json()),
        "generator": json.loads(generator.model_dump_json()),
        "pricing": generator.price().model_dump() if generator.price() else None,
        "task": task.identity(),
        "task_report": task.report(),
        "counts": {
            "records": len(records.ids),
            "failed": len(failures.records),
            "failure_reasons": by_reason,
        },
        "cost_usd_total": round(total_cost, 6),
        "spend": spend,
        "acceptance_rate": round(accepted / samples, 4) if samples else None,
        "this_run": stats.as_dict(),
    }
    write_json_atomic(folder / METADATA, data)  # a crash never leaves half a metadata file
    return data


def run_generate(
    config: GenerateConfig,
    generator: GeneratorConfig,
    task: Task,
    output_dir: Path,
    *,
    dry_run: bool = False,
    progress=None,
    retry_failed: bool = True,
    budget_usd: float | None = None,
) -> tuple[GenerateResult | None, dict[str, Any] | None]:
    """Run (or, with dry_run, plan) a generation into `output_dir`. Returns (result, plan).

    `budget_usd`: the most this invocation may spend (e.g. what is left of a whole run's budget), on top of the
    folder's cap (`max_cost_usd` of the generator or the engine). Stopping at either raises `SpendCapReached`."""
    if dry_run:
        # Planning writes nothing: read what is done without taking the folder.
        done = done_ids(output_dir / RECORDS)
        pending = pending_items(task, done, config.n)
        plan = estimate_plan(task, config, pending, generator, already_done=len(done))
        plan["spend_cap_usd"] = spend_cap_usd(generator, config)
        plan["budget_usd"] = budget_usd
        plan["spent_usd"] = round(folder_spend_usd(output_dir), 6)
        return None, plan
    job = GenerationJob(config, generator, task, output_dir, progress, budget_usd=budget_usd)
    (result,) = run_jobs([job], retry_failed=retry_failed)
    if result.status == STOPPED_SPEND_CAP:
        raise SpendCapReached(result.error or STOPPED_SPEND_CAP, result)
    if result.error is not None:
        raise AgorabenchError(result.error)
    return result, None


@dataclass
class GenerationJob:
    """One generation into one folder. Several jobs can run at once, sharing backends."""

    config: GenerateConfig
    generator: GeneratorConfig
    task: Task
    output_dir: Path
    progress: Any = None
    budget_usd: float | None = None  # the most this invocation may spend (None: only the folder's cap)


class _OpenJob:
    """A job with its folder locked and its files open, from start to metadata."""

    def __init__(self, job: GenerationJob, retry_failed: bool):
        self.job = job
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.cache: RequestCache | None = None
        self.folder = OutputFolder(job.output_dir, run_identity(job.task, job.generator, job.config))
        self.records = JsonlStore(job.output_dir / RECORDS)
        self.failures = JsonlStore(job.output_dir / FAILURES)
        if retry_failed and self.failures.records:
            # Earlier failures are simply not done yet: start their file afresh and try them again.
            self.failures.close()
            (job.output_dir / FAILURES).unlink()
            self.failures = JsonlStore(job.output_dir / FAILURES)
        job.task.restore(self.records.records)
        self.pending = pending_items(job.task, self.records.ids, job.config.n)
        if job.config.engine.cache:
            self.cache = RequestCache(job.config.engine.resolved_cache_dir() / "requests.sqlite")
        self.stats = RunStats(planned=len(self.pending))
        self.status = "interrupted"
        self.error: str | None = None
        self.spend_before_usd = folder_spend_usd(job.output_dir)
        self.spend_cap_usd = spend_cap_usd(job.generator, job.config)
        self.spend = self._spend_cap()

    def _spend_cap(self) -> SpendCap | None:
        """What this invocation may spend: the folder's cap less what it already cost, and the caller's budget.
        In-process models cost nothing and get none."""
        job = self.job
        if not backend_spec(job.generator.backend).remote:
            return None
        limits = [job.budget_usd] if job.budget_usd is not None else []
        if self.spend_cap_usd is not None:
            limits.append(self.spend_cap_usd - self.spend_before_usd)
        return SpendCap(max(0.0, min(limits))) if limits else None

    def spend_message(self, nothing_run: bool = False) -> str:
        """The one line a run stopped by its spend cap ends with."""
        job = self.job
        spent = self.spend_before_usd + self.stats.cost_usd
        limits = []
        if self.spend_cap_usd is not None:
            limits.append(f"the ${self.spend_cap_usd:.4f} cap (max_cost_usd)")
        if job.budget_usd is not None:
            limits.append(f"this run's ${job.budget_usd:.4f} budget")
        limit = " and ".join(limits)
        if nothing_run:
            return (
                f"{STOPPED_SPEND_CAP}: {job.output_dir} has already cost ${spent:.4f}, which leaves nothing under "
                f"{limit}; nothing was run (raise max_cost_usd, e.g. --max-cost, to go on)"
            )
        left = len(self.pending) - self.stats.succeeded - self.stats.failed
        return (
            f"{STOPPED_SPEND_CAP}: the next request could cross {limit}; {len(self.records.ids)} records in "
            f"{job.output_dir} (${spent:.4f} spent), {left} not done; raise max_cost_usd (e.g. --max-cost) and "
            "rerun to resume"
        )

    def engine(self, backend) -> Engine:
        job = self.job
        return Engine(
            backend,
            task=job.task,
            generator=job.generator,
            sampling=with_task_stops(job.config, job.task),
            config=job.config.engine,
            records=self.records,
            failures=self.failures,
            cache=self.cache,
            seed=job.config.seed,
            progress=job.progress,
            stats=self.stats,
            spend=self.spend,
        )

    def finish(self) -> GenerateResult:
        job = self.job
        self.records.sync()
        self.failures.sync()
        spend = {
            "cap_usd": self.spend_cap_usd,
            "budget_usd": job.budget_usd,
            "spent_before_usd": round(self.spend_before_usd, 6),
            "paid_usd_total": round(self.spend_before_usd + self.stats.cost_usd, 6),
        }
        write_metadata(
            job.output_dir, job.config, job.generator, job.task, self.stats, self.records, self.failures,
            self.status, self.started_at, spend=spend,
        )
        total_cost = sum(r.get("cost_usd") or 0.0 for r in self.records.records)
        return GenerateResult(
            job.output_dir, self.stats, len(self.records.ids), len(self.failures.records), total_cost,
            self.status, self.error,
        )

    def close(self) -> None:
        self.records.close()
        self.failures.close()
        if self.cache is not None:
            self.cache.close()
        self.folder.release()


def run_jobs(jobs: list[GenerationJob], retry_failed: bool = True) -> list[GenerateResult]:
    """Run several generations concurrently in one event loop; jobs with the same generator share one
    backend (one connection pool, one batch queue for a local model), except in batch mode, where each job's
    backend keeps its ledger of provider batches in the job's folder. A job that fails (bad key,
    unreachable endpoint) is reported in its result and does not stop the others."""
    for job in jobs:  # reported in one line before any folder or request is made:
        if job.generator.needs_endpoint():
            raise ConfigError(job.generator.endpoint_message())  # a self-hosted model with no URL of the user's
        job.generator.api_key()  # a missing key
        check_spend_price(job.generator, job.config, job.budget_usd)  # a cap on a model of unknown price
    opened: list[_OpenJob] = []
    try:
        for job in jobs:
            opened.append(_OpenJob(job, retry_failed))
        try:
            asyncio.run(_run_all(opened))
        except BaseException:
            for job in opened:  # Ctrl-C or a bug: the metadata still says what happened
                job.finish()
            raise
        return [job.finish() for job in opened]
    finally:
        for job in opened:
            job.close()


def _backend_key(job: _OpenJob) -> tuple[str, Path | None]:
    """Jobs with equal keys share one backend: online, every job of a generator; in batch mode each job has its
    own, whose ledger of submitted batches lives in that job's output folder (so a rerun resumes them)."""
    generator = job.job.generator
    return generator.model_dump_json(), job.job.output_dir if generator.mode == "batch" else None


async def _run_all(jobs: list[_OpenJob]) -> None:
    backends: dict[tuple[str, Path | None], Any] = {}
    try:
        for job in jobs:
            key = _backend_key(job)
            if key not in backends:
                try:
                    await check_reachable(job.job.generator)
                    # Built inside the event loop: SDK clients bind their connection pools to it.
                    backends[key] = create_backend(job.job.generator, state_dir=key[1])
                except (AgorabenchError, FatalError) as exc:
                    backends[key] = exc
        outcomes = await asyncio.gather(
            *(_run_one(job, backends[_backend_key(job)]) for job in jobs), return_exceptions=True
        )
        for outcome in outcomes:  # programming errors must not pass silently
            if isinstance(outcome, BaseException) and not isinstance(outcome, (AgorabenchError, FatalRunError)):
                raise outcome
    finally:
        for backend in backends.values():
            if not isinstance(backend, Exception):
                await backend.aclose()


async def _run_one(job: _OpenJob, backend) -> None:
    try:
        if isinstance(backend, Exception):
            raise backend
        if job.pending and job.spend is not None and job.spend.allowed_usd <= 0:
            job.status, job.error = STOPPED_SPEND_CAP, job.spend_message(nothing_run=True)
            return
        if job.pending:
            await job.engine(backend).run(job.pending)
        if job.stats.stopped_by_spend_cap:
            job.status, job.error = STOPPED_SPEND_CAP, job.spend_message()
            return
        job.status = "complete" if not job.failures.records else "complete_with_failures"
    except (AgorabenchError, FatalError, FatalRunError) as exc:
        job.status, job.error = "failed", str(exc)


def with_task_stops(config: GenerateConfig, task: Task):
    """The run's sampling params plus the stop phrases the task's prompts rely on and its JSON schema (and the
    schema's Python fields), if any."""
    update: dict = {}
    if extra := tuple(s for s in task.stop if s not in config.sampling.stop):
        update["stop"] = config.sampling.stop + extra
    if task.json_schema is not None:
        update["json_schema"] = task.json_schema
        if task.python_fields:
            update["python_fields"] = task.python_fields
    return config.sampling.model_copy(update=update) if update else config.sampling


def done_ids(path: Path) -> set[str]:
    return {row["id"] for row in read_jsonl_lenient(path) if "id" in row}
