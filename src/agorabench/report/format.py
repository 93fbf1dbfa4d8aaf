"""How numbers read in the report (shared by Markdown and HTML, so both say the same thing)."""

from __future__ import annotations

import html
import re

from agorabench.report.tables import Average, Entry

NOT_DEFINED = "n/a"
PENDING = "-"
PARTIAL = "\u2020"  # a dagger after a domain PGR that leaves out one of the domain's benchmarks (see its note)


def number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def ci(interval: tuple[float, float] | None, digits: int = 1) -> str:
    return "" if interval is None else f"[{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"


def entry_text(entry: Entry) -> str:
    """The main text of a PGR entry (no CI, no note)."""
    if entry.status == "ok":
        return number(entry.value) + (PARTIAL if entry.partial else "")
    return {"undefined": NOT_DEFINED, "failed": "failed"}.get(entry.status, PENDING)


def average_count(avg: Average) -> str:
    """'2/3' when an average skipped entries, else ''."""
    return f"{avg.n}/{avg.of}" if avg.partial else ""


def usd(value: float | None) -> str:
    if value is None:
        return ""
    if 0 < value < 0.005:
        # "$0.00" would read as free.
        return "<$0.01"
    return f"${value:,.2f}"


def tokens(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def percent(rate: float | None) -> str:
    return "" if rate is None else f"{100 * rate:.1f}%"


def per_dollar(value: float | None, cost: float) -> str:
    if cost <= 0:
        return "free/local"
    if value is None:
        return NOT_DEFINED
    # Three significant digits: a $500 run and a $0.50 run differ by 1000x in this ratio.
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def price(per_mtok: float | None) -> str:
    return "" if per_mtok is None else f"${per_mtok:,.2f}"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md(text: object) -> str:
    """Text safe inside a Markdown table: no raw HTML (renderers would run it), no table-breaking pipes."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))


def pgr_colour(value: float | None, cap: float = 100.0) -> str | None:
    """Background for a PGR cell: diverging around 0 (red below, blue above), saturating at +-cap.

    Blended with white instead of using alpha so that it prints the same and black text stays readable.
    """
    if value is None:
        return None
    t = max(-1.0, min(1.0, value / cap))
    target = (33, 102, 172) if t >= 0 else (203, 24, 29)
    strength = 0.08 + 0.47 * abs(t) if t else 0.0
    r, g, b = (round(255 + (c - 255) * strength) for c in target)
    return f"#{r:02x}{g:02x}{b:02x}"
