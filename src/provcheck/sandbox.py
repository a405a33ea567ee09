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
import itertools
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
SETPRIV = "/usr/bin/setpriv"
PRLIMIT = "/usr/bin/prlimit"
POLL_SECONDS = 0.05
SANDBOX_UID_BASE, SANDBOX_UIDS = 1 << 30, 1 << 20   # root's sandboxes run as uids no account uses
_RUNS = itertools.count()
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


def bwrap_args(workdir: Path, binds: Sequence[tuple[Path, str]] = (), limits: SandboxLimits = SandboxLimits(),
               uid: int | None = None) -> list[str]:
    """The bwrap command line up to the command for ``run``; documented in docs/sandbox.md.
    ``uid`` (when provcheck runs as root): the unprivileged user the command runs as."""
    args = [_bwrap() or "bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if uid is None:   # unprivileged: our own user namespace, where no further one can be made
        args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    else:             # root: setpriv below switches to the sandbox user, which clears every capability
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add",
                 "CAP_DAC_OVERRIDE"]   # bwrap enters /build (the sandbox user's) before setpriv
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
    args += ["--dev", "/dev", "--proc", "/proc", "--size", str(limits.disk_bytes), "--perms", "1777",
             "--tmpfs", "/tmp"]
    args += _overlay_args(binds)
    args += ["--bind", str(Path(workdir).resolve()), "/build", "--chdir", "/build",
             "--remount-ro", "/dev", "--remount-ro", "/"]   # nothing writable but /build and the sized /tmp
    return args


# x86_64 system calls a generator never needs and that widen the kernel surface: user
# namespaces (unshare/clone with CLONE_NEWUSER), setns, keyrings, bpf, perf, userfaultfd, io_uring
CLONE_NEWUSER = 0x10000000
NR_CLONE, NR_UNSHARE, NR_CLONE3 = 56, 272, 435
DENIED_SYSCALLS = {"ptrace": 101, "add_key": 248, "request_key": 249, "keyctl": 250, "perf_event_open": 298,
                   "setns": 308, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425}
AUDIT_ARCH_X86_64 = 0xC000003E


def seccomp_filter() -> bytes | None:
    """A classic-BPF seccomp program for bwrap's ``--seccomp`` (x86_64 only; None elsewhere):
    the denied calls fail with EPERM, ``clone3`` with ENOSYS (libc falls back to ``clone``,
    whose flags a filter can read), x32 calls with EPERM, everything else is allowed."""
    import errno
    import platform
    import struct
    if platform.machine() != "x86_64":
        return None
    ld, jeq, jset, jge, ret = 0x20, 0x15, 0x45, 0x35, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    prog: list[tuple] = [(ld, 0, 0, 4), (jeq, 0, "allow", AUDIT_ARCH_X86_64), (ld, 0, 0, 0),
                         (jge, "eperm", 0, 0x40000000)]
    prog += [(jeq, "eperm", 0, nr) for nr in DENIED_SYSCALLS.values()]
    prog += [(jeq, "enosys", 0, NR_CLONE3), (jeq, "flags", 0, NR_UNSHARE), (jeq, "flags", "allow", NR_CLONE),
             ("flags",), (ld, 0, 0, 16), (jset, "eperm", "allow", CLONE_NEWUSER),
             ("allow",), (ret, 0, 0, allow), ("eperm",), (ret, 0, 0, eperm), ("enosys",), (ret, 0, 0, enosys)]
    labels: dict[str, int] = {}
    code: list[tuple] = []
    for insn in prog:
        if len(insn) == 1:
            labels[insn[0]] = len(code)
        else:
            code.append(insn)
    out = b""
    for i, (op, jt, jf, k) in enumerate(code):
        jt, jf = (labels[j] - i - 1 if isinstance(j, str) else j for j in (jt, jf))
        out += struct.pack("=HBBI", op, jt, jf, k)
    return out


def _user_prefix(uid: int | None) -> list[str]:
    if uid is None:
        return []
    return [SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all", "--"]


def _overlay_args(binds: Sequence[tuple[Path, str]]) -> list[str]:
    """Read-only binds at system paths. A target that does not exist on the system cannot be
    created inside the read-only system, so its nearest existing directory is rebuilt as a
    tmpfs holding a read-only bind (or symlink) of each of its host entries, plus the new one."""
    rebuilt: set[Path] = set()
    made: dict[str, None] = {}
    for source, target in binds:
        if (not target.startswith("/") or ".." in target.split("/")
                or Path(target).parts[1:2] in ((), ("build",), ("tmp",), ("proc",), ("dev",))):
            raise ValueError(f"sandbox: bad bind target {target!r}")
        if not Path(source).exists():
            raise ValueError(f"sandbox: bind source {source} does not exist")
        top = Path("/", *Path(target).parts[1:2])
        if not os.path.lexists(top) and top.name not in RESERVED:
            # a new top-level directory: made in the sandbox's own root (readable: bwrap's default is 0700)
            made.update((str(p), None) for p in reversed(Path(target).parents[:-1]))
            continue
        if not os.path.lexists(target):
            parent = Path(target).parent
            while not parent.is_dir() or parent.is_symlink():
                parent = parent.parent
            if not str(parent).startswith("/usr/") or len(os.listdir(parent)) > MAX_REBUILT:
                raise ValueError(f"sandbox: cannot add {target}: {parent} cannot be extended (a new top-level "
                                 f"directory can)")
            rebuilt.add(parent)
    args: list[str] = []
    for directory in made:
        args += ["--perms", "0755", "--dir", directory]
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
    if not os.access(PRLIMIT, os.X_OK):
        return f"{PRLIMIT} (util-linux) is missing: the sandbox's limits are set with it"
    if os.geteuid() == 0 and not os.access(SETPRIV, os.X_OK):
        return f"{SETPRIV} (util-linux) is missing: as root, the sandbox needs it to drop to its own user"
    with tempfile.TemporaryDirectory(prefix="provcheck-sandbox-probe-") as tmp:
        try:   # exactly what run() does, seccomp filter included
            res = _run(("/bin/true",), Path(tmp), (), None, SandboxLimits(seconds=30))
        except (SandboxUnavailable, OSError, ValueError) as exc:
            return f"bwrap cannot create a sandbox here (user namespaces disabled?): {exc}"
    if not res.ok:
        why = res.stderr.decode("utf-8", "replace").strip() or f"exit status {res.returncode}, killed: {res.killed}"
        return f"bwrap cannot create a sandbox here (user namespaces disabled?): {why}"
    return None


def _sandbox_uid() -> int | None:
    """When provcheck runs as root, the sandbox runs as a user of its own: root's processes
    ignore RLIMIT_NPROC and own the host's root-only files. None: run as ourselves."""
    if os.geteuid() != 0:
        return None
    return SANDBOX_UID_BASE + (os.getpid() * 64 + next(_RUNS)) % SANDBOX_UIDS


def _own_processes(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def _prlimit(uid: int | None, limits: SandboxLimits) -> list[str]:
    """``prlimit`` in front of bwrap: every process of the sandbox inherits the limits (a
    preexec_fn would not be safe while other threads run sandboxes too)."""
    # RLIMIT_NPROC counts every process of the user: a fresh sandbox user has none (bwrap runs as
    # root, which it does not count); as ourselves, the ones we already run are added
    nproc = limits.processes + (2 + _own_processes(os.getuid()) if uid is None else 0)
    wanted = {"as": (resource.RLIMIT_AS, limits.memory_bytes), "fsize": (resource.RLIMIT_FSIZE, limits.disk_bytes),
              "nproc": (resource.RLIMIT_NPROC, nproc), "core": (resource.RLIMIT_CORE, 0)}
    args = [PRLIMIT]
    for name, (res, value) in wanted.items():   # never above a limit we run under ourselves (e.g. nested)
        hard = resource.getrlimit(res)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        args.append(f"--{name}={value}")
    return [*args, "--"]


def _check_links(root: Path) -> None:
    """A file of ``workdir`` with a hard link outside it would make that outside file writable
    from the sandbox (and, as root, handed to the sandbox user): refuse it."""
    seen: dict[tuple[int, int], list] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if st.st_nlink > 1 and not os.path.islink(path):
                seen.setdefault((st.st_dev, st.st_ino), [st.st_nlink, 0, path])[1] += 1
    for nlink, inside, path in seen.values():
        if inside < nlink:
            raise ValueError(f"sandbox: {path} in the workdir has a hard link outside it")


def _chown_tree(root: Path, uid: int, gid: int, chown: bool = True) -> None:
    """Give every entry under ``root`` to ``uid``:``gid`` (symlinks themselves, never followed)
    and clear set-id bits."""
    for dirpath, dirnames, filenames in os.walk(root):
        for path in [dirpath] if dirpath == str(root) else []:
            _own(path, uid, gid, chown)
        for name in dirnames + filenames:
            _own(os.path.join(dirpath, name), uid, gid, chown)


def _own(path: str, uid: int, gid: int, chown: bool) -> None:
    try:
        if chown:
            os.lchown(path, uid, gid)
        st = os.lstat(path)
        if st.st_mode & 0o6000 and not os.path.islink(path):
            os.chmod(path, st.st_mode & 0o1777)
    except OSError:
        pass


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
    return _run(tuple(argv), Path(workdir), binds, env, limits)


def _run(argv: tuple[str, ...], workdir: Path, binds: Sequence[tuple[Path, str]], env: Mapping[str, str] | None,
         limits: SandboxLimits) -> SandboxResult:
    if not argv:
        raise ValueError("sandbox: empty command")
    if not workdir.is_dir() or workdir.is_symlink():
        raise ValueError(f"sandbox: workdir {workdir} is not a directory")
    full_env = {"PATH": PATH, "LC_ALL": "C", "TZ": "UTC", "HOME": "/nonexistent", **(env or {})}
    uid = _sandbox_uid()
    cmd = [*_prlimit(uid, limits), *bwrap_args(workdir, binds, limits, uid), "--json-status-fd", "{status}", "--",
           *_user_prefix(uid), *argv]
    _check_links(workdir)
    base = disk_usage(workdir)
    owner = workdir.stat()
    if uid is not None:
        _chown_tree(workdir, uid, uid)     # the sandbox user may write /build, and only /build
    try:
        return _supervise(cmd, argv, workdir, full_env, limits, base)
    finally:   # back to the owner, and no set-id bit made inside survives
        _chown_tree(workdir, owner.st_uid, owner.st_gid, chown=uid is not None)


def _supervise(cmd: list[str], argv: tuple[str, ...], workdir: Path, env: dict[str, str], limits: SandboxLimits,
               base: int) -> SandboxResult:
    """Start bwrap, collect its output, enforce the limits, and wait until no process is left."""
    status_r, status_w = os.pipe()
    cmd[cmd.index("{status}")] = str(status_w)
    pass_fds = [status_w]
    program = seccomp_filter()
    if program is not None:
        filter_fd = os.memfd_create("provcheck-seccomp", os.MFD_CLOEXEC)
        os.write(filter_fd, program)
        os.lseek(filter_fd, 0, os.SEEK_SET)
        pass_fds.append(filter_fd)
        at = cmd.index("--json-status-fd")
        cmd[at:at] = ["--seccomp", str(filter_fd)]
    start = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, pass_fds=pass_fds, start_new_session=True)
    except (OSError, subprocess.SubprocessError) as exc:
        os.close(status_r)
        raise SandboxUnavailable(f"bwrap cannot start: {exc}") from exc
    finally:
        for fd in pass_fds:
            os.close(fd)
    assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    out = {out_fd: bytearray(), err_fd: bytearray(), status_r: bytearray()}
    sel = selectors.DefaultSelector()
    for fd in out:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    killed: str | None = None
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
                if len(pids) - 2 >= limits.processes:   # minus bwrap and its pid 1; RLIMIT_NPROC caps it
                    killed = "processes"
                elif _resident(pids) > limits.memory_bytes:
                    killed = "memory"
                elif disk_usage(workdir) - base >= limits.disk_bytes:
                    killed = "disk"
    finally:
        pid1 = _child_pid(out[status_r])
        if killed is not None or proc.poll() is None:
            _kill(proc, pid1)
        proc.wait()
        if pid1 is not None:
            _wait_gone(pid1)
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
        os.close(status_r)
    seconds = time.monotonic() - start
    statuses = []
    for line in bytes(out[status_r]).decode("utf-8", "replace").splitlines():
        try:
            statuses.append(json.loads(line))
        except ValueError:
            pass
    stderr = bytes(out[err_fd])
    exit_codes = [s["exit-code"] for s in statuses if isinstance(s, dict) and "exit-code" in s]
    if not exit_codes and killed is None:
        raise SandboxUnavailable("bwrap could not set up the sandbox: " + stderr.decode("utf-8", "replace").strip())
    returncode = exit_codes[-1] if exit_codes and killed is None else None
    if killed is None and returncode and any(m in stderr for m in NOMEM_MARKERS):
        killed, returncode = "memory", None    # a process hit the address-space limit and died of it
    if killed is None and disk_usage(workdir) - base >= limits.disk_bytes:
        killed, returncode = "disk", None      # e.g. a file stopped at disk_bytes by RLIMIT_FSIZE
    return SandboxResult(argv, returncode, bytes(out[out_fd]), stderr, seconds, killed)


def _child_pid(status: bytes | bytearray) -> int | None:
    """The host pid of the sandbox's pid 1, from bwrap's ``--json-status-fd`` output."""
    for line in bytes(status).decode("utf-8", "replace").splitlines():
        try:
            return int(json.loads(line)["child-pid"])
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return None


def _kill(proc: subprocess.Popen, pid1: int | None) -> None:
    """Kill the sandbox's pid 1: the kernel kills every process of its pid namespace, and bwrap
    reaps pid 1 only when they are all gone, so bwrap's exit means no process is left. If that
    does not happen in time, kill bwrap's process group (--die-with-parent then takes pid 1)."""
    if pid1 is not None:
        try:
            os.kill(pid1, signal.SIGKILL)
            proc.wait(timeout=30)
            return
        except (ProcessLookupError, PermissionError):
            pass
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_gone(pid1: int, timeout: float = 30.0) -> None:
    """bwrap may exit before its pid 1 has finished dying; the kernel makes pid 1 a zombie (or
    reaps it) only after every other process of its namespace is gone: wait for that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid1}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return
        except (OSError, IndexError):
            return
        time.sleep(0.005)
