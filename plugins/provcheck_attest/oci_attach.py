"""What is attached to an image in an OCI layout or OCI/docker archive.

* cosign's legacy tags: manifests tagged ``sha256-<digest>.sig``, ``.att``, ``.sbom``
  (the digest of the image they belong to);
* OCI 1.1 referrers: manifests with an ``artifactType`` (here the Sigstore bundle
  type) whose ``subject`` is the image, listed in ``index.json``.

Their manifests and blobs are read through the core's view of the layout the image was
loaded from (``artifact.layout.read_blob``), each verified against its digest; the input
is never read a second time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

BUNDLE_ARTIFACT = "application/vnd.dev.sigstore.bundle"
MAX_BLOB = 16 << 20
_LEGACY = re.compile(r"(?:^|[:@/])sha256-([0-9a-f]{64})\.(sig|att|sbom)$")


class LayoutError(Exception):
    pass


class Layout:
    """Small files of the image layout, through the core's own view of it (``artifact.layout``):
    blobs verified against their digests, no symlinked directory followed, and the input never
    read a second time."""

    def __init__(self, source: Any):
        self.source = source
        self._cache: dict[str, bytes | None] = {}

    def read(self, rel: str) -> bytes | None:
        rel = rel.strip("/")
        if rel not in self._cache:
            m = re.fullmatch(r"blobs/sha256/([0-9a-f]{64})", rel)
            self._cache[rel] = self.source.read_blob(f"sha256:{m.group(1)}", MAX_BLOB) if m else None
        return self._cache[rel]

    def json(self, rel: str) -> Any:
        raw = self.read(rel)
        if raw is None:
            raise LayoutError(f"{rel}: missing from the image (or too large)")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise LayoutError(f"{rel}: not JSON ({exc})") from None


def blob_rel(digest: str) -> str:
    m = re.fullmatch(r"sha256:([0-9a-f]{64})", str(digest or ""))
    if not m:
        raise LayoutError(f"unsupported or malformed digest {digest!r}")
    return f"blobs/sha256/{m.group(1)}"


@dataclass
class Attachment:
    kind: str                         # "referrer", "sig", "att", "sbom"
    manifest_digest: str
    subject: str                      # the image digest it claims to belong to
    artifact_type: str = ""
    layers: list[dict[str, Any]] = field(default_factory=list)   # descriptors with annotations
    blobs: dict[str, bytes | None] = field(default_factory=dict)  # layer digest -> bytes
    error: str | None = None


def image_digests(artifact: Any) -> set[str]:
    """Digests that name the scanned image: its manifest and any index above it."""
    meta = artifact.metadata
    out = {d for d in (meta.get("manifest_digest"),) if d}
    for m in (meta.get("index") or {}).get("manifests") or []:
        if isinstance(m, dict) and not m.get("artifactType") and "index" in str(m.get("mediaType", "")):
            out.add(str(m.get("digest")))
    return out


def find_attachments(artifact: Any) -> list[Attachment]:
    """Attachments in ``index.json`` that belong to this image, with their small blobs."""
    if getattr(artifact, "layout", None) is None or not isinstance(artifact.metadata.get("index"), dict):
        return []  # not loaded from a layout with an index (legacy docker save): nothing attached
    targets = image_digests(artifact)
    layout = Layout(artifact.layout)
    index = artifact.metadata["index"]
    found: list[Attachment] = []
    for desc in index.get("manifests") or []:
        if not isinstance(desc, dict):
            continue
        ann = desc.get("annotations") if isinstance(desc.get("annotations"), dict) else {}
        ref = str(ann.get("org.opencontainers.image.ref.name") or ann.get("io.containerd.image.name") or "")
        legacy = _LEGACY.search(ref)
        art_type = str(desc.get("artifactType") or "")
        if legacy and f"sha256:{legacy.group(1)}" in targets:
            found.append(Attachment(kind=legacy.group(2), manifest_digest=str(desc.get("digest")),
                                    subject=f"sha256:{legacy.group(1)}", artifact_type=art_type))
        elif art_type or desc.get("mediaType") == "application/vnd.oci.image.manifest.v1+json" and not ref:
            found.append(Attachment(kind="referrer", manifest_digest=str(desc.get("digest")), subject="",
                                    artifact_type=art_type))
    keep = []
    for att in found:
        try:
            manifest = layout.json(blob_rel(att.manifest_digest))
        except LayoutError as exc:
            att.error = str(exc)
            keep.append(att)
            continue
        if not isinstance(manifest, dict):
            att.error = "attachment manifest is not a JSON object"
            keep.append(att)
            continue
        if att.kind == "referrer":
            subject = manifest.get("subject") if isinstance(manifest.get("subject"), dict) else {}
            att.subject = str(subject.get("digest") or "")
            att.artifact_type = att.artifact_type or str(manifest.get("artifactType") or "")
            if att.subject not in targets:
                continue  # refers to something else, or is not a referrer at all
        att.layers = [l for l in manifest.get("layers") or [] if isinstance(l, dict)]
        keep.append(att)
    for att in keep:
        for layer in att.layers:
            digest = str(layer.get("digest"))
            try:
                att.blobs[digest] = layout.read(blob_rel(digest))
            except LayoutError:
                att.blobs[digest] = None
    return keep
