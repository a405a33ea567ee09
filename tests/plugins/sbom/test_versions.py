"""Version ordering per ecosystem and OSV range matching, through the public functions the
fleet plugin imports (``advisories.version_compare``, ``advisories.affected``)."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

from provcheck.formats import versions as advisories
from provcheck_sbom import formats
from provcheck.formats.inventory import Component

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sbom_helpers import SAMPLES  # noqa: E402

CVE = json.loads((SAMPLES / "CVE-2024-3094.json").read_text())


@pytest.mark.parametrize("eco, a, b, want", [
    ("deb", "5.6.1+really5.4.5-1", "5.6.1-1", 1), ("deb", "1:1.0", "9.0", 1), ("deb", "1.0~rc1", "1.0", -1),
    ("deb", "5.5.1alpha-0.1", "5.4.1-0.2", 1), ("deb", "1.0-1+b2", "1.0-1", 1), ("deb", "1.0", "1.0-0", 0),
    ("Debian:12", "2.36-9+deb12u4", "2.36-9+deb12u10", -1), ("deb", "1.0a", "1.0+", -1),
    ("rpm", "1.0~rc1-1", "1.0-1", -1), ("rpm", "1:1.0-1", "2.0-1", 1), ("rpm", "5.4.6-3.fc41", "5.6.0-1.fc41", -1),
    ("rpm", "1.0^git1", "1.0", 1), ("rpm", "2.a", "2.1", -1), ("Red Hat", "1.0-1.el9", "1.0-1.el9", 0),
    ("apk", "5.6.1-r2", "5.6.1-r0", 1), ("apk", "1.2.3_rc1", "1.2.3", -1), ("apk", "1.2.3_p1", "1.2.3", 1),
    ("apk", "1.2.3a", "1.2.3", 1), ("Alpine:v3.19", "1.10", "1.9", 1),
    ("pypi", "1.0rc1", "1.0", -1), ("PyPI", "1.0.post1", "1.0", 1), ("generic", "5.6.1", "5.6.0", 1),
    ("generic", "1.0.0-rc1", "1.0.0", -1),
])
def test_version_compare(eco, a, b, want):
    assert advisories.version_compare(eco, a, b) == want
    assert advisories.version_compare(eco, b, a) == -want


def deb(version: str, name: str = "liblzma5", source: str = "xz-utils") -> Component:
    return Component(name=name, version=version, purl=f"pkg:deb/debian/{name}@{version}", type="deb", origin="dpkg",
                     source=source)


@pytest.mark.parametrize("version, affected", [
    ("5.6.1-1", True), ("5.6.0-0.2", True), ("5.5.1alpha-0.1", True), ("5.6.1+really5.4.5-1", False),
    ("5.4.5-0.3", False), ("5.4.1-0.2", False), ("5.5.0-1", False)])
def test_cve_2024_3094_on_debian(version, affected):
    assert advisories.affected(CVE, deb(version)) is affected


def test_osv_matching_by_name_ecosystem_and_events():
    generic = Component(name="liblzma", version="5.6.1", purl="pkg:generic/liblzma@5.6.1", type="generic",
                        origin="soname")
    m = advisories.match(CVE, generic)
    assert m and m.exact and m.fixed == "5.6.2" and m.severity == "critical"
    assert not advisories.affected(CVE, deb("5.6.1-1", name="xz-utils-doc", source="other"))
    rpm = Component(name="xz-libs", version="5.6.0-1.fc40", purl="pkg:rpm/fedora/xz-libs", type="rpm", origin="rpm",
                    source="xz")
    record = {"id": "X-1", "affected": [{"package": {"ecosystem": "Fedora:40", "name": "xz"},
                                         "ranges": [{"type": "ECOSYSTEM", "events": [
                                             {"introduced": "0"}, {"last_affected": "5.6.1-1.fc40"}]}]}]}
    assert advisories.affected(record, rpm)
    assert not advisories.affected(record, rpm.__class__(**{**rpm.__dict__, "version": "5.6.1-2.fc40"}))
    apk = Component(name="xz-libs", version="5.6.1-r1", purl="pkg:apk/alpine/xz-libs", type="apk", origin="apk",
                    source="xz")
    rec = {"id": "A", "affected": [{"package": {"ecosystem": "Alpine:v3.20", "name": "xz"},
                                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "5.6.0-r0"},
                                                                                {"fixed": "5.6.1-r2"}]}]}]}
    assert advisories.affected(rec, apk)
    assert not advisories.affected(rec, apk.__class__(**{**apk.__dict__, "version": "5.6.1-r2"}))
    assert not advisories.affected({"id": "broken", "affected": [None, {"package": "x"}]}, apk)


def test_advisory_loader_reports_bad_files(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps(CVE))
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "other.json").write_text('{"hello": 1}')
    errors: list[str] = []
    records = advisories.load([tmp_path], errors)
    assert [r["id"] for r in records] == ["CVE-2024-3094"]
    assert len(errors) == 2


@pytest.mark.parametrize("eco", ["deb", "rpm", "apk", "pypi", "generic"])
def test_version_numbers_longer_than_int_allows_still_compare(eco):
    """A package database is artifact content: a 5000-digit version number (int() refuses more
    than 4300 digits) sorts by value, it does not raise."""
    big = "1" + "0" * 5000
    assert advisories.version_compare(eco, f"{big}.1", "9.1") == 1
    assert advisories.version_compare(eco, "9.1", f"{big}.1") == -1
    assert advisories.version_compare(eco, f"{big}.1", f"{big}.1") == 0
    if eco in ("deb", "rpm"):
        assert advisories.version_compare(eco, f"{big}:1.0-1", "7:1.0-1") == 1


@pytest.mark.parametrize("where", ["aliases", "severity", "versions", "ranges", "events", "name"])
@pytest.mark.parametrize("value", [1, 1.5, True, [[1]], {"a": 1}])
def test_a_malformed_osv_record_field_is_ignored_not_raising(where, value):
    record = json.loads(json.dumps(CVE))
    entry = next(e for e in record["affected"] if e["package"]["ecosystem"].startswith("Debian"))
    target = {"aliases": record, "severity": record, "versions": entry, "ranges": entry,
              "events": entry["ranges"][0], "name": entry["package"]}[where]
    target[where] = value
    m = advisories.match(record, deb("5.6.1-1"))   # must not raise
    if where in ("aliases", "severity"):           # fields that only describe: the range still matches
        assert m is not None and m.fixed == "5.6.1+really5.4.5-1"


def test_advisory_loader_reports_a_deeply_nested_file(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000)
    errors: list[str] = []
    assert advisories.load([tmp_path], errors) == []
    assert len(errors) == 1 and errors[0].startswith(str(tmp_path / "deep.json"))


def test_purl_spelling_normalises():
    a = formats.component_from_purl("pkg:deb/debian/libgmp10@6.2.1%2Bdfsg1-1.1?arch=amd64&distro=debian-12.15&epoch=2",
                                    "libgmp10", "2:6.2.1+dfsg1-1.1")
    b = formats.component_from_purl("pkg:deb/debian/libgmp10@2:6.2.1+dfsg1-1.1?arch=amd64&distro=debian-12", "", "")
    from provcheck_sbom.checks import declared_version, same_version
    assert declared_version(b) == "2:6.2.1+dfsg1-1.1"
    assert same_version("deb", declared_version(a), "2:6.2.1+dfsg1-1.1")
    assert same_version("deb", "6.2.1+dfsg1-1.1", "2:6.2.1+dfsg1-1.1")  # a generator that drops the epoch
    assert not same_version("deb", "6.2.1+dfsg1-1", "2:6.2.1+dfsg1-1.1")


def test_rpm_header_parser_rejects_garbage():
    from provcheck.formats.packages import rpm_header
    with pytest.raises(ValueError):
        rpm_header(b"\0\0\0\xff\0\0\0\xff" + b"x" * 16)
    # a real-layout header: one NAME tag (string) pointing at "xz"
    blob = struct.pack(">II", 1, 3) + struct.pack(">IIII", 1000, 6, 0, 1) + b"xz\0"
    assert rpm_header(blob) == {"name": "xz"}


def test_reach_chains_come_from_the_linkage_hooks_edges():
    from provcheck import Link

    from provcheck_sbom.reach import LinkGraph
    lzma = "usr/lib/x86_64-linux-gnu/liblzma.so.5.4.1"
    systemd = "usr/lib/x86_64-linux-gnu/libsystemd.so.0.35.0"
    links = [Link(src="usr/sbin/sshd", name="libsystemd.so.0", dst=systemd),
             Link(src=systemd, name="liblzma.so.5", dst=lzma),
             Link(src="usr/bin/xz", name="liblzma.so.5", dst=lzma),
             Link(src="usr/bin/ls", name="libmissing.so.1", dst=None)]
    assert LinkGraph(links).reaching([lzma]) == [["usr/sbin/sshd", systemd, lzma], ["usr/bin/xz", lzma]]
    assert LinkGraph(links).reaching(["usr/lib/other.so"]) == []


def test_deeply_nested_sboms_are_refused_not_crashing():
    from provcheck_sbom.formats import SbomError, parse
    for data in (b"[" * 100_000, b'{"a":' * 100_000,
                 b'<bom xmlns="http://cyclonedx.org/schema/bom/1.5">' + b"<components><component>" * 20_000):
        with pytest.raises(SbomError):
            parse(data, "deep.json")


def test_a_planted_record_cannot_claim_files_outside_its_site(checker):
    import provcheck_sbom
    record = ("evil/__init__.py,sha256=,0\n../../../bin/evil,sha256=,0\n/usr/lib/x86_64-linux-gnu/liblzma.so.5.6.1,,\n"
              "../../x86_64-linux-gnu/liblzma.so.5.6.1,,\n")
    root = checker.tree({"usr/lib/python3/dist-packages/evil-1.0.dist-info/METADATA": "Name: evil\nVersion: 1.0\n",
                         "usr/lib/python3/dist-packages/evil-1.0.dist-info/RECORD": record,
                         "usr/lib/python3/dist-packages/evil/__init__.py": "",
                         "usr/bin/evil": "#!/usr/bin/python3\n",
                         "usr/lib/x86_64-linux-gnu/liblzma.so.5.6.1": b"\x7fELF" + bytes(60)}, name="rootfs")
    checker.add_plugin(provcheck_sbom)
    result = checker.run(root)
    state = provcheck_sbom.run_state(result.report)
    [target] = state["targets"].values()
    evil = next(c for c in target.components if c.name == "evil")
    assert set(evil.files) == {"usr/lib/python3/dist-packages/evil/__init__.py", "usr/bin/evil"}


def test_advisory_severity_words_of_other_databases():
    from provcheck.formats.versions import _severity
    for word, want in (("MODERATE", "medium"), ("Important", "high"), ("unimportant", "low"), ("critical", "critical")):
        assert _severity({"database_specific": {"severity": word}}, {}) == want


def test_advisories_name_their_distribution_and_release():
    from provcheck.formats.versions import match
    from provcheck.formats.inventory import Component
    lzma = Component(name="liblzma5", version="5.6.1-1", type="deb", origin="dpkg", source="xz-utils",
                     purl="pkg:deb/debian/liblzma5@5.6.1-1?arch=amd64&distro=debian-12", files=())

    def record(ecosystem):
        return {"id": "X", "affected": [{"package": {"ecosystem": ecosystem, "name": "xz-utils"},
                                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "5.5.1"},
                                                                                     {"fixed": "5.6.1+really5.4.5-1"}]}]}]}
    assert match(record("Debian:12"), lzma) and match(record("Debian"), lzma)
    assert match(record("Debian:11"), lzma) is None and match(record("Ubuntu:22.04:LTS"), lzma) is None


def test_reaching_chains_put_daemons_first_even_past_the_limit(checker, tmp_path):
    """60 programs in /usr/bin reach liblzma, and so does /usr/sbin/sshd: the chain limit (50)
    must not cut sshd, the reason liblzma mattered in CVE-2024-3094."""
    import subprocess

    from provcheck_sbom.elfdeps import Graph
    (tmp_path / "l.c").write_text("int lzma_code(void) { return 0; }\n")
    (tmp_path / "m.c").write_text("int lzma_code(void);\nvoid _start(void) { lzma_code(); for (;;) ; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-nostdlib", "-Wl,-soname,liblzma.so.5", "-o", "liblzma.so.5", "l.c"],
                   cwd=tmp_path, check=True)
    subprocess.run(["gcc", "-nostdlib", "-o", "prog", "m.c", "liblzma.so.5"], cwd=tmp_path, check=True)
    prog = (tmp_path / "prog").read_bytes()
    from provcheck.testing import File
    files = {f"usr/bin/tool{i:02d}": File(prog, 0o755) for i in range(60)}
    files["usr/sbin/sshd"] = File(prog, 0o755)
    files["usr/lib/x86_64-linux-gnu/liblzma.so.5"] = (tmp_path / "liblzma.so.5").read_bytes()
    result = checker.run(checker.tree(files))
    chains = Graph(result.report.artifacts[0].tree).reaching(["usr/lib/x86_64-linux-gnu/liblzma.so.5"])
    assert len(chains) == 50 and chains[0] == ["usr/sbin/sshd", "usr/lib/x86_64-linux-gnu/liblzma.so.5"]
