"""The machine-readable files beside the report: results.json, pgr.csv, leaderboard.csv (and scaling.csv).

With several students, pgr.csv and leaderboard.csv start with a `student` column (one row block per student,
each measured against its own base and reference); with one, their columns are as they always were.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from agorabench.report import tables
from agorabench.report.model import ReportData
from agorabench.report.scaling import ScalingView
from agorabench.report.tables import COLUMNS, OVERALL, SETTINGS, Entry, LeaderboardRow
from agorabench.results import RunResults
from agorabench.taxonomy import METHOD_SHORT, METHODS

PGR_COLUMNS = [
    "generator",
    "method",
    "domain",
    "benchmark",
    "pgr",
    "ci_low",
    "ci_high",
    "undefined_reason",
    "student_score",
    "base_score",
    "reference_score",
    "instances",
    "cost_usd",
]


SCALING_COLUMNS = [
    "student",
    "generator",
    "method",
    "domain",
    "instances",
    "status",
    "pgr",
    "ci_low",
    "ci_high",
    "undefined_reason",
    "cost_usd",
    "pgr_per_dollar",
]


def leaderboard_columns(several_students: bool = False) -> list[str]:
    names = {OVERALL: "overall", **{m: f"{METHOD_SHORT[m]}_avg" for m in METHODS}}
    keys = [f"{METHOD_SHORT[m]}_{d}" for m, d in SETTINGS] + [names[k] for k in COLUMNS[len(SETTINGS) :]]
    return ["student"] * several_students + ["generator", *keys, "cost_usd", "pgr_per_dollar"]


def pgr_columns(several_students: bool = False) -> list[str]:
    return ["student"] * several_students + PGR_COLUMNS


def _num(value: float | None, digits: int = 4) -> str:
    # Averages are computed here and would print as 43.23333333333333; inputs are kept as given.
    return "" if value is None else repr(round(value, digits))


def _why(entry: Entry) -> str:
    """The reason a PGR is missing: the undefined reason as recorded, else the status and the error."""
    if entry.status == "ok":
        return ""
    if entry.status == "undefined":
        return entry.reason or ""
    return f"{entry.status}: {entry.reason}" if entry.reason else entry.status


def pgr_rows(results: RunResults) -> list[dict[str, str]]:
    """One row per cell and benchmark, plus one per cell for the domain mean (benchmark '')."""
    rows = []
    columns = tables.benchmark_columns(results)
    for cell in results.cells:
        instances = str(cell.data.instances) if cell.data else ""
        cost = _num(cell.data.cost_usd) if cell.data else ""
        common = {
            "generator": cell.generator,
            "method": cell.method,
            "domain": cell.domain,
            "instances": instances,
            "cost_usd": cost,
        }
        domain = tables.cell_entry(cell)
        rows.append(
            common
            | _pgr_fields(domain)
            | {
                "benchmark": "",
                "undefined_reason": _why(domain),
                "student_score": "",
                "base_score": "",
                "reference_score": "",
            }
        )
        for _, bench in (c for c in columns if c[0] == cell.domain):
            entry = tables.benchmark_entry(cell, bench)
            base, ref = results.base.scores.get(bench), results.reference.scores.get(bench)
            rows.append(
                common
                | _pgr_fields(entry.pgr)
                | {
                    "benchmark": bench,
                    "undefined_reason": _why(entry.pgr),
                    "student_score": _num(entry.student.value) if entry.student else "",
                    "base_score": _num(base.value) if base else "",
                    "reference_score": _num(ref.value) if ref else "",
                }
            )
    return rows


def _pgr_fields(entry: Entry) -> dict[str, str]:
    low, high = entry.ci if entry.ci else (None, None)
    return {"pgr": _num(entry.value), "ci_low": _num(low), "ci_high": _num(high)}


def leaderboard_rows(rows: Sequence[LeaderboardRow]) -> list[dict[str, str]]:
    names = leaderboard_columns()
    out = []
    for row in rows:
        values = [_num(row.value(k)) for k in COLUMNS]
        fields = [row.generator, *values, _num(row.cost_usd), _num(row.pgr_per_dollar)]
        out.append(dict(zip(names, fields, strict=True)))
    return out


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path


def scaling_rows(view: ScalingView) -> list[dict[str, str]]:
    """One row per point of every data-scaling curve; PGR per dollar empty where the point cost nothing."""
    rows = []
    for curve in view.curves:
        for point, entry in curve.points:
            per_dollar = entry.value / point.cost_usd if entry.value is not None and point.cost_usd > 0 else None
            rows.append(
                {
                    "student": curve.student or "",
                    "generator": curve.generator,
                    "method": curve.setting[0],
                    "domain": curve.setting[1],
                    "instances": str(point.instances),
                    "status": point.status,
                    **_pgr_fields(entry),
                    "undefined_reason": _why(entry),
                    "cost_usd": _num(point.cost_usd),
                    "pgr_per_dollar": _num(per_dollar),
                }
            )
    return rows


def write_exports(data: ReportData, out_dir: Path) -> dict[str, Path]:
    results = data.results
    results_json = out_dir / "results.json"
    results_json.write_text(results.model_dump_json(indent=1) + "\n", encoding="utf-8")
    several = data.several
    pgr, board = [], []
    for block in data.blocks:
        student = {"student": block.student.label} if several else {}
        pgr += [student | row for row in pgr_rows(block.student.results)]
        board += [student | row for row in leaderboard_rows(block.rows)]
    written = {
        "results.json": results_json,
        "pgr.csv": write_csv(out_dir / "pgr.csv", pgr_columns(several), pgr),
        "leaderboard.csv": write_csv(out_dir / "leaderboard.csv", leaderboard_columns(several), board),
    }
    if data.scaling is not None:
        written["scaling.csv"] = write_csv(out_dir / "scaling.csv", SCALING_COLUMNS, scaling_rows(data.scaling))
    return written
