"""Run a plan's stages: skip what the store has, run the rest in order, and let one stage's failure stop
only the stages that need it.

The local executor runs stages one after another in this process (one CPU machine, or one GPU box where
each stage uses every GPU). `agorabench.pipeline.ray_executor` runs the same stages as Ray tasks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from rich.console import Console

from agorabench.errors import AgorabenchError
from agorabench.pipeline.budget import RunBudget
from agorabench.pipeline.plan import Plan
from agorabench.pipeline.stages import Stage, execute
from agorabench.pipeline.store import ArtifactStore

Status = Literal["cached", "done", "failed", "blocked"]
SPEND_CAP_PREFIX = "stopped at the spend cap"  # how a generation stage that hit its cap reports it


@dataclass
class Outcome:
    status: Status
    error: str | None = None
    seconds: float = 0.0


def one_line(exc: BaseException) -> str:
    """The line a report shows: our own errors as they are, anything else with its type."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    if isinstance(exc, AgorabenchError):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def stage_inputs(stage: Stage) -> dict:
    return {**stage.params, "needs": {role: need.key for role, need in stage.needs.items()}}


def blocked_by(stage: Stage, outcomes: dict[str, Outcome]) -> str | None:
    for need in stage.needs.values():
        outcome = outcomes.get(need.key)
        if outcome is None or outcome.status not in ("cached", "done"):
            what = "failed" if outcome and outcome.status == "failed" else "did not finish"
            return f"needs {need.kind} {need.label}, which {what}"
    return None


def run_local(
    plan: Plan, store: ArtifactStore, progress: bool = False, console: Console | None = None,
    budget: RunBudget | None = None,
) -> dict[str, Outcome]:
    """Run the plan's stages in order. `budget`: the run's spend caps, checked before each generation stage;
    once one is used up, no further generation stage starts (they are left for a rerun with a higher cap)."""
    console = console or Console(stderr=True)
    outcomes: dict[str, Outcome] = {}
    stages = plan.stages()
    capped = False
    for index, stage in enumerate(stages, 1):
        prefix = f"[{index}/{len(stages)}] {stage.kind} {stage.label}"
        if store.is_done(stage.key):
            outcomes[stage.key] = Outcome("cached")
            console.print(f"{prefix}: done earlier", style="dim", highlight=False)
            continue
        reason = blocked_by(stage, outcomes)
        if reason is not None:
            outcomes[stage.key] = Outcome("blocked", reason)
            console.print(f"{prefix}: skipped, {reason}", style="yellow", highlight=False)
            continue
        if budget is not None and budget.active and stage.kind == "generate":
            left = budget.remaining(stage)
            # Once a stage stopped at a cap, what is left cannot buy a request either: start no more.
            if capped or (left is not None and left <= 0):
                capped = True
                outcomes[stage.key] = Outcome("blocked", "not started: the spend cap is reached")
                console.print(f"{prefix}: not started, the spend cap is reached", style="yellow", highlight=False)
                continue
            stage.runtime["budget_usd"] = left
        console.print(f"{prefix} ...", highlight=False)
        outcomes[stage.key] = run_stage(stage, store, progress)
        outcome = outcomes[stage.key]
        if outcome.status == "failed":
            console.print(f"{prefix}: failed: {outcome.error}", style="red", highlight=False)
        else:
            console.print(f"{prefix}: done in {outcome.seconds:.0f} s", style="green", highlight=False)
        capped |= outcome.status == "failed" and (outcome.error or "").startswith(SPEND_CAP_PREFIX)
    if capped and budget is not None:
        console.print(budget.stop_reason(), style="bold yellow", highlight=False)
    return outcomes


def run_stage(stage: Stage, store: ArtifactStore, progress: bool = False) -> Outcome:
    """Run one stage into its store folder, recording done or failed. Ctrl-C leaves it 'running': resumable."""
    folder = store.start(stage.key, stage.kind, stage.label, stage_inputs(stage))
    needs = {role: store.get(need.key).path for role, need in stage.needs.items()}
    started = time.monotonic()
    try:
        execute(stage.kind, {**stage.params, **stage.runtime}, folder, needs, progress)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - any stage failure is reported and the run goes on
        error = one_line(exc)
        store.finish(stage.key, error=error)
        if not isinstance(exc, AgorabenchError):
            import traceback

            (folder / "error.txt").write_text("".join(traceback.format_exception(exc)))
        return Outcome("failed", error, time.monotonic() - started)
    store.finish(stage.key)
    return Outcome("done", None, time.monotonic() - started)
