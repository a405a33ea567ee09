"""Make rules of the tag run by ``make`` itself, in a copy of the tag configured by the release's
own (reproduced) ``configure``.

Two kinds of rule write release files that no explicit ``Makefile.am`` rule names:

- rules of a *hand-written* ``Makefile.in`` of the tag (no ``Makefile.am`` beside it), whose
  targets are release files that differ from the tag's: shadow's ``man/po/Makefile.in`` remakes
  ``$(srcdir)/$(DOMAIN).pot`` with ``itstool`` and merges ``$(POFILES)`` with ``msgmerge``;
- pattern and suffix rules of a tag ``Makefile.am`` (its ``include`` files inlined) whose target
  is a release-only file made from a file of the tag: shadow's ``man1/% man8/%: %.xml-config``
  (``xsltproc`` with DocBook XSL), util-linux's ``.8.adoc.8:`` (``asciidoctor``).

Such rules read what ``configure`` substitutes (``@XSLTPROC@``, ``$(PACKAGE)``) and files it
instantiates (shadow's ``man/config.xml``), so they run where they would at release time: in the
tag's files plus every release file already *reproduced* (``configure`` itself among them), after
``./configure`` ran in the same sandbox (:func:`docgen.run` runs it once). ``make`` then resolves
the pattern and suffix rules, intermediate files and ``include``s itself. Automake conditionals:
each rule runs with its own conditionals true; the others as ``configure`` chose, and each one
that guards a variable the recipe reads flipped in turn is an alternative (``config.status`` with
that substitution changed rewrites the directory's ``Makefile``). Targets whose release copy names
a generator version this system lacks (``Generator: Asciidoctor 2.0.15``) are not run:
``not-reproducible`` with that version (:func:`docgen.pinned`).
"""

from __future__ import annotations

import posixpath
import re
import shutil
from typing import Callable, Mapping

from . import docgen
from .maketargets import Line, _expand, _resolve, logical_lines, make_rules, with_includes

_q = docgen._quote
TARGETS = "@PROVCHECK_TARGETS@"        # replaced by the targets left to make when the job runs
_RULE = re.compile(r"^([^\s#=:][^#=:]*?)\s*::?(?!=)\s*(.*?)\s*$")
_SUFFIX_RULE = re.compile(r"^\.[\w+-]+(?:\.[\w+-]+)*$")
_COND_VAR = re.compile(r"\$[({]([A-Za-z_][\w.]*)[)}]")
MAX_DEPTH = 3                            # pattern rules chained to reach a file of the tag


def _top(d: str) -> str:
    return "/".join([".."] * len(d.split("/"))) if d else "."


def _differs(path: str, tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]]) -> bool:
    return path in release and (path not in tag or tag[path] != release[path]())


def _make(d: str, extra: str = "") -> str:
    """``make`` in directory ``d`` of the configured tree, failing lines ignored (as ``make -i``),
    the Makefile never remade (its template is the release's, already judged)."""
    return f"cd {_q(d or '.')} && make -i -o Makefile {_q('MAKE=make -o Makefile')} {extra}{TARGETS}"


def jobs(tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]]) -> list[docgen.DocJob]:
    """The make jobs of the tag: hand-written ``Makefile.in`` rules and pattern/suffix rules."""
    if "configure" not in release or ("configure.ac" not in tag and "configure.in" not in tag):
        return []
    found = _handwritten(tag, release) + _pattern_jobs(tag, release)
    # a job waits only for the files another job writes (man/de's pages for man/po's de.po); what no
    # job writes is an input only when the chain reproduced it, and is left out otherwise
    for job in found:
        others = {o for j in found if j is not job for o in j.outputs}
        job.needs = tuple(n for n in job.needs if n in others)
    return found


# -- hand-written Makefile.in -----------------------------------------------------------------------

def _handwritten(tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]]) -> list[docgen.DocJob]:
    conf = release["configure"]()
    out = []
    for mk in sorted(p for p in tag if posixpath.basename(p) == "Makefile.in"):
        d = posixpath.dirname(mk)
        if posixpath.join(d, "Makefile.am") in tag or posixpath.join(d, "Makefile") in tag:
            continue
        raw, origins = with_includes(mk, lambda p: tag.get(p))
        text = raw.decode("utf-8", "replace")
        if "$(MANFMT)" in text:
            continue  # docgen's catman job formats those pages with each formatter configure may choose

        def subst(m: re.Match[str], d: str = d) -> str:
            name = m.group(1)
            if name in ("srcdir", "builddir"):
                return "."
            if name in ("top_srcdir", "top_builddir"):
                return _top(d)
            return docgen.configure_value(conf, name) or m.group(0)
        text = re.sub(r"@([A-Za-z_]\w*)@", subst, text)
        rules = make_rules(mk, text.encode(), origins)
        wanted: dict[str, str] = {}      # path: the make target naming it
        fresh: set[str] = set()          # targets of rules without prerequisites: made only when missing
        for rule in rules:
            if "$" in rule.target and not rule.targets:
                continue
            for t in rule.targets:
                if (t not in wanted and docgen.JOB_OUTPUT.search(t) and _differs(t, tag, release)
                        and (t in tag or any(p in tag for p in rule.inputs))):
                    wanted[t] = posixpath.relpath(t, d or ".")
                    if not rule.prerequisites.strip():
                        fresh.add(t)
        if not wanted:
            continue
        needs = sorted({p for r in rules for p in r.inputs if p not in wanted and "*" not in p
                        and p in release and _differs(p, tag, release)})
        remove = " ".join(_q(wanted[t]) for t in sorted(fresh))
        script = (f"( cd {_q(d or '.')} && rm -f {remove} ) && " if remove else "") + _make(d)
        names = sorted(wanted)
        out.append(docgen.DocJob(f"make {' '.join(wanted[t] for t in names[:3])}{' ...' if len(names) > 3 else ''} "
                                 f"({mk}, hand-written, configured)", "", script, configured=True,
                                 outputs=tuple(names), needs=tuple(needs), targets=dict(wanted)))
    return out


# -- pattern and suffix rules -----------------------------------------------------------------------

def _rules(lines: list[Line]) -> list[tuple[Line, list[str], list[str]]]:
    """(line, target words, prerequisite words) of every rule with a recipe."""
    out = []
    for i, line in enumerate(lines):
        flat = line.text.replace("\\\n", " ")
        m = _RULE.match(flat)
        if not m or flat.startswith("\t") or flat.lstrip().startswith("#"):
            continue
        nxt = next((x for x in lines[i + 1:] if x.text.strip() and not x.text.lstrip().startswith("#")), None)
        if nxt is None or not nxt.text.startswith("\t") or nxt.conditions != line.conditions:
            continue
        out.append((line, m.group(1).split(), m.group(2).split()))
    return out


def _stem(pattern: str, word: str) -> str | None:
    head, pct, tail = pattern.partition("%")
    if pct and word.startswith(head) and word.endswith(tail) and len(word) > len(head) + len(tail):
        return word[len(head):len(word) - len(tail)]
    return None


def _pattern_jobs(tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]]) -> list[docgen.DocJob]:
    out = []
    m = re.search(rb"^ac_subst_vars='([^']*)'", release["configure"](), re.M)
    substituted = set(m.group(1).decode("latin-1").split()) if m else set()   # what configure may set
    for mk in sorted(p for p in tag if posixpath.basename(p) == "Makefile.am"):
        d = posixpath.dirname(mk)
        raw, origins = with_includes(mk, lambda p: tag.get(p))
        if b"%" not in raw and b"SUFFIXES" not in raw:
            continue
        lines = logical_lines(raw.decode("utf-8", "replace"))
        variables = {"srcdir": ".", "top_srcdir": _top(d), "builddir": ".", "top_builddir": _top(d),
                     "CURDIR": "/provcheck/" + d if d else "/provcheck"}
        for ln in lines:
            m = re.match(r"^([A-Za-z_][\w.]*)\s*[:+]?=\s*(.*?)\s*$", ln.text.replace("\\\n", " "))
            if m and not ln.text.startswith("\t"):
                variables.setdefault(m.group(1), m.group(2))
        suffixes = {w for ln in lines for m in [re.match(r"^SUFFIXES\s*\+?=(.*)$", ln.text.replace("\\\n", " "))]
                    if m for w in _expand(m.group(1), variables).split()}
        rules = _rules(lines)
        patterns: list[tuple[Line, str, list[str]]] = []     # (line, target pattern, prerequisite patterns)
        for line, targets, prereqs in rules:
            for t in (_expand(w, variables) for w in targets):
                if "%" in t:
                    patterns.append((line, t, [p for p in (_expand(w, variables) for w in prereqs) if "%" in p]))
                elif _SUFFIX_RULE.match(t):
                    for i in range(1, len(t)):
                        if t[i] == "." and t[:i] in suffixes and t[i:] in suffixes:
                            patterns.append((line, "%" + t[i:], ["%" + t[:i]]))
        if not patterns:
            continue

        wanted: dict[str, str] = {}
        used: list[Line] = []
        sources: set[str] = set()     # the tag files the chains start from
        prefix = f"{d}/" if d else ""
        for path in sorted(release):
            if not path.startswith(prefix) or path in tag or not docgen.JOB_OUTPUT.search(path) \
                    or path.endswith("Makefile"):
                continue  # docs only: generated code of a configured build may carry the build host's values
            rel = path[len(prefix):]
            found = _made_from_tag(rel, patterns, d, tag, release)
            if found is not None:
                wanted[path] = rel
                used += [x for x in found[0] if x not in used]
                sources.add(found[1])
        if not wanted:
            continue
        conditions = {c for x in used for c in x.conditions}          # the rules' own: held true
        forced = dict(conditions)
        recipe_vars = _recipe_variables(lines, used)
        flips = sorted({name for ln in lines for name, _ in ln.conditions
                        if name not in forced and _defines(ln, recipe_vars)})
        text_rules = make_rules(mk, raw.replace(b"$(CURDIR)", variables["CURDIR"].encode()), origins)
        needs = sorted({p for p in [*sources, *(p for r in text_rules for p in r.inputs)]
                        if p not in wanted and "*" not in p and _differs(p, tag, release)})
        # a tool configure looks for only when asked (shadow's XSLTPROC with --enable-man): its own name
        defined = {m.group(1) for ln in lines if not ln.text.startswith("\t")
                   for m in [re.match(r"^([A-Za-z_][\w.]*)\s*[:+]?=", ln.text)] if m}
        tools = "".join(f"{_q(f'{v}={v.lower()}')} " for v in sorted(recipe_vars - defined)
                        if v in substituted and re.fullmatch(r"[A-Z][A-Z0-9_]*", v) and shutil.which(v.lower()))
        scripts, names = [], []
        for flip in [None, *flips]:
            setting = dict(forced)
            if flip is not None:
                setting[flip] = "flip"   # the other value than configure's own choice
            scripts.append(_conditions_script(d, setting) + _make(d, "-j2 " + tools))
            label = ", ".join(f"{k}={'yes' if v is True else 'no' if v is False else 'flipped'}"
                              for k, v in sorted(setting.items()))
            names.append(f"make {' '.join(sorted(wanted.values())[:2])}{' ...' if len(wanted) > 2 else ''} "
                         f"(pattern rules of {mk}, configured{', ' + label if label else ''})")
        out.append(docgen.DocJob(names[0], "", scripts[0], alternatives=scripts[1:], names=names, configured=True,
                                 outputs=tuple(sorted(wanted)), needs=tuple(needs), targets=dict(wanted)))
    return out


def _made_from_tag(rel: str, patterns: list[tuple[Line, str, list[str]]], d: str, tag: Mapping[str, bytes],
                   release: Mapping[str, Callable[[], bytes]], depth: int = 0) -> tuple[list[Line], str] | None:
    """The rules (outermost first) that make ``rel`` (relative to ``d``) from a file of the tag,
    through intermediate files neither the tag nor the release has, and that file."""
    for line, target, prereqs in patterns:
        stem = _stem(target, rel)
        if stem is None:
            continue
        for p in prereqs:
            path = _resolve(p.replace("%", stem), d)
            if path is not None and path in tag:
                return [line], path
            if depth < MAX_DEPTH and path is not None and path not in release:
                inner = _made_from_tag(posixpath.relpath(path, d or "."), patterns, d, tag, release, depth + 1)
                if inner is not None:
                    return [line, *inner[0]], inner[1]
    return None


def _recipe_variables(lines: list[Line], used: list[Line]) -> set[str]:
    """The variables the recipes of ``used`` rules read, through the variables those name."""
    seen: set[str] = set()
    texts = []
    for rule in used:
        i = lines.index(rule)
        for follow in lines[i + 1:]:
            if not follow.text.startswith("\t"):
                if follow.text.strip() and not follow.text.lstrip().startswith("#"):
                    break
                continue
            texts.append(follow.text)
    todo = {v for t in texts for v in _COND_VAR.findall(t)}
    defs: dict[str, list[str]] = {}
    for ln in lines:
        m = re.match(r"^([A-Za-z_][\w.]*)\s*[:+]?=(.*)$", ln.text.replace("\\\n", " "), re.S)
        if m and not ln.text.startswith("\t"):
            defs.setdefault(m.group(1), []).append(m.group(2))
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        todo |= {w for value in defs.get(v, []) for w in _COND_VAR.findall(value)} - seen
    return seen


def _defines(line: Line, names: set[str]) -> bool:
    m = re.match(r"^([A-Za-z_][\w.]*)\s*[:+]?=", line.text)
    return bool(m) and not line.text.startswith("\t") and m.group(1) in names  # type: ignore[union-attr]


def _conditions_script(d: str, setting: Mapping[str, object]) -> str:
    """Shell that rewrites directory ``d``'s Makefile with ``config.status`` whose automake
    conditionals in ``setting`` are changed (True/False, or "flip": the opposite of configure's)."""
    if not setting:
        return ""
    edits = []
    for name, value in sorted(setting.items()):
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            continue
        if value == "flip":   # swap the two substitutions (each marked first: sed runs every -e on a line)
            edits += [f"-e 's/^S\\[\"{name}_{half}\"\\]=\"\\(#*\\)\"$/S[\"{name}_{half}\"]=\"PROVCHECK\\1\"/' "
                      f"-e 's/^S\\[\"{name}_{half}\"\\]=\"PROVCHECK#\"$/S[\"{name}_{half}\"]=\"\"/' "
                      f"-e 's/^S\\[\"{name}_{half}\"\\]=\"PROVCHECK\"$/S[\"{name}_{half}\"]=\"#\"/'"
                      for half in ("TRUE", "FALSE")]
        else:
            on, off = ("", "#") if value else ("#", "")
            edits.append(f"-e 's/^S\\[\"{name}_TRUE\"\\]=.*$/S[\"{name}_TRUE\"]=\"{on}\"/' "
                         f"-e 's/^S\\[\"{name}_FALSE\"\\]=.*$/S[\"{name}_FALSE\"]=\"{off}\"/'")
    mk = posixpath.join(d, "Makefile") if d else "Makefile"
    return (f"sed {' '.join(edits)} config.status > .provcheck-config.status && "
            f"sh .provcheck-config.status {_q(mk)} >/dev/null && ")


__all__ = ["jobs", "TARGETS"]
