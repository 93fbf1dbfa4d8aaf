"""The report's two plots, drawn on bare `Figure`s: no pyplot, so no global backend or figure registry to leak."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullFormatter

from agorabench.report.scaling import ScalingCurve, ScalingView
from agorabench.report.tables import SETTINGS, LeaderboardRow
from agorabench.taxonomy import DOMAINS, METHOD_MARKERS, METHOD_SHORT, METHODS

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


def pgr_by_setting(rows: Sequence[LeaderboardRow], names: Sequence[str] | None = None) -> Figure:
    """Grouped bars: one group per setting, one bar per generator, 95% CI whiskers; x marks a missing PGR.
    `names` fixes each generator's colour (the same in every student's figure); by default, the rows' order."""
    colours = generator_colours(names or [r.generator for r in rows])
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


def pgr_vs_cost(rows: Sequence[LeaderboardRow], names: Sequence[str] | None = None) -> Figure:
    """Overall PGR against generation cost; free/local generators drawn as hollow diamonds at a marked spot.
    `names`: as for `pgr_by_setting`."""
    colours = generator_colours(names or [r.generator for r in rows])
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


# --- data scaling ----------------------------------------------------------------------------------------------

_DOMAIN_LINES = {d: style for d, style in zip(DOMAINS, ("-", "--", ":", "-."), strict=False)}


def _curve_style(curve: ScalingCurve, colours: dict[str, str]) -> dict:
    method, domain = curve.setting
    return {
        "color": colours[curve.generator],
        "marker": METHOD_MARKERS.get(method, "o"),
        "linestyle": _DOMAIN_LINES.get(domain, "-"),
        "label": curve.label,
        "capsize": 2,
        "elinewidth": 0.8,
        "markersize": 5,
    }


def _scaling_figure(view: ScalingView, draw, title: str, ylabel: str, xlabel: str) -> Figure:
    """One panel per student (sharing the y axis), the curves drawn by `draw(ax, curve, style)`."""
    colours = generator_colours(list(dict.fromkeys([*view.generators, *(c.generator for c in view.curves)])))
    students = list(dict.fromkeys(c.student for c in view.curves))
    with mpl.rc_context(_STYLE | {"axes.grid.axis": "both"}):
        fig = Figure(figsize=(6.4 + 4.0 * (len(students) - 1), 4.2), layout="constrained")
        axes = fig.subplots(1, len(students), sharey=True, squeeze=False)[0]
        for ax, student in zip(axes, students, strict=True):
            for curve in view.curves:
                if curve.student == student:
                    style = _curve_style(curve, colours)
                    if student is not None:
                        style["label"] = curve.label.rsplit(" · ", 1)[0]
                    draw(ax, curve, style)
            ax.set_xscale("log")
            ax.axhline(0, color="#6b7280", linewidth=0.8)
            ax.set_xlabel(xlabel)
            if student is not None:
                ax.set_title(f"student {student}", loc="left", fontsize=9)
        axes[0].set_ylabel(ylabel)
        # One legend for every panel: a curve may be missing from one student's panel (a failed cell).
        legend: dict[str, object] = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                legend.setdefault(label, handle)
        handles, labels = list(legend.values()), list(legend)
        if handles:
            axes[-1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
                            fontsize=7)
        fig.suptitle(title, x=0.0, ha="left", fontsize=10)
    return fig


def _errorbars(ax, xs: Sequence[float], ys: Sequence[float], cis: Sequence[tuple[float, float] | None], style):
    low = [y - ci[0] if ci else 0.0 for y, ci in zip(ys, cis, strict=True)]
    high = [ci[1] - y if ci else 0.0 for y, ci in zip(ys, cis, strict=True)]
    ax.errorbar(xs, ys, yerr=[low, high], **style)


def scaling_pgr(view: ScalingView) -> Figure:
    """PGR against training instances (log x), one line per generator and setting, 95% CI whiskers; points
    without a defined PGR are skipped (the caption names them)."""

    def draw(ax, curve: ScalingCurve, style) -> None:
        points = curve.defined()
        if not points:
            ax.plot([], [], color=style["color"], marker=style["marker"], label=style["label"])
            return
        _errorbars(ax, [p.instances for p, _ in points], [e.value for _, e in points], [e.ci for _, e in points],
                   style)

    fig = _scaling_figure(view, draw, "PGR against training instances", "PGR (%)", "training instances (log scale)")
    for ax in fig.axes:
        ax.axhline(100, color="#6b7280", linewidth=0.8, linestyle=":")
        ax.set_xticks(view.sizes)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos=None: f"{v:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    return fig


def scaling_pgr_per_dollar(view: ScalingView) -> Figure | None:
    """PGR per dollar against dollars spent (log x) for the points that cost something; None when every point
    is free (PGR per dollar is defined nowhere: no figure rather than a division by zero)."""
    if view.free:
        return None

    def draw(ax, curve: ScalingCurve, style) -> None:
        points = curve.per_dollar()
        if points:
            _errorbars(ax, [c for c, _, _ in points], [v for _, v, _ in points], [ci for _, _, ci in points], style)

    fig = _scaling_figure(view, draw, "PGR per dollar against dollars spent", "PGR per $ (% per USD)",
                          "generation cost of the training records (USD, log scale)")
    for ax in fig.axes:
        ax.xaxis.set_major_formatter(FuncFormatter(_dollars))
    return fig
