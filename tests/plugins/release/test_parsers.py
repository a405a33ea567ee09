"""Parsers and scanners in regeneration (issue 12): a real autotools project with a bison
grammar and a flex scanner in its ``_SOURCES`` (automake's yacc/lex rules via ``ylwrap``,
``AM_YFLAGS = -d``), ``make dist``-ed once in the test setup from a clone of its git tag.
The untouched release reproduces ``parse.c``, ``parse.h`` and ``scan.c``; a line injected
into the generated parser is caught on exactly that file; a scanner naming a flex version
this system lacks is not reproducible, saying which; a hostile grammar whose bison skeleton
runs a command stays in the sandbox."""

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
from provcheck_release import parsers  # noqa: E402

TOOLS = ("autoreconf", "make", "cc", "bison", "flex", "git")
WHY_NOT = sandbox.unavailable_reason() or next(
    (f"{t} not installed (scripts/system-deps.sh)" for t in TOOLS if not shutil.which(t)), None)
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"cannot run here: {WHY_NOT}")

TOP = "calc-1.0"
TAG = {
    "configure.ac": """\
AC_INIT([calc], [1.0], [bugs@example.org])
AC_CONFIG_SRCDIR([src/main.c])
AC_CONFIG_AUX_DIR([build-aux])
AM_INIT_AUTOMAKE([foreign subdir-objects -Wall])
AC_PROG_CC
AC_PROG_YACC
AC_PROG_LEX([noyywrap])
AC_CONFIG_FILES([Makefile])
AC_OUTPUT
""",
    # non-recursive: make runs ylwrap from the top on src/parse.y (the #line directives say so)
    "Makefile.am": """\
bin_PROGRAMS = calc
calc_SOURCES = src/main.c src/parse.y src/scan.l
AM_YFLAGS = -d
BUILT_SOURCES = src/parse.h
# bison called directly by a rule of its own (docgen's rule job runs it)
EXTRA_DIST = src/expr.y src/expr.c
src/expr.c: $(srcdir)/src/expr.y
\tbison -o $@ $(srcdir)/src/expr.y
""",
    "src/expr.y": "%define api.prefix {expr}\n%{\nint exprlex(void);\nvoid exprerror(const char *s);\n%}\n"
                  "%%\nlist: %empty | list 'x' ;\n%%\n",
    "src/main.c": "int yyparse(void);\nint main(void) { return yyparse(); }\n",
    "src/parse.y": """\
%{
#include <stdio.h>
int yylex(void);
void yyerror(const char *s);
%}
%token NUM
%left '+' '-'
%%
input: %empty | input line ;
line: '\\n' | expr '\\n' { printf("%d\\n", $1); } ;
expr: NUM | expr '+' expr { $$ = $1 + $3; } | expr '-' expr { $$ = $1 - $3; } ;
%%
void yyerror(const char *s) { fprintf(stderr, "%s\\n", s); }
""",
    "src/scan.l": """\
%option noyywrap nounput noinput
%{
#include <stdlib.h>
#include "parse.h"
%}
%%
[0-9]+  { yylval = atoi(yytext); return NUM; }
[-+\\n]  { return yytext[0]; }
[ \\t]   ;
.       { return yytext[0]; }
%%
""",
}
# a grammar whose skeleton (m4, which bison runs) tries to write outside its work tree
EVIL_SKELETON = """\
m4_include(b4_skeletonsdir/[yacc.c])
m4_divert_push(0)dnl
/* hostile: m4_esyscmd([touch '@OUTSIDE@' 2>/dev/null && echo escaped || echo contained-by-the-sandbox]) */
m4_divert_pop(0)dnl
"""
def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """(repository with tags v1.0 and hostile, release files, base): ``make dist`` in a clone of v1.0."""
    base = tmp_path_factory.mktemp("parsers-project")
    repo = base / "repo"
    repo.mkdir()
    ap.git(repo, "init", "-q", "-b", "main")
    _write(repo, TAG)
    ap.git(repo, "add", "-A")
    ap.git(repo, "commit", "-q", "-m", "calc")
    ap.git(repo, "tag", "-a", "v1.0", "-m", "v1.0")
    work = base / "work"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True, capture_output=True)
    ap._run(["autoreconf", "-fi"], work)
    ap._run(["./configure", "--quiet"], work)
    ap._run(["make", "dist-gzip"], work)
    release = ap.read_tarball(work / f"{TOP}.tar.gz")
    # the hostile tag: the same project, its grammar naming a skeleton of the tree
    _write(repo, {"src/parse.y": '%skeleton "./evil.m4"\n' + TAG["src/parse.y"],
                  "src/evil.m4": EVIL_SKELETON.replace("@OUTSIDE@", str(base / "escaped"))})
    ap.git(repo, "add", "-A")
    ap.git(repo, "commit", "-q", "-m", "hostile grammar")
    ap.git(repo, "tag", "-a", "hostile", "-m", "hostile")
    return repo, release, base


def run(project, checker, changes: dict[str, bytes] | None = None, ref: str = "v1.0") -> dict:
    repo, release, base = project
    return ap.release_cli(checker, repo, {**release, **(changes or {})}, TOP, ref, base / "cache")


def verdicts(data) -> dict[str, dict]:
    return {v["path"]: v for v in data["release"]["files"]}


def test_the_release_ships_the_generated_parser_and_scanner(project):
    _, release, _ = project
    assert b"made by GNU Bison" in release["src/parse.c"] and b'#line 1 "src/parse.y"' in release["src/parse.c"]
    assert b"YY_FLEX_MAJOR_VERSION" in release["src/scan.c"] and "src/parse.h" in release
    tag = {p: t.encode() for p, t in TAG.items()}
    found = {g.output: g for g in parsers.grammars(tag, {p: (lambda d=d: d) for p, d in release.items()})}
    assert set(found) == {"src/parse.c", "src/scan.c"}
    assert (found["src/parse.c"].directory, found["src/parse.c"].named, found["src/parse.c"].flags,
            found["src/parse.c"].header) == ("", "src/parse.y", ["-d"], "src/parse.h")


def test_untouched_release_reproduces_parser_header_and_scanner(project, checker):
    data = run(project, checker)
    serious = [f["message"] for f in data["findings"] if f["severity"] in ("medium", "high", "critical")]
    assert serious == []
    v = verdicts(data)
    for path in ("src/parse.c", "src/parse.h", "src/scan.c", "src/expr.c"):
        assert v[path]["reproduction"]["status"] == "reproduced", (path, v[path])
    assert v["src/expr.c"]["reproduction"]["toolchain"].startswith("rule Makefile.am:")  # its own rule
    # the YACC the release's configure names first (autoconf 2.71: `bison -y`; 2.72: `bison -o y.tab.c`)
    yacc = "bison -o y.tab.c" if b"`bison -o y.tab.c'" in project[1]["configure"] else "bison -y"
    assert v["src/parse.c"]["reproduction"]["toolchain"] == (
        f"{yacc} -d of src/parse.y (automake's yacc rule via ylwrap, Makefile.am)")
    assert v["src/scan.c"]["reproduction"]["toolchain"].startswith("flex of src/scan.l")


def test_a_line_injected_into_the_generated_parser_is_caught_on_that_file(project, checker):
    _, release, _ = project
    line = b'  if (getenv("CALC_DEBUG")) system("sh -c \\"$CALC_DEBUG\\"");\n'
    marker = b"  yychar = YYEMPTY; /* Cause a token to be read.  */\n"
    assert marker in release["src/parse.c"]
    data = run(project, checker, {"src/parse.c": release["src/parse.c"].replace(marker, marker + line, 1)})
    finding = ap.pc110_on_exactly(data, "src/parse.c", line)
    assert finding["evidence"]["added_lines"][0][1] == line.decode().rstrip("\n")
    v = verdicts(data)
    assert v["src/parse.c"]["reproduction"]["status"] == "reproduction-differs"
    assert v["src/scan.c"]["reproduction"]["status"] == "reproduced"


def test_a_scanner_naming_another_flex_is_not_reproducible_with_the_version(project, checker):
    _, release, _ = project
    have = subprocess.run(["flex", "--version"], capture_output=True, text=True).stdout.split()[-1]
    sub = have.rsplit(".", 1)[1]
    other = release["src/scan.c"].replace(b"#define YY_FLEX_SUBMINOR_VERSION %s" % sub.encode(),
                                          b"#define YY_FLEX_SUBMINOR_VERSION 99")
    assert other != release["src/scan.c"]
    data = run(project, checker, {"src/scan.c": other})
    r = verdicts(data)["src/scan.c"]["reproduction"]
    assert r["status"] == "not-reproducible", r
    assert f"names flex {have.rsplit('.', 1)[0]}.99; this system has flex {have}" in r["reason"]
    assert not [f for f in data["findings"] if f["severity"] in ("high", "critical")]


def test_a_hostile_grammar_runs_only_in_the_sandbox(project, checker):
    _, _, base = project
    data = run(project, checker, ref="hostile")
    assert not (base / "escaped").exists()
    steps = [s for s in data["release"]["regeneration"]["steps"] if "of src/parse.y" in s["step"]]
    assert steps and all(s["killed"] is None for s in steps)
    # the skeleton's command ran, inside: its output is in the regeneration, not in the release
    [finding] = [f for f in data["findings"] if f["rule_id"] == "PC110" and f["key"] == "src/parse.c"]
    assert "contained-by-the-sandbox" in finding["evidence"]["diff"] and "escaped" not in finding["evidence"]["diff"]


def test_a_grammar_no_makefile_am_of_the_tag_lists_is_judged_by_version_only(project, tmp_path):
    """gnulib-tool lists coreutils' lib/parse-datetime.y in a release-only gnulib.mk: its
    flags are never taken from the release, so the output is not reproducible, saying why."""
    from provcheck_release import docgen
    _, release, _ = project
    tag = {p: t.encode() for p, t in TAG.items()}
    tag["Makefile.am"] = tag["Makefile.am"].replace(b" src/parse.y", b"")
    have = subprocess.run(["bison", "--version"], capture_output=True, text=True).stdout.split("\n")[0].split()[-1]
    older = release["src/parse.c"].replace(f"made by GNU Bison {have}.".encode(), b"made by GNU Bison 3.7.4.")
    for parser, reason in ((release["src/parse.c"], "no Makefile.am of the tag lists src/parse.y"),
                           (older, f"src/parse.c names bison 3.7.4; this system has bison {have}")):
        files = {**release, "src/parse.c": parser}
        reader = {p: (lambda d=d: d) for p, d in files.items()}
        jobs = [j for j in parsers.jobs(tag, reader) if "src/parse.y" in j.name]
        assert [j.name for j in jobs] == ["bison of src/parse.y (listed in no Makefile.am of the tag)"]
        r = docgen.run(jobs, tag, reader, [], work_dir=tmp_path).files["src/parse.c"]
        assert r.status == "not-reproducible" and reason in r.reason, r


OLDER_BISON = "3.7.5"   # Debian bullseye's; the system's is bookworm's 3.8.2


@pytest.fixture(scope="session")
def older_bison_release(project):
    """The release's parser and header as bison 3.7.5 (Debian's package, in the sandbox) makes
    them with the same rule: a release made on a system with another bison than this one."""
    from provcheck_release import toolchain
    _, release, base = project
    try:
        [build, *_] = toolchain.flavours("bison", OLDER_BISON, cache_dir=HERE.parents[2] / ".cache" / "dirs" / "toolchains")
    except toolchain.ToolchainUnavailable as exc:
        pytest.fail(f"bison {OLDER_BISON} from the Debian archive: {exc}")
    binds, env = toolchain.combine([build])
    tree = base / "older-bison"
    for path, data in release.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
    yacc = "bison -o y.tab.c" if b"`bison -o y.tab.c'" in release["configure"] else "bison -y"
    res = sandbox.run(["/bin/sh", "-c", "rm -f src/parse.c src/parse.h && SHELL=/bin/sh sh build-aux/ylwrap "
                       "src/parse.y y.tab.c src/parse.c y.tab.h src/parse.h y.output src/parse.output -- "
                       f"{yacc} -d"], workdir=tree, binds=binds, env=env)
    assert res.returncode == 0, res.stderr
    made = {p: (tree / p).read_bytes() for p in ("src/parse.c", "src/parse.h")}
    assert b"made by GNU Bison 3.7.5" in made["src/parse.c"]
    return made


def _with_download(project, checker, changes: dict[str, bytes]) -> dict:
    repo, release, base = project
    return ap.release_cli(checker, repo, {**release, **changes}, TOP, "v1.0", base / "cache",
                          "--set", "release.regenerate-download=true")


@pytest.mark.slow   # fetches Debian bullseye's bison
def test_a_parser_made_by_another_published_bison_is_reproduced_with_that_build(project, checker,
                                                                                 older_bison_release):
    """The parser names bison 3.7.5, this system has 3.8.2: Debian's 3.7.5 is fetched (apt's signed
    indexes) and run in the sandbox over the same grammar, and reproduces it byte for byte."""
    data = _with_download(project, checker, older_bison_release)
    r = verdicts(data)["src/parse.c"]["reproduction"]
    assert r["status"] == "reproduced" and "bison 3.7.5 (debian:" in r["toolchain"], r
    assert not [f for f in data["findings"] if f["severity"] in ("medium", "high", "critical")]


@pytest.mark.slow   # fetches Debian bullseye's bison
def test_a_parser_of_an_unpublished_bison_is_compared_with_the_nearest_and_injected_lines_show(
        project, checker, older_bison_release):
    """The parser names bison 3.7.6, which no Debian release serves (unbound 1.17.1's does): the
    nearest published bison of that series (3.7.5) runs; its version stamps aside the outputs are
    the same, so the file is reproduced, saying so. A line injected into that parser is none of
    the published bisons' code: PC110 on exactly that file, with the line."""
    unpublished = {p: d.replace(b"Bison 3.7.5", b"Bison 3.7.6").replace(b"30705", b"30706")
                   .replace(b'"3.7.5"', b'"3.7.6"') for p, d in older_bison_release.items()}
    data = _with_download(project, checker, unpublished)
    r = verdicts(data)["src/parse.c"]["reproduction"]
    assert r["status"] == "reproduced" and "bison 3.7.5 (debian:" in r["toolchain"], r
    assert "made with bison 3.7.6, which no Debian release serves" in r["reason"], r
    line = b'  if (getenv("CALC_TRACE")) calc_trace_hook();\n'
    marker = b"  yychar = YYEMPTY; /* Cause a token to be read.  */\n"
    assert marker in unpublished["src/parse.c"]
    data = _with_download(project, checker, {
        **unpublished, "src/parse.c": unpublished["src/parse.c"].replace(marker, marker + line, 1)})
    finding = ap.pc110_on_exactly(data, "src/parse.c", line)
    assert verdicts(data)["src/parse.c"]["reproduction"]["status"] == "reproduction-differs", finding
