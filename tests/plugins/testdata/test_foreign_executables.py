"""A Windows or macOS executable hidden in test data is read (with LIEF, in a worker process):
its summary is in the finding, and bytes appended after it are PC213. Real files only: the
Windows launchers that setuptools and pip ship, markupsafe's macOS extension."""

from __future__ import annotations

import importlib.util
import io
import lzma
import random
import zipfile
from pathlib import Path

import pytest

import provcheck_testdata
from provcheck import Severity

CLI64 = Path(importlib.util.find_spec("setuptools").origin).parent / "cli-64.exe"


@pytest.fixture(scope="module")
def macos_extension() -> bytes:
    import realdata
    with zipfile.ZipFile(realdata.wheel("markupsafe==2.1.5", "macosx_11_0_arm64")) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".so")]
        return z.read(name)


def test_a_windows_executable_in_test_data_is_summarised_and_its_overlay_found(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    launcher = CLI64.read_bytes()
    stage2 = io.BytesIO()
    with zipfile.ZipFile(stage2, "w") as z:
        z.writestr("x.bin", random.Random(3).randbytes(30_000))
    files = dict(honest_files)
    files["tests/files/good-1-launcher.bin"] = launcher + stage2.getvalue()
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC213")
    assert f.location.path == "tests/files/good-1-launcher.bin" and f.severity == Severity.HIGH
    assert f.evidence["end"] == len(launcher) and f.evidence["appended_format"] == "zip"
    assert f.evidence["executable"]["machine"] == "AMD64" and "KERNEL32.dll" in f.evidence["executable"]["imports"]
    assert "after the end of the PE AMD64 executable (WINDOWS_CUI) importing KERNEL32.dll" in f.message
    pc201 = result.only("PC201")
    assert "PE AMD64 executable (WINDOWS_CUI) importing KERNEL32.dll" in pc201.message


@pytest.mark.slow
def test_a_macos_binary_with_an_xz_payload(checker, honest_files, macos_extension):
    checker.add_plugin(provcheck_testdata)
    payload = lzma.compress(random.Random(5).randbytes(40_000))
    files = dict(honest_files)
    files["tests/files/speedups.so"] = macos_extension + payload
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC213")
    assert f.evidence["end"] == len(macos_extension) and f.evidence["appended_format"] == "xz"
    assert [s["cpu"] for s in f.evidence["executable"]["slices"]] == ["X86_64", "ARM64"]
    assert "Mach-O X86_64+ARM64 bundle linking /usr/lib/libSystem.B.dylib" in f.message


def test_an_untouched_launcher_is_quiet_and_a_broken_one_is_described(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    files["tests/win/cli-64.exe"] = CLI64.read_bytes()
    files["tests/win/run.sh"] = "wine win/cli-64.exe\n"
    files["tests/files/broken.exe.dat"] = b"MZ" + bytes(58) + b"\x40\0\0\0" + b"PE\0\0" + bytes(300)
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()   # a file LIEF cannot parse is a property of the file, not a failed scan
    assert not result.by_rule("PC213")
    paths = {f.location.path: f for f in result.by_rule("PC201")}
    assert "tests/win/cli-64.exe" not in paths
    assert "file LIEF cannot read (malformed" in paths["tests/files/broken.exe.dat"].message
