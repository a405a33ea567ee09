"""A real small autotools project, bootstrapped and ``make dist``-ed with the system's
autotools in the test setup (trusted: the tests wrote every file), and attack variants of
its release written the way an attacker would: after ``make dist``, or by regenerating
``configure`` from an edited macro (as in xz 5.6.x)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from provcheck_release.m4db import default_db

NAME, VERSION = "hello", "1.0"
TOP = f"{NAME}-{VERSION}"

CONFIGURE_AC = """\
AC_INIT([hello], [1.0], [bugs@example.org])
AC_CONFIG_SRCDIR([src/hello.c])
AC_CONFIG_AUX_DIR([build-aux])
AC_CONFIG_MACRO_DIR([m4])
AC_CONFIG_HEADERS([config.h])
AM_INIT_AUTOMAKE([foreign -Wall])
AC_PROG_CC
AM_PROG_AR
LT_INIT
HELLO_CHECK_GREETING
gl_BUILD_TO_HOST_DATADIR
AC_CONFIG_FILES([Makefile lib/Makefile src/Makefile])
AC_OUTPUT
"""

TAG_FILES = {
    "configure.ac": CONFIGURE_AC,
    "Makefile.am": "ACLOCAL_AMFLAGS = -I m4\nSUBDIRS = lib src\nEXTRA_DIST = autogen.sh\n",
    "autogen.sh": "#!/bin/sh\nautoreconf -fi\n",
    ".gitignore": "/configure\nMakefile.in\n/aclocal.m4\n/config.h.in\n/build-aux/\n/m4/*\n!/m4/hello.m4\n",
    "m4/hello.m4": """\
# hello.m4 serial 1 (project macro, in git)
AC_DEFUN([HELLO_CHECK_GREETING],
[
  AC_MSG_CHECKING([for the greeting])
  hello_greeting="Hello"
  AC_DEFINE_UNQUOTED([GREETING], ["$hello_greeting"], [The greeting.])
  AC_MSG_RESULT([$hello_greeting])
])
""",
    "lib/Makefile.am": "noinst_LTLIBRARIES = libgreet.la\nlibgreet_la_SOURCES = greet.c greet.h\n",
    "lib/greet.c": '#include <config.h>\n#include "greet.h"\nconst char *greet(void) { return GREETING; }\n',
    "lib/greet.h": "const char *greet(void);\n",
    "src/Makefile.am": """\
bin_PROGRAMS = hello
hello_SOURCES = hello.c
hello_CPPFLAGS = -I$(top_srcdir)/lib
hello_LDADD = ../lib/libgreet.la

check-local:
\t./hello$(EXEEXT) > /dev/null
""",
    "src/hello.c": '#include <config.h>\n#include <stdio.h>\n#include "greet.h"\n'
                   'int main(void) { puts(greet()); return 0; }\n',
    "README": "hello: a test project for provcheck's regeneration.\n",
}


def published_build_to_host() -> bytes:
    """gnulib's build-to-host.m4 as the database has it (a vendored, gitignored macro, as in xz)."""
    db = default_db()
    entry = next(e for e in db.files["build-to-host.m4"] if e["origin"].startswith("gnulib"))
    return db.text(entry).encode()


def _run(argv: list[str], cwd: Path) -> None:
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"test setup: {' '.join(argv)} failed in {cwd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


run_setup = _run


def make_dist(base: Path) -> dict[str, bytes]:
    """Bootstrap (autoreconf -fi with the vendored macro), configure and ``make dist``; the
    release's files by path under its top directory."""
    tree = base / "work"
    for path, text in TAG_FILES.items():
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (tree / "m4" / "build-to-host.m4").write_bytes(published_build_to_host())
    _run(["autoreconf", "-fi"], tree)
    _run(["./configure", "--quiet"], tree)
    _run(["make", "dist-gzip"], tree)
    return read_tarball(tree / f"{TOP}.tar.gz")


def read_tarball(path: Path) -> dict[str, bytes]:
    out = {}
    with tarfile.open(path) as t:
        for m in t.getmembers():
            if m.isfile():
                out[m.name.split("/", 1)[1]] = t.extractfile(m).read()
    return out


def regenerate_configure_with(release: dict[str, bytes], base: Path, changes: dict[str, bytes]) -> bytes:
    """What an attacker who edits a macro and reruns autoconf ships: ``configure`` rebuilt
    (with the system's autoconf, in the test setup) from the release plus ``changes``."""
    tree = base / "attacker"
    shutil.rmtree(tree, ignore_errors=True)
    for path, data in {**release, **changes}.items():
        target = tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if data[:2] == b"#!":
            target.chmod(0o755)
    _run(["autoconf", "-f"], tree)
    return (tree / "configure").read_bytes()


def tarball_bytes(files: dict[str, bytes], top: str = TOP) -> bytes:
    """A release tarball of ``files`` under ``top``; scripts (``#!``, ``configure``, build-aux) executable."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size, info.mtime = len(data), 1700000000
            info.mode = 0o755 if path in ("configure", "autogen.sh") or path.startswith("build-aux/") \
                or data[:2] == b"#!" else 0o644
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git(repo: Path, *args: str, date: str = "2024-01-01T00:00:00Z") -> None:
    """git in a test's own repository, with a fixed identity and date."""
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def release_cli(checker, repo: Path, files: dict[str, bytes], top: str, ref: str, cache: Path, *extra: str) -> dict:
    """``provcheck release`` of a tarball of ``files`` against ``repo`` at ``ref``, as a user runs it,
    without toolchain downloads (only the system's tools): the JSON report."""
    import json
    import sys
    tarball = checker.base / f"{top}.tar.gz"
    tarball.write_bytes(tarball_bytes(files, top))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
    env.update(PROVCHECK_DISABLE_PLUGIN_AUTOLOAD="1", PROVCHECK_CACHE_DIR=str(cache))
    proc = subprocess.run([sys.executable, "-m", "provcheck", "-p", "provcheck_release", "release", str(tarball),
                           "--source", str(repo), "--ref", ref, "--format", "json",
                           "--set", "release.regenerate-download=false", *extra],
                          capture_output=True, text=True, env=env, cwd=checker.base, timeout=600)
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def release_offline(checker, tag: dict[str, bytes], release: dict[str, bytes]) -> dict:
    """``provcheck release`` of ``release`` against a git repository of ``tag``, with an empty cache."""
    repo = checker.gitrepo(tag, name="hello", tags="v1.0")
    return release_cli(checker, repo, release, TOP, "v1.0", checker.base / "cache")


def serious(data: dict) -> dict[str, list[dict]]:
    """High and critical findings by path (without the tarball's top directory)."""
    out: dict[str, list[dict]] = {}
    for f in data["findings"]:
        if f["severity"] in ("high", "critical"):
            out.setdefault((f["location"].get("path") or "").split("/", 1)[-1], []).append(f)
    return out


def pc110_on_exactly(data: dict, path: str, line: bytes) -> dict:
    """The PC110 finding when ``path`` is the only file with a high or critical finding and the
    injected ``line`` is in its diff."""
    hits = serious(data)
    assert set(hits) == {path}, {k: [f["message"] for f in v] for k, v in hits.items()}
    [finding] = [f for f in hits[path] if f["rule_id"] == "PC110"]
    assert line.decode().strip() in finding["evidence"]["diff"]
    return finding
