"""Real images for the fleet tests and benchmark, sharing base layers.

``tests/realdata.py`` builds each image from real Debian packages, but two builds of the
same package group give different layer blobs (directory mtimes). Registries share
layers only when the blobs are identical, as in real fleets built ``FROM`` one base, so
``compose`` stacks the *same* base layer blob under upper layers taken from other real
images (whose package databases already include the base packages).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import realdata  # noqa: E402

BASE = ["libc6", "bash", "coreutils"]


def _read(layout: Path) -> tuple[dict, dict, Path]:
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    mdesc = index["manifests"][0]
    manifest = json.loads((blobs / mdesc["digest"][7:]).read_bytes())
    config = json.loads((blobs / manifest["config"]["digest"][7:]).read_bytes())
    return manifest, config, blobs


def base() -> Path:
    return realdata.image([BASE], "fleet-base")


def app(packages: Sequence[str], name: str) -> Path:
    """A real two-layer image: the base packages, then ``packages`` (with dependencies)."""
    return realdata.image([BASE, list(packages)], f"fleet-{name}")


def compose(parts: Sequence[tuple[Path, int]], name: str) -> Path:
    """An OCI layout whose layers are ``layout``'s layer ``i`` for each part, blobs hard-linked."""
    key = hashlib.sha256(json.dumps([[str(p), i] for p, i in parts]).encode()).hexdigest()[:12]
    return realdata.build_once(realdata.CACHE / "fleet-images" / f"{name}-{key}", f"fleet-image-{name}",
                               lambda root: _compose(parts, name, root))


def _compose(parts: Sequence[tuple[Path, int]], name: str, root: Path) -> str:
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    descs, diff_ids, history = [], [], []
    for layout, i in parts:
        manifest, config, src = _read(layout)
        desc = manifest["layers"][i]
        dest = blobs / desc["digest"][7:]
        if not dest.exists():
            try:
                os.link(src / desc["digest"][7:], dest)
            except OSError:
                shutil.copyfile(src / desc["digest"][7:], dest)
        descs.append(desc)
        diff_ids.append(config["rootfs"]["diff_ids"][i])
        history.append((config.get("history") or [{}] * (i + 1))[i])
    realdata.finish_layout(root, descs, diff_ids, history, labels={"variant": name})
    return name


def fleet(apps: Sequence[Sequence[str]]) -> dict[str, Path]:
    """name -> layout: the base image, and one image per package group on the same base blob.

    Remembered in ``.cache/fleet-images/`` (resolving package closures with apt costs
    seconds per image even when every image is built already)."""
    realdata.needs_real_data("fleet images")
    memo = realdata.CACHE / "fleet-images" / f"fleet-{hashlib.sha256(json.dumps(apps).encode()).hexdigest()[:12]}.json"
    try:
        known = {k: Path(v) for k, v in json.loads(memo.read_text()).items()}
        if all(realdata.complete(p).exists() for p in known.values()):
            return known
    except (OSError, ValueError):
        pass
    out = _fleet(apps)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({k: str(v) for k, v in out.items()}))
    os.replace(tmp, memo)
    return out


def _fleet(apps: Sequence[Sequence[str]]) -> dict[str, Path]:
    b = base()
    out = {"base": b}
    for pkgs in apps:
        name = "-".join(pkgs)
        out[name] = compose([(b, 0), (app(pkgs, name), 1)], name)
    return out


def multi_platform(layouts: Sequence[Path], dest: Path) -> Path:
    """One OCI layout whose index lists the manifests of ``layouts`` (each with its platform)."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    manifests = []
    for layout in layouts:
        for blob in (layout / "blobs" / "sha256").iterdir():
            if not (blobs / blob.name).exists():
                try:
                    os.link(blob, blobs / blob.name)
                except OSError:
                    shutil.copyfile(blob, blobs / blob.name)
        desc = json.loads((layout / "index.json").read_text())["manifests"][0]
        desc.pop("annotations", None)
        manifests.append(desc)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    raw = json.dumps(index).encode()
    digest = hashlib.sha256(raw).hexdigest()
    (blobs / digest).write_bytes(raw)
    (dest / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": index["mediaType"], "digest": f"sha256:{digest}", "size": len(raw),
                       "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return dest
