"""Reproduce a release's generated files from trusted inputs, in a sandbox.

Recognising a generated file (its path, its generator's signature) tells nothing about
the lines inside it. This module rebuilds the autotools outputs of a release
(``aclocal.m4``, ``configure``, ``config.h.in``, every ``Makefile.in``, ``.gmo`` catalogs)
from *trusted* inputs only, with the exact generator versions named in the files, under
:mod:`provcheck.sandbox`, and compares the results byte for byte with the release. The
lines that differ and that neither a version stamp nor a documented toolchain difference
explains are lines no input produced: the findings.

Trusted inputs (:func:`assemble`):

- ``tag``: files of the source tag;
- ``published``: release m4/build-aux files byte-identical (or identical but for comments)
  to a copy in the m4 database;
- ``substituted``: a release m4 file whose name is published but whose content is not: the
  closest published copy is used instead, so the edit shows up as lines of ``configure``
  that no input produced (the xz 5.6.x trigger);
- ``unverified``: a release m4 file nothing knows (no published name): used, but every
  output that includes it stays unverified (``reproduced-unverified``);
- ``stand-in``: release files the generators only test for existence (build-aux scripts
  and gettext infrastructure that are not published copies, INSTALL, ChangeLog, ...): an
  empty file, their content is never read (it is judged by the comparison itself).

Release files that nothing explains are never inputs.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import os
import posixpath
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from . import risk
from .flavours import Hunk as FlavourHunk, find_block, parse_hunk, published_with_flavours
from .m4db import M4Database, is_aux

REPRODUCED, DIFFERS, UNVERIFIED, NOT_REPRODUCIBLE = (
    "reproduced", "reproduction-differs", "reproduced-unverified", "not-reproducible")
MODES = ("auto", "always", "never")
CHAIN_VERSION = "1"          # bump when the chain or the cache layout changes
SOURCE_DATE_EPOCH = "0"
MAX_INPUT = 8 << 20
CONTEXT = 3
HUNKS_SHOWN = 12

GETTEXT_INFRA = re.compile(r"(?:^|/)po/(?:Makefile\.in\.in|Rules-[\w-]+|[^/]+\.sin|[^/]+\.sed|[^/]+\.header|"
                           r"Makevars\.template)$")
PRESENCE_NAMES = frozenset({"INSTALL", "COPYING", "COPYING.LIB", "COPYING.LESSER", "ABOUT-NLS", "ChangeLog", "NEWS",
                            "README", "AUTHORS", "THANKS", ".tarball-version", ".version", "config.rpath",
                            "mkinstalldirs"})


class RegenerationError(Exception):
    """Regeneration could not run (no sandbox, no toolchain); str() is the reason."""


# -- results ---------------------------------------------------------------------------------

@dataclass
class Input:
    path: str
    origin: str                     # tag | published | substituted | unverified | stand-in
    sha256: str
    how: str = ""
    diff: str = ""                  # substituted/unverified: the release file against the copy used / nearest

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


@dataclass
class Hunk:
    kind: str                       # stamp | toolchain | unexplained
    text: str                       # the unified-diff hunk (regenerated -> release)
    release_lines: tuple[int, int]  # first and last release line of the hunk's change
    added: list[tuple[int, str]] = field(default_factory=list)    # release lines no input produced
    removed: list[str] = field(default_factory=list)              # regenerated lines the release lacks
    how: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "release_lines": list(self.release_lines), "diff": self.text}
        if self.how:
            d["how"] = self.how
        return d


@dataclass
class FileResult:
    path: str
    status: str
    reason: str = ""
    toolchain: str = ""
    size: int = 0
    hunks: list[Hunk] = field(default_factory=list)
    unverified_inputs: list[str] = field(default_factory=list)
    unverified_bytes: int = 0       # reproduced-unverified: bytes only the unverified inputs explain
    risk: list[dict[str, Any]] = field(default_factory=list)
    unobtainable: bool = False      # not-reproducible because its generator's version can be had nowhere

    def unexplained(self) -> list[Hunk]:
        return [h for h in self.hunks if h.kind == "unexplained"]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.status}
        if self.reason:
            d["reason"] = self.reason
        if self.toolchain:
            d["toolchain"] = self.toolchain
        if self.unverified_inputs:
            d["unverified_inputs"] = self.unverified_inputs
            d["unverified_bytes"] = self.unverified_bytes
        if self.unobtainable:
            d["unobtainable"] = True
        if self.hunks:
            d["hunks"] = {k: sum(1 for h in self.hunks if h.kind == k) for k in ("stamp", "toolchain", "unexplained")}
            toolchain = [{"release_lines": list(h.release_lines), "how": h.how} for h in self.hunks if h.kind == "toolchain"]
            if toolchain:   # which documented difference or other published autoconf explains each
                d["toolchain_hunks"] = toolchain[:20]
        return d


@dataclass
class Regeneration:
    mode: str
    status: str = "skipped"         # done | unavailable | failed | skipped
    reason: str = ""
    files: dict[str, FileResult] = field(default_factory=dict)
    inputs: list[Input] = field(default_factory=list)
    toolchains: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False
    partial: dict[str, Any] = field(default_factory=dict)   # a partial chain: missing tools, steps run and not

    def counts(self) -> dict[str, int]:
        out = {REPRODUCED: 0, DIFFERS: 0, UNVERIFIED: 0, NOT_REPRODUCIBLE: 0}
        for r in self.files.values():
            out[r.status] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        """Everything, for the result cache (:meth:`from_dict`)."""
        import dataclasses
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Regeneration":
        files = {}
        for path, f in d["files"].items():
            hunks = [Hunk(h["kind"], h["text"], tuple(h["release_lines"]), [tuple(a) for a in h["added"]],  # type: ignore[misc]
                          h["removed"], h["how"]) for h in f.pop("hunks")]
            files[path] = FileResult(**f, hunks=hunks)
        return cls(**{**d, "files": files, "inputs": [Input(**i) for i in d["inputs"]]})

    def to_dict(self) -> dict[str, Any]:
        by_origin: dict[str, int] = {}
        for i in self.inputs:
            by_origin[i.origin] = by_origin.get(i.origin, 0) + 1
        return {"mode": self.mode, "status": self.status, "reason": self.reason, "versions": self.versions,
                "toolchains": self.toolchains, "counts": self.counts(), "inputs": by_origin,
                "substituted": [i.to_dict() for i in self.inputs if i.origin == "substituted"],
                "unverified": [i.to_dict() for i in self.inputs if i.origin == "unverified"],
                "steps": self.steps, "seconds": round(self.seconds, 3), "cached": self.cached,
                "chain": "partial" if self.partial else "full" if self.status in ("done", "failed") else "none",
                **({"partial": self.partial} if self.partial else {})}


# -- trusted inputs ----------------------------------------------------------------------------

@dataclass
class Trees:
    """What regeneration reads: the release's and the tag's files (paths relative to the
    top directory) and how to classify a release-only file."""
    release: Mapping[str, Callable[[], bytes]]
    source: Mapping[str, Callable[[], bytes | None]]
    recognised: Callable[[str], bool]           # a release-only file some knowledge explains
    db: M4Database
    closest: Callable[[str, bytes], tuple[str | None, str | None]]   # (text, origin) of the nearest published copy
    commit: str = ""                            # the tag's full commit id (m4_esyscmd of git writes it)
    git: Path | None = None                     # the source repository's git directory (full history), if any


@functools.lru_cache(maxsize=2048)  # inputs are hashed for the records and again for the cache key
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text(data: bytes) -> str:
    return data.decode("latin-1")


def configure_ac(files: Mapping[str, Any]) -> str | None:
    for name in ("configure.ac", "configure.in"):
        if name in files:
            return name
    return None


_MACRO_DIR = re.compile(r"AC_CONFIG_MACRO_DIRS?\(\s*\[?([^\])]+)\]?\s*\)")
_HEADERS = re.compile(r"A[CM]_CONFIG_HEADERS?\(\s*\[?([^\],)]+)")
_ACLOCAL_FLAGS = re.compile(r"^ACLOCAL_AMFLAGS\s*=\s*(.*(?:\\\n.*)*)", re.M)
_AUTOMAKE = re.compile(r"\bAM_INIT_AUTOMAKE\b")
_SAFE_DIR = re.compile(r"^[\w.+-]+(?:/[\w.+-]+)*$")
_SUBDIRS = re.compile(r"AC_CONFIG_SUBDIRS\(\s*\[?([^\])]+)\]?\s*\)")
MAX_DEPTH = 2     # sub-packages of sub-packages, and no deeper


def macro_dirs(ac: str, top_am: str, base: str = "") -> list[str]:
    """The -I directories aclocal gets: AC_CONFIG_MACRO_DIR(S) and ACLOCAL_AMFLAGS (as autoreconf);
    for a sub-package in ``base`` (``test/``), ones that leave it but stay in the tree (``../m4``)."""
    dirs: list[str] = []
    m = _ACLOCAL_FLAGS.search(top_am)
    if m:
        words = m.group(1).replace("\\\n", " ").split()
        dirs += [words[i + 1] for i, w in enumerate(words[:-1]) if w == "-I"]
        dirs += [w[2:] for w in words if w.startswith("-I") and len(w) > 2]
    for m in _MACRO_DIR.finditer(ac):
        dirs += m.group(1).split()
    out = []
    for d in dirs:
        d = d.strip().rstrip("/")
        if d in out:
            continue
        if _SAFE_DIR.match(d) and not d.startswith("..") and "/../" not in d:
            out.append(d)
        elif base and _SAFE_DIR.match(posixpath.normpath(base + d)) and not posixpath.normpath(base + d).startswith(
                ".."):
            out.append(d)
    return out


def header_templates(ac: str) -> list[str]:
    out = []
    for m in _HEADERS.finditer(ac):
        for word in m.group(1).split():
            target, _, template = word.partition(":")
            out.append(template or f"{target}.in")
    return out


def outputs_of(files: Iterable[str], ac: str, tree: Iterable[str]) -> set[str]:
    """The release paths the chain writes (never taken from the release as inputs)."""
    have = set(tree)
    out = {"configure", "aclocal.m4"} | set(header_templates(ac))
    out |= {p for p in files if p.endswith("Makefile.in") and p[:-3] + ".am" in have}
    out |= {p for p in files if p.endswith(".gmo") and p[:-4] + ".po" in have}
    return out


def subpackages(ac: str, tree: Iterable[str], prefix: str = "") -> list[str]:
    """The ``AC_CONFIG_SUBDIRS`` directories (relative to the package in ``prefix``) that hold a
    configure.ac of their own."""
    have = set(tree)
    out: list[str] = []
    for m in _SUBDIRS.finditer(ac):
        for d in m.group(1).split():
            d = d.strip().rstrip("/")
            if (_SAFE_DIR.match(d) and not d.startswith("..") and "/../" not in d and d not in out
                    and configure_ac({p[len(prefix + d) + 1:] for p in have if p.startswith(prefix + d + "/")})):
                out.append(d)
    return out


def _view(files: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {p[len(prefix):]: v for p, v in files.items() if p.startswith(prefix)} if prefix else dict(files)


def package_outputs(release: Mapping[str, Any], read_ac: Callable[[str], str], tree: Iterable[str],
                    prefix: str = "", depth: int = 0) -> set[str]:
    """The outputs of the package in ``prefix`` and of its sub-packages (``read_ac(path)``: the
    text of a configure.ac)."""
    tree = set(tree)
    inside = {p[len(prefix):] for p in tree if p.startswith(prefix)}
    name = configure_ac(inside)
    ac = read_ac(prefix + name) if name else ""
    out = {prefix + p for p in outputs_of(_view(release, prefix), ac, inside)}
    if depth < MAX_DEPTH:
        for d in subpackages(ac, tree, prefix):
            out |= package_outputs(release, read_ac, tree, f"{prefix}{d}/", depth + 1)
    return out


def assemble(trees: Trees) -> tuple[dict[str, bytes], list[Input], dict[str, bytes | None]]:
    """The input tree {path: bytes}, how each file was admitted, and for every unverified
    input its trusted alternative (the nearest published copy, the tag's copy, or None: left
    out), with which the chain runs a second time to tell which output lines the unverified
    inputs contributed."""
    from .compare import matcher
    files: dict[str, bytes] = {}
    inputs: list[Input] = []
    alternatives: dict[str, bytes | None] = {}
    for path, read in trees.source.items():
        data = read()
        if data is None:
            continue
        files[path] = data
    ac_name = configure_ac(files) or configure_ac(trees.release)
    ac = _text(files.get(ac_name, b"")) if ac_name else ""
    outputs = package_outputs(trees.release, lambda p: _text(files[p] if p in files else trees.release[p]()),
                              set(files) | set(trees.release))
    for path in sorted(trees.release):
        if path in outputs and path not in files:
            continue
        name = posixpath.basename(path)
        m4, aux = name.endswith(".m4"), is_aux(name)
        if path.endswith(".pot") and path not in files:  # msgmerge --for-msgfmt's template (xgettext at release)
            data = trees.release[path]()
            files[path], alternatives[path] = data, None
            inputs.append(Input(path, "unverified", _sha(data), how="translation template made at release time"))
            continue
        if path.endswith(".po"):  # msgfmt's input: the release's catalog source
            data = trees.release[path]()
            if files.get(path) not in (None, data):
                alternatives[path] = files[path]
                files[path] = data
                inputs.append(Input(path, "unverified", _sha(data), how="the release's translation differs from the "
                                    "tag's (msgmerge at release time); the tag's is the trusted alternative"))
                continue
            if path not in files:
                alternatives[path] = None
                files[path] = data
                inputs.append(Input(path, "unverified", _sha(data), how="translation only in the release"))
                continue
        if path in files:
            if m4 or aux:  # a tag copy refreshed at release by libtoolize/gnulib-tool: the published copy wins
                data = trees.release[path]()
                if data != files[path] and trees.db.judge(name, data).status in ("exact", "normalised"):
                    files[path] = data
                    inputs.append(Input(path, "published", _sha(data), how=trees.db.judge(name, data).origin or ""))
                    continue
            inputs.append(Input(path, "tag", _sha(files[path])))
            continue
        if "/" not in path and re.search(rf"(?<![\w.-]){re.escape(path)}(?![\w.-])", ac):
            data = trees.release[path]()
            if _VERSION_STAMP.fullmatch(data):  # one version literal that configure.ac reads (m4_esyscmd)
                files[path] = data
                inputs.append(Input(path, "stamp", _sha(data), how="a version literal configure.ac reads"))
                continue
        if path.endswith(".am") and len(trees.release[path]()) <= MAX_INPUT:
            # an automake input a release script wrote (strace's bootstrap: src/mpers.am, tests-m32/Makefile.am):
            # used, but what it contributes stays unverified, and without it the trusted run has nothing
            data = trees.release[path]()
            files[path], alternatives[path] = data, None
            inputs.append(Input(path, "unverified", _sha(data), how="an automake input only in the release"))
            continue
        if not (m4 or aux or GETTEXT_INFRA.search(path) or name in PRESENCE_NAMES or trees.recognised(path)):
            continue  # unexplained: never an input
        data = trees.release[path]()
        if len(data) > MAX_INPUT:
            continue
        verdict = trees.db.judge(name, data) if (m4 or aux) else None
        if verdict is not None and verdict.status in ("exact", "normalised"):
            files[path] = data
            inputs.append(Input(path, "published", _sha(data), how=verdict.origin or ""))
        elif m4 and verdict is not None and verdict.status in ("serial-mismatch", "serial-inflated"):
            flavoured = published_with_flavours(trees.db, name, data, matcher) if verdict.status == "serial-mismatch" \
                else None
            if flavoured:  # a published copy with a distribution's published patches (flavours.py)
                files[path] = data
                inputs.append(Input(path, "published", _sha(data), how=flavoured))
                continue
            # claims a published serial (or one above all): it must be a published copy, so the closest is used
            text, origin = trees.closest(name, data)
            if text is None:
                files[path], alternatives[path] = data, None
                inputs.append(Input(path, "unverified", _sha(data), how="published name, no text to substitute"))
                continue
            files[path] = text.encode("utf-8", "surrogateescape")
            inputs.append(Input(path, "substituted", _sha(data), how=f"replaced by {origin} (serial {verdict.serial} "
                                f"in the release: {verdict.status})", diff=_diff(text, _text(data), origin, path)))
        elif m4:  # a serial no archive published (or an unknown name): used, but what it contributes stays unverified
            text, origin = trees.closest(name, data) if verdict is not None and verdict.status != "unknown" else (None, None)
            files[path] = data
            alternatives[path] = text.encode("utf-8", "surrogateescape") if text is not None else None
            inputs.append(Input(path, "unverified", _sha(data),
                                how=f"serial {verdict.serial} is not published; nearest: {origin}" if text is not None
                                else "no published copy of this name",
                                diff=_diff(text, _text(data), origin, path) if text is not None else ""))
        elif data.strip():  # build-aux scripts, gettext infrastructure, docs: generators only test they exist
            files[path] = b""
            inputs.append(Input(path, "stand-in", _sha(data), how="an empty file: generators only test existence"))
        else:
            files[path] = b""
            inputs.append(Input(path, "tag" if path in trees.source else "stand-in", _sha(data)))
    if "aclocal.m4" in trees.release and ac:
        for name, data, how in embedded_macros(_text(trees.release["aclocal.m4"]()), trees.db):
            path = f"{ACLOCAL_DIR}/{name}"
            files[path] = data
            inputs.append(Input(path, "published", _sha(data), how=how))
    return files, inputs, alternatives


# a release-only version file (opus' package_version, gnulib's .tarball-version): nothing but a version
_VERSION_STAMP = re.compile(rb"(?:[A-Z_]+=)?([\"']?)v?\d+(?:\.\d+)+[\w.+~-]*\1\n?")
ACLOCAL_DIR = ".provcheck-aclocal"   # in the work tree, named by ACLOCAL_PATH: after -I, before the system's
_EMBEDDED_HEAD = re.compile(r"^#\s+(?:serial\s+(\d+)\s+)?([\w~+-]+(?:\.[\w~+-]+)*\.m4)\b(?:\s+serial\s+(\d+))?"
                            # autoconf-archive's files start with their page: "# https://.../ax_pthread.html"
                            r"|^#\s+https?://www\.gnu\.org/software/autoconf-archive/()(\w+)\.html$", re.M)
_SERIAL_LINE = re.compile(r"^#\s*serial\s+(\d+)", re.M)


def embedded_macros(aclocal: str, db: M4Database) -> list[tuple[str, bytes, str]]:
    """The third-party macro files a release's aclocal.m4 embeds (``# pkg.m4 - ...`` then
    ``# serial 12``; aclocal ``m4_include``s what it takes from the tree's -I directories, so an
    embedded copy came from the maker's system, even beside a tree copy of that name whose
    macros are fewer: util-linux's ``m4/pkg.m4``), each as the published copy of that name and
    serial (the one aclocal.m4 carries verbatim, less its ``##`` lines, when the database has it):
    aclocal then embeds the same serial as the release's did instead of the system's. (name,
    bytes, how) each."""
    out: list[tuple[str, bytes, str]] = []
    seen: set[str] = set()
    lines = set(aclocal.split("\n"))
    for m in _EMBEDDED_HEAD.finditer(aclocal):
        # "# serial 12 pkg.m4", "# intlmacosx.m4 serial 5", or an autoconf-archive page (its "#serial 31" below)
        name, serial = m.group(2) or f"{m.group(5)}.m4", m.group(1) or m.group(3)
        if name in seen or name == "aclocal.m4" or not db.files.get(name):
            continue
        if serial is None:
            nxt = _SERIAL_LINE.search(aclocal, m.end(), m.end() + (8000 if m.group(5) else 4000))
            serial = nxt.group(1) if nxt else None
        candidates = db.same_serial(name, serial)
        if not candidates:
            continue
        seen.add(name)
        best = None
        for e in candidates:
            text = db.text(e)
            if text is None:
                continue
            body = "\n".join(line for line in text.split("\n") if not line.startswith("##"))
            # the copy aclocal.m4 carries verbatim, else the one sharing most lines with it (pkg-config's
            # and pkgconf's pkg.m4 both say serial 12; a non-ASCII byte may keep either from being verbatim)
            score = (0, 0) if body.strip() and body.strip() in aclocal else (1, -len(set(body.split("\n")) & lines))
            if best is None or score < best[0]:
                best = (score, e, text)
        if best is None:
            continue
        score, e, text = best
        out.append((name, text.encode("utf-8", "surrogateescape"),
                    f"embedded in the release's aclocal.m4 at serial {serial}: {e['origin']}"
                    + ("" if score == (0, 0) else " (closest published copy of that serial)")))
    return out


def _diff(a: str, b: str, origin: str | None, path: str) -> str:
    from .compare import unified
    text, _ = unified(path, a.splitlines(), b.splitlines(), fa=f"{origin or 'published'}/{posixpath.basename(path)}")
    return text


# -- the chain -----------------------------------------------------------------------------------

@dataclass
class Chain:
    """What to run, in order, in one tree."""
    steps: list[tuple[str, list[str]]]          # (name, argv)
    tools: list[str]                            # toolchain tools needed
    gmo: list[str]                              # .gmo files to build with msgfmt


def plan(top_files: Mapping[str, bytes], top_release: Mapping[str, Callable[[], bytes]], prefix: str = "",
         depth: int = 0, include: Callable[[str], bool] = lambda d: True) -> Chain | None:
    """The chain of the package in ``prefix`` (paths of ``top_files``/``top_release`` are relative
    to the top directory), followed by the chains of its ``AC_CONFIG_SUBDIRS`` sub-packages that
    ``include`` admits, each run in its directory (their steps are named ``DIR/STEP``)."""
    files, release_files = _view(top_files, prefix), _view(top_release, prefix)
    ac_name = configure_ac(files)
    if ac_name is None:
        return None
    release = set(release_files)
    ac = _text(files[ac_name])
    top_am = _text(files.get("Makefile.am", b""))
    steps: list[tuple[str, list[str]]] = []
    tools = ["autoconf"]
    aclocal_in_tag = "aclocal.m4" in files and b"generated automatically by aclocal" not in files["aclocal.m4"][:4096]
    makefiles_in = sorted(p for p in release if p.endswith("Makefile.in") and p[:-3] + ".am" in files)
    # AM_INIT_AUTOMAKE, or a wrapper of it (curl's XC_AUTOMAKE): the release's Makefile.in say automake wrote them
    automake = bool(_AUTOMAKE.search(ac)) or any(
        b"generated by automake" in release_files[p]()[:512] for p in makefiles_in[:3])
    if "aclocal.m4" in release and not aclocal_in_tag:
        argv = ["aclocal"]
        if any(p.startswith(ACLOCAL_DIR + "/") for p in files):
            argv = ["env", f"ACLOCAL_PATH={ACLOCAL_DIR}", "aclocal"]
        for d in macro_dirs(ac, top_am, prefix):
            if any(p.startswith(posixpath.normpath(prefix + d) + "/") for p in top_files):
                argv += ["-I", d]
        steps.append(("aclocal", argv))
        tools.append("automake")
    if "configure" in release:
        steps.append(("autoconf", ["autoconf"]))
    if any(t in release for t in header_templates(ac)):
        steps.append(("autoheader", ["autoheader"]))
    if automake and makefiles_in:
        steps.append(("automake", ["automake", "--add-missing", "--copy",
                                   *strictness(top_am, makefiles_in, release_files)]))
        if "automake" not in tools:
            tools.append("automake")
    gmo = sorted(p for p in release if p.endswith(".gmo") and p[:-4] + ".po" in files and _SAFE_DIR.match(p))
    if gmo:
        steps.append(("msgfmt", ["sh", "-c", catalog_script(gmo, files, release_files)]))
    if prefix:   # a sub-package: each step in its directory
        steps = [(f"{prefix}{name}", ["sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", prefix, *argv])
                 for name, argv in steps]
        gmo = [prefix + g for g in gmo]
    if depth < MAX_DEPTH:
        for d in subpackages(ac, top_files, prefix):
            sub = plan(top_files, top_release, f"{prefix}{d}/", depth + 1, include) if include(prefix + d) else None
            if sub is not None:
                steps += sub.steps
                tools += [t for t in sub.tools if t not in tools]
                gmo += sub.gmo
    if not steps:
        return None
    return Chain(steps, tools, gmo)


def step_kind(name: str) -> str:
    """``test/aclocal`` -> ``aclocal``."""
    return name.rsplit("/", 1)[-1]


AUTOMAKE_STEPS = ("aclocal", "automake")     # what a chain without automake cannot run


def partial_plan(chain: Chain, missing: Mapping[str, str]) -> Chain | None:
    """The part of ``chain`` that runs without the ``missing`` tools (only automake may be
    missing: aclocal and automake are its programs); None when nothing is left."""
    if set(missing) - {"automake"}:
        return None
    steps = [(name, argv) for name, argv in chain.steps if step_kind(name) not in AUTOMAKE_STEPS]
    if not any(step_kind(name) in ("autoconf", "autoheader") for name, _ in steps):
        return None
    return Chain(steps, [t for t in chain.tools if t not in missing], chain.gmo)


_REBUILD_STRICTNESS = re.compile(rb"\$\(AUTOMAKE\) --(foreign|gnits|gnu) [\w./+-]+/Makefile\b")
_AUTOMAKE_OPTIONS = re.compile(r"^AUTOMAKE_OPTIONS\s*\+?=(.*)$", re.M)


def strictness(top_am: str, makefiles_in: list[str], release_files: Mapping[str, Callable[[], bytes]]) -> list[str]:
    """``--foreign``/``--gnits`` when the release was made that way: ``make dist`` re-runs automake
    through the top ``am--refresh`` rule as ``$(AUTOMAKE) --foreign``, which writes that
    strictness into every sub-directory's rebuild rule; plain automake writes ``--gnu`` there.
    Taken when a sub-directory Makefile.in of the release says so and the tag's top
    Makefile.am's AUTOMAKE_OPTIONS names the same strictness."""
    options = " ".join(m.group(1) for m in _AUTOMAKE_OPTIONS.finditer(top_am)).split()
    for p in makefiles_in:
        if "/" not in p:
            continue
        m = _REBUILD_STRICTNESS.search(release_files[p]()[:1 << 20])
        if m:
            word = m.group(1).decode()
            return [f"--{word}"] if word in options and word != "gnu" else []
    return []


_WORD = re.compile(r"^--?[\w-]+(?:=[\w:,.%/+-]*)?$")


def _xgettext(d: str, pot: str, files: Mapping[str, bytes]) -> str | None:
    """gettext's ``DOMAIN.pot-update`` for the trusted run: xgettext over the tag's
    ``POTFILES.in`` with ``XGETTEXT_OPTIONS`` from the tag's ``Makevars`` (plain options only)."""
    makevars, potfiles = files.get(f"{d}/Makevars"), f"{d}/POTFILES.in"
    if makevars is None or potfiles not in files or not files[potfiles].strip():
        return None
    options: list[str] = []
    for m in re.finditer(r"^XGETTEXT_OPTIONS\s*\+?=(.*(?:\\\n.*)*)", _text(makevars), re.M):
        options += [w for w in m.group(1).replace("\\\n", " ").split() if _WORD.match(w)]
    domain = posixpath.basename(pot)[:-4]
    if not re.fullmatch(r"[\w.+-]+", domain):
        return None
    up = "/".join([".."] * (d.count("/") + 1)) if d else "."
    return (f"(cd '{d or '.'}' && xgettext --default-domain={domain} --directory={up} --add-comments=TRANSLATORS: "
            f"--files-from=POTFILES.in {' '.join(options)} -o '{posixpath.basename(pot)}')")


def catalog_script(gmo: list[str], files: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]]) -> str:
    """One shell script (ours; the catalogs are the artifact's) building every ``.gmo`` as
    gettext's ``po/Makefile.in.in`` does: through ``msgmerge --for-msgfmt`` with the domain's
    ``.pot`` when the release's Makefile.in.in does so (gettext >= 0.19.8), else msgfmt alone."""
    lines = []
    for path in gmo:
        po, d = path[:-4] + ".po", posixpath.dirname(path)
        pots = sorted(p for p in files if p.endswith(".pot") and posixpath.dirname(p) == d and _SAFE_DIR.match(p))
        makefile = f"{d}/Makefile.in.in" if d else "Makefile.in.in"
        text = release[makefile]() if makefile in release else b""
        merge = b"--for-msgfmt" in text or b"MSGMERGE_FOR_MSGFMT_OPTION" in text
        pot = pots[0] if pots else None
        if merge and pot is None:  # the release has none: the trusted run makes it as `make DOMAIN.pot-update` does
            pot = next((p for p in release if p.endswith(".pot") and posixpath.dirname(p) == d and _SAFE_DIR.match(p)),
                       None)
        if merge and pot:
            xgettext = _xgettext(d, pot, files)
            if xgettext:
                lines.append(f"test -f '{pot}' || {xgettext}")
            lines.append(f"msgmerge --for-msgfmt -o '{po}.1po' '{po}' '{pot}' && msgfmt -c -o '{path}' '{po}.1po'; "
                         f"rm -f '{po}.1po'")
        else:
            lines.append(f"msgfmt -c -o '{path}' '{po}'")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """Every module of this plugin (the code that decides results): part of every cache key, so
    an upgraded provcheck never serves an older version's result."""
    h = hashlib.sha256(CHAIN_VERSION.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _cache_key(files: Mapping[str, bytes], flavours: Iterable[str], chain: Chain) -> str:
    h = hashlib.sha256(f"provcheck-regenerate/{code_digest()}\0".encode())
    for path in sorted(files):
        h.update(f"{path}\0{_sha(files[path])}\0".encode("utf-8", "surrogateescape"))
    h.update(json.dumps([list(flavours), chain.steps, chain.gmo]).encode())
    return h.hexdigest()


class Cache:
    """Regenerated outputs and results in provcheck's one cache (``provcheck.Cache``, None when
    caching is off): one JSON entry per (inputs, toolchains) record in ``release-<kind>``, the
    outputs content-addressed in ``release-outputs``. Every read is verified (digests), writes
    are atomic and LRU-bounded with the rest of the cache."""

    def __init__(self, store: Any = None):
        self.store = store

    def get(self, key: str, kind: str = "runs") -> dict[str, Any] | None:
        if self.store is None:
            return None
        try:
            got = self.store.get_json(f"release-{kind}", key)
        except ValueError:
            return None
        return got if isinstance(got, dict) else None

    def blob(self, sha: str) -> bytes | None:
        if self.store is None:
            return None
        data = self.store.get("release-outputs", sha)
        return data if data is not None and _sha(data) == sha else None

    def put(self, key: str, record: dict[str, Any], outputs: Mapping[str, bytes], kind: str = "runs") -> None:
        if self.store is None:
            return
        try:
            for data in outputs.values():
                sha = _sha(data)
                if not self.store.has("release-outputs", sha):
                    self.store.put("release-outputs", sha, data)
            self.store.put_json(f"release-{kind}", key, record)
        except OSError:
            pass  # a cache that cannot be written only makes the next run slower


def _asks_git(files: Mapping[str, bytes]) -> bool:
    """Whether a ``configure.ac`` of the inputs runs git at autoconf time (tagrepo.generators_ask_git)."""
    from . import tagrepo
    for path, data in files.items():
        if posixpath.basename(path) in ("configure.ac", "configure.in"):
            top = posixpath.dirname(path)
            if tagrepo.generators_ask_git(data, lambda p, top=top: files.get(posixpath.join(top, p))):
                return True
    return False


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _materialise(files: Mapping[str, bytes], root: Path) -> None:
    for path, data in files.items():
        target = root / path
        if not target.resolve().is_relative_to(root.resolve()):
            continue  # assemble() only takes tree paths; a crafted one is not written outside
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if data[:2] == b"#!":  # the mapping has no modes: scripts are executable, as git keeps them
            target.chmod(0o755)


def _run_chain(chain: Chain, files: Mapping[str, bytes], workdir: Path, binds: Any, env: Mapping[str, str],
               limits: Any, git: tuple[Path, str, bytes] | None = None
               ) -> tuple[dict[str, bytes], list[dict[str, Any]], str | None]:
    """Run the steps in a fresh copy of the inputs; (files the steps wrote or changed, step records,
    failure).
    ``git``: (git directory, commit, tags): the tree gets the tag's history (tagrepo.py)."""
    from provcheck import sandbox
    from . import tagrepo
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    _materialise(files, workdir)
    env = {"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "TZ": "UTC", **env}
    if git is not None:
        tagrepo.fake_git(workdir, git[1], git[2])
        binds = (*binds, (git[0] / "objects", tagrepo.WORK_GIT))
        env = {**env, **tagrepo.GIT_ENV}
    records: list[dict[str, Any]] = []
    failure = None
    unfinished: set[str] = set()   # what a failed step wrote: never compared (autoconf writes before it fails)
    written: set[str] = set()      # what the steps wrote, also byte for byte the input (a committed configure)
    for name, argv in chain.steps:
        before = _states(workdir)
        res = sandbox.run(argv, workdir=workdir, binds=binds, env=env, limits=limits)
        records.append(_step_record(name, res))
        changed = {rel for rel, state in _states(workdir).items() if before.get(rel) != state}
        if step_kind(name) == "msgfmt" and not res.killed:
            written |= changed
            continue  # a catalog that does not compile is missing from the outputs, and reported there
        if res.killed or res.returncode != 0:
            failure = f"{name} " + (f"killed ({res.killed})" if res.killed else f"exited {res.returncode}") + \
                      f": {_tail(res.stderr)}"
            unfinished = changed
            break
        written |= changed
    produced: dict[str, bytes] = {}
    for dirpath, _dirs, names in os.walk(workdir):
        for n in names:
            p = Path(dirpath) / n
            if p.is_symlink() or not p.is_file():
                continue
            rel = p.relative_to(workdir).as_posix()
            if rel.startswith(("autom4te.cache/", ".git/")) or rel in unfinished:
                continue
            data = p.read_bytes()
            if files.get(rel) != data or rel in written:
                produced[rel] = data
    shutil.rmtree(workdir, ignore_errors=True)
    return produced, records, failure


def _states(root: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, size, mtime) of every file under ``root``: what a step changed."""
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            out[os.path.relpath(os.path.join(dirpath, n), root)] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def _tail(data: bytes, n: int = 400) -> str:
    text = data.decode("utf-8", "replace").strip()
    return text[-n:]


def _step_record(name: str, res: Any) -> dict[str, Any]:
    return {"step": name, "argv": list(res.argv), "returncode": res.returncode, "killed": res.killed,
            "seconds": round(res.seconds, 3), "stderr": _tail(res.stderr, 2000)}


NOT_WRITTEN = "no step of the chain wrote it"   # a verdict a documentation job that writes the file replaces


# -- comparison ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KnownDifference:
    """A documented difference a toolchain flavour makes (``[[regeneration.known-differences]]``)."""
    files: tuple[re.Pattern, ...]
    lines: tuple[re.Pattern, ...]     # every changed line matches one of these (full match, stripped)
    variable: str | None              # or: every changed line lies in this make variable and names files only
    how: str
    stamp: str | None = None          # or: each changed release line is the regenerated one with this value added
    hunks: tuple["FlavourHunk", ...] = ()  # or: each changed line lies where one of these patches fits
    when: tuple[str, str] | None = None   # only for a release whose files name this (tool, version)

    def applies(self, path: str) -> bool:
        return any(rx.match(path) for rx in self.files)


_FILE_WORDS = re.compile(r"^[\w./@$(){}+-]+(?:\s+[\w./@$(){}+-]+)*(?:\s*\\)?$")


def _in_variable(lines: list[str], index: int, variable: str) -> bool:
    """Whether line ``index`` belongs to the assignment of make variable ``variable``."""
    head = re.compile(rf"^{re.escape(variable)}\s*[+:]?=")
    i = index
    while i >= 0:
        if head.match(lines[i]):
            return True
        if i < index and not lines[i].endswith("\\"):
            return False
        i -= 1
    return False


def classify(path: str, regen: list[str], rel: list[str], op_groups: list[list[tuple[str, int, int, int, int]]],
             known: list[KnownDifference]) -> list[Hunk]:
    from .compare import is_stamp_pair, same_but_vcs_keywords
    hunks = []
    for group in op_groups:
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        text = [f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@"]
        added: list[tuple[int, str]] = []
        removed: list[str] = []
        pairs_ok = True
        for op, a1, a2, b1, b2 in group:
            if op == "equal":
                text += [" " + x for x in regen[a1:a2]]
                continue
            text += ["-" + x for x in regen[a1:a2]] + ["+" + y for y in rel[b1:b2]]
            removed += regen[a1:a2]
            added += [(j + 1, rel[j]) for j in range(b1, b2)]
            old = [x for x in regen[a1:a2] if x.strip()]
            new = [y for y in rel[b1:b2] if y.strip()]
            if len(old) != len(new) or any(not is_stamp_pair(x, y) and not _invocation_paths(x, y)
                                           and not same_but_vcs_keywords(x, y)
                                           for x, y in zip(old, new)):
                pairs_ok = False
        changed_rel = [j for op, a1, a2, b1, b2 in group if op != "equal" for j in range(b1, b2)]
        span = (min(changed_rel) + 1, max(changed_rel) + 1) if changed_rel else (j1 + 1, j1 + 1)
        hunk = Hunk("unexplained", "\n".join(text), span, added, removed)
        if pairs_ok and (added or removed) and len(added) <= 20:
            hunk.kind, hunk.how = "stamp", "version/date stamp"
        elif (added or removed) and all(_LINE_DIRECTIVE.match(x) for x in [*removed, *(t for _, t in added)]
                                        if x.strip()):
            hunk.kind, hunk.how = "toolchain", "#line directives only: the generator build's line numbering"
        else:
            for k in known:
                if k.applies(path) and _known(k, group, regen, rel):
                    hunk.kind, hunk.how = "toolchain", k.how
                    break
        hunks.append(hunk)
    return hunks


_COMMENT = re.compile(r"^\s*(?:/\*|\*(?=\s|/|$)|//|#|dnl\b)")   # not a shell case arm's "*)"
# ./ of a relative path, or the system directory of a program configure found (AC_PATH_PROG: /usr/bin/gperf)
_INVOKED = re.compile(r"(?<![\w./-])(?:\./|(?:/usr(?:/local)?)?/s?bin/(?=[\w.+-]+\s))")
_LINE_DIRECTIVE = re.compile(r'^#line \d+ "[^"\n]*"$')


def _invocation_paths(x: str, y: str) -> bool:
    """Two comment lines that differ only in how the generator was invoked (strace's ``Generated by
    ./gen_bpf_attr_check.sh from ./bpf_attr.h`` when make's ``$<`` kept the ``./``; tinyproxy's
    ``Command-line: /usr/bin/gperf conf-tokens.gperf`` from configure's path to gperf): a stamp."""
    return bool(_COMMENT.match(x) and _COMMENT.match(y)) and _INVOKED.sub("", x) == _INVOKED.sub("", y)


def _known(k: KnownDifference, group: list[tuple[str, int, int, int, int]], regen: list[str], rel: list[str]) -> bool:
    changed = [(regen, i) for op, a1, a2, b1, b2 in group if op != "equal" for i in range(a1, a2)] + \
              [(rel, j) for op, a1, a2, b1, b2 in group if op != "equal" for j in range(b1, b2)]
    if not changed:
        return False
    if k.stamp:
        # (blank lines aside: the command's output ends in a newline)
        old = [regen[i] for op, a1, a2, b1, b2 in group if op != "equal" for i in range(a1, a2) if regen[i].strip()]
        new = [rel[j] for op, a1, a2, b1, b2 in group if op != "equal" for j in range(b1, b2) if rel[j].strip()]
        return bool(old) and len(old) == len(new) and all(
            y != x and y.replace(k.stamp, "", 1) == x for x, y in zip(old, new))
    if k.hunks:
        return _in_patches(k.hunks, group, regen, rel)
    if k.variable:
        return all(_in_variable(side, i, k.variable) and
                   (_FILE_WORDS.match(side[i].strip()) or re.match(rf"^{re.escape(k.variable)}\s*[+:]?=", side[i]))
                   for side, i in changed)
    return bool(k.lines) and all(any(rx.fullmatch(side[i].strip()) for rx in k.lines) for side, i in changed)


def _in_patches(patches: tuple[FlavourHunk, ...], group: list[tuple[str, int, int, int, int]], regen: list[str],
                rel: list[str]) -> bool:
    """Whether every change of ``group`` lies where one of ``patches`` fits: its old lines
    (context included) around the regenerated lines it removes, its new lines around the
    release lines it adds, the two places overlapping the group."""
    lo_a, hi_a = group[0][1], group[-1][2]
    lo_b, hi_b = group[0][3], group[-1][4]
    old_left = {i for op, a1, a2, b1, b2 in group if op != "equal" for i in range(a1, a2)}
    new_left = {j for op, a1, a2, b1, b2 in group if op != "equal" for j in range(b1, b2)}
    for h in patches:
        a = find_block(regen, h.old, max(lo_a - len(h.old), 0))
        b = find_block(rel, h.new, max(lo_b - len(h.new), 0))
        if a < 0 or b < 0 or a > hi_a or b > hi_b:
            continue
        old_left -= set(range(a, a + len(h.old)))
        new_left -= set(range(b, b + len(h.new)))
    return not old_left and not new_left


_PO_CONTINUATION = re.compile(rb'"\n(?:#~ |#\| |#~\| )?"')


def po_unwrapped(data: bytes) -> bytes:
    """A PO file with every string's continuation lines joined: gettext releases wrap long
    strings at different places (``msgmerge``'s line width and escape handling), which changes
    no string. Stamps are left for the comparison (``POT-Creation-Date``)."""
    return _PO_CONTINUATION.sub(b"", data)


def compare_output(path: str, regenerated: bytes, release: bytes, known: list[KnownDifference]) -> list[Hunk]:
    from .compare import matcher
    a, b = _text(regenerated).splitlines(), _text(release).splitlines()
    sm = matcher(a, b)
    return classify(path, a, b, list(sm.get_grouped_opcodes(CONTEXT)), known)


def known_differences(systems: Iterable[Mapping[str, Any]]) -> list[KnownDifference]:
    from .knowledge import glob_regex
    out = []
    for table in systems:
        for entry in (table.get("regeneration") or {}).get("known-differences", []):
            out.append(KnownDifference(
                files=tuple(glob_regex(str(p)) for p in entry.get("files", [])),
                lines=tuple(re.compile(str(r)) for r in entry.get("lines", [])),
                variable=entry.get("variable"), how=str(entry.get("how", "")),
                hunks=tuple(parse_hunk(str(h)) for h in entry.get("hunks", [])),
                when=tuple(str(entry["when"]).split(" ", 1)) if entry.get("when") else None))  # type: ignore[arg-type]
    return out


# -- driver ----------------------------------------------------------------------------------------

@dataclass
class Options:
    mode: str = "auto"
    work_dir: Path | None = None
    cache: Cache | None = None      # None: no caching
    toolchain_cache: Path | None = None
    limits: Any = None               # sandbox.SandboxLimits
    download: bool = True            # toolchains of other Debian releases
    max_combinations: int = 4
    other_versions: bool = True      # configure hunks that another published autoconf emits (acversions.py)


def unavailable(mode: str, reason: str, expected: Iterable[str], unobtainable: bool = False) -> Regeneration:
    r = Regeneration(mode, status="unavailable", reason=reason)
    for path in expected:
        r.files[path] = FileResult(path, NOT_REPRODUCIBLE, reason=reason, unobtainable=unobtainable)
    return r


def _release_versions(trees: Trees) -> dict[str, str]:
    """The generator versions the release's top files name (``toolchain.generator_versions``; a
    sub-directory's ``Makefile.in`` when the top has none)."""
    from . import toolchain
    sample = {p: trees.release[p]() for p in ("configure", "aclocal.m4", "Makefile.in") if p in trees.release}
    if "Makefile.in" not in sample:
        mk = next((p for p in sorted(trees.release) if p.endswith("Makefile.in")), None)
        if mk:
            sample[mk] = trees.release[mk]()
    return toolchain.generator_versions(sample)


def regenerate(trees: Trees, options: Options, known: list[KnownDifference]) -> Regeneration | None:
    """The regeneration of a release's autotools outputs; None when there is nothing to regenerate."""
    started = time.monotonic()
    if re.fullmatch(r"[0-9a-f]{40}", trees.commit or ""):
        known = [*known, KnownDifference(files=(re.compile(r".*"),), lines=(), variable=None, stamp=trees.commit,
                                         how=f"the tag's commit id {trees.commit[:12]}, written by m4_esyscmd of git "
                                             "when the release was made (the sandbox tree has no .git)")]
    made_with = _release_versions(trees)
    known = [k for k in known if k.when is None or made_with.get(k.when[0]) == k.when[1]]
    files, inputs, alternatives = assemble(trees)
    apart = _other_generators(trees)   # sub-packages made with other generator versions: {dir: why}
    chain = plan(files, trees.release, include=lambda d: d not in apart)
    if chain is None:
        return None
    expected = sorted(p for p in package_outputs(trees.release, lambda p: _text(files.get(p, b"")),
                                                 set(files) | set(trees.release)) if p in trees.release)

    def give_up(reason: str, unobtainable: bool = True) -> Regeneration:
        r = unavailable(options.mode, reason, expected, unobtainable)
        r.inputs, r.seconds = inputs, time.monotonic() - started
        return r
    # the system's and already downloaded builds first; other Debian builds only when needed
    fetched = not options.download
    resolved: tuple[list[list[Any]], dict[str, str], dict[str, str]] | None = None
    why = ""
    try:
        resolved = _toolchains(trees, chain, options, download=False, optional=AUTOMAKE_TOOLS)
    except RegenerationError as exc:
        why = str(exc)
    if (resolved is None or resolved[2]) and not fetched:
        try:
            resolved = _toolchains(trees, chain, options, download=True, optional=AUTOMAKE_TOOLS)
        except RegenerationError as exc2:
            why = str(exc2)
        fetched = True
    if resolved is None:
        return give_up(why)
    combos, versions, missing = resolved
    partial: dict[str, Any] = {}
    not_run: dict[str, str] = {}      # outputs no step of this chain writes, and why
    for d, why_apart in apart.items():
        for path in expected:
            if path.startswith(d + "/"):
                not_run[path] = why_apart
    checked: dict[str, Any] = {}      # aclocal.AclocalCheck of each release aclocal.m4 a partial chain takes as input
    if missing:
        part = partial_plan(chain, missing)
        if part is None:
            return give_up("; ".join(missing.values()))
        left_out = [name for name, _ in chain.steps if name not in {n for n, _ in part.steps}]
        reason = "; ".join(missing.values())
        partial = {"missing": dict(missing), "ran": [n for n, _ in part.steps], "not_run": left_out}
        for path in expected:
            if path not in not_run and (path.endswith("Makefile.in") or posixpath.basename(path) == "aclocal.m4"):
                not_run[path] = f"{reason} (partial chain: {', '.join(left_out)} not run)"
        chain = part
        for path in expected:
            if posixpath.basename(path) == "aclocal.m4" and path not in files and not any(
                    path.startswith(d + "/") for d in apart):
                checked[path] = _admit_release_aclocal(trees, files, inputs, alternatives, path)
                partial.setdefault("aclocal", {})[path] = checked[path].summary()
    from provcheck import sandbox
    why = sandbox.unavailable_reason()
    if why is not None:
        return give_up(f"sandbox unavailable: {why}", unobtainable=False)
    runner = _Runner(chain, trees, options)
    cache = options.cache or Cache(None)
    # the same chain with every unverified input replaced by its trusted alternative
    trusted_files = {p: d for p, d in files.items() if p not in alternatives}
    trusted_files.update({p: d for p, d in alternatives.items() if d is not None})
    trusted: _Outcome | None = None
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="provcheck-regenerate") as pool:
        runs = [pool.submit(runner.run, files, combo) for combo in combos]
        early = pool.submit(runner.run, trusted_files, combos[0]) if alternatives and len(combos) == 1 else None
        targets = [p for p in expected if p not in not_run]
        scored = [(_score(trees, targets, o.produced, known, cache), o) for o in (r.result() for r in runs)]
        (score, per_file), best = min(scored, key=lambda so: so[0][0])
        if score[0] == 0 and score[1] and not fetched:  # built, but differs: other Debian builds of that version too
            try:
                more, _, _ = _toolchains(trees, chain, options, download=True, optional=AUTOMAKE_TOOLS)
            except RegenerationError:
                more = []
            tried = [[t.flavour for t in c] for c in combos]
            more = [c for c in more if [t.flavour for t in c] not in tried]
            scored += [(_score(trees, targets, o.produced, known, cache), o)
                       for o in pool.map(lambda combo: runner.run(files, combo), more)]
            (score, per_file), best = min(scored, key=lambda so: so[0][0])
        if score[1] and trees.git is not None and _asks_git(files):  # the maker's checkout had the history
            scored.append((_score(trees, targets, (o := runner.run(files, best.combo, True)).produced, known, cache), o))
            (score, per_file), best = min(scored, key=lambda so: so[0][0])
        if alternatives:
            trusted = early.result() if early is not None and best.combo is combos[0] else \
                runner.run(trusted_files, best.combo, best.with_git)
    other_steps: list[dict[str, Any]] = []
    if options.other_versions:
        from . import acversions
        other_steps = acversions.explain(trees, files, chain, best, [o for _, o in scored if o is not best],
                                         per_file, options)
    result = Regeneration(options.mode, inputs=inputs, versions=versions, partial=partial)
    result.toolchains = [f"{t.tool} {t.version} ({t.flavour})" for t in best.combo]
    if best.with_git:
        result.toolchains.append("the tag's git history (configure.ac runs git)")
    result.steps = best.steps + ([{**s, "step": f"{s['step']} (trusted alternatives)"} for s in trusted.steps]
                                 if trusted else []) + other_steps
    result.cached = best.cached and (trusted is None or trusted.cached)
    flavour = ", ".join(result.toolchains)
    unverified = sorted(alternatives)
    for path in expected:
        hunks = per_file.get(path)
        size = len(trees.release[path]())
        if path in checked:
            result.files[path] = _aclocal_result(trees, path, checked[path], known, cache, flavour)
            continue
        if path in not_run and hunks is None:
            result.files[path] = FileResult(path, NOT_REPRODUCIBLE, reason=not_run[path], toolchain=flavour, size=size,
                                            unobtainable=True)
            continue
        if path in trees.source and files.get(path) is not None and files[path] == trees.release[path]():
            # committed in the tag and shipped as committed: what reviewers read, whatever the chain makes of it now
            # (e2fsprogs' stale po/*.gmo)
            result.files[path] = FileResult(path, REPRODUCED, toolchain=flavour, size=size, reason="identical to the "
                                            "tag's committed copy" + ("" if hunks is None or not hunks else
                                                                     "; the chain makes it otherwise today"))
            continue
        if hunks is None:
            result.files[path] = FileResult(path, NOT_REPRODUCIBLE, reason=best.failure or NOT_WRITTEN,
                                            toolchain=flavour, size=size)
            continue
        status = DIFFERS if any(h.kind == "unexplained" for h in hunks) else REPRODUCED
        fr = FileResult(path, status, toolchain=flavour, size=size, hunks=hunks)
        if status == REPRODUCED and trusted is not None:
            data = trusted.produced.get(path)
            rel = trees.release[path]()
            if data != rel:
                extra = ([h for h in _compare(path, data, rel, known, cache) if h.kind == "unexplained"
                          and not _within_explained(h, hunks)] if data is not None else None)
                if extra is None or extra:
                    catalog = path.endswith(".gmo")
                    fr.status = UNVERIFIED
                    fr.unverified_inputs = [p for p in unverified if p.endswith(".po") == catalog and
                                            (not catalog or p == path[:-4] + ".po")] or unverified
                    fr.unverified_bytes = size if extra is None or catalog else min(size, sum(
                        len(t.encode("latin-1", "replace")) + 1 for h in extra for _, t in h.added))
                    fr.hunks = extra or []  # the lines only the unverified inputs explain
                    added = "\n".join(t for h in fr.hunks for _, t in h.added)
                    fr.risk = added_risk(added, unexplained=False)   # an unverified input explains them
        if fr.status == DIFFERS:
            added = "\n".join(t for h in fr.unexplained() for _, t in h.added)
            fr.risk = added_risk(added)
        result.files[path] = fr
    result.status = "failed" if best.failure and not any(
        f.status != NOT_REPRODUCIBLE for f in result.files.values()) else "done"
    result.reason = best.failure or ""
    if partial and not best.failure:
        result.reason = (f"partial chain: {', '.join(partial['ran'])} ran, {', '.join(partial['not_run'])} not: "
                         + "; ".join(missing.values()))
    result.seconds = time.monotonic() - started
    return result


AUTOMAKE_TOOLS = ("automake",)    # tools a chain may do without (partial_plan)


def _within_explained(hunk: Hunk, hunks: list[Hunk]) -> bool:
    """Every release line ``hunk`` adds lies in a hunk the first run explained as another published
    autoconf's code (acversions.py): the trusted run's comparison does not raise it again."""
    spans = [h.release_lines for h in hunks if h.kind == "toolchain" and h.how.startswith("code of autoconf ")]
    return bool(hunk.added) and all(any(a <= n <= b for a, b in spans) for n, _ in hunk.added)


def _other_generators(trees: Trees) -> dict[str, str]:
    """Sub-packages whose generated files name other autoconf/automake versions than the top
    package's: one toolchain runs the whole chain, so they are left out, with the reason."""
    from . import toolchain
    top = {p: trees.release[p]() for p in ("configure", "aclocal.m4", "Makefile.in") if p in trees.release}
    mine = toolchain.generator_versions(top)
    out: dict[str, str] = {}
    dirs = {posixpath.dirname(p) for p in trees.release if posixpath.basename(p) == "configure" and "/" in p}
    for d in sorted(dirs):
        if not configure_ac(_view(trees.source, d + "/")) and not configure_ac(_view(trees.release, d + "/")):
            continue
        sample = {k: trees.release[f"{d}/{k}"]() for k in ("configure", "aclocal.m4", "Makefile.in")
                  if f"{d}/{k}" in trees.release}
        theirs = toolchain.generator_versions(sample)
        differ = [f"{t} {theirs[t]}" for t in ("autoconf", "automake") if theirs.get(t, mine.get(t)) != mine.get(t)]
        if differ:
            out[d] = f"sub-package {d} was generated with {', '.join(differ)}, the top package with other versions"
    return out


def _admit_release_aclocal(trees: Trees, files: dict[str, bytes], inputs: list[Input],
                           alternatives: dict[str, bytes | None], path: str = "aclocal.m4") -> Any:
    """A partial chain's input: the release's aclocal.m4, ``published`` when every piece of it
    is a published copy or an input, else ``unverified`` with the trusted alternative its
    unexplained regions replaced by their nearest published copies."""
    from . import aclocal
    data = trees.release[path]()
    base = posixpath.dirname(path)
    checked = aclocal.check(aclocal.decode(data), trees.db, files, base)
    diff = "\n".join(r.diff for r in checked.regions if r.diff)[:20000]
    if checked.verified:
        files[path] = data
        inputs.append(Input(path, "published", _sha(data), how="every piece is a published copy or an input: "
                            + checked.summary()))
        return checked
    # edited copies of published macros are replaced (their edit shows as lines of configure no input
    # produced); macros nothing publishes stay, as an unverified input
    files[path] = aclocal.encode(checked.substituted)
    if any(not r.edited for r in checked.regions):
        alternatives[path] = aclocal.encode(checked.alternative)
        inputs.append(Input(path, "unverified", _sha(data), how=checked.summary(), diff=diff))
    else:
        inputs.append(Input(path, "substituted", _sha(data), how=checked.summary(), diff=diff))
    return checked


def _aclocal_result(trees: Trees, path: str, checked: Any, known: list[KnownDifference], cache: "Cache",
                    flavour: str) -> FileResult:
    """aclocal.m4's verdict when aclocal could not run: reproduced piece by piece, or unverified
    (its unexplained regions against their nearest published copies as hunks)."""
    data = trees.release[path]()
    from . import aclocal
    text = aclocal.decode(data)
    if checked.verified:
        return FileResult(path, REPRODUCED, reason="not regenerated (no aclocal of its version); every "
                          "piece is a published copy or an input: " + checked.summary(), toolchain=flavour,
                          size=len(data))
    edited = any(r.edited for r in checked.regions)
    against = aclocal.encode(checked.substituted if edited else checked.alternative)
    hunks = [h for h in _compare(path, against, data, known, cache) if h.kind == "unexplained"]
    fr = FileResult(path, DIFFERS if edited else UNVERIFIED, reason=checked.summary(), toolchain=flavour,
                    size=len(data), hunks=hunks, unverified_inputs=[] if edited else [path],
                    unverified_bytes=0 if edited else checked.region_bytes(text))
    added = "\n".join(t for h in hunks for _, t in h.added)
    fr.risk = added_risk(added, unexplained=edited)
    return fr


@dataclass
class _Outcome:
    combo: list[Any]
    produced: dict[str, bytes]
    steps: list[dict[str, Any]]
    failure: str | None
    cached: bool
    with_git: bool = False


class _Runner:
    """Runs the chain over an input tree with one toolchain combination, through the cache."""

    def __init__(self, chain: Chain, trees: Trees, options: Options):
        self.chain, self.trees, self.options = chain, trees, options
        self.cache = options.cache or Cache(None)
        self._refs: bytes | None = None

    def run(self, files: dict[str, bytes], combo: list[Any], with_git: bool = False) -> _Outcome:
        """``with_git``: the tree has the tag's history (for generators that ask git)."""
        from . import tagrepo
        if with_git and self.trees.git is not None and self._refs is None:
            self._refs = tagrepo.tag_refs(self.trees.git)   # once per release: the best and the trusted run
        git = (self.trees.git, self.trees.commit, self._refs or b"") \
            if with_git and self.trees.git is not None else None
        key = _cache_key(files, [f"{t.tool}={t.version}:{t.flavour}:{getattr(t, 'identity', '')}" for t in combo]
                         + ([f"git={git[1]}:{_sha(git[2])}"] if git else []), self.chain)
        hit = self.cache.get(key)
        if hit is not None:
            outs = {p: self.cache.blob(s) for p, s in hit["outputs"].items()}
            if all(v is not None for v in outs.values()):
                return _Outcome(combo, outs, hit["steps"], hit.get("failure"), True,  # type: ignore[arg-type]
                                git is not None)
        from . import toolchain
        binds, env = toolchain.combine(combo)
        base = Path(tempfile.mkdtemp(prefix="regenerate-", dir=self.options.work_dir))
        try:
            produced, steps, failure = _run_chain(self.chain, files, base / "build", binds, env, _limits(self.options),
                                                  git)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        produced = {p: d for p, d in produced.items() if p in self.trees.release}
        if not any(s.get("killed") for s in steps):  # a limit hit may be load: not remembered
            self.cache.put(key, {"outputs": {p: _sha(d) for p, d in produced.items()}, "steps": steps,
                                 "failure": failure, "flavours": [t.flavour for t in combo]}, produced)
        return _Outcome(combo, produced, steps, failure, False, git is not None)


def _score(trees: Trees, expected: list[str], produced: Mapping[str, bytes], known: list[KnownDifference],
           cache: "Cache") -> tuple[tuple[int, int], dict[str, list[Hunk]]]:
    """(missing outputs, differing lines) and the hunks per file: lower is closer."""
    per_file: dict[str, list[Hunk]] = {}
    missing = lines = 0
    for path in expected:
        data = produced.get(path)
        if data is None:
            missing += 1
            continue
        hunks = _compare(path, data, trees.release[path](), known, cache)
        per_file[path] = hunks
        lines += sum(len(h.added) + len(h.removed) for h in hunks if h.kind == "unexplained")
    return (missing, lines), per_file


def _compare(path: str, regenerated: bytes, release: bytes, known: list[KnownDifference],
             cache: "Cache | None" = None) -> list[Hunk]:
    """The classified hunks (regenerated -> release), cached by both contents and the known differences."""
    if regenerated == release:
        return []
    key = hashlib.sha256(f"{code_digest()}\0{path}\0{_sha(regenerated)}\0{_sha(release)}\0{_known_digest(known)}"
                         .encode("utf-8", "surrogateescape")).hexdigest()
    hit = cache.get(key, "compare") if cache is not None else None
    if hit is not None:
        return [Hunk(h["kind"], h["diff"], tuple(h["release_lines"]), [tuple(a) for a in h["added"]],  # type: ignore[misc]
                     h["removed"], h.get("how", "")) for h in hit["hunks"]]
    hunks = _compare_uncached(path, regenerated, release, known)
    if cache is not None:
        cache.put(key, {"hunks": [{**h.to_dict(), "added": h.added, "removed": h.removed} for h in hunks]}, {},
                  "compare")
    return hunks


def added_risk(added: str, unexplained: bool = True) -> list[dict[str, Any]]:
    """Risk indicators in added lines (up to 20); lines no input produced are ``unexplained``."""
    return [h.to_dict() for h in risk.analyse(added.encode("latin-1", "replace"), unexplained=unexplained)[:20]]


def _known_digest(known: list[KnownDifference]) -> str:
    return hashlib.sha256(repr([(k.how, [r.pattern for r in k.files], [r.pattern for r in k.lines], k.variable,
                                 k.stamp, k.hunks, k.when) for k in known]).encode()).hexdigest()


def _compare_uncached(path: str, regenerated: bytes, release: bytes, known: list[KnownDifference]) -> list[Hunk]:
    if path.endswith((".gmo", ".mo")):  # message catalogs: the messages, not msgfmt's hash-table layout
        a, b = render_catalog(regenerated), render_catalog(release)
        if a is not None and b is not None:
            return [] if a == b else compare_output(path, a, b, known)
    return compare_output(path, regenerated, release, known)


CATALOG_FIELDS = (b"Content-Type:", b"Plural-Forms:")   # header fields a program's output depends on


def render_catalog(data: bytes) -> bytes | None:
    """A GNU .mo catalog as text, one ``msgid``/``msgstr`` pair per line, sorted; None if
    malformed. System-dependent strings (``%<PRIu32>``) are shown with their segment names;
    the static expansions some msgfmt versions add for them are left out, so catalogs from
    different gettext versions compare equal when their messages are. Of the header, the
    charset and the plural rule (dates, versions and translators are stamps)."""
    import struct
    if len(data) < 28:
        return None
    order = {b"\xde\x12\x04\x95": "<", b"\x95\x04\x12\xde": ">"}.get(data[:4])
    if order is None:
        return None

    def u32(at: int) -> int:
        if at + 4 > len(data):
            raise ValueError("truncated")
        return struct.unpack(order + "I", data[at:at + 4])[0]

    def string(at: int) -> bytes:
        ln, off = u32(at), u32(at + 4)
        if off + ln > len(data):
            raise ValueError("truncated")
        return data[off:off + ln]
    try:
        n, orig, trans = u32(8), u32(12), u32(16)
        if n > len(data) // 8:
            return None
        pairs = [(string(orig + 8 * i), string(trans + 8 * i)) for i in range(n)]
        sysdep: list[tuple[bytes, bytes]] = []
        if u32(4) >> 16 == 0 and u32(4) & 0xFFFF >= 1 and len(data) >= 48:
            nseg, segoff, nsys, osys, tsys = (u32(28 + 4 * k) for k in range(5))
            if nseg > len(data) // 8 or nsys > len(data) // 4:
                return None
            names = [string(segoff + 8 * k).rstrip(b"\0") for k in range(nseg)]

            def sysdep_string(at: int) -> bytes:
                off, out, k = u32(at), b"", at + 4
                for _ in range(4096):
                    size, ref = u32(k), u32(k + 4)
                    out += data[off:off + size]
                    off += size
                    if ref == 0xFFFFFFFF:
                        return out.rstrip(b"\0")
                    out += b"<" + (names[ref] if ref < len(names) else b"?") + b">"
                    k += 8
                raise ValueError("endless segment list")
            sysdep = [(sysdep_string(u32(osys + 4 * k)), sysdep_string(u32(tsys + 4 * k))) for k in range(nsys)]
    except (ValueError, struct.error, IndexError):
        return None
    expansions = [re.compile(b"".join(re.escape(part) if i % 2 == 0 else rb"[\w]+"
                                      for i, part in enumerate(re.split(rb"<([^<>]*)>", msgid))), re.S)
                  for msgid, _ in sysdep]
    out = [b"msgid " + repr(m).encode() + b" msgstr " + repr(t).encode() for m, t in sysdep]
    for msgid, msgstr in pairs:
        if not msgid:  # the header: of its fields only what changes how messages are read and chosen
            out += [b"header " + repr(f).encode() for f in msgstr.split(b"\n") if f.startswith(CATALOG_FIELDS)]
            continue
        if any(rx.fullmatch(msgid) for rx in expansions):
            continue  # a static copy of a system-dependent string
        out.append(b"msgid " + repr(msgid).encode() + b" msgstr " + repr(msgstr).encode())
    return b"\n".join(sorted(out)) + b"\n"


def _limits(options: Options) -> Any:
    if options.limits is not None:
        return options.limits
    from provcheck import sandbox
    return sandbox.SandboxLimits(seconds=300.0)


def _toolchains(trees: Trees, chain: Chain, options: Options, download: bool, optional: Iterable[str] = ()
                ) -> tuple[list[list[Any]], dict[str, str], dict[str, str]]:
    """Every combination of the flavours of the exact generator versions (at most
    ``max_combinations``), system flavours first, the versions, and {tool: why} for each
    ``optional`` tool that has none (left out of the combinations); RegenerationError when
    another tool has none."""
    try:
        from . import toolchain
    except ImportError as exc:  # pragma: no cover - the module ships with the plugin
        raise RegenerationError(f"toolchain support unavailable: {exc}") from None
    versions = _release_versions(trees)
    per_tool: list[list[Any]] = []
    missing: dict[str, str] = {}
    for tool in chain.tools:
        version = versions.get(tool)
        try:
            if not version:
                raise RegenerationError(f"the release does not say which {tool} generated it")
            try:
                found = list(toolchain.flavours(tool, version, cache_dir=options.toolchain_cache, download=download))
            except toolchain.ToolchainUnavailable as exc:
                raise RegenerationError(str(exc)) from None
            except Exception as exc:  # a download or unpack failure is a reason, not a crash
                raise RegenerationError(f"{tool} {version}: {exc}") from None
            if not found:
                raise RegenerationError(f"no toolchain for {tool} {version}")
        except RegenerationError as exc:
            if tool not in optional:
                raise
            missing[tool] = str(exc)
            continue
        per_tool.append(found)
    combos: list[list[Any]] = [[]]
    for flavours in per_tool:
        combos = [c + [f] for c in combos for f in flavours]
    return combos[:options.max_combinations], versions, missing


__all__ = ["regenerate", "Regeneration", "FileResult", "Hunk", "Input", "Trees", "Options", "Cache",
           "KnownDifference", "known_differences", "assemble", "plan", "macro_dirs", "MODES",
           "REPRODUCED", "DIFFERS", "UNVERIFIED", "NOT_REPRODUCIBLE", "RegenerationError"]
