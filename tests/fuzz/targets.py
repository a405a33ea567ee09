"""Fuzz targets: every reader of provcheck.formats and the archive, OCI and SBOM loaders.

A target is ``check(data: bytes) -> None``: it feeds ``data`` to one reader and lets through
only the errors that reader documents (ElfError, BinaryError, SbomError, ProvcheckError);
anything else (IndexError, RecursionError, a hang, a crash) is a bug the fuzzer reports.
``seeds(dir)`` writes real files to start from. tests/fuzz/run.py drives a target with
atheris (coverage-guided); tests/fuzz/test_fuzz.py runs each for a bounded time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))

SMALL = 96 << 10   # seeds up to this size keep the fuzzer fast


def _real_elf_files(limit: int = 8) -> list[Path]:
    import realdata
    root = realdata.rootfs(["openssh-server"], "sshd")
    found = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.stat().st_size <= SMALL:
            with open(p, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(p)
    found.sort(key=lambda p: p.stat().st_size)
    step = max(1, len(found) // limit)
    return found[::step][:limit]


def _write(dest: Path, name: str, data: bytes) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / name).write_bytes(data)


# -- ELF ---------------------------------------------------------------------------------

def elf_seeds(dest: Path) -> None:
    for p in _real_elf_files():
        _write(dest, p.name, p.read_bytes())


def elf_check(data: bytes) -> None:
    from provcheck.formats import elf
    try:
        elf.parse_buffer(data, len(data), deep=True)
    except elf.ElfError:
        pass
    elf.described_end(io.BytesIO(data), len(data))
    elf.describe(data[:20])


# -- PE and Mach-O (LIEF in its worker) ----------------------------------------------------

_BINARY_READER = None


def binary_seeds(dest: Path) -> None:
    import realdata
    for pkg, rel in (("setuptools", "cli-32.exe"), ("pip", "_vendor/distlib/t64-arm.exe")):
        path = Path(importlib.util.find_spec(pkg).origin).parent / rel
        _write(dest, path.name, path.read_bytes())
    with zipfile.ZipFile(realdata.wheel("markupsafe==2.1.5", "macosx_11_0_arm64")) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".so")]
        _write(dest, "speedups-universal2.so", z.read(name))


def binary_check(data: bytes) -> None:
    global _BINARY_READER
    from provcheck.formats import binary
    if _BINARY_READER is None:
        _BINARY_READER = binary.Reader(timeout=20)
    binary.kind(data[:4096])
    fmt = "pe" if data[:2] == b"MZ" else "macho"   # LIEF sees every input, not only those with intact magic
    try:
        summary = _BINARY_READER.read(data, fmt)
    except binary.BinaryError as exc:
        if "crashed" in str(exc) or "did not finish" in str(exc):
            raise AssertionError(f"LIEF worker: {exc}") from None   # contained, but worth a look
        return
    binary.describe(summary)
    binary.brief(summary)


# -- SBOM --------------------------------------------------------------------------------

def sbom_seeds(dest: Path) -> None:
    """What syft writes, in four formats, for a directory holding three real dpkg status
    paragraphs of the Debian root filesystem (small seeds keep the fuzzer fast); cached."""
    import realdata

    def build(out: Path) -> str:
        syft = Path(sys.executable).parent / "syft"
        status = (realdata.rootfs(["openssh-server"], "sshd") / "var/lib/dpkg/status").read_text()
        root = Path(tempfile.mkdtemp(prefix="provcheck-fuzz-sbom-"))
        (root / "var/lib/dpkg").mkdir(parents=True)
        (root / "var/lib/dpkg/status").write_text("\n\n".join(status.split("\n\n")[:3]) + "\n")
        (root / "etc").mkdir()
        (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
        for fmt in ("cyclonedx-json", "spdx-json", "cyclonedx-xml", "spdx-tag-value"):
            sbom = subprocess.run([str(syft), "scan", f"dir:{root}", "-q", "-o", fmt], capture_output=True,
                                  check=True, env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"}).stdout
            _write(out, f"sbom.{fmt}", sbom)
        return "syft"
    cached = realdata.build_once(realdata.CACHE / "fuzz-seeds" / "sbom", "fuzz-seeds-sbom", build)
    for p in cached.iterdir():
        _write(dest, p.name, p.read_bytes())


def sbom_check(data: bytes) -> None:
    from provcheck_sbom import formats
    try:
        formats.parse(data, "fuzz.sbom")
    except formats.SbomError:
        pass


# -- archives (libarchive through the core's reader) ------------------------------------------

class _Store:
    """One blob store and work area for a fuzzing process."""

    def __init__(self):
        from provcheck.config import InputSpec, build_config
        from provcheck.engine import BlobStore, LoadContext
        from provcheck.plugins import PluginManager
        self.dir = Path(tempfile.mkdtemp(prefix="provcheck-fuzz-"))
        self.InputSpec = InputSpec
        self.config = build_config({}, None, inputs=[])
        pm = PluginManager()
        pm.load(blocked=["release", "testdata", "elf", "sbom", "attest", "fleet"])
        self.store = BlobStore(self.dir / "blobs")
        self.ctx = LoadContext(pm, self.store, self.config)


_STORE: _Store | None = None


def _store() -> _Store:
    global _STORE
    if _STORE is None:
        _STORE = _Store()
    return _STORE


def archive_seeds(dest: Path) -> None:
    import realdata
    for deb in realdata.download(["libattr1", "libacl1", "libcap2"]).values():   # small real .deb files
        _write(dest, deb.name, deb.read_bytes())
    buf = io.BytesIO()
    import tarfile
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for p in _real_elf_files(2):
            t.add(p, arcname=f"pkg/{p.name}")
    _write(dest, "pkg.tar.gz", buf.getvalue())


def archive_check(data: bytes) -> None:
    from provcheck.formats.archive import Reader
    s = _store()
    entries = Reader(s.store, s.config.limits, "fuzz", rootfs=False).read(io.BytesIO(data), "fuzz.archive")
    for _raw, node in entries.items:
        assert not node.path.startswith("/") and ".." not in node.path.split("/"), node.path


# -- OCI image layouts -------------------------------------------------------------------------

_LAYOUT: Path | None = None


def _layout() -> Path:
    """A real OCI layout (written by tests/realdata.py's layout writer) whose one layer holds
    two small real ELF files; small, so a valid mutated manifest costs milliseconds to load."""
    global _LAYOUT
    if _LAYOUT is None:
        import gzip
        import tarfile

        import realdata
        root = Path(tempfile.mkdtemp(prefix="provcheck-fuzz-oci-"))
        (root / "blobs" / "sha256").mkdir(parents=True)
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as t:
            for p in _real_elf_files(2):
                t.add(p, arcname=f"usr/bin/{p.name}")
        layer = realdata.put_blob(root, gzip.compress(raw.getvalue(), mtime=0))
        realdata.finish_layout(root, [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
                               [f"sha256:{hashlib.sha256(raw.getvalue()).hexdigest()}"], [{"created_by": "fuzz"}])
        _LAYOUT = root
    return _LAYOUT


def oci_seeds(dest: Path) -> None:
    root = _layout()
    index = json.loads((root / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    _write(dest, "index.json", b"I" + (root / "index.json").read_bytes())
    _write(dest, "manifest.json", b"M" + (root / "blobs" / "sha256" / digest).read_bytes())


def oci_check(data: bytes) -> None:
    """First byte ``I``: ``data[1:]`` is the layout's index.json. Else: it is the image
    manifest, stored under its digest and named by the index (so digests verify and the
    loader really reads the mutated manifest)."""
    from provcheck import ProvcheckError
    s = _store()
    root = _layout()
    original = (root / "index.json").read_bytes()
    body = data[1:]
    added = None
    if data[:1] == b"I":
        (root / "index.json").write_bytes(body)
    else:
        digest = hashlib.sha256(body).hexdigest()
        added = root / "blobs" / "sha256" / digest
        if not added.exists():
            added.write_bytes(body)
        else:
            added = None
        (root / "index.json").write_text(json.dumps({
            "schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                               "digest": f"sha256:{digest}", "size": len(body)}]}))
    try:
        s.ctx.load(s.InputSpec.parse(str(root)))
    except ProvcheckError:
        pass
    finally:
        (root / "index.json").write_bytes(original)
        if added is not None:
            added.unlink()


TARGETS: dict[str, tuple[Callable[[bytes], None], Callable[[Path], None]]] = {
    "elf": (elf_check, elf_seeds),
    "binary": (binary_check, binary_seeds),
    "sbom": (sbom_check, sbom_seeds),
    "archive": (archive_check, archive_seeds),
    "oci": (oci_check, oci_seeds),
}
