"""One layer, scanned once: its files with hashes, its package-database files, its ELF
linkage facts. The result is a compact JSON-able dict, cached by layer digest in the core cache.

A layer task runs in a worker process (local pool or Dask): it looks in the cache,
else downloads the blob (verified against its digest before use), unpacks it with the
core's libarchive reader into a private blob store, and returns the result. The cache
entry is written atomically (temp file + ``os.replace``) only after the blob verified
and the scan finished, so an interrupted or failed scan never leaves a bad entry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import zlib
from pathlib import Path
from typing import Any

from provcheck import __version__ as PROVCHECK_VERSION
from provcheck import BlobStore, Cache, Limits
from provcheck.formats import elf
from provcheck.formats.archive import Reader

from .registry import Reference, RegistryClient, RegistryError, RegistryOptions

ELF_PARSER = f"provcheck.formats.elf/{elf.PARSER_VERSION}"
SCANNER_VERSION = f"fleet-layer/2+{ELF_PARSER}"
META_MAX = 64 << 20
META_TOTAL = 256 << 20  # package-metadata bytes kept per layer
META_RX = re.compile(
    r"^(?:var/lib/dpkg/status|var/lib/dpkg/status\.d/[^/]+|var/lib/dpkg/info/[^/]+\.(?:list|md5sums)"
    r"|lib/apk/db/installed|(?:var/lib|usr/lib/sysimage)/rpm/rpmdb\.sqlite"
    r"|(?:.*/)?[^/]+\.dist-info/(?:METADATA|RECORD)"
    r"|etc/os-release|usr/lib/os-release|etc/debian_version|etc/ld\.so\.conf|etc/ld\.so\.conf\.d/[^/]+"
    r"|etc/ld-musl-[^/]+\.path)$")


def cache_key(digest: str, limits: Limits) -> str:
    """Layer digest + provcheck and scanner versions + the config that shapes a result."""
    material = json.dumps([digest, PROVCHECK_VERSION, SCANNER_VERSION, limits.__dict__], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


class LayerCache:
    """Layer (``kind="layers"``) and merged-image (``"images"``) results in the core's
    persistent cache (``provcheck.Cache``: verified entries, atomic writes, the LRU bound,
    ``provcheck cache``), namespace ``fleet-KIND``. ``root`` is the fleet's directory in
    the cache root (where downloaded blobs wait); the entries live in the
    cache root itself, shared with every other command and worker process. ``root`` is
    ``CACHE/dirs/fleet`` (``Cache.directory("fleet")``)."""

    def __init__(self, root: str | os.PathLike, kind: str = "layers"):
        self.root = Path(root)
        self.kind = kind
        parent = self.root.parent
        self.cache = Cache(parent.parent if parent.name == "dirs" else parent)
        self.namespace = f"fleet-{kind}"

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self.cache.get(self.namespace, key, SCANNER_VERSION)
        if raw is None:
            return None
        try:
            data = json.loads(zlib.decompress(raw))
        except (zlib.error, ValueError):
            return None  # verified bytes of another writer's format: rescan and overwrite
        return data if isinstance(data, dict) and data.get("key") == key else None

    def put(self, key: str, result: dict[str, Any]) -> None:
        self.cache.put(self.namespace, key, zlib.compress(json.dumps(result, separators=(",", ":")).encode(), 3),
                       SCANNER_VERSION)


# -- ELF: the linkage facts of the shared reader ------------------------------------------------

def parse_elf(data: bytes, path: str, problems: list[str]) -> dict[str, Any]:
    """Linkage facts of one ELF file (the shared reader's bulk pass, as plain JSON types);
    a malformed file is noted in ``problems`` and kept with no edges."""
    try:
        info = elf.parse_buffer(data, len(data))
    except elf.ElfError as exc:
        problems.append(f"{path}: malformed ELF ({exc})")
        return {"type": "malformed", "needed": [], "soname": None, "runpath": [], "interp": None,
                "parser": "error"}
    info["parser"] = ELF_PARSER
    for reason in info["note_errors"]:
        problems.append(f"{path}: ELF note ignored ({reason})")
    return json.loads(json.dumps(info, default=list))  # plain JSON types, as the cache holds them


# -- the layer scan ------------------------------------------------------------------------------

def analyse_layer(blob: Path, digest: str, limits: Limits, work: Path) -> dict[str, Any]:
    """Scan one verified layer blob; returns the compact result (without cache bookkeeping)."""
    tmp = Path(tempfile.mkdtemp(prefix="layer-", dir=work))
    store = None
    try:
        store = BlobStore(tmp / "blobs")
        reader = Reader(store, limits, digest, rootfs=True, defer_links=True)
        entries = reader.read(blob, digest, layer=digest)
        files, meta, elf_infos, problems = [], {}, {}, []
        meta_bytes = 0
        seen_elf: set[str] = set()
        for _raw, n in entries.items:
            files.append([n.path, n.type, n.sha256, n.size, n.mode, n.link_target])
            if n.type != "file" or n.sha256 is None:
                continue
            if META_RX.match(n.path) and n.size <= META_MAX and n.sha256 not in meta:
                meta_bytes += n.size
                if meta_bytes > META_TOTAL:  # thousands of planted RECORD files must not fill a worker
                    if entries.complete:
                        problems.append(f"{n.path}: package metadata of this layer passes {META_TOTAL} bytes; "
                                        "the rest is not kept")
                    entries.complete = False
                else:
                    meta[n.sha256] = base64.b64encode(store.read(n.sha256)).decode("ascii")
            if n.size >= 52 and n.sha256 not in seen_elf:
                seen_elf.add(n.sha256)
                with store.open(n.sha256) as f:
                    head = f.read(4)
                    if head == b"\x7fELF":
                        f.seek(0)
                        data = f.read(min(n.size, 256 << 20))
                        elf_infos[n.sha256] = parse_elf(data, n.path, problems)
        return {"digest": digest, "size": blob.stat().st_size, "files": files, "meta": meta, "elf": elf_infos,
                "complete": entries.complete, "format": entries.format, "filters": entries.filters,
                "findings": [f.to_dict() for f in entries.findings],
                "errors": [str(e) for e in entries.errors] + problems}
    finally:
        if store is not None:
            store.close()  # pack file descriptors: workers live long
        shutil.rmtree(tmp, ignore_errors=True)


_CLIENTS: dict[RegistryOptions, RegistryClient] = {}
_CLIENT_LOCK = threading.Lock()


def _client(options: RegistryOptions) -> RegistryClient:
    with _CLIENT_LOCK:
        c = _CLIENTS.get(options)
        if c is None:
            c = _CLIENTS[options] = RegistryClient(options)
        return c


def scan_layer_task(task: dict[str, Any]) -> dict[str, Any]:
    """What a worker runs for one layer. Never raises: failures come back as ``{"error": ...}``.

    ``task``: ``ref`` (str), ``desc`` (the layer descriptor), ``options`` (RegistryOptions
    fields), ``cache`` (directory), ``limits`` (Limits fields), ``keep_blobs`` (bool)."""
    digest = str((task.get("desc") or {}).get("digest", ""))
    try:
        limits = Limits(**task.get("limits", {}))
        key = cache_key(digest, limits)
        cache = LayerCache(task["cache"])
        hit = cache.get(key)
        if hit is not None:
            hit["cached"] = True
            return hit
        options = RegistryOptions(**task.get("options", {}))
        ref = Reference.parse(task["ref"])
        root = Path(task["cache"])
        blob = root / "blobs" / "sha256" / digest[7:]
        fetched = not blob.exists()
        if fetched:
            _client(options).fetch_blob(ref, task["desc"], blob, root / "partial")
        else:
            os.utime(blob)  # used now: the cache's prune evicts the least recently used blobs
        work = root / "tmp"
        work.mkdir(parents=True, exist_ok=True)
        result = analyse_layer(blob, digest, limits, work)
        result.update(key=key, scanner=SCANNER_VERSION, provcheck=PROVCHECK_VERSION,
                      media_type=task["desc"].get("mediaType", ""))
        if result["complete"]:
            cache.put(key, result)  # only complete, verified scans are cached
        if not task.get("keep_blobs"):
            blob.unlink(missing_ok=True)
        result["cached"] = False
        result["downloaded"] = fetched
        result["downloaded_bytes"] = result["size"] if fetched else 0
        return result
    except RegistryError as exc:
        return {"digest": digest, "error": str(exc)}
    except Exception as exc:  # a scanner bug must not take the fleet down
        import traceback
        return {"digest": digest, "error": f"internal error scanning layer: {type(exc).__name__}: {exc}",
                "detail": traceback.format_exc()[-2000:]}
