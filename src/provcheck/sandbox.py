"""Run a command from an artifact under bubblewrap: nothing from an artifact ever runs outside it.

``run`` gives the command a read-only system, no network (every namespace unshared), no home,
a private size-limited ``/tmp``, and one writable directory, the host ``workdir``, mounted at
``/build``. Time, memory, output, disk and process limits are enforced; when one is crossed
every process of the sandbox is killed and ``SandboxResult.killed`` names the limit. When
bubblewrap or user namespaces are missing, ``SandboxUnavailable`` is raised: there is no
unsandboxed fallback. Threat model and exact arguments: docs/sandbox.md.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .model import ProvcheckError

__all__ = ["SandboxUnavailable", "SandboxLimits", "SandboxResult", "run", "unavailable_reason"]

PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
# The only /etc entries the sandbox sees: what the dynamic linker, perl and `alternatives`
# symlinks (awk, ...) need. Not all of /etc: a root-run provcheck must not expose /etc/shadow
# or host keys to a command that owns them inside the sandbox.
ETC = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "perl",
       "localtime", "debian_version", "os-release")
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
RESERVED = {*SYSTEM_DIRS, "etc", "dev", "proc", "tmp", "build", "sys", "run", "var", "home", "root"}
POLL_SECONDS = 0.05
MAX_REBUILT = 400   # entries of a system directory rebuilt to add a path (one bind each: about 0.6 ms apiece)
NOMEM_MARKERS = (b"Cannot allocate memory", b"memory exhausted", b"Out of memory", b"out of memory",
                 b"MemoryError", b"std::bad_alloc")


class SandboxUnavailable(ProvcheckError):
    """This machine cannot sandbox (no bwrap, no user namespaces, ...); the message says why."""


@dataclass(frozen=True)
class SandboxLimits:
    seconds: float = 300.0        # wall clock, then every process in the sandbox is killed
    memory_bytes: int = 2 << 30   # address space per process (and resident memory of all together)
    output_bytes: int = 8 << 20   # captured stdout and stderr, each; beyond that the sandbox is killed
    disk_bytes: int = 1 << 30     # bytes the command may have under /build (and in its /tmp)
    processes: int = 256          # processes alive at once


@dataclass(frozen=True)
class SandboxResult:
    argv: tuple[str, ...]
    returncode: int | None        # None when killed
    stdout: bytes
    stderr: bytes
    seconds: float
    killed: str | None            # None | "timeout" | "memory" | "output" | "disk" | "processes"

    @property
    def ok(self) -> bool:
        return self.killed is None and self.returncode == 0


def _bwrap() -> str | None:
    return shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")


def bwrap_args(workdir: Path, binds: Sequence[tuple[Path, str]] = (), limits: SandboxLimits = SandboxLimits()
               ) -> list[str]:
    """The bwrap command line (without the command) for ``run``; documented in docs/sandbox.md."""
    args = [_bwrap() or "bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
            "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    for name in SYSTEM_DIRS:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC:
        if os.path.lexists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    args += ["--dev", "/dev", "--proc", "/proc", "--size", str(limits.disk_bytes), "--tmpfs", "/tmp",
             ]
    args += _overlay_args(binds)
    args += ["--bind", str(Path(workdir).resolve()), "/build", "--chdir", "/build",
             "--remount-ro", "/dev", "--remount-ro", "/"]   # nothing writable but /build and the sized /tmp
    return args


def _overlay_args(binds: Sequence[tuple[Path, str]]) -> list[str]:
    """Read-only binds at system paths. A target that does not exist on the system cannot be
    created inside the read-only system, so its nearest existing directory is rebuilt as a
    tmpfs holding a read-only bind (or symlink) of each of its host entries, plus the new one."""
    rebuilt: set[Path] = set()
    for source, target in binds:
        if not target.startswith("/") or ".." in target.split("/") or target.rstrip("/") in ("", "/build", "/tmp"):
            raise ValueError(f"sandbox: bad bind target {target!r}")
        if not Path(source).exists():
            raise ValueError(f"sandbox: bind source {source} does not exist")
        top = Path("/", *Path(target).parts[1:2])
        if not os.path.lexists(top) and top.name not in RESERVED:
            continue    # a new top-level directory: made in the sandbox's own root, nothing to rebuild
        if not os.path.lexists(target):
            parent = Path(target).parent
            while not parent.is_dir() or parent.is_symlink():
                parent = parent.parent
            if not str(parent).startswith("/usr/") or len(os.listdir(parent)) > MAX_REBUILT:
                raise ValueError(f"sandbox: cannot add {target}: {parent} cannot be extended (a new top-level "
                                 f"directory can)")
            rebuilt.add(parent)
    args: list[str] = []
    for parent in sorted(rebuilt, key=lambda p: (len(p.parts), str(p))):
        args += ["--tmpfs", str(parent)]
        for entry in sorted(os.scandir(parent), key=lambda e: e.name):
            if entry.is_symlink():
                args += ["--symlink", os.readlink(entry.path), entry.path]
            else:
                args += ["--ro-bind", entry.path, entry.path]
    for source, target in binds:
        args += ["--ro-bind", str(Path(source).resolve()), target]
    return args


@functools.cache
def unavailable_reason() -> str | None:
    """Why this machine cannot sandbox, or None when it can (probed once per process)."""
    if not _bwrap():
        return "bubblewrap (bwrap) is not installed (Debian package: bubblewrap)"
    import tempfile
    with tempfile.TemporaryDirectory(prefix="provcheck-sandbox-probe-") as tmp:
        try:
            proc = subprocess.run([*bwrap_args(Path(tmp)), "--", "/bin/true"], capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=30, env={"PATH": PATH})
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap cannot start: {exc}"
    if proc.returncode:
        why = proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
        return f"bwrap cannot create a sandbox here (user namespaces disabled?): {why}"
    return None


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the sandbox's processes; orphans are re-parented to its pid 1)."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _resident(pids: list[int]) -> int:
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
    return total


def disk_usage(root: Path) -> int:
    """Bytes allocated under ``root`` (each inode once; symlinks not followed)."""
    total, seen, todo = 0, set(), [str(root)]
    while todo:
        try:
            it = os.scandir(todo.pop())
        except OSError:
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)
    return total


def run(argv: Sequence[str], *, workdir: Path, binds: Sequence[tuple[Path, str]] = (),
        env: Mapping[str, str] | None = None, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run ``argv`` in the sandbox with ``workdir`` as the writable ``/build`` (and cwd)."""
    reason = unavailable_reason()
    if reason:
        raise SandboxUnavailable(reason)
    argv = tuple(argv)
    if not argv:
        raise ValueError("sandbox: empty command")
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise ValueError(f"sandbox: workdir {workdir} is not a directory")
    base = disk_usage(workdir)
    full_env = {"PATH": PATH, "LC_ALL": "C", "TZ": "UTC", "HOME": "/nonexistent"}
    if env:
        full_env.update(env)
    status_r, status_w = os.pipe()
    cmd = [*bwrap_args(workdir, binds, limits), "--json-status-fd", str(status_w), "--", *argv]

    def limit_resources() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.disk_bytes, limits.disk_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    start = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=full_env, pass_fds=(status_w,), start_new_session=True,
                                preexec_fn=limit_resources)
    except OSError as exc:
        os.close(status_r)
        os.close(status_w)
        raise SandboxUnavailable(f"bwrap cannot start: {exc}") from exc
    os.close(status_w)
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    out = {out_fd: bytearray(), err_fd: bytearray(), status_r: bytearray()}
    sel = selectors.DefaultSelector()
    for fd in out:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    killed: str | None = None
    seen_pids: set[int] = set()
    next_check = 0.0
    try:
        while sel.get_map() and killed is None:
            for key, _ in sel.select(POLL_SECONDS):
                try:
                    chunk = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                buf = out[key.fd]
                cap = limits.output_bytes if key.fd != status_r else 1 << 16
                buf += chunk[: max(0, cap - len(buf))]
                if len(buf) >= cap and key.fd != status_r:
                    killed = "output"
            now = time.monotonic()
            if killed is None and now - start > limits.seconds:
                killed = "timeout"
            if killed is None and now >= next_check:
                next_check = now + 2 * POLL_SECONDS
                pids = _tree(proc.pid)
                seen_pids.update(pids)
                if len(pids) - 2 > limits.processes:   # minus bwrap and its pid 1
                    killed = "processes"
                elif _resident(pids) > limits.memory_bytes:
                    killed = "memory"
                elif disk_usage(workdir) - base >= limits.disk_bytes:
                    killed = "disk"
    finally:
        if killed is not None or proc.poll() is None:
            seen_pids.update(_tree(proc.pid))
            try:
                os.killpg(proc.pid, signal.SIGKILL)   # bwrap dies; --die-with-parent kills its pid 1,
            except ProcessLookupError:                # and the pid namespace takes every process with it
                pass
        proc.wait()
        for fd in list(sel.get_map()):
            sel.unregister(fd)
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
        os.close(status_r)
        _wait_gone(seen_pids - {os.getpid()})
    seconds = time.monotonic() - start
    statuses = [json.loads(line) for line in bytes(out[status_r]).decode("utf-8", "replace").splitlines()
                if line.strip().startswith("{")]
    if not any("child-pid" in s for s in statuses) and killed is None:
        raise SandboxUnavailable("bwrap could not set up the sandbox: "
                                 + bytes(out[err_fd]).decode("utf-8", "replace").strip())
    exit_codes = [s["exit-code"] for s in statuses if "exit-code" in s]
    returncode = exit_codes[-1] if exit_codes and killed is None else None
    stderr = bytes(out[err_fd])
    if killed is None and returncode and any(m in stderr for m in NOMEM_MARKERS):
        killed, returncode = "memory", None    # a process hit the address-space limit and died of it
    if killed is None and disk_usage(workdir) - base >= limits.disk_bytes:
        killed, returncode = "disk", None      # e.g. a file stopped at disk_bytes by RLIMIT_FSIZE
    return SandboxResult(argv, returncode, bytes(out[out_fd]), stderr, seconds, killed)


def _wait_gone(pids: set[int], timeout: float = 2.0) -> None:
    """The pid namespace dies asynchronously after its pid 1: wait until no sandbox process is left."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break   # a zombie: dead, waiting for a reaper outside the sandbox
            except (OSError, IndexError):
                break
            time.sleep(0.01)
