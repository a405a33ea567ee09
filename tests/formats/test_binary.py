"""provcheck.formats.binary: real Windows and macOS executables read with LIEF in a worker,
and the hostile-input contract (a crash, a timeout, the memory limit: a reported error)."""

from __future__ import annotations

import importlib.util
import io
import os
import signal
import zipfile
from pathlib import Path

import pytest

from provcheck.formats import binary

# Real PE files shipped inside PyPI packages this suite installs anyway.
def _package_dir(name: str) -> Path:
    return Path(importlib.util.find_spec(name).origin).parent   # found, not imported


CLI64 = _package_dir("setuptools") / "cli-64.exe"                 # x86-64 console launcher
W64ARM = _package_dir("pip") / "_vendor" / "distlib" / "w64-arm.exe"  # ARM64 GUI launcher


def payload() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("stage2.bin", os.urandom(40_000))
    return out.getvalue()


@pytest.fixture(scope="module")
def reader():
    with binary.Reader() as r:
        yield r


@pytest.fixture(scope="module")
def macos_extension(tmp_path_factory) -> bytes:
    """markupsafe's C extension from its macOS universal2 wheel: a fat Mach-O (x86_64 + arm64)."""
    import realdata
    whl = realdata.wheel("markupsafe==2.1.5", "macosx_11_0_arm64")
    with zipfile.ZipFile(whl) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".so")]
        return z.read(name)


@pytest.mark.slow
def test_kind_of_real_and_lookalike_heads(macos_extension):
    assert binary.kind(CLI64.read_bytes()[:512]) == "pe"
    assert binary.kind(macos_extension[:64]) == "macho"
    java_class = b"\xca\xfe\xba\xbe\x00\x00\x00\x41" + b"\0" * 56      # same magic, version 65
    assert binary.kind(java_class) is None
    assert binary.kind(b"MZ" + b"\0" * 100) is None


def test_pe_summary_of_real_windows_launchers(reader):
    s = reader.read(CLI64.read_bytes(), "pe")
    assert (s["machine"], s["kind"], s["subsystem"]) == ("AMD64", "executable", "WINDOWS_CUI")
    assert "KERNEL32.dll" in [i["library"] for i in s["imports"]]
    assert "CreateProcessA" in next(i for i in s["imports"] if i["library"] == "KERNEL32.dll")["functions"]
    assert s["signatures"] == [] and s["overlay"] is None and s["end"] == CLI64.stat().st_size
    arm = reader.read(W64ARM.read_bytes(), "pe")
    assert (arm["machine"], arm["subsystem"]) == ("ARM64", "WINDOWS_GUI")
    assert binary.describe(s).startswith("PE AMD64 executable (WINDOWS_CUI) importing KERNEL32.dll")
    assert binary.describe(s).endswith("; unsigned")


def test_pe_overlay_is_what_follows_the_last_section(reader):
    data = CLI64.read_bytes()
    extra = payload()
    s = reader.read(data + extra, "pe")
    assert s["overlay"] == {"offset": len(data), "size": len(extra)}


@pytest.mark.slow
def test_macho_fat_summary_and_overlay(reader, macos_extension):
    s = reader.read(macos_extension, "macho")
    assert [x["cpu"] for x in s["slices"]] == ["X86_64", "ARM64"]
    assert all(x["type"] == "BUNDLE" and x["libraries"] == ["/usr/lib/libSystem.B.dylib"] for x in s["slices"])
    assert "_PyModule_Create2" in s["slices"][0]["imports"]
    arm = s["slices"][1]
    assert arm["code_signature"] and arm["end"] == arm["slice_size"]   # arm64 slices are always signed
    assert s["overlay"] is None and s["end"] == len(macos_extension)
    assert binary.describe(s) == ("Mach-O X86_64+ARM64 bundle linking /usr/lib/libSystem.B.dylib; "
                                  "code signature in ARM64")
    extra = payload()
    grown = reader.read(macos_extension + extra, "macho")
    assert grown["overlay"] == {"offset": len(macos_extension), "size": len(extra)}


def test_malformed_input_is_a_reason_not_a_crash(reader):
    with pytest.raises(binary.BinaryError, match="malformed"):
        reader.read(b"MZ" + bytes(200), "pe")
    cut = CLI64.read_bytes()[:700]
    try:
        reader.read(cut, "pe")
    except binary.BinaryError as exc:
        assert "malformed" in str(exc)
    assert reader.read(CLI64.read_bytes(), "pe")["machine"] == "AMD64"   # the worker is still there


def test_a_worker_that_dies_is_an_error_and_the_next_file_is_read():
    """A segfault in LIEF (here: the real signal, sent to the worker while it waits for its
    next file) fails that one file with the reason; the next read starts a new worker."""
    with binary.Reader() as r:
        r.read(CLI64.read_bytes(), "pe")
        os.kill(r.proc.pid, signal.SIGSEGV)
        r.proc.wait()
        with pytest.raises(binary.BinaryError, match=r"LIEF crashed \(signal 11\)"):
            r.read(CLI64.read_bytes(), "pe")
        assert r.read(CLI64.read_bytes(), "pe")["machine"] == "AMD64"


def test_a_timeout_kills_the_worker():
    with binary.Reader(timeout=0.01) as r:
        with pytest.raises(binary.BinaryError, match="did not finish in 0 s"):
            r.read(CLI64.read_bytes(), "pe")
        assert r.proc is None


def test_the_memory_limit_holds():
    """With 64 MiB of address space the worker cannot even load LIEF: an error, not a hang."""
    with binary.Reader(memory=64 << 20) as r:
        with pytest.raises(binary.BinaryError, match="LIEF crashed"):
            r.read(CLI64.read_bytes(), "pe")
