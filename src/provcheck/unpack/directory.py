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

**The tree's identity.** By the same rule, the walk gives the whole tree an ``identity``
(``Tree.identity``): the digest of every path and link target and of every entry's
``lstat`` identity (mode, device, inode, size, mtime_ns, ctime_ns), with the root's key and
the limits. It is unset when any entry is racy or the walk had an error. What runs learnt
about a tree with that identity is kept under ``dir-tree`` (``TreeRecord``): the digests
and heads of the files they asked about (no per-file identity check: the tree's covers
every file) and whole-tree answers (``Tree.answers``: which files start with a magic), so
a warm run reads neither the whole index nor any file's head to find its files. Any
changed, added or removed entry gives another identity, and that run falls back to the
index.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
import os
import stat
import struct
import threading
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
TREE_NAMESPACE = "dir-tree"  # what runs learnt about a tree with one identity (TreeRecord)
RACY_NS = 2_000_000_000  # timestamps this close to the listing are not trusted (coarse clocks, 2 s FAT)
MAX_INDEX_FILES = 250_000  # larger directories keep no index (its JSON would cost more memory than it saves)


def _reporter(errors: list[ToolError], name: str) -> Callable[[str, str], None]:
    return lambda rel, why: errors.append(ToolError(stage="load", artifact=name, path=rel, message=why))


def _same_identity(entry: Any, st: os.stat_result) -> bool:
    """Whether an index entry was recorded for exactly this ``lstat`` (ctime and mtime first:
    they are what changes)."""
    return (type(entry) is list and len(entry) == 7 and entry[4] == st.st_ctime_ns  # noqa: E721
            and entry[3] == st.st_mtime_ns and entry[1] == st.st_ino and entry[2] == st.st_size
            and entry[0] == st.st_dev)


class FileIndex:
    """The file-identity cache of one directory input (see the module docstring). Read
    when a file is first asked about, not before."""

    def __init__(self, cache: Any, root: Path):
        st = os.stat(root)
        self.cache = cache
        self.key = f"{os.path.realpath(root)}\0{st.st_dev}\0{st.st_ino}"
        self.listed_ns = time.time_ns()
        self.files: list[LazyNode] = []  # the walk's file nodes, one per inode
        self._entries: dict[str, list[Any]] | None = None if cache is not None else {}

    @property
    def entries(self) -> dict[str, list[Any]]:
        if self._entries is None:
            got = self.cache.get_json(INDEX_NAMESPACE, self.key, INDEX_VERSION)
            self._entries = got["files"] if isinstance(got, dict) and isinstance(got.get("files"), dict) else {}
        return self._entries

    def known(self, rel: str, st: os.stat_result) -> tuple[str | None, str | None]:
        """(sha256, first bytes as hex) recorded for ``rel`` with exactly this identity, else Nones."""
        e = self.entries.get(rel)
        if not _same_identity(e, st):
            return None, None
        digest, head = e[5], e[6]  # type: ignore[index]
        return (digest if type(digest) is str and len(digest) == 64 else None,  # noqa: E721
                head if type(head) is str and head else None)  # noqa: E721

    def save(self, made: list[HostFile]) -> None:
        """Store what is known now (kept entries and this run's digests and heads) when this
        run learnt something (``made``: the contents files were asked for). Entries of files
        that changed or went are dropped then; until then they stay, never matching."""
        if self.cache is None or len(self.files) > MAX_INDEX_FILES:
            return
        racy = self.listed_ns - RACY_NS
        if not any(((c.sha256 is not None and c.known is None) or (c.first is not None and c.known_head is None))
                   and max(c.key[3], c.key[4]) < racy for c in made):
            return  # nothing new was learnt
        entries = self.entries
        fresh: dict[str, list[Any]] = {}
        for node in self.files:
            rel, content = node.path, node._content
            if content is None:  # not asked about this run: keep its entry while it holds
                e = entries.get(rel)
                if e is not None and _same_identity(e, node.listed_stat):
                    fresh[rel] = e
                continue
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
        if fresh != entries:
            try:
                self.cache.put_json(INDEX_NAMESPACE, self.key, {"files": fresh}, INDEX_VERSION)
            except OSError:
                pass  # an unwritable cache only costs time on the next run


class TreeRecord:
    """What runs learnt about a directory tree with one ``identity`` (see the module docstring):
    the sha256 and first bytes (hex) of the files they hashed or found in the index, and whole-tree answers
    (``vfs.TreeAnswers``). Read on first use; saved when a run learnt something new."""

    def __init__(self, cache: Any, identity: str):
        self.cache, self.identity = cache, identity
        self._files: dict[str, Any] | None = None
        self._answers: dict[str, Any] = {}
        self.changed = False

    @property
    def files(self) -> dict[str, Any]:
        if self._files is None:
            got = self.cache.get_json(TREE_NAMESPACE, self.identity, INDEX_VERSION)
            ok = isinstance(got, dict) and isinstance(got.get("files"), dict) and isinstance(got.get("answers"), dict)
            self._files, self._answers = (got["files"], got["answers"]) if ok else ({}, {})  # type: ignore[index]
        return self._files

    def known(self, rel: str) -> tuple[str | None, str | None] | None:
        """(sha256, first bytes as hex) recorded for ``rel`` (either may be None), None when
        the record has no entry for it."""
        e = self.files.get(rel)
        if type(e) is not list or len(e) != 2:  # noqa: E721
            return None
        digest, head = e
        return (digest if type(digest) is str and len(digest) == 64 else None,  # noqa: E721
                head if type(head) is str and head else None)  # noqa: E721

    def recall(self, question: str) -> list[str] | None:
        self.files  # noqa: B018 (loads the record)
        got = self._answers.get(question)
        return got if type(got) is list and all(type(p) is str for p in got) else None  # noqa: E721

    def keep(self, question: str, paths: list[str]) -> None:
        self.files  # noqa: B018
        if self._answers.get(question) != paths:
            self._answers[question] = paths
            self.changed = True

    def save(self, made: list[HostFile], loaded: set[str]) -> None:
        """Add what this run learnt of its files (``made``) and answers, if anything, and store
        it: the files with a digest, and those the load itself makes (``loaded``: hard-linked
        inodes), so that loading never needs the index; a file only sniffed is left to the
        index (the answers hold what sniffing found)."""
        if self._files is None and not made:
            return  # nothing asked, nothing learnt: not even read
        files = self.files
        for c in made:
            if c.error is not None:
                continue
            digest = c.sha256 or c.known
            if digest is None and c.rel not in loaded:
                continue
            head = c.first.hex() if c.first is not None else c.known_head
            entry = [digest or "", head or ""]
            if files.get(c.rel) != entry:
                files[c.rel] = entry
                self.changed = True
        if self.changed:
            try:
                self.cache.put_json(TREE_NAMESPACE, self.identity, {"files": files, "answers": self._answers},
                                    INDEX_VERSION)
            except OSError:
                pass  # an unwritable cache only costs time on the next run


class Listing:
    """What the walk's file nodes share: makes a node's ``HostFile`` on first use (with what
    the tree's record or the index knows of it), and answers head reads from them without
    making one."""

    def __init__(self, root: str, store: Any, limit: int | None, report: Callable[[str, str], None],
                 index: FileIndex):
        self.root, self.store, self.limit, self.report, self.index = root, store, limit, report, index
        self.made: list[HostFile] = []
        self.record: TreeRecord | None = None  # set when the tree has an identity
        self.loaded: set[str] = set()  # files whose content the load itself makes (hard-linked inodes)
        self._lock = threading.Lock()
        self._entries: dict[str, list[Any]] | None = None

    def make_content(self, node: LazyNode) -> HostFile:
        with self._lock:
            content = node._content
            if content is None:
                rel, st = node.path, node.listed_stat
                got = self.record.known(rel) if self.record is not None else None
                known, head = got if got is not None else self.index.known(rel, st)
                content = node._content = HostFile(f"{self.root}/{rel}", rel, st, self.store, self.limit,
                                                   self.report, known, head)
                self.made.append(content)
            return content

    def known_head(self, node: LazyNode) -> bytes | None:
        record = self.record
        if record is not None:
            got = record.known(node.path)
            if got is not None and got[1] is not None:
                try:
                    return bytes.fromhex(got[1])
                except ValueError:
                    return None
        entries = self._entries
        if entries is None:
            entries = self._entries = self.index.entries
        e = entries.get(node.path)
        if e is None:
            return None
        st = node.listed_stat  # _same_identity, inlined: called for every file a format is sniffed of
        if (type(e) is not list or len(e) != 7 or e[4] != st.st_ctime_ns or e[3] != st.st_mtime_ns  # noqa: E721
                or e[1] != st.st_ino or e[2] != st.st_size or e[0] != st.st_dev):
            return None
        head = e[6]
        if type(head) is not str or not head:  # noqa: E721
            return None
        try:
            return bytes.fromhex(head)
        except ValueError:
            return None

    def save(self) -> None:
        self.index.save(self.made)
        if self.record is not None:
            self.record.save(self.made, self.loaded)


# the identity of one entry: its type and git's index fields (the tree's identity covers every entry)
_entry_identity = operator.attrgetter("st_mode", "st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")
_pack_identity = struct.Struct("=6Q").pack
_mtime_ns, _ctime_ns = operator.attrgetter("st_mtime_ns"), operator.attrgetter("st_ctime_ns")


def tree_identity(key: str, limits: list[int], paths: list[str], links: list[str],
                  stats: list[os.stat_result], listed_ns: int) -> str | None:
    """The digest of a listing (every path, ``links``: "path\\0target" of every symlink, and
    the ``lstat`` of every entry, in path order), the root's ``key`` and the ``limits``;
    None when an entry is racy (changed within ``RACY_NS`` of ``listed_ns``) or a field
    does not fit 64 bits (a time before 1970)."""
    racy = listed_ns - RACY_NS
    if stats and (max(map(_ctime_ns, stats)) >= racy or max(map(_mtime_ns, stats)) >= racy):
        return None
    try:
        fields = b"".join(itertools.starmap(_pack_identity, map(_entry_identity, stats)))
    except struct.error:  # a field below 0 or above 2**64 - 1 (a time before 1970)
        return None
    names = "\0".join(paths).encode("utf-8", "surrogateescape")
    targets = "\0".join(links).encode("utf-8", "surrogateescape")
    h = hashlib.sha256(json.dumps(["dir-tree", INDEX_VERSION, key, limits, len(names), len(targets)]).encode())
    h.update(names)
    h.update(targets)
    h.update(fields)
    return h.hexdigest()


_IFREG, _IFDIR, _IFLNK, _IFMT = stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK, 0o170000
_SETID = stat.S_ISUID | stat.S_ISGID
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_name = operator.attrgetter("name")


def read_directory(root: Path, name: str, ctx: Any) -> tuple[Tree, list, list[ToolError]]:
    """The tree of ``root``: one ``lstat`` per entry (relative to its directory's descriptor),
    a node per entry, and nothing per file beyond that until the file is asked about; with
    the cache on, the tree's identity (``tree_identity``) and its kept record."""
    tree = Tree(ctx.store)
    findings: list = []
    errors: list[ToolError] = []
    index = FileIndex(getattr(ctx, "cache", None), root)
    listing = Listing(os.fspath(root), ctx.store, ctx.limits.max_file_bytes, _reporter(errors, name), index)
    if index.cache is not None:
        ctx.store.at_finish(listing.save)
    stats: list[os.stat_result] = []
    links: list[str] = []
    shared: list[tuple[LazyNode, LazyNode]] = []  # (hard link, the first node of its inode)
    setid: list[tuple[int, LazyNode]] = []  # (place in findings, node) of setuid/setgid files
    complete = _walk(root, name, ctx, tree, listing, findings, errors, stats, links, shared, setid)
    if complete and not errors and index.cache is not None:
        identity = tree_identity(index.key, [ctx.limits.max_files, ctx.limits.max_file_bytes], list(tree.nodes),
                                 links, stats, index.listed_ns)
        if identity is not None:
            tree.identity = identity
            tree.answers = listing.record = TreeRecord(index.cache, identity)
    for node, first in shared:  # one content per inode, made once the record is known
        listing.loaded.add(first.path)
        node._content = listing.make_content(first)
    for i, node in setid:
        mode = node.mode
        findings[i] = PC904.finding(location=node.location(name), key=node.path,
                                    message=f"setuid/setgid file {node.path!r} (mode {mode & 0o7777:04o})",
                                    evidence={"mode": f"{mode & 0o7777:04o}", "uid": node.uid})
    return tree, findings, errors


def _walk(root: Path, name: str, ctx: Any, tree: Tree, listing: Listing, findings: list, errors: list[ToolError],
          stats: list[os.stat_result], links: list[str], shared: list[tuple[LazyNode, LazyNode]],
          setid: list[tuple[int, LazyNode]]) -> bool:
    """List ``root`` into ``tree`` (see ``read_directory``); ``stats`` gets every node's
    ``lstat``, ``links`` every symlink's "path\\0target"; False when a limit stopped it."""
    nodes = tree.nodes
    inodes: dict[tuple[int, int], LazyNode] = {}
    max_files, limit = ctx.limits.max_files, ctx.limits.max_file_bytes
    files = listing.index.files
    listed = LazyNode.listed
    add_stat = stats.append
    budget_files = 0
    stack = [("", os.fspath(root))]
    while stack:
        rel_dir, host_dir = stack.pop()
        try:  # a directory that became a symlink since it was listed is not followed
            fd = os.open(host_dir, _DIR_FLAGS | (os.O_NOFOLLOW if rel_dir else 0))
        except OSError as exc:
            errors.append(ToolError(stage="load", artifact=name, path=rel_dir or ".", message=f"cannot list: {exc.strerror}"))
            continue
        try:
            try:
                with os.scandir(fd) as it:
                    entries = sorted(it, key=_name)
            except OSError as exc:
                errors.append(ToolError(stage="load", artifact=name, path=rel_dir or ".",
                                        message=f"cannot list: {exc.strerror}"))
                continue
            prefix = f"{rel_dir}/" if rel_dir else ""
            for e in entries:
                rel = prefix + e.name
                budget_files += 1
                if budget_files > max_files:
                    errors.append(ToolError(stage="load", artifact=name, path=rel,
                                            message=f"more than {max_files} entries (limit max-files); rest not read"))
                    return False
                try:
                    st = e.stat(follow_symlinks=False)  # fstatat on the directory's descriptor
                except OSError as exc:
                    errors.append(ToolError(stage="load", artifact=name, path=rel, message=f"cannot stat: {exc.strerror}"))
                    continue
                mode = st.st_mode
                fmt = mode & _IFMT
                node: Node
                if fmt == _IFREG:
                    if st.st_size > limit:
                        errors.append(ToolError(stage="load", artifact=name, path=rel,
                                                message=f"cannot read: more than {limit} bytes"))
                        continue
                    if st.st_nlink > 1:
                        first = inodes.get((st.st_dev, st.st_ino))
                        if first is not None:
                            node = listed(rel, HARDLINK, st, listing, None, first.path)
                            shared.append((node, first))  # type: ignore[arg-type]
                        else:
                            node = inodes[(st.st_dev, st.st_ino)] = listed(rel, FILE, st, listing)
                            shared.append((node, node))  # type: ignore[arg-type]
                            files.append(node)
                    else:
                        node = listed(rel, FILE, st, listing)
                        files.append(node)
                    if mode & _SETID:  # its finding names its digest: made after the walk
                        setid.append((len(findings), node))  # type: ignore[arg-type]
                        findings.append(None)
                elif fmt == _IFDIR:
                    node = Node(path=rel, type=DIR, mode=mode, uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime))
                    stack.append((rel, f"{host_dir}/{e.name}"))
                elif fmt == _IFLNK:
                    try:
                        target = os.readlink(e.name, dir_fd=fd)
                    except OSError as exc:
                        errors.append(ToolError(stage="load", artifact=name, path=rel,
                                                message=f"cannot read link: {exc.strerror}"))
                        continue
                    node = Node(path=rel, type=SYMLINK, mode=mode, uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime),
                                link_target=target)
                    links.append(f"{rel}\0{target}")
                else:
                    node = Node(path=rel, type=_SPECIAL.get(fmt, "other"), mode=mode, uid=st.st_uid, gid=st.st_gid,
                                mtime=int(st.st_mtime))
                    findings.append(PC903.finding(location=node.location(name), key=rel,
                                                  message=f"{node.type} special file {rel!r} (recorded, no content)",
                                                  evidence={"type": node.type}))
                nodes[rel] = node
                add_stat(st)
        finally:
            os.close(fd)
    return True


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
