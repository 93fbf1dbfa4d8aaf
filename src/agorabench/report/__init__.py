"""The report of a run: a PGR leaderboard like the paper's table, per-benchmark PGRs, cost, plots and data
statistics, as Markdown and as one self-contained HTML page, plus CSV and JSON for other tools.

    results = load_results("runs/my-run")
    write_report(results, Path("runs/my-run/report"))
"""

from agorabench.report.sections import EmbeddedFigure, ReportSection, embed_figure
from agorabench.report.writer import load_results, write_report

__all__ = ["EmbeddedFigure", "ReportSection", "embed_figure", "load_results", "write_report"]
