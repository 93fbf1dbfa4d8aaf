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


SEVERAL_STUDENTS = (
    "The run trains several students on the same datasets: each student has its own block, its PGRs measured "
    "against its own base and reference; best values and notes are per block."
)

SHARED_COST = "The datasets are shared by the students: each is generated once, so its cost counts once."

SHARED_DATA = (
    "The datasets are shared by the students, so each is listed once; Status names each student's cell where "
    "they differ."
)

AGREEMENT = (
    "Do two students rank the generators alike? Kendall's tau between their rankings of the generators by PGR "
    "(1 = the same order, 0 = unrelated, -1 = reversed), per setting and overall (generators ranked by mean "
    "domain PGR). Brackets: 95% bootstrap CI over benchmark items. Flips: the pairs of generators the two "
    "students order differently. n/a where fewer than two generators have a defined PGR for both."
)

SCALING = (
    "Each cell's student retrained on the first n records of its dataset (nested prefixes of one generation), "
    "evaluated as the cell's own student is; the largest size is the whole dataset. PGR with its 95% CI at "
    "each size; Cost is what the whole dataset cost."
)


def agreement_rounds(rounds: int) -> str:
    return f"The CIs come from {rounds:,} bootstrap rounds." if rounds else ""


def scaling_caption(skipped: list[str]) -> str:
    parts = ["PGR against training instances (log scale), one line per generator and setting; "
             "whiskers are 95% CIs."]
    if skipped:
        parts.append("Points without a defined PGR are skipped: " + ", ".join(skipped) + ".")
    return " ".join(parts)


def per_dollar_caption(unpriced: list[str]) -> str:
    parts = ["PGR per dollar (a point's PGR / what its records cost) against dollars spent (log scale); "
             "whiskers are 95% CIs."]
    if unpriced:
        parts.append("Not plotted, as they cost nothing (free/local): " + ", ".join(unpriced) + ".")
    return " ".join(parts)


SCALING_FREE = (
    "Every generator here is free (cost $0, local models): PGR per dollar is not defined, so there is no "
    "per-dollar plot."
)
