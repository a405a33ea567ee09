"""apk's installed database, written in the format apk-tools writes (no Alpine packages or
apk-tools are reachable from this Debian machine, so the database is composed here with
real checksums of the files it lists)."""

from __future__ import annotations

import base64
import hashlib
import json

import provcheck_sbom
from provcheck.testing import File, Symlink


def q1(data: bytes) -> str:
    return "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def test_apk_database_inventory_checksums_and_ordering(checker, tmp_path):
    # stand-ins, not ELF files: a truncated ELF header is reported as unreadable (tested elsewhere)
    lib = b"liblzma 5.6.1 stand-in\n"
    xz = b"#!/bin/sh\n# xz 5.6.1 stand-in\n"
    installed = (
        "C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:xz-libs\nV:5.6.1-r1\nA:x86_64\nS:120000\nI:300000\n"
        "T:Library and CLI tools for XZ and LZMA compressed files (libraries)\nU:https://tukaani.org/xz\n"
        "L:GPL-2.0-or-later AND 0BSD AND Public-Domain AND LGPL-2.1-or-later\no:xz\nm:Alpine\nt:1711000000\n"
        "c:0000000000000000000000000000000000000000\nD:so:libc.musl-x86_64.so.1\np:so:liblzma.so.5=5.6.1\n"
        f"F:usr\nF:usr/lib\nR:liblzma.so.5\na:0:0:777\nZ:{q1(b'liblzma.so.5.6.1')}\n"
        f"R:liblzma.so.5.6.1\na:0:0:755\nZ:{q1(lib)}\n\n"
        "C:Q1BBBBBBBBBBBBBBBBBBBBBBBBBBBB=\nP:xz\nV:5.6.1-r1\nA:x86_64\no:xz\nm:Alpine\n"
        f"F:usr\nF:usr/bin\nR:xz\na:0:0:755\nZ:{q1(xz)}\n\n")
    root = checker.tree({
        "etc/os-release": 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.0\n',
        "lib/apk/db/installed": installed,
        "usr/lib/liblzma.so.5.6.1": File(lib, 0o755),
        "usr/lib/liblzma.so.5": Symlink("liblzma.so.5.6.1"),
        "usr/bin/xz": File(xz + b" modified", 0o755),
    }, name="alpine-root")
    advisory = tmp_path / "ALPINE-xz.json"
    advisory.write_text(json.dumps({"id": "ALPINE-CVE-2024-3094", "affected": [
        {"package": {"ecosystem": "Alpine:v3.20", "name": "xz"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "5.6.0-r0"}, {"fixed": "5.6.1-r2"}]}]}]}))
    checker.add_plugin(provcheck_sbom)
    result = checker.run(root, options={"sbom": {"advisories": [str(advisory)]}})
    result.assert_no_errors()
    state = provcheck_sbom.run_state(result.report)
    comps = {c.name: c for c in next(iter(state["targets"].values())).components}
    assert set(comps) == {"xz", "xz-libs"}
    libs = comps["xz-libs"]
    assert libs.purl == "pkg:apk/alpine/xz-libs@5.6.1-r1?arch=x86_64&distro=alpine-3.20.0&upstream=xz"
    assert libs.source == "xz" and libs.hashes["usr/lib/liblzma.so.5.6.1"][0] == "sha1"
    assert result.only("PC404").location.path == "usr/bin/xz"  # the one file changed after installation
    assert sorted(f.evidence["package"] for f in result.by_rule("PC408")) == ["xz", "xz-libs"]
