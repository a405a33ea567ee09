"""Archives read with libarchive, streamed into the blob store; nothing is extracted.

Reads every format and filter libarchive knows (tar with gz/xz/bz2/zstd/lzma/lz, zip,
cpio, ar, rpm, 7z, ...). ``.deb`` packages are shown as their payload with the control
archive under ``DEBIAN/`` (the ``dpkg-deb -R`` layout); ``.rpm`` as its cpio payload.

Member names are normalised; unsafe members, links, special files and limits become
engine findings (PC9xx), never writes to the host.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .. import hookimpl
from ..config import InputSpec, Limits
from ..engine_rules import PC901, PC902, PC903, PC904, PC905, PC906, PC908
from ..model import Finding, InputError, Location, ToolError
from ..progress import ProgressTask
from ..vfs import (BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SOCKET, SYMLINK, Artifact, BlobStore, Node,
                   Tree, normpath)

BLOCK_SIZE = 1 << 20

# libarchive-c, imported on first use (``_need``): loading the C library would cost every
# start-up, and most commands never open an archive.
libarchive: Any = None
ffi: Any = None
ArchiveError: Any = None


def _need() -> None:
    global libarchive, ffi, ArchiveError
    if ArchiveError is None:
        import libarchive as la
        from libarchive import ffi as la_ffi
        from libarchive.exception import ArchiveError as la_error
        libarchive, ffi, ArchiveError = la, la_ffi, la_error


class LimitExceeded(Exception):
    pass


class Budget:
    """Counts what one input has unpacked, across threads, against the limits."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.bytes = 0
        self.files = 0
        self._lock = threading.Lock()

    def add_file(self) -> None:
        with self._lock:
            self.files += 1
            if self.files > self.limits.max_files:
                raise LimitExceeded(f"more than {self.limits.max_files} members (limit max-files)")

    def take(self, files: int, nbytes: int) -> bool:
        """Count ``files`` members of ``nbytes`` at once if they fit the limits (else count nothing)."""
        with self._lock:
            if self.files + files > self.limits.max_files or self.bytes + nbytes > self.limits.max_total_bytes:
                return False
            self.files += files
            self.bytes += nbytes
            return True

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes += n
            if self.bytes > self.limits.max_total_bytes:
                raise LimitExceeded(f"more than {self.limits.max_total_bytes} bytes unpacked (limit max-total-bytes)")


@dataclass
class Entries:
    """What reading one archive stream produced, before any tree is built."""

    label: str                       # for messages: the archive's name or layer digest
    items: list[tuple[str, Node]] = field(default_factory=list)   # (raw member name, node)
    findings: list[Finding] = field(default_factory=list)
    errors: list[ToolError] = field(default_factory=list)
    format: str = ""
    filters: list[str] = field(default_factory=list)
    complete: bool = True


class Reader:
    """Reads archive streams for one artifact into ``Entries``.

    ``rootfs`` selects link policy: in a root filesystem (image layer, package) absolute
    symlinks are normal; in a source archive they are flagged.
    """

    def __init__(self, store: BlobStore, limits: Limits, artifact: str, *, rootfs: bool,
                 budget: Budget | None = None, progress: ProgressTask | None = None, defer_links: bool = False):
        self.store = store
        self.limits = limits
        self.artifact = artifact
        self.rootfs = rootfs
        self.budget = budget or Budget(limits)
        self.progress = progress  # a Progress task; gets the compressed bytes consumed so far
        self.defer_links = defer_links  # image layers: hardlinks may name a lower layer's file
        self._local = threading.local()

    def read(self, source: str | os.PathLike | BinaryIO, label: str, *, layer: str | None = None,
             chain: tuple[str, ...] = ()) -> Entries:
        out = Entries(label=label)
        _need()
        try:
            if isinstance(source, (str, os.PathLike)):
                ctx = libarchive.file_reader(os.fspath(source), block_size=BLOCK_SIZE)
            else:
                ctx = libarchive.stream_reader(source, block_size=BLOCK_SIZE)
            with ctx as archive:
                self._read_all(archive, out, layer, chain)
        except ArchiveError as exc:
            out.complete = False
            where = f" after member {out.items[-1][0]!r}" if out.items else " at its start"
            out.errors.append(ToolError(stage="unpack", artifact=self.artifact, path=label,
                                        message=f"archive is corrupt or truncated{where}: {_archive_msg(exc)}"))
        except LimitExceeded as exc:
            out.complete = False
            member = str(exc.args[1]) if len(exc.args) > 1 else (out.items[-1][0] if out.items else "")
            msg = f"stopped unpacking {label} at member {member!r}: {exc.args[0]}"
            out.findings.append(PC906.finding(location=Location(artifact=self.artifact, path=member, layer=layer,
                                                                chain=chain), message=msg,
                                              evidence={"limit": exc.args[0], "archive": label}, key=label))
            out.errors.append(ToolError(stage="unpack", artifact=self.artifact, path=label, message=msg))
        return out

    def _read_all(self, archive: Any, out: Entries, layer: str | None, chain: tuple[str, ...]) -> None:
        import ctypes
        archive_p = archive._pointer
        buf = ctypes.create_string_buffer(BLOCK_SIZE)
        view = memoryview(buf).cast("B")
        read_data = ffi.read_data
        limits = self.limits
        seen: dict[str, Node] = {}
        for entry in archive:
            if not out.format:
                out.format = _text(archive.format_name)
                out.filters = [_text(f) for f in archive.filter_names if _text(f) != "none"]
            raw = entry.pathname
            if isinstance(raw, bytes) or raw is None:
                raw = (raw or b"").decode("utf-8", "backslashreplace")
                out.findings.append(PC908.finding(location=Location(artifact=self.artifact, path=raw, layer=layer,
                                                                    chain=chain),
                                                  message=f"member name is not UTF-8: {raw!r}", key=raw))
            self.budget.add_file()
            path, unsafe = normpath(raw)
            loc = Location(artifact=self.artifact, path=path, layer=layer, chain=chain)
            if unsafe:
                dropped = raw.lstrip("/\\") != path or ".." in raw.replace("\\", "/").split("/")
                out.findings.append(PC901.finding(
                    location=loc.replace(path=raw) if dropped else loc, key=raw,
                    message=f"member {raw!r} " + ("climbs out of the archive; dropped" if dropped
                                                  else f"has an absolute name; kept as {path!r}"),
                    evidence={"member": raw, "archive": out.label}))
                if dropped:
                    continue
            if not path:
                continue
            mode = entry.mode
            ftype = entry.filetype & 0o170000
            node = Node(path=path, type=FILE, mode=mode, layer=layer, chain=chain, uid=entry.uid or 0,
                        gid=entry.gid or 0, mtime=_int(entry.mtime))
            if entry.issym:
                node.type = SYMLINK
                node.link_target = _text(entry.linkpath)
                self._check_symlink(node, out, loc)
            elif entry.islnk:
                target, t_unsafe = normpath(_text(entry.linkpath))
                src = seen.get(target)
                if src is None and self.defer_links and not t_unsafe:
                    node.type, node.link_target = HARDLINK, target  # resolved when the layer is applied
                elif t_unsafe or src is None or not src.is_file:
                    out.findings.append(PC902.finding(location=loc, key=raw,
                                                      message=f"hardlink {path!r} -> {_text(entry.linkpath)!r} "
                                                              f"does not name an earlier file of the archive; dropped",
                                                      evidence={"target": _text(entry.linkpath)}))
                    continue
                else:
                    node.type = HARDLINK
                    node.link_target = target
                    node.sha256, node.size = src.sha256, src.size
            elif ftype == stat.S_IFDIR:
                node.type = DIR
            elif ftype in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
                node.type = {stat.S_IFCHR: CHAR, stat.S_IFBLK: BLOCK, stat.S_IFIFO: FIFO, stat.S_IFSOCK: SOCKET}[ftype]
                out.findings.append(PC903.finding(location=loc, key=raw,
                                                  message=f"{node.type} device/special file {path!r} (recorded, no content)",
                                                  evidence={"type": node.type, "mode": f"{mode & 0o7777:04o}"}))
            else:
                declared = entry.size or 0
                if declared > limits.max_file_bytes:
                    raise LimitExceeded(f"member declares {declared} bytes (limit max-file-bytes)", raw)
                node.sha256, node.size = self._store_content(archive_p, read_data, buf, view, raw)
                if node.mode & (stat.S_ISUID | stat.S_ISGID):
                    bits = "setuid" if node.mode & stat.S_ISUID else "setgid"
                    out.findings.append(PC904.finding(location=node.location(self.artifact), key=raw,
                                                      message=f"{bits} file {path!r} (mode {node.mode & 0o7777:04o})",
                                                      evidence={"mode": f"{node.mode & 0o7777:04o}", "uid": node.uid}))
            prev = seen.get(path)
            if prev is not None and prev.type != DIR and (prev.sha256 != node.sha256 or prev.type != node.type):
                out.findings.append(PC905.finding(location=loc, key=path,
                                                  message=f"{path!r} appears more than once in {out.label}; the last copy wins",
                                                  evidence={"first": prev.sha256 or prev.link_target,
                                                            "last": node.sha256 or node.link_target}))
            seen[path] = node
            out.items.append((raw, node))
            if self.progress is not None:
                self.progress.update(ffi.filter_bytes(archive_p, -1))

    def _store_content(self, archive_p: Any, read_data: Any, buf: Any, view: memoryview,
                       raw: str) -> tuple[str, int]:
        """Stream the current member into the store; a member that fits one block is packed."""
        limits, budget, store = self.limits, self.budget, self.store
        first = read_data(archive_p, buf, BLOCK_SIZE)
        if first < 0:
            raise ArchiveError("read error", None, None, None)
        second = read_data(archive_p, buf2 := self._spare(), BLOCK_SIZE) if first else 0
        if second < 0:
            raise ArchiveError("read error", None, None, None)
        if second == 0:
            budget.add_bytes(first)
            self._check_ratio(archive_p, first, raw)
            return store.put_bytes(view[:first]), first
        writer = store.writer()
        size = 0
        try:
            for chunk in (view[:first], memoryview(buf2).cast("B")[:second]):
                writer.write(chunk)
                size += len(chunk)
                budget.add_bytes(len(chunk))
            n = read_data(archive_p, buf, BLOCK_SIZE)
            while n > 0:
                writer.write(view[:n])
                size += n
                budget.add_bytes(n)
                if size > limits.max_file_bytes:
                    raise LimitExceeded(f"member is larger than {limits.max_file_bytes} bytes (limit max-file-bytes)", raw)
                self._check_ratio(archive_p, size, raw)
                n = read_data(archive_p, buf, BLOCK_SIZE)
            if n < 0:
                raise ArchiveError("read error", None, None, None)
        except BaseException:
            writer.abort()
            raise
        return writer.commit(), size

    def _spare(self) -> Any:
        spare = getattr(self._local, "spare", None)
        if spare is None:
            import ctypes
            spare = self._local.spare = ctypes.create_string_buffer(BLOCK_SIZE)
        return spare

    def _check_ratio(self, archive_p: Any, size: int, raw: str) -> None:
        limits = self.limits
        if size > limits.ratio_floor:
            packed = max(ffi.filter_bytes(archive_p, -1), 1)
            if size / packed > limits.max_ratio:
                raise LimitExceeded(f"compression ratio above {limits.max_ratio}:1 (limit max-ratio)", raw)


    def _check_symlink(self, node: Node, out: Entries, loc: Location) -> None:
        target = node.link_target or ""
        if target.startswith("/"):
            if self.rootfs:
                return
            reason = "is absolute"
        elif _climbs_out(node.path, target):
            reason = "climbs above the root"
        else:
            return
        out.findings.append(PC902.finding(location=loc, key=node.path,
                                          severity=PC903.severity if self.rootfs else PC902.severity,
                                          message=f"symlink {node.path!r} -> {target!r} {reason}; resolved inside the tree only",
                                          evidence={"target": target}))


def _climbs_out(path: str, target: str) -> bool:
    depth = path.count("/")
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value or ""


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _archive_msg(exc: Exception) -> str:
    msg = exc.msg if hasattr(exc, "msg") else str(exc)
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def build_tree(store: BlobStore, entries: Entries) -> Tree:
    """A plain archive's tree: later members replace earlier ones (tar semantics)."""
    tree = Tree(store)
    for _raw, node in entries.items:
        tree.nodes[node.path] = node
    tree.add_parent_dirs()
    return tree


DEB_MEMBERS = ("control.tar", "data.tar")


def read_package(reader: Reader, path: str | os.PathLike, label: str, chain: tuple[str, ...] = (),
                 layer: str | None = None) -> Entries:
    """Read an archive; an ``ar`` archive holding a Debian package gives its payload instead."""
    entries = reader.read(path, label, layer=layer, chain=chain)
    if not entries.format.startswith("ar") or not any(
            raw.startswith("data.tar") for raw, _ in entries.items):
        return entries
    merged = Entries(label=label, findings=entries.findings, errors=entries.errors, format="deb",
                     complete=entries.complete)
    for raw, node in entries.items:
        if not raw.startswith(DEB_MEMBERS) or not node.is_file:
            continue
        inner = reader.read(reader.store.path(node.sha256 or ""), f"{label}:{raw}", layer=layer, chain=chain)
        merged.findings += inner.findings
        merged.errors += inner.errors
        merged.complete &= inner.complete
        prefix = "DEBIAN/" if raw.startswith("control.tar") else ""
        for iraw, inode in inner.items:
            inode.path = prefix + inode.path if prefix else inode.path
            if inode.type == HARDLINK and prefix:
                inode.link_target = prefix + (inode.link_target or "")
            merged.items.append((iraw, inode))
        if prefix:
            merged.items.append(("DEBIAN", Node(path="DEBIAN", type=DIR, mode=0o755, layer=layer, chain=chain)))
    return merged


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def sniff(path: Path) -> tuple[str, list[str]] | None:
    """(format, filters) when libarchive reads ``path`` as an archive, else None."""
    _need()
    try:
        with libarchive.file_reader(str(path)) as archive:
            for _entry in archive:
                return _text(archive.format_name), [_text(f) for f in archive.filter_names if _text(f) != "none"]
            return _text(archive.format_name), []
    except ArchiveError:
        return None


PACKAGE_SUFFIXES = (".deb", ".rpm", ".apk", ".ipk")


def load_archive(path: Path, name: str, role: str, ctx: Any, source: str, spec: InputSpec | None = None) -> Artifact:
    """Read an archive once; with an untyped ``spec``, an archive whose top level is an OCI
    archive or a docker-save tarball becomes an image artifact."""
    task = ctx.progress.task(f"unpacking {name}", path.stat().st_size)
    package = path.name.endswith(PACKAGE_SUFFIXES)
    reader = Reader(ctx.store, ctx.limits, name, rootfs=package, progress=task)
    try:
        entries = read_package(reader, path, name)
    finally:
        task.done()
    tree = build_tree(ctx.store, entries)
    if spec is not None and spec.type is None and not package and entries.format != "deb":
        from .oci import image_from_archive, is_image_tree
        if is_image_tree(tree):
            return image_from_archive(tree, spec, path, ctx, entries.findings, entries.errors)
    meta: dict[str, object] = {"format": entries.format, "filters": entries.filters, "sha256": file_sha256(path),
                               "path": str(path)}
    return Artifact(name=name, role=role, kind="archive", tree=tree, source=source, metadata=meta,
                    findings=entries.findings, errors=entries.errors)


@hookimpl(trylast=True)
def provcheck_load_input(spec: InputSpec, ctx: Any) -> Artifact | None:
    kinds = {"archive", "tar", "zip", "cpio", "deb", "rpm", "apk", "ar", "7z"}
    if spec.type is not None and spec.type not in kinds:
        return None
    path = Path(spec.path)
    if not path.is_file():
        if spec.type is not None or not path.exists():
            raise InputError(f"{spec.path}: no such file")
        return None
    if sniff(path) is None:
        if spec.type is not None:
            raise InputError(f"{spec.path}: not an archive libarchive can read")
        return None
    return load_archive(path, path.name, spec.role, ctx, spec.text, spec)


@hookimpl(trylast=True)
def provcheck_unpack(node: Node, tree: Tree, ctx: Any) -> Tree | None:
    if not node.is_file or node.sha256 is None:
        return None
    blob = tree.store.path(node.sha256)
    if sniff(blob) is None:
        return None
    chain = node.chain + (node.path,)
    reader = Reader(ctx.store, ctx.limits, "", rootfs=node.name.endswith((".deb", ".rpm", ".apk")))
    entries = read_package(reader, blob, node.path, chain=chain, layer=node.layer)
    if entries.errors and not entries.items:
        raise InputError(f"{node.path}: {entries.errors[0].message}")
    nested = build_tree(ctx.store, entries)
    nested.findings, nested.errors = entries.findings, entries.errors
    return nested
