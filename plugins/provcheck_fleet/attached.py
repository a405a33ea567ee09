"""What is attached to an image: cosign ``.sig``/``.att``/``.sbom`` tags and OCI 1.1 referrers
(through the referrers API or its fallback tag), and SBOMs read from them.

An attached SBOM (SPDX 2 JSON or CycloneDX JSON, bare or as the predicate of an in-toto
statement in a DSSE envelope) is turned into components; fast mode answers the
inventory from it without pulling layers.
"""

from __future__ import annotations

from typing import Any

from packageurl import PackageURL

from provcheck.formats.inventory import Component
from provcheck.formats.oci import MAX_SBOM, attachment_kind, cosign_tags, sbom_document, sbom_layers

from .registry import Reference, RegistryClient, RegistryError

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
    for suffix, tag in cosign_tags(digest).items():
        if tags is not None and tag not in tags:
            continue
        got = client.manifest(ref, tag)
        if got is None:
            continue
        mdigest, media, doc, _raw = got
        out.append({"kind": attachment_kind(doc, digest, tag) or f"cosign-{suffix}", "how": "cosign-tag",
                    "digest": mdigest, "media_type": media,
                    "artifact_type": doc.get("artifactType"), "tag": tag, "manifest": doc})
    return out


def fetch_sboms(client: RegistryClient, ref: Reference, attachments: list[dict[str, Any]],
                errors: list[str] | None = None) -> list[tuple[dict, dict]]:
    """(attachment, SBOM document) for every SBOM found; marks the attachments ``used``.
    An SBOM layer that cannot be read (bad JSON, a broken DSSE envelope) is an entry of ``errors``."""
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
        if not doc.get("artifactType") and att.get("artifact_type"):
            doc = dict(doc, artifactType=att["artifact_type"])
        for layer in sbom_layers(doc):
            data = client.blob_bytes(ref, layer["digest"], limit=MAX_SBOM)
            try:
                body = sbom_document(data)
            except ValueError as exc:
                if errors is not None:
                    errors.append(f"attached SBOM {layer['digest']} ({att['kind']} {att['digest']}): {exc}")
                continue
            if body is not None:
                att["used"] = True
                found.append((att, body))
    return found


def components(doc: dict[str, Any]) -> list[Any]:
    """Components of an SPDX 2 or CycloneDX JSON document."""
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
