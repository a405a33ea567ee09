"""Sub-packages (``AC_CONFIG_SUBDIRS``, cause 13 of docs/eval/release-regeneration.md): the
test project gains a ``sub/`` package with its own configure.ac that takes a macro from the
top package's ``m4/`` (``-I ../m4``, as c-ares' ``test/`` does); its generated files are
regenerated with its own chain in its directory and judged like the top package's."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import autotools_project as ap  # noqa: E402

from provcheck import sandbox  # noqa: E402

WHY_NOT = sandbox.unavailable_reason() or (None if shutil.which("autoreconf") and shutil.which("make") else
                                           "autoreconf/make not installed (scripts/system-deps.sh)")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(WHY_NOT is not None, reason=f"regeneration cannot run here: {WHY_NOT}")]

SUB_FILES = {
    "sub/configure.ac": """\
AC_INIT([hello-sub], [1.0])
AC_CONFIG_SRCDIR([sub.c])
AC_CONFIG_MACRO_DIR([../m4])
AC_CONFIG_HEADERS([config.h])
AM_INIT_AUTOMAKE([foreign])
AC_PROG_CC
HELLO_CHECK_GREETING
AC_CONFIG_FILES([Makefile])
AC_OUTPUT
""",
    "sub/Makefile.am": "ACLOCAL_AMFLAGS = -I ../m4\nnoinst_PROGRAMS = sub\nsub_SOURCES = sub.c\n",
    "sub/sub.c": '#include <config.h>\n#include <stdio.h>\nint main(void) { puts(GREETING); return 0; }\n',
}


def tag_files() -> dict[str, str]:
    files = {**ap.TAG_FILES, **SUB_FILES}
    files["configure.ac"] = files["configure.ac"].replace("AC_OUTPUT\n", "AC_CONFIG_SUBDIRS([sub])\nAC_OUTPUT\n")
    files["Makefile.am"] = files["Makefile.am"].replace("SUBDIRS = lib src", "SUBDIRS = lib src sub")
    return files


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    base = tmp_path_factory.mktemp("subpackage-project")
    tree = base / "work"
    for path, text in tag_files().items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text(text)
    (tree / "m4" / "build-to-host.m4").write_bytes(ap.published_build_to_host())
    for argv in (["autoreconf", "-fi"], ["./configure", "--quiet"], ["make", "dist-gzip"]):
        ap.run_setup(argv, tree)
    release = ap.read_tarball(tree / f"{ap.TOP}.tar.gz")
    assert "sub/configure" in release and "sub/aclocal.m4" in release
    return {k: v.encode() for k, v in tag_files().items()}, release


def check(checker, project, release_changes=None):
    tag, release = project
    return ap.release_offline(checker, tag, {**release, **(release_changes or {})})


def reproduction(data) -> dict[str, dict]:
    return {v["path"]: v.get("reproduction") or {} for v in data["release"]["files"]}


serious = ap.serious


def test_subpackage_is_regenerated_with_its_own_chain(checker, project):
    data = check(checker, project)
    verdicts = reproduction(data)
    for path in ("sub/configure", "sub/aclocal.m4", "sub/config.h.in", "sub/Makefile.in", "configure",
                 "Makefile.in"):
        assert verdicts[path].get("status") == "reproduced", (path, verdicts[path])
    steps = [s["step"] for s in data["release"]["regeneration"]["steps"]]
    assert {"sub/aclocal", "sub/autoconf", "sub/autoheader", "sub/automake"} <= set(steps), steps
    assert serious(data) == {}, serious(data)


def test_lines_injected_into_a_subpackage_configure_are_caught_there(checker, project):
    _tag, release = project
    anchor = b"# Check whether --enable-dependency-tracking was given.\n"
    line = b'hello_fetch=`printf %s aGk= | base64 -d`; eval "$hello_fetch"\n'
    assert anchor in release["sub/configure"]
    data = check(checker, project, {"sub/configure": release["sub/configure"].replace(anchor, anchor + line, 1)})
    ap.pc110_on_exactly(data, "sub/configure", line)
    assert reproduction(data)["configure"]["status"] == "reproduced"
