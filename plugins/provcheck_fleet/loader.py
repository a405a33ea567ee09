"""``provcheck scan registry://HOST[:PORT]/REPO[:TAG|@DIGEST]``: one image straight from a registry.

The manifest (the wanted platform's, when the reference names an index), the config and
the layers are pulled with :class:`RegistryClient` (every blob verified while it streams)
into an OCI image layout in the scan's work area; the core's ``ImageLoader`` then reads
that layout like any other image (whiteouts, per-layer trees, PC907 checks).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from provcheck import InputError
from provcheck.formats.oci import load_image_layout, parse_platform, platform_matches

from .registry import (DIGEST_RX, INDEX_TYPES, DigestMismatch, Reference, RegistryClient, RegistryError, RegistryOptions,
                       iter_platform_manifests, platform_str)


def registry_options(options: dict[str, Any]) -> RegistryOptions:
    password = options.get("password")
    if password is None and options.get("password_stdin"):
        password = sys.stdin.readline().rstrip("\n")
    if password is None:
        password = os.environ.get("PROVCHECK_REGISTRY_PASSWORD")
    return RegistryOptions(
        plain_http=bool(options.get("plain_http")), allow_cleartext_auth=bool(options.get("allow_cleartext_auth")),
        ca_file=options.get("ca_file"), username=options.get("username"), password=password,
        docker_config=options.get("docker_config"),
        insecure_skip_verify=bool(options.get("insecure_skip_verify")))


def load_registry_image(spec: Any, ctx: Any) -> Any:
    try:
        ref = Reference.parse(spec.path)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if not ref.repository:
        raise InputError(f"{spec.text}: names a whole registry; scan a catalog with `provcheck fleet scan {spec.text}`")
    options = dict(ctx.config.options("fleet"))
    platform = spec.platform or ctx.config.platform
    (Path(ctx.work_dir) / "registry").mkdir(parents=True, exist_ok=True)
    layout = Path(tempfile.mkdtemp(prefix="image-", dir=Path(ctx.work_dir) / "registry"))
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    try:
        with RegistryClient(registry_options(options)) as client:
            got = client.manifest(ref)
            if got is None:
                raise InputError(f"{spec.text}: no such image (manifest 404)")
            digest, media, doc, raw = got
            index_digest = None
            if media in INDEX_TYPES or doc.get("manifests") is not None:
                want = parse_platform(platform)
                children = list(iter_platform_manifests(doc))
                pick = next((m for m in children if platform_matches(m.get("platform"), want)), None)
                if pick is None:
                    offered = ", ".join(sorted({platform_str(m.get("platform")) for m in children})) or "none"
                    raise InputError(f"{spec.text}: no image for platform {platform} (offered: {offered}); "
                                     f"choose one with --platform")
                index_digest = digest
                child = client.manifest(ref, pick["digest"])
                if child is None:
                    raise InputError(f"{spec.text}: index names {pick['digest']}, which the registry does not have")
                digest, media, doc, raw = child
                desc = dict(pick)
            else:
                desc = {"mediaType": media or "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                        "size": len(raw)}
            (blobs / digest[7:]).write_bytes(raw)
            config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
            wanted = ([config] if isinstance(config.get("digest"), str) else []) + \
                     [d for d in doc.get("layers") or [] if isinstance(d, dict)]
            fetched = 0
            for d in wanted:
                if not DIGEST_RX.fullmatch(str(d.get("digest", ""))):
                    raise InputError(f"{spec.text}: manifest names a malformed digest {str(d.get('digest'))[:80]!r}")
                dest = blobs / str(d["digest"])[7:]
                if not dest.exists():
                    client.fetch_blob(ref, d, dest, layout / "partial")
                fetched += dest.stat().st_size
                if fetched > ctx.limits.max_total_bytes:  # many big layers must not fill the disk
                    raise InputError(f"{spec.text}: layers pass {ctx.limits.max_total_bytes} bytes "
                                     "(limit max-total-bytes); not scanned")
    except DigestMismatch as exc:
        raise InputError(f"{spec.text}: {exc} (PC603: nothing from this image was scanned)") from None
    except RegistryError as exc:
        raise InputError(f"{spec.text}: {exc}") from None
    desc.setdefault("annotations", {})
    if ref.tag:
        desc["annotations"] = dict(desc["annotations"], **{"org.opencontainers.image.ref.name": ref.tag})
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPES[0],
                                                   "manifests": [desc]}))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    artifact = load_image_layout(layout, str(ref), ctx, platform)
    artifact.role, artifact.source = spec.role, spec.text
    artifact.metadata.update(registry=ref.registry, repository=ref.repository, tag=ref.tag,
                             index_digest=index_digest)
    return artifact


