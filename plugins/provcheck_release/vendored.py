"""Published history of projects whose files releases vendor (gnulib, autoconf-archive).

``data/history/NAME.zip`` (built by ``tools/harvest_history.py`` from a clone of the project)
holds, for every path under the copied directories, the digest of every version that path
ever had in the project's git history (the first ``DIGEST_BYTES`` of the SHA-256 of the raw
bytes) and the first commit that had it. No content: a release file whose bytes are in the
set is a published copy; one whose name the project has but whose bytes are not is an
edited copy (or a copy of a private fork).

``index.json``: ``{"format", "project", "head", "refs", "dirs", "paths": [...],
"counts": [n per path], "commits": ["SHORTID YYYY-MM-DD", ...], "serials": {m4 path: [the
declared serial of each version, "" for none]}}``; ``digests.bin``: the
digests, path by path, in history order; ``commits.bin``: each digest's commit (uint32);
``code.bin``: for C sources under ``lib/``, the digest of their ``code_form`` (comments and
whitespace dropped, gnulib-tool's ``config-h`` rewrite applied), zeros for other files.
gnulib-tool rewrote the license notices of library files (``--lgpl``) until June 2021 and
rewrites ``#ifdef HAVE_CONFIG_H`` to ``#if 1`` with the ``config-h`` module: such a copy has the
code of a published version, not its bytes.
"""

from __future__ import annotations

import array
import hashlib
import json
import posixpath
import re
import sys
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

FORMAT = "provcheck-history/1"
DIGEST_BYTES = 12
HISTORY_DIR = Path(__file__).with_name("data") / "history"


_C_TOKENS = re.compile(rb"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)
_CONFIG_H = re.compile(rb"^[ \t]*#[ \t]*ifdef[ \t]+HAVE_CONFIG_H[ \t]*$", re.M)
CODE_EXT = re.compile(r"\.(?:c|h|y|gperf)$")


def is_code_path(path: str) -> bool:
    """A C source of the copied library (the files gnulib-tool's sed transforms touched)."""
    return path.startswith("lib/") and bool(CODE_EXT.search(path))


def code_form(data: bytes) -> bytes:
    """C code without its comments and layout: comments (outside string and character
    literals) become one space, each line's whitespace collapses, blank lines go, and the
    ``config-h`` rewrite (``#ifdef HAVE_CONFIG_H`` -> ``#if 1``) is applied. Equal forms mean
    equal code: only what the compiler drops differs."""
    data = _CONFIG_H.sub(b"#if 1", data.replace(b"\r\n", b"\n"))
    data = _C_TOKENS.sub(lambda m: b" " if m.group(0)[:2] in (b"//", b"/*") else m.group(0), data)
    lines = (b" ".join(line.split()) for line in data.split(b"\n"))
    return b"\n".join(line for line in lines if line)


@dataclass(frozen=True)
class Published:
    """A release file's bytes found in a project's history."""

    project: str
    path: str        # the project's path that had these bytes
    commit: str      # first commit that had them (short id)
    date: str
    code_only: bool = False  # the same code (code_form), not the same bytes

    def origin(self) -> str:
        """For m4 verdicts: ``gnulib history m4/foo.m4 (commit 1a2b3c4d5e6f, 2022-01-03)``."""
        code = ", same code" if self.code_only else ""
        return f"{self.project} history {self.path} (commit {self.commit}, {self.date}{code})"

    def describe(self) -> str:
        what = "same code as" if self.code_only else "identical to"
        return f"{self.project} history: {what} {self.path} as of {self.date} (commit {self.commit})"


class History:
    """One project's published history: digest -> the (path, first commit) that had it."""

    def __init__(self, index: dict, digests: bytes, commits: bytes, code: bytes = b""):
        if index.get("format") != FORMAT:
            raise ValueError(f"not a history set ({index.get('format')!r})")
        self.project: str = index["project"]
        self.head: str = index.get("head", "")
        self.paths: list[str] = index["paths"]
        self.commits: list[str] = index["commits"]
        ids = array.array("I")
        ids.frombytes(commits)
        if sys.byteorder != "little":
            ids.byteswap()
        self._by_digest: dict[bytes, list[tuple[int, int]]] = {}
        self._by_code: dict[bytes, list[tuple[int, int]]] = {}
        zero = bytes(DIGEST_BYTES)
        self.names: dict[str, set[str]] = {}  # base name -> the project's paths of that name
        k = 0
        for p, (path, n) in enumerate(zip(self.paths, index["counts"])):
            self.names.setdefault(posixpath.basename(path), set()).add(path)
            for _ in range(n):
                d = digests[k * DIGEST_BYTES:(k + 1) * DIGEST_BYTES]
                self._by_digest.setdefault(d, []).append((p, ids[k]))
                f = code[k * DIGEST_BYTES:(k + 1) * DIGEST_BYTES]
                if f and f != zero:
                    self._by_code.setdefault(f, []).append((p, ids[k]))
                k += 1
        self.path_set = frozenset(self.paths)
        # m4 base name -> serial -> (path index, commit index) of its first version with that serial
        self.serials: dict[str, dict[str, tuple[int, int]]] = {}
        where = {path: i for i, path in enumerate(self.paths)}
        first = [0]
        for n in index["counts"]:
            first.append(first[-1] + n)
        for path, values in (index.get("serials") or {}).items():
            p = where.get(path)
            if p is None:
                continue
            known = self.serials.setdefault(posixpath.basename(path), {})
            for k, serial in enumerate(values):
                if serial and serial not in known:
                    known[serial] = (p, ids[first[p] + k])

    @classmethod
    def load(cls, path: Path) -> "History":
        with zipfile.ZipFile(path) as z:
            code = z.read("code.bin") if "code.bin" in z.namelist() else b""
            return cls(json.loads(z.read("index.json")), z.read("digests.bin"), z.read("commits.bin"), code)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_digest.values())

    @staticmethod
    def digest(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()[:DIGEST_BYTES]

    def find(self, data: bytes, accept: Callable[[str], bool], *more: Callable[[str], bool]) -> Published | None:
        """The first published version of these bytes under a path ``accept`` takes (else one
        of ``more`` takes, in order); for a C source, else the first with the same code
        (``code_form``). Each digest is computed once."""
        rows = self._by_digest.get(self.digest(data), ())
        coded: tuple[tuple[int, int], ...] | list[tuple[int, int]] | None = None
        for test in (accept, *more):
            for p, c in rows:
                if test(self.paths[p]):
                    return self._published(p, c)
            if coded is None:
                coded = self._by_code.get(self.digest(code_form(data)), ()) if (
                    self._by_code and b"\0" not in data[:8192]) else ()
            for p, c in coded:
                if test(self.paths[p]):
                    return self._published(p, c, code_only=True)
        return None

    def _published(self, p: int, c: int, code_only: bool = False) -> Published:
        commit, _, day = self.commits[c].partition(" ")
        return Published(self.project, self.paths[p], commit, day, code_only)

    def match_name(self, name: str, data: bytes) -> Published | None:
        """These bytes under a path of this base name (m4 and build-aux files, judged by name;
        ``po/Makefile.in.in`` under any ``.../po/``: gnulib keeps gettext's in ``build-aux/po/``)."""
        if "/" in name:
            return self.find(data, lambda path: path == name or path.endswith("/" + name))
        return self.find(data, lambda path: posixpath.basename(path) == name)

    def match_paths(self, candidates: Iterable[str], data: bytes) -> Published | None:
        """These bytes under one of ``candidates`` (the project's paths a release path maps to),
        else under any path of the same base name (a file the project moved)."""
        wanted = set(candidates)
        names = {posixpath.basename(c) for c in wanted}
        return self.find(data, wanted.__contains__, lambda path: posixpath.basename(path) in names)

    def serial(self, name: str, serial: str | None) -> Published | None:
        """The first version of m4 file ``name`` that declared ``serial``."""
        hit = self.serials.get(name, {}).get(serial or "")
        return self._published(*hit) if hit else None

    def max_serial(self, name: str) -> str | None:
        from .m4db import serial_key
        known = self.serials.get(name)
        return max(known, key=serial_key) if known else None

    def has_name(self, candidates: Iterable[str]) -> str | None:
        """The first of ``candidates`` the project ever had, else a path of the same base name
        under the same top directory (``lib/x.c`` for ``lib/sub/x.c``; ``top/`` files exactly)."""
        cands = list(candidates)
        for c in cands:
            if c in self.path_set:
                return c
        for c in cands:
            root = c.split("/", 1)[0]
            same = sorted(p for p in self.names.get(posixpath.basename(c), ()) if p.split("/", 1)[0] == root)
            if same and root != "top":
                return same[0]
        return None


@lru_cache(maxsize=4)
def histories(directory: str = str(HISTORY_DIR)) -> dict[str, History]:
    """Every shipped history set, by project (unreadable ones are skipped and reported on stderr)."""
    out: dict[str, History] = {}
    for path in sorted(Path(directory).glob("*.zip")):
        try:
            h = History.load(path)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            print(f"provcheck_release: history set {path.name}: {exc}", file=sys.stderr)
            continue
        out[h.project] = h
    return out


# -- where gnulib-tool puts what ----------------------------------------------------------

# gnulib's directories and where gnulib-tool copies them (its sed_rewrite_new_files):
# build-aux/ -> auxdir, doc/ -> docbase, lib/ -> sourcebase, m4/ -> m4base, tests/ and
# tests=lib/ -> testsbase, top/ -> the package's top directory.
DEFAULT_BASES = {"source": "lib", "m4": "m4", "doc": "doc", "aux": "build-aux"}  # tests: only when asked for
_CACHE_MACROS = {"gl_SOURCE_BASE": "source", "gl_M4_BASE": "m4", "gl_TESTS_BASE": "tests", "gl_DOC_BASE": "doc",
                 "gl_LOCAL_DIR": "local"}
_CONF_VARS = {"source_base": "source", "m4_base": "m4", "tests_base": "tests", "doc_base": "doc",
              "local_gl_dir": "local", "local_gl_path": "local"}
_CONF_OPTS = {"--source-base": "source", "--m4-base": "m4", "--tests-base": "tests", "--doc-base": "doc",
              "--aux-dir": "aux", "--local-dir": "local"}


@dataclass
class Layout:
    """Where one gnulib-tool run put gnulib's files, relative to the release's top."""

    top: str                      # the package directory gnulib-tool ran in ('' = the release's top)
    bases: dict[str, str]
    local: list[str]              # --local-dir directories (their lib/, m4/, tests/ override gnulib's)
    origin: str                   # the file it was read from

    def candidates(self, path: str) -> list[str]:
        """gnulib paths that gnulib-tool copies to release path ``path``."""
        rel = path
        if self.top:
            if not path.startswith(self.top + "/"):
                return []
            rel = path[len(self.top) + 1:]
        out = []
        for kind, prefixes in (("source", ["lib/"]), ("m4", ["m4/"]), ("tests", ["tests/", "lib/"]),
                               ("doc", ["doc/"]), ("aux", ["build-aux/"])):
            base = self.bases.get(kind, "").strip("/")
            if not base or base == ".":
                continue
            if rel.startswith(base + "/"):
                rest = rel[len(base) + 1:]
                out += [p + rest for p in prefixes]
        if "/" not in rel:
            out.append("top/" + rel)
        return out

    def local_copies(self, path: str) -> list[str]:
        """Tag paths of the --local-dir files gnulib-tool would copy to ``path`` (a local
        ``X.diff`` is a patch gnulib-tool applies to gnulib's ``X``)."""
        return [posixpath.normpath(posixpath.join(self.top, d, cand))
                for cand in self.candidates(path) for d in self.local]


def _setting(bases: dict[str, str], local: list[str], kind: str, value: str) -> list[str]:
    """One gnulib-tool destination setting: a base directory into ``bases``, or the new
    ``--local-dir`` list (returned; ``local`` otherwise)."""
    if kind == "local":
        return [d for d in _dequote(value).split(":") if d]
    bases[kind] = _dequote(value)
    return local


def _dequote(value: str) -> str:
    return value.strip().strip("[]'\"").strip()


def layouts(files: dict[str, Callable[[], bytes | None]], aux_dir: str | None = None) -> list[Layout]:
    """Every gnulib-tool run a tree records: its ``gnulib-cache.m4`` files (``gl_SOURCE_BASE``
    ...) and its top ``bootstrap.conf`` (``source_base=``, ``--tests-base=`` in
    ``gnulib_tool_option_extras``). Nothing when the tree has neither (no gnulib)."""
    out: list[Layout] = []
    for path in sorted(p for p in files if p.endswith("gnulib-cache.m4")):
        data = files[path]() or b""
        text = data.decode("utf-8", "replace")
        bases = dict(DEFAULT_BASES)
        local: list[str] = []
        for macro, kind in _CACHE_MACROS.items():
            m = re.search(rf"^\s*{macro}\(\[?([^\])\n]*)\]?\)", text, re.M)
            if m:
                local = _setting(bases, local, kind, m.group(1))
        if not re.search(r"^\s*gl_WITH_TESTS\b", text, re.M):
            bases.pop("tests", None)  # gl_TESTS_BASE is recorded even when no tests are copied
        m4dir = posixpath.dirname(path)
        top = m4dir[:-len(bases["m4"])].rstrip("/") if bases["m4"] and (m4dir == bases["m4"] or m4dir.endswith(
            "/" + bases["m4"])) else posixpath.dirname(m4dir)
        if aux_dir and not top:
            bases["aux"] = aux_dir
        out.append(Layout(top, bases, local, path))
    conf = files.get("bootstrap.conf")
    if conf is not None and not any(lay.top == "" for lay in out):
        text = (conf() or b"").decode("utf-8", "replace")
        bases = dict(DEFAULT_BASES)
        local = []
        for var, kind in _CONF_VARS.items():
            m = re.search(rf"^\s*{var}=(\S+)", text, re.M)
            if m:
                local = _setting(bases, local, kind, m.group(1))
        for opt, kind in _CONF_OPTS.items():
            m = re.search(rf"{opt}=([\w./-]+)", text)
            if m and kind == "local":
                local.append(m.group(1))
            elif m:
                bases[kind] = m.group(1)
        if "tests" not in bases and "--with-tests" in text:
            bases["tests"] = "tests"
        if aux_dir and "--aux-dir" not in text:
            bases["aux"] = aux_dir
        if not local and "gl" in {p.split("/", 1)[0] for p in files if p.startswith("gl/modules/")}:
            local = ["gl"]
        out.append(Layout("", bases, local, "bootstrap.conf"))
    return out


__all__ = ["History", "Published", "Layout", "layouts", "histories", "FORMAT", "DIGEST_BYTES", "HISTORY_DIR"]
