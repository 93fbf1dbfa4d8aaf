"""The budget planner: for a budget, which generator and how many instances to buy per setting, and the best mix.

It reads what a run measured (or a CSV of published results, loaded as `agorabench analyze` loads one):
PGR per (generator, setting) with its bootstrap CI, at every size of the data-scaling curve where there is
one, and what an instance cost. The model, in full (docs/running.md, "The budget planner"):

- PGR at a measured size is that measurement. Between two measured sizes it is interpolated linearly in
  log(instances), the CI's ends likewise. Beyond the largest measured size it stays at the largest size's
  value ("extrapolated": no growth is invented), and below the smallest it is unknown (never planned).
- Cost per instance = the dataset's `cost_usd / instances`. Generation records each accepted instance at the
  price of every sample it took (rejected ones included; generation/engine.py `_count_usage`), and the
  folder's `cost_usd_total` adds the items that failed (generation/runner.py), so this is the price of one
  accepted instance. Batch mode is in it too: the engine and the batch backends (llm/batch/base.py) both
  price with `GeneratorConfig.price()`, which is `Pricing.for_batch()` (50% of the list price) in batch mode.
- `--price NAME=IN,OUT` prices a generator from its measured tokens instead: results.json counts the tokens
  of each accepted sample only (pipeline/assemble.py sums records' `usage`), so tokens per accepted instance
  are divided by the acceptance rate to count the rejected samples too. A generator without a price (a
  local model) is free unless priced so; the plan says which.
- A setting's recommendation is the affordable (generator, size) with the highest expected PGR (ties: the
  cheaper). Two choices whose 95% CIs overlap are reported as not separated by the data, both named.
- The mix spends the budget once over all settings: at most one (generator, size) per setting, maximising
  the sum of expected PGR (a setting left out counts 0, its student being the base), an exact knapsack
  over discrete sizes (the measured ones, `GRID` log-spaced sizes between each two, and what the budget buys).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agorabench.analysis.table import load_table
from agorabench.errors import AgorabenchError, ConfigError
from agorabench.llm.pricing import DEFAULT_PRICES
from agorabench.results import Cell, RunResults
from agorabench.taxonomy import METHOD_SHORT, SETTINGS

SCHEMA_VERSION = 1
GRID = 8  # sizes the mix may buy between two measured sizes (log-spaced), besides the measured ones


@dataclass(frozen=True)
class Point:
    """A measured (size, PGR): one point of a scaling curve, or a cell's whole dataset."""

    instances: int
    value: float
    ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class Estimate:
    """What `instances` of a generator's data for a setting would cost and recover."""

    generator: str
    setting: str
    instances: int
    cost_usd: float
    value: float
    ci: tuple[float, float] | None
    basis: str  # "measured" | "interpolated" | "extrapolated"
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "instances": self.instances,
            "cost_usd": round(self.cost_usd, 6),
            "expected_pgr": {"value": round(self.value, 4), "ci": _round_ci(self.ci)},
            "estimate": self.basis,
        }


@dataclass
class Option:
    """One generator's data for one setting: its measured curve (defined PGRs only) and price per instance."""

    generator: str
    setting: str  # "RG/math"
    points: list[Point]  # smallest first, one per size
    cost_per_instance: float

    def cost(self, instances: int) -> float:
        return instances * self.cost_per_instance

    def estimate(self, n: int) -> Estimate | None:
        """PGR at `n` instances (None below the smallest measured size)."""
        points = self.points
        if n < points[0].instances:
            return None
        largest = points[-1]
        if n > largest.instances:
            return self._at(n, largest.value, largest.ci, "extrapolated",
                            f"extrapolated: not measured beyond {largest.instances:,}")
        for low, high in zip(points, points[1:], strict=False):
            if low.instances < n < high.instances:
                t = (math.log(n) - math.log(low.instances)) / (math.log(high.instances) - math.log(low.instances))
                ci = None
                if low.ci is not None and high.ci is not None:
                    ci = (_lerp(low.ci[0], high.ci[0], t), _lerp(low.ci[1], high.ci[1], t))
                return self._at(n, _lerp(low.value, high.value, t), ci, "interpolated",
                                f"interpolated between {low.instances:,} and {high.instances:,} (log size)")
        point = next(p for p in points if p.instances == n)
        return self._at(n, point.value, point.ci, "measured")

    def _at(self, n: int, value: float, ci, basis: str, note: str | None = None) -> Estimate:
        return Estimate(self.generator, self.setting, n, self.cost(n), value, ci, basis, note)

    def mix_sizes(self, budget: float) -> list[int]:
        """The sizes the mix may buy: measured ones, `GRID` log-spaced between each two, and what `budget` buys."""
        sizes = {p.instances for p in self.points}
        for low, high in zip(self.points, self.points[1:], strict=False):
            step = (math.log(high.instances) - math.log(low.instances)) / (GRID + 1)
            sizes.update(round(math.exp(math.log(low.instances) + i * step)) for i in range(1, GRID + 1))
        affordable = _affordable(budget, self.cost_per_instance)
        if self.points[0].instances <= affordable < self.points[-1].instances:
            sizes.add(int(affordable))
        return sorted(sizes)


@dataclass
class PlanInput:
    """Everything the planner reads from a source, for one student."""

    source: str
    kind: str  # "run" | "csv"
    student: str | None
    settings: list[str]  # every setting with a cell for this student, in taxonomy order
    options: list[Option]
    generators: list[dict[str, Any]]  # name, cost basis, prices, note
    excluded: list[dict[str, str]] = field(default_factory=list)  # (generator, setting, reason) never planned
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------- inputs


def parse_budget(text: str) -> float:
    """--budget: a positive, finite number of US dollars."""
    try:
        budget = float(str(text).strip().lstrip("$"))
    except ValueError:
        raise ConfigError(f"--budget {text!r} is not a number (US dollars, e.g. --budget 20)") from None
    if not math.isfinite(budget) or budget <= 0:
        raise ConfigError(f"--budget must be a positive number of US dollars, got {text!r}")
    return budget


def parse_instances(text: str | None) -> int | None:
    """--instances: a positive whole number, or None."""
    if text is None:
        return None
    try:
        n = int(str(text).strip().replace(",", "").replace("_", ""))
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"--instances must be a positive whole number, got {text!r}")
    return n


def parse_price(text: str) -> tuple[str, float, float]:
    """--price NAME=INPUT,OUTPUT (US dollars per million prompt / completion tokens)."""
    name, sep, prices = str(text).rpartition("=")
    parts = prices.split(",")
    try:
        values = [float(p) for p in parts] if sep and name.strip() and len(parts) == 2 else []
    except ValueError:
        values = []
    if len(values) != 2 or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ConfigError(
            f"--price {text!r}: expected NAME=INPUT,OUTPUT in USD per million tokens (e.g. my-llama=0.2,0.6)"
        )
    return name.strip(), values[0], values[1]


def load_plan_input(
    source: Path, student: str | None = None, prices: dict[str, tuple[float, float]] | None = None
) -> PlanInput:
    """The options of a run folder, a results.json or a CSV table (for `student`, default the run's first)."""
    prices = dict(prices or {})
    # The loader `agorabench analyze` uses: it decides run or CSV and turns every unreadable input into one
    # line. A run's Table keeps only the point PGRs, so its results.json (resolved and validated by it) is then
    # read as the full document, for CIs, curves, tokens and students.
    table = load_table(Path(source))
    if table.kind == "csv":
        if student is not None:
            raise ConfigError(f"--student {student!r}: a CSV table has no students (--student is for run results)")
        if prices:
            raise ConfigError(f"--price {next(iter(prices))}: a CSV table has no token counts to price; give cost_usd")
        return _csv_input(table)
    results = RunResults.model_validate_json(Path(table.source).read_text())
    return _run_input(results, table.source, student, prices)


def _run_input(
    results: RunResults, path: str, student: str | None, prices: dict[str, tuple[float, float]]
) -> PlanInput:
    names = [s.name for s in results.students] or list(dict.fromkeys(c.student for c in results.cells if c.student))
    if student is not None and student not in names:
        known = ", ".join(names) if names else f"none named: one student, {results.student_base}"
        raise ConfigError(f"--student {student!r} is not a student of this run (students: {known})")
    chosen = student or (names[0] if names else None)
    first = names[0] if names else None
    # Cells written before `students:` name none: they are the first (only) student's.
    cells = [c for c in results.cells if (c.student or first) == chosen]

    known_generators = {g.name for g in results.generators} | {c.generator for c in results.cells}
    for name in prices:
        if name not in known_generators:
            raise ConfigError(f"--price {name}=...: no generator {name!r} in this run "
                              f"(generators: {', '.join(sorted(known_generators))})")

    generators = [_cost_basis(info, prices.get(info.name)) for info in results.generators]
    excluded, options = [], []
    for cell in cells:
        setting = _label(cell.method, cell.domain)
        why = None
        if cell.status != "done":
            why = f"status {cell.status}" + (f": {cell.error}" if cell.error else "")
        elif cell.data is None or cell.data.instances <= 0:
            why = "no generated data recorded"
        if why is None:
            points, undefined = _points(cell)
            if not points:
                why = f"PGR undefined: {undefined or 'no domain PGR'}"
            else:
                cpi = _cost_per_instance(cell, prices.get(cell.generator))
                if cpi is None:
                    why = "--price given, but no tokens were recorded for this dataset"
                else:
                    options.append(Option(cell.generator, setting, points, cpi))
        if why is not None:
            excluded.append({"generator": cell.generator, "setting": setting, "reason": why})
    student_info = next((s for s in results.students if s.name == chosen), None)
    if chosen is None:
        line = f"PGR of the run's student ({results.student_base})"
    else:
        base = student_info.base_model if student_info else results.student_base
        line = f"PGR of student {chosen} (base {base})"
        if len(names) > 1:
            line += f"; the run has {len(names)} students ({', '.join(names)}): --student picks one"
    return PlanInput(
        source=path, kind="run", student=chosen, settings=_settings(cells), options=options,
        generators=generators, excluded=excluded, notes=[line],
    )


def _points(cell: Cell) -> tuple[list[Point], str | None]:
    """A cell's defined (size, PGR) points: its scaling curve's finished ones and its whole dataset."""
    found: dict[int, Point] = {}
    undefined = None
    for point in cell.scaling:
        pgr = point.domain_pgr
        if point.status == "done" and pgr is not None and pgr.value is not None and point.instances > 0:
            found[point.instances] = Point(point.instances, float(pgr.value), _ci(pgr.ci))
        elif pgr is not None and pgr.undefined_reason:
            undefined = pgr.undefined_reason
    pgr = cell.domain_pgr
    if pgr is not None and pgr.value is not None:
        found[cell.data.instances] = Point(cell.data.instances, float(pgr.value), _ci(pgr.ci))
    elif pgr is not None:
        undefined = pgr.undefined_reason or undefined
    return [found[n] for n in sorted(found)], undefined


def _cost_basis(info, price: tuple[float, float] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"generator": info.name, "model": info.model}
    if price is not None:
        out.update(basis="price", price_input_per_mtok=price[0], price_output_per_mtok=price[1],
                   note=f"{info.name}: priced by --price at ${price[0]:g} / ${price[1]:g} per M tokens, "
                        "from its measured tokens (rejected samples included)")
    elif info.price_input_per_mtok is None and info.price_output_per_mtok is None:
        out.update(basis="free", price_input_per_mtok=None, price_output_per_mtok=None,
                   note=f"{info.name}: no price (a local model): counted as free; "
                        f"--price {info.name}=INPUT,OUTPUT prices it")
    else:
        p_in, p_out = info.price_input_per_mtok or 0.0, info.price_output_per_mtok or 0.0
        out.update(basis="measured", price_input_per_mtok=p_in, price_output_per_mtok=p_out, note=None)
        listed = DEFAULT_PRICES.get(info.model)
        if listed is not None and (listed.input_per_mtok, listed.output_per_mtok) != (p_in, p_out):
            batch = listed.for_batch()
            kind = "batch prices" if (batch.input_per_mtok, batch.output_per_mtok) == (p_in, p_out) else "prices"
            out["note"] = (f"{info.name}: measured at {kind} (${p_in:g} / ${p_out:g} per M tokens; "
                           f"list ${listed.input_per_mtok:g} / ${listed.output_per_mtok:g})")
    return out


def _cost_per_instance(cell: Cell, price: tuple[float, float] | None) -> float | None:
    data = cell.data
    if price is None:
        return data.cost_usd / data.instances
    if data.prompt_tokens + data.completion_tokens == 0:
        return None
    # Tokens of accepted samples only (pipeline/assemble.py): divide by the acceptance rate for the rejected ones.
    accepted = data.acceptance_rate if data.acceptance_rate and data.acceptance_rate > 0 else 1.0
    dollars = (data.prompt_tokens * price[0] + data.completion_tokens * price[1]) / 1e6
    return dollars / data.instances / accepted


def _csv_input(table) -> PlanInput:
    options, excluded, free = [], [], set()
    for row in table.rows:
        setting = _label(row.method, row.domain)
        if not row.instances or row.instances < 1:
            excluded.append({"generator": row.generator, "setting": setting,
                             "reason": "no instances in the table: the size it bought is unknown"})
            continue
        n = int(round(row.instances))
        if row.cost_usd is None:
            free.add(row.generator)
        low, high = row.metrics.get("ci_low", math.nan), row.metrics.get("ci_high", math.nan)
        ci = (low, high) if math.isfinite(low) and math.isfinite(high) else None
        cpi = (row.cost_usd or 0.0) / n
        options.append(Option(row.generator, setting, [Point(n, row.pgr, ci)], cpi))
    for skip in table.skipped:
        excluded.append({"generator": skip["generator"], "setting": _label(skip["method"], skip["domain"]),
                         "reason": skip["reason"]})
    generators = [
        {"generator": name, "basis": "free" if name in free else "measured",
         "note": f"{name}: no cost_usd in the table: counted as free" if name in free else None}
        for name in table.generators()
    ]
    notes = ["PGR as published in the table (one size per row; no scaling curves)"]
    if not any(o.points[0].ci for o in options):
        notes.append("the table has no CIs (columns ci_low, ci_high): whether two choices differ cannot be judged")
    settings = [_label(m, d) for m, d in SETTINGS if _label(m, d) in {o.setting for o in options} | {
        e["setting"] for e in excluded}]
    return PlanInput(source=table.source, kind="csv", student=None, settings=settings, options=options,
                     generators=generators, excluded=excluded, notes=notes)


# ------------------------------------------------------------------------------------------------- planning


def plan_setting(options: list[Option], budget: float, instances: int | None = None) -> dict[str, Any]:
    """The best affordable (generator, size) for one setting alone with `budget`, and what it cannot be told from."""
    best: list[Estimate] = []  # each generator's best affordable estimate
    notes: list[str] = []
    for option in options:
        estimate, why = _best_of_option(option, budget, instances)
        if estimate is None:
            notes.append(f"{option.generator}: {why}")
        else:
            best.append(estimate)
    if not best:
        return {"generator": None, "choice": None, "alternatives": [], "unjudged": [], "notes": notes}
    best.sort(key=lambda e: (-e.value, e.cost_usd, e.generator))
    choice = best[0]
    overlapping = [e for e in best[1:] if choice.ci and e.ci and _overlap(choice.ci, e.ci)]
    unjudged = [e for e in best[1:] if not (choice.ci and e.ci)]
    for other in overlapping:
        line = f"cannot separate {_brief(choice)} and {_brief(other)}: their 95% CIs overlap"
        if other.cost_usd < choice.cost_usd:
            line += f"; {other.generator} costs less"
        notes.append(line)
    if unjudged:
        notes.append("no CI to tell " + choice.generator + " from " + ", ".join(e.generator for e in unjudged))
    if choice.value <= 0:
        notes.append("the best expected PGR here is not above 0: this data is not expected to help the student")
    return {"generator": choice.generator, "choice": choice, "alternatives": overlapping, "unjudged": unjudged,
            "notes": notes}


def _best_of_option(option: Option, budget: float, instances: int | None) -> tuple[Estimate | None, str | None]:
    """(the best estimate `budget` buys of this option, a note or the reason there is none)."""
    smallest, largest = option.points[0].instances, option.points[-1].instances
    if instances is not None:
        estimate = option.estimate(instances)
        if estimate is None:
            return None, f"not measured below {smallest:,} instances"
        if estimate.cost_usd > budget + 1e-12:
            return None, f"{instances:,} instances cost {_usd(estimate.cost_usd)}, over the budget"
        return estimate, None
    affordable = _affordable(budget, option.cost_per_instance)
    if affordable < smallest:
        return None, (f"the budget buys {int(affordable):,} instances; its smallest measured size, {smallest:,}, "
                      f"costs {_usd(option.cost(smallest))}")
    sizes = [p.instances for p in option.points if p.instances <= affordable]
    if affordable < largest:
        sizes.append(int(affordable))
    estimates = [option.estimate(n) for n in sorted(set(sizes))]
    best = max(estimates, key=lambda e: (e.value, -e.cost_usd))
    if affordable > largest and best.note is None:
        bought = "free: any size" if math.isinf(affordable) else f"the budget buys {int(affordable):,} instances"
        best = replace(best, note=f"{bought}; PGR is measured up to {largest:,} only, so the plan stops there "
                                  "(no growth is assumed)")
    return best, None


def best_mix(candidates: dict[str, list[Estimate]], budget: float) -> tuple[float, float, list[Estimate]]:
    """At most one candidate per setting, total cost within `budget`, the largest sum of expected PGR (ties: the
    cheaper). Exact over the given candidates: a dynamic programme over settings keeping every (cost, PGR)
    state no other state beats (cheaper and at least as good). Returns (sum of PGR, cost, the choices)."""
    states: list[tuple[float, float, tuple[Estimate, ...]]] = [(0.0, 0.0, ())]  # (cost, value, picks)
    for setting in candidates:
        useful = _frontier([(e.cost_usd, e.value, e) for e in candidates[setting] if e.value > 0
                            and e.cost_usd <= budget + 1e-9])
        grown = list(states)
        for cost, value, picks in states:
            for c, v, estimate in useful:
                if cost + c <= budget + 1e-9:
                    grown.append((cost + c, value + v, (*picks, estimate)))
        states = _frontier(grown)
    cost, value, picks = max(states, key=lambda s: (s[1], -s[0]))
    return value, cost, list(picks)


def _frontier(states: list[tuple]) -> list[tuple]:
    """The states no cheaper-or-equal state matches in value: cost ascending, value strictly increasing."""
    out, best = [], -math.inf
    for state in sorted(states, key=lambda s: (s[0], -s[1])):
        if state[1] > best + 1e-12:
            out.append(state)
            best = state[1]
    return out


def mix_candidates(options: list[Option], budget: float, instances: int | None = None) -> dict[str, list[Estimate]]:
    """The discrete (generator, size) choices the mix picks from, per setting."""
    out: dict[str, list[Estimate]] = {}
    for option in options:
        sizes = [instances] if instances is not None else option.mix_sizes(budget)
        found = [e for e in (option.estimate(n) for n in sizes) if e is not None and e.cost_usd <= budget + 1e-9]
        out.setdefault(option.setting, []).extend(found)
    return out


def plan(inputs: PlanInput, budget: float, instances: int | None = None) -> dict[str, Any]:
    """The plan as a strict-JSON-able dict (schema in docs/running.md)."""
    if not inputs.options:
        who = f" for student {inputs.student}" if inputs.student else ""
        raise AgorabenchError(f"{inputs.source}: no dataset with a defined PGR{who}: nothing to plan")
    _check_affordable(inputs.options, budget, instances)
    by_setting: dict[str, list[Option]] = {}
    for option in inputs.options:
        by_setting.setdefault(option.setting, []).append(option)
    recommendations = []
    for setting in inputs.settings:
        result = plan_setting(by_setting.get(setting, []), budget, instances)
        notes = result["notes"] + [f"{e['generator']}: not planned: {e['reason']}"
                                   for e in inputs.excluded if e["setting"] == setting]
        choice: Estimate | None = result["choice"]
        entry: dict[str, Any] = {"setting": setting, "generator": None, "instances": None, "cost_usd": None,
                                 "expected_pgr": None, "estimate": None}
        if choice is not None:
            entry.update(choice.as_dict())
            if choice.note:
                notes.insert(0, choice.note)
        entry["cannot_separate_from"] = [e.as_dict() for e in result["alternatives"]]
        entry["notes"] = notes
        recommendations.append(entry)
    if all(r["generator"] is None for r in recommendations):
        raise _nothing_planned(inputs.options, budget, instances)

    candidates = mix_candidates(inputs.options, budget, instances)
    total, cost, picks = best_mix({s: candidates.get(s, []) for s in inputs.settings}, budget)
    chosen = {e.setting: e for e in picks}
    mix_settings, left_out = [], []
    for setting in inputs.settings:
        if setting in chosen:
            e = chosen[setting]
            mix_settings.append({"setting": setting, **e.as_dict(), "note": e.note})
        else:
            fits = [e for e in candidates.get(setting, []) if e.value > 0]
            reason = ("the budget went to settings that recover more" if fits
                      else "no affordable choice with a positive expected PGR")
            left_out.append({"setting": setting, "reason": reason})
    mix = {
        "budget_usd": budget,
        "cost_usd": round(cost, 6),
        "sum_pgr": round(total, 4),
        "mean_pgr": round(total / len(inputs.settings), 4) if inputs.settings else None,
        "objective": "the largest sum of expected domain PGR over settings; a setting left out counts 0",
        "settings": mix_settings,
        "left_out": left_out,
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "source": {"path": inputs.source, "kind": inputs.kind, "student": inputs.student},
        "budget_usd": budget,
        "instances": instances,
        "generators": inputs.generators,
        "recommendations": recommendations,
        "mix": mix,
        "notes": inputs.notes + [g["note"] for g in inputs.generators if g.get("note")],
    }


def plan_budget(
    source: Path,
    budget: float,
    instances: int | None = None,
    student: str | None = None,
    prices: dict[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """Load `source` and plan for `budget` US dollars (see the module docstring)."""
    return plan(load_plan_input(Path(source), student, prices), budget, instances)


def _check_affordable(options: list[Option], budget: float, instances: int | None) -> None:
    """One line when the budget buys not one instance (or, with --instances N, not N) of any choice."""
    n = instances or 1
    cheapest = min(options, key=lambda o: (o.cost(n), o.generator))
    if cheapest.cost(n) > budget:
        what = "one instance" if instances is None else f"{n:,} instances"
        raise ConfigError(f"--budget {_usd(budget)} is below the cost of {what} of every choice: the cheapest is "
                          f"{cheapest.generator} on {cheapest.setting}, {_usd(cheapest.cost(n))}")


def _nothing_planned(options: list[Option], budget: float, instances: int | None) -> ConfigError:
    """The one line for a budget that buys no size whose PGR is known."""
    if instances is not None and all(o.estimate(instances) is None for o in options):
        smallest = min(o.points[0].instances for o in options)
        return ConfigError(f"--instances {instances:,}: PGR is not measured at or below {smallest:,} instances "
                           "for any choice (below its smallest measured size PGR is unknown)")
    cheapest = min(options, key=lambda o: (o.cost(instances or o.points[0].instances), o.generator))
    n = instances or cheapest.points[0].instances
    return ConfigError(f"--budget {_usd(budget)} buys no size whose PGR was measured: the cheapest is "
                       f"{cheapest.generator} on {cheapest.setting}, {n:,} instances for {_usd(cheapest.cost(n))}")


# ------------------------------------------------------------------------------------------------- output


def plan_lines(result: dict[str, Any]) -> list[str]:
    """The plan for the console."""
    budget = result["budget_usd"]
    per = f"{result['instances']:,} instances per setting, " if result["instances"] else ""
    lines = [f"budget plan for {result['source']['path']}: {per}${budget:,.2f} per setting alone, "
             f"and ${budget:,.2f} in all for the mix"]
    lines += [f"note: {note}" for note in result["notes"]]
    mix = result["mix"]
    rows = [r for r in (*result["recommendations"], *mix["settings"]) if r["generator"] is not None]
    widths = (max(len(r["setting"]) for r in result["recommendations"]),
              max((len(r["generator"]) for r in rows), default=0),
              max((len(f"{r['instances']:,}") for r in rows), default=0),
              max((len(f"{r['cost_usd']:,.2f}") for r in rows), default=0))
    lines.append("per setting, each alone with the budget (PGR with 95% CI):")
    for rec in result["recommendations"]:
        lines.append(f"  {_row(rec, widths)}" if rec["generator"] else f"  {rec['setting']:<{widths[0]}}  nothing")
        lines += [f"  {'':<{widths[0]}}    {note}" for note in rec["notes"]]
    count = len(result["recommendations"])
    lines.append(f"best mix for ${budget:,.2f} in all: ${mix['cost_usd']:,.2f}, mean PGR {_pgr(mix['mean_pgr'])} "
                 f"over {count} settings (a setting left out counts 0)")
    for entry in mix["settings"]:
        lines.append(f"  {_row(entry, widths)}")
    for entry in mix["left_out"]:
        lines.append(f"  {entry['setting']:<{widths[0]}}  left out: {entry['reason']}")
    return lines


def _row(entry: dict[str, Any], widths: tuple[int, int, int, int]) -> str:
    pgr = entry["expected_pgr"]
    return (f"{entry['setting']:<{widths[0]}}  {entry['generator']:<{widths[1]}}  "
            f"{entry['instances']:>{widths[2]},} instances  ${entry['cost_usd']:>{widths[3]},.2f}  "
            f"PGR {_pgr(pgr['value']):>5} {_ci_text(pgr['ci']):<14}  {entry['estimate']}")


def _brief(e: Estimate) -> str:
    return f"{e.generator} ({e.instances:,} instances, ${e.cost_usd:,.2f}, PGR {_pgr(e.value)} {_ci_text(e.ci)})"


def _usd(value: float) -> str:
    """Dollars to the cent, or to 2 significant digits under a cent ($0.00041)."""
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.2g}"


def _pgr(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _ci_text(ci) -> str:
    return f"[{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "[no CI]"


# ------------------------------------------------------------------------------------------------- helpers


def _label(method: str, domain: str) -> str:
    return f"{METHOD_SHORT[method]}/{domain}"


def _settings(cells: list[Cell]) -> list[str]:
    present = {(c.method, c.domain) for c in cells}
    return [_label(m, d) for m, d in SETTINGS if (m, d) in present]


def _affordable(budget: float, cost_per_instance: float) -> float:
    """Whole instances `budget` buys (infinite when they are free)."""
    if cost_per_instance <= 0:
        return math.inf
    return math.floor(budget / cost_per_instance * (1 + 1e-12))


def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _ci(ci) -> tuple[float, float] | None:
    return (float(ci[0]), float(ci[1])) if ci else None


def _round_ci(ci) -> list[float] | None:
    return [round(ci[0], 4), round(ci[1], 4)] if ci else None
