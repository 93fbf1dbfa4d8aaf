"""Report sections of an analysis: (title, markdown, html) per section.

Markdown links PNG files written to `figures_dir`; HTML embeds the same figures as base64 PNGs so the HTML
report stays one self-contained file. The report package wraps these tuples in its own section type.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from agorabench.analysis.plots import FIGURE_FILES, figures, png_base64


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        # Small numbers (p-values) in scientific notation, the rest with at most three decimals.
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else _num(value)


def _markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    # A "|" inside a cell (a generator name) would split the column.
    lines += ["| " + " | ".join(_cell(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(
    title: str,
    intro: str,
    header: list[str],
    rows: list[list[Any]],
    figs: list[tuple[str, str, str]],
    outro: str = "",
) -> tuple[str, str, str]:
    """figs: (alt text, markdown link target, base64 PNG)."""
    md = [intro, "", _markdown_table(header, rows)]
    md += [f"\n![{alt}]({link})" for alt, link, _ in figs]
    if outro:
        md += ["", outro]
    body = [f"<p>{html.escape(intro)}</p>", _html_table(header, rows)]
    body += [
        f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'
        for alt, _, data in figs
    ]
    if outro:
        body.append(f"<p>{html.escape(outro)}</p>")
    return title, "\n".join(md) + "\n", "\n".join(body)


def analysis_sections(
    result: dict[str, Any], figures_dir: Path, link_prefix: str | None = None
) -> list[tuple[str, str, str]]:
    """Three sections: problem solving vs PGR, PCA and regression, cost-effectiveness.

    PNGs are written to `figures_dir`; markdown links them as `link_prefix/<file>` (default: the folder's
    own name, right for a report written next to that folder)."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    prefix = figures_dir.name if link_prefix is None else link_prefix.rstrip("/")
    embedded: dict[str, tuple[str, str]] = {}
    for name, fig in figures(result).items():
        fig.savefig(figures_dir / FIGURE_FILES[name], dpi=120)
        embedded[name] = (f"{prefix}/{FIGURE_FILES[name]}" if prefix else FIGURE_FILES[name], png_base64(fig))

    def fig(name: str, alt: str) -> tuple[str, str, str]:
        return alt, *embedded[name]

    corr = result["correlation"]
    sections = [
        _section(
            "Problem solving vs PGR",
            "Does a generator that solves the benchmarks better also write better training data? "
            "Pearson correlation of the generator's problem-solving score with PGR.",
            ["grain", "points", "r", "R²", "p", "n", "note"],
            [
                [
                    grain,
                    what,
                    corr[grain]["r"],
                    corr[grain]["r2"],
                    corr[grain]["p"],
                    corr[grain]["n"],
                    corr[grain]["reason"] or "",
                ]
                for grain, what in (("coarse", "one per generator (means)"), ("fine", "one per dataset"))
            ],
            [
                fig("problem_solving_coarse", "problem solving vs PGR, per generator"),
                fig("problem_solving_fine", "problem solving vs PGR, per dataset"),
            ],
        )
    ]

    pca, reg = result["pca"], result["regression"]
    pca_rows = [
        [component, f"{ratio:.1%}", f"{cumulative:.1%}"]
        for component, ratio, cumulative in zip(
            pca["components"],
            pca["explained_variance_ratio"],
            pca["cumulative_explained_variance_ratio"],
            strict=True,
        )
    ]
    if reg["r2"] is not None:
        reg_text = (
            f"Regression of PGR on the top {reg['k']} components (n = {reg['n']}): R² = {_num(reg['r2'])}, "
            f"adjusted R² = {_num(reg['adjusted_r2'])}, F-test p = {_num(reg['p'])}."
        )
    else:
        reg_text = f"Regression of PGR on the components: not computed ({reg['reason']})."
    intro = (
        f"PCA over the standardised columns {', '.join(pca['columns']) or '(none)'} "
        f"({pca['n']} complete rows; loadings are unit eigenvectors)."
    )
    if pca["reason"]:
        intro += f" Not computed: {pca['reason']}."
    sections.append(
        _section(
            "Principal components of the data",
            intro,
            ["component", "explained variance", "cumulative"],
            pca_rows,
            [fig("loadings", "PCA loadings heat map")] if pca["loadings"] else [],
            reg_text,
        )
    )

    cost = result["cost"]
    cost_rows = [
        [
            g["generator"],
            g["mean_pgr"],
            g["cost_per_dataset_usd"],
            g["pgr_per_dollar"] if g["pgr_per_dollar"] is not None else (g["pgr_per_dollar_reason"] or ""),
            g["pgr_per_1k_instances"],
            "yes" if g["generator"] in cost["frontier"] else "",
        ]
        for g in cost["generators"]
    ]
    sections.append(
        _section(
            "Cost-effectiveness",
            "PGR bought per dollar and per 1K instances (cost per dataset = mean over the generator's datasets). "
            "A generator is on the frontier when no other is both as cheap and as good (mean PGR), "
            "and strictly better in one of the two.",
            [
                "generator",
                "mean PGR",
                "cost / dataset (USD)",
                "PGR per $",
                "PGR per 1K instances",
                "frontier",
            ],
            cost_rows,
            [fig("cost_frontier", "cost-PGR frontier")],
        )
    )
    return sections
