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
CANCEL_WAIT_S = 5.0  # after Ctrl-C, how long cancelled stages get to stop before their workers are killed


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise AgorabenchError(
            "executor: ray needs Ray, which is not installed; pip install 'agorabench[ray]'"
        ) from None
    return ray


# --- the worker side ---------------------------------------------------------------------------------


def run_stage_task(
    kind: str, params: dict[str, Any], folder: str, needs: dict[str, str], cwd: str | None, gpus: float
) -> tuple[str, float]:
    """What a Ray worker runs for one stage, in a process of its own. Returns the node's host name and the
    seconds the stage took; raises on failure."""
    if not gpus:
        # Ray leaves a task that asked for no GPU every GPU of its node: hide them, so that a CPU stage
        # does not land on a GPU that Ray gave to another stage.
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)  # relative paths in the config mean what they mean to the driver (on a shared FS)
    started = time.monotonic()
    with output_to(Path(folder) / "log.txt"):
        execute(kind, params, Path(folder), {role: Path(path) for role, path in needs.items()}, False)
    return socket.gethostname(), time.monotonic() - started


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
        log_to_driver=False,  # each stage's output goes to its folder's log.txt, not this terminal
    )
    return True


def forwarded_env(stage: Stage) -> dict[str, str]:
    """The API keys a stage's workers need, from the driver's environment: the variables named
    (`api_key_env`) by its generator, judge or API model, plus FORWARDED_ENV. A variable unset here is left
    to the worker's own environment."""
    specs = [stage.runtime.get("generator"), stage.params.get("judge"), stage.params.get("model")]
    options = stage.params.get("options")
    if stage.kind == "intrinsic" and isinstance(options, dict):
        specs.append(options.get("judge"))
    names = list(FORWARDED_ENV)
    for spec in specs:
        if (name := _key_env(spec)) is not None:
            names.append(name)
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def _key_env(spec: Any) -> str | None:
    """The `api_key_env` of a generator given as a dict, a preset name or backend:model; None otherwise
    (a Hub id, a checkpoint, nothing)."""
    from agorabench.llm.config import GeneratorConfig, resolve_generator

    try:
        if isinstance(spec, dict):
            return GeneratorConfig.model_validate(spec).key_variable()
        if isinstance(spec, str):
            return resolve_generator(spec).key_variable()
    except (AgorabenchError, ValueError):
        pass  # not a generator: nothing to forward (a bad one is reported by the stage itself)
    return None


def most_gpus_on_a_node(ray: Any) -> float:
    """A stage runs on one node, so this is the most GPUs any stage can get."""
    alive = [node for node in ray.nodes() if node.get("Alive")]
    return max((float(node["Resources"].get("GPU", 0.0)) for node in alive), default=0.0)


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


def cancel(ray: Any, refs: list[Any], console: Console) -> None:
    """Stop the stages in flight after Ctrl-C; they stay 'running' in the store, so the next run resumes them.

    Each task first gets a KeyboardInterrupt (Python code stops cleanly: generation writes its metadata,
    `accelerate launch` is killed); what still runs after CANCEL_WAIT_S (an event loop waiting on the
    network does not see the interrupt until its next event) has its worker process killed. A second
    Ctrl-C stops waiting; the workers still stop when this driver exits."""
    if not refs:
        return
    console.print(f"interrupted: stopping {len(refs)} stage(s) ...", style="yellow", highlight=False)
    try:
        for ref in refs:
            ray.cancel(ref)
        _, left = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_WAIT_S)
        for ref in left:
            ray.cancel(ref, force=True)
        if left:
            ray.wait(left, num_returns=len(left), timeout=CANCEL_WAIT_S)
    except KeyboardInterrupt:
        pass


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
    # max_calls=1: every stage in a fresh worker process, so nothing outlives a stage (GPU memory, CUDA
    # state initialised under another stage's visible devices, loaded models, working directory).
    task = ray.remote(max_calls=1)(run_stage_task)
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
            console.print(f"{prefix(stage)}: done in {outcome.seconds:.0f} s{where}", style="green",
                          highlight=False)

    node_gpus = most_gpus_on_a_node(ray)
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
        params = {**stage.params, **stage.runtime}
        ref = task.options(**options).remote(stage.kind, params, str(folder), needs, cwd, stage.gpus)
        in_flight[ref] = (stage, folder, time.monotonic())
        if (generator := _generator_of(stage)) is not None:
            generating.add(generator)

    def settle(ref: Any) -> None:
        stage, folder, started = in_flight.pop(ref)
        generating.discard(_generator_of(stage) or "")
        try:
            host, seconds = ray.get(ref)
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
        decide(stage, Outcome("done", None, seconds), host)  # the stage's own time, not its time in queue

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
                if stage.gpus > node_gpus:
                    node_gpus = most_gpus_on_a_node(ray)  # nodes may have joined
                if stage.gpus > node_gpus:
                    # Ray would keep such a task waiting for ever.
                    error = (f"needs {stage.gpus:g} GPU(s) on one node; the Ray cluster's largest node has "
                             f"{node_gpus:g}")
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
        cancel(ray, list(in_flight), console)
        raise
    return outcomes


__all__ = ["import_ray", "run_ray", "run_stage_task"]
