"""The SBOM cross-check on a real Debian image with Syft's SBOMs: quiet when clean, every
rule on tampered copies, the advisory answer for CVE-2024-3094."""

from __future__ import annotations

import base64
import json
import sys
import tarfile
from pathlib import Path

import pytest

import provcheck_sbom
from provcheck.testing import Checker
from provcheck_sbom import export

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sbom_helpers import LIBDIR, SAMPLES, add_layer, attach, copy_layout, image_file, manifest_digest, pc4, run

pytestmark = pytest.mark.slow  # real Debian data (downloaded once, cached under .cache/)



def test_clean_image_is_quiet_with_every_syft_format(checker, image, syft_sboms):
    result = run(checker, image, sbom=[str(p) for p in syft_sboms.values()], advisories=[str(SAMPLES)])
    result.assert_no_errors()
    assert pc4(result) == {}, [f.message for f in result.findings if f.rule_id.startswith("PC4")]
    state = provcheck_sbom.run_state(result.report)
    target = next(iter(state["targets"].values()))
    formats = sorted(s.format for s in target.sboms)
    assert formats == ["cyclonedx-1.6-json", "cyclonedx-1.6-xml", "spdx-2.3-json", "spdx-2.3-tag"]
    assert len(target.components) > 80
    # every other detector's finding on a packaged file carries that package's purl
    setuid = result.by_rule("PC904")
    assert setuid and all(f.component and f.component.startswith("pkg:deb/debian/") for f in setuid)
    passwd = next(f for f in setuid if f.location.path == "usr/bin/passwd")
    assert passwd.component.startswith("pkg:deb/debian/passwd@1:4.13")
    # the advisory question: Debian 12's xz is named by CVE-2024-3094 but not affected
    (res,) = [r for r in state["advisories"] if r.component.name == "liblzma5"]
    assert res.match is None and res.component.source == "xz-utils"


def test_edited_sboms_are_caught(checker, image, syft_sboms, tmp_path):
    cdx = json.loads(syft_sboms["cyclonedx-json"].read_text())
    dropped = [c for c in cdx["components"] if c.get("name") == "libsystemd0"]
    assert dropped, "Syft lists libsystemd0"
    cdx["components"] = [c for c in cdx["components"] if c.get("name") != "libsystemd0"]
    for c in cdx["components"]:
        if c.get("name") == "liblzma5":
            c["version"] = "5.6.1-1"
            c["purl"] = c["purl"].replace("5.4.1-1%2Bdeb12u2", "5.6.1-1")
    cdx["components"].append({"type": "library", "bom-ref": "curl-x", "name": "curl", "version": "7.88.1-10+deb12u5",
                              "purl": "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12"})
    edited_cdx = tmp_path / "edited.cdx.json"
    edited_cdx.write_text(json.dumps(cdx))
    spdx = json.loads(syft_sboms["spdx-json"].read_text())
    sshd = next(f for f in spdx["files"] if f["fileName"].lstrip("/") == "usr/sbin/sshd")
    for cs in sshd["checksums"]:
        if cs["algorithm"] == "SHA256":
            cs["checksumValue"] = "ab" * 32
    edited_spdx = tmp_path / "edited.spdx.json"
    edited_spdx.write_text(json.dumps(spdx))

    result = run(checker, image, sbom=[str(edited_cdx), str(edited_spdx)])
    result.assert_no_errors()
    assert pc4(result) == {"PC401": 1, "PC402": 1, "PC403": 1, "PC406": 1}
    absent = result.only("PC401")
    assert "curl" in absent.message and absent.evidence["sbom"] == "edited.cdx.json"
    undeclared = result.only("PC402")
    assert undeclared.component.startswith("pkg:deb/debian/libsystemd0@")
    assert undeclared.evidence["layer"]["index"] == 1 and undeclared.evidence["layer"]["created_by"].startswith("install ")
    version = result.only("PC403")
    assert version.evidence["declared_version"] == "5.6.1-1" and version.evidence["observed_version"] == "5.4.1-1+deb12u2"
    bad_hash = result.only("PC406")
    assert bad_hash.location.path == "usr/sbin/sshd" and bad_hash.evidence["declared"] == "ab" * 32
    assert bad_hash.component.startswith("pkg:deb/debian/openssh-server@")


@pytest.fixture(scope="module")
def tampered(image, tmp_path_factory):
    """The image plus a layer that (1) rewrites the installed liblzma.so.5.4.1, (2) drops in a
    liblzma.so.5.6.1 no package owns and (3) points liblzma.so.5 at it."""
    layout = copy_layout(image, tmp_path_factory.mktemp("tampered") / "sshd-tampered")
    lib = image_file(image, f"{LIBDIR}/liblzma.so.5.4.1")
    add_layer(layout, {f"{LIBDIR}/liblzma.so.5.4.1": lib + b"\0patched after install",
                       f"{LIBDIR}/liblzma.so.5.6.1": lib + b"\0xz 5.6.1",
                       f"{LIBDIR}/liblzma.so.5": ("symlink", "liblzma.so.5.6.1")},
              created_by="COPY liblzma /usr/lib/x86_64-linux-gnu/")
    return layout


@pytest.fixture(scope="module")
def tampered_result(tampered, syft_sboms, tmp_path_factory):
    checker = Checker(tmp_path_factory.mktemp("tampered-run"))
    return run(checker, tampered, sbom=[str(syft_sboms["cyclonedx-json"])], advisories=[str(SAMPLES)])


def test_tampered_image_is_caught_on_every_file_rule(image, tampered, tampered_result):
    result = tampered_result
    result.assert_no_errors()
    assert pc4(result) == {"PC402": 1, "PC403": 1, "PC404": 1, "PC405": 1, "PC407": 1, "PC408": 1}

    modified = result.only("PC404")
    assert modified.location.path == f"{LIBDIR}/liblzma.so.5.4.1"
    ev = modified.evidence
    assert ev["algorithm"] == "md5" and ev["expected"] != ev["actual"]
    assert ev["written_by_layer"]["index"] == 2 and ev["installed_by_layer"]["index"] == 0
    assert [c["matches_manifest"] for c in ev["earlier_copies"]] == [True]
    assert modified.component.startswith("pkg:deb/debian/liblzma5@5.4.1")

    unowned = result.only("PC405")
    assert unowned.location.path == f"{LIBDIR}/liblzma.so.5.6.1"
    assert unowned.evidence["inferred_component"] == "pkg:generic/liblzma@5.6.1"
    assert unowned.evidence["layer"]["created_by"].startswith("COPY liblzma")

    link = result.only("PC403")
    assert link.evidence["link"] == f"{LIBDIR}/liblzma.so.5" and link.evidence["file_version"] == "5.6.1"
    assert link.evidence["package_file_version"] == "5.4.1"

    assert result.only("PC402").component == "pkg:generic/liblzma@5.6.1"
    subject = result.only("PC407")
    assert subject.evidence["sbom_digests"] == [manifest_digest(image)]
    assert subject.evidence["manifest_digest"] == manifest_digest(tampered)

    vuln = result.only("PC408")
    assert vuln.severity.name == "CRITICAL"
    assert vuln.evidence["advisory"] == "CVE-2024-3094" and vuln.evidence["version"] == "5.6.1"
    assert vuln.evidence["match"]["fixed"] == "5.6.2" and vuln.evidence["match"]["exact"] is True
    assert vuln.evidence["files"] == [f"{LIBDIR}/liblzma.so.5.6.1"]
    assert vuln.evidence["reached_by"][0] == f"usr/sbin/sshd > {LIBDIR}/libsystemd.so.0.35.0 > {LIBDIR}/liblzma.so.5.6.1"
    assert "reached by sshd > libsystemd.so.0.35.0 > liblzma.so.5.6.1" in vuln.message
    assert vuln.evidence["declared_by"] == []


def test_enriched_cyclonedx_of_the_tampered_image(tampered, tampered_result):
    state = provcheck_sbom.run_state(tampered_result.report)
    bom = export.cyclonedx(tampered_result.report, state)
    assert bom["bomFormat"] == "CycloneDX" and bom["metadata"]["component"]["version"] == manifest_digest(tampered)
    comps = {c["purl"]: c for c in bom["components"]}
    props = {(p["name"], p["value"]) for p in comps["pkg:generic/liblzma@5.6.1"]["properties"]}
    assert ("provcheck:origin", "soname") in props and ("provcheck:declared-by", "none") in props
    assert any(n == "provcheck:finding" and v.startswith("PC405") for n, v in props)
    deb = next(c for p, c in comps.items() if p.startswith("pkg:deb/debian/liblzma5@"))
    assert any(n == "provcheck:declared-by" and v.startswith("syft.cdx.json#pkg:deb/debian/liblzma5@")
               for n, v in ((p["name"], p["value"]) for p in deb["properties"]))
    (vuln,) = bom["vulnerabilities"]
    assert vuln["id"] == "CVE-2024-3094" and vuln["analysis"]["state"] == "exploitable"
    status = {a["ref"].split("@")[0]: a["versions"][0]["status"] for a in vuln["affects"]}
    assert status == {"pkg:generic/liblzma": "affected", "pkg:deb/debian/liblzma5": "unaffected"}


def test_sbom_command_answers_with_openvex(checker, tampered, syft_sboms):
    others = [a for p in ("elf", "release", "testdata", "attest", "fleet") for a in ("-p", f"no:{p}")]
    vex = checker.run_cli(*others, "sbom", tampered, "--sbom", syft_sboms["cyclonedx-json"], "--advisories", SAMPLES,
                          "--format", "openvex")
    assert vex.exit_code == 1, vex.stderr  # critical finding at the default --fail-on high
    doc = vex.json()
    assert doc["@context"].startswith("https://openvex.dev/ns/")
    by_sub = {s["products"][0]["subcomponents"][0]["@id"]: s for s in doc["statements"]}
    affected = by_sub["pkg:generic/liblzma@5.6.1"]
    assert affected["status"] == "affected" and affected["vulnerability"]["name"] == "CVE-2024-3094"
    assert "5.6.2" in affected["action_statement"] and "sshd" in affected["action_statement"]
    (deb,) = [s for k, s in by_sub.items() if k.startswith("pkg:deb/debian/liblzma5@")]
    assert deb["status"] == "not_affected" and deb["justification"] == "vulnerable_code_not_present"
    assert affected["products"][0]["@id"].endswith("@" + manifest_digest(tampered))


def test_text_answer_groups_findings_by_component(tampered_result):
    state = provcheck_sbom.run_state(tampered_result.report)
    text = export.text(tampered_result.report, state)
    assert "CVE-2024-3094 AFFECTED" in text and "reached by: usr/sbin/sshd > " in text
    assert "CVE-2024-3094 NOT_AFFECTED" in text  # Debian's liblzma5 5.4.1 is named, not affected
    grouped = text.split("findings by component:")[1]
    first = grouped.strip().splitlines()[0]
    assert first.startswith("pkg:generic/liblzma@5.6.1: ") and "PC408" in first and "critical" in first
    assert any(line.strip().startswith("pkg:deb/debian/liblzma5@") and "PC404" in line for line in grouped.splitlines())
    summary = export.summary(tampered_result.report, state)
    assert len(summary["by_component"]["pkg:generic/liblzma@5.6.1"]) == 3  # PC402, PC405, PC408 (PC403 is the deb's link)


def test_attached_sboms_referrer_and_cosign(checker, image, syft_sboms, tmp_path):
    layout = copy_layout(image, tmp_path / "sshd-attached")
    digest = manifest_digest(layout)
    cdx = json.loads(syft_sboms["cyclonedx-json"].read_text())
    cdx["components"] = [c for c in cdx["components"] if c.get("name") != "libsystemd0"]
    attach(layout, digest, json.dumps(cdx).encode(), "application/vnd.cyclonedx+json",
           artifact_type="application/vnd.cyclonedx+json")
    spdx = json.loads(syft_sboms["spdx-json"].read_text())
    spdx["packages"].append({"name": "curl", "SPDXID": "SPDXRef-Package-deb-curl-1", "versionInfo": "7.88.1-10",
                             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                               "referenceLocator": "pkg:deb/debian/curl@7.88.1-10?arch=amd64"}]})
    statement = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://spdx.dev/Document",
                 "subject": [{"name": "sshd", "digest": {"sha256": digest.split(":")[1]}}], "predicate": spdx}
    envelope = {"payloadType": "application/vnd.in-toto+json",
                "payload": base64.b64encode(json.dumps(statement).encode()).decode(), "signatures": []}
    attach(layout, digest, json.dumps(envelope).encode(), "application/vnd.dsse.envelope.v1+json",
           tag=f"sha256-{digest.split(':')[1]}.att")

    archive = tmp_path / "sshd-attached.oci.tar"
    with tarfile.open(archive, "w") as t:  # the same layout as an OCI archive
        for p in sorted(layout.rglob("*")):
            t.add(p, arcname=p.relative_to(layout).as_posix(), recursive=False)
    for target in (layout, archive):
        result = run(checker, target)
        result.assert_no_errors()
        assert pc4(result) == {"PC401": 1, "PC402": 1}, target
        assert result.only("PC402").evidence["sbom"].startswith("referrer:sha256:")
        assert result.only("PC401").evidence["sbom"].startswith("cosign:sha256:")
