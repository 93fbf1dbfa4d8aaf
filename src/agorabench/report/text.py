"""Prose shared by the Markdown and HTML reports (plain text; each renderer escapes it)."""

from __future__ import annotations

PGR_DEFINITION = (
    "PGR (Performance Gap Recovered, %) = 100 x (student - base) / (reference - base) per benchmark; "
    "a setting's PGR is the mean of its domain's benchmark PGRs. 0 = no better than the base student, "
    "100 = as good as the reference. Brackets: 95% bootstrap confidence interval (paired: the three models "
    "resampled on the same items, judged benchmarks included). A \u2020 marks a setting whose PGR leaves out "
    "one of its domain's benchmarks (its PGR is undefined): the note names those averaged."
)

AVERAGES = (
    "Method averages are means of the method's defined domain PGRs; Overall is the mean of all defined setting "
    "PGRs (not of the method averages). Undefined, failed and pending settings are skipped; "
    "'k of n' says how many were averaged when some were. Averages have no CI. Best value per column in bold."
)

BENCHMARKS = "Each benchmark's PGR for the student trained on one generator's data in that method and domain."

REFERENCE = "The scores PGR is measured against: mean over items (0-100), 95% CI, item count n."

COST = (
    "Generation cost over all settings. PGR per $ = overall PGR / the cost of one dataset (cost / datasets), "
    "as in the analysis; it is not defined for generators that cost nothing (local models), shown as free/local."
)

DATA = (
    "What each generation stage produced: requested instances, validated instances, failed attempts, "
    "acceptance rate = instances / (instances + failed), the most frequent failure reasons, tokens and cost."
)

PLOTS = "Whiskers: 95% CI of each setting's PGR. x: no PGR for that setting."


def cost_plot_caption(log: bool, has_free: bool, unplotted: list[str]) -> str:
    parts = ["Overall PGR against generation cost" + (" (log scale)." if log else ".")]
    if has_free:
        parts.append("Hollow diamonds on the dotted line: free/local generators (cost $0).")
    if unplotted:
        parts.append("Not plotted: " + ", ".join(unplotted) + ".")
    return " ".join(parts)
