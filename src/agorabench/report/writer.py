"""Read a run's results, write its report folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from agorabench.errors import AgorabenchError
from agorabench.report import html, markdown, model, plots, text
from agorabench.report.exports import write_exports
from agorabench.report.sections import ReportSection, embed_figure
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


def _figures(data: model.ReportData, out_dir: Path):
    log, free_x = plots.cost_axis([r.cost_usd for r in data.rows if r.overall.value is not None])
    by_setting = plots.pgr_by_setting(data.rows)
    by_cost = plots.pgr_vs_cost(data.rows)
    return {
        "pgr_by_setting": embed_figure(
            by_setting,
            out_dir,
            "pgr_by_setting",
            alt="Bar chart: PGR per setting and generator, with 95% CIs",
            caption="PGR by setting, one bar per generator; whiskers are 95% CIs.",
        ),
        "pgr_vs_cost": embed_figure(
            by_cost,
            out_dir,
            "pgr_vs_cost",
            alt="Scatter plot: overall PGR against generation cost",
            caption=text.cost_plot_caption(log, free_x is not None, data.unplotted),
        ),
    }


def write_report(
    results: RunResults,
    out_dir: str | Path,
    extra_sections: Sequence[ReportSection | tuple[str, str, str]] = (),
) -> dict[str, Path]:
    """Write report.md, report.html, results.json, pgr.csv, leaderboard.csv and figures/ into `out_dir`.

    `extra_sections` come after the built-in ones; a (title, markdown, html) tuple, as
    `agorabench.analysis.sections.analysis_sections` returns, is taken as a `ReportSection`.

    Returns the written files by their name relative to `out_dir` (e.g. "report.html", "figures/pgr_vs_cost.png").
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = model.build(results)
    figures = _figures(data, out_dir)
    sections = tuple(s if isinstance(s, ReportSection) else ReportSection(*s) for s in extra_sections)
    data = replace(data, figures=figures, sections=sections)
    written = write_exports(results, data.rows, out_dir)
    report_md = out_dir / "report.md"
    report_md.write_text(markdown.render(data), encoding="utf-8")
    report_html = out_dir / "report.html"
    report_html.write_text(html.render(data), encoding="utf-8")
    written |= {"report.md": report_md, "report.html": report_html}
    written |= {f"figures/{f.png.name}": f.png for f in figures.values()}
    return written
