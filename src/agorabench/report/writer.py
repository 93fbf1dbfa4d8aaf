"""Read a run's results, write its report folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from agorabench.errors import AgorabenchError
from agorabench.report import html, markdown, model, plots, tables, text
from agorabench.report.exports import write_exports
from agorabench.report.sections import EmbeddedFigure, ReportSection, embed_figure
from agorabench.results import RunResults

RESULTS_FILE = "results.json"


def load_results(path: str | Path) -> RunResults:
    """Read a run's results from its folder (holding results.json) or from the file itself."""
    path = Path(path)
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.is_file():
        where = f"{path} has no {RESULTS_FILE}" if path.is_dir() else f"{file} does not exist"
        raise AgorabenchError(f"cannot read run results: {where}")
    try:
        return RunResults.model_validate_json(file.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"]) or "document"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise AgorabenchError(f"{file} is not a valid results file: {loc}: {first['msg']}{more}") from None
    except OSError as exc:
        raise AgorabenchError(f"cannot read {file}: {exc.strerror or exc}") from None


def _figures(data: model.ReportData, out_dir: Path) -> dict[str, EmbeddedFigure]:
    """Sections 4's figures: one pair per student (with one student, named as they always were)."""
    figures = {}
    # With several students, a generator keeps its colour from one student's figures to the next.
    names = tables.generator_names(data.results) if data.several else None
    for block in data.blocks:
        log, free_x = plots.cost_axis([r.cost_usd for r in block.rows if r.overall.value is not None])
        for name, fig, alt, caption in (
            (
                "pgr_by_setting",
                plots.pgr_by_setting(block.rows, names),
                "Bar chart: PGR per setting and generator, with 95% CIs",
                "PGR by setting, one bar per generator; whiskers are 95% CIs.",
            ),
            (
                "pgr_vs_cost",
                plots.pgr_vs_cost(block.rows, names),
                "Scatter plot: overall PGR against generation cost",
                text.cost_plot_caption(log, free_x is not None, block.unplotted),
            ),
        ):
            if block.several:
                fig.suptitle(f"Student {block.student.label}", x=0.0, ha="left", fontsize=10, fontweight="bold")
            key = block.figure_name(name)
            # The student's name goes in the caption (escaped there), not the alt text (embedded as given).
            figures[key] = embed_figure(
                fig,
                out_dir,
                key,
                alt=alt + (f" (student {block.index})" if block.several else ""),
                caption=caption + (f" Student {block.student.label}." if block.several else ""),
            )
    return figures


def _scaling_figures(data: model.ReportData, out_dir: Path) -> dict[str, EmbeddedFigure]:
    view = data.scaling
    if view is None:
        return {}
    figures = {
        "scaling_pgr": embed_figure(
            plots.scaling_pgr(view),
            out_dir,
            "scaling_pgr",
            alt="Line plot: PGR against training instances (log scale), one line per generator and setting",
            caption=text.scaling_caption(view.skipped),
        )
    }
    per_dollar = plots.scaling_pgr_per_dollar(view)
    if per_dollar is not None:
        figures["scaling_pgr_per_dollar"] = embed_figure(
            per_dollar,
            out_dir,
            "scaling_pgr_per_dollar",
            alt="Line plot: PGR per dollar against dollars spent (log scale)",
            caption=text.per_dollar_caption(view.unpriced),
        )
    return figures


def write_report(
    results: RunResults,
    out_dir: str | Path,
    extra_sections: Sequence[ReportSection | tuple[str, str, str]] = (),
) -> dict[str, Path]:
    """Write report.md, report.html, results.json, pgr.csv, leaderboard.csv and figures/ into `out_dir`
    (and scaling.csv when the run has data-scaling curves).

    `extra_sections` come after the built-in ones (the five fixed sections, then "Student agreement" and
    "Data scaling" where the run has them); a (title, markdown, html) tuple, as
    `agorabench.analysis.sections.analysis_sections` returns, is taken as a `ReportSection`.

    Returns the written files by their name relative to `out_dir` (e.g. "report.html", "figures/pgr_vs_cost.png").
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = model.build(results)
    figures = _figures(data, out_dir)
    scaling_figures = _scaling_figures(data, out_dir)
    sections = tuple(s if isinstance(s, ReportSection) else ReportSection(*s) for s in extra_sections)
    data = replace(data, figures=figures, scaling_figures=scaling_figures, sections=sections)
    written = write_exports(data, out_dir)
    report_md = out_dir / "report.md"
    report_md.write_text(markdown.render(data), encoding="utf-8")
    report_html = out_dir / "report.html"
    report_html.write_text(html.render(data), encoding="utf-8")
    written |= {"report.md": report_md, "report.html": report_html}
    written |= {f"figures/{f.png.name}": f.png for f in (*figures.values(), *scaling_figures.values())}
    return written
