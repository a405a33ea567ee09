"""The virtual file tree: what an artifact contains, never extracted to the host.

* ``BlobStore`` keeps file contents by sha256 under the scan's work area.
* ``Node`` is one entry (file, dir, symlink, hardlink, device, ...), with the layer
  that produced it and, for files a later layer deleted or shadowed, ``hidden_by``.
* ``Tree`` maps normalised POSIX paths (no leading slash) to visible nodes, keeps the
  hidden ones aside, and resolves symlinks inside itself only (chroot semantics).
* ``Artifact`` is one loaded input: its tree, its layers, its metadata.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import posixpath
import re
import stat
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Iterator, Protocol

from .model import Finding, Location, ToolError

if TYPE_CHECKING:
    from .unpack.oci import ImageSource

FILE, DIR, SYMLINK, HARDLINK, CHAR, BLOCK, FIFO, SOCKET, OTHER = (
    "file", "dir", "symlink", "hardlink", "char", "block", "fifo", "socket", "other")

CHUNK = 1 << 20
HEAD_BYTES = 32  # the first bytes of a file the file-identity cache keeps (format sniffing)


class BlobStore:
    """Content-addressed storage: ``put_bytes`` or a ``writer()`` streams bytes in while hashing, ``open`` reads back.

    Identical content is stored once. Small blobs (what fits one read block) are appended
    to per-thread pack files with an in-memory index — creating one host file per small
    file costs far more than decompressing it. Large blobs live in ``root/ab/cdef...``;
    ``path(digest)`` gives a host file for any blob, writing a packed one out on demand.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(exist_ok=True)
        self._known: set[str] = set()
        self._packed: dict[str, tuple[int, int, int]] = {}  # digest -> (pack fd, offset, size)
        # digest -> a host file of a directory input, read in place, and the identity it was hashed with
        self._external: dict[str, tuple[Path, tuple[int, ...]]] = {}
        self._providers: dict[str, _Provider] = {}  # digest -> what fills it in on first use
        self._heads: dict[str, bytes] = {}  # digest -> its first bytes, while the content is not here
        self._local = threading.local()
        self._pack_fds: list[int] = []
        self._lock = threading.Lock()
        self._finishers: list[Callable[[], None]] = []
        self._memory: dict[str, memoryview | bytes] = {}  # digest -> verified bytes held in memory (put_verified)
        # digest -> (read_kept, offset, size): a part of a cache entry, read and verified on first use
        self._kept: dict[str, tuple[Callable[[int, int, str], bytes | None], int, int]] = {}

    def at_finish(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` when the command is done with this store (``finish``), e.g. to save what
        a loader learnt about its inputs in the persistent cache."""
        self._finishers.append(fn)

    def finish(self) -> None:
        """Run the ``at_finish`` callbacks, once each (the command calls it before removing its work area)."""
        while self._finishers:
            self._finishers.pop(0)()

    def _file(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
            raise ValueError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def provide(self, digests: Iterable[str], heads: dict[str, bytes], fill: Callable[[], None],
                kept: dict[str, tuple[int, int]] | None = None,
                read_kept: Callable[[int, int, str], bytes | None] | None = None) -> None:
        """Promise blobs that are not here yet: the first ``open``/``read``/``path`` of one
        of ``digests`` calls ``fill`` (once, for all of them), which puts them in the store;
        ``heads`` answer short reads (``read(digest, limit)``) until then. A digest of
        ``kept`` (digest -> offset, size) is read with ``read_kept(offset, size, digest)``
        instead, which returns the bytes only if their sha256 is the digest (a cache entry's
        part, verified when used, once); when it returns None, ``fill`` provides it."""
        provider = _Provider(fill)
        with self._lock:
            for digest in digests:
                if digest not in self._known:
                    self._providers[digest] = provider
            if kept and read_kept is not None:
                for digest, (offset, size) in kept.items():
                    if digest not in self._known:
                        self._kept[digest] = (read_kept, offset, size)
                        self._providers.setdefault(digest, provider)
            self._heads.update(heads)

    def _materialize(self, sha256: str) -> None:
        if sha256 in self._known:
            return
        kept = self._kept.get(sha256)
        if kept is not None:
            data = kept[0](kept[1], kept[2], sha256)
            if data is not None:
                self.put_verified(sha256, data)
                return
        provider = self._providers.get(sha256)
        if provider is not None:
            provider()

    def path(self, sha256: str) -> Path:
        """A host file with the blob's bytes (read only; packed blobs are written out once)."""
        self._materialize(sha256)
        external = self._external.get(sha256)
        if external is not None:
            with self._open_external(*external):  # still what was hashed
                return external[0]
        dest = self._file(sha256)
        packed = self._packed.get(sha256)
        held = self._memory.get(sha256)
        if (packed is not None or held is not None) and not dest.exists():
            tmp = self._tmp / f"{sha256}.{threading.get_ident()}"
            tmp.write_bytes(held if held is not None else self._pread(packed))  # type: ignore[arg-type]
            dest.parent.mkdir(exist_ok=True)
            os.replace(tmp, dest)
        return dest

    def __contains__(self, sha256: str) -> bool:
        return sha256 in self._known or sha256 in self._kept or self._file(sha256).exists()

    def hash_in_place(self, host: Path, fd: int, limit: int | None = None, keep: bool = False,
                      heads: list[bytes] | None = None) -> tuple[str, int]:
        """Hash a host file of a directory input (opened without following links) from ``fd``.

        With ``keep`` (the caller is about to read the content), a file that fits one read
        block is kept in the store from that very read. Otherwise the file is read in place
        later, after checking that it still has the inode, size, mtime and ctime that were
        hashed (``open`` refuses it otherwise)."""
        h, size = hashlib.sha256(), 0
        first = b""
        while block := os.read(fd, CHUNK):
            if not size:
                first = block
            h.update(block)
            size += len(block)
            if limit is not None and size > limit:
                raise OverflowError(f"more than {limit} bytes")
        digest = h.hexdigest()
        if heads is not None:
            heads.append(first[:HEAD_BYTES])
        if keep and size == len(first):  # read whole in one block: keep exactly those bytes
            self.put_bytes(first)
            return digest, size
        st = os.fstat(fd)
        with self._lock:
            if digest not in self._known:
                self._external[digest] = (host, _identity(st))
                self._known.add(digest)
        return digest, size

    def writer(self) -> "BlobWriter":
        return BlobWriter(self)

    def put_bytes(self, data: bytes | memoryview) -> str:
        """Store a blob held in memory; known content costs one hash, no I/O."""
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._known:
            return digest
        fd = getattr(self._local, "fd", None)
        if fd is None:
            fd = os.open(self.root / f"pack-{os.getpid()}-{id(self):x}-{threading.get_ident()}",
                         os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            self._local.fd, self._local.offset = fd, 0
            with self._lock:
                self._pack_fds.append(fd)
        offset = self._local.offset
        os.write(fd, data)
        self._local.offset = offset + len(data)
        with self._lock:
            self._packed.setdefault(digest, (fd, offset, len(data)))
            self._known.add(digest)
        return digest

    def put_verified(self, sha256: str, data: memoryview | bytes) -> None:
        """Hold a blob whose digest the caller has verified (bytes of a cache entry that
        passed their sha256 check), in memory, without hashing or copying it again."""
        with self._lock:
            if sha256 not in self._known:
                self._memory[sha256] = data
                self._known.add(sha256)

    def _pread(self, packed: tuple[int, int, int]) -> bytes:
        fd, offset, size = packed
        return os.pread(fd, size, offset)

    def close(self) -> None:
        with self._lock:
            for fd in self._pack_fds:
                os.close(fd)
            self._pack_fds.clear()
            self._packed.clear()
            self._memory.clear()
            self._kept.clear()
            self._known.clear()
            self._providers.clear()
            self._heads.clear()

    def open(self, sha256: str) -> BinaryIO:
        self._materialize(sha256)
        held = self._memory.get(sha256)
        if held is not None:
            return io.BytesIO(held)
        packed = self._packed.get(sha256)
        if packed is not None:
            return io.BytesIO(self._pread(packed))
        external = self._external.get(sha256)
        if external is not None:
            return self._open_external(*external)
        return open(self._file(sha256), "rb")

    @staticmethod
    def _open_external(host: Path, identity: tuple[int, ...]) -> BinaryIO:
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        if _identity(os.fstat(fd)) != identity:
            os.close(fd)
            raise OSError(errno.ESTALE, f"{host.name}: changed on disk since it was hashed; not read")
        return os.fdopen(fd, "rb")

    def read(self, sha256: str, limit: int | None = None) -> bytes:
        if sha256 not in self._known:
            head = self._heads.get(sha256)
            if head is not None and limit is not None and limit <= len(head):
                return head[:limit]
            self._materialize(sha256)
        held = self._memory.get(sha256)
        if held is not None:
            return bytes(held if limit is None else held[:limit])
        packed = self._packed.get(sha256)
        if packed is not None:
            fd, offset, size = packed
            return os.pread(fd, size if limit is None else min(size, limit), offset)
        with self.open(sha256) as f:
            return f.read() if limit is None else f.read(limit)

    def _adopt(self, tmp_path: str, sha256: str) -> None:
        dest = self._file(sha256)
        with self._lock:
            if sha256 in self._known or dest.exists():
                os.unlink(tmp_path)
            else:
                dest.parent.mkdir(exist_ok=True)
                os.replace(tmp_path, dest)
            self._known.add(sha256)


class _Provider:
    """Runs ``fill`` once; a failure is raised again (as OSError) to every later reader."""

    def __init__(self, fill: Callable[[], None]):
        self.fill, self.done = fill, False
        self.error: Exception | None = None
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            if not self.done:
                try:
                    self.fill()
                except Exception as exc:
                    self.error = exc
                self.done = True
        if self.error is not None:
            raise OSError(errno.EIO, str(self.error))


_HOST_LOCKS = tuple(threading.Lock() for _ in range(64))


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class HostFile:
    """The content of one host file of a directory input, hashed on first demand, once.

    ``digest()`` opens the file without following links, checks it is still the regular
    file that was listed (device, inode, size, mtime, ctime), and hashes it from that descriptor into the
    store (``BlobStore.hash_in_place``). A failure is reported once through ``report``
    and the file then has no content (``Tree.read`` raises FileNotFoundError).

    ``known`` and ``known_head`` come from the file-identity cache (``unpack.directory``):
    the digest and first bytes (hex) recorded for this very identity by an earlier run. They
    answer ``Tree.known_digest`` and head reads; they never become ``sha256`` (what reports
    print is hashed here). An exact digest that differs from ``known`` is reported."""

    __slots__ = ("host", "rel", "key", "limit", "store", "report", "sha256", "size", "error", "known", "known_head",
                 "first")

    def __init__(self, host: str, rel: str, listed: os.stat_result, store: BlobStore, limit: int | None,
                 report: Callable[[str, str], None], known: str | None = None, known_head: str | None = None):
        self.host, self.rel, self.size = host, rel, listed.st_size
        self.key = (listed.st_dev, listed.st_ino, listed.st_size, listed.st_mtime_ns, listed.st_ctime_ns)
        self.store, self.limit, self.report = store, limit, report  # report(rel, why)
        self.sha256: str | None = None
        self.error: str | None = None
        self.known, self.known_head = known, known_head
        self.first: bytes | None = None  # the first HEAD_BYTES read this run

    @property
    def _lock(self) -> threading.Lock:  # one of a few shared locks (a directory has many files)
        return _HOST_LOCKS[self.key[1] % len(_HOST_LOCKS)]

    @property
    def pending(self) -> bool:
        return self.sha256 is None and self.error is None

    def _open(self) -> int:
        fd = os.open(self.host, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or _identity(st) != self.key:
            os.close(fd)
            raise OSError(errno.ESTALE, "replaced or changed since the directory was listed")
        return fd

    def digest(self, keep: bool = False) -> str | None:
        """The file's sha256 (None when it cannot be read); ``keep``: the caller reads the
        content next, so a small file is kept from the descriptor it was hashed from."""
        with self._lock:
            if self.pending:
                try:
                    fd = self._open()
                    try:
                        heads: list[bytes] = []
                        self.sha256, self.size = self.store.hash_in_place(Path(self.host), fd, self.limit, keep, heads)
                        self.first = heads[0]
                    finally:
                        os.close(fd)
                except (OSError, OverflowError) as exc:
                    self.error = f"cannot read: {exc.strerror if isinstance(exc, OSError) else exc}"
                    self.report(self.rel, self.error)
                if self.known is not None and self.sha256 is not None and self.sha256 != self.known:
                    self.report(self.rel, f"content changed although device, inode, size, mtime and ctime did not "
                                f"(cached sha256 {self.known[:16]}..., now {self.sha256[:16]}...): "
                                f"the file-identity cache is wrong for it; rerun with --no-cache")
                    self.known = self.known_head = None
            return self.sha256

    def head(self, limit: int) -> bytes:
        """The first ``limit`` bytes without hashing the file (to sniff a format); the
        content a detector analyses is always the hashed one (``digest`` first)."""
        cached = self.first
        if cached is None and self.known_head is not None:
            try:
                cached = self.first = bytes.fromhex(self.known_head)
            except ValueError:
                self.known_head = None
        if cached is not None and (limit <= len(cached) or self.size <= len(cached)):
            return cached[:limit]
        fd = self._open()
        try:
            data = os.read(fd, max(limit, HEAD_BYTES))
        finally:
            os.close(fd)
        self.first = data[:HEAD_BYTES]
        return data[:limit]


class BlobWriter:
    """Hash-while-writing into a temp file; ``commit`` moves it to its digest's place."""

    def __init__(self, store: BlobStore):
        self._store = store
        fd, self._tmp = tempfile.mkstemp(dir=store._tmp)
        self._f = os.fdopen(fd, "wb", buffering=0)
        self._h = hashlib.sha256()
        self.size = 0

    def write(self, block: bytes | memoryview) -> None:
        self._h.update(block)
        self._f.write(block)
        self.size += len(block)

    @property
    def hexdigest(self) -> str:
        return self._h.hexdigest()

    def commit(self) -> str:
        self._f.close()
        digest = self._h.hexdigest()
        self._store._adopt(self._tmp, digest)
        return digest

    def abort(self) -> None:
        self._f.close()
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass


def normpath(name: str) -> tuple[str, bool]:
    """Normalise an archive member name to a tree path.

    Returns (path, unsafe): ``unsafe`` is true when the name was absolute or climbed
    above the root with ``..``; the returned path is then clamped inside the tree.
    """
    unsafe = name.startswith("/") or name.startswith("\\")
    split = name.replace("\\", "/").split("/")
    if "" not in split and "." not in split and ".." not in split:  # already normal (the usual case)
        return "/".join(split), unsafe
    parts: list[str] = []
    for part in split:
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            else:
                unsafe = True
            continue
        parts.append(part)
    return "/".join(parts), unsafe


@dataclass(slots=True)
class Node:
    path: str
    type: str
    size: int = 0
    mode: int = 0o644
    sha256: str | None = None
    link_target: str | None = None
    layer: str | None = None
    hidden_by: str | None = None
    uid: int = 0
    gid: int = 0
    mtime: int | None = None
    chain: tuple[str, ...] = ()

    @property
    def is_file(self) -> bool:
        return self.type in (FILE, HARDLINK) and self.sha256 is not None

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    def location(self, artifact: str, **kw: object) -> Location:
        return Location(artifact=artifact, path=self.path, layer=self.layer, chain=self.chain,
                        sha256=self.sha256, **kw)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "type": self.type, "size": self.size, "sha256": self.sha256,
                "mode": f"{self.mode & 0o7777:04o}", "link_target": self.link_target,
                "layer": self.layer, "hidden_by": self.hidden_by}


_NODE_SHA256 = Node.__dict__["sha256"]  # the slot LazyNode keeps a computed digest in
_new_node = object.__new__


class LazyNode(Node):
    """A file of a directory input whose digest is computed on first use (``sha256``),
    from its ``HostFile`` (shared by the hard links of one inode). ``is_file`` holds
    until reading it failed.

    The walk makes no ``HostFile`` per file: ``content`` is made on first use by the
    node's ``source`` (``make_content(node)``, from the ``lstat`` kept in ``listed_stat``),
    so a question that reads few files costs little per file it does not read."""

    __slots__ = ("_content", "listed_stat", "source")
    _content: HostFile | None
    listed_stat: os.stat_result
    source: ContentSource

    @property
    def content(self) -> HostFile:
        content = self._content
        if content is None:
            content = self.source.make_content(self)
        return content

    @content.setter
    def content(self, value: HostFile) -> None:
        self._content = value

    @property  # type: ignore[override]
    def sha256(self) -> str | None:
        digest = _NODE_SHA256.__get__(self, Node)
        if digest is None:
            content = self.content
            digest = content.digest()
            if digest is not None:
                _NODE_SHA256.__set__(self, digest)
                self.size = content.size
        return digest

    @sha256.setter
    def sha256(self, value: str | None) -> None:
        _NODE_SHA256.__set__(self, value)

    @property
    def is_file(self) -> bool:
        content = self._content
        return self.type in (FILE, HARDLINK) and (content is None or content.error is None)

    @classmethod
    def listed(cls, path: str, type: str, st: os.stat_result, source: ContentSource,
               content: HostFile | None = None, link_target: str | None = None) -> "LazyNode":
        """The node of a directory input's file from its ``lstat`` (the walk's fast path:
        a directory of many files makes many nodes); ``content`` when already made (hard links)."""
        n = _new_node(cls)
        n.path, n.type, n.size, n.mode, n.link_target = path, type, st.st_size, st.st_mode, link_target
        n.layer = n.hidden_by = None
        n.uid, n.gid, n.mtime, n.chain = st.st_uid, st.st_gid, int(st.st_mtime), ()
        n._content, n.listed_stat, n.source = content, st, source
        _NODE_SHA256.__set__(n, None)
        return n

    @property
    def pending(self) -> bool:
        if _NODE_SHA256.__get__(self, Node) is not None:
            return False
        content = self._content
        return content is None or content.pending


class ContentSource(Protocol):
    """Makes a directory input's ``HostFile`` for a ``LazyNode`` on first use (``unpack.directory``)."""

    def make_content(self, node: LazyNode) -> HostFile: ...

    def known_head(self, node: LazyNode) -> bytes | None:
        """The first bytes recorded for the node's exact identity, without making its content."""


class TreeAnswers(Protocol):
    """Answers about a whole tree, kept across runs by the tree's ``identity`` (a directory
    input's loader provides them: ``unpack.directory.TreeRecord``). A question is a string
    such as ``starting_with:7f454c46``; an answer is a list of tree paths."""

    def recall(self, question: str) -> list[str] | None: ...

    def keep(self, question: str, paths: list[str]) -> None: ...


class Tree:
    """A file tree: visible nodes by path, plus hidden ones (deleted or shadowed by a layer)."""

    MAX_LINKS = 40

    def __init__(self, store: BlobStore, nodes: Iterable[Node] = (), hidden: Iterable[Node] = ()):
        self.store = store
        self.nodes: dict[str, Node] = {}
        for n in nodes:
            self.nodes[n.path] = n
        self.hidden: list[Node] = list(hidden)
        self.findings: list[Finding] = []   # engine findings of a nested unpack
        self.errors: list[ToolError] = []
        # a digest that fixes every node and content of this tree (an image's verified layers and
        # the limits; a directory's listing with every file's identity), set by its loader;
        # results derived from the whole tree may be cached by it
        self.identity: str | None = None
        self.answers: TreeAnswers | None = None  # whole-tree answers kept by the identity, when the loader keeps them

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, path: str) -> bool:
        return path.strip("/") in self.nodes

    def get(self, path: str) -> Node | None:
        return self.nodes.get(path.strip("/"))

    def add_parent_dirs(self) -> None:
        """Directory nodes for parents no member named (archives and layers may omit them),
        attributed to the layer of the entry that needed them."""
        nodes = self.nodes
        for path in list(nodes):
            parent = path.rpartition("/")[0]  # tree paths are normalised: posixpath.dirname
            while parent and parent not in nodes:
                nodes[parent] = Node(path=parent, type=DIR, mode=0o755, layer=nodes[path].layer)
                parent = parent.rpartition("/")[0]

    def walk(self) -> Iterator[Node]:
        """Visible nodes in path order."""
        for path in sorted(self.nodes):
            yield self.nodes[path]

    def files(self) -> Iterator[Node]:
        return (n for n in self.walk() if n.is_file)

    def glob(self, pattern: str) -> Iterator[Node]:
        """fnmatch over whole paths; ``**/`` also matches zero directories."""
        match = glob_regex(pattern).match
        # the longest run of the pattern without wildcards is in every path it matches ("**/" may be empty)
        required = max(_WILDCARDS.split(pattern.strip("/").replace("**/", "*")), key=len)
        nodes = self.nodes
        return (nodes[p] for p in sorted(p for p in nodes if required in p and match(p)))  # sort the matches only

    def resolve(self, path: str, follow_last: bool = True) -> Node | None:
        """Resolve symlinks inside the tree, chroot-style; None when missing or looping."""
        path, _ = normpath(path)
        nodes = self.nodes
        hops = 0
        cur = ""  # the resolved part, as a tree path
        todo = path.split("/") if path else []
        todo.reverse()  # the parts still to walk, the next one last
        while todo:
            part = todo.pop()
            nxt = f"{cur}/{part}" if cur else part
            node = nodes.get(nxt)
            if node is None:
                return None
            if node.type == SYMLINK and (todo or follow_last):
                hops += 1
                if hops > self.MAX_LINKS:
                    return None
                target = node.link_target or ""
                newpath, _ = normpath(f"{cur}/{target}" if cur and not target.startswith("/") else target)
                cur = ""
                if newpath:
                    todo.extend(reversed(newpath.split("/")))
                continue
            cur = nxt
        return nodes.get(cur) if cur else Node(path="", type=DIR)

    def realpath(self, path: str) -> str | None:
        node = self.resolve(path)
        return None if node is None else node.path

    def open(self, node: Node | str) -> BinaryIO:
        return self.store.open(self._digest(node, keep=True))

    def read(self, node: Node | str, limit: int | None = None) -> bytes:
        """The file's bytes (at most ``limit``). A head read of a directory input's file not
        hashed yet reads the host file directly and leaves hashing to a full read."""
        if limit is not None and type(node) is LazyNode:  # the sniffing fast path (every file of a tree)
            content = node._content
            if content is None:  # not asked for yet: the file-identity cache's head, else a head read
                head = node.source.known_head(node)
                if head is not None and (limit <= len(head) or node.size <= len(head)):
                    return head[:limit]
                content = node.content
            if content.sha256 is None and content.error is None and _NODE_SHA256.__get__(node, Node) is None:
                return content.head(limit)
        if type(node) is Node and node.type == FILE and node.sha256 is not None:  # an image's or archive's file
            return self.store.read(node.sha256, limit)
        n = self._file(node)
        if limit is not None and isinstance(n, LazyNode) and n.pending:
            return n.content.head(limit)
        return self.store.read(self._digest(n, keep=True), limit)

    def starting_with(self, magic: bytes) -> list[Node]:
        """The visible files whose content starts with ``magic`` (format sniffing over a whole
        tree), and those whose first bytes cannot be read (the caller's parser reports why).
        A directory input's files answer from the file-identity cache when it knows their
        identity, without being opened; a tree with kept ``answers`` (a directory input whose
        identity an earlier run saw) answers from them without looking at any file."""
        n = len(magic)
        answers = self.answers
        question = f"starting_with:{magic.hex()}"
        if answers is not None:
            paths = answers.recall(question)
            if paths is not None:
                nodes = self.nodes
                kept = [nodes.get(p) for p in paths]
                if None not in kept:
                    return kept  # type: ignore[return-value]
        out: list[Node] = []
        complete = True  # every file's first bytes were read: an answer that may be kept
        for node in self.nodes.values():
            if node.size < n or (node.type != FILE and node.type != HARDLINK):
                continue
            if type(node) is LazyNode and node._content is None:
                head = node.source.known_head(node)
                if head is not None and len(head) >= n:
                    if head.startswith(magic):
                        out.append(node)
                    continue
            if not node.is_file:
                complete = False
                continue
            try:
                if self.read(node, n) == magic:
                    out.append(node)
            except (OSError, ValueError):
                complete = False
                out.append(node)
        if answers is not None and complete:
            answers.keep(question, [node.path for node in out])
        return out

    def known_digest(self, node: Node) -> str | None:
        """The file's sha256 when it is known without reading the file: already hashed, or
        recorded by the file-identity cache of a directory input for the same device, inode,
        size, mtime and ctime (git's index rule; see ``unpack.directory``). For keying
        caches of derived results; what a report prints is ``node.sha256`` (exact). None
        when unknown (``--no-cache``, a new or changed file)."""
        if isinstance(node, LazyNode):
            done = _NODE_SHA256.__get__(node, Node)
            if done is not None:
                return done  # type: ignore[no-any-return]
            content = node.content
            return content.sha256 or (content.known if content.error is None else None)
        return node.sha256

    def host_path(self, node: Node | str) -> Path:
        """The blob's path in the work area, for tools that need a file name. Read only."""
        return self.store.path(self._digest(node))

    def _digest(self, node: Node | str, keep: bool = False) -> str:
        n = self._file(node)
        if keep and isinstance(n, LazyNode) and n.pending:  # first read: hash from the descriptor it reads
            n.content.digest(keep=True)
        if n.sha256 is None:  # a file whose content was not kept (a limit, an unreadable member)
            raise FileNotFoundError(f"{n.path}: content not stored")
        return n.sha256

    def _file(self, node: Node | str) -> Node:
        n = self.resolve(node) if isinstance(node, str) else node
        if n is not None and n.type == SYMLINK:
            n = self.resolve(n.path)
        if n is None or not n.is_file:
            raise FileNotFoundError(node if isinstance(node, str) else node.path)
        return n


_WILDCARDS = re.compile(r"\*|\?|\[.[^]]*\]")  # as glob_regex reads them: a class is "[", a character, up to "]"


def glob_regex(pattern: str) -> re.Pattern:
    """Glob over whole POSIX paths: ``*`` and ``?`` stay in one directory, ``**/`` is any
    number of directories (also none), ``[...]`` is a character class (``[!...]`` negated).

    Patterns may come from hostile inputs (``.gitattributes``): every wildcard but the last
    takes its shortest match inside an atomic lookahead, as CPython's ``fnmatch`` does, so
    ``*a*a*a*a*b`` cannot backtrack exponentially."""
    pattern = pattern.strip("/")
    tokens: list[tuple[str, str]] = []  # ("star", regex) or ("fixed", regex)
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            tokens.append(("star", "(?:.*/)?"))
            i += 3
        elif pattern.startswith("**", i):
            tokens.append(("star", ".*"))
            i += 2
        elif pattern[i] == "*":
            tokens.append(("star", "[^/]*"))
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1:end]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            tokens.append(("fixed", "[" + ("^" if neg else "") + body.replace("\\", "\\\\").replace("/", "") + "]"))
            i = end + 1
        else:
            tokens.append(("fixed", "[^/]" if pattern[i] == "?" else re.escape(pattern[i])))
            i += 1
    last_star = max((k for k, (kind, _) in enumerate(tokens) if kind == "star"), default=-1)
    out: list[str] = []
    k = 0
    while k < len(tokens):
        kind, rx = tokens[k]
        if kind == "star" and k < last_star and tokens[k + 1][0] == "fixed":
            fixed = []
            k += 1
            while k < len(tokens) and tokens[k][0] == "fixed":
                fixed.append(tokens[k][1])
                k += 1
            lazy = rx.replace("*", "*?") if rx != "(?:.*/)?" else "(?:.*?/)?"
            group = f"g{len(out)}"
            out.append(f"(?=(?P<{group}>{lazy}{''.join(fixed)}))(?P={group})")
            continue
        out.append(rx)
        k += 1
    return re.compile("".join(out) + r"\Z")


@dataclass(slots=True)
class Layer:
    digest: str
    media_type: str = ""
    size: int | None = None
    diff_id: str | None = None
    created_by: str | None = None
    index: int = 0


@dataclass
class Artifact:
    """One loaded input.

    ``name`` is how reports refer to it (stable across machines: a file name, an image
    reference, ``repo@ref``); ``role`` says what it is for ("target", "source", ...);
    ``kind`` is what it was read as ("directory", "archive", "image", "git").
    ``metadata["path"]`` is the input's host path (read it, never write it); archives also
    carry their ``sha256``, images their ``digest``, git trees their ``commit``.
    ``findings`` are engine findings raised while loading (PC9xx), ``errors`` what could
    not be read. ``metadata`` is kind-specific (image config and manifest digest, git
    commit, ...).
    """

    name: str
    role: str
    kind: str
    tree: Tree
    source: str = ""
    layers: list[Layer] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    errors: list[ToolError] = field(default_factory=list)
    layout: ImageSource | None = None  # images: the layout's files (``read_blob(digest)``), for attachments

    def location(self, path: str = "", **kw: object) -> Location:
        node = self.tree.nodes.get(path) if path else None
        if node is not None:
            return node.location(self.name, **kw)
        return Location(artifact=self.name, path=path, **kw)  # type: ignore[arg-type]

    def summary(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "role": self.role, "kind": self.kind,
                             "files": sum(1 for n in self.tree.nodes.values() if n.is_file)}
        if self.layers:
            d["layers"] = [{"digest": l.digest, "media_type": l.media_type, "size": l.size}
                           for l in self.layers]
        for k in ("digest", "manifest_digest", "config_digest", "platform", "commit", "ref", "sha256"):
            if k in self.metadata:
                d[k] = self.metadata[k]
        return d
