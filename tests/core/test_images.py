"""Container images: OCI layouts, docker save (both layouts), OCI archives, indexes, layer semantics."""

import gzip
import hashlib
import json
import shutil
import subprocess
import tarfile

import pytest

from provcheck.testing import Dir, File, Hardlink, Symlink, tar_bytes

BASE = {"etc/": Dir(), "etc/os-release": "ID=debian\n", "usr/lib/libx.so.1": "x1", "opt/app/a": "a",
        "opt/app/b": "b", "bin": Symlink("usr/bin"), "usr/bin/tool": File("#!/bin/sh\n", 0o755)}
TOP = {"usr/lib/.wh.libx.so.1": "", "opt/app/.wh..wh..opq": "", "opt/app/c": "c",
       "etc/os-release": "ID=debian\nVERSION=12\n", "usr/bin/tool-link": Hardlink("usr/bin/tool")}


def _files(checker, *args):
    res = checker.run_cli("files", *args)
    assert res.exit_code == 0, res.stderr
    return [json.loads(l) for l in res.stdout.splitlines()]


def _check_layer_semantics(nodes, layers):
    visible = {n["path"]: n for n in nodes if not n["hidden_by"]}
    hidden = {n["path"]: n for n in nodes if n["hidden_by"]}
    assert "usr/lib/libx.so.1" not in visible and "opt/app/a" not in visible
    assert visible["opt/app/c"]["layer"] == layers[1]
    assert visible["etc/os-release"]["layer"] == layers[1]
    assert hidden["usr/lib/libx.so.1"]["hidden_by"] == layers[1]
    assert hidden["usr/lib/libx.so.1"]["layer"] == layers[0]
    assert hidden["etc/os-release"]["hidden_by"] == layers[1]  # shadowed, still visible to detectors
    assert {"opt/app/a", "opt/app/b"} <= set(hidden)
    assert visible["usr/bin/tool-link"]["sha256"] == visible["usr/bin/tool"]["sha256"]
    assert not any(p.split("/")[-1].startswith(".wh.") for p in visible)


@pytest.mark.parametrize("compression", ["gz", "zst", ""])
def test_oci_layout_whiteouts_and_layers(checker, compression):
    img = checker.oci([BASE, TOP], compression=compression)
    result = checker.run(img)
    result.assert_no_errors()
    artifact = result.report.artifacts[0]
    layers = [l.digest for l in artifact.layers]
    _check_layer_semantics(_files(checker, img), layers)
    assert artifact.metadata["platform"] == "linux/amd64"
    assert artifact.layers[1].created_by == "layer 1"


def test_layer_compression_is_read_from_the_bytes(checker):
    img = checker.oci([BASE, TOP], compression="zst")
    index = json.loads((img / "index.json").read_text())
    mdigest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((img / "blobs/sha256" / mdigest).read_text())
    for layer in manifest["layers"]:  # lie: zstd layers labelled gzip, as some tools do
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    data = json.dumps(manifest).encode()
    new = hashlib.sha256(data).hexdigest()
    (img / "blobs/sha256" / new).write_bytes(data)
    index["manifests"][0].update(digest=f"sha256:{new}", size=len(data))
    (img / "index.json").write_text(json.dumps(index))
    result = checker.run(img)
    result.assert_no_errors()
    assert result.report.artifacts[0].tree.read("opt/app/c") == b"c"


@pytest.fixture(scope="module")
def skopeo_archives(tmp_path_factory):
    """docker-archive and oci-archive files written by skopeo from an OCI layout."""
    from provcheck.testing import Checker
    base = tmp_path_factory.mktemp("skopeo")
    img = Checker(base / "c").oci([BASE, TOP])
    out = {}
    for transport, name in [("docker-archive", "docker-save.tar"), ("oci-archive", "oci.tar")]:
        target = base / name
        dest = f"{transport}:{target}:example/app:1.0" if transport == "docker-archive" else f"{transport}:{target}:1.0"
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", f"oci:{img}:latest", dest], check=True,
                       capture_output=True)
        out[transport] = target
    return out


@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_archives_written_by_skopeo(checker, skopeo_archives, transport):
    path = skopeo_archives[transport]
    result = checker.run(path)
    result.assert_no_errors()
    artifact = result.report.artifacts[0]
    assert artifact.kind == "image" and len(artifact.layers) == 2
    from provcheck.unpack.oci import looks_like_image_archive
    assert looks_like_image_archive(path)  # verify decides the same way before loading
    _check_layer_semantics(_files(checker, path), [l.digest for l in artifact.layers])
    if transport == "docker-archive":
        assert [t.rsplit("/", 2)[-2:] for t in artifact.metadata["tags"]] == [["example", "app:1.0"]]


def _tar_layout(layout, tarball, mode: str = "w"):
    """An image layout directory as an archive with its files at the top level."""
    with tarfile.open(tarball, mode) as t:
        for p in sorted(layout.rglob("*")):
            t.add(p, arcname=str(p.relative_to(layout)), recursive=False)
    return tarball


def test_docker25_oci_in_docker_layout(checker):
    """Docker 25+ `docker save`: an OCI layout plus manifest.json naming blobs/sha256/... paths."""
    img = checker.oci([BASE, TOP])
    index = json.loads((img / "index.json").read_text())
    mdigest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((img / "blobs/sha256" / mdigest).read_text())
    (img / "manifest.json").write_text(json.dumps([{
        "Config": "blobs/sha256/" + manifest["config"]["digest"].split(":")[1],
        "RepoTags": ["example/app:2.0"],
        "Layers": ["blobs/sha256/" + l["digest"].split(":")[1] for l in manifest["layers"]]}]))
    tarball = _tar_layout(img, checker.base / "docker25.tar")
    result = checker.run(tarball)
    result.assert_no_errors()
    _check_layer_semantics(_files(checker, tarball), [l.digest for l in result.report.artifacts[0].layers])


def test_multi_platform_index(checker):
    amd = checker.oci([{"arch": "amd64\n"}], name="amd")
    arm = checker.oci([{"arch": "arm64\n"}], name="arm", platform="linux/arm64")
    for src in (arm,):
        for blob in (src / "blobs/sha256").iterdir():
            shutil.copy(blob, amd / "blobs/sha256" / blob.name)
    index = json.loads((amd / "index.json").read_text())
    index["manifests"] += json.loads((arm / "index.json").read_text())["manifests"]
    (amd / "index.json").write_text(json.dumps(index))
    assert checker.run(amd).report.artifacts[0].tree.read("arch") == b"amd64\n"
    res = checker.run_cli("files", amd, "--platform", "linux/arm64")
    assert {json.loads(l)["path"] for l in res.stdout.splitlines()} == {"arch"}
    assert checker.run_cli("scan", amd, "--platform", "linux/arm64", "--format", "json").json()[
        "artifacts"][0]["platform"] == "linux/arm64"
    res = checker.run_cli("scan", amd, "--platform", "linux/s390x")
    assert res.exit_code == 5 and "offered: linux/amd64, linux/arm64" in res.stdout


def test_tampered_layer_is_a_critical_finding(checker):
    img = checker.oci([BASE, TOP])
    index = json.loads((img / "index.json").read_text())
    manifest = json.loads((img / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    victim = img / "blobs/sha256" / manifest["layers"][1]["digest"].split(":")[1]
    victim.write_bytes(gzip.compress(tar_bytes({"opt/app/c": "evil"})))
    result = checker.run(img)
    f = result.only("PC907")
    assert f.severity.name == "CRITICAL"
    assert f.evidence["expected_digest"] == manifest["layers"][1]["digest"]
    assert f.evidence["actual_digest"] == "sha256:" + hashlib.sha256(victim.read_bytes()).hexdigest()
    assert result.exit_code == 1


def test_malformed_layouts_are_clear_errors(checker):
    img = checker.oci([BASE])
    (img / "index.json").write_text("{not json")
    res = checker.run_cli("scan", img)
    assert res.exit_code == 5 and "index.json: not valid JSON" in res.stdout
    img2 = checker.oci([BASE], name="img2")
    index = json.loads((img2 / "index.json").read_text())
    index["manifests"][0]["digest"] = "sha256:../../../../etc/passwd"
    (img2 / "index.json").write_text(json.dumps(index))
    res = checker.run_cli("scan", img2)
    assert res.exit_code == 5 and "malformed digest" in res.stdout
    img3 = checker.oci([BASE], name="img3")
    for blob in (img3 / "blobs/sha256").iterdir():
        if blob.stat().st_size > 200:  # a layer
            blob.unlink()
    res = checker.run_cli("scan", img3)
    assert res.exit_code == 5 and "missing from the image" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr


def test_real_debian_image(checker):
    import realdata
    img = realdata.image([["libc6", "bash", "coreutils"], ["openssh-server"]], "sshd")
    result = checker.run(img)
    result.assert_no_errors()
    artifact = result.report.artifacts[0]
    tree = artifact.tree
    sshd = tree.get("usr/sbin/sshd")
    assert sshd.layer == artifact.layers[1].digest
    assert tree.read(sshd, 4) == b"\x7fELF"
    lzma = tree.resolve("lib/x86_64-linux-gnu/liblzma.so.5")  # through the merged-usr symlink
    assert lzma is not None and lzma.path.startswith("usr/lib/x86_64-linux-gnu/liblzma.so.5.")
    assert tree.read("var/lib/dpkg/status").count(b"Package: ") > 50
    assert all(f.severity.name in ("INFO", "LOW") for f in result.findings)


def test_progress_on_stderr_only_when_asked(checker):
    img = checker.oci([BASE, TOP])
    quiet = checker.run_cli("files", img)
    assert quiet.stderr == ""
    shown = checker.run_cli("files", img, "--progress")
    assert "layer sha256:" in shown.stderr and shown.stdout == quiet.stdout


def test_layout_directories_are_not_followed_through_symlinks(checker, tmp_path):
    img = checker.oci([BASE])
    elsewhere = tmp_path / "elsewhere"
    (img / "blobs").rename(elsewhere)
    (img / "blobs").symlink_to(elsewhere)  # blobs -> a directory outside the layout
    res = checker.run_cli("scan", img)
    assert res.exit_code == 5 and "missing from the image" in res.stdout


def test_layout_blobs_for_plugins_are_verified(checker):
    img = checker.oci([BASE])
    artifact = checker.run(img).report.artifacts[0]
    manifest = artifact.metadata["manifest_digest"]
    assert b'"layers"' in artifact.layout.read_blob(manifest)
    assert artifact.layout.read_blob(manifest, limit=10) is None
    assert artifact.layout.read_blob("sha256:" + "0" * 64) is None and artifact.layout.read_blob("../x") is None


def test_an_archive_is_an_image_only_by_its_top_level(checker):
    """An untyped archive is read once; an OCI archive or docker-save tarball at its top level
    makes it an image, a browser extension's manifest.json object or a release's top
    directory does not (and a docker-save tarball compressed with gzip still is one)."""
    extension = checker.tarball({"manifest.json": '{"manifest_version": 3, "name": "ext"}', "bg.js": "x();\n"},
                                name="extension.tar")
    release = checker.tarball({"pkg-1.0/manifest.json": "[]", "pkg-1.0/oci-layout": "{}"}, name="pkg-1.0.tar.xz")
    from provcheck.unpack.oci import looks_like_image_archive  # verify's decision before loading: the same rule
    for path in (extension, release):
        result = checker.run(path)
        result.assert_no_errors()
        assert result.report.artifacts[0].kind == "archive" and not looks_like_image_archive(path)
    img = checker.oci([BASE, TOP])
    oci_tar = _tar_layout(img, checker.base / "image.tar.gz", "w:gz")
    result = checker.run(oci_tar)
    result.assert_no_errors()
    assert result.report.artifacts[0].kind == "image" and len(result.report.artifacts[0].layers) == 2
    assert looks_like_image_archive(oci_tar)
