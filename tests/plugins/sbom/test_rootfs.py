"""The cross-check on a small real Debian root filesystem: Trivy's spelling, SPDX 3.0,
in-tree SBOMs, Debian version ordering for CVE-2024-3094, hostile SBOMs."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

import provcheck_sbom

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sbom_helpers import LIBDIR, SAMPLES, pc4, run  # noqa: E402



def copy_rootfs(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True)
    return dest


def set_version(rootfs: Path, package: str, version: str) -> None:
    status = rootfs / "var/lib/dpkg/status"
    paras = status.read_text().split("\n\n")
    for i, p in enumerate(paras):
        if re.search(rf"^Package: {re.escape(package)}$", p, re.M):
            paras[i] = re.sub(r"^Version: .*$", f"Version: {version}", p, flags=re.M)
    status.write_text("\n\n".join(paras))


def test_trivy_cdxgen_and_syft_spelling_is_not_a_finding(checker, small_rootfs, trivy_sbom, cdxgen_sbom, small_syft):
    trivy = json.loads(trivy_sbom.read_text())
    purls = [c.get("purl", "") for c in trivy["components"]]
    # what makes Trivy's spelling differ from Syft's and from dpkg's: epochs as qualifiers, point-release distro
    assert any("epoch=" in p for p in purls) and any("distro=debian-12." in p for p in purls)
    cdxgen = json.loads(cdxgen_sbom.read_text())
    names = {c["name"] for c in cdxgen["components"] if c["type"] == "library"}
    assert {"glibc", "systemd", "attr"} <= names  # cdxgen adds a component per source package
    result = run(checker, small_rootfs, sbom=[str(trivy_sbom), str(cdxgen_sbom), str(small_syft["spdx-json"]),
                                              str(small_syft["cyclonedx-xml"])])
    result.assert_no_errors()
    assert pc4(result) == {}, [f.message for f in result.findings if f.rule_id.startswith("PC4")]
    state = provcheck_sbom.run_state(result.report)
    target = next(iter(state["targets"].values()))
    assert {s.tool.split("-")[0] for s in target.sboms} == {"trivy", "cdxgen", "syft"}
    cdx = next(s for s in target.sboms if s.tool.startswith("cdxgen"))
    assert len(cdx.files) > 100  # its file components carry hashes, checked against the tree (PC406)
    libc = next(c for c in target.components if c.name == "libc6")
    assert len(target.declared_by[libc.purl]) == 5  # Trivy, Syft x2, cdxgen's binary and source entries


def _spdx3_from_spdx2(doc: dict) -> dict:
    """Syft's SPDX 2.3 as an SPDX 3.0 JSON-LD graph (packages, files, relationships)."""
    graph = [{"type": "CreationInfo", "@id": "_:creationinfo", "specVersion": "3.0.1", "created": doc["creationInfo"]["created"]},
             {"type": "Tool", "spdxId": "urn:tool:syft", "name": "syft-1.18.1", "creationInfo": "_:creationinfo"}]
    for p in doc["packages"]:
        el = {"type": "software_Package", "spdxId": f"urn:spdx:{p['SPDXID']}", "name": p["name"],
              "software_packageVersion": p.get("versionInfo", ""), "creationInfo": "_:creationinfo"}
        purl = next((r["referenceLocator"] for r in p.get("externalRefs", []) if r["referenceType"] == "purl"), None)
        if purl:
            el["software_packageUrl"] = purl
        graph.append(el)
    for f in doc.get("files", []):
        graph.append({"type": "software_File", "spdxId": f"urn:spdx:{f['SPDXID']}", "name": f["fileName"],
                      "verifiedUsing": [{"type": "Hash", "algorithm": c["algorithm"].lower(),
                                         "hashValue": c["checksumValue"]} for c in f.get("checksums", [])],
                      "creationInfo": "_:creationinfo"})
    for r in doc.get("relationships", []):
        if r["relationshipType"] == "DEPENDENCY_OF":
            graph.append({"type": "Relationship", "relationshipType": "dependsOn",
                          "from": f"urn:spdx:{r['relatedSpdxElement']}", "to": [f"urn:spdx:{r['spdxElementId']}"],
                          "creationInfo": "_:creationinfo"})
    return {"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": graph}


def test_spdx3_jsonld(checker, small_rootfs, small_syft, tmp_path):
    doc = _spdx3_from_spdx2(json.loads(small_syft["spdx-json"].read_text()))
    clean = tmp_path / "clean.spdx3.jsonld"
    clean.write_text(json.dumps(doc))
    for el in doc["@graph"]:
        if el.get("name") == "liblzma5":
            el["software_packageVersion"] = "5.6.1-1"
        if el.get("name", "").lstrip("/") == f"{LIBDIR}/liblzma.so.5.4.1":
            el["verifiedUsing"] = [{"type": "Hash", "algorithm": "sha256", "hashValue": "0f" * 32}]
    edited = tmp_path / "edited.spdx3.jsonld"
    edited.write_text(json.dumps(doc))
    result = run(checker, small_rootfs, sbom=[str(clean), str(edited)])
    result.assert_no_errors()
    assert pc4(result) == {"PC403": 1, "PC406": 1}
    assert result.only("PC403").evidence["sbom"] == "edited.spdx3.jsonld"
    assert result.only("PC406").location.path == f"{LIBDIR}/liblzma.so.5.4.1"
    state = provcheck_sbom.run_state(result.report)
    (s1, s2) = next(iter(state["targets"].values())).sboms
    assert s1.format == "spdx-3.0-jsonld" and s1.depends and s1.tool == "syft-1.18.1"


def test_in_tree_package_sbom_is_partial(checker, small_rootfs, tmp_path):
    root = copy_rootfs(small_rootfs, tmp_path / "rootfs")
    sbom_dir = root / "var/lib/db/sbom"
    sbom_dir.mkdir(parents=True)
    (sbom_dir / "liblzma5-5.4.1.spdx.json").write_text(json.dumps({
        "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "liblzma5", "documentNamespace": "urn:x",
        "creationInfo": {"creators": ["Tool: melange"], "created": "2024-03-29T00:00:00Z"},
        "packages": [{"name": "liblzma5", "SPDXID": "SPDXRef-Package-liblzma5", "versionInfo": "5.6.1-1",
                      "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                        "referenceLocator": "pkg:deb/debian/liblzma5@5.6.1-1?arch=amd64"}]}]}))
    result = run(checker, root)
    result.assert_no_errors()
    assert pc4(result) == {"PC403": 1}  # a package's own SBOM does not have to list the others
    assert result.only("PC403").evidence["sbom"] == "tree:var/lib/db/sbom/liblzma5-5.4.1.spdx.json"


@pytest.mark.parametrize("version, affected", [("5.6.1-1", True), ("5.6.1+really5.4.5-1", False)])
def test_debian_ordering_decides_cve_2024_3094(checker, small_rootfs, tmp_path, version, affected):
    root = copy_rootfs(small_rootfs, tmp_path / "rootfs")
    set_version(root, "liblzma5", version)
    result = run(checker, root, advisories=[str(SAMPLES / "CVE-2024-3094.json")])
    result.assert_no_errors()
    state = provcheck_sbom.run_state(result.report)
    (res,) = [r for r in state["advisories"] if r.component.name == "liblzma5"]
    if affected:
        vuln = result.only("PC408")
        assert vuln.evidence["version"] == version and vuln.evidence["source"] == "xz-utils"
        assert vuln.evidence["match"]["fixed"] == "5.6.1+really5.4.5-1"
        assert vuln.evidence["files"] == [f"{LIBDIR}/liblzma.so.5.4.1"]
        assert f"usr/bin/xz > {LIBDIR}/liblzma.so.5.4.1" in vuln.evidence["reached_by"]
    else:
        assert "PC408" not in result.rules() and res.match is None


def test_hostile_sboms_become_errors_not_tracebacks(checker, small_rootfs, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = tmp_path / "xxe.cdx.xml"
    xxe.write_text(f'<?xml version="1.0"?>\n<!DOCTYPE bom [<!ENTITY x SYSTEM "file://{secret}">]>\n'
                   '<bom xmlns="http://cyclonedx.org/schema/bom/1.5"><components><component type="library">'
                   '<name>&x;</name><version>1</version></component></components></bom>')
    bomb = tmp_path / "bomb.cdx.xml"
    bomb.write_text('<?xml version="1.0"?>\n<!DOCTYPE bom [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>\n'
                    '<bom xmlns="http://cyclonedx.org/schema/bom/1.6"><components/></bom>')
    broken = tmp_path / "broken.spdx.json"
    broken.write_text('{"spdxVersion": "SPDX-2.3", "packages": [')
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"bomFormat": "CycloneDX", "components": [None, 3, {"purl": "not a purl"},
                                                                        {"type": "file", "hashes": "x"}]}))
    result = run(checker, small_rootfs, sbom=[str(xxe), str(bomb), str(broken), str(odd), str(tmp_path / "missing.json")])
    messages = sorted(str(e) for e in result.errors)
    assert len(messages) == 4, messages
    assert any("xxe.cdx.xml" in m and "refused" in m for m in messages)
    assert any("bomb.cdx.xml" in m and "refused" in m for m in messages)
    assert any("broken.spdx.json" in m and "not valid JSON" in m for m in messages)
    assert any("missing.json" in m for m in messages)
    assert not any("TOP-SECRET" in m for m in messages)
    assert all(e.detail is None for e in result.errors)  # no tracebacks


def test_pip_installed_package_is_undeclared_and_verified_by_record(checker, small_rootfs, small_syft, tmp_path):
    """A package pip installed after the SBOM was made: real dist-info (RECORD with sha256)
    copied from this test environment's own site-packages."""
    import packageurl
    site = Path(packageurl.__file__).resolve().parent.parent
    (dist,) = site.glob("packageurl_python-*.dist-info")
    root = copy_rootfs(small_rootfs, tmp_path / "rootfs")
    dest = root / "usr/local/lib/python3.11/dist-packages"
    shutil.copytree(site / "packageurl", dest / "packageurl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(dist, dest / dist.name)
    (dest / "packageurl/utils.py").write_text("print('changed after install')\n")
    result = run(checker, root, sbom=[str(small_syft["cyclonedx-json"])])
    result.assert_no_errors()
    assert pc4(result) == {"PC402": 1, "PC404": 1}
    undeclared = result.only("PC402")
    assert undeclared.component == f"pkg:pypi/packageurl-python@{dist.name.split('-')[1].removesuffix('.dist')}"
    assert undeclared.evidence["origin"] == "dist-info"
    modified = result.only("PC404")
    assert modified.location.path == "usr/local/lib/python3.11/dist-packages/packageurl/utils.py"
    assert modified.evidence["algorithm"] == "sha256" and modified.evidence["manifest"].endswith("/METADATA")
