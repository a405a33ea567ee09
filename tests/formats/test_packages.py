"""The package-database readers of provcheck.formats on hostile databases: what cannot be read is
reported, never dropped in silence."""

from __future__ import annotations

import pytest

from provcheck.formats import inventory, packages


def test_checksums_that_cannot_be_read_are_reported_not_dropped(checker):
    """A file whose recorded checksum is garbage is not verified: each database says so."""
    site = "usr/lib/python3/dist-packages"
    root = checker.tree({
        "var/lib/dpkg/status": "Package: foo\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n",
        "var/lib/dpkg/info/foo.md5sums": "d41d8cd98f00b204e9800998ecf8427e  usr/bin/foo\nnot-a-digest  usr/bin/bar\n",
        "lib/apk/db/installed": "P:baz\nV:1.0-r0\nF:usr/bin\nR:baz\nZ:Q1abc\n",
        f"{site}/pkg-1.0.dist-info/METADATA": "Name: pkg\nVersion: 1.0\n",
        f"{site}/pkg-1.0.dist-info/RECORD": "pkg/__init__.py,sha256=a,0\n",
        "usr/bin/foo": "", "usr/bin/bar": "", "usr/bin/baz": "", f"{site}/pkg/__init__.py": "",
    })
    artifact = checker.run(root).report.artifacts[0]
    dbs = packages.installed(artifact.tree)
    assert {p.name for p in dbs.packages} == {"foo", "baz"}
    assert [p.hashes for p in dbs.packages if p.name == "baz"] == [{}]
    apk, md5 = sorted(dbs.errors)
    assert md5[0] == "var/lib/dpkg/info/foo.md5sums" and "not-a-digest" in md5[1]
    assert apk[0] == "lib/apk/db/installed" and "usr/bin/baz" in apk[1] and "not base64" in apk[1]
    errors: list[str] = []
    comps = inventory.observe(artifact, errors)
    assert any(c.name == "pkg" and not c.hashes for c in comps)
    assert any(e.startswith(f"{site}/pkg-1.0.dist-info/RECORD: pkg/__init__.py") for e in errors), errors


@pytest.mark.slow
def test_without_hashes_the_same_packages_and_files_are_read_and_no_md5sums(checker):
    """``installed(tree, hashes=False)`` (the linkage graph's ownership) reads what the
    full read does except the ``.md5sums`` files, on a real Debian root filesystem."""
    import realdata
    from provcheck import CommandContext, Config, InputSpec
    root = realdata.rootfs(["openssh-server"], "sshd")
    ctx = CommandContext(checker.plugin_manager())
    ctx.use(Config(work_dir=checker.base / "work", no_cache=True))
    with ctx:
        tree = ctx.load(InputSpec.parse(str(root), "target")).tree
        lean = packages.installed(tree, hashes=False)
        md5 = [n for n in tree.nodes.values() if n.path.endswith(".md5sums")]
        assert len(md5) > 50 and all(n.pending for n in md5)  # never opened
        full = packages.installed(tree)
        assert full is not lean and packages.installed(tree, hashes=False) is full  # the full read serves both
    assert [(p.name, p.version, p.files) for p in lean.packages] == [(p.name, p.version, p.files) for p in full.packages]
    assert len(lean.packages) > 50 and not any(p.hashes for p in lean.packages)
    assert sum(len(p.hashes) for p in full.packages) > 1000


def test_a_read_with_hashes_after_one_without_parses_the_database_once(checker, monkeypatch):
    """Whichever plugin asks first (the ELF graph without hashes, the SBOM with them), the
    status file and the file lists are parsed once per tree; the hashes are the same."""
    files = {"var/lib/dpkg/status": "".join(f"Package: p{i}\nStatus: install ok installed\nVersion: 1.{i}\n"
                                            f"Architecture: amd64\n\n" for i in range(3)),
             "var/lib/dpkg/info/p0:amd64.list": "/usr\n/usr/bin\n/usr/bin/p0\n",
             "var/lib/dpkg/info/p0:amd64.md5sums": "d41d8cd98f00b204e9800998ecf8427e  usr/bin/p0\n",
             "var/lib/dpkg/info/p1.md5sums": "d41d8cd98f00b204e9800998ecf8427e  usr/bin/p1\nbad line\n",
             "usr/bin/p0": "", "usr/bin/p1": ""}
    trees = [checker.run(checker.tree(files, name=f"t{i}")).report.artifacts[0].tree for i in range(2)]
    parsed = []
    real = packages.paragraphs
    monkeypatch.setattr(packages, "paragraphs", lambda text: parsed.append(1) or real(text))
    lean = packages.installed(trees[0], hashes=False)
    full = packages.installed(trees[0])
    assert len(parsed) == 1 and packages.installed(trees[0], hashes=False) is full
    fresh = packages.installed(trees[1])
    assert len(parsed) == 2
    summary = [[(p.name, p.files, dict(p.hashes)) for p in d.packages] for d in (full, fresh)]
    assert summary[0] == summary[1] and full.errors == fresh.errors
    assert summary[0][0] == ("p0", ("usr/bin/p0",), {"usr/bin/p0": ("md5", "d41d8cd98f00b204e9800998ecf8427e")})
    assert summary[0][1][1] == ("usr/bin/p1",)  # no .list: its md5sums name the files, also without hashes
    assert [p.hashes for p in lean.packages][0] == {} and any("bad line" in why for _, why in full.errors)


def test_an_images_read_is_kept_in_the_cache_by_the_trees_identity(checker, tmp_path, monkeypatch):
    """An image's tree has an identity (its verified layers and the limits): its full read is kept
    in the cache, so the next run of the same image parses nothing and gets the same packages; a
    directory without one (racy entries) is always read; with damaged entries the reader reads again."""
    from provcheck import Cache, CommandContext, Config, InputSpec
    layer = {"var/lib/dpkg/status": "Package: p0\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n",
             "var/lib/dpkg/info/p0:amd64.list": "/usr\n/usr/bin\n/usr/bin/p0\n",
             "var/lib/dpkg/info/p0:amd64.md5sums": "d41d8cd98f00b204e9800998ecf8427e  usr/bin/p0\n", "usr/bin/p0": ""}
    image, directory = checker.oci([layer]), checker.tree(layer)
    parsed = []
    real = packages.paragraphs
    monkeypatch.setattr(packages, "paragraphs", lambda text: parsed.append(1) or real(text))
    cache = Cache(tmp_path / "cache")

    def read(target):
        ctx = CommandContext(checker.plugin_manager())
        ctx.use(Config(work_dir=tmp_path / f"work{len(parsed)}", cache_dir=str(tmp_path / "cache")))
        with ctx:
            tree = ctx.load(InputSpec.parse(str(target), "target")).tree
            lean = packages.installed(tree, hashes=False, cache=cache)
            dbs = packages.installed(tree, cache=cache)
            return tree.identity, lean, [(p.name, p.version, p.files, dict(p.hashes), p.layer) for p in dbs.packages]

    identity, _, cold = read(image)
    assert identity and len(parsed) == 1 and cold[0][3] == {"usr/bin/p0": ("md5", "d41d8cd98f00b204e9800998ecf8427e")}
    again, lean, warm = read(image)
    assert again == identity and len(parsed) == 1 and warm == cold and lean.packages[0].hashes  # nothing parsed
    # the full read and the read without hashes, both kept by the identity
    entries = [p for ns in ("packages", "packages-by-shape") for p in (tmp_path / "cache" / "entries" / ns).rglob("*")
               if p.is_file()]
    assert len(entries) == 2
    for entry in entries:
        entry.write_bytes(entry.read_bytes().replace(b"p0", b"q0"))
    assert read(image)[2] == cold and len(parsed) == 2 and len(cache.dropped) == 2  # damaged: dropped, read again
    # a directory just written has racy entries, so no identity: its full read is never kept
    assert read(directory)[0] is None and read(directory)[2] == [(n, v, f, h, None) for n, v, f, h, _ in cold]
    assert len(parsed) == 4
