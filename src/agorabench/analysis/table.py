"""The analysis input: one row per (generator, method, domain), from a finished run or a CSV table.

Both sources end up as the same `Table`, so every statistic downstream is computed one way. A CSV lets
results from elsewhere (another run, a paper's published tables) be analysed with the same code.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import ValidationError

from agorabench.errors import AgorabenchError
from agorabench.results import RunResults
from agorabench.taxonomy import DOMAINS, METHODS, domain_name, method_name

REQUIRED_COLUMNS = ("generator", "method", "domain", "pgr", "problem_solving")
# Numeric columns with a fixed meaning: never treated as intrinsic metrics.
OPTIONAL_COLUMNS = ("cost_usd", "instances")
# A column that repeats another's quantity (runs before one perplexity column wrote both): the PCA and the
# regressions would weigh it twice, so it is left out when the other is there.
SAME_QUANTITY = {"perplexity_median": "perplexity"}
# Cell values read as "no value" (NaN or None), not as a typo.
MISSING = {"", "na", "n/a", "nan", "null", "none"}



@dataclass(frozen=True)
class Row:
    """One dataset: who generated it, how, for which domain, and what training on it recovered."""

    generator: str
    method: str  # long name, e.g. "instance_generation"
    domain: str  # "math" | "code" | "general"
    pgr: float  # the domain's PGR, percent
    problem_solving: float = math.nan  # the generator's own score on the domain's benchmarks; NaN if unknown
    cost_usd: float | None = None  # generation cost of this dataset; None if unknown
    instances: float | None = None  # records in this dataset; None if unknown
    metrics: dict[str, float] = field(default_factory=dict)  # intrinsic metrics; NaN where a row lacks one

    @property
    def key(self) -> str:
        return f"{self.generator}/{self.method}/{self.domain}"


@dataclass
class Table:
    rows: list[Row]
    metric_names: list[str]
    source: str
    kind: str  # "run" | "csv"
    skipped: list[dict[str, str]] = field(default_factory=list)  # rows left out, each with its reason
    ignored_columns: list[str] = field(default_factory=list)  # text columns of a CSV (not metrics)
    notes: list[str] = field(default_factory=list)

    def generators(self) -> list[str]:
        """Generator names in first-seen order (the order of the source)."""
        return list(dict.fromkeys(row.generator for row in self.rows))


def load_table(source: Path, metrics: Mapping[str, Mapping[str, float]] | None = None) -> Table:
    """Load a run folder, a run's results.json, or a CSV table (decided by what `source` is)."""
    source = Path(source)
    if source.is_dir() or source.suffix.lower() == ".json":
        return load_run(source, metrics)
    if not source.exists():
        raise AgorabenchError(
            f"{source}: no such file or folder (expected a run folder, results.json or a CSV)"
        )
    return load_csv(source)


# ---------------------------------------------------------------------------------------------------- runs


def load_run(source: Path, metrics: Mapping[str, Mapping[str, float]] | None = None) -> Table:
    """Rows from the finished cells of a run. `metrics` ("generator/method/domain" -> {name: value}) adds
    intrinsic-metric columns; when None, they are the cells' own intrinsic metrics (`Cell.intrinsic`)."""
    source = Path(source)
    path = source / "results.json" if source.is_dir() else source
    if not path.exists():
        raise AgorabenchError(f"{path}: no such file (a finished run folder holds results.json)")
    try:
        results = RunResults.model_validate_json(path.read_text())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        detail = f"{where}: {first['msg']}" if where else first["msg"]
        raise AgorabenchError(f"{path}: not a run results document ({detail})") from None
    if metrics is None:
        metrics = metrics_from_results(results)
    metrics = {_normalise_key(key, "metrics"): dict(values) for key, values in metrics.items()}

    problem_solving = {g.name: g.problem_solving for g in results.generators}
    rows: list[Row] = []
    skipped: list[dict[str, str]] = []
    # One row per dataset: with several students, the first student's PGR (the others' would repeat each
    # dataset with another student's numbers; `agorabench budget --student` plans by any of them).
    first = results.students[0].name if len(results.students) > 1 else None
    cells = [c for c in results.cells if first is None or (c.student or first) == first]
    for cell in cells:
        ident = {"generator": cell.generator, "method": cell.method, "domain": cell.domain}
        if cell.status != "done":
            skipped.append(
                {**ident, "reason": f"status {cell.status}" + (f": {cell.error}" if cell.error else "")}
            )
            continue
        if cell.domain_pgr is None or cell.domain_pgr.value is None:
            reason = cell.domain_pgr.undefined_reason if cell.domain_pgr else None
            skipped.append({**ident, "reason": f"PGR undefined ({reason or 'no domain PGR'})"})
            continue
        row = Row(
            generator=cell.generator,
            method=cell.method,
            domain=cell.domain,
            pgr=float(cell.domain_pgr.value),
            problem_solving=float(problem_solving.get(cell.generator, {}).get(cell.domain, math.nan)),
            cost_usd=cell.data.cost_usd if cell.data else None,
            instances=float(cell.data.instances) if cell.data else None,
        )
        rows.append(row)
    table = _with_metrics(rows, metrics, str(path), "run")
    table.skipped = skipped
    if first is not None:
        table.notes.append(f"PGR of the first of {len(results.students)} students, {first}: "
                           f"{len(results.cells) - len(cells)} cells of the others left out")
    if skipped:
        table.notes.append(
            f"{len(skipped)} of {len(cells)} cells skipped (not done, or PGR undefined)"
        )
    return table


def metrics_from_results(results: RunResults) -> dict[str, dict[str, float]]:
    """The intrinsic metrics a run measured per dataset, keyed "generator/method/domain" (null -> NaN)."""
    return {
        f"{cell.generator}/{cell.method}/{cell.domain}": {
            name: math.nan if value is None else float(value) for name, value in cell.intrinsic.items()
        }
        for cell in results.cells
        if cell.intrinsic
    }


def _normalise_key(key: str, where: str) -> str:
    parts = key.split("/")
    if len(parts) < 3:
        raise AgorabenchError(f"{where}: metrics key {key!r} is not 'generator/method/domain'")
    generator, method, domain = "/".join(parts[:-2]), method_name(parts[-2]), domain_name(parts[-1])
    if method is None or domain is None:
        raise AgorabenchError(f"{where}: metrics key {key!r} has an unknown method or domain")
    return f"{generator}/{method}/{domain}"


def _one_column_per_quantity(table: Table) -> Table:
    """The table without columns that repeat another's quantity (`SAME_QUANTITY`), each named in a note."""
    present = set(table.metric_names)
    dropped = [name for name, kept in SAME_QUANTITY.items() if name in present and kept in present]
    for name in dropped:
        table.notes.append(f"{name} left out: it measures what {SAME_QUANTITY[name]} does (one column each)")
        table.metric_names = [m for m in table.metric_names if m != name]
        table.rows = [replace(row, metrics={k: v for k, v in row.metrics.items() if k != name}) for row in table.rows]
    return table


def _with_metrics(
    rows: list[Row], metrics: Mapping[str, Mapping[str, float]], source: str, kind: str
) -> Table:
    # Every metric any row has becomes a column; a row without it gets NaN (PCA then leaves that row out).
    names = sorted({name for values in metrics.values() for name in values})
    keys = {row.key for row in rows}
    unused = [key for key in metrics if key not in keys]
    filled = [
        replace(row, metrics={n: float(metrics.get(row.key, {}).get(n, math.nan)) for n in names})
        for row in rows
    ]
    table = _one_column_per_quantity(Table(rows=filled, metric_names=names, source=source, kind=kind))
    if unused:
        table.notes.append(
            f"intrinsic metrics for {len(unused)} dataset(s) with no analysed row were ignored"
        )
    return table


# ---------------------------------------------------------------------------------------------------- CSV


def load_csv(path: Path) -> Table:
    """Rows of a CSV table. Errors are one line naming the file, the row and the column."""
    path = Path(path)
    try:
        return _read_csv(path)
    except UnicodeDecodeError as exc:
        raise AgorabenchError(
            f"{path.name}: not UTF-8 text (byte {exc.start}); save the table as UTF-8 CSV"
        ) from None


def _read_csv(path: Path) -> Table:
    name = path.name
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: tolerate a spreadsheet's BOM
        reader = csv.DictReader(handle)
        header = [column.strip() for column in reader.fieldnames or []]
        if not header:
            raise AgorabenchError(
                f"{name}: empty file (expected a header with {', '.join(REQUIRED_COLUMNS)})"
            )
        if len(set(header)) != len(header):
            dup = next(c for c in header if header.count(c) > 1)
            raise AgorabenchError(f"{name}: column {dup!r} appears twice in the header")
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise AgorabenchError(
                f"{name}: missing required column {missing[0]!r} (header: {', '.join(header)})"
            )
        reader.fieldnames = header
        # One dict of cells per data row; the cell type knows its row and line for error messages.
        records = [
            {column: _CsvCell(name, i, reader.line_num, column, value) for column, value in row.items()}
            for i, row in enumerate(reader, start=1)
        ]
    if not records:
        raise AgorabenchError(f"{name}: no data rows")

    def at(record: dict[str, _CsvCell], column: str) -> _CsvCell:
        # An absent optional column reads as empty cells.
        return record.get(column) or _CsvCell(name, 0, 0, column, None)

    # A column is a metric when every filled cell is a number; a column with no number at all is text
    # (a note, a model family) and ignored; a mix is a typo, reported at its first bad cell.
    metric_names, ignored = [], []
    for column in [c for c in header if c and c not in REQUIRED_COLUMNS and c not in OPTIONAL_COLUMNS]:
        filled = [at(record, column) for record in records if not at(record, column).missing]
        if all(_number(cell.text) is None for cell in filled):
            ignored.append(column)
            continue
        for cell in filled:
            cell.number()  # raises at the first cell that is not a number
        metric_names.append(column)

    rows: list[Row] = []
    skipped: list[dict[str, str]] = []
    seen: dict[tuple[str, str, str], int] = {}
    for record in records:
        generator = at(record, "generator").text
        if not generator:
            raise at(record, "generator").error("empty generator name")
        method = method_name(at(record, "method").text)
        if method is None:
            raise at(record, "method").error(
                f"unknown method {at(record, 'method').text!r} (use {', '.join(METHODS)} or IG, RG, QE)"
            )
        domain = domain_name(at(record, "domain").text)
        if domain is None:
            raise at(record, "domain").error(
                f"unknown domain {at(record, 'domain').text!r} (use {', '.join(DOMAINS)})"
            )
        ident = (generator, method, domain)
        row_number = at(record, "generator").row
        if ident in seen:
            raise at(record, "generator").error(
                f"duplicate row for {'/'.join(ident)} (first at row {seen[ident]})"
            )
        seen[ident] = row_number
        pgr = at(record, "pgr").number()
        problem_solving = at(record, "problem_solving").number()
        cost, instances = at(record, "cost_usd").number(), at(record, "instances").number()
        if math.isnan(pgr):
            skipped.append(
                {"generator": generator, "method": method, "domain": domain, "reason": "pgr is empty"}
            )
            continue
        rows.append(
            Row(
                generator=generator,
                method=method,
                domain=domain,
                pgr=pgr,
                problem_solving=problem_solving,
                cost_usd=None if math.isnan(cost) else cost,
                instances=None if math.isnan(instances) else instances,
                metrics={m: at(record, m).number() for m in metric_names},
            )
        )
    table = _one_column_per_quantity(
        Table(rows, metric_names, str(path), "csv", skipped=skipped, ignored_columns=ignored)
    )
    if skipped:
        table.notes.append(f"{len(skipped)} row(s) skipped: empty pgr")
    return table


@dataclass
class _CsvCell:
    """One cell of a CSV, knowing where it is so that an error can say so."""

    file: str
    row: int  # data rows counted from 1
    line: int  # physical line in the file (a quoted field may span lines)
    column: str
    raw: str | list[str] | None  # a list only for a row with more fields than the header (key None)

    @property
    def text(self) -> str:
        return self.raw.strip() if isinstance(self.raw, str) else ""

    @property
    def missing(self) -> bool:
        return self.text.lower() in MISSING

    def error(self, message: str) -> AgorabenchError:
        return AgorabenchError(
            f"{self.file}: row {self.row} (line {self.line}), column {self.column!r}: {message}"
        )

    def number(self) -> float:
        """The cell as a finite float; NaN when empty."""
        if self.missing:
            return math.nan
        num = _number(self.text)
        if num is None:
            raise self.error(f"{self.text!r} is not a number")
        return num


def _number(value: str) -> float | None:
    """A finite float, or None: infinities would poison every mean and are as wrong as text here."""
    try:
        num = float(value)
    except ValueError:
        return None
    return num if math.isfinite(num) else None
