"""Which files the project's own make rules write, and from which inputs of the tag.

A rule with a recipe in a ``Makefile.am`` of the *tag* (``target: prerequisites`` followed by
tab-indented commands) writes its target at ``make`` or ``make dist`` time: curl's
``$(HUGE): $(MANPAGE) $(MKHELP)`` writes ``src/tool_hugehelp.c`` with ``mkhelp.pl``,
libarchive's ``libarchive/test/list.h: Makefile`` greps ``$(top_srcdir)/libarchive/test/test_*.c``.
Such a release-only file is explained when the rule also names an input that the tag has
(a prerequisite, or a ``$(srcdir)``/``$(top_srcdir)`` path in the recipe). Simple variables
(``NAME = value`` on one line) are expanded; automake conditionals are ignored (either branch
may write the file). Only the tag's files are read, so a release cannot add rules.

:func:`make_rules` gives every rule of one ``Makefile.am`` with its recipe and the automake
conditionals around it (``if USE_MANUAL`` ... ``else`` ... ``endif``): the branches are
alternatives, and docgen.py runs each (curl's three ``$(HUGE)`` rules).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass
from typing import Callable, Collection, Mapping

_VAR_DEF = re.compile(r"^([A-Za-z_][\w.]*)\s*[:+]?=\s*(.*?)\s*$")
_RULE = re.compile(r"^([^\s#=:][^#=:]*?)\s*::?(?!=)\s*(.*?)\s*$")
_REF = re.compile(r"\$[({]([A-Za-z_][\w.]*)[)}]")
_PATHISH = re.compile(r"\$[({](?:top_srcdir|srcdir|abs_top_srcdir|abs_srcdir)[)}]/[^\s;|&<>()'\"`]+")
MAX_MAKEFILE = 2 << 20
_IF = re.compile(r"^[ ]*if[ \t]+(!?)([A-Za-z_]\w*)[ \t]*(?:#.*)?$")
_ELSE = re.compile(r"^[ ]*else\b[^#]*(?:#.*)?$")
_ENDIF = re.compile(r"^[ ]*endif\b[^#]*(?:#.*)?$")

Conditions = tuple[tuple[str, bool], ...]     # (("USE_MANUAL", True), ("HAVE_LIBZ", False))


@dataclass(frozen=True)
class RuleTarget:
    where: str                  # "src/Makefile.am:117"
    inputs: tuple[str, ...]     # tag files the rule reads


_INCLUDE = re.compile(r"^-?include[ \t]+(\S+)[ \t]*$")


def with_includes(mk_path: str, read: Callable[[str], bytes | None], depth: int = 0,
                  base: str | None = None) -> tuple[bytes, list[str]]:
    """A ``Makefile.am`` as automake reads it: each ``include`` of a file of the tree replaced by
    that file (coreutils' ``include $(srcdir)/src/local.mk``), and where every line came from
    (``"src/local.mk:12"``). Included paths are relative to the Makefile.am, as automake has them,
    in nested includes too (shadow's ``man/de/Makefile.am`` includes ``../generate_translations.mak``,
    which includes ``../generate_mans.mak``: ``man/generate_mans.mak``)."""
    data = read(mk_path) or b""
    base = posixpath.dirname(mk_path) if base is None else base
    out: list[bytes] = []
    origins: list[str] = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        m = _INCLUDE.match(raw.decode("utf-8", "replace"))
        target = _resolve(m.group(1), base) if m and depth < 4 else None
        inner = read(target) if target is not None else None
        if target is not None and inner is not None and len(inner) + sum(map(len, out)) <= MAX_MAKEFILE:
            text, where = with_includes(target, read, depth + 1, base)
            out.append(text)
            origins += where
            continue
        out.append(raw)
        origins.append(f"{mk_path}:{n}")
    return b"\n".join(out), origins


def _expand(text: str, variables: Mapping[str, str], depth: int = 0) -> str:
    if depth > 8 or "$" not in text:
        return text
    out = _REF.sub(lambda m: variables.get(m.group(1), m.group(0)), text)
    out = _FUNCTION.sub(_call, out)
    return out if out == text else _expand(out, variables, depth + 1)


# make's text functions, on arguments with no variable reference left (``$(patsubst %,$(srcdir)/%.po,$(LINGUAS))``)
_FUNCTION = re.compile(r"\$\((patsubst|subst|addprefix|addsuffix|notdir|dir|basename|strip|sort) ([^$()]*)\)")


def _pattern(pattern: str, replacement: str, word: str) -> str:
    head, pct, tail = pattern.partition("%")
    if not pct:
        return replacement if word == pattern else word
    if word.startswith(head) and word.endswith(tail) and len(word) >= len(head) + len(tail):
        return replacement.replace("%", word[len(head):len(word) - len(tail)], 1)
    return word


def _call(m: re.Match[str]) -> str:
    name, args = m.group(1), m.group(2)
    if name in ("notdir", "dir", "basename", "strip", "sort"):
        words = args.split()
        if name == "notdir":
            return " ".join(posixpath.basename(w) for w in words)
        if name == "dir":
            return " ".join(posixpath.dirname(w) + "/" if "/" in w else "./" for w in words)
        if name == "basename":
            return " ".join(w.rsplit(".", 1)[0] if "." in posixpath.basename(w) else w for w in words)
        return " ".join(sorted(set(words)) if name == "sort" else words)
    parts = args.split(",", 2 if name in ("patsubst", "subst") else 1)
    if len(parts) != (3 if name in ("patsubst", "subst") else 2):
        return m.group(0)
    if name == "subst":
        return parts[2].replace(parts[0], parts[1])
    if name == "patsubst":
        return " ".join(_pattern(parts[0].strip(), parts[1].strip(), w) for w in parts[2].split())
    if name == "addprefix":
        return " ".join(parts[0].strip() + w for w in parts[1].split())
    return " ".join(w + parts[0].strip() for w in parts[1].split())


def _resolve(word: str, base: str) -> str | None:
    """A make word as a path from the top of the tree, or None when it is not a plain path."""
    for prefix, root in (("$(top_srcdir)/", ""), ("$(top_builddir)/", ""), ("$(srcdir)/", base),
                         ("$(builddir)/", base), ("${top_srcdir}/", ""), ("${srcdir}/", base),
                         ("$(abs_top_srcdir)/", ""), ("$(abs_top_builddir)/", ""), ("$(abs_srcdir)/", base),
                         ("$(abs_builddir)/", base)):
        if word.startswith(prefix):
            word, base = word[len(prefix):], root
            break
    if not word or "$" in word or word.startswith("/") or word.startswith("-"):
        return None
    path = posixpath.normpath(posixpath.join(base, word)) if base else posixpath.normpath(word)
    return None if path.startswith("..") or path == "." else path


def rule_targets(makefiles: Mapping[str, Callable[[], bytes]], tag_files: Collection[str],
                 include: Callable[[str], bytes | None] | None = None) -> dict[str, RuleTarget]:
    """{path: RuleTarget} for every file a rule of the given ``Makefile.am`` files writes from
    an input of the tag (``tag_files``: the tag's paths; ``include`` reads the tag's files their
    ``include`` lines name)."""
    out: dict[str, RuleTarget] = {}
    tag = set(tag_files)
    for mk_path, read in sorted(makefiles.items()):
        def reader(p: str, top: str = mk_path, read: Callable[[], bytes] = read) -> bytes | None:
            return read() if p == top else include(p) if include is not None and p in tag else None
        data, origins = with_includes(mk_path, reader)
        if len(data) > MAX_MAKEFILE:
            continue
        base = posixpath.dirname(mk_path)
        numbers, lines = [], []         # logical lines (continuations joined) and where each starts
        for n, raw in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
            if lines and lines[-1].endswith("\\"):
                lines[-1] = lines[-1][:-1] + " " + raw.lstrip()
            else:
                numbers.append(n)
                lines.append(raw)
        variables: dict[str, str] = {}
        for line in lines:
            m = _VAR_DEF.match(line)
            if m and not line.startswith("\t"):
                variables.setdefault(m.group(1), m.group(2))
        for i, line in enumerate(lines):
            m = _RULE.match(line)
            if not m or line.startswith("\t") or i + 1 >= len(lines) or not lines[i + 1].startswith("\t"):
                continue
            recipe = []
            for follow in lines[i + 1:]:
                if not follow.startswith("\t"):
                    break
                recipe.append(_expand(follow, variables))
            targets = [_resolve(w, base) for w in _expand(m.group(1), variables).split()]
            words = _expand(m.group(2), variables).split()
            words += [w for r in recipe for w in _PATHISH.findall(r)]
            inputs = []
            for w in words:
                p = _resolve(w, base)
                if p is None:
                    continue
                hits = [p] if p in tag else (sorted(fnmatch.filter(tag, p)) if any(c in p for c in "*?[") else [])
                inputs += [h for h in hits[:20] if h not in inputs]
            if not inputs:
                continue
            for t in targets:
                if t is not None and t not in tag and "%" not in t and t not in out:
                    out[t] = RuleTarget(origins[numbers[i] - 1] if numbers[i] <= len(origins) else
                                        f"{mk_path}:{numbers[i]}", tuple(inputs))
    return out


@dataclass(frozen=True)
class Line:
    number: int                 # where the logical line starts (1-based)
    text: str                   # continuations kept ("\\\n"), as make reads them
    conditions: Conditions      # the automake conditionals around it


@dataclass(frozen=True)
class MakeRule:
    where: str                  # "src/Makefile.am:117"
    target: str                 # the target words as written ("$(HUGE)")
    prerequisites: str          # as written ("$(MANPAGE) $(MKHELP)")
    targets: tuple[str, ...]    # the paths they name from the top of the tree (expanded, resolved)
    inputs: tuple[str, ...]     # paths the rule reads: prerequisites and $(srcdir) paths of its recipe
    recipe: tuple[str, ...]     # the recipe lines as written (tab-led, continuations kept)
    conditions: Conditions


def logical_lines(text: str) -> list[Line]:
    """A ``Makefile.am``'s logical lines with the automake conditionals each sits in; the
    ``if``/``else``/``endif`` lines themselves are left out."""
    out: list[Line] = []
    stack: list[tuple[str, bool]] = []
    pending: tuple[int, str] | None = None
    for n, raw in enumerate(text.split("\n"), 1):
        if pending is not None:
            pending = (pending[0], pending[1] + "\n" + raw)
        else:
            pending = (n, raw)
        if raw.endswith("\\"):
            continue
        number, line = pending
        pending = None
        if not line.startswith("\t"):
            m = _IF.match(line)
            if m:
                stack.append((m.group(2), not m.group(1)))
                continue
            if _ELSE.match(line) and stack:
                name, value = stack.pop()
                stack.append((name, not value))
                continue
            if _ENDIF.match(line) and stack:
                stack.pop()
                continue
        out.append(Line(number, line, tuple(stack)))
    if pending is not None:
        out.append(Line(pending[0], pending[1], tuple(stack)))
    return out


def consistent(a: Conditions, b: Conditions) -> bool:
    """Whether one configuration can hold both sets of conditionals."""
    values = dict(a)
    return all(values.get(name, value) == value for name, value in b)


def expand(text: str, lines: list[Line], conditions: Conditions = ()) -> str:
    """``text`` with the simple variables of the lines a configuration with ``conditions`` reads
    (the last definition wins, as in make)."""
    variables: dict[str, str] = {}
    for line in lines:
        m = _VAR_DEF.match(line.text.replace("\\\n", " "))
        if m and not line.text.startswith("\t") and consistent(conditions, line.conditions):
            variables[m.group(1)] = m.group(2)
    return _expand(text, variables)


def make_rules(mk_path: str, data: bytes, origins: list[str] | None = None) -> list[MakeRule]:
    """Every rule with a recipe of one ``Makefile.am``, its targets and inputs resolved from the
    top of the tree with the file's simple variables (all branches' definitions: the first wins);
    ``origins`` (:func:`with_includes`) name where each line came from."""
    if len(data) > MAX_MAKEFILE:
        return []
    base = posixpath.dirname(mk_path)
    lines = logical_lines(data.decode("utf-8", "replace"))
    variables: dict[str, str] = {}
    for line in lines:
        m = _VAR_DEF.match(line.text.replace("\\\n", " "))
        if m and not line.text.startswith("\t"):
            variables.setdefault(m.group(1), m.group(2))
    out = []
    for i, line in enumerate(lines):
        flat = line.text.replace("\\\n", " ")
        m = _RULE.match(flat)
        if not m or flat.startswith("\t"):
            continue
        recipe = []
        for follow in lines[i + 1:]:
            if follow.conditions != line.conditions:   # an else/endif ends the recipe
                break
            if not follow.text.startswith("\t"):
                if follow.text.strip() and not follow.text.lstrip().startswith("#"):
                    break
                continue
            recipe.append(follow.text)
        if not recipe:
            continue
        targets = tuple(p for w in _expand(m.group(1), variables).split()
                        if (p := _resolve(w, base)) is not None and "%" not in p)
        words = _expand(m.group(2), variables).split()
        words += [w for r in recipe for w in _PATHISH.findall(_expand(r.replace("\\\n", " "), variables))]
        inputs: list[str] = []
        for w in words:
            p = _resolve(w, base)
            if p is not None and p not in inputs and p not in targets:   # globs stay patterns
                inputs.append(p)
        if targets:
            where = origins[line.number - 1] if origins and line.number <= len(origins) else f"{mk_path}:{line.number}"
            out.append(MakeRule(where, m.group(1).strip(), m.group(2).strip(), targets,
                                tuple(inputs), tuple(recipe), line.conditions))
    return out
