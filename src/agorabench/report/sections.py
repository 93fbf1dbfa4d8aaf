"""What other modules (analysis: PCA loadings, regressions) use to add to a report without changing it."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
from markupsafe import Markup, escape
from matplotlib.figure import Figure

from agorabench.report.format import md

FIGURES_DIR = "figures"


@dataclass(frozen=True)
class ReportSection:
    """A section appended after the built-in ones, given in both formats.

    `markdown` and `html` are inserted as they are: escape any text that comes from users or models
    (`markupsafe.escape`, `agorabench.report.format.md`) before putting it in.
    """

    title: str
    markdown: str
    html: str


@dataclass(frozen=True)
class EmbeddedFigure:
    markdown: str  # an image link to figures/<name>.png, relative to the report
    html: str  # a <figure> with the plot as inline SVG: no file beside the page, crisp in print
    png: Path


_NAME = re.compile(r"[A-Za-z0-9_-]+")
_ID_ATTR = re.compile(r'\bid="([^"]+)"')


def _inline_svg(fig: Figure, prefix: str) -> str:
    buffer = io.StringIO()
    # No date and a fixed hash salt (read when saving, not when drawing), so that the same results give the
    # same page.
    with mpl.rc_context({"svg.hashsalt": "agorabench"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # the XML prolog and DOCTYPE are not allowed inside HTML
    # Several SVGs share one HTML document and so one id namespace; matplotlib reuses ids such as glyph
    # names across figures, so give each figure its own.
    ids = set(_ID_ATTR.findall(svg))
    svg = _ID_ATTR.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"#([\w.:-]+)", lambda m: f"#{prefix}{m.group(1)}" if m.group(1) in ids else m.group(0), svg)
    # Let CSS size it: keep the viewBox, drop the fixed size.
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    return svg


def embed_figure(fig: Figure, out_dir: Path, name: str, *, alt: str, caption: str = "") -> EmbeddedFigure:
    """Write `fig` to out_dir/figures/<name>.png (for Markdown) and return both embeddings.

    `alt` and `caption` are plain text (escaped here).
    """
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"figure name {name!r}: use letters, digits, '_' and '-' (it names a file and SVG ids)"
        )
    figures = Path(out_dir) / FIGURES_DIR
    figures.mkdir(parents=True, exist_ok=True)
    png = figures / f"{name}.png"
    fig.savefig(png, format="png", dpi=150, metadata={"Software": None})
    svg = _inline_svg(fig, f"{name}-")
    label = f'<svg role="img" aria-label="{escape(alt)}"'
    svg = svg.replace("<svg", label, 1)
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    html = f'<figure class="plot">{svg}{cap}</figure>'
    alt_md = alt.replace("]", ")").replace("[", "(").replace("\n", " ")
    markdown = f"![{alt_md}]({FIGURES_DIR}/{png.name})"
    if caption:
        markdown += f"\n\n*{md(caption)}*"
    return EmbeddedFigure(markdown=markdown, html=str(Markup(html)), png=png)
