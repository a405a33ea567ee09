"""Image layers in the persistent cache: a warm run does not decompress a layer again.

One entry per layer, keyed by its compressed digest, the limits and ``LOADER_VERSION``
(``Cache.put_parts``): its head holds the decompressed file index (every member with its
sha256), the layer's findings and the first ``HEAD`` bytes of every file (enough to sniff
a format), verified whenever the entry is opened; the contents worth keeping (small files,
package databases) are parts, content-addressed, each read and verified by its sha256 only
when a run uses it (``BlobStore.provide``), so a warm run reads the few it needs. A file
whose content was not kept, or whose part does not match (the entry is then dropped and
rebuilt), is read by decompressing the layer again on first demand, verified against the
layer digest as on a cold run.

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

LOADER_VERSION = f"layer-index/2+provcheck/{__version__}"
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
    """One entry for the layer (``Cache.put_parts``): the head holds the file index, the
    findings and the first ``HEAD`` bytes of every file (verified whenever the entry is
    opened); each kept content is a part, verified by its own sha256 when a run reads it."""
    if not entries.complete or entries.errors or any(f.related or f.component for f in entries.findings):
        return
    parts: list[bytes] = []
    firsts: list[bytes] = []
    offset = first_offset = kept_bytes = 0
    kept: dict[str, tuple[int, int]] = {}
    heads: dict[str, tuple[int, int]] = {}
    whole: list[str] = []  # files no longer than their head
    items = []
    for raw, n in entries.items:
        items.append([raw, n.path, n.type, n.size, n.mode, n.sha256, n.link_target, n.uid, n.gid, n.mtime])
        sha = n.sha256
        if n.type != "file" or sha is None or sha in heads:
            continue
        first = store.read(sha, HEAD)
        heads[sha] = (first_offset, len(first))
        firsts.append(first)
        first_offset += len(first)
        if len(first) == n.size:
            whole.append(sha)
            continue
        if (n.size <= KEEP_SMALL or (n.size <= KEEP_META and META_RX.match(n.path) is not None)) \
                and kept_bytes + n.size <= KEEP_TOTAL:
            data = store.read(sha)
            kept[sha] = (offset, len(data))
            kept_bytes += len(data)
            parts.append(data)
            offset += len(data)
    index = {"format": entries.format, "filters": entries.filters, "items": items, "kept": kept, "heads": heads,
             "whole": whole, "findings": [_finding(f) for f in entries.findings]}
    head = json.dumps(index, separators=(",", ":")).encode()
    cache.put_parts(NAMESPACE, layer_key(digest, limits), struct.pack(">Q", len(head)) + head + b"".join(firsts),
                    parts, LOADER_VERSION)


def load(cache: Cache, digest: str, limits: Limits, store: BlobStore, budget: Budget, artifact: str,
         refill: Callable[[], None]) -> Entries | None:
    """The layer's entries from the cache, or None. Nothing of the kept contents is read
    here: ``store`` reads and verifies each part when it is first used, and a part that
    does not match (the entry is then dropped) is decompressed from the layer by ``refill``."""
    parts = cache.open_parts(NAMESPACE, layer_key(digest, limits), LOADER_VERSION)
    if parts is None:
        return None
    try:
        head = parts.head
        (n,) = struct.unpack(">Q", head[:8])
        index = json.loads(head[8:8 + n])
        firsts = memoryview(head)[8 + n:]
        entries = Entries(label=digest, format=index["format"], filters=index["filters"])
        entries.findings = [_unfinding(d, artifact) for d in index["findings"]]
        files = 0
        total = 0
        nodes = entries.items
        new = object.__new__
        for raw, path, type_, size, mode, sha, target, uid, gid, mtime in index["items"]:
            node = new(Node)  # Node(...) without the dataclass __init__: a layer has many files
            node.path, node.type, node.size, node.mode, node.sha256, node.link_target = path, type_, size, mode, sha, target
            node.layer, node.hidden_by, node.uid, node.gid, node.mtime, node.chain = digest, None, uid, gid, mtime, ()
            nodes.append((raw, node))
            files += 1
            if type_ == "file":
                total += size
        if not budget.take(files, total):
            parts.close()
            return None  # over a limit with the layers before it: read it, and say so as a cold run does
        heads: dict[str, bytes] = {}
        for sha, (off, size) in index["heads"].items():
            if not (isinstance(off, int) and isinstance(size, int) and 0 <= off <= off + size <= len(firsts)):
                raise ValueError("head out of range")
            heads[sha] = bytes(firsts[off:off + size])
        for sha in index["whole"]:
            store.put_verified(sha, heads.pop(sha))  # verified with the head
        kept = {}
        for sha, (off, size) in index["kept"].items():
            if not (isinstance(off, int) and isinstance(size, int) and off >= 0 and size >= 0):
                raise ValueError("part out of range")
            kept[sha] = (off, size)
        store.provide({n.sha256 for _r, n in nodes if n.sha256 and n.sha256 not in kept}, heads, refill,
                      kept, parts.read)
    except (ValueError, KeyError, TypeError, struct.error):
        parts.close()
        return None  # verified bytes of an older layout: read the layer instead
    store.at_finish(parts.close)
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
