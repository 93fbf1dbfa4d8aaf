"""The report beyond one student and one dataset size (issue 15): a leaderboard block per student, the students'
ranking agreement, and the data-scaling curves with their figures."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from agorabench.report import load_results, model, write_report
from agorabench.report.exports import leaderboard_columns, pgr_columns
from agorabench.report.plots import scaling_pgr, scaling_pgr_per_dollar
from agorabench.report.scaling import scaling_view
from agorabench.report.students import student_views
from agorabench.results import (
    Agreement,
    Cell,
    DataStats,
    GeneratorInfo,
    ModelScores,
    Pgr,
    RankAgreement,
    RunResults,
    ScalingPoint,
    Score,
    StudentInfo,
)

EXAMPLE = Path(__file__).parent / "data" / "run_results_example.json"
BENCHMARKS = {"math": ["gsm8k"], "code": ["humaneval"], "general": ["alpaca_eval"]}
IG_MATH = ("instance_generation", "math")
RG_CODE = ("response_generation", "code")
XSS = "<script>alert(1)</script>"


def pgr(value: float | None, half: float = 4.0) -> Pgr:
    if value is None:
        return Pgr(value=None, undefined_reason="reference gap within noise")
    return Pgr(value=value, ci=(value - half, value + half), method="paired")


def cell(generator: str, setting: tuple[str, str], value: float | None, student: str | None = None,
         cost: float = 2.0, scaling: list[ScalingPoint] | None = None, status: str = "done",
         error: str | None = None) -> Cell:
    method, domain = setting
    bench = BENCHMARKS[domain][0]
    return Cell(
        generator=generator,
        method=method,
        domain=domain,
        student=student,
        status=status,
        error=error,
        data=DataStats(requested=100, instances=90, failed=10, prompt_tokens=1000, completion_tokens=2000,
                       cost_usd=cost),
        student_scores={bench: Score(value=40.0, n=50)} if status == "done" else {},
        pgr={bench: pgr(value)} if status == "done" else {},
        domain_pgr=pgr(value) if status == "done" else None,
        scaling=scaling or [],
    )


def scores(value: float) -> dict[str, Score]:
    return {b: Score(value=value, ci=(value - 2, value + 2), n=50) for bs in BENCHMARKS.values() for b in bs}


def student(name: str, base: float, reference: float) -> StudentInfo:
    return StudentInfo(
        name=name,
        base_model=f"{name}-base-model",
        recipe="agorabench",
        training=f"{name} recipe: effective batch 32",
        base=ModelScores(label=f"{name} base", model=f"{name}/base", scores=scores(base)),
        reference=ModelScores(label=f"{name} reference", model=f"{name}/instruct", scores=scores(reference)),
    )


def results(cells: list[Cell], students: list[StudentInfo] = (), generators: list[str] = ("alpha", "beta"),
            agreement: Agreement | None = None, sizes: list[int] = (), costs: dict[str, float] | None = None
            ) -> RunResults:
    first = students[0] if students else student("solo", 10.0, 60.0)
    return RunResults(
        name="beyond",
        created_at="2026-12-01T00:00:00Z",
        student_base=first.base_model,
        recipe=first.recipe,
        training=first.training,
        benchmarks=BENCHMARKS,
        base=first.base,
        reference=first.reference,
        generators=[GeneratorInfo(name=g, model=f"{g}-model", backend="openai", cost_usd=(costs or {}).get(g, 0.0))
                    for g in generators],
        cells=cells,
        students=list(students),
        scaling=list(sizes),
        agreement=agreement,
    )


def two_students() -> RunResults:
    """small prefers alpha on IG math and beta on RG code; large the other way round on IG math (a flip)."""
    values = {
        "small": {("alpha", IG_MATH): 60.0, ("beta", IG_MATH): 20.0, ("alpha", RG_CODE): 10.0, ("beta", RG_CODE): 30.0},
        "large": {("alpha", IG_MATH): 15.0, ("beta", IG_MATH): 45.0, ("alpha", RG_CODE): 5.0, ("beta", RG_CODE): 25.0},
    }
    cells = [cell(g, s, v, student=name) for name, vs in values.items() for (g, s), v in vs.items()]
    # large's RG code run of alpha failed in training: the dataset is still there, shared with small.
    index = next(i for i, c in enumerate(cells)
                 if (c.student, c.generator, c.method, c.domain) == ("large", "alpha", *RG_CODE))
    cells[index] = cell("alpha", RG_CODE, None, student="large", status="failed", error="train: CUDA out of memory")
    agreement = Agreement(
        rounds=1000,
        pairs=[
            RankAgreement(scope="overall", students=("small", "large"), tau=None, generators=["alpha", "beta"],
                          note="fewer than two generators with a defined mean PGR for both"),
            RankAgreement(scope="RG/code", students=("small", "large"), tau=1.0, ci=(1.0, 1.0),
                          generators=["alpha", "beta"]),
            RankAgreement(scope="IG/math", students=("small", "large"), tau=-1.0, ci=(-1.0, 0.33),
                          generators=["alpha", "beta"], flips=[("alpha", "beta")]),
        ],
    )
    return results(cells, [student("small", 10.0, 60.0), student("large", 30.0, 70.0)], agreement=agreement,
                   costs={"alpha": 4.0, "beta": 4.0})


def curve(values: list[float | None], sizes=(100, 1000, 10000), cost_per_record: float = 0.001) -> list[ScalingPoint]:
    return [
        ScalingPoint(instances=n, status="done", cost_usd=n * cost_per_record,
                     pgr={"gsm8k": pgr(v)}, domain_pgr=pgr(v))
        for n, v in zip(sizes, values, strict=True)
    ]


def scaled(cost_per_record: dict[str, float]) -> RunResults:
    cells = [
        cell("alpha", IG_MATH, 50.0, cost=10000 * cost_per_record["alpha"],
             scaling=curve([10.0, None, 50.0], cost_per_record=cost_per_record["alpha"])),
        cell("beta", IG_MATH, 35.0, cost=10000 * cost_per_record["beta"],
             scaling=curve([20.0, 30.0, 35.0], cost_per_record=cost_per_record["beta"])),
    ]
    return results(cells, sizes=[100, 1000, 10000])


@pytest.fixture(scope="module")
def two_student_report(tmp_path_factory) -> dict[str, Path]:
    extra = ("Extra analysis", "PCA *here*.", "<p>PCA</p>")
    return write_report(two_students(), tmp_path_factory.mktemp("two"), [extra])


def section(text: str, title: str) -> str:
    """The Markdown of one `## N. title` section, up to the next one."""
    start = re.search(rf"^## \d+\. {re.escape(title)}$", text, re.M)
    assert start, f"no section {title!r}"
    end = re.search(r"^## \d+\. ", text[start.end():], re.M)
    return text[start.start(): start.end() + end.start()] if end else text[start.start():]


# --- several students --------------------------------------------------------------------------------------


def test_cells_are_split_by_student_with_their_own_base_and_reference():
    views = student_views(two_students())
    assert [v.name for v in views] == ["small", "large"]
    assert [len(v.results.cells) for v in views] == [4, 4]
    assert views[1].results.base.scores["gsm8k"].value == 30.0 and views[1].base.label == "large base"
    # Old results and one-student runs: the run itself.
    old = load_results(EXAMPLE)
    (only,) = student_views(old)
    assert only.name is None and only.results.cells == old.cells


def test_the_leaderboard_has_a_block_per_student_with_best_marked_within_it(two_student_report):
    md = two_student_report["report.md"].read_text()
    board = section(md, "PGR leaderboard")
    small, large = board.index("### Student small"), board.index("### Student large")
    assert small < large
    assert "Base model small-base-model; recipe small recipe: effective batch 32; base: small base (small/base); " \
           "reference: small reference (small/instruct)." in board
    small_block, large_block = board[small:large], board[large:]
    # small: alpha wins IG math (60) and overall (35); large: beta wins IG math (45) and overall (35).
    assert "| alpha | **60.0** [56.0, 64.0] |" in small_block
    assert "| beta | 20.0 [16.0, 24.0] |" in small_block
    assert "| beta | **45.0** [41.0, 49.0] |" in large_block
    assert "| alpha | 15.0 [11.0, 19.0] |" in large_block
    # Rows sorted within each block: small's alpha (35) before beta (25); large's beta (35) before alpha (15).
    assert small_block.index("| alpha |") < small_block.index("| beta |")
    assert large_block.index("| beta |") < large_block.index("| alpha |")
    # The failed cell's note belongs to large's block and is numbered there.
    assert "failed (note 1)" in large_block and "failed: train: CUDA out of memory (alpha · RG code)" in large_block
    assert "(note" not in small_block and "failed" not in small_block


def test_html_blocks_have_their_own_note_anchors_and_best_cells(two_student_report):
    page = two_student_report["report.html"].read_text()
    assert '<h3 id="s1-leaderboard">Student small</h3>' in page and '<h3 id="s2-leaderboard">Student large</h3>' in page
    leaderboard = page[page.index('<section id="leaderboard">'): page.index('<section id="benchmarks">')]
    assert 'href="#lb-note-s2-1"' in leaderboard and 'id="lb-note-s2-1"' in leaderboard
    assert "lb-note-s1-" not in leaderboard  # small has no failed or undefined cell
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    small = leaderboard[: leaderboard.index("Student large")]
    # small's best: alpha's IG math, IG avg and overall; beta's RG code and RG avg (each column within the block).
    assert len(re.findall(r'<td class="num [^"]*best', small)) == 5
    # Each block's reference table names its own base and reference.
    assert "Base: small base" in page and "Reference: large reference" in page


def test_no_table_mixes_students(two_student_report):
    md = two_student_report["report.md"].read_text()
    header = md[: md.index("## 1.")]
    assert "| Student small | Base model small-base-model;" in header and "| Student large |" in header
    assert "| Student base |" not in header
    benchmarks = section(md, "PGR per benchmark")
    assert benchmarks.count("#### Base and reference scores") == 2
    large = benchmarks[benchmarks.index("### Student large"):]
    assert "| gsm8k | math |   | 30.0 [28.0, 32.0] (n=50) | 70.0 [68.0, 72.0] (n=50) | 40.0 |" in large
    cost = section(md, "Cost")
    assert "| Overall PGR (small) | PGR per $ (small) | Overall PGR (large) | PGR per $ (large) |" in cost
    assert cost.count("| alpha |") == 1  # a dataset's cost counts once
    data = section(md, "Data statistics")
    assert data.count("| alpha | RG code |") == 1
    assert "| alpha | RG code | small: done; large: failed |" in data
    assert "error: large: train: CUDA out of memory" in data


def test_agreement_section(two_student_report):
    md = two_student_report["report.md"].read_text()
    agreement = section(md, "Student agreement")
    assert md.index("## 6. Student agreement") > md.index("## 5. Data statistics")
    assert "## 7. Extra analysis" in md  # passed-in sections come after
    assert "Kendall's tau" in agreement and "1 = the same order" in agreement and "-1 = reversed" in agreement
    assert "1,000 bootstrap rounds" in agreement
    assert "### small vs large" in agreement
    rows = [line for line in agreement.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0] for r in rows] == ["| IG math", "| RG code", "| Overall"]  # settings, then overall
    assert rows[0] == "| IG math | -1.00 | [-1.00, 0.33] | alpha, beta | alpha / beta |   |"
    assert rows[1].startswith("| RG code | 1.00 | [1.00, 1.00] | alpha, beta | none |")
    assert rows[2].startswith("| Overall | n/a |") and "fewer than two generators" in rows[2]
    page = two_student_report["report.html"].read_text()
    assert "6. Student agreement</h2>" in page and "7. Extra analysis</h2>" in page
    assert '<a href="#agreement">6. Student agreement</a>' in page
    assert "alpha / beta" in page and "-1.00" in page and "[-1.00, 0.33]" in page


def test_csv_files_have_a_student_column(two_student_report):
    with open(two_student_report["leaderboard.csv"], newline="") as f:
        reader = csv.DictReader(f)
        board = list(reader)
    assert reader.fieldnames == leaderboard_columns(True) and reader.fieldnames[0] == "student"
    assert [(r["student"], r["generator"]) for r in board] == [
        ("small", "alpha"), ("small", "beta"), ("large", "beta"), ("large", "alpha")]
    with open(two_student_report["pgr.csv"], newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == pgr_columns(True)
    gsm = [r for r in rows if r["benchmark"] == "gsm8k" and r["generator"] == "beta"]
    assert {(r["student"], r["base_score"], r["reference_score"]) for r in gsm} == {
        ("small", "10.0", "60.0"), ("large", "30.0", "70.0")}
    assert "scaling.csv" not in two_student_report


def test_student_text_is_escaped(tmp_path):
    run = two_students()
    run.students[1].name = XSS
    run.cells[:] = [c.model_copy(update={"student": XSS}) if c.student == "large" else c for c in run.cells]
    run.agreement.pairs[0].students = ("small", XSS)
    written = write_report(run, tmp_path)
    page, md = written["report.html"].read_text(), written["report.md"].read_text()
    assert "<script" not in page and XSS not in md
    assert "Student &lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- data scaling ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scaling_report(tmp_path_factory) -> dict[str, Path]:
    return write_report(scaled({"alpha": 0.001, "beta": 0.0}), tmp_path_factory.mktemp("scaling"))


def test_scaling_section_table_and_figures(scaling_report):
    md = scaling_report["report.md"].read_text()
    scaling = section(md, "Data scaling")
    assert md.index("## 6. Data scaling") > md.index("## 5. Data statistics")
    assert "| Generator | Setting | PGR at 100 | PGR at 1,000 | PGR at 10,000 | Cost |" in scaling
    assert "| alpha | IG math | 10.0 [6.0, 14.0] | n/a (note 1) | 50.0 [46.0, 54.0] | $10.00 |" in scaling
    assert "| beta | IG math | 20.0 [16.0, 24.0] | 30.0 [26.0, 34.0] | 35.0 [31.0, 39.0] | $0.00 |" in scaling
    assert "1. n/a: reference gap within noise (alpha · IG math at 1,000)" in scaling
    assert "](figures/scaling_pgr.png)" in scaling and "](figures/scaling_pgr_per_dollar.png)" in scaling
    assert "skipped: alpha · IG math at 1,000 (n/a)" in scaling
    assert "Not plotted, as they cost nothing (free/local): beta · IG math." in scaling
    for name in ("figures/scaling_pgr.png", "figures/scaling_pgr_per_dollar.png"):
        assert scaling_report[name].stat().st_size > 1000
    page = scaling_report["report.html"].read_text()
    scaling_html = page[page.index('<section id="scaling">'):]
    assert scaling_html.count("<svg") == 2 and "6. Data scaling</h2>" in scaling_html
    with open(scaling_report["scaling.csv"], newline="") as f:
        points = list(csv.DictReader(f))
    assert len(points) == 6
    alpha_big = next(p for p in points if p["generator"] == "alpha" and p["instances"] == "10000")
    assert (alpha_big["pgr"], alpha_big["cost_usd"], alpha_big["pgr_per_dollar"]) == ("50.0", "10.0", "5.0")
    assert next(p for p in points if p["generator"] == "beta")["pgr_per_dollar"] == ""  # free: not divided by 0


def test_scaling_figures_use_log_axes_and_skip_undefined_points():
    view = scaling_view(student_views(scaled({"alpha": 0.001, "beta": 0.002})))
    fig = scaling_pgr(view)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    # One errorbar container per curve: its data line and its CI whiskers.
    lines = {c.get_label(): c.lines[0] for c in ax.containers}
    assert set(lines) == {"alpha · IG math", "beta · IG math"}
    assert list(lines["alpha · IG math"].get_xdata()) == [100, 10000]  # the undefined point at 1,000 skipped
    assert list(lines["alpha · IG math"].get_ydata()) == [10.0, 50.0]
    per_dollar = scaling_pgr_per_dollar(view)
    (ax,) = per_dollar.axes
    assert ax.get_xscale() == "log"
    beta = next(c.lines[0] for c in ax.containers if c.get_label() == "beta · IG math")
    assert list(beta.get_xdata()) == pytest.approx([0.2, 2.0, 20.0])
    assert list(beta.get_ydata()) == pytest.approx([20 / 0.2, 30 / 2.0, 35 / 20.0])


def test_free_generators_get_no_per_dollar_plot(tmp_path):
    run = scaled({"alpha": 0.0, "beta": 0.0})
    view = scaling_view(student_views(run))
    assert view.free and scaling_pgr_per_dollar(view) is None
    written = write_report(run, tmp_path)
    assert "figures/scaling_pgr.png" in written and "figures/scaling_pgr_per_dollar.png" not in written
    assert not (tmp_path / "figures" / "scaling_pgr_per_dollar.png").exists()
    md = section(written["report.md"].read_text(), "Data scaling")
    assert "Every generator here is free (cost $0, local models): PGR per dollar is not defined" in md
    page = written["report.html"].read_text()
    assert "Every generator here is free" in page
    assert page[page.index('<section id="scaling">'):].count("<svg") == 1


def test_scaling_with_several_students_names_them(tmp_path):
    run = two_students()
    for c in run.cells:
        if c.status == "done" and (c.method, c.domain) == IG_MATH:
            c.scaling = curve([1.0, 2.0, c.domain_pgr.value])
    md = write_report(run, tmp_path)["report.md"].read_text()
    assert "## 7. Data scaling" in md and "## 8. Extra" not in md
    scaling = section(md, "Data scaling")
    assert "| Generator | Setting | Student | PGR at 100 |" in scaling
    assert "| beta | IG math | large | 1.0 [-3.0, 5.0] | 2.0 [-2.0, 6.0] | 45.0 [41.0, 49.0] | $10.00 |" in scaling
    fig = scaling_pgr(model.build(run).scaling)
    assert len(fig.axes) == 2 and [ax.get_title(loc="left") for ax in fig.axes] == ["student small", "student large"]


def test_one_point_curves_have_no_section(tmp_path):
    run = results([cell("alpha", IG_MATH, 50.0, scaling=curve([50.0], sizes=(10000,)))])
    assert model.build(run).scaling is None
    assert "Data scaling" not in write_report(run, tmp_path)["report.md"].read_text()


# --- one student, as before --------------------------------------------------------------------------------


def test_old_and_one_student_results_render_as_before(tmp_path):
    old = load_results(EXAMPLE)
    named = old.model_copy(update={
        "students": [StudentInfo(name="llama", base_model=old.student_base, recipe=old.recipe, training=old.training,
                                 base=old.base, reference=old.reference)],
        "cells": [c.model_copy(update={"student": "llama"}) for c in old.cells],
    })
    a = write_report(old, tmp_path / "old")
    b = write_report(named, tmp_path / "named")
    assert set(a) == set(b) == {"report.md", "report.html", "results.json", "pgr.csv", "leaderboard.csv",
                                "figures/pgr_by_setting.png", "figures/pgr_vs_cost.png"}
    for name in ("report.md", "report.html", "pgr.csv", "leaderboard.csv"):
        assert a[name].read_text() == b[name].read_text(), name
    md = a["report.md"].read_text()
    assert "Student agreement" not in md and "Data scaling" not in md and "### Student" not in md
    assert "| Student base | meta-llama/Llama-3.1-8B |" in md
    assert re.findall(r"^## (\d+)\.", md, re.M) == ["1", "2", "3", "4", "5"]
    # The same results give the same page, SVG ids included.
    again = write_report(old, tmp_path / "again")
    assert again["report.html"].read_text() == a["report.html"].read_text()
