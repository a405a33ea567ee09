"""The persistent cache every command and process shares: content-addressed, verified, bounded.

``Cache(root)`` keeps entries under ``root/entries/NAMESPACE/ab/KEY`` (``root`` is
``Config.cache_root()``: ``$XDG_CACHE_HOME/provcheck`` by default). An entry is one file:
a header line (JSON: namespace, key, version, payload size and sha256) and the payload.
What must stay a directory tree (the release plugin's unpacked toolchains, bound into a
sandbox) lives under ``root/dirs/NAME`` (``Cache.directory``): counted by ``info`` and by
the size bound, removed by ``clear``; ``prune`` evicts the units its owner declares
(``directory(name, units=...)``, e.g. one unpacked toolchain), least recently used first
with the entries, never one in use (its lock held, or used within ``UNIT_GRACE``).
Nothing else is written under ``root``.

``FileResults`` keeps per-file results (a parser's facts, a detector's judgement) keyed by
the file's content digest, in one entry per group of files (an image layer, or an
artifact), so a warm run reads a few entries, not one per file.

* Writes go to a temp file in the entry's directory and are renamed into place, so a
  reader sees a whole entry or none; a killed writer leaves only a temp file, which
  ``prune`` removes.
* Every read checks the header against the namespace, key and version asked for and the
  payload against its size and sha256: a truncated or changed entry is deleted and the
  caller rebuilds it; nothing unverified is returned. An entry of parts (``put_parts``:
  a head and content-addressed parts, for large entries of which a run reads little) has
  its head and length checked on open and each part checked by its sha256 when read.
* ``prune`` (after each command that wrote, and ``provcheck cache prune``) evicts the least
  recently used entries until the cache fits ``max_bytes``; reads mark use with the mtime.
  Eviction and clearing take an exclusive ``flock`` on ``root/lock``; writers take it shared.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Protocol, Sequence

DEFAULT_MAX_BYTES = 4 << 30
UNITS_FILE = ".units"  # in ``dirs/NAME``: the unit globs its owner declared (``Cache.directory``)
UNIT_GRACE = 15 * 60   # seconds: a directory unit used more recently is not evicted
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEADER_MAX = 4096


@dataclass(frozen=True)
class CacheInfo:
    root: Path
    entries: int
    bytes: int
    max_bytes: int
    namespaces: dict[str, tuple[int, int]]  # namespace -> (entries, bytes)
    directories: dict[str, tuple[int, int]] = field(default_factory=dict)  # ``dirs/NAME`` -> (files, bytes)
    units: dict[str, list[str]] = field(default_factory=dict)  # ``dirs/NAME`` -> what prune may evict (globs)


class Cache:
    """get/put of bytes by (namespace, key, version); see the module docstring."""

    def __init__(self, root: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.written = 0  # bytes this process wrote (prune is due when > 0)
        self.dropped: list[str] = []  # entries found damaged and deleted, for the caller's report

    def _path(self, namespace: str, key: str) -> Path:
        if not _NAME.fullmatch(namespace):
            raise ValueError(f"bad cache namespace {namespace!r}")
        name = hashlib.sha256(key.encode()).hexdigest()
        return self.root / "entries" / namespace / name[:2] / name[2:]

    def get(self, namespace: str, key: str, version: str = "") -> bytes | None:
        """The payload stored for (namespace, key, version), verified; None when absent or damaged."""
        path = self._path(namespace, key)
        f = self._open(path)
        if f is None:
            return None
        try:
            with f:
                header_line = f.readline(_HEADER_MAX)
                payload = f.read()
        except OSError as exc:
            self._drop(path, f"unreadable ({exc.strerror})")
            return None
        try:
            header = json.loads(header_line)
            ok = (isinstance(header, dict) and header.get("namespace") == namespace and header.get("key") == key
                  and header.get("size") == len(payload) and header.get("sha256") == hashlib.sha256(payload).hexdigest())
        except ValueError:
            ok = False
        if not ok:
            self._drop(path, "damaged (header or digest does not match)")
            return None
        if header.get("version") != version:
            return None  # another version's entry: the next put replaces it
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used, for LRU eviction
        return payload

    def has(self, namespace: str, key: str) -> bool:
        """Whether an entry is stored (unverified: ``get`` checks it)."""
        return self._path(namespace, key).is_file()

    def put(self, namespace: str, key: str, payload: bytes, version: str = "") -> None:
        """Store ``payload`` atomically (temp file + rename); concurrent writers of one key
        write the same content-addressed result, the last rename wins."""
        path = self._path(namespace, key)
        header = json.dumps({"namespace": namespace, "key": key, "version": version, "size": len(payload),
                             "sha256": hashlib.sha256(payload).hexdigest()}, separators=(",", ":"))
        self._write(path, [header.encode() + b"\n", payload])
        self.written += len(payload)

    def _write(self, path: Path, chunks: list[bytes | memoryview]) -> None:
        with self._lock(fcntl.LOCK_SH):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    for chunk in chunks:
                        f.write(chunk)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    def put_parts(self, namespace: str, key: str, head: bytes, parts: Iterable[bytes | memoryview],
                  version: str = "") -> None:
        """Store an entry of ``head`` (verified whole on every open) and content-addressed
        ``parts`` (verified one by one when read: ``Parts.read`` takes the part's sha256,
        which the caller keeps in ``head``). For large entries of which a run reads little."""
        blobs = list(parts)
        size = len(head) + sum(len(b) for b in blobs)
        header = json.dumps({"namespace": namespace, "key": key, "version": version, "size": size,
                             "sha256": hashlib.sha256(head).hexdigest(), "head": len(head)}, separators=(",", ":"))
        self._write(self._path(namespace, key), [header.encode() + b"\n", head, *blobs])
        self.written += size

    def open_parts(self, namespace: str, key: str, version: str = "") -> "Parts | None":
        """The entry ``put_parts`` stored: its head verified (and the file's length checked),
        its parts read and verified on demand. None when absent, damaged or another version."""
        path = self._path(namespace, key)
        f = self._open(path)
        if f is None:
            return None
        try:
            header_line = f.readline(_HEADER_MAX)
            try:
                header = json.loads(header_line)
                ok = isinstance(header, dict) and header.get("namespace") == namespace and header.get("key") == key
            except ValueError:
                ok = False
            if ok and header.get("version") != version:
                f.close()
                return None  # another version's entry: the next put replaces it
            head_size = header.get("head") if ok else None
            if isinstance(head_size, int) and isinstance(header.get("size"), int) \
                    and 0 <= head_size <= header["size"] == os.fstat(f.fileno()).st_size - len(header_line):
                head = f.read(head_size)
            else:
                head_size, head = 0, None
            if head is None or hashlib.sha256(head).hexdigest() != header.get("sha256"):
                f.close()
                self._drop(path, "damaged (header, length or digest does not match)")
                return None
        except OSError as exc:
            f.close()
            self._drop(path, f"unreadable ({exc.strerror})")
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used, for LRU eviction
        return Parts(self, path, f, head, len(header_line) + head_size)

    def get_json(self, namespace: str, key: str, version: str = "") -> object | None:
        data = self.get(namespace, key, version)
        return None if data is None else json.loads(data)

    def put_json(self, namespace: str, key: str, value: object, version: str = "") -> None:
        self.put(namespace, key, json.dumps(value, separators=(",", ":")).encode(), version)

    def _open(self, path: Path) -> BinaryIO | None:
        """An entry's file, open for reading; None when absent, or unreadable (then dropped)."""
        try:
            return open(path, "rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._drop(path, f"unreadable ({exc.strerror})")
            return None

    def _drop(self, path: Path, why: str) -> None:
        with contextlib.suppress(OSError):
            path.unlink()
        self.dropped.append(f"{path.relative_to(self.root)}: {why}; dropped")

    @contextlib.contextmanager
    def _lock(self, mode: int) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def _entries(self) -> Iterator[tuple[str, Path, os.stat_result]]:
        base = self.root / "entries"
        if not base.is_dir():
            return
        for ns in sorted(os.scandir(base), key=lambda e: e.name):
            if not ns.is_dir(follow_symlinks=False):
                continue
            for sub in os.scandir(ns.path):
                if not sub.is_dir(follow_symlinks=False):
                    continue
                for e in os.scandir(sub.path):
                    with contextlib.suppress(OSError):
                        yield ns.name, Path(e.path), e.stat(follow_symlinks=False)

    def directory(self, name: str, units: Sequence[str] = ()) -> Path:
        """``root/dirs/NAME``, created: for what must be a directory tree across runs (files
        bound into a sandbox). Results that are bytes belong in entries (verified, bounded).
        Write into it atomically (temp name + rename) under your own lock; ``clear`` removes it.

        ``units``: glob patterns (relative to the area, e.g. ``"trees/*"``) of what ``prune``
        may evict whole, least recently used first: a unit's mtime is its last use (touch it,
        ``os.utime``, when a run reuses it); a unit ``X`` with a lock file ``X.lock`` beside it
        is evicted only while ``prune`` can take that lock; a unit used within ``UNIT_GRACE``
        seconds is never evicted (a running command may have it bound into a sandbox). An area
        without units is counted, never evicted (``cache info`` says so)."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"bad cache directory name {name!r}")
        path = self.root / "dirs" / name
        path.mkdir(parents=True, exist_ok=True)
        declared = json.dumps(sorted(units)).encode()
        marker = path / UNITS_FILE
        with contextlib.suppress(OSError):
            if units and (not marker.is_file() or marker.read_bytes() != declared):
                self._write(marker, [declared])
        return path

    def _units(self, area: Path) -> list[str] | None:
        try:
            got = json.loads((area / UNITS_FILE).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(got, list) or not all(isinstance(u, str) and ".." not in u.split("/") and
                                                not u.startswith("/") for u in got):
            return None
        return got

    def _directory_units(self) -> Iterator[tuple[float, int, Path]]:
        """(mtime, bytes, path) of every evictable unit of every directory area."""
        base = self.root / "dirs"
        if not base.is_dir():
            return
        for area in sorted(os.scandir(base), key=lambda e: e.name):
            if not area.is_dir(follow_symlinks=False):
                continue
            real = os.path.realpath(area.path)
            for pattern in self._units(Path(area.path)) or ():
                for unit in sorted(Path(area.path).glob(pattern)):
                    name = unit.name
                    if name.startswith(".") or name.endswith(".lock") or unit.is_symlink():
                        continue  # in progress (an owner's temp names), lock files, links
                    expected = os.path.normpath(os.path.join(real, os.path.relpath(unit.parent, area.path)))
                    if os.path.realpath(unit.parent) != expected:
                        continue  # reached through a symlinked directory: never evict outside the area
                    with contextlib.suppress(OSError):
                        st = unit.lstat()
                        size = _tree_size(unit)[1] if unit.is_dir() else st.st_size
                        yield st.st_mtime, size, unit

    def info(self) -> CacheInfo:
        spaces: dict[str, tuple[int, int]] = {}
        for ns, path, st in self._entries():
            if not path.name.startswith(".tmp-"):
                n, b = spaces.get(ns, (0, 0))
                spaces[ns] = (n + 1, b + st.st_size)
        dirs: dict[str, tuple[int, int]] = {}
        units: dict[str, list[str]] = {}
        base = self.root / "dirs"
        if base.is_dir():
            for d in sorted(os.scandir(base), key=lambda e: e.name):
                if d.is_dir(follow_symlinks=False):
                    dirs[d.name] = _tree_size(Path(d.path))
                    units[d.name] = self._units(Path(d.path)) or []
        return CacheInfo(self.root, sum(n for n, _ in spaces.values()), sum(b for _, b in spaces.values()),
                         self.max_bytes, spaces, dirs, units)

    def prune(self, max_bytes: int | None = None) -> tuple[int, int]:
        """Evict the least recently used entries and directory units (``directory(units=)``)
        until the cache, directories included, fits ``max_bytes``; remove temp files (a writer
        holds the lock shared, so under the exclusive lock every temp file is a killed
        writer's). Returns (entries and units removed, bytes freed)."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        removed = freed = 0
        with self._lock(fcntl.LOCK_EX):
            live: list[tuple[float, int, Path, bool]] = []  # (last use, bytes, path, is a directory unit)
            for _ns, path, st in self._entries():
                if path.name.startswith(".tmp-"):
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed, freed = removed + 1, freed + st.st_size
                else:
                    live.append((st.st_mtime, st.st_size, path, False))
            total = sum(size for _, size, _, _ in live)
            base = self.root / "dirs"
            if base.is_dir():
                total += sum(_tree_size(Path(d.path))[1] for d in os.scandir(base) if d.is_dir(follow_symlinks=False))
                recent = time.time() - UNIT_GRACE
                live += [(mtime, size, path, True) for mtime, size, path in self._directory_units() if mtime < recent]
            for _mtime, size, path, unit in sorted(live):
                if total <= limit:
                    break
                if unit and not _evict_unit(path):
                    continue
                if not unit:
                    try:
                        path.unlink()
                    except OSError:
                        continue
                removed, freed, total = removed + 1, freed + size, total - size
        return removed, freed

    def clear(self) -> None:
        """Remove every entry and every ``directory``."""
        with self._lock(fcntl.LOCK_EX):
            shutil.rmtree(self.root / "entries", ignore_errors=True)
            _rmtree_writable(self.root / "dirs")


class Parts:
    """An open ``put_parts`` entry: ``head`` (verified) and ``read`` of one part by offset,
    size and sha256. A part whose bytes do not match drops the whole entry (``Cache.dropped``
    says so; the caller rebuilds it) and reads as None; the file stays open until ``close``
    (a concurrent replace or prune of the entry does not disturb this reader)."""

    def __init__(self, cache: Cache, path: Path, f: BinaryIO, head: bytes, body: int):
        self.cache, self.path, self.head = cache, path, head
        self._f, self._body = f, body
        self.damaged = False
        self.read_bytes = 0  # part bytes read and verified so far

    def read(self, offset: int, size: int, sha256: str) -> bytes | None:
        """The part at ``offset`` (from the end of the head) if its sha256 matches, else None."""
        try:
            data = os.pread(self._f.fileno(), size, self._body + offset) if offset >= 0 and size >= 0 else b""
        except (OSError, ValueError):  # closed, or unreadable
            data = b""
        if len(data) == size and hashlib.sha256(data).hexdigest() == sha256:
            self.read_bytes += size
            return data
        if not self.damaged and not self._f.closed:
            self.damaged = True
            with contextlib.suppress(OSError):  # not an entry another process has written since
                if os.stat(self.path).st_ino != os.fstat(self._f.fileno()).st_ino:
                    return None
            self.cache._drop(self.path, f"damaged (a part's sha256 {sha256[:16]}... does not match)")
        return None

    def close(self) -> None:
        self._f.close()


def _evict_unit(unit: Path) -> bool:
    """Remove a directory unit (renamed aside first, so its owner never sees half of it),
    under its lock file when it has one; False when the lock is held (in use) or it cannot go."""
    lock = unit.with_name(unit.name + ".lock")
    fd = None
    try:
        if lock.is_file():
            fd = os.open(lock, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        trash = unit.with_name(f".trash-{unit.name}-{os.getpid()}")
        os.rename(unit, trash)
    except OSError:
        return False
    finally:
        if fd is not None:
            os.close(fd)
    if trash.is_dir():
        _rmtree_writable(trash)
    else:
        with contextlib.suppress(OSError):
            trash.unlink()
    return True


def _tree_size(path: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _dirs, names in os.walk(path):
        for n in names:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, n))
                files, size = files + 1, size + st.st_size
    return files, size


def _rmtree_writable(path: Path) -> None:
    """rmtree that also removes read-only directories (unpacked packages have some)."""
    def retry(func: Any, p: str, _exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            if os.path.isdir(p) and not os.path.islink(p):
                os.chmod(p, 0o700)
            func(p)
    if path.is_dir():
        shutil.rmtree(path, onerror=retry)


class _FileNode(Protocol):
    @property
    def sha256(self) -> str | None: ...
    @property
    def layer(self) -> str | None: ...


RESULTS_PREFIX = "results-"  # FileResults of NAME are in namespace results-NAME
JSONValue = dict[str, "JSONValue"] | list["JSONValue"] | str | int | float | bool | None


class FileResults:
    """Per-file results of one computation, by the file's content digest.

    ``name`` and ``version`` say what computed them: a value is only ever served to the same
    name and version, so the version must change whenever anything the computation depends on
    does (code, options, rules). ``get(node)``/``put(node, value)`` take any node with a
    ``sha256`` (and ``layer``); values are JSON-able (never pickled: the cache must not be a
    way to run code). ``part`` tells apart several results per file (a cheap and a deep pass).

    Values are stored per group of files: the node's image layer (shared by every image built
    on it), else ``group`` (e.g. the artifact's name). A group's entry is read on the first
    ``get`` of one of its files and written by ``flush`` when something new was put: for a
    layer, everything known of it; otherwise only the values this run used, so a changed
    directory does not keep its old files' values. The group is only a locality hint: every
    value is looked up by content digest, so a stale group never serves a wrong result.
    With ``cache=None`` (``--no-cache``) nothing is read or written."""

    def __init__(self, cache: Cache | None, name: str, version: str, group: str = ""):
        if not _NAME.fullmatch(RESULTS_PREFIX + name):
            raise ValueError(f"bad result name {name!r}")
        self.namespace = RESULTS_PREFIX + name
        self.cache, self.name, self.version, self.group = cache, name, version, group
        self._groups: dict[str, dict[str, JSONValue]] = {}  # group -> {sha/part: value}
        self._used: dict[str, set[str]] = {}
        self._dirty: set[str] = set()
        self.hits = self.misses = 0

    def _key(self, group: str) -> str:
        return json.dumps([self.version, group], separators=(",", ":"))

    def _load(self, group: str) -> dict[str, JSONValue]:
        values = self._groups.get(group)
        if values is None:
            got = None
            if self.cache is not None:
                with contextlib.suppress(ValueError):
                    got = self.cache.get_json(self.namespace, self._key(group))
            values = self._groups[group] = got if isinstance(got, dict) else {}
            self._used[group] = set()
        return values

    def _where(self, node: _FileNode, part: str, digest: str | None) -> tuple[str, str] | None:
        sha = digest or node.sha256
        if not sha:
            return None
        layer = node.layer
        return (f"layer:{layer}" if layer else f"group:{self.group}"), f"{sha}/{part}"

    def get(self, node: _FileNode, part: str = "", digest: str | None = None) -> JSONValue:
        """The value put for this content (and part) by this name and version, or None.
        ``digest``: the node's sha256 when known without ``node.sha256`` (which may hash)."""
        sha = digest or node.sha256  # inline of _where: called once per file and pass on warm runs
        if not sha or self.cache is None:
            return None
        layer = node.layer
        group = f"layer:{layer}" if layer else f"group:{self.group}"
        values = self._groups.get(group)
        if values is None:
            values = self._load(group)
        key = f"{sha}/{part}"
        value = values.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        if not layer:  # a layer's entry keeps all it knows; an artifact's only what was used
            self._used[group].add(key)
        return value

    def put(self, node: _FileNode, value: JSONValue, part: str = "", digest: str | None = None) -> None:
        where = self._where(node, part, digest)
        if where is None or self.cache is None or value is None:
            return
        group, key = where
        self._load(group)[key] = value
        self._used[group].add(key)
        self._dirty.add(group)

    def flush(self) -> None:
        """Write the groups that got new values (atomically, verified on read like every entry)."""
        if self.cache is None:
            return
        for group in sorted(self._dirty):
            values = self._groups[group]
            if not group.startswith("layer:"):
                values = {k: v for k, v in values.items() if k in self._used[group]}
            self.cache.put_json(self.namespace, self._key(group), values)
        self._dirty.clear()
