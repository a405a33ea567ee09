"""Image layers in the persistent cache: a warm run does not decompress a layer again.

One entry per layer, keyed by its compressed digest, the limits and ``LOADER_VERSION``:
the decompressed file index (every member with its sha256), the layer's findings, and
the contents worth keeping (small files, package databases and the first bytes of every
other file, enough to sniff a format). A file whose content was not kept is read by
decompressing the layer again on first demand (``BlobStore.provide``), verified against
the layer digest as on a cold run.

Only whole, verified layers without errors are stored. The layer blob of a layout is
still checked on a warm run: by its file identity (device, inode, size, mtime, ctime)
recorded when it was last hashed, else by hashing it again.
"""

from __future__ import annotations

import json
import os
import re
import struct
from typing import Any, Callable

from .. import __version__
from ..cache import Cache
from ..config import Limits
from ..model import Confidence, Finding, Location, Severity
from ..vfs import BlobStore, Node
from .archive import Budget, Entries

LOADER_VERSION = f"layer-index/1+provcheck/{__version__}"
KEEP_SMALL = 64 << 10       # every file up to this size
KEEP_META = 16 << 20        # package databases and loader configuration up to this size
KEEP_TOTAL = 96 << 20       # content bytes kept per layer
HEAD = 64                   # bytes kept of every other file
META_RX = re.compile(
    r"^(?:var/lib/dpkg/status|var/lib/dpkg/status\.d/[^/]+|var/lib/dpkg/info/[^/]+"
    r"|lib/apk/db/installed|(?:var/lib|usr/lib/sysimage)/rpm/rpmdb\.sqlite|(?:.*/)?[^/]+\.dist-info/[^/]+"
    r"|etc/os-release|usr/lib/os-release|etc/ld\.so\.conf(?:\.d/[^/]+)?|etc/ld-musl-[^/]+\.path)$")
NAMESPACE = "image-layers"
VERIFIED = "verified-blobs"


def layer_key(digest: str, limits: Limits) -> str:
    return json.dumps([digest, sorted(vars(limits).items())], separators=(",", ":"))


def blob_identity(path: str | os.PathLike) -> str:
    st = os.stat(path)
    return f"{os.path.realpath(path)}\0{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def known_blob(cache: Cache, path: str | os.PathLike) -> str | None:
    """The digest ``path`` had when it was last hashed, if the file is unchanged since."""
    got = cache.get(VERIFIED, blob_identity(path), LOADER_VERSION)
    return got.decode() if got else None


def remember_blob(cache: Cache, path: str | os.PathLike, digest: str) -> None:
    cache.put(VERIFIED, blob_identity(path), digest.encode(), LOADER_VERSION)


def save(cache: Cache, digest: str, limits: Limits, entries: Entries, store: BlobStore) -> None:
    if not entries.complete or entries.errors or any(f.related or f.component for f in entries.findings):
        return
    blobs: list[bytes] = []
    offset = kept_bytes = 0
    kept: dict[str, tuple[int, int]] = {}
    heads: dict[str, tuple[int, int]] = {}
    items = []
    for raw, n in entries.items:
        items.append([raw, n.path, n.type, n.size, n.mode, n.sha256, n.link_target, n.uid, n.gid, n.mtime])
        sha = n.sha256
        if n.type != "file" or sha is None or sha in kept or sha in heads:
            continue
        whole = n.size <= KEEP_SMALL or (n.size <= KEEP_META and META_RX.match(n.path) is not None)
        if whole and kept_bytes + n.size <= KEEP_TOTAL:
            data = store.read(sha)
            kept[sha] = (offset, len(data))
            kept_bytes += len(data)
        else:
            data = store.read(sha, HEAD)
            heads[sha] = (offset, len(data))
        blobs.append(data)
        offset += len(data)
    index = {"format": entries.format, "filters": entries.filters, "items": items, "kept": kept, "heads": heads,
             "findings": [_finding(f) for f in entries.findings]}
    head = json.dumps(index, separators=(",", ":")).encode()
    cache.put(NAMESPACE, layer_key(digest, limits), struct.pack(">Q", len(head)) + head + b"".join(blobs),
              LOADER_VERSION)


def load(cache: Cache, digest: str, limits: Limits, store: BlobStore, budget: Budget, artifact: str,
         refill: Callable[[], None]) -> Entries | None:
    """The layer's entries from the cache (its kept contents put into ``store``), or None."""
    payload = cache.get(NAMESPACE, layer_key(digest, limits), LOADER_VERSION)
    if payload is None:
        return None
    try:
        (n,) = struct.unpack(">Q", payload[:8])
        index = json.loads(payload[8:8 + n])
        body = memoryview(payload)[8 + n:]
        entries = Entries(label=digest, format=index["format"], filters=index["filters"])
        entries.findings = [_unfinding(d, artifact) for d in index["findings"]]
        for raw, path, type_, size, mode, sha, target, uid, gid, mtime in index["items"]:
            budget.add_file()
            if type_ == "file":
                budget.add_bytes(size)
            entries.items.append((raw, Node(path=path, type=type_, size=size, mode=mode, sha256=sha,
                                            link_target=target, layer=digest, uid=uid, gid=gid, mtime=mtime)))
        for sha, (off, size) in index["kept"].items():  # the entry's sha256 was checked by cache.get
            if not (isinstance(sha, str) and isinstance(off, int) and isinstance(size, int)
                    and 0 <= off <= off + size <= len(body)):
                return None
            store.put_verified(sha, body[off:off + size])
        store.provide({n.sha256 for _r, n in entries.items if n.sha256 and n.sha256 not in index["kept"]},
                      {sha: bytes(body[off:off + size]) for sha, (off, size) in index["heads"].items()}, refill)
    except (ValueError, KeyError, TypeError, struct.error):
        return None  # verified bytes of an older layout: read the layer instead
    return entries


def _finding(f: Finding) -> dict[str, Any]:
    loc = f.location
    return {"rule": f.rule_id, "message": f.message, "severity": int(f.severity), "confidence": int(f.confidence),
            "key": f.key, "evidence": dict(f.evidence), "detector": f.detector,
            "location": [loc.artifact, loc.path, loc.layer, list(loc.chain), loc.sha256]}


def _unfinding(d: dict[str, Any], artifact: str) -> Finding:
    _, path, layer, chain, sha = d["location"]  # the layer may be cached from another image
    return Finding(rule_id=d["rule"], message=d["message"], severity=Severity(d["severity"]),
                   confidence=Confidence(d["confidence"]), key=d["key"], evidence=d["evidence"], detector=d["detector"],
                   location=Location(artifact=artifact, path=path, layer=layer, chain=tuple(chain), sha256=sha))
