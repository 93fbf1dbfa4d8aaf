"""Run untrusted Python programs (model-written code) in an isolated, resource-limited subprocess.

This is the only place in agorabench where untrusted code runs. Each program runs as its own process tree:

- Resource limits (set with ``setrlimit`` before the sandbox starts, by util-linux ``prlimit`` or else in a
  ``preexec_fn``, and inherited by everything inside):
  address space (memory), CPU seconds, number of processes, size of any file written, no core dumps.
- A wall-clock timeout that SIGKILLs the whole process group; with bubblewrap the program also lives in its
  own PID namespace, so killing the sandbox kills every process the program started (double-forked daemons
  included). Where there is no PID namespace, every process of the run's dedicated user id is killed too.
- A throwaway working directory, removed afterwards, and a scrubbed environment (nothing inherited).
- Isolation, best available first (detected once, by running a trivial program through each):
  ``bwrap+setpriv``  bubblewrap: read-only root filesystem, private size-limited ``/tmp`` and work dir, home
                     directories hidden, no network (new network namespace), own PID/IPC/UTS namespaces; and,
                     when we are root, the program runs as a dedicated unprivileged user id with no
                     capabilities and ``no_new_privs`` (without that drop, root inside bwrap keeps
                     CAP_SYS_ADMIN and can remount the read-only root read-write: checked here).
  ``bwrap``          the same without the user-id drop: not root, bwrap uses a user namespace; root (without
                     setpriv), every capability is dropped, but the program is still uid 0 (owner of root's
                     files, though on a read-only file system) and RLIMIT_NPROC does not bind it.
  ``unshare+setpriv`` / ``unshare``  new network and PID namespaces only; the file system is the host's.
  ``setpriv``        no namespaces, only the dedicated unprivileged user id.
  ``none``           a plain subprocess.
  Everything below ``bwrap`` logs a loud warning once per process, since the program can then reach the
  network and/or write to the host's file system.
- Output goes to files (never pipes), and at most ``max_output_bytes`` of each stream are read back; the
  file-size limit stops a program that prints without end.

Install bubblewrap with ``apt-get install bubblewrap`` (``scripts/install.sh`` does it when run as root).
Select a mechanism explicitly with ``isolation=...`` or the ``AGORABENCH_SANDBOX`` environment variable.
"""

from __future__ import annotations

import itertools
import logging
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

__all__ = [
    "ISOLATION_LEVELS",
    "SandboxResult",
    "detect_isolation",
    "isolation_available",
    "run_many",
    "run_program",
]

log = logging.getLogger(__name__)

# Best first. "Strong" mechanisms give a read-only host file system and no network.
ISOLATION_LEVELS = ("bwrap+setpriv", "bwrap", "unshare+setpriv", "unshare", "setpriv", "none")
_STRONG = frozenset({"bwrap+setpriv", "bwrap"})

SECRET_FD_ENV = "AGORABENCH_SECRET_FD"
CHANNEL_FD_ENV = "AGORABENCH_CHANNEL_FD"
CHANNEL_CAP_BYTES = 65536
_SANDBOX_WORKDIR = "/tmp/work"  # the work dir's path inside bubblewrap
_PROGRAM_NAME = "main.py"
# Dedicated user ids (when we are root): one per run, so that RLIMIT_NPROC counts only that run's
# processes and a leftover process can be found by its uid. Far above ordinary and subordinate ids.
_UID_BASE = 1_500_000_000
_uid_counter = itertools.count()
_uid_lock = threading.Lock()


@dataclass
class SandboxResult:
    """What happened to one program.

    status: "ok" (exit 0), "error" (non-zero exit), "timeout" (wall clock), "killed" (a signal, e.g. a
    resource limit or a kill from inside), "sandbox_error" (the sandbox itself failed to run the program).
    """

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: str
    truncated: bool = False  # stdout or stderr was longer than max_output_bytes
    signal: int | None = None  # the signal that ended the program, when status == "killed"
    channel: bytes = field(default=b"", repr=False)  # what the program wrote to the channel fd, if any

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# ---------------------------------------------------------------------------------------------- detection

_detect_lock = threading.Lock()
_available: dict[str, bool] = {}
_detected: str | None = None
_warned: set[str] = set()


def _is_root() -> bool:
    return os.geteuid() == 0


def _candidates() -> list[str]:
    root = _is_root()
    have_setpriv = shutil.which("setpriv") is not None
    out = []
    if shutil.which("bwrap"):
        if root and have_setpriv:
            out.append("bwrap+setpriv")
        out.append("bwrap")  # as root: with every capability dropped
    if shutil.which("unshare"):
        if root and have_setpriv:
            out.append("unshare+setpriv")
        out.append("unshare")
    if root and have_setpriv:
        out.append("setpriv")
    out.append("none")
    return out


def isolation_available(level: str) -> bool:
    """Whether ``level`` works here, checked once by running a trivial program through it."""
    if level not in ISOLATION_LEVELS:
        raise ValueError(f"unknown isolation {level!r}; choose one of {ISOLATION_LEVELS}")
    with _detect_lock:
        if level not in _available:
            _available[level] = level in _candidates() and _probe(level)
        return _available[level]


def _probe(level: str) -> bool:
    try:
        # The interpreter must find its own prefix and import from its standard library and
        # extension modules: a dropped user id that cannot read a prefix under /root otherwise falls
        # back silently to another installation's standard library.
        res = _run(
            "import json, socket, sys\nprint('sandbox-probe', sys.prefix)\n",
            isolation=level,
            timeout_s=20.0,
            memory_mb=512,
            max_processes=16,
            max_file_mb=1,
            max_output_bytes=4096,
            stdin="",
            argv=(),
            files=None,
            secret=None,
            channel=False,
            env=None,
            workdir_mb=8,
            python_flags=("-s", "-B"),
        )
    except Exception:  # a failing probe just means "not available"
        log.debug("sandbox probe for %s failed", level, exc_info=True)
        return False
    ok = res.status == "ok" and res.stdout.strip() == f"sandbox-probe {sys.prefix}"
    if not ok:
        log.debug("sandbox probe for %s: %s %r", level, res.status, res.stderr[-500:])
    return ok


def detect_isolation(refresh: bool = False) -> str:
    """The strongest isolation that works here (cached). ``AGORABENCH_SANDBOX`` overrides it."""
    global _detected
    forced = os.environ.get("AGORABENCH_SANDBOX")
    if forced:
        if not isolation_available(forced):
            raise RuntimeError(f"AGORABENCH_SANDBOX={forced} does not work on this machine")
        _warn_if_weak(forced)
        return forced
    if refresh:
        with _detect_lock:
            _available.clear()
            _detected = None
    if _detected is None:
        for level in _candidates():
            if isolation_available(level):
                _detected = level
                break
        else:  # pragma: no cover - "none" always works unless Python itself cannot start
            raise RuntimeError("cannot run any subprocess: the sandbox is unusable")
        log.info("code sandbox: using %s isolation", _detected)
    _warn_if_weak(_detected)
    return _detected


def _warn_if_weak(level: str) -> None:
    if level in _STRONG or level in _warned:
        return
    _warned.add(level)
    what = {
        "unshare+setpriv": "without network, as an unprivileged user, but on the host's file system "
        "(it can write to world-writable directories such as /tmp)",
        "unshare": "without network but with full access to the host's file system"
        + (" AS ROOT" if _is_root() else ""),
        "setpriv": "as an unprivileged user but WITH network access and on the host's file system",
        "none": "UNISOLATED: with network access and full access to the host's file system"
        + (" AS ROOT" if _is_root() else ""),
    }[level]
    why = (
        f"isolation {level!r} was chosen"
        if isolation_available("bwrap+setpriv") or isolation_available("bwrap")
        else "bubblewrap is not usable here"
    )
    msg = (
        f"agorabench code sandbox: {why}, so untrusted model-written code runs {what}. "
        "Install bubblewrap (apt-get install bubblewrap) for a read-only file system and no network."
    )
    log.warning(msg)
    print(f"WARNING: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- running


def run_program(
    source: str,
    *,
    timeout_s: float = 10.0,
    memory_mb: int = 1024,
    max_processes: int = 64,
    max_file_mb: int = 16,
    max_output_bytes: int = 1_000_000,
    stdin: str = "",
    argv: Sequence[str] = (),
    files: Mapping[str, str] | None = None,
    secret: bytes | None = None,
    channel: bool = False,
    env: Mapping[str, str] | None = None,
    workdir_mb: int = 64,
    python_flags: Sequence[str] = ("-s", "-B"),
    isolation: str | None = None,
) -> SandboxResult:
    """Run the Python program ``source`` in the sandbox and return what happened.

    timeout_s: wall-clock limit (the CPU-time limit is one second more). memory_mb: the address space of
    each process and, under a dedicated user id (when we are root), the resident memory of all the
    program's processes together, checked every 0.1 s. max_processes: processes and threads it may have
    at once. max_file_mb: largest file it may write (its stdout and stderr included). max_output_bytes:
    how much of stdout and of stderr is returned.
    stdin: text fed to the program. argv: its command-line arguments. files: extra files (name -> text)
    placed read-only in its work dir. secret: bytes readable once from the file descriptor named in the
    ``AGORABENCH_SECRET_FD`` environment variable (an unlinked file; see code_grader). channel: open a
    write-only file descriptor (named in ``AGORABENCH_CHANNEL_FD``) whose content, up to 64 KiB, is
    returned as ``result.channel``. env: extra environment variables. workdir_mb: size of the work dir and of
    the private /tmp (bubblewrap only). python_flags: the interpreter's options (no user site directory and no
    bytecode files by default). isolation: force a mechanism (default: ``detect_isolation()``).
    """
    level = isolation or detect_isolation()
    if level not in ISOLATION_LEVELS:
        raise ValueError(f"unknown isolation {level!r}; choose one of {ISOLATION_LEVELS}")
    _warn_if_weak(level)
    try:
        return _run(
            source,
            isolation=level,
            timeout_s=timeout_s,
            memory_mb=memory_mb,
            max_processes=max_processes,
            max_file_mb=max_file_mb,
            max_output_bytes=max_output_bytes,
            stdin=stdin,
            argv=argv,
            files=files,
            secret=secret,
            channel=channel,
            env=env,
            workdir_mb=workdir_mb,
            python_flags=python_flags,
        )
    except Exception as exc:  # reported as a verdict, never raised into the grader
        log.exception("sandbox failed to run a program")
        return SandboxResult("sandbox_error", None, "", f"{type(exc).__name__}: {exc}", 0.0, level)


def run_many(
    sources: Sequence[str],
    workers: int | None = None,
    *,
    per_program: Mapping[str, Sequence] | None = None,
    **limits,
) -> list[SandboxResult]:
    """Run many programs in the sandbox, ``workers`` at a time (default: one per CPU), each in its own
    subprocess (the threads only wait). ``limits`` are ``run_program``'s keyword arguments, the same for
    every program; ``per_program`` maps an argument to one value per program (e.g. ``{"stdin": [...]}``).
    Results come back in the order of ``sources``."""
    per_program = per_program or {}
    for key, values in per_program.items():
        if len(values) != len(sources):
            raise ValueError(f"per_program[{key!r}] has {len(values)} values for {len(sources)} programs")
    if not sources:
        return []
    if not limits.get("isolation") and "isolation" not in per_program:
        detect_isolation()  # detect (and warn) once, before the threads start
    workers = max(1, min(workers or os.cpu_count() or 1, len(sources)))

    def one(i: int) -> SandboxResult:
        kwargs = dict(limits)
        kwargs.update({key: values[i] for key, values in per_program.items()})
        return run_program(sources[i], **kwargs)

    if workers == 1:
        return [one(i) for i in range(len(sources))]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        return list(pool.map(one, range(len(sources))))


def _next_uid() -> int:
    with _uid_lock:
        n = next(_uid_counter)
    return _UID_BASE + (os.getpid() % 500_000) * 1000 + n % 1000


def _python_dirs() -> list[str]:
    """Directories the interpreter needs, re-bound into the sandbox after home directories are hidden."""
    dirs = {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(sys.executable),
        os.path.dirname(os.path.realpath(sys.executable)),
    }
    dirs = sorted({os.path.realpath(d) for d in dirs if d} | {d for d in dirs if d}, key=len)
    out: list[str] = []
    for d in dirs:
        if os.path.isdir(d) and d != "/" and not any(d == p or d.startswith(p + "/") for p in out):
            out.append(d)
    return out


def _hidden_dirs() -> list[str]:
    """Home directories (ours and everyone's): secrets live there, and the program has no business in them."""
    candidates = {os.path.expanduser("~"), "/root", "/home"}
    out = []
    for d in sorted(candidates):
        real = os.path.realpath(d)
        if os.path.isdir(real) and real not in ("/", "/tmp", "/usr", "/bin", "/lib", "/etc"):
            out.append(real)
    return out


def _rebind_python(hidden: Sequence[str]) -> list[str]:
    """bwrap arguments that bring the interpreter's directories back inside hidden (tmpfs) directories.

    bwrap creates missing parents with mode 0700, which a dropped user id cannot traverse (the interpreter
    then silently falls back to another installation's standard library), so we create them with 0755.
    """
    args: list[str] = []
    made: set[str] = set()
    for d in _python_dirs():
        roots = [h for h in hidden if d.startswith(h.rstrip("/") + "/")]
        if roots:
            root = max(roots, key=len)
            parts = d[len(root) :].strip("/").split("/")[:-1]
            path = root.rstrip("/")
            for part in parts:
                path += "/" + part
                if path not in made:
                    made.add(path)
                    args += ["--perms", "0755", "--dir", path]
        args += ["--ro-bind", d, d]
    return args


def _wrapper(level: str, uid: int | None, workdir: str, files: Sequence[str], mb: int) -> list[str]:
    """The command prefix that isolates a program, for ``level``."""
    drop = (
        [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--no-new-privs",
            "--bounding-set=-all",
            "--inh-caps=-all",
            "--",
        ]
        if uid is not None
        else []
    )
    if level.startswith("bwrap"):
        size = str(mb * 1024 * 1024)
        cmd = ["bwrap", "--ro-bind", "/", "/"]
        for d in _hidden_dirs():
            cmd += ["--tmpfs", d]
        cmd += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
        cmd += _rebind_python(_hidden_dirs() + ["/tmp"])
        cmd += ["--dev", "/dev", "--proc", "/proc"]
        cmd += ["--perms", "1777", "--size", size, "--tmpfs", _SANDBOX_WORKDIR]
        for name in files:
            cmd += ["--ro-bind", os.path.join(workdir, name), f"{_SANDBOX_WORKDIR}/{name}"]
        if uid is None and _is_root():
            cmd += ["--cap-drop", "ALL"]  # root keeping CAP_SYS_ADMIN could remount / read-write
        cmd += [
            "--chdir", _SANDBOX_WORKDIR,
            "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session",
        ]  # fmt: skip
        return cmd + drop
    if level.startswith("unshare"):
        cmd = ["unshare", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc"]
        if not _is_root():
            cmd[1:1] = ["--user", "--map-root-user"]
        # A shell as the namespace's init, so that the program is not PID 1 (which ignores signals it
        # sends itself, SIGKILL included); like bwrap, it reports a death by signal N as 128+N.
        return cmd + ["/bin/sh", "-c", '"$@"; exit $?', "sh"] + drop
    return drop  # "setpriv" or "none"


def _limits(memory_mb: int, cpu_s: int, nproc: int, file_mb: int) -> list[tuple[str, int, tuple[int, int]]]:
    """(prlimit's name, resource, (soft, hard)) for each limit."""
    mem = memory_mb * 1024 * 1024
    fsize = file_mb * 1024 * 1024
    return [
        ("as", resource.RLIMIT_AS, (mem, mem)),
        ("cpu", resource.RLIMIT_CPU, (cpu_s, cpu_s + 1)),
        ("nproc", resource.RLIMIT_NPROC, (nproc, nproc)),
        ("fsize", resource.RLIMIT_FSIZE, (fsize, fsize)),
        ("core", resource.RLIMIT_CORE, (0, 0)),
    ]


_prlimit_path: list[str | None] = []
_prlimit_lock = threading.Lock()


def _prlimit() -> str | None:
    """util-linux prlimit, if it is here and works (checked once)."""
    with _prlimit_lock:
        if not _prlimit_path:
            path = shutil.which("prlimit")
            if path:
                try:
                    probe = subprocess.run(
                        [path, "--core=0:0", "--", "true"],
                        check=False,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        timeout=10,
                    )
                    path = path if probe.returncode == 0 else None
                except (OSError, subprocess.SubprocessError):
                    path = None
            _prlimit_path.append(path)
        return _prlimit_path[0]


def _limits_preexec(limits: list[tuple[str, int, tuple[int, int]]]):
    pairs = [(what, value) for _, what, value in limits]
    setrlimit = resource.setrlimit

    def preexec() -> None:  # runs in the forked child, before exec: keep it minimal
        for what, value in pairs:
            setrlimit(what, value)

    return preexec


def _count_user_processes(uid: int) -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def _kill_uid(uid: int, rounds: int = 20) -> None:
    """SIGKILL every process whose real or effective user id is ``uid`` (a run's dedicated uid)."""
    for _ in range(rounds):
        found = False
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/status", "rb") as f:
                    for line in f:
                        if line.startswith(b"Uid:"):
                            ids = line.split()[1:3]
                            break
                    else:
                        continue
                if str(uid).encode() in ids:
                    found = True
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        if not found:
            return
        time.sleep(0.01)


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _uid_rss_bytes(uid: int) -> int:
    """Resident memory of all processes of ``uid`` (a run's dedicated user id)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            pass
    return total


def _wait(proc: subprocess.Popen, timeout_s: float, uid: int | None, memory_bytes: int) -> str:
    """Wait for ``proc`` to end: "exited", "timeout", or "memory" (its processes together use more than
    ``memory_bytes``; RLIMIT_AS caps each process, not their sum, so with a dedicated ``uid`` we add
    their resident memory every 0.1 s).

    ``Popen.wait(timeout)`` polls with sleeps that grow to 50 ms, which doubles the cost of a short run;
    a pidfd wakes us the moment the process ends (Linux 5.3+), with the polling wait as the fallback.
    """
    deadline = time.monotonic() + max(0.0, timeout_s)
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "exited" if proc.poll() is not None else "timeout"
            step = min(left, 0.1) if uid is not None else left
            if pidfd is not None:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                if poller.poll(step * 1000):
                    return "exited"
            else:
                try:
                    proc.wait(timeout=step)
                    return "exited"
                except subprocess.TimeoutExpired:
                    pass
            if uid is not None and _uid_rss_bytes(uid) > memory_bytes:
                return "memory"
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _read_capped(path: str, cap: int) -> tuple[str, bool]:
    with open(path, "rb") as f:
        data = f.read(cap + 1)
    return data[:cap].decode("utf-8", errors="replace"), len(data) > cap


def _rmtree(path: str) -> None:
    def onerror(func, p, _exc):  # a program may leave read-only directories behind
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


def _run(
    source: str,
    *,
    isolation: str,
    timeout_s: float,
    memory_mb: int,
    max_processes: int,
    max_file_mb: int,
    max_output_bytes: int,
    stdin: str,
    argv: Sequence[str],
    files: Mapping[str, str] | None,
    secret: bytes | None,
    channel: bool,
    env: Mapping[str, str] | None,
    workdir_mb: int,
    python_flags: Sequence[str],
) -> SandboxResult:
    uid = _next_uid() if isolation.endswith("setpriv") else None
    base = tempfile.mkdtemp(prefix="agorabench-sandbox-")
    io_dir = os.path.join(base, "io")  # ours: output files; never visible to the program
    work = os.path.join(base, "work")
    os.mkdir(io_dir, 0o700)
    os.mkdir(work, 0o700)
    opened: list = []
    proc = None
    try:
        all_files = {_PROGRAM_NAME: source, **(files or {})}
        for name, text in all_files.items():
            if "/" in name or name in ("", ".", ".."):
                raise ValueError(f"bad file name {name!r}")
            path = os.path.join(work, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(path, 0o444)
        bwrapped = isolation.startswith("bwrap")
        workdir = _SANDBOX_WORKDIR if bwrapped else work
        if uid is not None:
            os.chmod(base, 0o711)  # the program's uid may pass through to work/, not into io/
            if not bwrapped:
                os.chown(work, uid, uid)

        def out_file(name: str, mode: str = "wb"):
            f = open(os.path.join(io_dir, name), mode)  # noqa: SIM115 - closed in the finally below
            opened.append(f)
            return f

        stdout_f, stderr_f = out_file("stdout"), out_file("stderr")
        stdin_f = out_file("stdin", "w+b")
        stdin_f.write(stdin.encode("utf-8"))
        stdin_f.seek(0)

        py_env = {
            "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
            "HOME": workdir,
            "TMPDIR": "/tmp" if bwrapped else workdir,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
            "PYTHONIOENCODING": "utf-8",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        py_env.update(env or {})
        pass_fds: list[int] = []
        if secret is not None:
            # An unlinked file: nothing in any file system names it, and the program reads it only
            # through the descriptor (see code_grader for why).
            sf = tempfile.TemporaryFile(dir=io_dir)  # noqa: SIM115 - closed in the finally below
            opened.append(sf)
            sf.write(secret)
            sf.seek(0)
            pass_fds.append(sf.fileno())
            py_env[SECRET_FD_ENV] = str(sf.fileno())
        channel_f = None
        if channel:
            channel_f = out_file("channel")
            pass_fds.append(channel_f.fileno())
            py_env[CHANNEL_FD_ENV] = str(channel_f.fileno())

        nproc = max_processes
        if uid is None and not _is_root():  # RLIMIT_NPROC counts all of our user's processes
            nproc += _count_user_processes(os.getuid())
        cpu_s = max(1, int(timeout_s + 0.999)) + 1
        cmd = _wrapper(isolation, uid, work, list(all_files), workdir_mb)
        cmd += [sys.executable, *python_flags, _PROGRAM_NAME, *argv]
        # The limits: util-linux prlimit sets them and execs the sandbox, which lets subprocess use
        # vfork (a preexec_fn forces a full fork, whose cost grows with our memory: 80 ms instead of 20
        # per run from a 2 GB process); without prlimit, setrlimit in a preexec_fn.
        limits = _limits(memory_mb, cpu_s, nproc, max_file_mb)
        prlimit = _prlimit()
        if prlimit:
            cmd = [prlimit, *(f"--{name}={soft}:{hard}" for name, _, (soft, hard) in limits), "--", *cmd]

        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdin=stdin_f,
            stdout=stdout_f,
            stderr=stderr_f,
            cwd=work,
            env=py_env,
            pass_fds=pass_fds,
            start_new_session=True,  # its own session and process group, which we kill as a whole
            # Only setrlimit runs between fork and exec: no lock another thread could hold is taken.
            preexec_fn=None if prlimit else _limits_preexec(limits),  # noqa: PLW1509
        )
        if secret is not None:
            sf.close()  # the child holds its own copy of the descriptor
        waited = _wait(proc, timeout_s, uid, memory_mb * 1024 * 1024)
        timed_out = waited == "timeout"
        # Kill the whole group in every case: nothing the program started may outlive it. With bwrap,
        # killing bwrap tears down the PID namespace and everything in it (--die-with-parent).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        rc = proc.wait()
        duration = time.monotonic() - start
        if uid is not None and (waited != "exited" or not bwrapped or rc != 0):
            _kill_uid(uid)  # also catches daemons that left the process group
        for f in opened:
            f.close()
        stdout, t1 = _read_capped(os.path.join(io_dir, "stdout"), max_output_bytes)
        stderr, t2 = _read_capped(os.path.join(io_dir, "stderr"), max_output_bytes)
        chan = b""
        if channel:
            with open(os.path.join(io_dir, "channel"), "rb") as f:
                chan = f.read(CHANNEL_CAP_BYTES)

        sig = None
        if timed_out:
            status = "timeout"
        elif waited == "memory":
            status, sig = "killed", int(signal.SIGKILL)
            stderr += (
                f"\n[agorabench sandbox: killed: its processes together used more than {memory_mb} MB]\n"
            )
        elif rc == 0:
            status = "ok"
        elif rc < 0:
            status, sig = "killed", -rc
        elif isolation.startswith(("bwrap", "unshare")) and 128 < rc <= 128 + 64:
            status, sig = "killed", rc - 128  # these wrappers report a child killed by signal N as 128+N
        elif rc in (1, 125, 126, 127) and stderr.startswith(("bwrap:", "setpriv:", "unshare:")):
            status = "sandbox_error"
        else:
            status = "error"
        return SandboxResult(
            status=status,
            returncode=rc,
            stdout=stdout,
            stderr=stderr,
            duration_s=duration,
            isolation=isolation,
            truncated=t1 or t2,
            signal=sig,
            channel=chan,
        )
    finally:
        if proc is not None and proc.returncode is None:  # an exception between Popen and wait
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
            if uid is not None:
                _kill_uid(uid)
        for f in opened:
            f.close()
        _rmtree(base)
