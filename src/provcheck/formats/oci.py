"""OCI images: platforms, image sniffing, layer changesets, and what is attached to an image.

The loader (core) reads layouts and archives; this module is what plugins share:

* ``parse_platform("linux/arm64/v8")``, ``platform_matches(desc_platform, want)``;
* ``looks_like_image_archive(path)``, ``is_image_tree(tree)``; ``load_image_layout(root, name,
  ctx, platform)`` loads a layout a plugin wrote into its work area (the registry loader);
* ``apply_changeset(tree, entries, digest, findings, artifact)``: one layer on a tree
  (whiteouts, opaque directories);
* attachments, one implementation for a local layout (the SBOM plugin) and a registry (the
  fleet): :func:`cosign_tags`, :func:`attachment_kind` (an OCI 1.1 referrer or a cosign
  ``.sig``/``.att``/``.sbom`` tag), :func:`decode_manifest`, :func:`sbom_layers` (the layers
  that carry an SBOM) and :func:`sbom_document` (the SBOM JSON, unwrapped from DSSE/in-toto).
  Each raises ``ValueError`` with the reason, so callers report what they cannot read.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from provcheck.unpack.oci import (ImageLoader, ImageSource, apply_changeset, is_image_tree,
                                  looks_like_image_archive, parse_platform, platform_matches)

if TYPE_CHECKING:
    from provcheck.engine import LoadContext
    from provcheck.vfs import Artifact

__all__ = ["load_image_layout", "apply_changeset", "is_image_tree", "looks_like_image_archive",
           "parse_platform", "platform_matches", "cosign_tags", "attachment_kind", "decode_manifest",
           "sbom_kind", "sbom_layers", "sbom_document", "DSSE_TYPES", "MAX_MANIFEST", "MAX_SBOM"]

JSONObject = dict[str, object]  # a decoded JSON object; narrow its values before use


def load_image_layout(root: Path, name: str, ctx: "LoadContext", platform: str) -> "Artifact":
    """An OCI image layout in the work area, loaded like any image input (limits, digests)."""
    return ImageLoader(ImageSource(root=root), name, ctx, platform).load()

MAX_MANIFEST = 8 << 20
MAX_SBOM = 64 << 20
SBOM_TYPES = {"application/spdx+json": "spdx", "text/spdx+json": "spdx", "text/spdx": "spdx",
              "application/spdx+xml": "spdx", "application/vnd.cyclonedx+json": "cyclonedx",
              "application/vnd.cyclonedx+xml": "cyclonedx", "application/vnd.cyclonedx": "cyclonedx"}
DSSE_TYPES = ("application/vnd.dsse.envelope.v1+json", "application/vnd.in-toto+json")


def cosign_tags(digest: str) -> dict[str, str]:
    """cosign's tags for ``digest``: {"sig": "sha256-HEX.sig", "att": ..., "sbom": ...}."""
    algo, _, hexd = digest.partition(":")
    return {s: f"{algo}-{hexd}.{s}" for s in ("sig", "att", "sbom")}


def attachment_kind(manifest: Mapping[str, object], subject: str, tag: str | None = None) -> str | None:
    """``referrer`` when ``manifest`` names ``subject`` as its subject, ``cosign-sig``/``-att``/
    ``-sbom`` when it sits under cosign's tag for ``subject``, else None."""
    sub = manifest.get("subject")
    if isinstance(sub, Mapping) and sub.get("digest") == subject:
        return "referrer"
    if tag:
        name = tag.rsplit(":", 1)[-1]
        for suffix, cosign in cosign_tags(subject).items():
            if name == cosign:
                return f"cosign-{suffix}"
    return None


def decode_manifest(raw: bytes, where: str) -> JSONObject:
    """A manifest's JSON object; ValueError naming ``where`` when it is none."""
    if len(raw) > MAX_MANIFEST:
        raise ValueError(f"{where}: manifest larger than {MAX_MANIFEST} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{where}: not a JSON manifest: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: not a JSON manifest object")
    return doc


def sbom_kind(media_type: object) -> str | None:
    """``spdx`` or ``cyclonedx`` for an SBOM media type, else None."""
    media = str(media_type or "").split(";")[0].strip().lower()
    if media in SBOM_TYPES:
        return SBOM_TYPES[media]
    if "spdx" in media:
        return "spdx"
    if "cyclonedx" in media:
        return "cyclonedx"
    return None


def sbom_layers(manifest: Mapping[str, object]) -> list[JSONObject]:
    """The layers of an attachment manifest that carry an SBOM: an SBOM media type on the
    layer, the manifest's ``artifactType`` (or config media type), or a DSSE envelope."""
    config = manifest.get("config")
    art = manifest.get("artifactType") or (config.get("mediaType") if isinstance(config, Mapping) else None)
    out = []
    layers = manifest.get("layers")
    for layer in layers if isinstance(layers, list) else ():
        if not isinstance(layer, dict) or not isinstance(layer.get("digest"), str):
            continue
        if sbom_kind(layer.get("mediaType")) or sbom_kind(art) or layer.get("mediaType") in DSSE_TYPES:
            out.append(layer)
    return out


def sbom_document(data: bytes) -> JSONObject | None:
    """The SBOM (SPDX 2 or CycloneDX JSON) in an attachment layer, unwrapped from a DSSE
    envelope / in-toto statement (cosign's ``Data`` wrapper too); None for a readable
    document that is no SBOM (a provenance attestation); ValueError when it cannot be read."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not JSON ({exc}); only JSON SBOMs are read here") from None
    if isinstance(body, dict) and "payload" in body and "payloadType" in body:
        try:
            body = json.loads(base64.b64decode(body["payload"]))
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"DSSE envelope with an undecodable payload: {exc}") from None
    if isinstance(body, dict) and isinstance(body.get("predicate"), (dict, str)) and "_type" in body:
        body = body["predicate"]
        if isinstance(body, dict) and "Data" in body:  # cosign attest's wrapper
            body = body["Data"]
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"in-toto predicate is a string that is not JSON: {exc}") from None
    if not (isinstance(body, dict) and (body.get("spdxVersion") is not None or body.get("bomFormat") == "CycloneDX")):
        return None
    return body
