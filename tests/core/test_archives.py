"""Every archive format libarchive reads, through the public CLI and API."""

import gzip
import io
import json
import subprocess
import tarfile
import zipfile

import pytest

from provcheck.testing import Dir, File, Hardlink, Symlink, tar_bytes

FILES = {"pkg-1.0/": Dir(), "pkg-1.0/README": "hello\n", "pkg-1.0/src/main.c": "int main(){return 0;}\n",
         "pkg-1.0/bin/tool": File(b"\x7fELF\x02\x01\x01" + b"\0" * 57, 0o755), "pkg-1.0/link": Symlink("README"),
         "pkg-1.0/hard": Hardlink("pkg-1.0/README")}


def _lines(result):
    return {d["path"]: d for d in map(json.loads, result.stdout.splitlines())}


@pytest.mark.parametrize("suffix,tool", [
    ("tar", None), ("tar.gz", ["gzip", "-c"]), ("tar.xz", ["xz", "-c"]), ("tar.bz2", ["bzip2", "-c"]),
    ("tar.zst", ["zstd", "-q", "-c"]), ("tar.lzma", ["xz", "--format=lzma", "-c"]), ("tar.lz", ["lzip", "-c"]),
])
def test_tar_with_every_compression(checker, suffix, tool):
    raw = tar_bytes(FILES)
    data = raw if tool is None else subprocess.run(tool, input=raw, capture_output=True, check=True).stdout
    path = checker.base / f"pkg-1.0.{suffix}"
    path.write_bytes(data)
    res = checker.run_cli("files", path)
    assert res.exit_code == 0, res.stderr
    nodes = _lines(res)
    assert nodes["pkg-1.0/README"]["sha256"] == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert nodes["pkg-1.0/bin/tool"]["mode"] == "0755"
    assert nodes["pkg-1.0/link"] == dict(nodes["pkg-1.0/link"], type="symlink", link_target="README")
    assert nodes["pkg-1.0/hard"]["type"] == "hardlink"
    assert nodes["pkg-1.0/hard"]["sha256"] == nodes["pkg-1.0/README"]["sha256"]


def test_zip_and_cpio(checker):
    z = checker.base / "a.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("dir/a.txt", "zip content\n")
    assert "dir/a.txt" in _lines(checker.run_cli("files", z))
    src = checker.tree({"x/y.txt": "cpio content\n"}, name="cpiosrc")
    cpio = checker.base / "a.cpio"
    listing = subprocess.run(["find", "x", "-print0"], cwd=src, capture_output=True, check=True).stdout
    with open(cpio, "wb") as out:
        subprocess.run(["cpio", "-o", "-0", "-H", "newc", "--quiet"], cwd=src, input=listing, stdout=out, check=True)
    nodes = _lines(checker.run_cli("files", cpio))
    assert nodes["x/y.txt"]["size"] == len("cpio content\n")


def test_real_debian_package_shows_payload_and_control(checker):
    import realdata
    deb = realdata.download(["liblzma5"])["liblzma5"]
    res = checker.run_cli("files", deb)
    assert res.exit_code == 0, res.stderr
    nodes = _lines(res)
    so = [p for p in nodes if p.startswith("lib/x86_64-linux-gnu/liblzma.so.5.")]
    assert so and nodes[so[0]]["type"] == "file"
    assert "DEBIAN/control" in nodes and "DEBIAN/md5sums" in nodes
    expected = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(expected)) as t:
        import hashlib
        member = next(m for m in t.getmembers() if m.name.lstrip("./") == so[0])
        assert hashlib.sha256(t.extractfile(member).read()).hexdigest() == nodes[so[0]]["sha256"]


def test_alpine_apk_concatenated_gzip_segments(checker):
    def segment(files, end):
        raw = tar_bytes(files, fmt=tarfile.USTAR_FORMAT)
        if not end:  # apk strips the end-of-archive blocks from all but the last segment
            raw = raw.rstrip(b"\0")
            raw += b"\0" * (-len(raw) % 512)
        return gzip.compress(raw)
    apk = checker.base / "busybox-1.36.1-r0.apk"
    apk.write_bytes(segment({".SIGN.RSA.alpine.rsa.pub": b"sig"}, False)
                    + segment({".PKGINFO": "pkgname = busybox\npkgver = 1.36.1-r0\n"}, False)
                    + segment({"bin/busybox": b"\x7fELF", "etc/securetty": "console\n"}, True))
    nodes = _lines(checker.run_cli("files", apk))
    assert {".PKGINFO", "bin/busybox", "etc/securetty"} <= set(nodes)


def test_nested_archive_unpacked_on_request(checker):
    inner = gzip.compress(tar_bytes({"inner/file.txt": "deep\n"}))
    outer = checker.tarball({"release/vendor/dep.tar.gz": inner}, name="outer.tar")
    from provcheck import hookimpl

    seen = {}

    class Probe:
        @hookimpl
        def provcheck_detect(self, scan):
            a = scan.targets[0]
            tree = scan.unpack(a, a.tree.get("release/vendor/dep.tar.gz"))
            seen["data"] = tree.read("inner/file.txt")
            seen["chain"] = tree.get("inner/file.txt").chain
            return []

    checker.add_plugin(Probe())
    checker.run(outer).assert_no_errors()
    assert seen == {"data": b"deep\n", "chain": ("release/vendor/dep.tar.gz",)}


def test_text_and_json_listing_agree(checker):
    path = checker.tarball(FILES, name="p.tar.gz")
    text = checker.run_cli("files", path, "--format", "text").stdout
    assert "pkg-1.0/link -> README" in text
    assert len(text.splitlines()) == len(_lines(checker.run_cli("files", path)))


@pytest.mark.parametrize("payload", ["w19.zstdio", "w9.gzdio", "w6.xzdio"])
def test_rpm_built_by_rpmbuild(checker, payload):
    top = checker.base / f"rpm-{payload}"
    (top / "SPECS").mkdir(parents=True)
    (top / "SPECS/hello.spec").write_text(
        "Name: hello-provcheck\nVersion: 1.0\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n"
        "%description\nt\n%install\nmkdir -p %{buildroot}/usr/bin %{buildroot}/etc\n"
        "printf '#!/bin/sh\\necho hi\\n' > %{buildroot}/usr/bin/hello\necho a=1 > %{buildroot}/etc/hello.conf\n"
        "%files\n%attr(4755,root,root) /usr/bin/hello\n/etc/hello.conf\n")
    subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", "--define", f"_binary_payload {payload}",
                    str(top / "SPECS/hello.spec")], check=True, capture_output=True)
    [rpm] = (top / "RPMS/noarch").glob("*.rpm")
    nodes = _lines(checker.run_cli("files", rpm))
    assert nodes["usr/bin/hello"]["mode"] == "4755" and nodes["etc/hello.conf"]["size"] == 4
    assert checker.run(rpm).only("PC904").location.path == "usr/bin/hello"
