"""What is attached to an image: cosign ``.sig``/``.att``/``.sbom`` tags and OCI 1.1 referrers
(through the referrers API or its fallback tag), and SBOMs read from them.

An attached SBOM (SPDX 2 JSON or CycloneDX JSON, bare or as the predicate of an in-toto
statement in a DSSE envelope) is turned into components; fast mode answers the
inventory from it without pulling layers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from packageurl import PackageURL

from .registry import Reference, RegistryClient, RegistryError

SBOM_TYPES = {
    "application/spdx+json": "spdx", "text/spdx+json": "spdx", "application/vnd.cyclonedx+json": "cyclonedx",
    "application/vnd.cyclonedx": "cyclonedx", "text/spdx": None,
}
DSSE = ("application/vnd.dsse.envelope.v1+json", "application/vnd.in-toto+json")
MAX_SBOM = 64 << 20


def _sbom_kind(media: str | None) -> str | None:
    media = (media or "").split(";")[0].strip().lower()
    if media in SBOM_TYPES:
        return SBOM_TYPES[media]
    if "spdx" in media and "json" in media:
        return "spdx"
    if "cyclonedx" in media and "json" in media:
        return "cyclonedx"
    return None


def discover(client: RegistryClient, ref: Reference, digest: str,
             tags: set[str] | None = None) -> list[dict[str, Any]]:
    """Every attachment of ``digest``: {kind, how, digest, media_type, artifact_type, tag, manifest}.

    ``tags`` is the repository's tag list when known: then only the cosign and fallback
    tags that exist are fetched, instead of probing each one."""
    out: list[dict[str, Any]] = []
    fallback = digest.replace(":", "-")
    descs, how = client.referrers(ref, digest, fallback_exists=None if tags is None else fallback in tags)
    for d in descs:
        if not isinstance(d.get("digest"), str):
            continue
        out.append({"kind": "referrer", "how": how, "digest": d["digest"], "media_type": d.get("mediaType"),
                    "artifact_type": d.get("artifactType"), "tag": None})
    hexd = digest.split(":", 1)[1]
    for suffix in ("sig", "att", "sbom"):
        tag = f"sha256-{hexd}.{suffix}"
        if tags is not None and tag not in tags:
            continue
        got = client.manifest(ref, tag)
        if got is None:
            continue
        mdigest, media, doc, _raw = got
        out.append({"kind": f"cosign-{suffix}", "how": "cosign-tag", "digest": mdigest, "media_type": media,
                    "artifact_type": doc.get("artifactType"), "tag": tag, "manifest": doc})
    return out


def fetch_sboms(client: RegistryClient, ref: Reference, attachments: list[dict[str, Any]]) -> list[tuple[dict, dict]]:
    """(attachment, SBOM document) for every SBOM found; marks the attachments ``used``."""
    found = []
    for att in attachments:
        if att["kind"] == "cosign-sig":
            continue
        doc = att.get("manifest")
        if doc is None:
            got = client.manifest(ref, att["digest"])
            if got is None:
                continue
            doc = got[2]
        art_kind = _sbom_kind(doc.get("artifactType") or att.get("artifact_type"))
        for layer in doc.get("layers") or []:
            if not isinstance(layer, dict) or not isinstance(layer.get("digest"), str):
                continue
            kind = _sbom_kind(layer.get("mediaType")) or art_kind
            is_dsse = layer.get("mediaType") in DSSE
            if kind is None and not is_dsse:
                continue
            data = client.blob_bytes(ref, layer["digest"], limit=MAX_SBOM)
            try:
                body = json.loads(data)
            except (ValueError, UnicodeDecodeError):
                continue
            if is_dsse:
                body = _from_dsse(body)
                if body is None:
                    continue
            if _looks_like_sbom(body):
                att["used"] = True
                found.append((att, body))
    return found


def _from_dsse(env: Any) -> dict | None:
    try:
        payload = json.loads(base64.b64decode(env["payload"]))
    except (KeyError, TypeError, ValueError):
        return None
    pred = payload.get("predicate") if isinstance(payload, dict) else None
    if isinstance(pred, dict) and "Data" in pred and isinstance(pred["Data"], (dict, str)):  # cosign attest wrapper
        pred = pred["Data"] if isinstance(pred["Data"], dict) else _json_or_none(pred["Data"])
    return pred if isinstance(pred, dict) else None


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _looks_like_sbom(doc: Any) -> bool:
    return isinstance(doc, dict) and (doc.get("spdxVersion") is not None or doc.get("bomFormat") == "CycloneDX")


def components(doc: dict[str, Any]) -> list[Any]:
    """Components of an SPDX 2 or CycloneDX JSON document, as SBOM-plugin Components."""
    from provcheck_sbom.inventory import Component
    items: list[tuple[str, str, str | None]] = []  # (name, version, purl)
    if doc.get("spdxVersion"):
        for p in doc.get("packages") or []:
            if not isinstance(p, dict):
                continue
            purl = next((r.get("referenceLocator") for r in p.get("externalRefs") or []
                         if isinstance(r, dict) and r.get("referenceType") == "purl"), None)
            items.append((str(p.get("name") or ""), str(p.get("versionInfo") or ""), purl))
    else:
        stack = list(doc.get("components") or [])
        while stack and len(items) < 1_000_000:
            c = stack.pop()
            if not isinstance(c, dict):
                continue
            items.append((str(c.get("name") or ""), str(c.get("version") or ""), c.get("purl")))
            stack += c.get("components") or []
    out = []
    for name, version, purl in items:
        if not name:
            continue
        ptype, source, source_version, arch = "generic", None, None, None
        if isinstance(purl, str) and purl.startswith("pkg:"):
            try:
                p = PackageURL.from_string(purl)
                ptype, name, version = p.type, p.name, p.version or version
                q = p.qualifiers or {}
                arch = q.get("arch")
                up = q.get("upstream")
                if up:
                    source, _, sv = up.partition("@")
                    source_version = sv or None
            except ValueError:
                purl = None
        if not purl:
            purl = f"pkg:generic/{name}@{version}" if version else f"pkg:generic/{name}"
        if ptype == "deb":
            source = source or name
            source_version = source_version or version
        out.append(Component(name=name, version=version, purl=purl, type=ptype, origin="sbom", source=source,
                             source_version=source_version, arch=arch))
    uniq = {c.purl: c for c in out}
    return sorted(uniq.values(), key=lambda c: (c.type, c.name, c.version, c.purl))


__all__ = ["discover", "fetch_sboms", "components", "RegistryError"]
