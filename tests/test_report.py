"""The report: leaderboard arithmetic, rendering of missing PGRs, self-contained and escaped HTML, CSV files."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agorabench.errors import AgorabenchError
from agorabench.report import ReportSection, embed_figure, load_results, tables, write_report
from agorabench.report import format as fmt
from agorabench.report.exports import PGR_COLUMNS, leaderboard_columns
from agorabench.report.plots import cost_axis
from agorabench.results import Cell, DataStats, GeneratorInfo, ModelScores, Pgr, RunResults, Score
from agorabench.taxonomy import DOMAINS, METHODS

EXAMPLE = Path(__file__).parent / "data" / "run_results_example.json"
BENCHMARKS = {"math": ["gsm8k", "math"], "code": ["mbpp", "humaneval"], "general": ["alpaca_eval"]}
XSS = "<script>alert(1)</script>"


def done(generator: str, method: str, domain: str, value: float | None, cost: float = 1.0, **extra) -> Cell:
    pgr = Pgr(
        value=value,
        ci=(value - 5, value + 5) if value is not None else None,
        undefined_reason=None if value is not None else "reference gap within noise",
    )
    return Cell(
        generator=generator,
        method=method,
        domain=domain,
        status="done",
        domain_pgr=pgr,
        pgr={b: pgr for b in BENCHMARKS[domain]},
        student_scores={b: Score(value=50.0, ci=(45.0, 55.0), n=100) for b in BENCHMARKS[domain]},
        data=DataStats(
            requested=10,
            instances=8,
            failed=2,
            acceptance_rate=0.8,
            failure_reasons={"too long": 2},
            prompt_tokens=1000,
            completion_tokens=500,
            cost_usd=cost,
        ),
        **extra,
    )


def make_results(cells: list[Cell], generators: list[GeneratorInfo] | None = None) -> RunResults:
    names = []
    for c in cells:
        if c.generator not in names:
            names.append(c.generator)
    scores = {b: Score(value=10.0, ci=(8.0, 12.0), n=100) for bs in BENCHMARKS.values() for b in bs}
    return RunResults(
        name="t",
        created_at="2026-01-01T00:00:00Z",
        student_base="base",
        recipe="r",
        benchmarks=BENCHMARKS,
        base=ModelScores(label="base", model="b", scores=scores),
        reference=ModelScores(label="ref", model="r", scores={b: Score(value=60.0, n=100) for b in scores}),
        generators=generators
        if generators is not None
        else [GeneratorInfo(name=n, model=n, backend="fake") for n in names],
        cells=cells,
    )


def full_grid(generator: str, values: list[float], cost: float = 1.0) -> list[Cell]:
    settings = [(m, d) for m in METHODS for d in DOMAINS]
    return [done(generator, m, d, v, cost) for (m, d), v in zip(settings, values)]


# --- leaderboard arithmetic --------------------------------------------------------------------------------


def test_averages_skip_undefined_failed_and_pending():
    cells = full_grid("a", [10, 20, 30, 40, 50, 60, 70, 80, 90])
    # b: IG general undefined, RG code failed, QE general pending (no cell at all).
    b = full_grid("b", [1, 2, 3, 4, 5, 6, 7, 8, 9])
    b[2] = done("b", "instance_generation", "general", None)
    b[4] = Cell(
        generator="b", method="response_generation", domain="code", status="failed", error="train: OOM"
    )
    del b[8]
    rows = {r.generator: r for r in tables.leaderboard(make_results(cells + b))}

    a = rows["a"]
    assert a.method_avg["instance_generation"].value == pytest.approx(20)
    assert a.method_avg["quality_enhancement"].value == pytest.approx(80)
    assert a.overall.value == pytest.approx(50)
    assert not a.overall.partial

    b = rows["b"]
    assert b.settings[("instance_generation", "general")].status == "undefined"
    assert b.settings[("response_generation", "code")].status == "failed"
    assert b.settings[("quality_enhancement", "general")].status == "pending"
    assert b.method_avg["instance_generation"].value == pytest.approx(1.5)
    assert (b.method_avg["instance_generation"].n, b.method_avg["instance_generation"].of) == (2, 3)
    assert b.method_avg["response_generation"].value == pytest.approx(5)
    # Overall is the mean of the 6 defined settings, not the mean of the method averages.
    assert b.overall.value == pytest.approx((1 + 2 + 4 + 6 + 7 + 8) / 6)
    assert (b.overall.n, b.overall.of) == (6, 9)


def test_sort_order_and_best_per_column():
    cells = (
        full_grid("low", [0] * 9)
        + full_grid("high", [50] * 8 + [10])
        + full_grid("mid", [20] * 8 + [10])
        + [
            Cell(generator="broken", method=m, domain=d, status="failed", error="x")
            for m in METHODS
            for d in DOMAINS
        ]
    )
    rows = tables.leaderboard(make_results(cells))
    assert [r.generator for r in rows] == ["high", "mid", "low", "broken"]
    assert rows[-1].overall.value is None
    best = tables.best_values(rows)
    assert best[("instance_generation", "math")] == 50
    assert best[("quality_enhancement", "general")] == 10  # a tie: high and mid both hold it
    assert best["overall"] == pytest.approx((50 * 8 + 10) / 9)
    assert best["response_generation"] == 50


def test_domain_pgr_recomputed_when_missing():
    cell = done("a", "instance_generation", "math", 10).model_copy(
        update={"domain_pgr": None, "pgr": {"gsm8k": Pgr(value=10.0), "math": Pgr(value=30.0)}}
    )
    entry = tables.cell_entry(cell)
    assert (entry.status, entry.value, entry.ci) == ("ok", 20.0, None)


def test_cost_fallback_and_pgr_per_dollar():
    gens = [
        GeneratorInfo(name="paid", model="m", backend="openai"),  # cost_usd left at 0: use the cells
        GeneratorInfo(name="free", model="m", backend="vllm"),
    ]
    rows = {
        r.generator: r
        for r in tables.leaderboard(
            make_results(full_grid("paid", [20] * 9, cost=2.0) + full_grid("free", [10] * 9, cost=0.0), gens)
        )
    }
    assert rows["paid"].cost_usd == pytest.approx(18.0)
    assert rows["paid"].pgr_per_dollar == pytest.approx(20 / (18 / 9))  # per dollar of one dataset
    assert rows["paid"].tokens == 9 * 1500
    assert rows["free"].pgr_per_dollar is None
    assert fmt.per_dollar(None, 0.0) == "free/local"


def test_number_formats():
    assert fmt.usd(1234.5) == "$1,234.50"
    assert fmt.usd(0.001) == "<$0.01"
    assert fmt.tokens(1234567) == "1,234,567"
    assert fmt.ci((35.123, 51.0)) == "[35.1, 51.0]"
    assert fmt.percent(0.838) == "83.8%"
    assert fmt.pgr_colour(None) is None
    assert fmt.pgr_colour(500) == fmt.pgr_colour(100)  # capped
    assert fmt.pgr_colour(0) == "#ffffff"


def test_cost_axis():
    assert cost_axis([1.0, 2.0]) == (False, None)
    log, free_x = cost_axis([0.0, 1.0, 50.0])
    assert log and 0 < free_x < 1.0
    assert cost_axis([0.0, 5.0]) == (False, 0.0)


# --- the example, rendered --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_report(tmp_path_factory) -> dict[str, Path]:
    extra = ReportSection(
        title="Extra analysis", markdown="PCA goes *here*.", html="<p>PCA goes <em>here</em>.</p>"
    )
    as_tuple = ("Tuple section", "From a *tuple*.", "<p>From a tuple.</p>")  # what analysis_sections returns
    return write_report(load_results(EXAMPLE), tmp_path_factory.mktemp("report"), [extra, as_tuple])


def test_files_written(example_report):
    expected = {
        "report.md",
        "report.html",
        "results.json",
        "pgr.csv",
        "leaderboard.csv",
        "figures/pgr_by_setting.png",
        "figures/pgr_vs_cost.png",
    }
    assert set(example_report) == expected
    assert all(p.is_file() and p.stat().st_size > 0 for p in example_report.values())
    assert load_results(example_report["results.json"]) == load_results(EXAMPLE)


def test_markdown_shows_missing_pgrs_with_reasons(example_report):
    text = example_report["report.md"].read_text()
    assert "failed (note 1)" in text
    assert "failed: train: CUDA out of memory" in text
    assert "n/a (note 1)" in text  # arena_hard, per-benchmark table
    assert "reference gap 0.0 points is within noise" in text
    assert "40.7** (8 of 9)" in text  # the failed cell skipped, best overall in bold
    assert "free/local" in text
    assert "![" in text and "](figures/pgr_by_setting.png)" in text
    assert "## 6. Extra analysis" in text and "PCA goes *here*." in text
    assert "## 7. Tuple section" in text and "From a *tuple*." in text
    # The leaderboard is sorted by overall average.
    order = [text.index(f"| {g} |") for g in ("llama-3.1-8b-instruct", "gpt-4o-mini", "gpt-4o")]
    assert order == sorted(order)


def test_html_shows_missing_pgrs_with_reasons(example_report):
    page = example_report["report.html"].read_text()
    assert 'title="train: CUDA out of memory"' in page
    assert 'title="reference gap 0.0 points is within noise (95% CI of the gap includes 0)"' in page
    assert page.count(">failed<") >= 3  # leaderboard cell, two benchmark cells
    assert '<span class="v">n/a<sup class="ref"><a href="#bm-note-1">1</a></sup></span>' in page
    assert '<span class="ci">8 of 9</span>' in page
    assert "<p>PCA goes <em>here</em>.</p>" in page
    assert "7. Tuple section</h2>" in page and "<p>From a tuple.</p>" in page


def test_html_is_self_contained(example_report):
    page = example_report["report.html"].read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert page.count("<svg") == 2
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page
    # Each figure has its own SVG ids, so two figures cannot point at each other's glyphs and clip paths.
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_csv_files(example_report):
    with open(example_report["pgr.csv"], newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == PGR_COLUMNS
    assert len(rows) == 27 * 3  # 27 cells x (domain mean + 2 benchmarks)
    assert sum(r["benchmark"] == "" for r in rows) == 27
    failed = [
        r
        for r in rows
        if r["generator"] == "llama-3.1-8b-instruct"
        and r["method"] == "quality_enhancement"
        and r["domain"] == "code"
    ]
    assert {r["undefined_reason"] for r in failed} == {"failed: train: CUDA out of memory"}
    arena = [r for r in rows if r["benchmark"] == "arena_hard"]
    assert len(arena) == 9 and all(r["pgr"] == "" and r["undefined_reason"] for r in arena)
    gsm = next(
        r
        for r in rows
        if r["generator"] == "gpt-4o" and r["benchmark"] == "gsm8k" and r["method"] == "instance_generation"
    )
    assert (gsm["pgr"], gsm["ci_low"], gsm["student_score"], gsm["base_score"], gsm["reference_score"]) == (
        "23.5",
        "15.5",
        "34.1",
        "20.0",
        "80.0",
    )

    with open(example_report["leaderboard.csv"], newline="") as f:
        reader = csv.DictReader(f)
        board = list(reader)
    assert reader.fieldnames == leaderboard_columns()
    assert len(reader.fieldnames) == 1 + 9 + 3 + 1 + 2
    assert [r["generator"] for r in board] == ["llama-3.1-8b-instruct", "gpt-4o-mini", "gpt-4o"]
    assert board[0]["QE_code"] == "" and board[0]["pgr_per_dollar"] == ""
    assert float(board[2]["pgr_per_dollar"]) == pytest.approx(float(board[2]["overall"]) / (50.24 / 9), abs=1e-3)


def test_text_is_escaped(tmp_path):
    cells = full_grid(XSS, [10] * 9) + full_grid("ok", [5] * 9)
    cells[0] = Cell(
        generator=XSS,
        method="instance_generation",
        domain="math",
        status="failed",
        error='<img src=x onerror="alert(2)">',
    )
    cells[1] = cells[1].model_copy(
        update={
            "data": cells[1].data.model_copy(
                update={"failure_reasons": {"</td><script>alert(3)</script>": 4}}
            )
        }
    )
    results = make_results(cells)
    results.notes.append("| pipes | and <b>tags</b>")
    written = write_report(results, tmp_path)
    page = written["report.html"].read_text()
    assert XSS not in page and "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    md = written["report.md"].read_text()
    assert XSS not in md and "<img" not in md and "<b>" not in md
    assert "\\| pipes" in md


def test_pending_and_empty_runs_render(tmp_path):
    gens = [GeneratorInfo(name="g", model="m", backend="openai", cost_usd=3.0)]
    pending = make_results([Cell(generator="g", method="instance_generation", domain="math")], gens)
    assert tables.status_counts(pending) == {"done": 0, "failed": 0, "pending": 1}  # settings not in the run do not count
    written = write_report(pending, tmp_path / "pending")
    md = written["report.md"].read_text()
    assert "| g | - | - | - | - | - | - | - | - | - | n/a | n/a | n/a | n/a |" in md
    assert "Not plotted: g (no defined PGR)." in md
    empty = make_results([], [])
    assert write_report(empty, tmp_path / "empty")["report.html"].is_file()


def test_embed_figure(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([1, 2], [3, 4])
    embedded = embed_figure(fig, tmp_path, "my_plot", alt="a <line>", caption="rises")
    assert embedded.png == tmp_path / "figures" / "my_plot.png" and embedded.png.is_file()
    assert embedded.markdown.startswith("![a <line>](figures/my_plot.png)")
    assert embedded.html.startswith('<figure class="plot"><svg role="img" aria-label="a &lt;line&gt;"')
    assert "<figcaption>rises</figcaption>" in embedded.html
    with pytest.raises(ValueError):
        embed_figure(fig, tmp_path, "../escape", alt="x")


# --- load_results -----------------------------------------------------------------------------------------


def test_load_results_from_folder_or_file(tmp_path):
    (tmp_path / "results.json").write_text(EXAMPLE.read_text())
    assert load_results(tmp_path).name == "example"
    assert load_results(tmp_path / "results.json").name == "example"


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "has no results.json"),
        ("{not json", "is not a valid results file"),
        ('{"name": "x"}', "is not a valid results file: created_at: Field required (and "),
    ],
)
def test_load_results_errors(tmp_path, content, expected):
    target = tmp_path
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    with pytest.raises(AgorabenchError) as info:
        load_results(target)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert str(tmp_path) in message


def test_load_results_missing_file(tmp_path):
    with pytest.raises(AgorabenchError, match="nowhere.json does not exist"):
        load_results(tmp_path / "nowhere.json")


# --- the page in a real browser ---------------------------------------------------------------------------


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


def test_html_renders_in_headless_chromium(example_report, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no chromium binary found (Debian: apt-get install chromium)")
    from PIL import Image

    shot = tmp_path / "out.png"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1400,2000",
            example_report["report.html"].resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file()
    with Image.open(shot) as image:
        assert image.size == (1400, 2000)
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20)
        # A blank or error page has a handful of colours; the report has text, a colour scale and plots.
        assert colours is not None and len(colours) > 200
        # Something is drawn in the top-left (the title), not only white.
        assert pixels.crop((0, 0, 700, 120)).getextrema() != ((255, 255), (255, 255), (255, 255))


def test_a_partial_domain_pgr_is_flagged_in_the_leaderboard_and_its_note(tmp_path):
    cells = full_grid("g", [10] * 9)
    partial = Pgr(value=30.0, ci=(20.0, 40.0), benchmarks=["humaneval"], missing=["mbpp"], partial=True)
    index = next(i for i, c in enumerate(cells) if (c.method, c.domain) == ("response_generation", "code"))
    cells[index] = cells[index].model_copy(update={"domain_pgr": partial})
    results = make_results(cells)
    entry = tables.cell_entry(cells[index])
    assert entry.partial and entry.value == 30.0
    written = write_report(results, tmp_path)
    md = written["report.md"].read_text()
    assert "**30.0\u2020** [20.0, 40.0] (note 1)" in md  # the only row: best in every column
    assert "partial: the mean of humaneval only; mbpp left out (no defined PGR)" in md
    page = written["report.html"].read_text()
    assert "30.0\u2020" in page and "mbpp left out" in page
    reloaded = load_results(written["results.json"]).cells[index].domain_pgr
    assert reloaded.partial and reloaded.benchmarks == ["humaneval"] and reloaded.missing == ["mbpp"]


def test_the_reference_table_names_each_benchmarks_metric(tmp_path):
    # The grader's metric names Arena-Hard's version and baseline and AlpacaEval's LC variant.
    results = make_results(full_grid("g", [10] * 9))
    metric = "Arena-Hard v0.1 score vs gpt-4-0314 (%)"
    results.reference.scores["alpaca_eval"] = Score(value=60.0, n=100, metric=metric)
    written = write_report(results, tmp_path)
    md = written["report.md"].read_text()
    assert "| Benchmark | Domain | Metric |" in md and f"| alpaca\\_eval | general | {metric} |" in md
    assert metric in written["report.html"].read_text()
