"""Figures of an analysis result, drawn from the result dict alone (so a saved JSON can be re-plotted).

Figures are built with matplotlib's object API on an Agg canvas, never through pyplot: no global backend
switch, no figure registry to leak memory in a long process, safe without a display.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from agorabench.taxonomy import DOMAIN_COLORS, METHOD_MARKERS

FIGURE_FILES = {
    "problem_solving_coarse": "problem_solving_vs_pgr_coarse.png",
    "problem_solving_fine": "problem_solving_vs_pgr_fine.png",
    "loadings": "pca_loadings.png",
    "cost_frontier": "cost_frontier.png",
}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _fit_label(corr: dict[str, Any]) -> str:
    if corr.get("r") is None:
        return f"no fit: {corr.get('reason')}"
    return f"fit: r = {corr['r']:.2f}, R\u00b2 = {corr['r2']:.2f}, p = {corr['p']:.2g} (n = {corr['n']})"


def _draw_fit(ax, xs: np.ndarray, corr: dict[str, Any]) -> None:
    finite = xs[np.isfinite(xs)]
    if corr.get("slope") is None or not len(finite):
        ax.plot([], [], " ", label=_fit_label(corr))  # legend entry only: say why there is no line
        return
    line_x = np.linspace(finite.min(), finite.max(), 50)
    ax.plot(line_x, corr["slope"] * line_x + corr["intercept"], color="black", lw=1.2, label=_fit_label(corr))


def problem_solving_coarse_figure(result: dict[str, Any]) -> Figure:
    """One point per generator: mean problem solving against mean PGR, named, with the fitted line."""
    corr = result["correlation"]["coarse"]
    points = [p for p in corr["points"] if p["problem_solving"] is not None]
    fig = _figure(6.4, 4.6)
    ax = fig.add_subplot()
    xs = np.array([p["problem_solving"] for p in points], dtype=float)
    ax.scatter(xs, [p["pgr"] for p in points], s=45, color="tab:purple", zorder=3)
    for p in points:
        ax.annotate(
            p["generator"],
            (p["problem_solving"], p["pgr"]),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    _draw_fit(ax, xs, corr)
    ax.margins(x=0.12)  # room for the names of the outermost points
    ax.set(
        xlabel="mean problem-solving score",
        ylabel="mean PGR (%)",
        title="Problem solving vs PGR (per generator)",
    )
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def problem_solving_fine_figure(result: dict[str, Any]) -> Figure:
    """One point per dataset, coloured by domain and shaped by method, with the fitted line."""
    corr = result["correlation"]["fine"]
    rows = [r for r in result["rows"] if r["problem_solving"] is not None]
    fig = _figure(8.6, 4.6)
    ax = fig.add_subplot()
    for domain, color in DOMAIN_COLORS.items():
        for method, marker in METHOD_MARKERS.items():
            group = [r for r in rows if r["domain"] == domain and r["method"] == method]
            if group:
                ax.scatter(
                    [r["problem_solving"] for r in group],
                    [r["pgr"] for r in group],
                    color=color,
                    marker=marker,
                    s=30,
                    alpha=0.85,
                    label=f"{domain} / {method}",
                    zorder=3,
                )
    _draw_fit(ax, np.array([r["problem_solving"] for r in rows], dtype=float), corr)
    ax.set(
        xlabel="problem-solving score (domain)",
        ylabel="PGR (%)",
        title="Problem solving vs PGR (per dataset)",
    )
    # Outside the axes: nine groups plus the fit would cover points inside.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def loadings_figure(result: dict[str, Any]) -> Figure:
    """Heat map of the loadings (columns x components), diverging around 0 and annotated."""
    pca = result["pca"]
    names = list(pca["loadings"])
    fig = _figure(1.6 + 1.0 * max(len(pca["components"]), 2), 1.2 + 0.5 * max(len(names), 2))
    ax = fig.add_subplot()
    if not names:
        ax.text(0.5, 0.5, f"no PCA: {pca.get('reason')}", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    matrix = np.array([pca["loadings"][name] for name in names], dtype=float)
    # Eigenvector entries lie in [-1, 1]; a fixed symmetric scale keeps 0 white and figures comparable.
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=8,
            color="white" if abs(value) > 0.6 else "black",
        )
    ratios = pca["explained_variance_ratio"]
    ax.set_xticks(
        range(len(ratios)), [f"{c}\n{r:.0%}" for c, r in zip(pca["components"], ratios, strict=True)]
    )
    ax.set_yticks(range(len(names)), names)
    ax.set_title("PCA loadings (eigenvectors)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def cost_figure(result: dict[str, Any]) -> Figure:
    """Mean PGR against cost per dataset, with the frontier as a step line (the best PGR reachable at or
    below each cost). Log x when positive costs span more than 10x; free generators then sit at a marked
    position left of the cheapest paid one."""
    cost = result["cost"]
    priced = [g for g in cost["generators"] if g["cost_per_dataset_usd"] is not None]
    fig = _figure(6.4, 4.6)
    ax = fig.add_subplot()
    if not priced:
        ax.text(0.5, 0.5, "no cost data", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    positive = [g["cost_per_dataset_usd"] for g in priced if g["cost_per_dataset_usd"] > 0]
    log_x = bool(positive) and max(positive) / min(positive) > 10
    zero_x = min(positive) / 5 if log_x else 0.0

    def x_of(g: dict[str, Any]) -> float:
        return g["cost_per_dataset_usd"] if g["cost_per_dataset_usd"] > 0 else zero_x

    on_frontier = set(cost["frontier"])
    for g in priced:
        free = g["cost_per_dataset_usd"] == 0
        ax.scatter(
            x_of(g),
            g["mean_pgr"],
            s=50,
            zorder=3,
            marker="D" if free else "o",
            facecolor="none" if free else ("tab:red" if g["generator"] in on_frontier else "tab:gray"),
            edgecolor="tab:red" if g["generator"] in on_frontier else "tab:gray",
        )
        ax.annotate(
            g["generator"] + (" ($0)" if free else ""),
            (x_of(g), g["mean_pgr"]),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    by_name = {g["generator"]: g for g in priced}
    line = [by_name[name] for name in cost["frontier"]]
    xs, ys = [x_of(g) for g in line], [g["mean_pgr"] for g in line]
    # Carry the last step to the dearest generator: paying more buys no more PGR than the frontier's best.
    dearest = max(x_of(g) for g in priced)
    if xs and dearest > xs[-1]:
        xs, ys = [*xs, dearest], [*ys, ys[-1]]
    ax.plot(xs, ys, drawstyle="steps-post", color="tab:red", lw=1.2, label="cost-PGR frontier")
    ax.margins(x=0.12)
    if log_x:
        ax.set_xscale("log")
        if any(g["cost_per_dataset_usd"] == 0 for g in priced):
            ax.axvline(zero_x, color="gray", ls=":", lw=1)
            ax.plot([], [], "D", mfc="none", mec="gray", label="$0 (drawn at the dotted line)")
    ax.set(
        xlabel="cost per dataset (USD)" + (", log scale" if log_x else ""),
        ylabel="mean PGR (%)",
        title="Cost-effectiveness",
    )
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def figures(result: dict[str, Any]) -> dict[str, Figure]:
    """All figures of a result, keyed as FIGURE_FILES."""
    return {
        "problem_solving_coarse": problem_solving_coarse_figure(result),
        "problem_solving_fine": problem_solving_fine_figure(result),
        "loadings": loadings_figure(result),
        "cost_frontier": cost_figure(result),
    }


def save_figures(result: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write every figure as PNG under `directory`; returns name -> path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fig in figures(result).items():
        paths[name] = directory / FIGURE_FILES[name]
        fig.savefig(paths[name], dpi=120)
    return paths


def png_base64(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
