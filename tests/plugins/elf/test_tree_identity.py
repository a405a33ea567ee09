"""A warm ``linkage`` of a directory answers from what is kept by the tree's identity (the
tree's record, the package read, the parse results) and still equals ``--no-cache`` after
every change of the tree: a touched file, an ELF file's content replaced with its size and
mtime kept, an ELF file replaced by another file of its size, an added file, a changed
package file list."""

from __future__ import annotations

import os
import time

from provcheck.testing import File, Symlink
from provcheck.unpack import directory

LIB = "int %s(void) { return %d; }\n"
NOLIBC = ("-nostdlib",)
MAIN = "int foo(void);\nvoid _start(void) { foo(); for (;;) ; }\n"
STATUS = "Package: libfoo1\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"
LISTED = "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libfoo.so.1\n"


def test_a_warm_linkage_follows_every_change_of_the_tree(elf, gcc, linkage, monkeypatch):
    monkeypatch.setattr(directory, "RACY_NS", 100_000_000)  # entries settle in 0.1 s, not 2 s
    foo = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    app = gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", inputs={"libfoo.so.1": foo})
    lib = "usr/lib/x86_64-linux-gnu/libfoo.so.1"
    root = elf.tree({"usr/bin/app": File(app, 0o755), lib: foo, "lib": Symlink("usr/lib"),
                     "var/lib/dpkg/status": STATUS, "var/lib/dpkg/info/libfoo1:amd64.list": LISTED})
    cache = elf.base / "linkage-cache"
    queries = [(), ("--from", "app", "--to", "libfoo"), ("--who-links", "libfoo")]
    records = cache / "entries" / directory.TREE_NAMESPACE

    def answers(step: str) -> list:
        time.sleep(0.15)
        out = []
        for q in queries:
            exact = linkage(root, *q, "--no-cache", cache=True)
            warm = [linkage(root, *q, "--cache-dir", cache, cache=True) for _ in range(2)]  # learns, then recalls
            assert warm[0] == warm[1] == exact, (step, q)
            out.append(exact)
        assert len([p for p in records.rglob("*") if p.is_file()]) == len(seen) + 1, step  # a new identity
        seen.add(step)
        return out

    seen: set[str] = set()
    first = answers("cold")
    graph = first[0][1]
    assert [o["package"] for o in graph["objects"] if o["path"] == lib] == ["libfoo1"]
    assert first[1][0] == 0 and [h["path"] for h in first[1][1]["paths"][0]["chain"]][-1] == lib

    os.utime(root / "usr/bin/app")
    assert answers("touched") == first

    st = os.stat(root / lib)
    (root / lib).write_bytes(foo.replace(b"libfoo.so.1", b"libfoo.so.9"))  # same size: only ctime tells
    os.utime(root / lib, ns=(st.st_atime_ns, st.st_mtime_ns))
    changed = answers("content replaced")
    [obj] = [o for o in changed[0][1]["objects"] if o["path"] == lib]
    assert obj["soname"] == "libfoo.so.9" and obj["sha256"] != [o for o in graph["objects"] if o["path"] == lib][0]["sha256"]

    (root / lib).write_bytes(b"\0" * len(foo))  # no longer an ELF file, same size
    gone = answers("not ELF")
    assert gone[1][0] == 1 and lib not in {o["path"] for o in gone[0][1]["objects"]}

    (root / lib).write_bytes(foo)
    (root / "usr/bin/app2").write_bytes(app)
    added = answers("added")
    assert {o["path"] for o in added[0][1]["objects"]} == {"usr/bin/app", "usr/bin/app2", lib}

    (root / "var/lib/dpkg/info/libfoo1:amd64.list").write_text(LISTED.replace("libfoo.so.1", "libfoo.so.2"))
    unowned = answers("package list changed")
    assert [o["package"] for o in unowned[0][1]["objects"] if o["path"] == lib] == [None]


def test_a_kept_analysis_is_verified_and_one_with_errors_is_not_kept(elf, gcc, linkage, monkeypatch):
    """A damaged kept analysis (its bytes changed on disk) is dropped and the analysis built
    again, with the same output; a tree with an unreadable ELF file keeps no analysis (its error
    is reported on every run, as with ``--no-cache``)."""
    monkeypatch.setattr(directory, "RACY_NS", 100_000_000)
    foo = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    app = gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", inputs={"libfoo.so.1": foo})
    root = elf.tree({"usr/bin/app": File(app, 0o755), "usr/lib/x86_64-linux-gnu/libfoo.so.1": foo})
    cache = elf.base / "linkage-cache"
    kept = cache / "entries" / "elf-analysis"
    time.sleep(0.15)
    exact = linkage(root, "--no-cache", cache=True)
    assert linkage(root, "--cache-dir", cache, cache=True) == exact
    (entry,) = [p for p in kept.rglob("*") if p.is_file()]
    data = entry.read_bytes()
    entry.write_bytes(data.replace(b"libfoo.so.1", b"libfoo.so.7"))  # same size, other content
    assert entry.read_bytes() != data
    assert linkage(root, "--cache-dir", cache, cache=True) == exact  # dropped, built again
    assert entry.read_bytes() == data  # and kept again
    assert linkage(root, "--cache-dir", cache, cache=True) == exact

    broken = elf.tree({"usr/bin/app": File(app, 0o755), "usr/lib/x86_64-linux-gnu/libfoo.so.1": foo,
                       "usr/lib/x86_64-linux-gnu/libbad.so": b"\x7fELF\x02\x01\x01"})
    time.sleep(0.15)
    exact = linkage(broken, "--no-cache", cache=True)
    assert exact[0] == 3 and "libbad.so" in exact[2]
    for _ in range(2):
        assert linkage(broken, "--cache-dir", cache, cache=True) == exact
    assert len([p for p in kept.rglob("*") if p.is_file()]) == 1  # only the first tree's
