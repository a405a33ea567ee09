"""Helpers for the SBOM tests: tampered OCI layouts (extra layers, attachments)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import provcheck_sbom

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "samples" / "advisories"
LIBDIR = "usr/lib/x86_64-linux-gnu"

# -- building tampered copies -----------------------------------------------------------------

def layer_tar(files: dict[str, bytes | tuple[str, str]]) -> bytes:
    """A tar layer: bytes are regular files (mode 0644, or 0755 for .so), ("symlink", target) links."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, value in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if isinstance(value, tuple):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, value[1], 0o777
                t.addfile(info)
            else:
                info.size, info.mode = len(value), 0o755 if ".so" in name else 0o644
                t.addfile(info, io.BytesIO(value))
    return buf.getvalue()


def copy_layout(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def add_layer(layout: Path, files: dict[str, bytes | tuple[str, str]], created_by: str = "tamper") -> str:
    """Append a layer to the (only) image in an OCI layout; returns the new manifest digest."""
    blobs = layout / "blobs" / "sha256"

    def put(data: bytes) -> dict:
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return {"digest": f"sha256:{d}", "size": len(data)}

    index = json.loads((layout / "index.json").read_text())
    desc = index["manifests"][0]
    manifest = json.loads((blobs / desc["digest"].split(":")[1]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
    raw = layer_tar(files)
    config["rootfs"]["diff_ids"].append(f"sha256:{hashlib.sha256(raw).hexdigest()}")
    config.setdefault("history", []).append({"created_by": created_by})
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                               **put(gzip.compress(raw, mtime=0))})
    manifest["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json",
                          **put(json.dumps(config).encode())}
    new = put(json.dumps(manifest).encode())
    desc.update(new)
    (layout / "index.json").write_text(json.dumps(index))
    return new["digest"]


def attach(layout: Path, subject: str, payload: bytes, media_type: str, tag: str | None = None,
           artifact_type: str | None = None) -> str:
    """Attach ``payload`` to the image: an OCI 1.1 referrer (``subject``) or, with ``tag``,
    a cosign-style tagged manifest."""
    blobs = layout / "blobs" / "sha256"

    def put(data: bytes) -> dict:
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return {"digest": f"sha256:{d}", "size": len(data)}

    empty = put(b"{}")
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", **empty},
           "layers": [{"mediaType": media_type, **put(payload)}]}
    if artifact_type:
        man["artifactType"] = artifact_type
    if tag is None:
        idx = json.loads((layout / "index.json").read_text())
        size = next((d["size"] for d in idx["manifests"] if d["digest"] == subject), 0)
        man["subject"] = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject,
                          "size": size}
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **put(json.dumps(man).encode())}
    if artifact_type:
        desc["artifactType"] = artifact_type
    if tag:
        desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append(desc)
    (layout / "index.json").write_text(json.dumps(index))
    return desc["digest"]


def image_file(layout: Path, path: str) -> bytes:
    """A file's bytes as the image's layers leave it (last layer wins; no whiteouts needed here)."""
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_bytes())
    found = None
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress((blobs / layer["digest"].split(":")[1]).read_bytes()))) as t:
            for m in t.getmembers():
                if m.name.lstrip("./") == path and m.isfile():
                    found = t.extractfile(m).read()
    if found is None:
        raise FileNotFoundError(path)
    return found


def manifest_digest(layout: Path) -> str:
    return json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


OPTS = "sbom"  # checker.add_plugin registers built-ins under their entry-point name


def run(checker, target, **options):
    """A scan with the SBOM plugin and ``options``."""
    checker.add_plugin(provcheck_sbom)
    return checker.run(target, options={OPTS: options})


def pc4(result):
    return {k: v for k, v in result.rules().items() if k.startswith("PC4")}
