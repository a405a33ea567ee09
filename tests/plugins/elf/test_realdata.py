"""Real Debian 12 packages: the sshd -> libsystemd -> liblzma chain, the quiet negative
cases, the linkage command on an OCI image (layers, packages, DOT) and the parse cache."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

OPTS = {"elf": {"cache": False}}
MULTI = "usr/lib/x86_64-linux-gnu"


def test_sshd_chain_found_on_debian_rootfs_with_evidence(elf, sshd_rootfs, other_plugins):
    """Through the installed entry point, as a user runs it (options under [plugins.elf])."""
    res = elf.run_cli(*other_plugins, "scan", sshd_rootfs, "--format", "json", "--select", "PC3",
                      "--set", "elf.cache=false")
    assert res.exit_code == 0, res.stderr  # medium only: below the default --fail-on high
    report = res.json()
    assert report["errors"] == []
    # a clean Debian tree: only the expected chain; no xz indicators, nothing unresolved, no high
    assert [f["rule_id"] for f in report["findings"]] == ["PC301"]
    f = report["findings"][0]
    assert (f["location"]["path"], f["severity"], f["detector"]) == ("usr/sbin/sshd", "medium", "elf")
    chain = f["evidence"]["chain"]
    assert [h["path"] for h in chain] == ["usr/sbin/sshd", f"{MULTI}/libsystemd.so.0.35.0", f"{MULTI}/liblzma.so.5.4.1"]
    assert [h.get("needed") for h in chain] == [None, "libsystemd.so.0", "liblzma.so.5"]
    assert [h["package"] for h in chain] == ["openssh-server", "libsystemd0", "liblzma5"]
    assert all(len(h["sha256"]) == 64 for h in chain)
    assert f["key"] == "sshd-liblzma:usr/sbin/sshd>needed:libsystemd.so.0>needed:liblzma.so.5"
    assert [r["path"] for r in f["related"]] == [h["path"] for h in chain[1:]]


def test_dropbear_has_no_path_to_liblzma(elf, dropbear_rootfs, linkage):
    cfg = {"elf": {"cache": False, "forbid": [
        {"name": "dropbear-liblzma", "from": "**/sbin/dropbear", "to": "liblzma.so.*"}]}}
    result = elf.run(dropbear_rootfs, options=cfg)
    result.assert_no_errors()
    result.assert_rules(PC301=0, PC304=0)
    code, out, err = linkage(dropbear_rootfs, "--from", "dropbear", "--to", "liblzma")
    assert code == 1 and out["paths"] == [] and out["from"] == ["usr/sbin/dropbear"]
    assert out["to"] == [f"{MULTI}/liblzma.so.5.4.1"]  # liblzma is there; dropbear does not reach it


def test_sshd_with_elogind_instead_of_libsystemd_has_no_path(elf):
    """openssh-server and its dependencies without libsystemd0: apt then satisfies
    libsystemd.so.0 with libelogind0 (as Devuan does), whose library does not link liblzma.
    The same sshd binary resolves libsystemd.so.0 to libelogind and reaches no liblzma."""
    import realdata
    names = [n for n in realdata.apt_closure(["openssh-server"]) if n != "libsystemd0"]
    assert "liblzma5" in names and "libelogind0" in names  # liblzma is still installed (dpkg needs it)
    root = realdata.rootfs(names, "sshd-nosystemd", closure=False)
    cfg = {"elf": {"cache": False, "forbid": [
        {"name": "sshd-elogind", "from": "**/sbin/sshd", "to": "libelogind.so.*", "severity": "info"}]}}
    result = elf.run(root, options=cfg)
    result.assert_no_errors()
    result.assert_rules(PC301=1, PC304=0)
    f = result.only("PC301")
    assert f.evidence["policy"] == "sshd-elogind"
    assert [(h.get("needed"), h["package"]) for h in f.evidence["chain"]] == [
        (None, "openssh-server"), ("libsystemd.so.0", "libelogind0")]
    assert f.evidence["chain"][1]["found_as"] == "lib/x86_64-linux-gnu/libsystemd.so.0"  # merged-usr: lib -> usr/lib


def test_linkage_command_on_an_oci_image_and_its_parse_cache(elf, sshd_image, linkage, tmp_path):
    cache = tmp_path / "cache"
    runs = []
    for _ in range(2):
        code, out, err = linkage(sshd_image, "--from", "sshd", "--to", "liblzma", "--stats",
                                 "--cache-dir", str(cache), cache=True)
        assert code == 0, err
        runs.append((out, json.loads(err.strip().splitlines()[-1])))
    (out, first), (again, second) = runs
    assert out == again
    assert out["from"] == ["usr/sbin/sshd"]
    (path,) = out["paths"]
    assert [h["path"] for h in path["chain"]] == ["usr/sbin/sshd", f"{MULTI}/libsystemd.so.0.35.0",
                                                  f"{MULTI}/liblzma.so.5.4.1"]
    index = json.loads((sshd_image / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((sshd_image / "blobs/sha256" / manifest_digest).read_text())
    layers = [l["digest"] for l in manifest["layers"]]
    assert [h["layer"] in layers for h in path["chain"]] == [True, True, True]
    assert path["chain"][0]["layer"] == layers[1]  # openssh-server came with the second layer
    assert [h.get("via") for h in path["chain"]] == [None, "default", "default"]
    # the second run over the same layers parsed nothing
    assert first["parsed"] > 100 and first["elf"] > 100  # only files with the ELF magic are parsed (and hashed)
    assert second["parsed"] == 0 and second["cached"] == first["files"] and second["elf"] == first["elf"]
    assert sorted(p.name for p in cache.iterdir()) == ["entries", "lock"]  # in provcheck's one cache
    assert {p.name for p in (cache / "entries").iterdir()} >= {"results-elf-parse", "image-layers"}


def test_who_links_on_an_oci_image(elf, sshd_image, linkage):
    code, who, _ = linkage(sshd_image, "--who-links", "liblzma.so.5")
    assert code == 0
    deps = {d["path"]: d for d in who["dependents"]}
    assert deps["usr/sbin/sshd"]["depth"] == 2
    assert deps[f"{MULTI}/libsystemd.so.0.35.0"]["direct"] is True
    assert deps["usr/sbin/sshd"]["package"] == "openssh-server"
    assert "usr/bin/bash" not in deps


def test_a_debian_package_alone(elf, linkage):
    """A .deb is read as its payload: sshd's libraries live in other packages, so nothing
    is reported as unresolved, and the linkage command lists what sshd would need."""
    import realdata
    deb = realdata.download(["openssh-server"])["openssh-server"]
    result = elf.run(deb, options=OPTS)
    result.assert_no_errors()
    result.assert_rules(PC301=0, PC304=0, PC305=0)
    code, out, err = linkage(deb, "--from", "sshd")
    assert code == 0 and out["from"] == ["usr/sbin/sshd"], err
    assert {"libsystemd.so.0", "libcrypto.so.3", "libc.so.6"} <= {e["name"] for e in out["unresolved"]}
