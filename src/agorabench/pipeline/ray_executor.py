"""Run a plan's stages as Ray tasks: every stage as soon as what it needs is done, many at once.

Same contract as `executor.run_local`: a stage the store has finished is "cached"; a stage whose needs did
not finish is "blocked"; a failing stage is "failed" with the one line `executor.one_line` gives, and stops
only the stages that need it; Ctrl-C cancels the tasks in flight and leaves their stages 'running' in the
store, so the next run resumes them.

Who does what:

* the driver (this process) owns the store: it records each stage's start and finish in the index
  (one SQLite writer) and decides what runs next;
* a Ray worker runs `stages.execute(kind, params, folder, needs)` for one stage, with the stage's stdout and
  stderr (and those of its subprocesses, e.g. `accelerate launch`) appended to `<stage folder>/log.txt`,
  and raises on failure.

Each stage is a task asking for 1 CPU and `Stage.gpus` GPUs, so Ray's scheduler places it on a node with
room and a 4-GPU training stage waits until 4 GPUs are free. Generation stages of one generator run one at a
time (its `max_concurrency` and rate limits are the generator's, as with the local executor); stages of
different generators, and every other stage, run in parallel as resources allow.

The run folder must be on a file system every node sees at the same path (docs/scale-out.md).
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from agorabench.errors import AgorabenchError
from agorabench.pipeline.executor import Outcome, blocked_by, one_line, stage_inputs
from agorabench.pipeline.plan import Plan
from agorabench.pipeline.stages import Stage, execute
from agorabench.pipeline.store import ArtifactStore

# Always forwarded to the workers when set in the driver's environment (gated Hub models).
FORWARDED_ENV = ("HF_TOKEN",)
CANCEL_WAIT_S = 15.0  # after Ctrl-C, how long cancelled stages get to stop


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise AgorabenchError(
            "executor: ray needs Ray, which is not installed; pip install 'agorabench[ray]'"
        ) from None
    return ray


# --- the worker side ---------------------------------------------------------------------------------


def run_stage_task(kind: str, params: dict[str, Any], folder: str, needs: dict[str, str], cwd: str | None) -> str:
    """What a Ray worker runs for one stage. Returns the node's host name; raises on failure."""
    previous = os.getcwd()
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)  # relative paths in the config mean what they mean to the driver (on a shared FS)
    try:
        with output_to(Path(folder) / "log.txt"):
            execute(kind, params, Path(folder), {role: Path(path) for role, path in needs.items()}, False)
    finally:
        os.chdir(previous)
    return socket.gethostname()


@contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so subprocesses too) to `path`."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        with open(path, "ab", buffering=0) as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        os.close(saved[0])
        os.close(saved[1])


# --- the driver side ---------------------------------------------------------------------------------


def connect(ray: Any, address: str | None) -> bool:
    """Join Ray unless this process already has; True when we did (and so should disconnect).

    `address=None` is Ray's own rule: $RAY_ADDRESS, else a cluster started on this machine with
    `ray start`, else a new local instance of this machine's CPUs and GPUs."""
    if ray.is_initialized():
        return False
    ray.init(
        address=address,
        ignore_reinit_error=True,
        include_dashboard=False,  # a local instance needs none; a cluster has its own
        log_to_driver=False,  # each stage's output is in its folder's log.txt, not interleaved on this terminal
    )
    return True


def forwarded_env(stage: Stage) -> dict[str, str]:
    """The API keys a stage's workers need, from the driver's environment: the variables its generator and
    judge name (`api_key_env`), plus FORWARDED_ENV. A variable unset here is left to the worker's own."""
    names: list[str] = list(FORWARDED_ENV)
    generator = stage.runtime.get("generator")
    if isinstance(generator, dict) and generator.get("api_key_env"):
        names.append(generator["api_key_env"])
    if stage.kind == "evaluate" and stage.params.get("judge"):
        from agorabench.config import resolve_generator

        try:
            judge = resolve_generator(stage.params["judge"], "evaluation.judge")
        except AgorabenchError:
            judge = None  # the stage itself reports a bad judge
        if judge is not None and judge.api_key_env:
            names.append(judge.api_key_env)
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def _generator_of(stage: Stage) -> str | None:
    if stage.kind != "generate":
        return None
    generator = stage.runtime.get("generator") or {}
    return generator.get("name") or stage.label


def _failure(ray: Any, exc: BaseException) -> tuple[BaseException, str]:
    """The stage's own exception inside Ray's wrapper, and the text for error.txt (the remote traceback)."""
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        return cause, re.sub(r"\x1b\[[0-9;]*m", "", str(exc)) + "\n"  # str(): the remote traceback
    return exc, f"{type(exc).__name__}: {exc}\n"  # the worker or its node died, the task was cancelled, ...


def run_ray(
    plan: Plan | Sequence[Stage],
    store: ArtifactStore,
    console: Console | None = None,
    address: str | None = None,
    max_parallel: int | None = None,
) -> dict[str, Outcome]:
    """Run a plan (or a list of stages, upstream first) on Ray; outcomes by stage key, as `run_local`.

    address: a Ray address ("auto", "ray://head:10001", "host:6379"); default: see `connect`.
    max_parallel: at most this many stages in flight (default: as many as the cluster's resources allow).
    A need outside the given stages counts as done if the store has it, else its dependants are blocked.
    """
    if max_parallel is not None and max_parallel < 1:
        raise AgorabenchError(f"max_parallel must be at least 1, not {max_parallel}")
    ray = import_ray()
    console = console or Console(stderr=True)
    stages = plan.stages() if isinstance(plan, Plan) else list(plan)
    joined = connect(ray, address)
    try:
        return _run(ray, stages, store, console, max_parallel)
    finally:
        if joined:
            ray.shutdown()  # a local instance stops; a cluster only loses this driver


def _run(ray: Any, stages: list[Stage], store: ArtifactStore, console: Console,
         max_parallel: int | None) -> dict[str, Outcome]:
    task = ray.remote(run_stage_task)
    number = {stage.key: i for i, stage in enumerate(stages, 1)}

    def prefix(stage: Stage) -> str:
        return f"[{number[stage.key]}/{len(stages)}] {stage.kind} {stage.label}"

    outcomes: dict[str, Outcome] = {}
    known: dict[str, Outcome] = {}  # outcomes plus needs from outside `stages` (done earlier, or not)
    waiting: list[Stage] = []
    for stage in stages:
        if store.is_done(stage.key):
            outcomes[stage.key] = known[stage.key] = Outcome("cached")
            console.print(f"{prefix(stage)}: done earlier", style="dim", highlight=False)
        else:
            waiting.append(stage)
        for need in stage.needs.values():
            if need.key not in number:
                known[need.key] = Outcome("cached" if store.is_done(need.key) else "blocked")

    def decide(stage: Stage, outcome: Outcome, host: str | None = None) -> None:
        outcomes[stage.key] = known[stage.key] = outcome
        if outcome.status == "blocked":
            console.print(f"{prefix(stage)}: skipped, {outcome.error}", style="yellow", highlight=False)
        elif outcome.status == "failed":
            console.print(f"{prefix(stage)}: failed: {outcome.error}", style="red", highlight=False)
        else:
            where = f" on {host}" if host else ""
            console.print(f"{prefix(stage)}: done in {outcome.seconds:.0f} s{where}", style="green", highlight=False)

    cluster_gpus = float(ray.cluster_resources().get("GPU", 0.0))
    cwd = os.getcwd()
    in_flight: dict[Any, tuple[Stage, Path, float]] = {}  # ObjectRef -> stage, folder, start
    generating: set[str] = set()  # generators with a generation stage in flight

    def submit(stage: Stage) -> None:
        folder = store.start(stage.key, stage.kind, stage.label, stage_inputs(stage)).resolve()
        needs = {role: str(store.get(need.key).path.resolve()) for role, need in stage.needs.items()}
        options: dict[str, Any] = {"num_cpus": 1, "num_gpus": stage.gpus, "max_retries": 1,
                                   "name": f"{stage.kind} {stage.label}"}
        env = forwarded_env(stage)
        if env:
            options["runtime_env"] = {"env_vars": env}
        gpus = f", {stage.gpus:g} GPU" if stage.gpus else ""
        console.print(f"{prefix(stage)} ... (ray{gpus})", highlight=False)
        ref = task.options(**options).remote(stage.kind, {**stage.params, **stage.runtime}, str(folder), needs, cwd)
        in_flight[ref] = (stage, folder, time.monotonic())
        if (generator := _generator_of(stage)) is not None:
            generating.add(generator)

    def settle(ref: Any) -> None:
        stage, folder, started = in_flight.pop(ref)
        generating.discard(_generator_of(stage) or "")
        try:
            host = ray.get(ref)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - any stage failure is reported and the run goes on
            cause, trace = _failure(ray, exc)
            error = one_line(cause)
            store.finish(stage.key, error=error)
            if not isinstance(cause, AgorabenchError):
                (folder / "error.txt").write_text(trace)
            decide(stage, Outcome("failed", error, time.monotonic() - started))
            return
        store.finish(stage.key)
        decide(stage, Outcome("done", None, time.monotonic() - started), host)

    try:
        while waiting or in_flight:
            still: list[Stage] = []
            for stage in waiting:
                if any(need.key not in known for need in stage.needs.values()):
                    still.append(stage)  # an upstream stage has not finished yet
                    continue
                reason = blocked_by(stage, known)
                if reason is not None:
                    decide(stage, Outcome("blocked", reason))
                    continue
                if stage.gpus > cluster_gpus:
                    cluster_gpus = float(ray.cluster_resources().get("GPU", 0.0))  # nodes may have joined
                if stage.gpus > cluster_gpus:
                    error = (f"needs {stage.gpus:g} GPU(s), the Ray cluster has {cluster_gpus:g}; "
                             "add GPU nodes and run again")
                    store.start(stage.key, stage.kind, stage.label, stage_inputs(stage))
                    store.finish(stage.key, error=error)
                    decide(stage, Outcome("failed", error))
                    continue
                full = max_parallel is not None and len(in_flight) >= max_parallel
                if full or _generator_of(stage) in generating:
                    still.append(stage)
                    continue
                submit(stage)
            waiting = still
            if not in_flight:
                for stage in waiting:  # cannot happen with a plan's order; never wait forever
                    decide(stage, Outcome("blocked", "needs a stage that is not in the plan"))
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                settle(ref)
    except KeyboardInterrupt:
        # The stages stay 'running' in the store: the next run resumes them. Each task gets a
        # KeyboardInterrupt and a moment to stop cleanly (generation writes its metadata, releases its
        # folder); a second Ctrl-C stops waiting.
        refs = list(in_flight)
        for ref in refs:
            ray.cancel(ref)
        if refs:
            console.print(f"interrupted: cancelling {len(refs)} stage(s) ...", style="yellow", highlight=False)
            try:
                ray.wait(refs, num_returns=len(refs), timeout=CANCEL_WAIT_S)
            except KeyboardInterrupt:
                pass
        raise
    return outcomes


__all__ = ["import_ray", "run_ray", "run_stage_task"]
