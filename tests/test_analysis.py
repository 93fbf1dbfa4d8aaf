"""Analysis: every statistic checked against numpy/scipy computed here, on small hand-made data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import stats

from agorabench.analysis import (
    Row,
    Table,
    analysis_sections,
    analyze,
    analyze_table,
    cost_effectiveness,
    figures,
    frontier,
    load_csv,
    load_table,
    metrics_from_results,
    pca,
    pearson,
    problem_solving_vs_pgr,
)
from agorabench.errors import AgorabenchError

DATA = Path(__file__).parent / "data"
RUN_EXAMPLE = DATA / "run_results_example.json"
CSV_EXAMPLE = DATA / "analysis_example.csv"
METHODS = ("instance_generation", "response_generation", "quality_enhancement")


def strict_json(value) -> str:
    return json.dumps(value, allow_nan=False)


def table_of(rows: list[Row]) -> Table:
    names = sorted({name for row in rows for name in row.metrics})
    return Table(rows=rows, metric_names=names, source="test", kind="csv")


def metric_table(matrix: np.ndarray, pgr: np.ndarray, names: list[str]) -> Table:
    """Rows whose metrics are the matrix's columns but the last, which is problem_solving."""
    rows = [
        Row(
            f"g{i}",
            METHODS[i % 3],
            "math",
            float(pgr[i]),
            problem_solving=float(line[-1]),
            metrics=dict(zip(names, map(float, line[:-1]), strict=True)),
        )
        for i, line in enumerate(matrix)
    ]
    return Table(rows=rows, metric_names=names, source="test", kind="csv")


# ---------------------------------------------------------------------------------------------- correlation


def test_pearson_matches_scipy_and_numpy():
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    y = [2.0, 1.0, 4.0, 3.0, 7.0, 5.0]
    got = pearson(x, y)
    r = np.corrcoef(x, y)[0, 1]
    assert got["r"] == pytest.approx(r)
    assert got["r2"] == pytest.approx(r**2)
    assert got["p"] == pytest.approx(stats.pearsonr(x, y).pvalue)
    assert got["n"] == 6 and got["reason"] is None
    slope, intercept = np.polyfit(x, y, 1)
    assert (got["slope"], got["intercept"]) == pytest.approx((slope, intercept))


def test_pearson_uses_complete_pairs_and_reports_undefined_cases():
    got = pearson([1.0, math.nan, 3.0, 4.0, 5.0], [1.0, 2.0, 2.5, math.nan, 4.0])
    assert got["n"] == 3
    assert got["r"] == pytest.approx(stats.pearsonr([1, 3, 5], [1, 2.5, 4]).statistic)

    two = pearson([1.0, 2.0], [3.0, 5.0])
    assert two["r"] is None and two["r2"] is None and two["p"] is None and "< 3" in two["reason"]
    flat = pearson([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])
    assert flat["r"] is None and "zero variance" in flat["reason"]
    strict_json([two, flat])


def test_coarse_and_fine_problem_solving_vs_pgr():
    # g3 lacks a code score; g1 has a math score only on one of its math rows (the other NaN).
    spec = {
        "g1": [("math", 60, 10), ("math", math.nan, 20), ("code", 70, 30)],
        "g2": [("math", 50, 5), ("code", 40, 15)],
        "g3": [("math", 80, 40), ("code", math.nan, 50), ("general", 90, 45)],
        "g4": [("general", 30, 12)],
    }
    rows = [
        Row(g, METHODS[i], domain, pgr, problem_solving=ps)
        for g, items in spec.items()
        for i, (domain, ps, pgr) in enumerate(items)
    ]
    got = problem_solving_vs_pgr(table_of(rows))

    # Coarse: problem solving averaged per domain first, then over domains; PGR over all rows.
    xs = [np.mean([60, 70]), np.mean([50, 40]), np.mean([80, 90]), 30.0]
    ys = [np.mean([10, 20, 30]), np.mean([5, 15]), np.mean([40, 50, 45]), 12.0]
    coarse = got["coarse"]
    assert [p["problem_solving"] for p in coarse["points"]] == pytest.approx(xs)
    assert [p["pgr"] for p in coarse["points"]] == pytest.approx(ys)
    ref = stats.pearsonr(xs, ys)
    assert coarse["r2"] == pytest.approx(ref.statistic**2)
    assert coarse["p"] == pytest.approx(ref.pvalue)
    assert coarse["n"] == 4

    # Fine: one point per row that has a problem-solving score.
    pairs = [(ps, pgr) for items in spec.values() for _, ps, pgr in items if not math.isnan(ps)]
    ref = stats.pearsonr(*zip(*pairs, strict=True))
    fine = got["fine"]
    assert fine["n"] == len(pairs) == 7 and fine["missing_problem_solving"] == 2
    assert fine["r"] == pytest.approx(ref.statistic)
    assert fine["p"] == pytest.approx(ref.pvalue)


# ---------------------------------------------------------------------------------------------- PCA


def standardised(matrix: np.ndarray) -> np.ndarray:
    return (matrix - matrix.mean(axis=0)) / matrix.std(axis=0, ddof=0)


def test_pca_matches_numpy_svd_up_to_sign():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(12, 4)) @ np.array(
        [[1, 0.5, 0, 0.2], [0, 1, 0.3, 0], [0, 0, 1, 0.7], [0.1, 0, 0, 1]]
    )  # correlated columns, so the components differ in size
    names = ["difficulty", "quality", "perplexity"]
    section, _ = pca(metric_table(matrix, rng.normal(size=12), names))

    _, s, vt = np.linalg.svd(standardised(matrix), full_matrices=False)
    assert section["columns"] == [*names, "problem_solving"]
    assert section["n"] == 12
    assert section["explained_variance_ratio"] == pytest.approx(s**2 / np.sum(s**2))
    assert section["cumulative_explained_variance_ratio"][-1] == pytest.approx(1.0)
    loadings = np.array([section["loadings"][c] for c in section["columns"]])  # columns x components
    for j in range(4):
        sign = np.sign(loadings[:, j] @ vt[j])
        assert loadings[:, j] == pytest.approx(sign * vt[j], abs=1e-9)


def test_regression_on_top_components_matches_hand_ols():
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(10, 4))
    z = standardised(matrix)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    scores = z @ vt.T
    pgr = 3 * scores[:, 0] - 2 * scores[:, 1] + rng.normal(scale=0.8, size=10) + 20
    _, reg = pca(metric_table(matrix, pgr, ["a", "b", "c"]), k=2)

    design = np.column_stack([np.ones(10), scores[:, :2]])
    coef, *_ = np.linalg.lstsq(design, pgr, rcond=None)
    resid = pgr - design @ coef
    r2 = 1 - resid @ resid / np.sum((pgr - pgr.mean()) ** 2)
    f_stat = (r2 / 2) / ((1 - r2) / (10 - 2 - 1))
    assert reg["k"] == 2 and reg["n"] == 10 and reg["df"] == [2, 7]
    assert reg["r2"] == pytest.approx(r2)  # R^2 does not depend on the components' signs
    assert reg["adjusted_r2"] == pytest.approx(1 - (1 - r2) * 9 / 7)
    assert reg["f"] == pytest.approx(f_stat)
    assert reg["p"] == pytest.approx(stats.f.sf(f_stat, 2, 7))
    assert reg["coefficients"]["intercept"] == pytest.approx(pgr.mean())  # scores are centred
    assert abs(reg["coefficients"]["PC1"]) == pytest.approx(abs(coef[1]))


def test_regression_agrees_with_statsmodels_when_installed():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(2)
    matrix, pgr = rng.normal(size=(15, 5)), rng.normal(size=15)
    _, reg = pca(metric_table(matrix, pgr, ["a", "b", "c", "d"]), k=3)
    z = standardised(matrix)
    scores = z @ np.linalg.svd(z, full_matrices=False)[2].T
    fit = sm.OLS(pgr, sm.add_constant(scores[:, :3])).fit()
    assert reg["r2"] == pytest.approx(fit.rsquared)
    assert reg["p"] == pytest.approx(fit.f_pvalue)


def test_k_is_capped_and_incomplete_rows_and_constant_columns_are_dropped():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(6, 4))
    matrix[:, 2] = 7.0  # a constant metric
    matrix[4, 0] = math.nan  # an incomplete row
    section, reg = pca(metric_table(matrix, rng.normal(size=6), ["a", "b", "c"]), k=5)
    assert section["dropped_columns"] == {"c": "constant"}
    assert section["columns"] == ["a", "b", "problem_solving"]
    assert section["n"] == 5 and section["n_dropped_rows"] == 1
    # min(k=5, components=3, n-2=3)
    assert reg["k"] == 3 and reg["k_requested"] == 5 and reg["df"] == [3, 1]

    kept = np.delete(matrix, 4, axis=0)[:, [0, 1, 3]]
    _, s, _ = np.linalg.svd(standardised(kept), full_matrices=False)
    assert section["explained_variance_ratio"] == pytest.approx(s**2 / np.sum(s**2))


def test_pca_without_problem_solving_scores_uses_the_metrics_alone():
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(8, 3))
    matrix[:, -1] = math.nan  # no problem-solving score anywhere
    section, reg = pca(metric_table(matrix, rng.normal(size=8), ["a", "b"]))
    assert section["columns"] == ["a", "b"] and section["dropped_columns"] == {"problem_solving": "no values"}
    assert section["n"] == 8 and reg["k"] == 2
    _, s, _ = np.linalg.svd(standardised(matrix[:, :2]), full_matrices=False)
    assert section["explained_variance_ratio"] == pytest.approx(s**2 / np.sum(s**2))


# ---------------------------------------------------------------------------------------------- cost


def test_frontier_hand_made():
    points = [
        ("free", 0.0, 10.0),
        ("cheap", 1.0, 20.0),
        ("cheap-twin", 1.0, 20.0),  # equal points do not dominate each other
        ("worse", 2.0, 15.0),  # dominated by cheap
        ("same-pgr-dearer", 3.0, 20.0),  # dominated: costs more for the same PGR
        ("best", 5.0, 30.0),
        ("dear", 9.0, 29.0),  # dominated by best
    ]
    assert frontier(points) == ["free", "cheap", "cheap-twin", "best"]
    assert frontier([]) == []


def test_cost_effectiveness_per_dollar_and_per_1k_instances():
    rows = [
        Row("paid", "instance_generation", "math", 30.0, cost_usd=2.0, instances=500),
        Row("paid", "response_generation", "math", 10.0, cost_usd=6.0, instances=1500),
        Row("free", "instance_generation", "math", 12.0, cost_usd=0.0, instances=1000),
        Row("unknown", "instance_generation", "math", 50.0),
    ]
    got = {g["generator"]: g for g in cost_effectiveness(table_of(rows))["generators"]}
    paid = got["paid"]
    assert paid["mean_pgr"] == 20.0 and paid["total_cost_usd"] == 8.0 and paid["cost_per_dataset_usd"] == 4.0
    assert paid["pgr_per_dollar"] == pytest.approx(20.0 / 4.0)
    assert paid["pgr_per_1k_instances"] == pytest.approx(20.0 / 1.0)
    assert got["free"]["pgr_per_dollar"] is None and got["free"]["pgr_per_dollar_reason"] == "no cost"
    assert got["unknown"]["pgr_per_dollar_reason"] == "no cost data"
    assert got["unknown"]["pgr_per_1k_instances_reason"] == "no instance counts"
    result = cost_effectiveness(table_of(rows))
    assert result["frontier"] == ["free", "paid"] and result["unpriced"] == ["unknown"]


# ---------------------------------------------------------------------------------------------- CSV input

HEADER = "generator,method,domain,pgr,problem_solving,cost_usd,quality\n"


def write_csv(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "table.csv"
    path.write_text(header + body)
    return path


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ("generator,method,domain,problem_solving\n", "a,IG,math,50\n", ["missing required column 'pgr'"]),
        (
            HEADER,
            "a,IG,math,12.5,50,1,3\nb,RG,code,high,60,1,4\n",
            ["row 2", "line 3", "column 'pgr'", "'high'"],
        ),
        (HEADER, "a,IG,math,12.5,50,1,3\nb,RG,code,10,60,1,good\n", ["row 2", "column 'quality'", "'good'"]),
        (
            HEADER,
            "a,IG,math,12.5,50,1,3\nb,XX,code,10,60,1,4\n",
            ["row 2", "column 'method'", "unknown method 'XX'"],
        ),
        (HEADER, "a,IG,biology,12.5,50,1,3\n", ["row 1", "column 'domain'", "unknown domain 'biology'"]),
        (
            HEADER,
            "a,IG,math,1,50,1,3\na,instance_generation,math,2,50,1,3\n",
            ["row 2", "duplicate", "first at row 1"],
        ),
        (HEADER, "a,IG,math,inf,50,1,3\n", ["row 1", "column 'pgr'", "'inf' is not a number"]),
    ],
)
def test_csv_errors_are_one_line_naming_file_row_and_column(tmp_path, header, body, expected):
    path = write_csv(tmp_path, body, header)
    with pytest.raises(AgorabenchError) as info:
        load_csv(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith("table.csv")
    for part in expected:
        assert part in message


def test_csv_normalises_names_and_reads_optional_columns(tmp_path):
    header = "generator,method,domain,pgr,problem_solving,cost_usd,instances,quality,note\n"
    body = (
        "a,IG,math,10,50,1.5,1000,3.5,first\n"
        "a,rg,Code,20,,2.5,,4.0,second\n"  # empty problem_solving -> NaN; empty instances -> None
        "b,quality_enhancement,general,,40,0,900,,third\n"  # empty pgr -> skipped
    )
    table = load_csv(write_csv(tmp_path, body, header))
    assert table.metric_names == ["quality"] and table.ignored_columns == ["note"]
    assert [(r.method, r.domain) for r in table.rows] == [
        ("instance_generation", "math"),
        ("response_generation", "code"),
    ]
    assert math.isnan(table.rows[1].problem_solving) and table.rows[1].instances is None
    assert (
        table.rows[0].cost_usd == 1.5
        and table.rows[0].instances == 1000
        and table.rows[0].metrics == {"quality": 3.5}
    )
    assert table.skipped == [
        {"generator": "b", "method": "quality_enhancement", "domain": "general", "reason": "pgr is empty"}
    ]


def test_shipped_example_csv_loads():
    table = load_table(CSV_EXAMPLE)
    assert len(table.rows) == 54 and len(table.generators()) == 6
    assert all(g.startswith("synthetic-") for g in table.generators())  # clearly not real models
    assert len(table.metric_names) == 5 and table.ignored_columns == ["note"]


# ---------------------------------------------------------------------------------------------- run input


def test_run_results_rows():
    table = load_table(RUN_EXAMPLE)
    document = json.loads(RUN_EXAMPLE.read_text())
    done = [c for c in document["cells"] if c["status"] == "done" and c["domain_pgr"]["value"] is not None]
    assert len(table.rows) == len(done) == 26
    assert table.skipped == [
        {
            "generator": "llama-3.1-8b-instruct",
            "method": "quality_enhancement",
            "domain": "code",
            "reason": "status failed: train: CUDA out of memory",
        }
    ]
    first = table.rows[0]
    assert (first.generator, first.method, first.domain) == ("gpt-4o", "instance_generation", "math")
    assert (
        first.pgr == 4.3
        and first.problem_solving == 76.6
        and first.cost_usd == 6.81
        and first.instances == 838
    )
    assert table.metric_names == []


def test_run_folder_with_intrinsic_metrics(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    results = json.loads(RUN_EXAMPLE.read_text())
    measured = {("gpt-4o", "instance_generation", "math"): 0, ("gpt-4o", "response_generation", "code"): 1}
    for cell in results["cells"]:
        i = measured.get((cell["generator"], cell["method"], cell["domain"]))
        if i is not None:
            cell["intrinsic"] = {"quality": 3.0 + i, "perplexity": 2.0}
    (run / "results.json").write_text(json.dumps(results))
    from agorabench.results import RunResults

    assert metrics_from_results(RunResults.model_validate(results)) == {
        "gpt-4o/instance_generation/math": {"quality": 3.0, "perplexity": 2.0},
        "gpt-4o/response_generation/code": {"quality": 4.0, "perplexity": 2.0},
    }
    table = load_table(run)
    assert table.metric_names == ["perplexity", "quality"]
    by_key = {r.key: r for r in table.rows}
    assert by_key["gpt-4o/response_generation/code"].metrics == {"perplexity": 2.0, "quality": 4.0}
    assert math.isnan(by_key["gpt-4o-mini/instance_generation/math"].metrics["quality"])

    # A mapping passed in replaces the run's own metrics; short method names are accepted in keys.
    table = load_table(run, metrics={"gpt-4o/IG/math": {"diversity": 0.5}})
    assert table.metric_names == ["diversity"]

    result = analyze(run, json_out=None)
    assert result["pca"]["n"] == 2 and result["pca"]["n_dropped_rows"] == 24  # only two rows are complete
    strict_json(result)


def test_bad_intrinsic_value_in_a_run_is_one_line(tmp_path):
    results = json.loads(RUN_EXAMPLE.read_text())
    results["cells"][0]["intrinsic"] = {"quality": "high"}
    (tmp_path / "results.json").write_text(json.dumps(results))
    with pytest.raises(AgorabenchError, match=r"results\.json: not a run results document \(cells\.0\.intrinsic\.quality"):
        load_table(tmp_path)


# ---------------------------------------------------------------------------------------------- whole result


def test_degenerate_input_gives_nulls_with_reasons_in_strict_json():
    rows = [
        Row("a", "instance_generation", "math", 10.0, problem_solving=50.0, metrics={"q": 1.0}),
        Row("b", "instance_generation", "math", 20.0, problem_solving=50.0, metrics={"q": math.nan}),
    ]
    result = analyze_table(table_of(rows))
    text = strict_json(result)  # would raise on NaN or Infinity
    assert json.loads(text) == result
    assert result["correlation"]["coarse"]["r2"] is None and result["correlation"]["coarse"]["reason"]
    assert result["correlation"]["fine"]["reason"]
    assert result["pca"]["reason"] and result["regression"]["r2"] is None and result["regression"]["reason"]
    assert result["rows"][1]["metrics"]["q"] is None


def test_perfect_fit_has_p_zero_and_null_f():
    rows = [
        Row(
            f"g{i}",
            "instance_generation",
            "math",
            2.0 * i + 1,
            problem_solving=float(i),
            metrics={"q": float(i * i)},
        )
        for i in range(6)
    ]
    result = analyze_table(table_of(rows), k=2)
    assert result["regression"]["r2"] == pytest.approx(1.0)
    assert result["regression"]["p"] == 0.0 and result["regression"]["f"] is None
    strict_json(result)


def test_analyze_writes_json_and_plots(tmp_path):
    out = tmp_path / "out" / "analysis.json"
    result = analyze(CSV_EXAMPLE, out, k=5, plots_dir=tmp_path / "plots")

    def no_constants(name):
        raise AssertionError(f"non-strict JSON constant {name}")

    assert json.loads(out.read_text(), parse_constant=no_constants) == result
    for key in ("r2", "p", "n"):
        assert key in result["correlation"]["coarse"] and key in result["correlation"]["fine"]
    assert len(result["pca"]["explained_variance_ratio"]) == 6
    assert set(result["pca"]["loadings"]) == {*result["source"]["metrics"], "problem_solving"}
    assert {"r2", "p", "k"} <= set(result["regression"]) and result["regression"]["k"] == 5
    assert sorted(Path(p).name for p in result["plots"].values()) == sorted(
        [
            "problem_solving_vs_pgr_coarse.png",
            "problem_solving_vs_pgr_fine.png",
            "pca_loadings.png",
            "cost_frontier.png",
        ]
    )
    assert all(Path(p).stat().st_size > 1000 for p in result["plots"].values())


def test_figures_and_report_sections(tmp_path):
    result = analyze(RUN_EXAMPLE, None)
    figs = figures(result)
    assert set(figs) == {"problem_solving_coarse", "problem_solving_fine", "loadings", "cost_frontier"}
    assert all(isinstance(f, Figure) for f in figs.values())

    # Degenerate results still draw (an empty-state figure, not an exception).
    tiny = analyze_table(table_of([Row("a", "instance_generation", "math", 1.0)]))
    assert all(isinstance(f, Figure) for f in figures(tiny).values())

    sections = analysis_sections(result, tmp_path / "figures")
    assert [title for title, *_ in sections] == [
        "Problem solving vs PGR",
        "Principal components of the data",
        "Cost-effectiveness",
    ]
    _, markdown, html = sections[0]
    assert "](figures/problem_solving_vs_pgr_coarse.png)" in markdown
    assert "data:image/png;base64," in html and "<table>" in html
    assert (tmp_path / "figures" / "cost_frontier.png").exists()


def test_perplexity_enters_the_analysis_once(tmp_path):
    # Runs before one perplexity column wrote its median too; the table keeps one column and says so.
    header = "generator,method,domain,pgr,problem_solving,perplexity,perplexity_median,quality\n"
    body = "a,IG,math,10,50,14.9,13.2,3.5\nb,IG,math,20,40,12.0,11.0,4.0\n"
    table = load_csv(write_csv(tmp_path, body, header))
    assert table.metric_names == ["perplexity", "quality"]
    assert "perplexity_median left out: it measures what perplexity does (one column each)" in table.notes
    header = "generator,method,domain,pgr,problem_solving,perplexity_median\n"
    alone = load_csv(write_csv(tmp_path, "a,IG,math,10,50,13.2\n", header))
    assert alone.metric_names == ["perplexity_median"]  # the only perplexity column: kept
