"""Find and parse every ELF file of a tree (with a parse cache keyed by blob sha256), then
build its linkage graph."""

from __future__ import annotations

import functools
import mmap
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from provcheck.formats import elf

from . import graph as graphmod, packages as pkgmod
from .policies import XZ_SIGNATURE

MISSING = object()


PARSE_VERSION = "2"  # bump when _parse or _with_signature change what they record


@functools.lru_cache(maxsize=1)
def _code() -> str:
    """sha256 of the code that decides parse results (this module, the policies' searches and
    the shared ELF reader): an edited provcheck never serves an older parse."""
    import hashlib
    h = hashlib.sha256()
    for path in (__file__, str(Path(__file__).with_name("policies.py")), elf.__file__):
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


class ParseCache:
    """Parse results by blob sha256, in the core's persistent cache (``provcheck.FileResults``:
    verified entries, one per image layer or artifact, atomic writes, LRU bound).

    Values are JSON (never pickle: the cache must not be a way to run code). A second run
    over the same layers reads every result from there instead of parsing again; files that
    are not ELF are remembered too, so they are not even opened."""

    def __init__(self, cache: Any, group: str):
        import provcheck
        self.results = provcheck.FileResults(cache, "elf-parse", f"{elf.PARSER_VERSION}/{PARSE_VERSION}/{_code()}",
                                             group)

    @property
    def hits(self) -> int:
        return self.results.hits

    def get(self, node: Any, deep: bool, digest: str | None = None) -> Any:
        """The parse result, MISSING when not cached (None: not an ELF file); ``digest``: the
        node's sha256 when known without hashing it."""
        got = self.results.get(node, "deep" if deep else "", digest)
        return MISSING if got is None else got["v"]

    def put(self, node: Any, deep: bool, value: Any, digest: str | None = None) -> None:
        self.results.put(node, {"v": value}, "deep" if deep else "", digest)

    def found(self, node: Any, needle: str) -> Any:
        """A search's remembered offset (None: absent), MISSING when not cached."""
        got = self.results.get(node, f"find:{needle}")
        return MISSING if got is None else got["v"]

    def put_found(self, node: Any, needle: str, offset: int | None) -> None:
        self.results.put(node, {"v": offset}, f"find:{needle}")

    def flush(self) -> None:
        self.results.flush()

    def close(self) -> None:
        self.flush()


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
        got = self.cache.get(node, True, tree.known_digest(node)) if self.cache else None
        if got is None or got is MISSING:
            info = _parse(self.artifact.tree, node, deep=True)
            got = info.get("deep") if info else None
            if got is not None and self.cache:
                self.cache.put(node, True, got)
            elif info and info.get("error"):  # symbol rules skip this file: say so, never silently
                self.errors.append((path, f"symbols not read: {info['error']}"))
        self._deep[path] = got
        return got

    def deep_many(self, paths: Iterable[str]) -> None:
        """Warm the deep cache for many files (one cache entry per layer or artifact)."""
        if self.cache:
            for p in paths:
                if p not in self._deep:
                    node = self.artifact.tree.nodes[p]
                    v = self.cache.get(node, True, self.artifact.tree.known_digest(node))
                    if v is not None and v is not MISSING:
                        self._deep[p] = v


def analyze(artifact: Any, cache: ParseCache | None) -> Analysis:
    tree = artifact.tree
    t0 = time.perf_counter()
    files = tree.starting_with(elf.ELF_MAGIC)  # a directory input then hashes only its ELF files
    infos: dict[str, dict] = {}
    errors: list[tuple[str, str]] = []
    parsed = 0
    by_sha: dict[str, Any] = {}
    for n in sorted(files, key=lambda n: n.path):
        known = tree.known_digest(n)  # a directory input's file-identity cache: no hashing on warm runs
        v = cache.get(n, False, known) if cache else MISSING
        if v is not MISSING:
            pass
        elif (known or n.sha256) in by_sha:
            v = by_sha[known or n.sha256]
        else:
            v = _parse(tree, n)  # hashes the file exactly (from the descriptor it parses)
            parsed += 1
            by_sha[n.sha256] = v
            if cache:
                cache.put(n, False, v)
        if v is None:
            continue
        if "error" in v:
            errors.append((n.path, f"cannot read ELF file: {v['error']}"))
        else:
            infos[n.path] = v
            errors += [(n.path, f"note ignored, the file is linked without it: {why}") for why in v.get("note_errors", ())]
    t1 = time.perf_counter()
    pk = pkgmod.read_packages(tree, infos, cache.results.cache if cache is not None else None)
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
