"""A release's ``aclocal.m4`` checked piece by piece when aclocal itself cannot be run.

aclocal writes a fixed header, then every macro file it found outside the package verbatim
(less its ``##`` lines), then an ``m4_include`` line for each file of the package. When the
release's automake version cannot be had, :func:`check` tells whether every embedded piece is
a published copy (the m4 database), the tag's own file, or automake's own macros of an
unpublished version that differ from a published copy only in version and copyright-year
stamps. Such an ``aclocal.m4`` is a verified input to ``autoconf``/``autoheader``.

A region that matches nothing is either an edited published macro (its nearest published copy
shares most of its lines) or an unknown macro. :attr:`AclocalCheck.alternative` is the
``aclocal.m4`` with every such region replaced by its nearest published copy (or dropped): the
trusted alternative with which regeneration tells which ``configure`` lines the region produced.
"""

from __future__ import annotations

import functools
import posixpath
import re
from dataclasses import dataclass, field
from typing import Mapping

from .m4db import M4Database

# aclocal's own header (automake 1.13-1.17), compared with digits collapsed
HEADER = """\
# generated automatically by aclocal 1.16.5 -*- Autoconf -*-
# Copyright (C) 1996-2021 Free Software Foundation, Inc.
# This file is free software; the Free Software Foundation
# gives unlimited permission to copy and/or distribute it,
# with or without modifications, as long as this notice is preserved.
# This program is distributed in the hope that it will be useful,
# but WITHOUT ANY WARRANTY, to the extent permitted by law; without
# even the implied warranty of MERCHANTABILITY or FITNESS FOR A
# PARTICULAR PURPOSE.
m4_ifndef([AC_CONFIG_MACRO_DIRS], [m4_defun([_AM_CONFIG_MACRO_DIRS], [])\
m4_defun([AC_CONFIG_MACRO_DIRS], [_AM_CONFIG_MACRO_DIRS($@)])])
m4_ifndef([AC_AUTOCONF_VERSION],
  [m4_copy([m4_PACKAGE_VERSION], [AC_AUTOCONF_VERSION])])dnl
m4_if(m4_defn([AC_AUTOCONF_VERSION]), [2.71],,
[m4_warning([this file was generated for autoconf 2.71.
You have another version of autoconf.  It may work, but is not guaranteed to.
If you have problems, you may need to regenerate the build system entirely.
To do so, use the procedure documented by the package, typically 'autoreconf'.])])
"""
_NUMBERS = re.compile(r"\d+(?:[.-]\d+)*[a-z]?")
_VERSIONISH = re.compile(r"\d+\.\d+|Copyright|serial")
_INCLUDE = re.compile(r"^m4_include\(\[([^\]]+)\]\)$")
_FILE_START = re.compile(r"^(?:#|dnl)\s.*-\*- Autoconf -\*-")
_DEFUN = re.compile(r"\b(?:AC_DEFUN(?:_ONCE)?|AU_DEFUN|AU_ALIAS|m4_define)\(\[?([\w]+)")
MAX_CANDIDATES = 24  # published copies compared with one region (those defining most of its macros)
MAX_REGIONS = 200    # regions given a nearest published copy; the rest (a crafted file) have none
MIN_SHARED = 0.5      # a region sharing this share of its lines with a published copy is an edited copy of it


def decode(data: bytes) -> str:
    """As the database's texts are: UTF-8 (bytes that are not stay as surrogates, round-tripping)."""
    return data.decode("utf-8", "surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _digits(line: str) -> str:
    return _NUMBERS.sub("#", line)


_HEADER_LINES = frozenset(_digits(line) for line in HEADER.replace("\\\n", "").splitlines())


def body_lines(text: str) -> list[str]:
    """A macro file as aclocal embeds it: without ``##`` lines and surrounding blank lines."""
    lines = [line for line in text.split("\n") if not line.startswith("##")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


@dataclass
class Piece:
    first: int          # 0-based line range [first, last)
    last: int
    origin: str         # "ORIGIN (name)" of a published copy, or "input PATH" (the tag's, an admitted copy)
    stamped: bool = False   # equal but for version/copyright-year stamps


@dataclass
class Region:
    first: int
    last: int
    nearest: str | None         # origin of the nearest published copy
    shared: float               # share of the region's lines the nearest copy has
    diff: str = ""
    edited: bool = False        # an edited copy of a macro of the very automake version aclocal.m4 names


@dataclass
class AclocalCheck:
    pieces: list[Piece] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    alternative: str = ""       # every region replaced by its nearest published copy: the trusted alternative
    substituted: str = ""       # only the edited regions replaced: the input (== the release's when none is)

    @property
    def verified(self) -> bool:
        return not self.regions

    def region_bytes(self, text: str) -> int:
        lines = text.split("\n")
        return sum(len(encode("\n".join(lines[r.first:r.last]))) + 1 for r in self.regions)

    def summary(self) -> str:
        stamped = sum(1 for p in self.pieces if p.stamped)
        out = (f"{len(self.pieces)} embedded macro files are published copies or inputs"
               + (f" ({stamped} of them but for version/copyright-year stamps)" if stamped else "")
               + f", {len(self.includes)} m4_include lines name inputs")
        if self.regions:
            out += "; " + "; ".join(
                f"lines {r.first + 1}-{r.last}: " + (
                    f"an edited copy of {r.nearest} (aclocal.m4 names that automake version; replaced by it)"
                    if r.edited else "no published copy" + (
                        f" (nearest: {r.nearest}, {r.shared:.0%} of the lines shared)" if r.nearest else ""))
                for r in self.regions[:6])
        return out


@functools.lru_cache(maxsize=2)
def _published(db: M4Database) -> tuple[dict[str, list[tuple[str, tuple[str, ...]]]], dict[str, list[int]],
                                        list[tuple[str, tuple[str, ...], frozenset[str]]]]:
    """(first line, digits collapsed) -> [(origin, body)], macro name -> entry indexes, and the
    entries (origin, body, the macros it defines)."""
    by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    by_macro: dict[str, list[int]] = {}
    entries: list[tuple[str, tuple[str, ...], frozenset[str]]] = []
    seen: set[tuple[str, ...]] = set()
    for name, es in db.files.items():
        if not name.endswith(".m4"):
            continue
        for e in es:
            text = db.text(e)
            if not text:
                continue
            body = tuple(body_lines(text))
            if not body or body in seen:
                continue
            seen.add(body)
            origin = f"{e['origin']} ({name})"
            by_first.setdefault(_digits(body[0]), []).append((origin, body))
            defined = frozenset(_DEFUN.findall(text))
            for m in defined:
                by_macro.setdefault(m, []).append(len(entries))
            entries.append((origin, body, defined))
    return by_first, by_macro, entries


def _equal_but_stamps(seg: list[str], body: tuple[str, ...]) -> bool | None:
    """True: equal; False: equal but for version/year stamps on comment or version lines; None: differ."""
    stamped = False
    for a, b in zip(seg, body):
        if a == b:
            continue
        if _digits(a) != _digits(b) or not (_VERSIONISH.search(a) and _VERSIONISH.search(b)):
            return None
        stamped = True
    return not stamped


def check(text: str, db: M4Database, files: Mapping[str, bytes], base: str = "") -> AclocalCheck:
    """Check ``aclocal.m4`` (``text``) against the database and the input tree ``files`` (the
    tag's files and the admitted published copies, by path from the top directory); ``base``:
    the directory of this aclocal.m4 (a sub-package's), against which its m4_include paths resolve."""
    from .compare import matcher, unified
    by_first, by_macro, entries = _published(db)
    local: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for path, data in files.items():
        if path.endswith(".m4") and path != "aclocal.m4":
            body = tuple(body_lines(decode(data)))
            if body:
                local.setdefault(_digits(body[0]), []).append((f"input {path}", body))
    lines = text.split("\n")
    n = len(lines)
    out = AclocalCheck()
    ok = [False] * n
    i = 0
    while i < n:
        key = _digits(lines[i])
        best: tuple[int, bool, str] | None = None
        for origin, body in [*local.get(key, ()), *by_first.get(key, ())]:
            if (len(body), False) <= ((best[0], not best[1]) if best else (0, False)) or i + len(body) > n:
                continue   # longest first, then an exact copy before a stamped one
            exact = _equal_but_stamps(lines[i:i + len(body)], body)
            if exact is not None:
                best = (len(body), not exact, origin)
        if best is None:
            i += 1
            continue
        out.pieces.append(Piece(i, i + best[0], best[2], best[1]))
        for k in range(i, i + best[0]):
            ok[k] = True
        i += best[0]
    first_piece = out.pieces[0].first if out.pieces else n
    for k, line in enumerate(lines):
        if ok[k] or not line.strip():
            continue
        m = _INCLUDE.match(line)
        target = posixpath.normpath(posixpath.join(base, m.group(1))) if m else ""
        if m and target in files and not m.group(1).startswith("/") and not target.startswith(".."):
            ok[k] = True
            out.includes.append(m.group(1))
        elif k < first_piece and _digits(line) in _HEADER_LINES:
            ok[k] = True
    # maximal runs of unexplained lines (blank lines between them join them)
    k = 0
    while k < n:
        if ok[k] or not lines[k].strip():
            k += 1
            continue
        j = k
        while j < n and (not ok[j]):
            j += 1
        last = j
        while last > k and not lines[last - 1].strip():
            last -= 1
        starts = [k] + [x for x in range(k + 1, last) if not lines[x - 1].strip() and _FILE_START.match(lines[x])]
        for a, b in zip(starts, [*starts[1:], last]):
            while b > a and not lines[b - 1].strip():
                b -= 1
            if len(out.regions) < MAX_REGIONS:
                out.regions.append(_region(lines, a, b, by_macro, entries, matcher, unified))
            else:
                out.regions.append(Region(a, b, None, 0.0))
        k = j
    head = re.match(r"# generated automatically by aclocal (\d+(?:\.\d+)+)", text)
    for r in out.regions:   # automake's own macros of the version aclocal.m4 names are published: an edit
        m = re.match(r"automake_(?:\d+:)?(\d+(?:\.\d+)+)-", r.nearest or "")
        r.edited = bool(head and m and m.group(1) == head.group(1) and r.shared >= MIN_SHARED)
    out.alternative = _replace(lines, out.regions, entries, lambda r: True)
    out.substituted = _replace(lines, out.regions, entries, lambda r: r.edited)
    return out


def _replace(lines: list[str], regions: list[Region], entries: list[tuple[str, tuple[str, ...], frozenset[str]]],
             which) -> str:
    """The text with each region ``which`` selects replaced by its nearest published copy (dropped
    when there is none)."""
    bodies = {origin: body for origin, body, _ in entries}
    out: list[str] = []
    at = 0
    for r in regions:
        if which(r):
            out += lines[at:r.first] + (list(bodies[r.nearest]) if r.nearest is not None else [])
            at = r.last
    return "\n".join(out + lines[at:])


def _region(lines: list[str], first: int, last: int, by_macro: dict[str, list[int]],
            entries: list[tuple[str, tuple[str, ...], frozenset[str]]], matcher, unified) -> Region:
    seg = lines[first:last]
    names = set(_DEFUN.findall("\n".join(seg)))
    shared_names: dict[int, int] = {}
    for m in names:
        for i in by_macro.get(m, ()):
            shared_names[i] = shared_names.get(i, 0) + 1
    def jaccard(i: int) -> float:   # the share of macro names in common
        return shared_names[i] / (len(names) + len(entries[i][2]) - shared_names[i])
    candidates = sorted(shared_names, key=lambda i: -jaccard(i))[:MAX_CANDIDATES]
    mine = [x for x in seg if x.strip()]
    best: tuple[float, int] | None = None
    for idx in candidates:
        body = entries[idx][1]
        sm = matcher(list(body), seg)
        shared = sum(size for _, _, size in sm.get_matching_blocks()) / max(len(seg), len(body), 1)
        if best is None or shared > best[0]:
            best = (shared, idx)
    if best is None or not mine:
        return Region(first, last, None, 0.0)
    origin, body, _ = entries[best[1]]
    diff, _ = unified("aclocal.m4", list(body), seg, fa=f"published/{origin}")
    return Region(first, last, origin, round(best[0], 3), diff)
