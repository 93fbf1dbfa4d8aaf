"""The report's two plots, drawn on bare `Figure`s: no pyplot, so no global backend or figure registry to leak."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from agorabench.report.tables import SETTINGS, LeaderboardRow
from agorabench.taxonomy import DOMAINS, METHOD_SHORT, METHODS

_STYLE = {
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#e5e7eb",
    "axes.axisbelow": True,
    "svg.hashsalt": "agorabench",  # stable SVG ids, so the same results give the same page
}


def generator_colours(names: Sequence[str]) -> dict[str, str]:
    palette = mpl.colormaps["tab10"].colors
    return {name: mpl.colors.to_hex(palette[i % len(palette)]) for i, name in enumerate(names)}


def pgr_by_setting(rows: Sequence[LeaderboardRow]) -> Figure:
    """Grouped bars: one group per setting, one bar per generator, 95% CI whiskers; x marks a missing PGR."""
    colours = generator_colours([r.generator for r in rows])
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(11, 4.2), layout="constrained")
        ax = fig.add_subplot()
        # A gap between methods makes the three groups of three readable without vertical rules.
        positions = [i + 0.6 * (i // len(DOMAINS)) for i in range(len(SETTINGS))]
        width = 0.8 / max(len(rows), 1)
        for k, row in enumerate(rows):
            xs = [p - 0.4 + width * (k + 0.5) for p in positions]
            entries = [row.settings[s] for s in SETTINGS]
            ok = [(x, e) for x, e in zip(xs, entries, strict=True) if e.value is not None]
            missing = [x for x, e in zip(xs, entries, strict=True) if e.value is None]
            if ok:
                values = [e.value for _, e in ok]
                low = [e.value - e.ci[0] if e.ci else 0.0 for _, e in ok]
                high = [e.ci[1] - e.value if e.ci else 0.0 for _, e in ok]
                ax.bar(
                    [x for x, _ in ok],
                    values,
                    width * 0.92,
                    color=colours[row.generator],
                    label=row.generator,
                    yerr=[low, high],
                    error_kw={"elinewidth": 0.8, "capsize": 1.5, "ecolor": "#374151"},
                )
            else:
                ax.bar([], [], color=colours[row.generator], label=row.generator)
            ax.plot(missing, [0] * len(missing), "x", color=colours[row.generator], markersize=6, mew=1.5)
        ax.axhline(0, color="#6b7280", linewidth=0.8)
        ax.axhline(100, color="#6b7280", linewidth=0.8, linestyle=":")
        ax.set_xticks(positions, [d for _ in METHODS for d in DOMAINS])
        for i, method in enumerate(METHODS):
            centre = positions[i * len(DOMAINS) + 1]
            ax.annotate(
                METHOD_SHORT[method],
                (centre, 0),
                xycoords=("data", "axes fraction"),
                xytext=(0, -24),
                textcoords="offset points",
                ha="center",
                va="top",
                fontweight="bold",
            )
        ax.set_ylabel("PGR (%)")
        handles, labels = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color="#6b7280", marker="x", linestyle="", mew=1.5))
        labels.append("no PGR (n/a, failed or pending)")
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        ax.set_title("PGR by setting (dotted line: the reference, 100%)", loc="left", fontsize=10)
    return fig


def _dollars(value: float, _pos=None) -> str:
    return f"${value:,.0f}" if value >= 1 or value == 0 else f"${value:g}"


def cost_axis(costs: Sequence[float]) -> tuple[bool, float | None]:
    """Whether to use a log x axis (paid costs spanning more than 10x), and where to draw the free ones."""
    paid = [c for c in costs if c > 0]
    log = len(paid) >= 2 and max(paid) / min(paid) > 10
    if not any(c <= 0 for c in costs):
        return log, None
    # Zero has no place on a log axis: draw free generators a little left of the cheapest paid one.
    return log, (min(paid) / 4 if log else 0.0)


def pgr_vs_cost(rows: Sequence[LeaderboardRow]) -> Figure:
    """Overall PGR against generation cost; free/local generators drawn as hollow diamonds at a marked spot."""
    colours = generator_colours([r.generator for r in rows])
    plotted = [r for r in rows if r.overall.value is not None]
    log, free_x = cost_axis([r.cost_usd for r in plotted])
    with mpl.rc_context(_STYLE | {"axes.grid.axis": "both"}):
        fig = Figure(figsize=(6.4, 4.2), layout="constrained")
        ax = fig.add_subplot()
        for row in plotted:
            free = row.cost_usd <= 0
            x = free_x if free else row.cost_usd
            ax.scatter(
                [x],
                [row.overall.value],
                s=60,
                marker="D" if free else "o",
                zorder=3,
                facecolor="white" if free else colours[row.generator],
                edgecolor=colours[row.generator],
                linewidth=1.8,
            )
            ax.annotate(
                row.generator, (x, row.overall.value), xytext=(6, 5), textcoords="offset points", fontsize=8
            )
        if log:
            ax.set_xscale("log")
        if free_x is not None:
            ax.axvline(free_x, color="#9ca3af", linewidth=0.8, linestyle=":")
            ax.annotate(
                "free/local",
                (free_x, 0),
                xycoords=("data", "axes fraction"),
                xytext=(3, 3),
                textcoords="offset points",
                fontsize=8,
                color="#6b7280",
            )
        ax.xaxis.set_major_formatter(FuncFormatter(_dollars))
        ax.margins(x=0.15, y=0.15)
        ax.axhline(0, color="#6b7280", linewidth=0.8)
        ax.set_xlabel("generation cost, all settings (USD" + (", log scale)" if log else ")"))
        ax.set_ylabel("overall PGR (%)")
        ax.set_title("Overall PGR against cost", loc="left", fontsize=10)
    return fig
