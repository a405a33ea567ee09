"""Documentation and gettext infrastructure in regeneration (issue 12): a real autotools
project whose own make rules write a ChangeLog from ``git log``, a text rendering of its man
page (``dist-hook``) and an Info manual (``info_TEXINFOS``), with gettext's po/ infrastructure
copied by autopoint; ``make dist``-ed once in the test setup from a clone of its git tag.
The untouched release reproduces them; an edited generated doc is caught on exactly that
file with the diff; po/ files identical to gettext's published copies are verified, an
edited one is flagged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import autotools_project as ap  # noqa: E402

from provcheck import sandbox  # noqa: E402
from provcheck_release import docgen  # noqa: E402

TOOLS = ("autoreconf", "autopoint", "make", "makeinfo", "groff", "col", "git", "xgettext")
WHY_NOT = sandbox.unavailable_reason() or next(
    (f"{t} not installed (scripts/system-deps.sh)" for t in TOOLS if not shutil.which(t)), None)
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"cannot run here: {WHY_NOT}")

TOP = "greet-2.0"
TAG = {
    "configure.ac": """\
AC_INIT([greet], [2.0], [bugs@example.org])
AC_CONFIG_SRCDIR([greet.c])
AC_CONFIG_AUX_DIR([build-aux])
AC_CONFIG_MACRO_DIR([m4])
AM_INIT_AUTOMAKE([foreign -Wall])
AC_PROG_CC
AM_GNU_GETTEXT([external])
AM_GNU_GETTEXT_VERSION([0.21])
AC_CONFIG_FILES([Makefile po/Makefile.in])
AC_OUTPUT
""",
    "Makefile.am": """\
ACLOCAL_AMFLAGS = -I m4
SUBDIRS = po
bin_PROGRAMS = greet
greet_SOURCES = greet.c
info_TEXINFOS = doc/greet.texi
dist_man_MANS = doc/greet.1
manpages = doc/greet.1
EXTRA_DIST = doc/greet.html

doc/greet.html: $(srcdir)/doc/greet.1
\tgroff -t -mandoc -Thtml $(srcdir)/doc/greet.1 > $@

# ChangeLog from the git history, the man page as plain text
dist-hook:
\tif test -d "$(srcdir)/.git" && type git > /dev/null 2>&1; then \\
\t\t( cd "$(srcdir)" && git log --date=iso --stat ) > "$(distdir)/ChangeLog"; \\
\tfi
\t$(MKDIR_P) "$(distdir)/doc/txt"
\tfor f in $(manpages); do \\
\t\tgroff -t -mandoc -Tascii "$(srcdir)/$$f" | col -bx > "$(distdir)/doc/txt/`basename $$f .1`.txt"; \\
\tdone
""",
    "greet.c": '#include <stdio.h>\n#define _(s) (s)\nint main(void) { puts(_("Hello, reader")); return 0; }\n',
    "ChangeLog": "See the git history.\n",
    "doc/greet.1": """\
.TH GREET 1 "2024-01-01" "greet 2.0"
.SH NAME
greet \\- print a greeting
.SH SYNOPSIS
.B greet
.SH DESCRIPTION
.B greet
prints a friendly greeting on standard output and exits.
It takes no options.
""",
    "doc/greet.texi": """\
\\input texinfo
@setfilename greet.info
@include version.texi
@settitle Greet @value{VERSION}

@node Top
@top Greet

This manual is for greet, version @value{VERSION}, updated @value{UPDATED}.

@menu
* Usage::   Running greet.
@end menu

@node Usage
@chapter Usage
Run @command{greet} to be greeted.

@bye
""",
    "po/POTFILES.in": "greet.c\n",
    "po/LINGUAS": "de\n",
    "po/de.po": """\
msgid ""
msgstr ""
"Project-Id-Version: greet 2.0\\n"
"Report-Msgid-Bugs-To: bugs@example.org\\n"
"POT-Creation-Date: 2024-01-01 00:00+0000\\n"
"PO-Revision-Date: 2024-01-01 00:00+0000\\n"
"Last-Translator: T <t@example.org>\\n"
"Language-Team: German\\n"
"Language: de\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=UTF-8\\n"
"Content-Transfer-Encoding: 8bit\\n"

#: greet.c:3
msgid "Hello, reader"
msgstr "Hallo, Leser"
""",
    "po/Makevars": "DOMAIN = $(PACKAGE)\nsubdir = po\ntop_builddir = ..\nXGETTEXT_OPTIONS = --keyword=_\n"
                   "COPYRIGHT_HOLDER = Nobody\nMSGID_BUGS_ADDRESS = bugs@example.org\nEXTRA_LOCALE_CATEGORIES =\n"
                   "USE_MSGCTXT = no\nMSGMERGE_OPTIONS =\nMSGINIT_OPTIONS =\nPO_DEPENDS_ON_POT = no\n"
                   "DIST_DEPENDS_ON_UPDATE_PO = yes\n",
}
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def _git(repo: Path, *args: str, date: str = "2024-01-01T00:00:00Z") -> None:
    env = {**os.environ, **GIT_ENV, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """(repository with tag v2.0, release files): two commits, then ``make dist`` in a clone."""
    base = tmp_path_factory.mktemp("docgen-project")
    repo = base / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    for i, (path, text) in enumerate(sorted(TAG.items())):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
        if i == 3:  # a history of two commits, so the ChangeLog has a --stat per commit
            _git(repo, "add", "-A")
            _git(repo, "commit", "-q", "-m", "first files")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the rest", date="2024-02-01T12:00:00Z")
    _git(repo, "tag", "-a", "v2.0", "-m", "v2.0")
    work = base / "work"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True, capture_output=True)
    ap._run(["autoreconf", "-fi"], work)
    ap._run(["./configure", "--quiet"], work)
    ap._run(["make", "dist-gzip"], work)
    release = ap.read_tarball(work / f"{TOP}.tar.gz")
    return repo, release, base


def run(project, checker, changes: dict[str, bytes] | None = None) -> dict:
    repo, release, base = project
    files = {**release, **(changes or {})}
    tarball = checker.base / f"{TOP}.tar.gz"
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(f"{TOP}/{path}")
            info.size, info.mtime = len(data), 1700000000
            info.mode = 0o755 if path in ("configure",) or path.startswith("build-aux/") else 0o644
            t.addfile(info, io.BytesIO(data))
    tarball.write_bytes(buf.getvalue())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
    env.update(PROVCHECK_DISABLE_PLUGIN_AUTOLOAD="1", PROVCHECK_CACHE_DIR=str(base / "cache"))
    proc = subprocess.run([sys.executable, "-m", "provcheck", "-p", "provcheck_release", "release", str(tarball),
                           "--source", str(repo), "--ref", "v2.0", "--format", "json",
                           "--set", "release.regenerate-download=false"],
                          capture_output=True, text=True, env=env, cwd=checker.base, timeout=600)
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def verdicts(data) -> dict[str, dict]:
    return {v["path"]: v for v in data["release"]["files"]}


def findings_on(data, path: str) -> list[dict]:
    return [f for f in data["findings"] if (f["location"].get("path") or "").split("/", 1)[-1] == path]


def test_the_release_made_the_docs_this_test_expects(project):
    _, release, _ = project
    assert release["ChangeLog"].startswith(b"commit ") and b"first files" in release["ChangeLog"]
    assert b"print a greeting" in release["doc/txt/greet.txt"]
    assert b"produced by makeinfo version" in release["doc/greet.info"]
    assert b"CreationDate:" in release["doc/greet.html"]   # a date stamp the comparison classifies
    assert release["po/de.po"] != TAG["po/de.po"].encode() and b'msgstr "Hallo, Leser"' in release["po/de.po"]
    for name in ("Makefile.in.in", "quot.sed", "Rules-quot", "remove-potcdate.sin"):
        assert f"po/{name}" in release


def test_untouched_release_reproduces_its_docs_and_po_infrastructure(project, checker):
    data = run(project, checker)
    serious = [f["message"] for f in data["findings"] if f["severity"] in ("medium", "high", "critical")]
    assert serious == []
    v = verdicts(data)
    for path in ("ChangeLog", "doc/txt/greet.txt", "doc/greet.info", "doc/greet.html"):
        assert v[path]["reproduction"]["status"] == "reproduced", (path, v[path])
    assert v["doc/greet.html"]["reproduction"]["toolchain"].startswith("rule Makefile.am:")  # its own rule
    for path in ("po/de.po", "po/greet.pot"):  # make dist's update-po: xgettext, msgmerge (a new POT-Creation-Date)
        assert v[path]["reproduction"]["status"] == "reproduced", (path, v[path])
        assert v[path]["reproduction"]["toolchain"] == "update-po of po/Makefile.in.in (xgettext, msgmerge)"
    assert "dist-hook (Makefile.am:" in v["ChangeLog"]["reproduction"]["toolchain"]
    assert "info_TEXINFOS" in v["doc/greet.info"]["reproduction"]["toolchain"]
    for name in ("Makefile.in.in", "quot.sed", "boldquot.sed", "Rules-quot", "insert-header.sin",
                 "remove-potcdate.sin", "en@quot.header", "en@boldquot.header"):
        r = v[f"po/{name}"]["reproduction"]
        assert r["status"] == "reproduced" and "gettext-0.21" in r["reason"], (name, r)
    steps = [s["step"] for s in data["release"]["regeneration"]["steps"]]
    assert any(s.startswith("docs: dist-hook") for s in steps), steps


def test_an_edited_generated_doc_is_caught_on_exactly_that_file(project, checker):
    _, release, _ = project
    txt = release["doc/txt/greet.txt"].replace(b"\nNAME\n", b"\nNAME\n       It never phones home.\n", 1)
    info = release["doc/greet.info"].replace(b"\n1 Usage\n", b"\nFirst run: xz -dc tests/files/good.xz | sh\n\n1 Usage\n", 1)
    assert txt != release["doc/txt/greet.txt"] and info != release["doc/greet.info"]
    data = run(project, checker, {"doc/txt/greet.txt": txt, "doc/greet.info": info})
    serious = {(f["location"].get("path") or "").split("/", 1)[-1]
               for f in data["findings"] if f["severity"] in ("medium", "high", "critical")}
    assert serious == {"doc/txt/greet.txt", "doc/greet.info"}
    (prose,) = [f for f in findings_on(data, "doc/txt/greet.txt") if f["rule_id"] == "PC110"]
    assert prose["severity"] == "medium"          # prose in a doc the build never runs: reviewed, not high
    assert "+" in prose["evidence"]["diff"] and "never phones home" in prose["evidence"]["diff"]
    (risky,) = [f for f in findings_on(data, "doc/greet.info") if f["rule_id"] == "PC110"]
    assert risky["severity"] == "high" and "+First run: xz -dc tests/files/good.xz | sh" in risky["evidence"]["diff"]
    assert risky["evidence"]["added_risk"]
    v = verdicts(data)
    assert v["doc/greet.info"]["reproduction"]["status"] == "reproduction-differs"
    assert v["ChangeLog"]["reproduction"]["status"] == "reproduced"


def test_edited_po_infrastructure_is_flagged_against_the_published_copy(project, checker):
    _, release, _ = project
    mk = release["po/Makefile.in.in"].replace(b"\nall: all-@USE_NLS@\n",
                                              b"\nall: all-@USE_NLS@\n\t@xz -dc $(srcdir)/tests/files/bad-3.xz | sh\n", 1)
    sed = release["po/quot.sed"] + b"s/Hello/Goodbye/g\n"
    assert mk != release["po/Makefile.in.in"]
    data = run(project, checker, {"po/Makefile.in.in": mk, "po/quot.sed": sed})
    (f,) = [f for f in findings_on(data, "po/Makefile.in.in") if f["rule_id"] == "PC103"]
    assert f["severity"] == "critical" and "gettext-0.21" in f["evidence"]["diff_against"]
    assert "+\t@xz -dc $(srcdir)/tests/files/bad-3.xz | sh" in f["evidence"]["diff"]
    (g,) = [f for f in findings_on(data, "po/quot.sed") if f["rule_id"] == "PC103"]
    assert g["severity"] == "high" and "+s/Hello/Goodbye/g" in g["evidence"]["diff"]   # same gettext version
    v = verdicts(data)
    assert v["po/Makefile.in.in"]["reproduction"]["status"] == "reproduction-differs"
    assert v["po/Rules-quot"]["reproduction"]["status"] == "reproduced"


def test_pdfs_compare_without_dates_and_ids(tmp_path):
    if not (shutil.which("groff") and shutil.which("ps2pdf")):
        pytest.skip("groff/ghostscript not installed (scripts/system-deps.sh)")
    page = tmp_path / "greet.1"
    page.write_text(TAG["doc/greet.1"])

    def pdf(epoch: str, text: str | None = None) -> bytes:
        if text is not None:
            page.write_text(text)
        env = {**os.environ, "SOURCE_DATE_EPOCH": epoch, "TZ": "UTC"}
        ps = subprocess.run(["groff", "-t", "-mandoc", "-Tps", str(page)], capture_output=True, check=True, env=env)
        return subprocess.run(["ps2pdf", "-", "-"], input=ps.stdout, capture_output=True, check=True,
                              env=env).stdout
    a, b = pdf("1700000000"), pdf("1800000000")
    assert a != b and docgen.pdf_normalise(a) == docgen.pdf_normalise(b)
    assert docgen.judge("x.pdf", a, b, "test", []).status == "reproduced"
    c = pdf("1700000000", TAG["doc/greet.1"].replace("friendly", "hostile"))
    assert docgen.judge("x.pdf", a, c, "test", []).status == "reproduction-differs"


def test_harvester_reads_every_gettext_release_from_autopoint(tmp_path):
    import release_realdata as rd

    deb = rd.binary_deb("autopoint", "autopoint_*.deb")
    db = rd.harvest(deb, tmp_path / "db.zip")
    versions = {e["serial"] for e in db.files["po/Makefile.in.in"]}
    assert {"0.19.8", "0.20", "0.21"} <= versions
    quot = [e for e in db.files["po/quot.sed"] if e["serial"] == "0.21"]
    assert quot and quot[0]["origin"].endswith("archive gettext-0.21")
    assert len({e["serial"] for e in db.files["gettext.m4"]}) > 20   # every release's macros, not one copy
    text = db.text(quot[0]).encode()
    assert db.judge("po/quot.sed", text, "0.21").status == "exact"
    assert db.judge("po/quot.sed", text + b"s/a/b/\n", "0.21").status == "serial-mismatch"


def test_a_rule_whose_generator_is_missing_is_not_reproducible_and_a_job_stays_in_its_sandbox(tmp_path):
    """docgen's API on a small tree: a rule naming a formatter this machine lacks writes an empty
    file (not-reproducible, with the shell's error, no finding); a rule that writes outside its
    tree changes nothing outside the sandbox."""
    outside = tmp_path / "outside.txt"
    tag = {"Makefile.am": (b"doc/a.1: doc/a.md\n\tno-such-formatter-xyz $? > $@\n\n"
                           b"doc/b.txt: doc/a.md\n\tcp $? $@; echo pwned > " + str(outside).encode() +
                           b"\n"),
           "doc/a.md": b"# a\n"}
    release = {"doc/a.1": lambda: b".TH A 1\n", "doc/b.txt": lambda: b"# a\n"}
    jobs = docgen.plan(tag, release, "1.0")
    assert sorted(j.name.split(" (")[0] for j in jobs) == ["rule Makefile.am:1", "rule Makefile.am:4"]
    out = docgen.run(jobs, tag, release, [], work_dir=tmp_path)
    a, b = out.files["doc/a.1"], out.files["doc/b.txt"]
    assert a.status == "not-reproducible" and "wrote an empty file" in a.reason and "no-such-formatter" in a.reason
    assert b.status == "reproduced"          # the write outside went to the sandbox's own /tmp
    assert not outside.exists()
