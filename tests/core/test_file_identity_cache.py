"""The file-identity cache of directory inputs (git's index rule, ``provcheck.unpack.directory``):
a warm run answers from it exactly as ``--no-cache`` does, reads no file it need not read,
and a file changed in place (even with its mtime put back) is never taken from it."""

import hashlib
import json
import os
import time

import pytest

from provcheck import CommandContext, Config, InputSpec
from provcheck.testing import File, Hardlink, Symlink
from provcheck.unpack import directory


def _load(checker, root, **config):
    ctx = CommandContext(checker.plugin_manager())
    ctx.use(Config(work_dir=checker.base / "work", cache_dir=checker.base / "cache", **config))
    return ctx, ctx.load(InputSpec.parse(str(root), "target"))


@pytest.fixture
def quick_racy(monkeypatch):
    """Entries count as racy for 0.1 s instead of 2 s (a test's files are seconds old)."""
    monkeypatch.setattr(directory, "RACY_NS", 100_000_000)


@pytest.mark.slow
def test_a_warm_run_gives_the_no_cache_output_and_reads_only_what_it_prints(checker):
    import realdata
    root = realdata.rootfs(["openssh-server"], "sshd")
    query = ["linkage", str(root), "--from", "sshd", "--to", "liblzma", "--format", "json"]
    cold, warm, exact = (checker.run_cli(*query), checker.run_cli(*query), checker.run_cli(*query, "--no-cache"))
    assert cold.exit_code == warm.exit_code == exact.exit_code == 0, (cold.stderr, warm.stderr, exact.stderr)
    assert cold.stdout == warm.stdout == exact.stdout
    hops = [h for p in json.loads(exact.stdout)["paths"] for h in p["chain"]]
    assert [h["path"].rsplit("/", 1)[-1] for h in hops][:1] == ["sshd"] and all(len(h["sha256"]) == 64 for h in hops)
    for hop in hops:  # each printed digest is the file's
        assert hop["sha256"] == hashlib.sha256((root / hop["path"]).read_bytes()).hexdigest()
    files = [checker.run_cli("files", str(root)), checker.run_cli("files", "--no-cache", str(root))]
    assert files[0].exit_code == files[1].exit_code == 0 and files[0].stdout == files[1].stdout

    # in-process, warm: every file's digest and head come from the cache; answering the
    # question hashes only the files the report prints
    from provcheck_elf import open_cache
    from provcheck_elf.analysis import analyze
    from provcheck_elf.policies import Options
    ctx, artifact = _load(checker, root)
    with ctx:
        tree = artifact.tree
        regular = [n for n in tree.nodes.values() if n.type == "file"]
        known = {n.path: tree.known_digest(n) for n in regular}
        assert all(known.values())
        parse_cache = open_cache(Options.parse({}, []), ctx.cache, artifact)
        try:
            an = analyze(artifact, parse_cache)
        finally:
            parse_cache.close()
        assert an.stats["elf"] > 50 and an.stats["parsed"] == 0 and not an.errors
        # hashed (read whole): only the setuid files a PC904 finding names; the package
        # database's read is kept by the tree's shape and its files' digests (not read)
        read = {n.path for n in regular if not n.pending}
        assert all(tree.nodes[p].mode & 0o6000 for p in read)
        paths, _ = an.graph.paths(an.graph.match("sshd"), an.graph.match("liblzma"))
        assert paths and all(tree.nodes[e.dst].sha256 == known[e.dst] for e in paths[0])
        assert {n.path for n in regular if not n.pending} - read == {e.dst for e in paths[0]}


def test_a_file_changed_in_place_with_its_mtime_restored_is_hashed_again(checker, quick_racy):
    root = checker.tree({"a": "alpha", "b": File(b"\x7fELF" + b"\0" * 60), "c": "gamma"})
    time.sleep(0.15)
    ctx, artifact = _load(checker, root)
    with ctx:
        old = {p: artifact.tree.get(p).sha256 for p in ("a", "b", "c")}
    st = os.stat(root / "a")
    with open(root / "a", "r+b") as f:  # same size, mtime put back: only ctime tells
        f.write(b"ALPHA")
    os.utime(root / "a", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(root / "a").st_mtime_ns == st.st_mtime_ns and os.stat(root / "a").st_size == st.st_size
    ctx, artifact = _load(checker, root)
    with ctx:
        tree = artifact.tree
        assert tree.known_digest(tree.get("b")) == old["b"] and tree.read("b", 4) == b"\x7fELF"
        assert tree.known_digest(tree.get("a")) is None  # its ctime moved: not taken from the cache
        assert tree.read("a") == b"ALPHA" and tree.get("a").sha256 == hashlib.sha256(b"ALPHA").hexdigest()
        assert not artifact.errors
    warm, exact = checker.run_cli("files", str(root)), checker.run_cli("files", "--no-cache", str(root))
    assert warm.stdout == exact.stdout and hashlib.sha256(b"ALPHA").hexdigest() in warm.stdout


ELF = b"\x7fELF" + b"\0" * 60


def test_sniffing_a_tree_answers_from_the_index_and_equals_reading_it(checker, quick_racy):
    """``Tree.starting_with`` (how the ELF plugin finds its files) gives what reading every
    file's first bytes gives, cold and warm; warm, it opens no file the index knows, and a
    file changed since is read again."""
    root = checker.tree({"bin/a": ELF, "bin/a2": Hardlink("bin/a"), "lib/b": File(ELF, 0o755), "c": "text",
                         "tiny": b"\x7fE", "empty": b"", "s": Symlink("bin/a"), "d/e": "x" * 100})
    time.sleep(0.15)

    def by_reading(tree):
        return sorted(n.path for n in tree.nodes.values()
                      if n.is_file and n.size >= 4 and tree.read(n, 4) == b"\x7fELF")

    for run in ("cold", "warm"):
        ctx, artifact = _load(checker, root)
        with ctx:
            tree = artifact.tree
            found = sorted(n.path for n in tree.starting_with(b"\x7fELF"))
            assert found == ["bin/a", "bin/a2", "lib/b"], run
            if run == "warm":  # answered from the index: no content made but the hard links' (one, shared)
                assert [n.path for n in tree.nodes.values() if getattr(n, "_content", None) is not None] == ["bin/a", "bin/a2"]
            assert found == by_reading(tree)
    st = os.stat(root / "lib/b")
    (root / "lib/b").write_bytes(b"not ELF any more" + b"\0" * 52)  # same size, mtime put back
    os.utime(root / "lib/b", ns=(st.st_atime_ns, st.st_mtime_ns))
    ctx, artifact = _load(checker, root)
    with ctx:
        assert sorted(n.path for n in artifact.tree.starting_with(b"\x7fELF")) == ["bin/a", "bin/a2"]
    ctx, artifact = _load(checker, root, no_cache=True)
    with ctx:
        assert sorted(n.path for n in artifact.tree.starting_with(b"\x7fELF")) == ["bin/a", "bin/a2"]
        assert by_reading(artifact.tree) == ["bin/a", "bin/a2"]


def test_racy_files_are_not_stored(checker, quick_racy):
    root = checker.tree({"old": "o"})
    time.sleep(0.15)
    (root / "fresh").write_text("f")  # changed just before the listing: could change again unseen
    ctx, artifact = _load(checker, root)
    with ctx:
        assert artifact.tree.get("old").sha256 and artifact.tree.get("fresh").sha256
    ctx, artifact = _load(checker, root)
    with ctx:
        tree = artifact.tree
        assert tree.known_digest(tree.get("old")) and tree.known_digest(tree.get("fresh")) is None


@pytest.mark.parametrize("liar", ["index", "tree record"])
def test_a_wrong_cached_digest_is_caught_when_the_file_is_hashed(checker, quick_racy, liar):
    """An entry that lies (same identity, other digest: what a changed disk or clock could
    give) never reaches a report: the printed digest is hashed, and the difference is an error.
    Either store may lie: the file-identity index, or the record kept by the tree's identity."""
    root = checker.tree({"lib": "library bytes"})
    time.sleep(0.15)
    ctx, artifact = _load(checker, root)
    with ctx:
        true = artifact.tree.get("lib").sha256
        identity = artifact.tree.identity
        cache = ctx.cache
    assert identity
    if liar == "index":  # no record: the index answers
        key = directory.FileIndex(None, root).key
        stored = cache.get_json(directory.INDEX_NAMESPACE, key, directory.INDEX_VERSION)
        stored["files"]["lib"][5] = "0" * 64
        cache.put_json(directory.INDEX_NAMESPACE, key, stored, directory.INDEX_VERSION)
        cache._path(directory.TREE_NAMESPACE, identity).unlink()
    else:
        stored = cache.get_json(directory.TREE_NAMESPACE, identity, directory.INDEX_VERSION)
        assert stored["files"]["lib"][0] == true
        stored["files"]["lib"][0] = "0" * 64
        cache.put_json(directory.TREE_NAMESPACE, identity, stored, directory.INDEX_VERSION)
    ctx, artifact = _load(checker, root)
    with ctx:
        node = artifact.tree.get("lib")
        assert artifact.tree.identity == identity
        assert artifact.tree.known_digest(node) == "0" * 64
        assert node.sha256 == true
        assert any("file-identity cache is wrong" in e.message for e in artifact.errors)
        assert artifact.tree.known_digest(node) == true
    ctx, artifact = _load(checker, root)  # the run that caught it stored the true digest
    with ctx:
        assert artifact.tree.known_digest(artifact.tree.get("lib")) == true and not artifact.errors


def test_no_cache_neither_reads_nor_writes_the_index(checker, quick_racy):
    root = checker.tree({"a": "alpha"})
    time.sleep(0.15)
    ctx, artifact = _load(checker, root, no_cache=True)
    with ctx:
        assert artifact.tree.get("a").sha256
    assert not (checker.base / "cache").exists() or not list((checker.base / "cache").rglob("*dir-files*"))
    ctx, artifact = _load(checker, root)
    with ctx:
        assert artifact.tree.known_digest(artifact.tree.get("a")) is None


def test_a_directory_keeps_its_package_read_until_a_database_file_or_the_shape_changes(checker, quick_racy):
    """A warm run takes the dpkg read from the cache without opening a database file; a
    changed ``.list`` (its identity) or a changed shape (a listed directory that became a
    file) is read again, and every read equals ``--no-cache``'s."""
    from provcheck.formats import packages
    status = "Package: foo\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"
    listed = "/.\n/usr\n/usr/bin/foo\n/usr/lib/foo\n"
    root = checker.tree({"var/lib/dpkg/status": status, "var/lib/dpkg/info/foo:amd64.list": listed, "usr/bin/foo": "x"})
    (root / "usr/lib/foo").mkdir(parents=True)  # empty: the same paths when it becomes a file
    time.sleep(0.15)

    def files(**config):
        ctx, artifact = _load(checker, root, **config)
        with ctx:
            tree = artifact.tree
            dbs = packages.installed(tree, hashes=False, cache=ctx.cache)
            opened = sorted(n.path for n in tree.nodes.values() if n.type == "file" and not n.pending)
            assert not dbs.errors and dbs.read == ["dpkg"]
            return [(p.name, p.version, p.files) for p in dbs.packages], opened

    cold, opened = files()
    assert cold == [("foo", "1.0", ("usr/bin/foo",))] and "var/lib/dpkg/status" in opened
    assert files() == (cold, [])  # warm: kept, nothing opened
    assert files(no_cache=True)[0] == cold
    with open(root / "var/lib/dpkg/info/foo:amd64.list", "a") as f:
        f.write("/usr/bin/foo2\n")
    time.sleep(0.15)
    changed = [("foo", "1.0", ("usr/bin/foo", "usr/bin/foo2"))]
    assert files()[0] == changed == files(no_cache=True)[0]
    assert files() == (changed, [])
    (root / "usr/lib/foo").rmdir()
    (root / "usr/lib/foo").write_text("now a file")
    time.sleep(0.15)
    changed = [("foo", "1.0", ("usr/bin/foo", "usr/lib/foo", "usr/bin/foo2"))]
    assert files()[0] == changed == files(no_cache=True)[0]
    assert files() == (changed, [])


def test_a_directorys_identity_changes_with_any_entry_and_its_record_answers_warm(checker, quick_racy):
    """A directory input's tree identity covers every path, link target and entry's identity:
    each change below (a touched file, a file's content replaced with its size and mtime put
    back, an added, a removed file, a symlink pointed elsewhere, a directory's mode) gives
    another identity, and the warm answer of ``starting_with`` equals reading every file.
    With the same identity a warm run answers from the tree's record: no file's content is
    made but the hard-linked inode's, and the file-identity index is not even read. A racy
    entry or an error of the walk leaves the identity unset."""
    root = checker.tree({"bin/a": ELF, "bin/a2": Hardlink("bin/a"), "lib/b": File(ELF, 0o755), "c": "text",
                         "s": Symlink("bin/a"), "d/e": "x" * 100})
    time.sleep(0.15)
    index_reads = []
    real_entries = directory.FileIndex.entries

    def by_reading(tree):
        return sorted(n.path for n in tree.nodes.values()
                      if n.is_file and n.size >= 4 and tree.read(n, 4) == b"\x7fELF")

    def load(**config):
        ctx, artifact = _load(checker, root, **config)
        with ctx:
            tree = artifact.tree
            found = sorted(n.path for n in tree.starting_with(b"\x7fELF"))
            made = sorted(n.path for n in tree.nodes.values() if getattr(n, "_content", None) is not None)
            index_read = bool(index_reads)
            assert found == by_reading(tree) and not artifact.errors
            return tree.identity, found, made, index_read

    identity, found, _, _ = load()
    assert identity and found == ["bin/a", "bin/a2", "lib/b"]
    directory.FileIndex.entries = property(lambda self: index_reads.append(1) or real_entries.fget(self))
    try:
        assert load() == (identity, found, ["bin/a", "bin/a2"], False)  # the record's answer, no index read
    finally:
        directory.FileIndex.entries = real_entries
    assert load(no_cache=True)[0] is None  # --no-cache: nothing kept, so no identity either

    def change(what, expect):
        what()
        time.sleep(0.15)
        got = load()
        assert got[0] and got[0] not in seen and got[1] == expect, got
        assert load()[:2] == got[:2]  # and again, from the new identity's record
        seen.add(got[0])

    seen = {identity}
    st = os.stat(root / "lib/b")

    def replace_b():
        (root / "lib/b").write_bytes(b"not ELF any more" + b"\0" * 48)  # same size, mtime put back
        os.utime(root / "lib/b", ns=(st.st_atime_ns, st.st_mtime_ns))

    change(lambda: os.utime(root / "c"), ["bin/a", "bin/a2", "lib/b"])
    change(replace_b, ["bin/a", "bin/a2"])
    change(lambda: (root / "d/new").write_bytes(ELF), ["bin/a", "bin/a2", "d/new"])
    change(lambda: (root / "d/e").unlink(), ["bin/a", "bin/a2", "d/new"])
    change(lambda: ((root / "s").unlink(), (root / "s").symlink_to("lib/b")), ["bin/a", "bin/a2", "d/new"])
    change(lambda: (root / "d").chmod(0o700), ["bin/a", "bin/a2", "d/new"])
    (root / "c").write_text("fresh")  # racy: changed within the window before the listing
    assert load()[0] is None
    time.sleep(0.15)
    from provcheck.config import Limits
    ctx, artifact = _load(checker, root, limits=Limits(max_file_bytes=50))  # d/new and lib/b: errors of the walk
    with ctx:
        assert artifact.errors and artifact.tree.identity is None
    assert load()[0] not in seen | {None}  # settled: a new identity for the new content
