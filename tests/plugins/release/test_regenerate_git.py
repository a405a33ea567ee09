"""Generators that ask git (issue 12): GnuPG's ``configure.ac`` takes its version from
``m4_esyscmd`` of a script that runs ``git describe``. The release was made in a checkout of
the tag; without the history the regeneration says ``1.3-unknown`` on every version line. The
chain runs again over a ``.git`` at the tag's commit, and ``configure`` is reproduced."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import autotools_project as ap  # noqa: E402

from provcheck import sandbox  # noqa: E402
from provcheck.testing import File  # noqa: E402

WHY_NOT = sandbox.unavailable_reason() or (None if shutil.which("autoreconf") and shutil.which("make") else
                                           "autoreconf/make not installed (scripts/system-deps.sh)")
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"regeneration cannot run here: {WHY_NOT}")

TAG = {
    "configure.ac": "AC_INIT([gv], m4_esyscmd([./version.sh]), [bugs@example.org])\n"
                    "AM_INIT_AUTOMAKE([foreign])\nAC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n",
    "version.sh": File("#!/bin/sh\n# the version from git, as GnuPG's autogen.sh --find-version\n"
                       "v=$(git describe --tags 2>/dev/null) || v=v1.3-unknown\nprintf %s \"${v#v}\"\n", mode=0o755),
    "Makefile.am": "dist_doc_DATA = README\nEXTRA_DIST = version.sh\n",
    "README": "gv: a project whose version is its git tag\n",
}


def test_a_configure_whose_version_comes_from_git_describe_is_reproduced_with_the_tags_history(checker):
    repo = checker.gitrepo(TAG, name="gv", tags="v1.3")
    work = checker.base / "gv-work"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True, capture_output=True)
    ap.run_setup(["autoreconf", "-fi"], work)
    ap.run_setup(["./configure", "--quiet"], work)
    ap.run_setup(["make", "dist-gzip"], work)
    release = ap.read_tarball(work / "gv-1.3.tar.gz")
    assert b"PACKAGE_VERSION='1.3'" in release["configure"]   # made in the checkout: git describe said v1.3
    data = ap.release_cli(checker, repo, release, "gv-1.3", "v1.3", checker.base / "cache")
    verdicts = {v["path"]: v for v in data["release"]["files"]}
    assert verdicts["configure"]["reproduction"]["status"] == "reproduced", verdicts["configure"]
    assert "the tag's git history (configure.ac runs git)" in data["release"]["regeneration"]["toolchains"]
    assert not [f["message"] for f in data["findings"] if f["severity"] in ("medium", "high", "critical")]
