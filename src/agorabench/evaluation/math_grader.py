"""Math grader: extract a final answer from a model's output and judge it against the gold answer.

Extraction (`extract_answer`) tries, in order, and reports which rule found the answer:

1. `result`      - the last `[RESULT] ... [/RESULT]` block (the format our generators are asked for);
2. `boxed`       - the last `\\boxed{...}` or `\\fbox{...}` (balanced braces; also `\\boxed 5`);
3. `gsm8k`       - the text after the last `#### ` (GSM8K's solution format), up to the end of its line;
4. `last_number` - the last number in the text: `1,234` (thousands separators dropped), `-3`, `0.25`,
   `.5`, `3/4`; a sentence's full stop after it is not part of it.

An empty block falls through to the next rule; nothing found gives `(None, "none")`.

Equivalence (`is_equivalent`) uses math-verify, after a light normalisation of both sides (our choices):

- currency: `$18`, `\\$18`, `18 dollars` -> `18` (a leading bare `$` with no closing `$` is a dollar sign;
  `$...$` around the whole answer is math mode and is unwrapped);
- thousands separators: `1,234`, `1{,}234`, `10,\\!000`, `1\\,000` -> `1234`, but only when the whole answer
  is such a number (`1, 2` and `(1,234)` stay a list and an interval);
- a number followed by words only (`18 eggs`) -> the number; a trailing full stop is dropped;
- percent: math-verify accepts `50%` as equal to both `50` and `0.5` (a model that writes "50%" when the
  question asks "what percent" is right); we keep that;
- each side is read as LaTeX (`$s$`), which reads `1,2` as the set {1, 2} and `\\frac{1}{2}` as 1/2;
  the plain-text reading (which picks numbers out of prose) only when the LaTeX one finds nothing;
  `0.5` and `\\frac{1}{2}` are equal (math-verify compares numbers to 6 decimal places);
- answers math-verify cannot read (names, multiple-choice letters) are equal when their canonical strings
  are (`\\text{(C)}` == `(C)`, case-insensitive, spaces and braces ignored).

Time limits. math-verify guards parsing and comparison with SIGALRM, which only works on a process's main
thread, and some inputs never finish (`10^{10^{10}}`: sympy starts computing the number). So grading runs
in worker processes (forked on Linux, so they start in milliseconds with math-verify already imported and
warm) with OUR per-item wall-clock limit: the parent watches each worker's current item, and a worker that
exceeds the limit is killed (SIGKILL), the item is judged incorrect with reason "timeout", and a fresh
worker takes the rest of that worker's queue. Inside the workers math-verify's own timeouts are DISABLED
(`parsing_timeout=None`, `timeout_seconds=None`): they would work there (a worker grades on its main
thread), but they only take whole seconds, would race our limit, and the kill is needed anyway because a
signal handler cannot interrupt a long computation inside one C call. Workers also cap their address space
(current size + 2 GiB) so a runaway item fails with MemoryError (reason "error: MemoryError") instead of
taking the machine's memory.

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

from agorabench.data.latex import last_boxed
from agorabench.generation.validators import final_answer

__all__ = ["MathVerdict", "extract_answer", "grade_batch", "grade_one", "is_equivalent", "last_boxed"]

log = logging.getLogger(__name__)

RULES = ("result", "boxed", "gsm8k", "last_number", "none")

WORKER_MEMORY_HEADROOM = 2 << 30  # bytes a worker may allocate beyond its size at fork


@dataclass(frozen=True)
class MathVerdict:
    """The grade of one output: the extracted answer (None if none), the extraction rule, whether it is
    correct, and why: "match", "string_match", "mismatch", "no_answer", "unparseable", "timeout",
    "worker_died" or "error: <exception type>"."""

    extracted: str | None
    rule: str
    correct: bool
    reason: str


# --- extraction ----------------------------------------------------------------------------------------

_GSM8K = re.compile(r"####[ \t]*([^\n]*)")
# A number: an optional minus (not one joining two words/numbers, as in "5-3" or "x-1"), then a fraction
# of integers, or an integer (with or without thousands separators) with an optional decimal part, or a
# bare decimal part (".5"). A trailing "." without digits is punctuation and is not matched.
_NUMBER = re.compile(
    r"(?:(?<![\w)\]}])-)?"
    r"(?<![\w.])"  # not inside a longer number or word
    r"(?:\d+/\d+(?![\d.])|(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+)(?:\.\d+)?|\.\d+)"
)


def extract_answer(text: str) -> tuple[str | None, str]:
    """The final answer in `text` and the rule that found it (see the module docstring)."""
    if not text:
        return None, "none"
    if answer := final_answer(text):
        return answer, "result"
    if answer := last_boxed(text):
        return answer, "boxed"
    gsm8k = [m.group(1).strip() for m in _GSM8K.finditer(text)]
    if gsm8k and gsm8k[-1]:
        return gsm8k[-1], "gsm8k"
    numbers = _NUMBER.findall(text)
    if numbers:
        return numbers[-1].replace(",", ""), "last_number"
    return None, "none"


# --- equivalence ---------------------------------------------------------------------------------------

_MATH_DELIMITERS = [(r"\(", r"\)"), (r"\[", r"\]"), ("$$", "$$"), ("$", "$")]
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_NUMBER_WITH_WORDS = re.compile(r"(-?\d+(?:\.\d+)?(?:/\d+)?)\s*(?:[A-Za-z][A-Za-z.' -]*)")
_TEXT_COMMANDS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textnormal|mbox)\s*\{([^{}]*)\}")


def _normalise(answer: str) -> str:
    s = answer.strip()
    for opening, closing in _MATH_DELIMITERS:
        if len(s) > len(opening) + len(closing) and s.startswith(opening) and s.endswith(closing):
            s = s[len(opening) : -len(closing)].strip()
            break
    s = s.replace("\\$", "")
    if s.startswith("$") and "$" not in s[1:]:
        s = s[1:]  # "$18": a dollar sign, not math mode
    s = s.replace("\\!", "").replace("{,}", ",")
    s = re.sub(r"(?<=\d)\\,(?=\d{3})", ",", s)  # 1\,000
    s = s.strip().rstrip(".").strip()
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if (m := _NUMBER_WITH_WORDS.fullmatch(s)) and not re.search(r"\\|\^|_|=", s):
        s = m.group(1)
    return s


def _canonical_string(answer: str) -> str:
    s = _TEXT_COMMANDS.sub(r"\1", answer)
    s = re.sub(r"[\s{}$]|\\[,;:! ]", "", s)
    return s.lower()


def _quiet_math_verify() -> None:
    # With timeouts disabled math-verify warns on every call that we must bring our own (we do).
    logging.getLogger("math_verify").setLevel(logging.ERROR)


@lru_cache(maxsize=8192)
def _parse(answer: str) -> tuple[Any, ...]:
    """math-verify's reading of a normalised answer (see the module docstring), () when it finds none."""
    from math_verify import parse

    _quiet_math_verify()

    def read(text: str) -> list:
        try:
            return parse(text, parsing_timeout=None)
        except Exception:  # noqa: BLE001 - math-verify raises assorted errors on garbage
            return []

    if not answer:
        return ()
    # LaTeX first; plain text only when LaTeX finds nothing (plain reading picks numbers out of text:
    # it reads "1+x^2" as 1, so it must not override a LaTeX reading).
    return tuple(read(f"${answer}$") or read(answer))


def _judge(prediction: str, gold: str) -> tuple[bool, str]:
    from math_verify import verify

    pred_norm, gold_norm = _normalise(prediction), _normalise(gold)
    if _canonical_string(pred_norm) == _canonical_string(gold_norm) and pred_norm:
        return True, "string_match"
    gold_parsed, pred_parsed = _parse(gold_norm), _parse(pred_norm)
    if not gold_parsed or not pred_parsed:
        return False, "unparseable"
    if verify(list(gold_parsed), list(pred_parsed), timeout_seconds=None):
        return True, "match"
    return False, "mismatch"


def is_equivalent(prediction: str, gold: str) -> bool:
    """Whether the answer `prediction` equals `gold` (both answers, not whole solutions).

    Runs in the calling process WITHOUT a time limit: use `grade_batch` on untrusted outputs."""
    return _judge(prediction, gold)[0]


def grade_one(prediction_text: str, gold: str) -> MathVerdict:
    """Extract the answer from a whole output and judge it; in-process, no time limit, never raises."""
    extracted, rule = extract_answer(prediction_text)
    if extracted is None:
        return MathVerdict(None, rule, False, "no_answer")
    try:
        correct, reason = _judge(extracted, gold)
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
        extracted, rule = extract_answer(pairs[index][0])
        results[index] = MathVerdict(extracted, rule, False, reason)
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
