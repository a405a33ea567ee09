"""Hostile inputs: each gets a clear finding or error, and nothing is written outside the work area."""

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from provcheck.testing import File, Symlink, tar_bytes


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def jail(checker, tmp_path):
    """A directory tree around the checker whose contents must not change during a scan."""
    before = _snapshot(tmp_path)
    yield checker
    after = _snapshot(tmp_path)
    new = {p for p in after - before if not p.startswith("checker/")}
    assert not new, f"scan wrote outside its work area: {sorted(new)}"


def _raw_tar(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, arg in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(arg)
                t.addfile(info, io.BytesIO(arg))
            else:
                info.type = kind
                if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = arg
                t.addfile(info)
    return buf.getvalue()


def test_tar_slip_variants(jail):
    data = _raw_tar([("ok.txt", "file", b"fine"), ("../../../../tmp/evil-slip", "file", b"pwn"),
                     ("a/../../escape", "file", b"pwn"), ("/etc/cron.d/job", "file", b"* * * * * x"),
                     ("..\\..\\win", "file", b"pwn")])
    path = jail.base / "slip.tar"
    path.write_bytes(data)
    res = jail.run_cli("scan", path, "--format", "json")
    report = json.loads(res.stdout)
    pc901 = [f for f in report["findings"] if f["rule_id"] == "PC901"]
    assert len(pc901) == 4, pc901
    assert res.exit_code == 1
    assert not Path("/tmp/evil-slip").exists()
    listed = {json.loads(l)["path"] for l in jail.run_cli("files", path).stdout.splitlines()}
    assert listed == {"ok.txt", "etc", "etc/cron.d", "etc/cron.d/job"}


def test_symlink_and_hardlink_escapes(jail):
    data = _raw_tar([("up", tarfile.SYMTYPE, "../../../../etc"), ("abs", tarfile.SYMTYPE, "/etc/passwd"),
                     ("up/passwd", "file", b"through the link"), ("hl", tarfile.LNKTYPE, "../../etc/shadow"),
                     ("hl2", tarfile.LNKTYPE, "missing"), ("inside", tarfile.SYMTYPE, "sub/../ok"),
                     ("ok", "file", b"ok")])
    path = jail.base / "links.tar"
    path.write_bytes(data)
    result = jail.run(path)
    rules = result.rules()
    assert rules.get("PC902") == 4, result.findings  # up, abs, hl, hl2; 'inside' stays inside
    tree = result.report.artifacts[0].tree
    assert tree.resolve("inside").path == "ok"
    assert tree.resolve("abs") is None  # chroot semantics: /etc/passwd is not in the tree
    assert tree.get("hl") is None and tree.get("hl2") is None


def test_device_nodes_and_setuid(jail):
    data = _raw_tar([("dev/sda", tarfile.BLKTYPE, None), ("dev/null", tarfile.CHRTYPE, None),
                     ("fifo", tarfile.FIFOTYPE, None)])
    path = jail.base / "dev.tar"
    path.write_bytes(data)
    result = jail.run(path)
    assert result.rules().get("PC903") == 3
    tree = result.report.artifacts[0].tree
    assert tree.get("dev/sda").type == "block" and tree.get("dev/sda").sha256 is None
    suid = jail.tarball({"usr/bin/helper": File(b"#!/bin/sh\n", 0o4755)}, name="suid.tar")
    f = jail.run(suid).only("PC904")
    assert f.evidence["mode"] == "4755"


def test_duplicate_members_last_wins(jail):
    data = _raw_tar([("src/main.c", "file", b"reviewed"), ("src/main.c", "file", b"backdoored")])
    path = jail.base / "dup.tar"
    path.write_bytes(data)
    result = jail.run(path)
    f = result.only("PC905")
    assert result.report.artifacts[0].tree.read("src/main.c") == b"backdoored"
    assert f.evidence["first"] != f.evidence["last"]


@pytest.mark.parametrize("compressor", [["gzip", "-c"], ["xz", "-c", "-T1"], ["zstd", "-q", "-c", "-19"]])
def test_decompression_bombs_stop_at_the_ratio_limit(jail, compressor):
    # 64 MiB of zeros in one member: compresses ~1000:1 (gzip) and far more with xz/zstd.
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        info = tarfile.TarInfo("bomb/zeros.bin")
        info.size = 64 << 20
        t.addfile(info, io.BytesIO(bytes(64 << 20)))
    data = subprocess.run(compressor, input=raw.getvalue(), capture_output=True, check=True).stdout
    path = jail.base / "bomb.tar.x"
    path.write_bytes(data)
    result = jail.run(path, config={"limits": {"ratio-floor": "8MiB", "max-ratio": 100}})
    f = result.only("PC906")
    assert f.location.path == "bomb/zeros.bin" and "ratio" in f.message
    assert result.exit_code == 3  # incomplete: an error says where it stopped
    assert any("bomb/zeros.bin" in e.message for e in result.errors)
    blobs = list((jail.base).rglob("blobs/*/*"))
    assert sum(b.stat().st_size for b in blobs if b.is_file()) < 16 << 20


def test_total_size_and_member_count_limits(jail):
    files = {f"f{i}": b"x" * 1000 for i in range(50)}
    path = jail.tarball(files, name="many.tar.gz")
    assert "max-files" in jail.run(path, config={"limits": {"max-files": 10}}).only("PC906").message
    assert "max-total-bytes" in jail.run(path, config={"limits": {"max-total-bytes": 5000}}).only("PC906").message
    assert "max-file-bytes" in jail.run(path, config={"limits": {"max-file-bytes": 100}}).only("PC906").message


def test_hundred_thousand_members(jail):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as t:
        for i in range(100_000):
            info = tarfile.TarInfo(f"d{i % 100}/f{i}")
            info.size = 1
            t.addfile(info, io.BytesIO(b"%d" % (i % 10)))
    path = jail.base / "many.tar.gz"
    path.write_bytes(buf.getvalue())
    result = jail.run(path)
    result.assert_no_errors()
    tree = result.report.artifacts[0].tree
    assert sum(1 for n in tree.files()) == 100_000
    assert len(list((jail.base).rglob("blobs/*/*"))) <= 12  # ten distinct contents, stored once


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.95])
def test_truncated_streams_keep_what_was_read(jail, cut):
    files = {f"src/file{i}.c": os.urandom(20_000).hex() for i in range(20)}
    whole = gzip.compress(tar_bytes(files))
    path = jail.base / "cut.tar.gz"
    path.write_bytes(whole[: int(len(whole) * cut)])
    res = jail.run_cli("scan", path, "--format", "json")
    report = json.loads(res.stdout)
    assert res.exit_code == 3, res.stderr
    assert report["errors"] and "corrupt or truncated" in report["errors"][0]["message"]
    assert report["errors"][0]["path"] == "cut.tar.gz"
    assert "Traceback" not in res.stdout + res.stderr
    result = jail.run(path)
    kept = sum(1 for _ in result.report.artifacts[0].tree.files())
    assert 0 <= kept < 20


def test_garbage_and_missing_inputs(jail):
    junk = jail.base / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(4000))
    res = jail.run_cli("scan", junk)
    assert res.exit_code in (3, 5) and "junk.tar.gz" in res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    text = jail.base / "notes.txt"
    text.write_text("just text\n")
    res = jail.run_cli("scan", text)
    assert res.exit_code == 5 and "notes.txt: no loader reads this kind of input" in res.stdout
    res = jail.run_cli("scan", jail.base / "absent.tar")
    assert res.exit_code == 5 and "absent.tar" in res.stdout


def test_directory_symlinks_are_never_followed(jail):
    secret = jail.base / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("host secret\n")
    root = jail.tree({"a.txt": "a", "leak": Symlink(str(secret)), "up": Symlink("../../..")}, name="rootfs")
    result = jail.run(root)
    result.assert_no_errors()
    tree = result.report.artifacts[0].tree
    assert tree.get("leak").type == "symlink" and tree.resolve("leak") is None
    stored = {p.read_bytes() for p in jail.base.rglob("blobs/*/*") if p.is_file()}
    assert b"host secret\n" not in stored


def test_non_utf8_member_names(jail):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as t:
        info = tarfile.TarInfo("src/o\udcffk.c")
        info.size = 1
        t.addfile(info, io.BytesIO(b"1"))
    path = jail.base / "names.tar"
    path.write_bytes(buf.getvalue())
    result = jail.run(path)
    f = result.only("PC908")
    assert f.location.path == "src/o\\xffk.c"
    assert result.report.artifacts[0].tree.read("src/o\\xffk.c") == b"1"


def test_hostile_image_layers(jail):
    """Traversal, escaping links and whiteouts aimed outside the tree, inside image layers."""
    evil = {"../../../../tmp/evil-layer": "pwn", "etc/passwd": "root\n", "lnk": Symlink("../../../../../etc"),
            "lnk/shadow": "through the link", ".wh...": "", "../.wh.etc": "", "bin/.wh.": "", ".wh.": ""}
    img = jail.oci([{"etc/passwd": "root\n", "bin/sh": File("#!/bin/sh\n", 0o755)}, evil])
    result = jail.run(img)
    rules = result.rules()
    assert rules.get("PC901", 0) >= 2 and rules.get("PC902", 0) >= 1
    tree = result.report.artifacts[0].tree
    assert tree.get("bin/sh") is not None  # the whiteout names that climb out hid nothing
    assert not Path("/tmp/evil-layer").exists()


def test_a_layer_of_many_whiteouts_is_applied_in_linear_time(jail):
    lower = {f"data/d{i % 300}/f{i}": "x" for i in range(30_000)}
    upper = {f"data/d{i % 300}/.wh.f{i}": "" for i in range(0, 30_000, 2)}  # 15,000 whiteouts
    upper.update({f"data/d{i}/.wh..wh..opq": "" for i in range(0, 300, 3)})  # and 100 opaque dirs
    result = jail.run(jail.oci([lower, upper]))
    result.assert_no_errors()
    tree = result.report.artifacts[0].tree
    kept = {n.path for n in tree.files()}
    assert kept == {f"data/d{i % 300}/f{i}" for i in range(1, 30_000, 2) if (i % 300) % 3}
    assert len(tree.hidden) == 30_000 - len(kept)


def test_globs_from_hostile_patterns_match_in_linear_time():
    from provcheck.vfs import glob_regex
    assert glob_regex("*a*a*a*a*a*a*a*a*a*a*a*a*ab").match("a" * 80) is None  # hours with plain [^/]*
    assert glob_regex("x*y*z").match("xAyBz") and not glob_regex("x*y*z").match("xA/yBz")


def test_tree_glob_is_the_glob_regex_over_every_path(tmp_path):
    """``Tree.glob`` filters paths by the pattern's literal part before the regex: the same matches,
    in path order, for classes, ``**/`` matching no directory, and brackets that are not classes."""
    from provcheck.vfs import BlobStore, Node, Tree, glob_regex
    paths = ["var/lib/db/sbom/a.spdx.json", "usr/share/sbom/x/y/b.cdx.json", "usr/share/sbom/c.spdx.json",
             "a.dist-info/sboms/x.json", "usr/lib/python3/x.dist-info/sboms/y.json", "foo", "usr/foo", "x/[a]/b",
             "x/ab/b", "x/bb/b", "x/]b/b", "lib/x.so.1", "usr/lib/**", "a[b", "x/[]]/b", "x/a]b/b"]
    tree = Tree(BlobStore(tmp_path / "blobs"), [Node(path=p, type="file") for p in paths])
    for pattern in ("usr/share/sbom/**/*.cdx.json", "**/*.dist-info/sboms/*.json", "**/foo", "x/[a]/b", "x/[ab]b/b",
                    "**", "*", "**/*.so.*", "usr/lib/**", "/usr/*/", "a[b", "x/[]]/b", "x/[!a]b/b", "x/[]a]b/b",
                    "?/*/b", "**/b"):
        rx = glob_regex(pattern)
        assert [n.path for n in tree.glob(pattern)] == [p for p in sorted(paths) if rx.match(p)], pattern
    assert [n.path for n in tree.glob("**/*.dist-info/sboms/*.json")] == [
        "a.dist-info/sboms/x.json", "usr/lib/python3/x.dist-info/sboms/y.json"]
