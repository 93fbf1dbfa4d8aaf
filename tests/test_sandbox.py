"""The code sandbox: hostile programs must be contained, and ordinary programs must run.

Each hostile test asserts the verdict AND that nothing escaped: no process of the program survives (found
by a marker in the command line of every process it starts), no file appears outside its work dir, no
connection reaches a server the test runs on 127.0.0.1, no secret is read. Tests that need a property
only some isolation levels give are skipped, with the reason, on machines that lack it (install
bubblewrap: `apt-get install bubblewrap`, done by scripts/install.sh).
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from agorabench.evaluation import sandbox
from agorabench.evaluation.sandbox import SandboxResult, detect_isolation, run_many, run_program

REPO = Path(__file__).resolve().parents[1]
ISOLATION = detect_isolation()
STRONG = ISOLATION.startswith("bwrap")  # read-only root, private /tmp, hidden homes, no network
PID_NS = ISOLATION.startswith(("bwrap", "unshare"))  # the program cannot see or signal our processes
DROPPED = ISOLATION.endswith("setpriv")  # the program runs under its own unprivileged user id
NO_NET = ISOLATION.startswith(("bwrap", "unshare"))
# RLIMIT_NPROC does not bind root: fork bombs are only safe to run when the program is not root.
BOUNDED_PROCS = DROPPED or os.geteuid() != 0

needs_strong = pytest.mark.skipif(not STRONG, reason=f"needs bubblewrap; isolation here: {ISOLATION}")
needs_pid_ns = pytest.mark.skipif(not PID_NS, reason=f"needs a PID namespace; isolation here: {ISOLATION}")
needs_no_net = pytest.mark.skipif(not NO_NET, reason=f"needs a network namespace; isolation: {ISOLATION}")
needs_bounded = pytest.mark.skipif(not BOUNDED_PROCS, reason="the program would run as root: no NPROC limit")
needs_fs_protection = pytest.mark.skipif(
    not (STRONG or DROPPED), reason=f"needs a read-only root or a dropped uid; isolation: {ISOLATION}"
)


# ------------------------------------------------------------------------------------------- helpers


def _marker() -> str:
    return f"agorabench-hostile-{uuid.uuid4().hex}"


def _procs_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


def assert_nothing_survives(marker: str, grace_s: float = 3.0) -> None:
    """No process whose command line holds ``marker`` is alive (after a short grace for the kernel to
    finish tearing down a killed PID namespace). Leftovers are killed so that a failure does not leak."""
    deadline = time.monotonic() + grace_s
    while (alive := _procs_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert not alive, f"processes survived the sandbox: {alive}"


def run_watched(source: str, marker: str, **kwargs) -> tuple[SandboxResult, int]:
    """Run ``source`` (with ``marker`` as its argv[1]) while counting, from outside, the processes that
    carry the marker: proof that the hostile children really existed."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(r=run_program(source, argv=[marker], **kwargs)))
    thread.start()
    most = 0
    while thread.is_alive():
        most = max(most, len(_procs_with(marker)))
        time.sleep(0.02)
    thread.join()
    return box["r"], most


# Spawns a child process that carries the marker in its command line and loops forever.
SPAWN = """
import os, subprocess, sys
def spawn(code):
    return subprocess.Popen([sys.executable, "-c", code, sys.argv[1]])
"""


@contextmanager
def tcp_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.05)
    hits: list = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                conn, addr = srv.accept()
                hits.append(addr)
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    port = srv.getsockname()[1]
    socket.create_connection(("127.0.0.1", port), timeout=2).close()  # the server works...
    deadline = time.monotonic() + 2
    while not hits and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hits, "the test server does not accept connections"
    hits.clear()  # ...and the program's attempts are counted from here
    try:
        yield port, hits
    finally:
        stop.set()
        thread.join()
        srv.close()


@pytest.fixture
def outside_dir():
    """A directory outside the sandbox's work dir and outside /tmp (which bubblewrap makes private):
    under the user's home, which bubblewrap hides."""
    d = Path.home() / ".cache" / f"agorabench-sandbox-test-{uuid.uuid4().hex}"
    d.mkdir(parents=True)
    try:
        yield d
    finally:
        import shutil

        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------------------------------- positives


def test_hello_world_runs_and_reports_isolation():
    r = run_program("print('hello', 6 * 7)")
    assert r.status == "ok" and r.ok and r.returncode == 0
    assert r.stdout == "hello 42\n" and r.stderr == ""
    assert r.isolation == ISOLATION and not r.truncated
    assert 0 < r.duration_s < 5


def test_stdin_is_fed():
    r = run_program("import sys\ndata = sys.stdin.read()\nprint(data.upper(), end='')", stdin="abc\ndéf\n")
    assert r.status == "ok" and r.stdout == "ABC\nDÉF\n"


def test_missing_stdin_reads_eof_without_hanging():
    r = run_program("import sys\nprint(repr(sys.stdin.read()))", timeout_s=5)
    assert r.status == "ok" and r.stdout == "''\n" and r.duration_s < 4


def test_nonzero_exit_and_exception_are_errors():
    r = run_program("import sys\nprint('partial')\nsys.exit(3)")
    assert (r.status, r.returncode, r.stdout) == ("error", 3, "partial\n")
    r = run_program("raise ValueError('boom')")
    assert r.status == "error" and r.returncode == 1 and "ValueError: boom" in r.stderr


def test_timing_of_a_short_program():
    r = run_program("import time\ntime.sleep(0.3)\nprint('done')", timeout_s=5)
    assert r.status == "ok" and 0.3 <= r.duration_s < 3


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("AGORABENCH_TEST_SECRET", "s3cr3t-value")
    r = run_program("import os, json\nprint(json.dumps(dict(os.environ)))")
    import json

    env = json.loads(r.stdout)
    assert "AGORABENCH_TEST_SECRET" not in env and "s3cr3t-value" not in r.stdout
    assert env["PYTHONHASHSEED"] == "0" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert set(env) <= {
        "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "PWD", "PYTHONDONTWRITEBYTECODE",
        "PYTHONHASHSEED", "PYTHONIOENCODING", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    }  # fmt: skip


def test_work_dir_is_writable_home_and_thrown_away(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox.tempfile, "tempdir", str(tmp_path))
    src = """
import os
open('out.txt', 'w').write('x')
print(os.getcwd() == os.environ['HOME'], os.listdir('.'))
"""
    r = run_program(src)
    assert r.status == "ok" and r.stdout.startswith("True") and "out.txt" in r.stdout
    assert list(tmp_path.iterdir()) == []  # the sandbox's temporary directory is gone


def test_files_argv_env_secret_and_channel():
    src = """
import os, sys
print(open('data.txt').read(), sys.argv[1:], os.environ['EXTRA'])
fd = int(os.environ['AGORABENCH_SECRET_FD'])
os.write(int(os.environ['AGORABENCH_CHANNEL_FD']), os.read(fd, 100)[::-1])
"""
    r = run_program(
        src, files={"data.txt": "DATA"}, argv=["a", "b"], env={"EXTRA": "1"}, secret=b"abc", channel=True
    )
    assert r.status == "ok", r.stderr
    assert r.stdout == "DATA ['a', 'b'] 1\n" and r.channel == b"cba"


def test_run_many_keeps_order_and_runs_in_parallel():
    sources = [f"import time\ntime.sleep(0.4)\nprint({i})" for i in range(4)]
    start = time.monotonic()
    results = run_many(sources, workers=4, timeout_s=5)
    elapsed = time.monotonic() - start
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(4)]
    assert elapsed < 1.4, f"4 x 0.4 s with 4 workers took {elapsed:.2f} s"
    per = run_many(["import sys\nprint(sys.stdin.read())"] * 2, workers=2, per_program={"stdin": ["x", "y"]})
    assert [r.stdout for r in per] == ["x\n", "y\n"]


@pytest.mark.parametrize("via", ["prlimit", "preexec_fn"])
def test_resource_limits_are_applied(via, monkeypatch):
    if via == "preexec_fn":
        monkeypatch.setattr(sandbox, "_prlimit_path", [None])
    elif sandbox._prlimit() is None:
        pytest.skip("util-linux prlimit is not installed")
    src = """
import resource
for name in ("AS", "CPU", "NPROC", "FSIZE", "CORE"):
    print(name, *resource.getrlimit(getattr(resource, "RLIMIT_" + name)))
"""
    r = run_program(src, timeout_s=3, memory_mb=300, max_processes=7, max_file_mb=5)
    assert r.status == "ok", r
    limits = {line.split()[0]: tuple(map(int, line.split()[1:])) for line in r.stdout.splitlines()}
    assert limits["AS"] == (300 * 2**20,) * 2 and limits["FSIZE"] == (5 * 2**20,) * 2
    assert limits["CPU"] == (4, 5) and limits["CORE"] == (0, 0)
    if DROPPED or os.geteuid() != 0:
        assert limits["NPROC"][0] >= 7


def test_weak_isolation_warns_loudly(caplog, capsys):
    sandbox._warned.discard("none")
    with caplog.at_level(logging.WARNING, logger="agorabench.evaluation.sandbox"):
        r = run_program("print(1)", isolation="none")
    assert r.status == "ok" and r.isolation == "none"
    assert any("UNISOLATED" in rec.getMessage() for rec in caplog.records)
    assert "UNISOLATED" in capsys.readouterr().err
    with pytest.raises(ValueError):
        run_program("print(1)", isolation="chroot")


# ------------------------------------------------------------------------------------ hostile: processes


@needs_bounded
def test_fork_bomb_os_fork():
    m = _marker()
    src = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    r, most = run_watched(src, m, timeout_s=1.5, max_processes=32)
    assert r.status in ("timeout", "killed"), r
    assert most > 1  # it did fork, up to the limit
    assert_nothing_survives(m)


@needs_bounded
def test_fork_bomb_subprocesses():
    m = _marker()
    src = (
        SPAWN
        + """
import time
while True:
    try:
        spawn('import time; time.sleep(60)')
    except OSError:
        time.sleep(0.01)
"""
    )
    r, most = run_watched(src, m, timeout_s=1.5, max_processes=16)
    assert r.status in ("timeout", "killed", "error"), r
    assert most > 1
    assert_nothing_survives(m)


@needs_bounded
def test_thread_bomb_is_limited():
    src = """
import threading, time
n = 0
try:
    while True:
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
        n += 1
except RuntimeError as e:
    print('stopped at', n, e)
"""
    r = run_program(src, max_processes=20, timeout_s=5)
    assert r.status == "ok" and r.stdout.startswith("stopped at"), r
    assert int(r.stdout.split()[2]) < 20


def test_memory_bomb_single_allocation():
    r = run_program("x = bytearray(8 * 1024 ** 3)\nprint('allocated')", memory_mb=256)
    assert r.status == "error" and "MemoryError" in r.stderr and "allocated" not in r.stdout


def test_memory_bomb_gradual():
    src = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n"
    r = run_program(src, memory_mb=256, timeout_s=10)
    assert r.status == "error" and "MemoryError" in r.stderr and r.duration_s < 8


@needs_bounded
def test_memory_bomb_spread_over_processes():
    # RLIMIT_AS caps each process; the sandbox also caps them together.
    if not DROPPED:
        pytest.skip("the total-memory watch needs a dedicated user id (root)")
    m = _marker()
    src = """
import os, time
for _ in range(6):
    if os.fork() == 0:
        b = bytearray(150 * 1024 * 1024)
        for i in range(0, len(b), 4096):
            b[i] = 1
        time.sleep(60)
time.sleep(60)
"""
    r, _ = run_watched(src, m, memory_mb=400, timeout_s=8)
    assert r.status == "killed" and "together used more than 400 MB" in r.stderr, r
    assert r.duration_s < 6
    assert_nothing_survives(m)


def test_infinite_cpu_loop_times_out():
    r = run_program("while True:\n    pass", timeout_s=1.0)
    assert r.status == "timeout" and 1.0 <= r.duration_s < 3


def test_sleeping_forever_times_out():
    r = run_program("import time\ntime.sleep(10 ** 6)", timeout_s=0.7)
    assert r.status == "timeout" and 0.7 <= r.duration_s < 3


def test_sigterm_ignored_still_killed():
    src = """
import signal, time
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
while True:
    time.sleep(0.01)
"""
    r = run_program(src, timeout_s=0.7)
    assert r.status == "timeout" and r.duration_s < 3


def test_busy_children_left_behind_are_killed():
    m = _marker()
    src = (
        SPAWN
        + """
import time
for _ in range(3):
    spawn('while True: pass')
time.sleep(0.3)
print('parent exits')
"""
    )
    r, most = run_watched(src, m, timeout_s=5)
    assert r.status == "ok" and "parent exits" in r.stdout, r
    assert most >= 3
    assert_nothing_survives(m)


@pytest.mark.skipif(
    not (PID_NS or DROPPED),
    reason="a daemon leaves the process group: needs a PID namespace or a dedicated uid",
)
def test_double_fork_daemon_escaping_the_group_is_killed():
    m = _marker()
    src = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        code = "import signal, time\\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\\nwhile True: time.sleep(0.05)"
        os.execv(sys.executable, [sys.executable, "-c", code, sys.argv[1]])
    os._exit(0)
time.sleep(0.4)
print('daemonized')
"""
    r, most = run_watched(src, m, timeout_s=5)
    assert r.status == "ok" and "daemonized" in r.stdout, r
    assert most >= 1
    assert_nothing_survives(m)


def test_children_alive_at_timeout_are_killed():
    m = _marker()
    src = (
        SPAWN
        + """
import time
for _ in range(4):
    spawn('import time; time.sleep(60)')
time.sleep(60)
"""
    )
    r, most = run_watched(src, m, timeout_s=1.0)
    assert r.status == "timeout" and most >= 4
    assert_nothing_survives(m)


def test_os_exit_with_background_child():
    m = _marker()
    src = (
        SPAWN
        + """
import time
spawn('import time; time.sleep(60)')
time.sleep(0.3)
print('bye', flush=True)
os._exit(0)
"""
    )
    r, most = run_watched(src, m, timeout_s=5)
    assert r.status == "ok" and r.stdout == "bye\n" and most >= 1
    assert_nothing_survives(m)


@pytest.mark.skipif(not (PID_NS or DROPPED), reason="the program could kill the test runner")
def test_killing_its_parent_does_not_reach_us():
    src = """
import os, signal, time
try:
    os.kill(os.getppid(), signal.SIGKILL)
    print('sent')
except OSError as e:
    print('denied', e)
time.sleep(0.2)
print('still here')
"""
    r = run_program(src, timeout_s=5)
    assert r.status in ("ok", "killed"), r  # killing bwrap's init ends the sandbox: also contained
    assert r.duration_s < 4
    os.kill(os.getpid(), 0)  # we are alive


def test_killpg_of_its_own_group():
    r = run_program("import os, signal\nos.killpg(0, signal.SIGKILL)\nprint('unreachable')", timeout_s=5)
    assert r.status == "killed" and r.signal == signal.SIGKILL and "unreachable" not in r.stdout


@needs_pid_ns
def test_kill_every_process_it_can():
    m = _marker()
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", m])
    try:
        src = """
import os, signal, time
try:
    os.kill(-1, signal.SIGKILL)
except OSError as e:
    print(e)
time.sleep(0.2)
print('done')
"""
        r = run_program(src, timeout_s=5)
        assert r.status in ("ok", "killed"), r
        assert helper.poll() is None, "the program killed a process outside the sandbox"
    finally:
        helper.kill()
        helper.wait()


def test_killing_itself_by_signal_is_killed():
    r = run_program("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)")
    assert r.status == "killed" and r.signal == signal.SIGSEGV


def test_closing_stdout_and_stderr():
    src = """
import os, sys
print('before', flush=True)
os.close(1)
os.close(2)
sys.stdout = sys.stderr = open(os.devnull, 'w')
print('lost')
"""
    r = run_program(src, timeout_s=5)
    assert r.status == "ok" and r.stdout == "before\n"


# ------------------------------------------------------------------------------------------- hostile: network


@needs_no_net
def test_tcp_connection_to_a_server_on_the_host_fails():
    with tcp_server() as (port, hits):
        src = """
import socket, sys
for host in ("127.0.0.1", "localhost", "::1"):
    try:
        socket.create_connection((host, int(sys.argv[1])), timeout=2).close()
        print("CONNECTED", host)
    except OSError as e:
        print("blocked", host, type(e).__name__)
"""
        r = run_program(src, argv=[str(port)], timeout_s=8)
        time.sleep(0.1)
        assert r.status == "ok", r
        assert "CONNECTED" not in r.stdout and r.stdout.count("blocked") == 3
        assert hits == []


@needs_no_net
def test_udp_datagrams_to_the_host_are_not_delivered():
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    srv.settimeout(0.3)
    try:
        port = srv.getsockname()[1]
        src = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    for _ in range(5):
        s.sendto(b"leak", ("127.0.0.1", int(sys.argv[1])))
    print("sent")
except OSError as e:  # unshare leaves the loopback interface down
    print("blocked", type(e).__name__)
"""
        r = run_program(src, argv=[str(port)])
        assert r.status == "ok"
        with pytest.raises(socket.timeout):
            srv.recvfrom(100)
    finally:
        srv.close()


@needs_no_net
def test_no_outbound_network_or_dns():
    src = """
import socket
print(sorted(name for _, name in socket.if_nameindex()))
for target in [("1.1.1.1", 443), ("8.8.8.8", 53), ("pypi.org", 443)]:
    try:
        socket.create_connection(target, timeout=2).close()
        print("REACHED", target)
    except OSError as e:
        print("blocked", target[0], type(e).__name__)
try:
    print("RESOLVED", socket.getaddrinfo("pypi.org", 443))
except OSError as e:
    print("no dns", type(e).__name__)
"""
    r = run_program(src, timeout_s=15)
    assert r.status == "ok", r
    assert r.stdout.splitlines()[0] == "['lo']"
    assert "REACHED" not in r.stdout and "RESOLVED" not in r.stdout
    assert r.stdout.count("blocked") == 3 and "no dns" in r.stdout


# ------------------------------------------------------------------------------------------- hostile: files


WRITE_TARGETS = {
    "tmp": ("/tmp/{name}", True),
    "var_tmp": ("/var/tmp/{name}", True),
    "dev_shm": ("/dev/shm/{name}", True),
    "home": (str(Path.home() / "{name}"), False),
    "repo": (str(REPO / "{name}"), False),
    "etc": ("/etc/{name}", False),
    "usr_local": ("/usr/local/{name}", False),
    "relative_escape": ("../../../../../../tmp/{name}", True),
    "proc_root": ("/proc/1/root/tmp/{name}", True),
}


@pytest.mark.parametrize("where", sorted(WRITE_TARGETS))
def test_writing_outside_the_work_dir_leaves_no_file(where):
    template, world_writable = WRITE_TARGETS[where]
    if world_writable and not STRONG:
        pytest.skip(f"world-writable directories need bubblewrap's private mounts; isolation: {ISOLATION}")
    if not world_writable and not (STRONG or DROPPED):
        pytest.skip(f"needs a read-only root or a dropped uid; isolation: {ISOLATION}")
    name = f"agorabench-escape-{uuid.uuid4().hex}"
    target = template.format(name=name)
    src = f"""
import os
path = {target!r}
try:
    with open(path, "w") as f:
        f.write("escaped")
    print("wrote (inside the sandbox)", os.path.exists(path))
except OSError as e:
    print("denied", type(e).__name__)
"""
    r = run_program(src)
    host_path = Path(target if not target.startswith("..") else f"/tmp/{name}")
    if target.startswith("/proc/1/root"):
        host_path = Path(f"/tmp/{name}")
    try:
        assert r.status == "ok", r
        assert not host_path.exists(), f"the program wrote {host_path} on the host"
    finally:
        host_path.unlink(missing_ok=True)


@needs_fs_protection
def test_deleting_files_outside_fails(outside_dir):
    sentinel = outside_dir / "sentinel.txt"
    sentinel.write_text("keep me")
    vt = Path("/var/tmp") / f"agorabench-sentinel-{uuid.uuid4().hex}"
    vt.write_text("keep me")
    src = """
import os, shutil, sys
for path in sys.argv[1:]:
    for attempt in (os.remove, lambda p: shutil.rmtree(os.path.dirname(p)), lambda p: os.chmod(p, 0o777),
                    lambda p: os.truncate(p, 0), lambda p: os.rename(p, p + ".moved")):
        try:
            attempt(path)
            print("DID", path)
        except OSError as e:
            print("denied", type(e).__name__)
"""
    try:
        r = run_program(src, argv=[str(sentinel), str(vt)])
        assert r.status == "ok", r
        assert sentinel.read_text() == "keep me" and vt.read_text() == "keep me"
    finally:
        vt.unlink(missing_ok=True)


@needs_fs_protection
def test_secret_file_in_home_is_not_readable_nor_writable(outside_dir):
    secret = outside_dir / "credentials"
    secret.write_text("token=hunter2-" + uuid.uuid4().hex)
    secret.chmod(0o600)
    src = """
import os, sys
path = sys.argv[1]
try:
    print("READ", open(path).read())
except OSError as e:
    print("unreadable", type(e).__name__)
try:
    open(path, "a").write("tampered")
    print("WROTE")
except OSError as e:
    print("unwritable", type(e).__name__)
try:
    print("HOME LISTING", os.listdir(os.path.dirname(os.path.dirname(path))))
except OSError as e:
    print("unlistable", type(e).__name__)
"""
    content = secret.read_text()
    r = run_program(src, argv=[str(secret)])
    assert r.status == "ok", r
    assert "hunter2" not in r.stdout and "READ" not in r.stdout and "WROTE" not in r.stdout
    assert secret.read_text() == content
    if STRONG:  # bubblewrap hides home directories altogether
        assert "unlistable" in r.stdout or outside_dir.name not in r.stdout


@needs_pid_ns
def test_secrets_in_other_processes_environment_are_not_visible(monkeypatch):
    monkeypatch.setenv("AGORABENCH_TEST_SECRET", "env-s3cr3t-" + uuid.uuid4().hex)
    m = _marker()
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", m])  # inherits the secret
    try:
        src = """
import os
seen = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for what in ("environ", "cmdline"):
            try:
                seen.append(open(f"/proc/{pid}/{what}", "rb").read().decode("latin-1"))
            except OSError:
                pass
print(len(seen))
print("\\n".join(seen))
"""
        r = run_program(src)
        assert r.status == "ok", r
        assert os.environ["AGORABENCH_TEST_SECRET"] not in r.stdout
        assert m not in r.stdout  # processes outside the sandbox are invisible
    finally:
        helper.kill()
        helper.wait()


def test_huge_stdout_is_capped_without_blowing_our_memory():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    src = "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)\n"
    r = run_program(src, max_output_bytes=1_000_000, max_file_mb=16, timeout_s=20)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert r.status == "error" and "File too large" in r.stderr  # stopped at the 16 MB file limit
    assert len(r.stdout) == 1_000_000 and r.truncated
    assert (after - before) < 100 * 1024  # KiB: we never held the 100 MB
    r = run_program(src, max_output_bytes=1000, max_file_mb=128, timeout_s=20)
    assert r.status == "ok" and len(r.stdout) == 1000 and r.truncated


def test_huge_stderr_is_capped():
    r = run_program("import sys\nsys.stderr.write('e' * 5_000_000)\n", max_output_bytes=100)
    assert r.status == "ok" and r.stderr == "e" * 100 and r.truncated


def test_big_files_and_filling_the_disk_are_limited():
    src = """
import errno, os
try:
    with open("big", "wb") as f:
        for _ in range(20):
            f.write(b"\\0" * (1024 * 1024))
    print("BIG FILE")
except OSError as e:
    print("big denied:", errno.errorcode[e.errno], os.path.getsize("big") // (1024 * 1024))
os.remove("big")
total = 0
for i in range(64):
    try:
        with open(f"f{i}", "wb") as f:
            for _ in range(8):
                f.write(b"\\0" * (1024 * 1024))
                total += 1024 * 1024
    except OSError as e:
        print("stopped:", errno.errorcode[e.errno])
        break
print("total MB", total // (1024 * 1024))
"""
    r = run_program(src, max_file_mb=16, workdir_mb=32, timeout_s=20)
    assert r.status == "ok", r
    assert "big denied: EFBIG 16" in r.stdout  # no file over max_file_mb
    if STRONG:  # the work dir is a tmpfs of workdir_mb
        assert "stopped: ENOSPC" in r.stdout and int(r.stdout.split()[-1]) <= 32


@needs_pid_ns
def test_proc_shows_only_its_own_processes():
    m = _marker()
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", m])
    try:
        src = """
import os
pids = [p for p in os.listdir('/proc') if p.isdigit()]
print(len(pids))
for p in pids:
    try:
        print(open(f'/proc/{p}/cmdline', 'rb').read())
    except OSError:
        pass
"""
        r = run_program(src)
        assert r.status == "ok"
        assert m not in r.stdout and "pytest" not in r.stdout
        assert int(r.stdout.splitlines()[0]) < 10
    finally:
        helper.kill()
        helper.wait()


@pytest.mark.skipif(not (DROPPED or os.geteuid() != 0), reason="root may raise its own limits")
def test_setrlimit_cannot_raise_the_limits():
    src = """
import resource
for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_CORE"):
    what = getattr(resource, name)
    try:
        resource.setrlimit(what, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        print("RAISED", name)
    except (ValueError, OSError) as e:
        print("denied", name)
"""
    r = run_program(src)
    assert r.status == "ok" and "RAISED" not in r.stdout and r.stdout.count("denied") == 5


@needs_strong
def test_remounting_the_root_read_write_fails():
    name = f"agorabench-escape-{uuid.uuid4().hex}"
    src = f"""
import os
os.system("mount -o remount,rw / 2>/dev/null && touch /{name} && echo REMOUNTED")
os.system("unshare -rm sh -c 'mount -o remount,rw / && touch /{name} && echo USERNS-REMOUNTED' 2>/dev/null")
os.system(
    "unshare -rm sh -c 'mount -o remount,rw,bind / && touch /{name} && echo BIND-REMOUNTED' 2>/dev/null"
)
try:
    open("/{name}", "w").write("x")
    print("WROTE")
except OSError as e:
    print("denied", e.errno)
"""
    try:
        r = run_program(src, timeout_s=10)
        assert r.status == "ok", r
        assert "REMOUNTED" not in r.stdout and "WROTE" not in r.stdout
        assert not Path(f"/{name}").exists()
    finally:
        Path(f"/{name}").unlink(missing_ok=True)


@needs_strong
def test_runs_unprivileged_without_capabilities():
    src = """
import os
print(os.getuid(), os.geteuid())
for line in open('/proc/self/status'):
    if line.startswith(('CapEff', 'CapBnd', 'NoNewPrivs')):
        print(line.split()[1])
"""
    r = run_program(src)
    assert r.status == "ok"
    lines = r.stdout.split()
    if DROPPED:
        assert lines[0] == lines[1] and int(lines[0]) >= sandbox._UID_BASE
        assert lines[2:] == ["0000000000000000", "0000000000000000", "1"]
    else:
        assert int(lines[2], 16) == 0 or os.geteuid() != 0
