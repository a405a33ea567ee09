"""A directory or root filesystem, read without following any symlink.

The walk only lists (``lstat``): names, types, sizes, modes, link targets. A file's
content is hashed when something asks for it (``LazyNode``), once, from the descriptor
its content is then read from; see ``vfs.HostFile``.

**The file-identity cache** (git's index, for directory inputs). With the persistent cache
on, what a run learnt about a directory's files is kept under ``dir-files``, keyed by the
directory's real path and device and inode: per file its identity (device, inode, size,
mtime_ns, ctime_ns), its sha256 and its first bytes. The next run over the same directory
uses an entry only when the file's ``lstat`` gives exactly that identity; then
``Tree.known_digest`` answers without reading the file (derived results such as ELF
parses are keyed by it) and format sniffing reads no file. It never replaces ``sha256``:
every digest a report prints is hashed from the file, and a difference from the cached
one is reported. Trust rests on the kernel's ctime (a write, truncate, rename or chmod
sets it to the current time, and no unprivileged call sets it back):

* racy entries are never stored: a file whose mtime or ctime is less than ``RACY_NS``
  before the listing began could change again within the same timestamp tick;
* a directory of more than ``MAX_INDEX_FILES`` files keeps no index;
* not trusted against root on the host (who can set the clock or edit the disk), nor on
  filesystems whose server reports timestamps (NFS, FUSE) when that server is not
  trusted: use ``--no-cache`` there, which neither reads nor writes the index.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any, Callable

from .. import hookimpl
from ..config import InputSpec
from ..engine_rules import PC903, PC904
from ..model import InputError, ToolError
from ..vfs import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SOCKET, SYMLINK, Artifact, HostFile, LazyNode, Node, Tree

_SPECIAL = {stat.S_IFCHR: CHAR, stat.S_IFBLK: BLOCK, stat.S_IFIFO: FIFO, stat.S_IFSOCK: SOCKET}

INDEX_NAMESPACE = "dir-files"
INDEX_VERSION = "1"
RACY_NS = 2_000_000_000  # timestamps this close to the listing are not trusted (coarse clocks, 2 s FAT)
MAX_INDEX_FILES = 250_000  # larger directories keep no index (its JSON would cost more memory than it saves)


def _reporter(errors: list[ToolError], name: str) -> Callable[[str, str], None]:
    return lambda rel, why: errors.append(ToolError(stage="load", artifact=name, path=rel, message=why))


class FileIndex:
    """The file-identity cache of one directory input (see the module docstring)."""

    def __init__(self, cache: Any, root: Path):
        st = os.stat(root)
        self.cache = cache
        self.key = f"{os.path.realpath(root)}\0{st.st_dev}\0{st.st_ino}"
        self.listed_ns = time.time_ns()
        self.files: list[tuple[str, HostFile]] = []
        self.entries: dict[str, list[Any]] = {}
        if cache is not None:
            got = cache.get_json(INDEX_NAMESPACE, self.key, INDEX_VERSION)
            if isinstance(got, dict) and isinstance(got.get("files"), dict):
                self.entries = got["files"]

    def known(self, rel: str, identity: tuple[int, ...]) -> tuple[str | None, str | None]:
        """(sha256, first bytes as hex) recorded for ``rel`` with exactly this identity, else Nones."""
        e = self.entries.get(rel)
        if (type(e) is not list or len(e) != 7 or e[4] != identity[4] or e[3] != identity[3]  # noqa: E721
                or e[1] != identity[1] or e[2] != identity[2] or e[0] != identity[0]):
            return None, None
        digest, head = e[5], e[6]
        return (digest if type(digest) is str and len(digest) == 64 else None,  # noqa: E721
                head if type(head) is str and head else None)  # noqa: E721

    def save(self) -> None:
        """Store what is known now (kept entries and this run's digests and heads), when it changed."""
        if self.cache is None or len(self.files) > MAX_INDEX_FILES:
            return
        racy = self.listed_ns - RACY_NS
        matched = new = 0
        for _rel, c in self.files:
            if c.known is not None or c.known_head is not None:
                matched += 1
            if ((c.sha256 is not None and c.known is None) or (c.first is not None and c.known_head is None)) \
                    and max(c.key[3], c.key[4]) < racy:
                new += 1
        if not new and matched == len(self.entries):
            return  # every entry was used as it is, and nothing new was learnt
        fresh: dict[str, list[Any]] = {}
        for rel, content in self.files:
            if content.error is not None:
                continue
            dev, ino, size, mtime_ns, ctime_ns = content.key
            if max(mtime_ns, ctime_ns) >= racy:
                continue  # racy: a change within the same tick would keep this identity
            digest = content.sha256 or content.known
            head = content.first.hex() if content.first is not None else content.known_head
            if digest is None and head is None:
                continue
            fresh[rel] = [dev, ino, size, mtime_ns, ctime_ns, digest, head or ""]
        if fresh != self.entries:
            try:
                self.cache.put_json(INDEX_NAMESPACE, self.key, {"files": fresh}, INDEX_VERSION)
            except OSError:
                pass  # an unwritable cache only costs time on the next run


def read_directory(root: Path, name: str, ctx: Any) -> tuple[Tree, list, list[ToolError]]:
    store = ctx.store
    tree = Tree(store)
    nodes = tree.nodes
    findings: list = []
    errors: list[ToolError] = []
    inodes: dict[tuple[int, int], LazyNode] = {}
    max_files, limit = ctx.limits.max_files, ctx.limits.max_file_bytes
    report = _reporter(errors, name)
    index = FileIndex(getattr(ctx, "cache", None), root)
    if index.cache is not None:
        store.at_finish(index.save)
    indexed = index.entries
    budget_files = 0
    stack = [("", os.fspath(root))]
    while stack:
        rel_dir, host_dir = stack.pop()
        try:
            with os.scandir(host_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append(ToolError(stage="load", artifact=name, path=rel_dir or ".", message=f"cannot list: {exc.strerror}"))
            continue
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            budget_files += 1
            if budget_files > max_files:
                errors.append(ToolError(stage="load", artifact=name, path=rel,
                                        message=f"more than {max_files} entries (limit max-files); rest not read"))
                return tree, findings, errors
            try:
                st = e.stat(follow_symlinks=False)
            except OSError as exc:
                errors.append(ToolError(stage="load", artifact=name, path=rel, message=f"cannot stat: {exc.strerror}"))
                continue
            mode = st.st_mode
            fmt = stat.S_IFMT(mode)
            node: Node
            if fmt == stat.S_IFREG:
                if st.st_size > limit:
                    errors.append(ToolError(stage="load", artifact=name, path=rel,
                                            message=f"cannot read: more than {limit} bytes"))
                    continue
                first = inodes.get((st.st_dev, st.st_ino)) if st.st_nlink > 1 else None
                if first is not None:
                    node = LazyNode.listed(rel, HARDLINK, st, first.content, link_target=first.path)
                else:
                    content = HostFile(e.path, rel, st, store, limit, report)
                    node = LazyNode.listed(rel, FILE, st, content)
                    if rel in indexed:
                        content.known, content.known_head = index.known(rel, content.key)
                    index.files.append((rel, content))
                    if st.st_nlink > 1:
                        inodes[(st.st_dev, st.st_ino)] = node
                if mode & (stat.S_ISUID | stat.S_ISGID):
                    findings.append(PC904.finding(location=node.location(name), key=rel,
                                                  message=f"setuid/setgid file {rel!r} (mode {mode & 0o7777:04o})",
                                                  evidence={"mode": f"{mode & 0o7777:04o}", "uid": st.st_uid}))
            elif fmt == stat.S_IFDIR:
                node = Node(path=rel, type=DIR, mode=mode, uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime))
                stack.append((rel, e.path))
            elif fmt == stat.S_IFLNK:
                try:
                    target = os.readlink(e.path)
                except OSError as exc:
                    errors.append(ToolError(stage="load", artifact=name, path=rel,
                                            message=f"cannot read link: {exc.strerror}"))
                    continue
                node = Node(path=rel, type=SYMLINK, mode=mode, uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime),
                            link_target=target)
            else:
                node = Node(path=rel, type=_SPECIAL.get(fmt, "other"), mode=mode, uid=st.st_uid, gid=st.st_gid,
                            mtime=int(st.st_mtime))
                findings.append(PC903.finding(location=node.location(name), key=rel,
                                              message=f"{node.type} special file {rel!r} (recorded, no content)",
                                              evidence={"type": node.type}))
            nodes[rel] = node
    return tree, findings, errors


@hookimpl(trylast=True)
def provcheck_load_input(spec: InputSpec, ctx: Any) -> Artifact | None:
    if spec.type not in (None, "dir", "rootfs"):
        return None
    root = Path(spec.path)
    if not root.is_dir():
        if spec.type is not None:
            raise InputError(f"{spec.path}: not a directory")
        return None
    tree, findings, errors = read_directory(root, root.resolve().name or "/", ctx)
    return Artifact(name=root.resolve().name or "/", role=spec.role, kind="directory", tree=tree,
                    source=spec.text, findings=findings, errors=errors)
