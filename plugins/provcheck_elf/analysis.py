"""Find and parse every ELF file of a tree (with a parse cache keyed by blob sha256), then
build its linkage graph."""

from __future__ import annotations

import json
import mmap
import os
import sqlite3
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from provcheck.formats import elf

from . import graph as graphmod, packages as pkgmod
from .policies import XZ_SIGNATURE

MISSING = object()


class ParseCache:
    """Parse results by (blob sha256, parser version, pass) in one sqlite file.

    Values are JSON (never pickle: the cache must not be a way to run code). A second run
    over the same layers reads every result from here instead of parsing again; files that
    are not ELF are remembered too, so they are not even opened."""

    def __init__(self, path: Path | None):
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.pending: dict[str, str] = {}
        self.hits = self.misses = 0
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(str(path), timeout=10, isolation_level=None)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("CREATE TABLE IF NOT EXISTS parse (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            except sqlite3.Error:
                self.db = None  # an unusable cache only costs time

    @staticmethod
    def key(sha256: str, deep: bool) -> str:
        return f"{sha256}:{elf.PARSER_VERSION}:{'d' if deep else 'b'}"

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.db is None or not keys:
            return out
        try:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                q = f"SELECT key, value FROM parse WHERE key IN ({','.join('?' * len(chunk))})"
                for k, v in self.db.execute(q, chunk):
                    try:
                        out[k] = json.loads(v)
                    except ValueError:
                        continue
        except sqlite3.Error:
            return {}
        self.hits += len(out)
        return out

    def put(self, key: str, value: Any) -> None:
        if self.db is not None:
            self.misses += 1
            self.pending[key] = json.dumps(value, separators=(",", ":"))

    def flush(self) -> None:
        if self.db is None or not self.pending:
            return
        try:
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR REPLACE INTO parse VALUES (?, ?)", self.pending.items())
            self.db.execute("COMMIT")
        except sqlite3.Error:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        self.pending.clear()

    def close(self) -> None:
        self.flush()
        if self.db is not None:
            self.db.close()
            self.db = None


@dataclass
class Analysis:
    artifact: Any
    graph: graphmod.Graph
    packages: pkgmod.Packages
    errors: list[tuple[str, str]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    _deep: dict[str, dict] = field(default_factory=dict)
    cache: ParseCache | None = None

    def deep(self, path: str) -> dict[str, Any] | None:
        """Symbols of one ELF file (deep pass, cached); None when it cannot be read."""
        if path in self._deep:
            return self._deep[path]
        tree = self.artifact.tree
        node = tree.nodes[path]
        key = ParseCache.key(tree.known_digest(node) or node.sha256, True)
        got = self.cache.get_many([key]).get(key) if self.cache else None
        if got is None:
            info = _parse(self.artifact.tree, node, deep=True)
            got = info.get("deep") if info else None
            if got is not None and self.cache:
                self.cache.put(key, got)
            elif info and info.get("error"):  # symbol rules skip this file: say so, never silently
                self.errors.append((path, f"symbols not read: {info['error']}"))
        self._deep[path] = got
        return got

    def deep_many(self, paths: Iterable[str]) -> None:
        """Warm the deep cache for many files with one cache query."""
        paths = [p for p in paths if p not in self._deep]
        if self.cache and paths:
            tree = self.artifact.tree
            keys = {ParseCache.key(_digest(tree, tree.nodes[p]), True): p for p in paths}
            for k, v in self.cache.get_many(list(keys)).items():
                self._deep[keys[k]] = v


def analyze(artifact: Any, cache: ParseCache | None) -> Analysis:
    tree = artifact.tree
    t0 = time.perf_counter()
    files = [n for n in tree.nodes.values() if n.is_file and n.size >= 4 and _may_be_elf(tree, n)]
    digests = {n.path: _digest(tree, n) for n in files}
    keys = {n.path: ParseCache.key(digests[n.path], False) for n in files}
    known = cache.get_many(list(set(keys.values()))) if cache else {}
    infos: dict[str, dict] = {}
    errors: list[tuple[str, str]] = []
    parsed = 0
    by_sha: dict[str, Any] = {}
    for n in sorted(files, key=lambda n: n.path):
        k = keys[n.path]
        if k in known:
            v = known[k]
        elif digests[n.path] in by_sha:
            v = by_sha[digests[n.path]]
        else:
            v = _parse(tree, n)
            parsed += 1
            by_sha[digests[n.path]] = v
            if cache:
                cache.put(k, v)
        if v is None:
            continue
        if "error" in v:
            errors.append((n.path, f"cannot read ELF file: {v['error']}"))
        else:
            infos[n.path] = v
            errors += [(n.path, f"note ignored, the file is linked without it: {why}") for why in v.get("note_errors", ())]
    t1 = time.perf_counter()
    pk = pkgmod.read_packages(tree, infos)
    t2 = time.perf_counter()
    g = graphmod.build(tree, infos, pk.owner)
    g.errors = errors
    g.packages = pk
    t3 = time.perf_counter()
    if cache:
        cache.flush()
    stats = {"files": len(files), "elf": len(infos), "unreadable": len(errors), "parsed": parsed,
             "cached": len(files) - parsed, "seconds": {"parse": round(t1 - t0, 4), "packages": round(t2 - t1, 4),
                                                       "graph": round(t3 - t2, 4)}}
    return Analysis(artifact, g, pk, errors, stats, cache=cache)


def _digest(tree: Any, node: Any) -> str | None:
    """What parse results are keyed by: the digest known without reading the file (the
    core's file-identity cache of a directory input), else the exact one."""
    return tree.known_digest(node) or node.sha256


def _may_be_elf(tree: Any, node: Any) -> bool:
    """Sniff the magic first: a directory input then hashes only its ELF files. An
    unreadable file stays in (``_parse`` reports why)."""
    try:
        return tree.read(node, 4) == elf.ELF_MAGIC
    except (OSError, ValueError):
        return True


def _parse(tree: Any, node: Any, deep: bool = False) -> dict | None:
    """Parse one file: its info, None when not ELF, {"error": why} when broken.

    Large blobs are memory-mapped from their host file; small ones (which the blob store
    keeps packed) are read into memory, so no host file is created for them."""
    try:
        with tree.open(node) as f:
            head = f.read(4)
            if head != elf.ELF_MAGIC:
                return None
            try:
                fd = f.fileno()
            except (OSError, ValueError):
                data = head + f.read()
                if len(data) < 16:
                    return {"error": f"truncated: {len(data)} bytes is shorter than an ELF identification"}
                return _with_signature(elf.parse_buffer(data, len(data), deep), data)
            size = os.fstat(fd).st_size
            if size < 16:
                return {"error": f"truncated: {size} bytes is shorter than an ELF identification"}
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as buf:
                return _with_signature(elf.parse_buffer(buf, size, deep), buf)
    except elf.ElfError as exc:
        return {"error": str(exc)}
    except (OSError, ValueError, OverflowError, MemoryError, RecursionError, struct.error) as exc:
        return {"error": f"unreadable ELF file ({type(exc).__name__}: {exc})"}


def _with_signature(info: dict, buf: Any) -> dict:
    """The deep pass also records where the xz backdoor signature is (a C-speed search of
    bytes already mapped), so a cached run never reads the file again for PC302."""
    if "deep" in info:
        i = buf.find(XZ_SIGNATURE)
        info["deep"]["xz_signature"] = None if i < 0 else i
    return info
