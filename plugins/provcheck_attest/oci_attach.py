"""What is attached to an image in an OCI layout or OCI/docker archive.

* cosign's legacy tags: manifests tagged ``sha256-<digest>.sig``, ``.att``, ``.sbom``
  (the digest of the image they belong to);
* OCI 1.1 referrers: manifests with an ``artifactType`` (here the Sigstore bundle
  type) whose ``subject`` is the image, listed in ``index.json``.

The layout is re-read read-only from the input the user named: a directory
directly, an archive by streaming it with libarchive and keeping only the small
JSON blobs asked for (never layers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUNDLE_ARTIFACT = "application/vnd.dev.sigstore.bundle"
MAX_BLOB = 16 << 20
_LEGACY = re.compile(r"(?:^|[:@/])sha256-([0-9a-f]{64})\.(sig|att|sbom)$")


class LayoutError(Exception):
    pass


class Layout:
    """Small files of an image layout (index.json, manifests, signature blobs)."""

    def __init__(self, path: Path):
        self.path = path
        self._cache: dict[str, bytes | None] = {}

    def read(self, rel: str) -> bytes | None:
        rel = rel.strip("/")
        if rel not in self._cache:
            self.prefetch([rel])
        return self._cache.get(rel)

    def prefetch(self, rels: list[str]) -> None:
        want = {r.strip("/") for r in rels if r.strip("/") not in self._cache}
        if not want:
            return
        if self.path.is_dir():
            for rel in want:
                if ".." in rel.split("/"):
                    self._cache[rel] = None
                    continue
                p = self.path / rel
                try:
                    if p.is_symlink() or not p.is_file() or p.stat().st_size > MAX_BLOB:
                        self._cache[rel] = None
                    else:
                        self._cache[rel] = p.read_bytes()
                except OSError:
                    self._cache[rel] = None
            return
        import libarchive
        from libarchive.exception import ArchiveError
        found: dict[str, bytes] = {}
        try:
            with libarchive.file_reader(str(self.path)) as archive:
                for entry in archive:
                    name = str(entry.pathname or "").lstrip("./").lstrip("/")
                    if name in want and entry.isfile and (entry.size or 0) <= MAX_BLOB:
                        found[name] = b"".join(entry.get_blocks())
                        if len(found) == len(want):
                            break
        except ArchiveError as exc:
            raise LayoutError(f"{self.path.name}: cannot read the image archive: {exc}") from None
        for rel in want:
            self._cache[rel] = found.get(rel)

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


def find_attachments(artifact: Any, layout_path: Path) -> list[Attachment]:
    """Attachments in ``index.json`` that belong to this image, with their small blobs."""
    targets = image_digests(artifact)
    layout = Layout(layout_path)
    index = artifact.metadata.get("index") or layout.json("index.json")
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
    rels = []
    for att in keep:
        for layer in att.layers:
            try:
                rels.append(blob_rel(str(layer.get("digest"))))
            except LayoutError:
                pass
    layout.prefetch(rels)
    for att in keep:
        for layer in att.layers:
            digest = str(layer.get("digest"))
            try:
                att.blobs[digest] = layout.read(blob_rel(digest))
            except LayoutError:
                att.blobs[digest] = None
    return keep


def layout_path(artifact: Any) -> Path | None:
    """The host path of an image input (layout directory or archive), when it is one."""
    from provcheck import InputSpec
    if artifact.kind != "image" or not artifact.source:
        return None
    path = Path(InputSpec.parse(artifact.source).path)
    return path if path.exists() else None
