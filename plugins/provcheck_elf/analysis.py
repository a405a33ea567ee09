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


ANALYSIS_NAMESPACE = "elf-analysis"  # whole analyses of trees with an identity


@functools.lru_cache(maxsize=1)
def _analysis_code() -> str:
    """sha256 of every source an analysis depends on: this plugin's package and provcheck's
    (the ELF and package readers, the tree's path resolution), as the engine versions detector
    results: an edited provcheck never serves an older analysis."""
    import hashlib

    import provcheck
    h = hashlib.sha256(f"{elf.PARSER_VERSION}/{PARSE_VERSION}".encode())
    for package in (Path(__file__).parent, Path(provcheck.__file__).parent):
        for path in sorted(package.rglob("*.py")):
            h.update(f"{path.relative_to(package)}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def analyze(artifact: Any, cache: ParseCache | None) -> Analysis:
    """The linkage analysis of ``artifact``. A tree with an ``identity`` (an image's verified
    layers, a directory's listing with every file's identity) fixes every input of it, so with
    the cache on the whole analysis is kept by that identity and this code's digest
    (``elf-analysis``): a warm run neither looks up parse results nor reads a package database
    nor builds the graph. An analysis with errors is not kept."""
    tree = artifact.tree
    store = cache.results.cache if cache is not None else None
    identity = getattr(tree, "identity", None) if store is not None else None
    if identity and store is not None:
        kept = _kept_analysis(artifact, cache, store.get_json(ANALYSIS_NAMESPACE, identity, _analysis_code()))
        if kept is not None:
            return kept
    an = _analyze(artifact, cache)
    if identity and store is not None and not an.errors and not an.packages.failed:
        try:
            store.put_json(ANALYSIS_NAMESPACE, identity, _encoded_analysis(an), _analysis_code())
        except OSError:
            pass  # an unwritable cache only costs time on the next run
    return an


def _encoded_analysis(an: Analysis) -> dict[str, Any]:
    g, pk = an.graph, an.packages
    return {"objects": [[p, o.info, o.package, sorted(o.aliases)] for p, o in g.objects.items()],
            "edges": [[e.src, e.name, e.kind, e.dst, e.via, e.found_as, list(e.searched)]
                      for edges in g.edges.values() for e in edges],
            "libc": g.libc,
            "packages": [pk.owner, pk.versions, pk.databases, pk.where, pk.unread],
            "files": an.stats["files"]}


def _kept_analysis(artifact: Any, cache: ParseCache | None, value: Any) -> Analysis | None:
    """The analysis kept for this tree (a verified entry; None when it is not one)."""
    if not isinstance(value, dict):
        return None
    t0 = time.perf_counter()
    try:
        nodes = artifact.tree.nodes
        g = graphmod.Graph()
        objects, Obj = g.objects, graphmod.Obj
        for path, info, package, aliases in value["objects"]:
            if type(info) is not dict:  # noqa: E721
                raise TypeError("not a parse result")
            objects[path] = Obj(path, info, nodes[path], package, set(aliases))
        add, Edge = g.add_edge, graphmod.Edge
        for src, name, kind, dst, via, found_as, searched in value["edges"]:
            if src not in objects or (dst is not None and dst not in objects):
                raise KeyError("an edge of an object not kept")
            add(Edge(src, name, kind, dst, via, found_as, tuple(searched)))
        g.libc = value["libc"]
        owner, versions, databases, where, unread = value["packages"]
        pk = pkgmod.Packages(owner, versions, databases, where, unread)
        files = int(value["files"])
    except (KeyError, TypeError, ValueError):
        return None
    g.packages = pk
    stats = {"files": files, "elf": len(objects), "unreadable": 0, "parsed": 0, "cached": files,
             "kept": True, "seconds": {"kept": round(time.perf_counter() - t0, 4)}}
    return Analysis(artifact, g, pk, g.errors, stats, cache=cache)


def _analyze(artifact: Any, cache: ParseCache | None) -> Analysis:
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
