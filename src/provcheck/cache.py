"""The persistent cache every command and process shares: content-addressed, verified, bounded.

``Cache(root)`` keeps entries under ``root/entries/NAMESPACE/ab/KEY`` (``root`` is
``Config.cache_root()``: ``$XDG_CACHE_HOME/provcheck`` by default, shared with plugins'
own directories such as the release plugin's toolchains). An entry is one file: a header
line (JSON: namespace, key, version, payload size and sha256) and the payload.

* Writes go to a temp file in the entry's directory and are renamed into place, so a
  reader sees a whole entry or none; a killed writer leaves only a temp file, which
  ``prune`` removes.
* Every read checks the header against the namespace, key and version asked for and the
  payload against its size and sha256: a truncated or changed entry is deleted and the
  caller rebuilds it; nothing unverified is returned.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

DEFAULT_MAX_BYTES = 4 << 30
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEADER_MAX = 4096


@dataclass(frozen=True)
class CacheInfo:
    root: Path
    entries: int
    bytes: int
    max_bytes: int
    namespaces: dict[str, tuple[int, int]]  # namespace -> (entries, bytes)


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
        try:
            with open(path, "rb") as f:
                header_line = f.readline(_HEADER_MAX)
                payload = f.read()
        except FileNotFoundError:
            return None
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
        with self._lock(fcntl.LOCK_SH):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(header.encode() + b"\n")
                    f.write(payload)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        self.written += len(payload)

    def get_json(self, namespace: str, key: str, version: str = "") -> object | None:
        data = self.get(namespace, key, version)
        return None if data is None else json.loads(data)

    def put_json(self, namespace: str, key: str, value: object, version: str = "") -> None:
        self.put(namespace, key, json.dumps(value, separators=(",", ":")).encode(), version)

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

    def info(self) -> CacheInfo:
        spaces: dict[str, tuple[int, int]] = {}
        for ns, path, st in self._entries():
            if not path.name.startswith(".tmp-"):
                n, b = spaces.get(ns, (0, 0))
                spaces[ns] = (n + 1, b + st.st_size)
        return CacheInfo(self.root, sum(n for n, _ in spaces.values()), sum(b for _, b in spaces.values()),
                         self.max_bytes, spaces)

    def prune(self, max_bytes: int | None = None) -> tuple[int, int]:
        """Evict least recently used entries until the cache fits ``max_bytes``, and remove
        temp files (a writer holds the lock shared, so under the exclusive lock every temp
        file is a killed writer's). Returns (files removed, bytes freed)."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        removed = freed = 0
        with self._lock(fcntl.LOCK_EX):
            live = []
            for _ns, path, st in self._entries():
                if path.name.startswith(".tmp-"):
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed, freed = removed + 1, freed + st.st_size
                else:
                    live.append((st.st_mtime, st.st_size, path))
            total = sum(size for _, size, _ in live)
            for _mtime, size, path in sorted(live):
                if total <= limit:
                    break
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed, freed, total = removed + 1, freed + size, total - size
        return removed, freed

    def clear(self) -> None:
        with self._lock(fcntl.LOCK_EX):
            shutil.rmtree(self.root / "entries", ignore_errors=True)
