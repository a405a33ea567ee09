"""Parsers and scanners that bison/yacc and flex/lex generate, reproduced in the sandbox.

automake builds ``X.c`` from a ``X.y`` (or ``X.l``) of a ``_SOURCES`` list with its own
suffix rule, and ``make dist`` ships the result::

    $(SHELL) $(YLWRAP) $< y.tab.c $@ y.tab.h `echo $@ | $(am__yacc_c2h)` y.output $*.output -- $(YACC) $(AM_YFLAGS) $(YFLAGS)
    $(SHELL) $(YLWRAP) $< lex.yy.c $@ -- $(LEX) $(AM_LFLAGS) $(LFLAGS)

``ylwrap`` runs the generator in a private directory on the grammar's absolute path and
renames ``y.tab.c`` to the target, rewriting the ``#line`` directives (and bison's header
guard) to name the target and the grammar as ``$<`` gave it. Each release file made so (and
not identical to the tag's) becomes a :class:`docgen.DocJob` that runs exactly that command
over the tag's grammar, in the directory the output's ``#line "..."`` shows make ran in, with
the tag's ``ylwrap`` (or automake's own), and is judged byte for byte by :func:`docgen.run`.

The generator version is the one the output names (``A Bison parser, made by GNU Bison
3.8.2.``, flex's ``YY_FLEX_*_VERSION``, byacc's ``YYMAJOR``/``YYMINOR``/``YYPATCH``). bison
runs whatever version is installed: its output carries its version, so a release made by
another bison is ``not-reproducible`` naming both (docgen's version stamps). flex and byacc
name their version only in ``#define``s, so the job checks the version inside the sandbox
first and, when it is not the one installed, writes nothing but an empty output and the
reason: ``not-reproducible`` ("src/scan.c names flex 2.6.0; this system has flex 2.6.4").

``AC_PROG_YACC`` chooses ``bison -y`` (autoconf 2.71 and earlier) or ``bison -o y.tab.c``
(later releases); both are tried, the release's ``configure`` naming the first. A header the release
ships beside the parser (``X.h``) is an output too, and ``-d`` is tried when ``AM_YFLAGS``
lacks it (the maintainer's ``YFLAGS``). Grammars run only in the sandbox: a bison skeleton is
m4, which can run commands.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Callable, Mapping

from . import docgen
from .maketargets import with_includes

_q = docgen._quote

GRAMMAR = re.compile(r"\.(yy|y|ll|l)$")
C_OF = {"y": ".c", "yy": ".cc", "l": ".c", "ll": ".cc"}
H_OF = {".c": ".h", ".cc": ".hh"}        # automake's am__yacc_c2h
BISON = dict(docgen.VERSION_STAMPS)["Bison"]
FLEX = tuple(re.compile(rb"^#define YY_FLEX_%s_VERSION (\d+)" % part, re.M) for part in (b"MAJOR", b"MINOR", b"SUBMINOR"))
BYACC = re.compile(rb"^#define YYBYACC 1", re.M)
BYACC_PARTS = tuple(re.compile(rb"^#define YY%s (\d+)" % part, re.M) for part in (b"MAJOR", b"MINOR", b"PATCH"))
SAFE_WORD = re.compile(r"[\w=.,:+/@%-]+")
SAFE_PATH = re.compile(r"[\w.+-]+(?:/[\w.+-]+)*")
HEAD = 64 << 10                          # bytes of an output read for its stamps and #line names


@dataclass
class Grammar:
    source: str            # the grammar, path from the top (a file of the tag, or a release file: ``needs``)
    output: str            # the release's generated C file
    header: str | None     # the release's generated header, when it ships one
    lex: bool              # flex/lex (else bison/yacc)
    directory: str         # where make ran the rule (from the top)
    named: str             # the grammar as ``$<`` named it there
    flags: list[str]       # AM_YFLAGS / AM_LFLAGS
    makefile: str          # the Makefile.am whose _SOURCES list the grammar


def jobs(tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]]) -> list[docgen.DocJob]:
    """One job per release parser or scanner that automake's yacc/lex rule made from a grammar
    of the tag (or a release grammar an earlier step reproduced)."""
    conf = release["configure"]() if "configure" in release else b""
    out = []
    for g in grammars(tag, release):
        data = release[g.output]()
        out.append(_job(g, data, tag, conf))
    return out


def grammars(tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]]) -> list[Grammar]:
    """The release files automake's built-in yacc/lex rules made (not identical to the tag's)."""
    candidates = sorted(p for p in {*tag, *release} if GRAMMAR.search(p))
    if not candidates:
        return []
    makefiles = {p: with_includes(p, tag.get)[0].decode("utf-8", "replace")
                 for p in sorted(tag) if posixpath.basename(p) == "Makefile.am"}
    found = []
    for src in candidates:
        m = GRAMMAR.search(src)
        assert m is not None
        output = src[:m.start()] + C_OF[m.group(1)]
        if output not in release:
            continue
        data = release[output]()
        if tag.get(output) == data:
            continue  # the tag's own copy: verified by the tag
        where = _listed_in(src, output, makefiles)
        if where is RULE:
            continue  # a rule of its own writes it: docgen's rule jobs run that
        lex = m.group(1) in ("l", "ll")
        if where is None:  # no Makefile.am of the tag lists it (gnulib-tool's release-only gnulib.mk)
            found.append(Grammar(src, output, None, lex, posixpath.dirname(src), posixpath.basename(src), [], ""))
            continue
        mk, text = where
        mkdir = posixpath.dirname(mk)
        directory, named = _where_make_ran(src, data, mkdir)
        header = output[:-len(C_OF[m.group(1)])] + H_OF[C_OF[m.group(1)]]
        has_header = not lex and header in release and tag.get(header) != release[header]()
        flags = _flags(text, "AM_LFLAGS" if lex else "AM_YFLAGS")
        found.append(Grammar(src, output, header if has_header else None, lex, directory, named, flags, mk))
    return found


RULE = ("", "")   # the output has a rule of its own


def _listed_in(src: str, output: str, makefiles: Mapping[str, str]) -> tuple[str, str] | None:
    """(path, text) of the Makefile.am (includes inlined) that lists the grammar; :data:`RULE`
    when an explicit rule of it writes the output (docgen's to run); None when none lists it."""
    for mk, text in makefiles.items():
        d = posixpath.dirname(mk)
        if d and not src.startswith(d + "/"):
            continue
        rel = src[len(d) + 1:] if d else src
        out_rel = output[len(d) + 1:] if d else output
        words = re.compile(rf"(?:^|[\s=])(?:\$\(srcdir\)/|\./)?{re.escape(rel)}(?=\s|$|\\)", re.M)
        if not words.search(text):
            continue
        target = rf"(?:\$\(srcdir\)/)?{re.escape(out_rel)}"
        if re.search(rf"^(?:[^\s:#=]+[ \t]+)*{target}(?:[ \t]+[^\s:#=]+)*[ \t]*:(?!=)", text, re.M):
            return RULE
        return mk, text
    return None


def _where_make_ran(src: str, data: bytes, mkdir: str) -> tuple[str, str]:
    """(directory, grammar as named there): what ``#line N "..."`` of the output names the
    grammar (``getdate.y`` from ``libmisc``, ``sys-utils/hwclock-parse-date.y`` from the top of
    a non-recursive build); else the grammar relative to its Makefile.am."""
    base = posixpath.basename(src)
    for m in re.finditer(rb'^#line \d+ "([^"\n]{1,300})"', data[:HEAD], re.M):
        named = m.group(1).decode("latin-1")
        if posixpath.basename(named) != base:
            continue
        if SAFE_PATH.fullmatch(named) and ".." not in named.split("/") and (src == named or src.endswith("/" + named)):
            return src[:len(src) - len(named)].rstrip("/"), named
        break
    return mkdir, src[len(mkdir) + 1:] if mkdir else src


def _flags(text: str, name: str) -> list[str]:
    """``NAME = ...`` / ``NAME += ...`` of a Makefile.am, outside conditionals' other branches
    (the first assignment and its appends), as shell words; words with make or shell syntax
    are left out."""
    words: list[str] = []
    for m in re.finditer(rf"^{name}\s*(\+?)=[ \t]*((?:[^\n]*\\\n)*[^\n]*)$", text, re.M):
        value = m.group(2).replace("\\\n", " ").split("#", 1)[0].split()
        words = (words if m.group(1) else []) + [w for w in value if SAFE_WORD.fullmatch(w)]
    return words


def _generator(data: bytes, lex: bool) -> tuple[str, str | None]:
    """(tool, version) the output names; version None when it names none."""
    head = data[:HEAD]
    if lex:
        parts = [rx.search(head) for rx in FLEX]
        if all(parts):
            return "flex", ".".join(p.group(1).decode() for p in parts if p)
        return "flex", None
    m = BISON.search(head)
    if m:
        return "bison", m.group(1).decode("latin-1")
    if BYACC.search(head):
        parts = [rx.search(head) for rx in BYACC_PARTS]
        if parts[0] and parts[1] and parts[2]:
            return "byacc", ".".join(p.group(1).decode() for p in parts if p)
        if parts[0] and parts[1]:  # Berkeley yacc without a patch level (OpenBSD's yacc)
            return "yacc", ".".join(p.group(1).decode() for p in parts[:2] if p)
    return "yacc", None


# the version each tool prints, inside the sandbox
VERSION_OF = {"flex": "flex --version 2>/dev/null | sed -n '1s/^[^0-9]*//p'",
              "byacc": "byacc -V 2>/dev/null | sed -n '1s/^[^0-9]*//p'",
              "bison": "bison --version 2>/dev/null | sed -n '1s/^.* //p'"}


def _job(g: Grammar, data: bytes, tag: Mapping[str, bytes], conf: bytes) -> docgen.DocJob:
    tool, version = _generator(data, g.lex)
    d = g.directory
    up = "/".join([".."] * len(d.split("/"))) if d else "."
    ylwrap = _ylwrap(tag)
    ylwrap_sh = _q(posixpath.join(up, ylwrap)) if ylwrap else '"$(automake --print-libdir)/ylwrap"'
    out_name = g.output[len(d) + 1:] if d else g.output
    outputs = (g.output,) + ((g.header,) if g.header else ())
    needs = () if g.source in tag else (g.source,)
    name = f"{tool} of {g.source} (automake's {'lex' if g.lex else 'yacc'} rule via ylwrap, {g.makefile})"
    if not g.makefile:  # its flags would be a release file's: never taken; only the version can be told
        name = f"{tool} of {g.source} (listed in no Makefile.am of the tag)"
        why = (f"no Makefile.am of the tag lists {g.source}: the rule and flags that made {g.output} "
               "are a release file's, never an input")
        if version is None or tool == "yacc":
            return docgen.DocJob(name, d, _unavailable(why, out_name), outputs=outputs, names=[name])
        return docgen.DocJob(name, d, _version_gate(tool, version, g.output, out_name, _unavailable(why, out_name)),
                             outputs=outputs, names=[name])
    if version is None or tool == "yacc":
        why = (f"{g.output} names no {tool} version" if version is None else
               f"{g.output} was made by Berkeley yacc {version} (no patch level: a BSD system's yacc), "
               "which no Debian package provides")
        return docgen.DocJob(name, d, _unavailable(why, out_name), outputs=outputs, needs=needs, names=[name])
    commands = ([["flex"]] if g.lex else [["byacc"]] if tool == "byacc" else
                [["bison", "-y"], ["bison", "-o", "y.tab.c"]])
    if tool == "bison" and b"`bison -o y.tab.c'" in conf:   # newer autoconf: the first choice
        commands.reverse()
    flag_sets = [g.flags]
    if g.header and not any(f in ("-d", "--defines", "--header") or f.startswith(("--defines=", "--header="))
                            for f in g.flags):
        flag_sets.append([*g.flags, "-d"])  # the header needs -d: the maintainer's YFLAGS
    scripts, names = [], []
    for command in commands:
        for flags in flag_sets:
            argv = " ".join(_q(w) for w in [*command, *flags])
            if g.lex:
                run = f"$SHELL {ylwrap_sh} {_q(g.named)} lex.yy.c {_q(out_name)} -- {argv}"
            else:
                stem = out_name.rsplit(".", 1)[0]
                h = stem + H_OF["." + out_name.rsplit(".", 1)[1]] if "." in out_name else stem + ".h"
                run = (f"$SHELL {ylwrap_sh} {_q(g.named)} y.tab.c {_q(out_name)} y.tab.h {_q(h)} "
                       f"y.output {_q(stem + '.output')} -- {argv}")
            # a generator that fails writes an empty output: not reproducible, with its error
            run = f"{{ {run} ; }} || {{ echo 'provcheck: {command[0]} failed' >&2; : > {_q(out_name)}; }}"
            if tool != "bison":  # its version is in no stamp docgen reads: checked here
                run = _version_gate(tool, version, g.output, out_name, run)
            scripts.append("SHELL=/bin/sh; export SHELL; " + run)
            names.append(f"{' '.join([*command, *flags])} of {g.source} (automake's "
                         f"{'lex' if g.lex else 'yacc'} rule via ylwrap, {g.makefile})")
    return docgen.DocJob(names[0], d, scripts[0], alternatives=scripts[1:], names=names, outputs=outputs, needs=needs)


def _version_gate(tool: str, version: str, output: str, out_name: str, run: str) -> str:
    why = _q(f"not reproducible: {output} names {tool} {version}; this system has {tool} ")
    return (f"have=$({VERSION_OF[tool]}); if [ \"$have\" = {_q(version)} ]; then {run}; "
            f"else echo {why}\"${{have:-none}}\" >&2; : > {_q(out_name)}; fi")


def _unavailable(why: str, out_name: str) -> str:
    return f"echo {_q('not reproducible: ' + why)} >&2; : > {_q(out_name)}"


def _ylwrap(tag: Mapping[str, bytes]) -> str | None:
    """The tag's ylwrap (automake's aux script, committed), else None: automake's own."""
    found = sorted((p for p in tag if posixpath.basename(p) == "ylwrap"), key=lambda p: (p.count("/"), p))
    return found[0] if found else None


__all__ = ["Grammar", "jobs", "grammars"]
