"""Directory inputs: listed with lstat, hashed on demand, once, exactly."""

import hashlib
import json
import os
import stat

import pytest

from provcheck import InputSpec
from provcheck.testing import File


def _files(checker, *args):
    res = checker.run_cli("files", *args)
    return res, [json.loads(l) for l in res.stdout.splitlines()]


@pytest.mark.slow
def test_lazy_files_output_is_exact_on_a_real_root_filesystem(checker):
    import realdata
    root = realdata.rootfs(["openssh-server"], "sshd")
    res, nodes = _files(checker, str(root))
    assert res.exit_code == 0, res.stderr
    by_path = {n["path"]: n for n in nodes}
    walked, inodes = 0, set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            host = os.path.join(dirpath, name)
            rel = os.path.relpath(host, root)
            st = os.lstat(host)
            node = by_path.pop(rel)
            walked += 1
            assert node["mode"] == f"{st.st_mode & 0o7777:04o}", rel
            if stat.S_ISREG(st.st_mode):
                with open(host, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
                assert (node["sha256"], node["size"]) == (digest, st.st_size), rel
                if node["type"] == "hardlink":  # to another name of the same inode
                    target = os.lstat(root / node["link_target"])
                    assert (target.st_dev, target.st_ino) == (st.st_dev, st.st_ino), rel
                else:
                    assert node["type"] == "file", rel
                inodes.add((st.st_dev, st.st_ino))
            elif stat.S_ISLNK(st.st_mode):
                assert (node["type"], node["link_target"], node["sha256"]) == ("symlink", os.readlink(host), None)
            else:
                assert node["sha256"] is None
    # every entry, nothing invented; one "file" per inode
    assert not by_path and walked > 5000 and sum(n["type"] == "file" for n in nodes) == len(inodes)


def _load(checker, root):
    from provcheck import CommandContext, Config
    ctx = CommandContext(checker.plugin_manager())
    ctx.use(Config(work_dir=checker.base / "work"))
    return ctx, ctx.load(InputSpec.parse(str(root), "target"))


def test_listing_reads_no_content_and_hashes_once(checker, tmp_path):
    root = checker.tree({"a": "alpha", "big": File(b"x" * (3 << 20)), "sub/c": "gamma"})
    ctx, artifact = _load(checker, root)
    with ctx:
        tree = artifact.tree
        assert all(n.pending for n in tree.files())  # nothing hashed by the walk
        assert tree.read("a", 2) == b"al" and tree.get("a").pending  # a head read does not hash
        assert tree.read("a") == b"alpha" and not tree.get("a").pending
        assert tree.get("big").sha256 == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
        assert tree.get("sub/c").pending


def test_a_file_changed_after_listing_or_hashing_is_never_read_as_other_content(checker, tmp_path):
    root = checker.tree({"swapped": "one", "big": File(b"y" * (2 << 20))})
    ctx, artifact = _load(checker, root)
    with ctx:
        tree = artifact.tree
        (root / "swapped").unlink()
        (root / "swapped").write_text("two")  # a new inode: not the file that was listed
        assert not tree.get("swapped").is_file or tree.get("swapped").sha256 is None
        with pytest.raises(FileNotFoundError):
            tree.read("swapped")
        assert any(e.path == "swapped" and "replaced" in e.message for e in artifact.errors)
        assert tree.get("big").sha256
        with open(root / "big", "r+b") as f:  # changed in place after hashing: refused, not served
            f.write(b"z")
        with pytest.raises(OSError, match="changed on disk"):
            tree.read("big")


def test_an_unreadable_file_is_an_error_of_the_scan(checker):
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    root = checker.tree({"secret": "s", "ok": "o"})
    os.chmod(root / "secret", 0)
    try:
        res = checker.run_cli("files", str(root))
    finally:
        os.chmod(root / "secret", 0o644)
    assert res.exit_code == 3 and "secret: cannot read" in res.stderr.replace("'", "")
