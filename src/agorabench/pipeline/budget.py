"""Spend caps over a whole run: `max_cost_usd` on the run config (all generators) and on each generator (all
of its settings). Before a generation stage starts, it is given what is left of both (`budget_usd`), and the
engine stops before crossing it; once nothing is left, the run's remaining generation stages are not started.
Raising a cap and rerunning resumes (spent dollars are read back from the stage folders).

What has been spent is what the generation folders of this run's store have cost (records and, for items
that never finished, what their attempts were billed: `generation.runner.folder_spend_usd`).
"""

from __future__ import annotations

from agorabench.errors import ConfigError
from agorabench.generation.runner import folder_spend_usd
from agorabench.pipeline.config import RunConfig
from agorabench.pipeline.plan import Plan
from agorabench.pipeline.stages import Stage
from agorabench.pipeline.store import ArtifactStore


class RunBudget:
    def __init__(self, config: RunConfig, plan: Plan, store: ArtifactStore):
        self.run_cap = config.max_cost_usd
        self.store = store
        self.generators = {g.name: g for g in plan.generators}
        self.cell_generator = {cell.generate.key: cell.generator for cell in plan.cells}

    @property
    def active(self) -> bool:
        return self.run_cap is not None or any(g.max_cost_usd is not None for g in self.generators.values())

    def spent(self, generator: str | None = None) -> float:
        """Dollars this run's generation folders have cost (one generator's, or all)."""
        total = 0.0
        for entry in self.store.entries():
            if entry.kind != "generate" or not entry.path.exists():
                continue
            if generator is not None and not entry.label.startswith(f"{generator}."):
                continue
            total += folder_spend_usd(entry.path)
        return total

    def remaining(self, stage: Stage) -> float | None:
        """What a generation stage may still spend: the tighter of the run's and its generator's cap (None: no cap)."""
        name = self.cell_generator.get(stage.key)
        limits = []
        if self.run_cap is not None:
            limits.append(self.run_cap - self.spent())
        generator = self.generators.get(name) if name else None
        if generator is not None and generator.max_cost_usd is not None:
            limits.append(generator.max_cost_usd - self.spent(name))
        return max(0.0, min(limits)) if limits else None

    def stop_reason(self) -> str:
        cap = f"${self.run_cap:.2f}" if self.run_cap is not None else "the generators' max_cost_usd"
        return (f"stopped before crossing the spend cap ({cap}; ${self.spent():.2f} spent): raise max_cost_usd "
                "and rerun to resume")


def check_caps(config: RunConfig, plan: Plan, store: ArtifactStore | None) -> None:
    """Refuse, in one line, a cap that cannot be kept: a remote generator without a price under a cap, or a run
    cap already below what the run has spent."""
    from agorabench.llm.registry import backend_spec

    for generator in plan.generators:
        capped = config.max_cost_usd is not None or generator.max_cost_usd is not None
        if capped and generator.price() is None and backend_spec(generator.backend).remote:
            raise ConfigError(
                f"generator {generator.name!r}: no price is known for {generator.model!r}, so the spend cap "
                "cannot be kept; give pricing: {input_per_mtok: ..., output_per_mtok: ...} on the generator"
            )
    if store is not None and config.max_cost_usd is not None:
        spent = RunBudget(config, plan, store).spent()
        if config.max_cost_usd < spent:
            raise ConfigError(
                f"max_cost_usd: ${config.max_cost_usd:.2f} is below what this run has already spent "
                f"(${spent:.2f}); raise it to resume"
            )
