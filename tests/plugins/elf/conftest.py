"""Fixtures for the ELF plugin: real Debian trees (cached) and ELF files compiled with gcc."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import provcheck_elf

OTHER_PLUGINS = ["-p", "no:release", "-p", "no:testdata", "-p", "no:sbom", "-p", "no:attest", "-p", "no:fleet"]


class Compiler:
    """gcc into a scratch dir; returns the bytes of what it built."""

    def __init__(self, base: Path):
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def build(self, source: str, *flags: str, name: str = "out", inputs: dict[str, bytes] | None = None) -> bytes:
        self.n += 1
        work = self.base / f"b{self.n}"
        work.mkdir()
        (work / "src.c").write_text(source)
        for fname, data in (inputs or {}).items():
            (work / fname).write_bytes(data)
        proc = subprocess.run(["gcc", "src.c", "-o", name, *flags], cwd=work, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return (work / name).read_bytes()

    def lib(self, soname: str, source: str, *flags: str, inputs: dict[str, bytes] | None = None) -> bytes:
        return self.build(source, "-shared", "-fPIC", f"-Wl,-soname,{soname}", *flags, name=soname, inputs=inputs)

    def exe(self, source: str, *flags: str, inputs: dict[str, bytes] | None = None) -> bytes:
        return self.build(source, *flags, name="app", inputs=inputs)


@pytest.fixture
def gcc(tmp_path: Path) -> Compiler:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required for the ELF tests (scripts/system-deps.sh installs it)")
    return Compiler(tmp_path / "gcc")


@pytest.fixture
def elf(checker):
    checker.add_plugin(provcheck_elf)
    return checker


@pytest.fixture
def other_plugins() -> list[str]:
    """``-p no:NAME`` for the other built-in plugins, so their work cannot disturb these tests."""
    return list(OTHER_PLUGINS)


@pytest.fixture(scope="session")
def sshd_rootfs() -> Path:
    import realdata
    return realdata.rootfs(["openssh-server"], "sshd")


@pytest.fixture(scope="session")
def dropbear_rootfs() -> Path:
    """dropbear next to libsystemd0 (and so liblzma5): the libraries are there, the path is not."""
    import realdata
    return realdata.rootfs(["dropbear-bin", "libsystemd0"], "dropbear-systemd")


@pytest.fixture(scope="session")
def sshd_image() -> Path:
    import realdata
    return realdata.image([["libc6", "bash", "coreutils"], ["openssh-server"]], "sshd")


@pytest.fixture
def linkage(elf, capsys, monkeypatch):
    """``provcheck linkage ROOT ARGS`` in-process (the real CLI): (exit code, stdout, stderr).

    Other plugins are disabled so their work in progress cannot disturb these tests."""
    import json as _json

    from provcheck.cli import main

    def run(root, *args, fmt="json", cache=False):
        monkeypatch.chdir(elf.base)
        extra = [] if cache else ["--set", "elf.cache=false"]
        code = main([*OTHER_PLUGINS, "linkage", str(root), "--format", fmt, *extra, *map(str, args)])
        cap = capsys.readouterr()
        out = _json.loads(cap.out) if fmt == "json" and cap.out.strip() else cap.out
        return code, out, cap.err
    return run
