"""Fixtures for the format readers: real files (a Debian root filesystem, cached by
tests/realdata.py, the same one the ELF plugin's tests use) and files built here with gcc."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def sshd_rootfs() -> Path:
    import realdata
    return realdata.rootfs(["openssh-server"], "sshd")


@pytest.fixture(scope="session")
def rootfs_elf_files(sshd_rootfs) -> list[Path]:
    """Every regular ELF file of the root filesystem, sorted."""
    out = []
    for p in sorted(Path(sshd_rootfs).rglob("*")):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    out.append(p)
    return out
