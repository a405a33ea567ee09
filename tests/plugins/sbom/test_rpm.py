"""A real rpm database: a package built with rpmbuild and installed with rpm 4.18 (the Debian
`rpm` package) into a root with the sqlite backend; read back by the sbom plugin."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import provcheck_sbom
import realdata

pytestmark = pytest.mark.slow  # real Debian data (downloaded once, cached under .cache/)

SPEC = """Name: xz-libs
Epoch: 1
Version: 5.6.0
Release: 1.fc40
Summary: liblzma as Fedora 40 shipped it before the revert
License: 0BSD
BuildArch: x86_64
%description
Test package.
%install
mkdir -p %{buildroot}/usr/lib64 %{buildroot}/etc
printf 'liblzma 5.6.0 stand-in' > %{buildroot}/usr/lib64/liblzma.so.5.6.0
ln -s liblzma.so.5.6.0 %{buildroot}/usr/lib64/liblzma.so.5
printf 'level=6\n' > %{buildroot}/etc/xz.conf
%files
/usr/lib64/liblzma.so.5.6.0
/usr/lib64/liblzma.so.5
%config(noreplace) /etc/xz.conf
"""


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} is needed (Debian package 'rpm')")
    return path


@pytest.fixture(scope="module")
def rpm_file() -> Path:
    out = realdata.CACHE / "sbom" / "rpm"
    rpm = out / "RPMS" / "x86_64" / "xz-libs-5.6.0-1.fc40.x86_64.rpm"
    with realdata._locked("sbom-rpm"):
        if rpm.exists() and b"xz.conf" not in rpm.read_bytes():  # built by an older version of this spec
            rpm.unlink()
        if not rpm.exists():
            (out / "SPECS").mkdir(parents=True, exist_ok=True)
            (out / "SPECS" / "xz-libs.spec").write_text(SPEC)
            subprocess.run([_need("rpmbuild"), "--define", f"_topdir {out}", "--define", "_build_id_links none",
                            "-bb", str(out / "SPECS" / "xz-libs.spec")], check=True, capture_output=True, timeout=300)
    return rpm


@pytest.fixture
def rpm_root(rpm_file, tmp_path) -> Path:
    root = tmp_path / "fedora-root"
    root.mkdir()
    base = [_need("rpm"), "--root", str(root), "--dbpath", "/var/lib/rpm", "--define", "_db_backend sqlite"]
    subprocess.run(base + ["--initdb"], check=True, capture_output=True)
    subprocess.run(base + ["-i", "--nodeps", "--noscripts", str(rpm_file)], check=True, capture_output=True)
    assert (root / "var/lib/rpm/rpmdb.sqlite").is_file()
    return root


def test_rpmdb_sqlite_is_read_and_verified(checker, rpm_root, tmp_path):
    advisory = tmp_path / "FEDORA-xz.json"
    advisory.write_text(json.dumps({"id": "FEDORA-2024-xz", "aliases": ["CVE-2024-3094"], "affected": [
        {"package": {"ecosystem": "Red Hat", "name": "xz-libs"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:5.6.0-2.fc40"}]}]}]}))
    (rpm_root / "usr/lib64/liblzma.so.5.6.0").write_bytes(b"replaced after install")
    (rpm_root / "etc/xz.conf").write_text("level=9\n")  # a %config file edited by its admin: not PC404
    checker.add_plugin(provcheck_sbom)
    result = checker.run(rpm_root, options={"sbom": {"advisories": [str(advisory)]}})
    result.assert_no_errors()
    state = provcheck_sbom.run_state(result.report)
    (comp,) = next(iter(state["targets"].values())).components
    assert (comp.name, comp.version, comp.type, comp.origin) == ("xz-libs", "1:5.6.0-1.fc40", "rpm", "rpm")
    assert comp.purl.startswith("pkg:rpm/") and "epoch=1" in comp.purl
    assert set(comp.files) == {"usr/lib64/liblzma.so.5.6.0", "usr/lib64/liblzma.so.5", "etc/xz.conf"}
    modified = result.only("PC404")
    assert modified.location.path == "usr/lib64/liblzma.so.5.6.0" and modified.evidence["algorithm"] == "sha256"
    vuln = result.only("PC408")
    assert vuln.evidence["match"]["fixed"] == "1:5.6.0-2.fc40"
