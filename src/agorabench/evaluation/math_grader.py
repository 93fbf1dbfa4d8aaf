"""Math grader: find the final answer of a model's output and judge it against the gold answer, with
math-verify doing the reading (LaTeX and plain numbers to sympy) and the comparison; our answer-marker
rules come in front of it.

Extraction (`extract_answers`) takes the FIRST of these rules that finds a non-empty answer, and reports
which one did:

1. `result`       - the last `[RESULT] ... [/RESULT]` block (the format our generators are asked for); a
                    block that boxes its answer gives the boxes' contents;
2. `boxed`        - the final run of `\\boxed{...}` / `\\fbox{...}` (balanced braces; also `\\boxed 5`), or
   `final_answer` - Minerva's sentence "The final answer is X. I hope it is correct.", whichever of the
                    two comes LAST in the text (math-verify gives them the same priority, rightmost first);
3. `gsm8k`        - the text after the last `#### ` (GSM8K's solution format), up to the end of its line;
4. `answer`       - math-verify's own extraction over the whole text (thousands spellings joined, below):
                    its answer phrases first ("final answer is", "answer: ..."), then the last LaTeX
                    expression or number.

Several boxed answers. Official MATH grading (Hendrycks et al., `last_boxed_only_string`) keeps only the
last box, so a two-part reply `\\boxed{2} and \\boxed{3}` can never match a gold `2, 3`. math-verify
(`LatexExtractionConfig(boxed_match_priority=0)`, what its own tests and lighteval use) keeps the final
RUN of boxes: walking back from the last box, an earlier one joins when it is less than 10 characters
away, or less than 70 with "and", "or", a comma or a semicolon in between (and a different content). A
far-away box (an intermediate result, a first try) is not part of the answer; a box repeated right after
itself counts once. We follow math-verify (`agorabench.data.latex.boxed_run`) and compare the run as a
SET: `\\boxed{2} and \\boxed{3}` equals the gold `3, 2` and the gold `\\boxed{3}\\boxed{2}`, and a reply that
hedges between two values (`\\boxed{2}, or rather \\boxed{3}`) does not equal either one.

The gold answer goes through the same rules 1-3 (a gold given as boxes, a [RESULT] block, a Minerva
sentence or a GSM8K solution gives its answers); a gold with none of them is one answer as it stands.

Each answer is normalised (our choices), then read by math-verify's `parse`:

- math delimiters around the whole answer (`$...$`, `\\(...\\)`, `\\[...\\]`) and a box around it are
  dropped; an answer with math inside prose ("$5$ cups") is left to math-verify to find;
- currency: `\\$18`, `$18` (a lone dollar sign), `€18` -> `18`; "18 dollars" is a unit (below);
- thousands separators in every LaTeX spelling: `1{,}234`, `11,\\! 111`, `1\\,000`, `1\\ 000`, `1~000`,
  `1\\;000`, `1 000` (each group exactly three digits) -> `1234`...; a plain `1,234` is read by
  math-verify as 1234 when it is the whole number, while `1, 234` and `(1,234)` stay a list and an interval;
- units are dropped only when they are WORDS after a quantity: `5 cm`, `5\\text{ cm}^2`, `18 eggs`,
  `12 square feet`, `5cm` (a known abbreviation glued on) -> the number. Never a single letter (`5x`,
  `3i`, `5 m`: variables, the imaginary unit) unless it is set as text (`5\\text{ m}`, but not
  `3\\text{i}`), never math words (`2 pi`, `3 and 4`, `50 percent`), and only within short answers;
  math-verify's own unit list is switched off (`units=False`) because it strips single letters
  (`3d` -> 3);
- a trailing full stop is dropped.

A bare answer is read as LaTeX (`$answer$`), and as plain text only when LaTeX finds nothing. Then
math-verify's `verify(gold, answer)`: `0.5` = `\\frac{1}{2}` (numbers to 6 decimal places), `x = 3` = `3`,
`50\\%` = `50` = `0.5`, `[2,5)` = `[2, 5)`, equations and intervals as such, comma lists as sets in any
order (`10, 4, -2` = `4, 10, -2`, where official MATH grading compares strings and says no). Answers
whose canonical strings are equal (`\\text{(C)}` = `(C)`; text answers case-insensitively) are equal
without it; answers math-verify cannot read are otherwise wrong ("unparseable").

Time limits. math-verify guards parsing and comparison with SIGALRM, which only works on a process's main
thread, and some inputs never finish (`10^{10^{10}}`: sympy starts computing the number). So grading runs
in worker processes (forked on Linux, so they start in milliseconds with math-verify already imported and
warm) with OUR per-item wall-clock limit: the parent watches each worker's current item, and a worker that
exceeds the limit is killed (SIGKILL), the item is judged incorrect with reason "timeout", and a fresh
worker takes the rest of that worker's queue (the item's `extracted` then comes from rules 1-3 only,
which are regular expressions: math-verify's extraction may be what never finished). Inside the workers
math-verify's own timeouts are DISABLED (`parsing_timeout=None`, `timeout_seconds=None`): they would work
there (a worker grades on its main thread), but they only take whole seconds, would race our limit, and
the kill is needed anyway because a signal handler cannot interrupt a long computation inside one C call.
Workers also cap their address space (current size + 2 GiB) so a runaway item fails with MemoryError
(reason "error: MemoryError") instead of taking the machine's memory.

`grade_batch(..., workers=0)` grades in the calling process with no time limit: for debugging only.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import Connection, wait
from typing import Any

from agorabench.data.latex import boxed_run, boxes, last_boxed
from agorabench.generation.validators import final_answer

__all__ = [
    "MathVerdict",
    "extract_answer",
    "extract_answers",
    "grade_batch",
    "grade_one",
    "is_equivalent",
    "last_boxed",
]

log = logging.getLogger(__name__)

RULES = ("result", "boxed", "final_answer", "gsm8k", "answer", "none")

WORKER_MEMORY_HEADROOM = 2 << 30  # bytes a worker may allocate beyond its size at fork


@dataclass(frozen=True)
class MathVerdict:
    """The grade of one output: the extracted answer (None if none; several answers joined by ", "), the
    extraction rule, whether it is correct, and why: "match", "string_match", "mismatch", "no_answer",
    "unparseable", "timeout", "worker_died" or "error: <exception type>"."""

    extracted: str | None
    rule: str
    correct: bool
    reason: str


# --- math-verify -----------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _configs() -> dict[str, tuple[Any, ...]]:
    """math-verify's extraction targets: LaTeX (boxes first, its unit list off) and plain expressions."""
    from latex2sympy2_extended.latex2sympy2 import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    normalization = NormalizationConfig(
        basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False
    )
    latex = LatexExtractionConfig(boxed_match_priority=0, normalization_config=normalization)
    expr = ExprExtractionConfig()
    return {"latex": (latex,), "expr": (expr,), "text": (latex, expr)}


def _quiet_math_verify() -> None:
    # With timeouts disabled math-verify warns on every call that we must bring our own (we do).
    logging.getLogger("math_verify").setLevel(logging.ERROR)


def _mv_parse(text: str, targets: str) -> list[Any]:
    from math_verify import parse

    _quiet_math_verify()
    try:
        return parse(text, _configs()[targets], parsing_timeout=None)
    except Exception:  # noqa: BLE001 - math-verify raises assorted errors on garbage
        return []


# --- extraction ----------------------------------------------------------------------------------------

_GSM8K = re.compile(r"####[ \t]*([^\n]*)")
# Minerva's answer sentence (lm-evaluation-harness minerva_math; math-verify's priority-0 pattern).
_MINERVA = re.compile(r"final answer is[:\s]*([^\n]{1,300}?)\s*\.?\s*I hope", re.IGNORECASE)


def _marked_answers(text: str) -> tuple[list[str], str]:
    """Rules 1-3 of the module docstring: the answers an explicit marker gives, or ([], "none")."""
    if block := final_answer(text):
        return (boxed_run(block) or [block]), "result"
    boxed = boxed_run(text)
    minerva = [m for m in _MINERVA.finditer(text) if m.group(1).strip()]
    if minerva and (not boxed or minerva[-1].end() > boxes(text)[-1].end):
        return [minerva[-1].group(1).strip()], "final_answer"
    if boxed:
        return boxed, "boxed"
    gsm8k = [m.group(1).strip() for m in _GSM8K.finditer(text)]
    if gsm8k and gsm8k[-1]:
        return [gsm8k[-1]], "gsm8k"
    return [], "none"


def extract_answers(text: str) -> tuple[list[str], str]:
    """The final answer(s) in `text` and the rule that found them (see the module docstring)."""
    if not text or not text.strip():
        return [], "none"
    answers, rule = _marked_answers(text)
    if answers:
        return answers, rule
    found = _mv_parse(_join_thousands(text, plain_space=False), "text")
    if found:
        answer = found[-1] if isinstance(found[-1], str) else str(found[0])
        if answer.strip():
            return [answer.strip()], "answer"
    return [], "none"


def extract_answer(text: str) -> tuple[str | None, str]:
    """The final answer in `text` (several joined by ", ") and the rule that found it."""
    answers, rule = extract_answers(text)
    return (", ".join(answers) if answers else None), rule


def gold_answers(gold: str) -> list[str]:
    """The answer(s) a gold gives: its boxes, [RESULT] block, Minerva sentence or `#### ` line, or itself."""
    answers, _ = _marked_answers(gold)
    return answers or [gold.strip()]


# --- normalisation -------------------------------------------------------------------------------------

_DELIMITERS = [("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")]
_HAS_DELIMITER = re.compile(r"(?<!\\)\$|\\\(|\\\[")
_CURRENCY = "$€£¥₹"

# Between two digit groups of a number: `{,}`, `,\!` (spaces around), LaTeX spaces (`\,` `\ ` `\;` `\:`
# `\!` `~` `\thinspace`), unicode thin and no-break spaces, optionally a plain space (answers only).
_SEPARATOR = r"\{,\}(?:\s*\\!)?|,\s*\\!\s*|(?:\\[,;: !]|~|\\thinspace\b|[\u2009\u202f\u00a0])\s*"
_PLAIN_SPACE = r"| (?=\d{3}(?!\d))"
_GROUPED = {
    plain: re.compile(r"(?<![\d.,])\d{1,3}(?:(?:" + _SEPARATOR + (_PLAIN_SPACE if plain else "") + r")\d{3})+(?!\d)")
    for plain in (False, True)
}
_NOT_DIGIT = re.compile(r"\D")


def _join_thousands(text: str, plain_space: bool = True) -> str:
    return _GROUPED[plain_space].sub(lambda m: _NOT_DIGIT.sub("", m.group(0)), text)


# Units. A word after a quantity is a unit unless it is math; single letters are never units.
_MATH_WORDS = frozenset(
    "pi i e j and or to of percent percentage pct inf infinity sin cos tan cot sec csc log ln exp sqrt mod "
    "dx dy dt".split()
)
_UNIT_ABBREVIATIONS = frozenset(
    "cm mm km nm dm kg mg ml cl dl ft in yd mi lb lbs oz hr hrs min mins sec secs ms mph kph kmh km/h m/s "
    "sq cu cc gal qt kw kwh mb gb am pm rs usd".split()
)
_UNIT_WORD = r"[A-Za-z][A-Za-z'/\-]*\.?"
_TRAILING_WORDS = re.compile(
    rf"(?<![\\A-Za-z])({_UNIT_WORD}(?:\s+{_UNIT_WORD})*)\s*(?:\^\s*\{{?\s*[23]\s*\}}?|[²³])?\s*$"
)
_TRAILING_TEXT = re.compile(
    r"\\(?:text|textnormal|textrm|textit|textbf|textup|mbox|mathrm|operatorname)\s*\{([^{}]*)\}"
    r"\s*(?:\^\s*\{?\s*[23]\s*\}?|[²³])?\s*$"
)
_TRAILING_SPACE = re.compile(r"(?:\\[,;: !]|\\quad|\\qquad|~|\s)+$")
_DIGIT = re.compile(r"\d")
_UNIT_MAX_ANSWER = 300  # longer "answers" are prose: no unit to strip (and no quadratic regex search)


def _unit_word(word: str, glued: bool) -> bool:
    w = word.strip(".'-").lower()
    if not w or w in _MATH_WORDS:
        return False
    if w in _UNIT_ABBREVIATIONS or (w.endswith("s") and w[:-1] in _UNIT_ABBREVIATIONS):
        return True
    return not glued and sum(char.isalpha() for char in w) >= 3


def _strip_unit(s: str) -> str:
    """`s` without one trailing unit (see the module docstring), or `s`."""
    if len(s) > _UNIT_MAX_ANSWER:
        return s
    if m := _TRAILING_TEXT.search(s):
        rest, words = s[: m.start()], m.group(1).split()
        if words and _DIGIT.search(rest):
            letter = len(words) == 1 and len(words[0]) == 1 and words[0].isalpha()
            if (letter and words[0].lower() not in "iej") or all(
                w.strip(".").replace("/", "").isalpha() and w.lower() not in _MATH_WORDS and len(w) >= 2 for w in words
            ):
                return _TRAILING_SPACE.sub("", rest)
        return s
    if m := _TRAILING_WORDS.search(s):
        rest, words = s[: m.start()], m.group(1).split()
        glued = bool(rest) and not rest[-1].isspace()
        if _DIGIT.search(rest) and _unit_word(words[0], glued) and all(_unit_word(w, glued=False) for w in words[1:]):
            return _TRAILING_SPACE.sub("", rest)
    return s


def _unwrap(s: str) -> str:
    """`s` without math delimiters or a box around the whole of it."""
    while True:
        s = s.strip()
        for opening, closing in _DELIMITERS:
            inner = s[len(opening) : -len(closing)]
            if len(s) > len(opening) + len(closing) and s.startswith(opening) and s.endswith(closing):
                if not _HAS_DELIMITER.search(inner):
                    s = inner
                    break
        else:
            found = boxes(s)
            if len(found) == 1 and found[0].start == 0 and found[0].end == len(s) and found[0].content:
                s = found[0].content
                continue
            return s


def _normalise(answer: str) -> str:
    s = answer
    for _ in range(3):
        before = s
        s = _unwrap(s).replace("\\$", "")
        if s[:1] in _CURRENCY and not _HAS_DELIMITER.search(s[1:]):
            s = s[1:].lstrip()  # "$18": a dollar sign, not math mode
        if s[-1:] == "$" and not _HAS_DELIMITER.search(s[:-1]):
            s = s[:-1].rstrip()  # "18$"
        s = _join_thousands(s).strip()
        if s.endswith(".") and not s.endswith(".."):
            s = s[:-1].rstrip()
        s = _strip_unit(s)
        if s == before:
            break
    return s.strip()


_TEXT_COMMANDS = re.compile(r"\\(?:text|textbf|textnormal|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_SPACING = re.compile(r"\s|\$|\\[,;:! ]|\\(?:left|right|displaystyle)\b")
_TEXT_ANSWER = re.compile(r"[A-Za-z][A-Za-z()'.\-]+")


def _canonical_string(answer: str) -> str:
    s = _TEXT_COMMANDS.sub(r"\1", answer)
    s = _SPACING.sub("", s).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return s.casefold() if _TEXT_ANSWER.fullmatch(s) else s


# --- equivalence ---------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _read(answer: str) -> tuple[Any, ...]:
    """math-verify's reading of one answer (see the module docstring), () when it finds none."""
    s = _normalise(answer)
    if not s:
        return ()
    if _HAS_DELIMITER.search(s):  # math inside prose: math-verify finds it
        return tuple(_mv_parse(s, "text"))
    flat = " ".join(s.split())
    # LaTeX first; plain text only when LaTeX finds nothing (plain reading picks numbers out of text:
    # it reads "1+x^2" as 1, so it must not override a LaTeX reading).
    return tuple(_mv_parse(f"${flat}$", "latex") or _mv_parse(flat, "expr"))


def _read_all(answers: Sequence[str]) -> list[Any]:
    """One answer: math-verify's readings of it. Several: the set of their values (sets flattened, as
    math-verify does with "$1$ and $2$"); [] when one of them cannot be read."""
    if len(answers) == 1:
        return list(_read(answers[0]))
    from latex2sympy2_extended.sets import FiniteSet
    from sympy import Basic, MatrixBase

    values: list[Any] = []
    for answer in answers:
        readings = _read(answer)
        if not readings or not isinstance(readings[0], (Basic, MatrixBase)):
            return []
        value = readings[0]
        values.extend(value.args if isinstance(value, FiniteSet) else [value])
    return [FiniteSet(*values)]


def _judge(predictions: Sequence[str], golds: Sequence[str]) -> tuple[bool, str]:
    from math_verify import verify

    predictions = [p for p in predictions if p.strip()]
    golds = [g for g in golds if g.strip()]
    if not predictions or not golds:
        return False, "unparseable"
    for pick in (lambda a: a, _normalise):
        pred_key = "\x1f".join(_canonical_string(pick(p)) for p in predictions)
        if pred_key and pred_key == "\x1f".join(_canonical_string(pick(g)) for g in golds):
            return True, "string_match"
    gold_parsed, pred_parsed = _read_all(golds), _read_all(predictions)
    if not gold_parsed or not pred_parsed:
        return False, "unparseable"
    if verify(gold_parsed, pred_parsed, timeout_seconds=None):
        return True, "match"
    return False, "mismatch"


def is_equivalent(prediction: str, gold: str) -> bool:
    """Whether the answer `prediction` equals `gold` (both answers, not whole solutions; an answer given as
    boxes is its boxes).

    Runs in the calling process WITHOUT a time limit: use `grade_batch` on untrusted outputs."""
    return _judge(gold_answers(prediction), gold_answers(gold))[0]


def grade_one(prediction_text: str, gold: str) -> MathVerdict:
    """Extract the answer(s) from a whole output and judge them; in-process, no time limit, never raises."""
    try:
        answers, rule = extract_answers(prediction_text)
    except Exception as exc:  # noqa: BLE001 - a reply that breaks the extraction is a wrong answer
        return MathVerdict(None, "none", False, f"error: {type(exc).__name__}")
    if not answers:
        return MathVerdict(None, rule, False, "no_answer")
    extracted = ", ".join(answers)
    try:
        correct, reason = _judge(answers, gold_answers(gold))
    except Exception as exc:  # noqa: BLE001 - an answer that breaks sympy is a wrong answer, not a crash
        return MathVerdict(extracted, rule, False, f"error: {type(exc).__name__}")
    return MathVerdict(extracted, rule, correct, reason)


# --- worker processes ----------------------------------------------------------------------------------

_warm = False


def _warm_up() -> None:
    """Import math-verify and run it once, so forked workers inherit it ready (its first call builds
    parsers: ~0.4 s that each worker would otherwise pay)."""
    global _warm
    if not _warm:
        grade_one("[RESULT] \\frac{1}{2} [/RESULT]", "0.5")
        _warm = True


def _limit_memory() -> None:
    try:
        import resource

        with open("/proc/self/statm") as handle:
            size = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = size + WORKER_MEMORY_HEADROOM
        if hard == resource.RLIM_INFINITY or limit < hard:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError, ImportError):
        pass  # not Linux: no cap, the time limit still applies


def _worker_main(conn: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _limit_memory()
    _quiet_math_verify()
    try:
        while True:
            chunk = conn.recv()
            if chunk is None:
                return
            for index, prediction, gold in chunk:
                conn.send((index, grade_one(prediction, gold)))
    except (EOFError, OSError, KeyboardInterrupt):
        return


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.pending: deque[int] = deque()
        self.started = 0.0  # when the current item began

    def assign(self, chunk: list[tuple[int, str, str]]) -> None:
        self.pending.extend(index for index, _, _ in chunk)
        self.started = time.monotonic()
        self.conn.send(chunk)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=1)
        self.kill()


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def grade_batch(
    items: Iterable[tuple[str, str]],
    workers: int = 2,
    timeout_s: float = 5.0,
    chunk_size: int | None = None,
) -> list[MathVerdict]:
    """Grade (prediction_text, gold_answer) pairs in `workers` processes, each item within `timeout_s`
    seconds of wall-clock time (over it: incorrect, reason "timeout"). Verdicts come back in input order.
    `workers=0` grades in this process with no time limit (debugging only)."""
    pairs: Sequence[tuple[str, str]] = [(str(p or ""), str(g)) for p, g in items]
    if not pairs:
        return []
    if workers > 0 and multiprocessing.current_process().daemon:
        # A daemonic process (e.g. a multiprocessing pool worker) may not start children.
        log.warning("math grader: in a daemonic process, grading in-process WITHOUT a time limit")
        workers = 0
    if workers <= 0:
        return [grade_one(p, g) for p, g in pairs]
    _warm_up()
    workers = min(workers, len(pairs))
    if chunk_size is None:  # ~8 chunks per worker: balances load, keeps messages few
        chunk_size = max(1, min(64, -(-len(pairs) // (workers * 8))))
    queue: deque[list[tuple[int, str, str]]] = deque(
        [(i, p, g) for i, (p, g) in enumerate(pairs[start : start + chunk_size], start)]
        for start in range(0, len(pairs), chunk_size)
    )
    results: list[MathVerdict | None] = [None] * len(pairs)
    remaining = len(pairs)
    ctx = _context()
    pool = [_Worker(ctx) for _ in range(workers)]

    def fail_current(worker: _Worker, reason: str) -> _Worker:
        """Judge the worker's current item with `reason`, requeue the rest of its items, replace it."""
        nonlocal remaining
        worker.kill()
        index = worker.pending.popleft()
        # The marker rules only: math-verify's extraction may be what never finished.
        answers, rule = _marked_answers(pairs[index][0])
        results[index] = MathVerdict(", ".join(answers) if answers else None, rule, False, reason)
        remaining -= 1
        if worker.pending:
            queue.appendleft([(i, *pairs[i]) for i in worker.pending])
        return _Worker(ctx)

    try:
        while remaining:
            for worker in pool:
                if not worker.pending and queue:
                    worker.assign(queue.popleft())
            busy = [w for w in pool if w.pending]
            now = time.monotonic()
            deadline = min(w.started for w in busy) + timeout_s
            ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - now))
            for slot, worker in enumerate(pool):
                if worker.conn not in ready:
                    continue
                try:
                    while worker.pending and worker.conn.poll():
                        index, verdict = worker.conn.recv()
                        if index != worker.pending[0]:  # pragma: no cover - protocol invariant
                            raise RuntimeError(f"math grader: worker answered {index}, not {worker.pending[0]}")
                        worker.pending.popleft()
                        results[index] = verdict
                        remaining -= 1
                        worker.started = time.monotonic()
                except (EOFError, OSError):
                    pool[slot] = fail_current(worker, "worker_died")
            now = time.monotonic()
            for slot, worker in enumerate(pool):
                if worker.pending and now - worker.started > timeout_s and not worker.conn.poll():
                    pool[slot] = fail_current(worker, "timeout")
    finally:
        for worker in pool:
            worker.stop()
    return results  # type: ignore[return-value]
