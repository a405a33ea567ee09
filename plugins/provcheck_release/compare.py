"""Compare a release tree with its source tree and explain every file.

``compare(release, source, knowledge, db)`` returns a :class:`Comparison`: one
:class:`Verdict` per path and the findings (PC1xx) for the files that need review.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Collection, Iterable

from provcheck import Artifact, Finding, Location, Severity, Tree
from provcheck import SYMLINK, Node, glob_regex

from . import ecosystems, flavours, risk
from .knowledge import Generated, Knowledge
from .m4db import M4Database, M4Verdict, db_name, gettext_origin, is_aux
from .rules import PC100, PC101, PC102, PC103, PC104, PC105, PC106, PC107, PC108, PC109

IDENTICAL, ONLY_SOURCE, GENERATED, REGENERATED, RELEASE_EDIT = (
    "identical", "only-in-source", "generated", "regenerated", "release-edit")
UNEXPLAINED, MODIFIED, MISMATCH, UNVERIFIED = "unexplained", "modified", "generated-mismatch", "generated-unverified"

MAX_TEXT = 8 << 20         # bigger files are compared by hash only
DIFF_LINES = 60
DIFF_CHARS = 6000

CODE_EXT = re.compile(r"\.(?:c|h|cc|cpp|cxx|hh|hpp|hxx|s|S|asm|go|rs|py|pl|pm|rb|js|mjs|cjs|ts|java|php|cgi|lua|sh|"
                      r"bash|m4|awk|sed|cs|swift|kt|scala|tcl|ps1|bat|cmd|vbs|el|lisp|scm|ml|hs|erl|ex|exs|d|f|f90|"
                      r"y|l|inc|def|asm|in|am|ac|mk|mak|cmake)$")
DOC_EXT = re.compile(r"(?:\.(?:md|txt|rst|html?|texi|texinfo|pod|adoc|[1-9]|man|xml|css|svg|png|jpe?g|gif|ico|pdf)$|"
                     r"(?:^|/)(?:README|NEWS|AUTHORS|THANKS|TODO|ChangeLog|HISTORY|CHANGES|RELEASE-NOTES|"
                     r"CONTRIBUTORS|MAINTAINERS|COPYING|LICENSE|LICENCE|NOTICE)[^/]*$)")
STAMP_WORDS = re.compile(r"(?i)^\.(?:TH|Dd) |version|date|time ?stamp|release|revision|\bvers?\b|copyright|@\w+@|built|snapshot|"
                         r"unreleased|\bdev\b|\bgit\b|\bbuild\b|serial")
# the words of release stamps: pre-release and VCS words, time zones, days and months
_RELEASE_WORDS = r"dev|devel|git|dirty|unreleased|snapshot|alpha|beta|rc|pre|post|utc|gmt|cest|cet|am|pm"
_DAYS = r"mon|tue|wed|thu|fri|sat|sun"
_MONTHS = r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
STAMP_TOKENS = re.compile(rf"(?i)\b0x[0-9a-f]+\b|\b[0-9a-f]{{7,40}}\b|\d+|"
                          rf"(?<![a-z])(?:{_RELEASE_WORDS}|{_DAYS})(?![a-z])|"
                          rf"(?<![a-z])(?:{_MONTHS})[a-z]*(?![a-z])|@\w+@|[\[\]()]")

STAMP_COLLAPSE = re.compile(r"#(?:[\s\-./:,+_~]*#)*")


@dataclass
class Verdict:
    path: str
    verdict: str
    how: str = ""
    system: str = ""
    rule: str | None = None
    severity: str | None = None
    release_sha256: str | None = None
    source_sha256: str | None = None
    source_git_blob: str | None = None  # a file only in a git source is not read: its blob id instead
    reproduction: dict[str, Any] | None = None  # regeneration's verdict (see regenerate.py)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass
class Comparison:
    release: Artifact
    source: Artifact
    release_prefix: str
    source_prefix: str
    verdicts: list[Verdict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    diffs: dict[str, str] = field(default_factory=dict)  # path -> the whole unified diff (not in to_dict)
    regeneration: dict[str, Any] | None = None

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(v.verdict for v in self.verdicts).items()))

    def generated_by_system(self) -> dict[str, int]:
        return dict(sorted(Counter(v.system for v in self.verdicts
                                   if v.verdict in (GENERATED, REGENERATED) and v.system).items()))

    def to_dict(self, include_identical: bool = True) -> dict[str, Any]:
        return {"release": self.release.name, "source": self.source.name,
                "source_commit": self.source.metadata.get("commit"), "source_ref": self.source.metadata.get("ref"),
                "release_prefix": self.release_prefix, "source_prefix": self.source_prefix,
                "counts": self.counts(), "generated_by": self.generated_by_system(),
                "regeneration": self.regeneration,
                "files": [v.to_dict() for v in self.verdicts if include_identical or v.verdict != IDENTICAL]}


# -- trees ----------------------------------------------------------------------------

def single_top(tree: Tree) -> str:
    """The one top-level directory every entry is under (``xz-5.6.1``), or ''."""
    tops = {n.path.split("/", 1)[0] for n in tree.nodes.values()}
    if len(tops) == 1:
        top = next(iter(tops))
        node = tree.nodes.get(top)
        if node is None or node.type == "dir":
            return top
    return ""


def file_map(artifact: Artifact, prefix: str) -> dict[str, Node]:
    out: dict[str, Node] = {}
    cut = len(prefix) + 1 if prefix else 0
    unread = artifact.metadata.get("unread_blobs") or {}  # listed, not read (see gitsource)
    for n in artifact.tree.nodes.values():
        if not (n.is_file or n.type == SYMLINK or n.path in unread):
            continue
        path = n.path[cut:] if prefix else n.path
        if not path:
            continue
        if artifact.kind == "directory" and (path == ".git" or path.startswith(".git/")):
            continue
        out[path] = n
    return out


def project_subdir(release: set[str], source: Collection[str]) -> str | None:
    """The top-level directory of a repository that holds the released project (libexpat's
    ``expat/``), when it matches the release's paths far better than the top does."""
    if not release:
        return None
    shared = sum(1 for p in release if p in source)
    if shared >= len(release) // 2:
        return None
    best, best_n = None, shared
    for top in sorted({p.split("/", 1)[0] for p in source if "/" in p}):
        n = sum(1 for p in release if f"{top}/{p}" in source)
        if n > best_n:
            best, best_n = top, n
    return best if best is not None and best_n >= max(2 * shared, len(release) // 2) else None


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:8192]


def export_ignored(source: Artifact, files: dict[str, Node]) -> list[re.Pattern]:
    """Patterns marked ``export-ignore`` in the source's .gitattributes files."""
    out = []
    for path, node in files.items():
        if posixpath.basename(path) != ".gitattributes" or not node.is_file or node.size > 1 << 20:
            continue
        base = posixpath.dirname(path)
        for line in _text(source.tree.read(node)).splitlines():
            parts = line.split()
            if len(parts) < 2 or parts[0].startswith("#") or "export-ignore" not in parts[1:]:
                continue
            pat = parts[0].strip("/") if parts[0].startswith("/") else (
                parts[0] if "/" in parts[0].rstrip("/") else "**/" + parts[0])
            pat = pat.rstrip("/")
            full = f"{base}/{pat}" if base else pat
            out.append(glob_regex(full))
            out.append(glob_regex(full + "/**"))
    return out


# -- diffs -----------------------------------------------------------------------------

MAX_DIFF_LINES = 20_000  # difflib is up to cubic in the lines: bigger inputs get a cheap diff


def matcher(a: list[str], b: list[str]) -> difflib.SequenceMatcher:
    """Line matcher; exact on small files, with difflib's popular-line heuristic on big ones.
    Past MAX_DIFF_LINES the common prefix and suffix are matched and the middle is one change."""
    if len(a) + len(b) > MAX_DIFF_LINES:
        return _CheapMatcher(a, b)
    return difflib.SequenceMatcher(None, a, b, autojunk=len(a) + len(b) > 4000)


class _CheapMatcher(difflib.SequenceMatcher):
    """Patience diff in O(n log n): lines unique to both sides anchor the match (their longest
    increasing run), equal neighbours extend it; what lies between is a change. Used where
    difflib's own matching could take hours on a crafted file."""

    def __init__(self, a: list[str], b: list[str]):
        super().__init__(None, a, b, autojunk=True)
        count_a, count_b = Counter(a), Counter(b)
        where_b = {line: j for j, line in enumerate(b) if count_b[line] == 1}
        pairs = [(i, where_b[line]) for i, line in enumerate(a) if count_a[line] == 1 and line in where_b]
        blocks: list[list[int]] = []
        for i, j in _longest_increasing(pairs):
            if blocks and blocks[-1][0] + blocks[-1][2] > i:
                continue  # already inside the previous block
            if blocks and blocks[-1][0] + blocks[-1][2] == i and blocks[-1][1] + blocks[-1][2] == j:
                blocks[-1][2] += 1
                continue
            anchor = i
            while i > 0 and j > 0 and a[i - 1] == b[j - 1] and (not blocks or (i > blocks[-1][0] + blocks[-1][2]
                                                                                 and j > blocks[-1][1] + blocks[-1][2])):
                i, j = i - 1, j - 1
            blocks.append([i, j, anchor - i + 1])  # the equal lines walked back over, and the anchor
        for k, blk in enumerate(blocks):  # extend forward over equal non-unique lines, up to the next block
            stop_a, stop_b = (blocks[k + 1][0], blocks[k + 1][1]) if k + 1 < len(blocks) else (len(a), len(b))
            while blk[0] + blk[2] < stop_a and blk[1] + blk[2] < stop_b and a[blk[0] + blk[2]] == b[blk[1] + blk[2]]:
                blk[2] += 1
        merged: list[list[int]] = []
        for i, j, n in blocks:
            if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
                merged[-1][2] += n
            else:
                merged.append([i, j, n])
        self.matching_blocks = [difflib.Match(*m) for m in merged] + [difflib.Match(len(a), len(b), 0)]
        self.opcodes = None

    def get_matching_blocks(self):  # type: ignore[override]
        return self.matching_blocks


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of ``pairs`` (sorted by their first item) increasing in the second."""
    import bisect
    tails: list[int] = []
    tail_at: list[int] = []
    prev = [-1] * len(pairs)
    for k, (_i, j) in enumerate(pairs):
        pos = bisect.bisect_left(tails, j)
        if pos == len(tails):
            tails.append(j)
            tail_at.append(k)
        else:
            tails[pos] = j
            tail_at[pos] = k
        prev[k] = tail_at[pos - 1] if pos else -1
    out = []
    k = tail_at[-1] if tail_at else -1
    while k >= 0:
        out.append(pairs[k])
        k = prev[k]
    return out[::-1]


def _unified_from(sm: difflib.SequenceMatcher, a: list[str], b: list[str], fa: str, fb: str, n: int = 2):
    """difflib.unified_diff's output, from an existing matcher."""
    yield f"--- {fa}"
    yield f"+++ {fb}"
    for group in sm.get_grouped_opcodes(n):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        yield f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@"
        for op, x1, x2, y1, y2 in group:
            if op == "equal":
                yield from (" " + line for line in a[x1:x2])
                continue
            yield from ("-" + line for line in a[x1:x2])
            yield from ("+" + line for line in b[y1:y2])


def unified(path: str, a: list[str], b: list[str], sm: difflib.SequenceMatcher | None = None,
            fa: str | None = None, keep: dict[str, str] | None = None) -> tuple[str, tuple[int, int] | None]:
    """The diff cut to DIFF_LINES for evidence; the whole one goes into ``keep[path]`` (the HTML view)."""
    sm = sm or matcher(a, b)
    diff = list(_unified_from(sm, a, b, fa or f"source/{path}", f"release/{path}"))
    if len(diff) == 2:
        diff = []
    if keep is not None and diff:
        keep[path] = "\n".join(diff)
    first = None
    for line in diff:
        m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", line)
        if m:
            start = int(m.group(1))
            first = (start, start + max(int(m.group(2) or 1), 1) - 1)
            break
    text = "\n".join(diff[:DIFF_LINES])
    if len(diff) > DIFF_LINES:
        text += f"\n... ({len(diff) - DIFF_LINES} more diff lines)"
    return text[:DIFF_CHARS], first


def _stamp_norm(line: str) -> str:
    return " ".join(STAMP_COLLAPSE.sub("#", STAMP_TOKENS.sub("#", line)).split())


# what a stamp may change, token by token: a version (2.4.7-dirty, v1.16.5, 3.7.6), a date or time
# (2022-10-16, 1999-2026, 12:30:00, Oct), a year, a commit id, a pre-release or VCS word
STAMP_SHAPED = re.compile(r"(?i)v?\d+(?:[._]\d+)+(?:[-.+~]?[a-z]*\d*)*|\d{4}(?:-\d{2}){2}(?:t?\d{2}:\d{2}(?::\d{2})?)?|"
                          r"(?:19|20)\d{2}(?:[-,](?:19|20)\d{2})*|\d{1,2}:\d{2}(?::\d{2})?(?:[-+]\d{4})?|[-+]\d{4}|[0-9a-f]{7,40}|"
                          rf"(?:{_MONTHS})[a-z]*|(?:{_DAYS})[a-z]*|rc\d+|{_RELEASE_WORDS}")
# a bare number (a serial, bison's YYBISON 30706, a hex version) is a stamp only where a stamp word says
# so as a word of its own or in an upper-case name (PACKAGE_VERSION, "# serial 12"), or in a comment:
# never by an identifier such as j_format_version next to code
STAMP_NAMED = re.compile(r"(?i:\b(?:version|serial|revision|release|copyright|date|timestamp|built|snapshot)\b)|"
                         r"\b[A-Z0-9_]*(?:VERSION|REVISION|SERIAL|DATE|YYBISON)[A-Z0-9_]*\b|(?:Date|Version)\b|"
                         r"^\s*(?:#|//|/\*|\*|dnl\b|\.\\\"|<!--|%)|^\.(?:TH|Dd)\s")
_STAMP_TOKEN = re.compile(r"[\w.:+~-]*\w|[^\w\s]")   # a token ends with a word character: "2026." is 2026 and "."
_NUMBER = re.compile(r"(?i)\d+|0x[0-9a-f]+")
_STAMP_PUNCTUATION = frozenset("-./:,+_~()[]")   # what a date or version is written with


def is_stamp_pair(x: str, y: str) -> bool:
    """Whether line ``y`` is ``x`` with only stamps changed: the same line once versions, dates and
    numbers are masked, and every token that differs stamp-shaped (a version, date, year, time,
    commit id; a bare number only on a line a stamp word names). ``umask 077`` -> ``000``, ``-m
    644`` -> ``666``, ``@CFLAGS@`` -> ``@CPPFLAGS@`` or ``< 2`` -> ``< 33`` next to a
    ``j_format_version`` are not stamps."""
    if _stamp_norm(x) != _stamp_norm(y):
        return False
    tx, ty = _STAMP_TOKEN.findall(x), _STAMP_TOKEN.findall(y)
    named = bool(STAMP_NAMED.search(x) or STAMP_NAMED.search(y))
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, tx, ty, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        for t in (*tx[i1:i2], *ty[j1:j2]):
            if not (STAMP_SHAPED.fullmatch(t) or (named and _NUMBER.fullmatch(t)) or t in _STAMP_PUNCTUATION):
                return False
    return True


def is_release_edit(a: list[str], b: list[str], sm: difflib.SequenceMatcher | None = None) -> bool:
    """Only lines carrying versions/dates/placeholders changed, pairwise, and few of them."""
    sm = sm or matcher(a, b)
    changed = 0
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        old = [x for x in a[i1:i2] if x.strip()]   # blank lines may come and go
        new = [y for y in b[j1:j2] if y.strip()]
        if len(old) != len(new):
            return False
        for x, y in zip(old, new):
            changed += 1
            if same_but_vcs_keywords(x, y):
                continue
            if not (STAMP_WORDS.search(x) or STAMP_WORDS.search(y)):
                return False
            if not is_stamp_pair(x, y) and not _value_stamped(x, y):
                return False
    return 0 < changed <= 20


VCS_KEYWORD = re.compile(r"\$(Id|Revision|Rev|Date|LastChangedDate|LastChangedRevision|LastChangedBy|Author|Header|"
                         r"HeadURL|URL|Source|RCSfile|Name|State|Locker)"
                         # what RCS/CVS/SVN write there: names, paths, numbers, dates, users (no quotes or
                         # shell syntax: an "expansion" that closes a string and runs a command is no stamp)
                         r"(?::[\w .,:/+@~()-]*)?\$")


def same_but_vcs_keywords(x: str, y: str) -> bool:
    """Two lines that differ only in RCS/CVS/SVN keywords the maker's checkout expanded
    (``$Id$`` -> ``$Id: f.c 5297 2022-01-07 ... $``)."""
    return VCS_KEYWORD.sub(r"$\1$", x) == VCS_KEYWORD.sub(r"$\1$", y)


VERSION_LITERAL = re.compile(r"""^["']?v?\d+(?:\.\d+)+[\w.+~-]*["']?[;,)]*$""")


def _value_stamped(x: str, y: str) -> bool:
    """``#define CURL_VERSION LIBCURL_VERSION`` -> ``#define CURL_VERSION "7.88.1"``: one token,
    the value, became a version literal."""
    tx, ty = x.split(), y.split()
    if len(tx) != len(ty):
        return False
    diff = [i for i, (p, q) in enumerate(zip(tx, ty)) if p != q]
    return len(diff) == 1 and bool(VERSION_LITERAL.match(ty[diff[0]]))


@lru_cache(maxsize=256)
def _glob_lines(pattern: str) -> re.Pattern:
    """An fnmatch glob of ``*`` and ``?`` (which cross ``/``, as in fnmatch) as a regex over
    NUL-separated paths (a path may hold a newline, never a NUL)."""
    body = "".join("[^\0]*" if c == "*" else "[^\0]" if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"(?:^|(?<=\0)){body}(?=\0|$)")


# -- the comparison ---------------------------------------------------------------------

class Comparer:
    def __init__(self, release: Artifact, source: Artifact, knowledge: Knowledge, db: M4Database,
                 options: dict[str, Any] | None = None):
        self.release, self.source, self.k = release, source, knowledge
        self._db = db  # an M4Database, or a function returning one (loaded only when an m4 file needs it)
        self.options = options or {}
        self.rprefix = single_top(release.tree)
        self.sprefix = single_top(source.tree) if source.kind in ("archive", "directory") else ""
        if source.kind == "directory" and self.sprefix and (source.tree.get(".git") is not None):
            self.sprefix = ""
        self.rfiles = file_map(release, self.rprefix)
        self.sfiles = file_map(source, self.sprefix)
        if self.sprefix and not (set(self.rfiles) & set(self.sfiles)):  # a source dir that is the project itself
            self.sprefix = ""
            self.sfiles = file_map(source, "")
        self.rfiles = ecosystems.onto_source(self.rfiles, self.sfiles)  # a wheel's packages where the tree has them
        self.subdir_of_source()
        self.cmp = Comparison(release, source, self.rprefix, self.sprefix)
        self._all_paths: str | None = None

    def subdir_of_source(self) -> None:
        best = project_subdir(set(self.rfiles), self.sfiles.keys())
        if best is not None:
            cut = len(best) + 1
            self.sprefix = f"{self.sprefix}/{best}" if self.sprefix else best
            self.sfiles = {p[cut:]: n for p, n in self.sfiles.items() if p.startswith(best + "/")}

    @property
    def db(self) -> M4Database:
        if callable(self._db):
            self._db = self._db()
        return self._db

    # helpers ------------------------------------------------------------------------
    def rpath(self, path: str) -> str:
        return f"{self.rprefix}/{path}" if self.rprefix else path

    def loc(self, path: str, **kw: Any) -> Location:
        node = self.rfiles.get(path)
        if node is not None:
            return node.location(self.release.name, **kw)
        return Location(artifact=self.release.name, path=self.rpath(path), **kw)

    def related(self, path: str) -> tuple[Location, ...]:
        node = self.sfiles.get(path)
        if node is None:
            return ()
        return (node.location(self.source.name),)

    def read_r(self, path: str, limit: int | None = MAX_TEXT) -> bytes:
        return self.release.tree.read(self.rfiles[path], limit)

    def read_s(self, path: str, limit: int | None = MAX_TEXT) -> bytes:
        return self.source.tree.read(self.sfiles[path], limit)

    def exists(self, rel: str) -> bool:
        if "[" in rel:
            return any(fnmatch.fnmatchcase(p, rel) for p in self.sfiles) or \
                any(fnmatch.fnmatchcase(p, rel) for p in self.rfiles)
        if "*" in rel or "?" in rel:  # one regex search over all paths, not a call per path
            if self._all_paths is None:
                self._all_paths = "\0".join(self.sfiles.keys() | self.rfiles.keys())
            return _glob_lines(rel).search(self._all_paths) is not None
        return rel in self.sfiles or rel in self.rfiles

    def add(self, finding: Finding, verdict: Verdict) -> None:
        verdict.rule, verdict.severity = finding.rule_id, str(finding.severity)
        self.cmp.findings.append(finding)

    # main ---------------------------------------------------------------------------
    def run(self) -> Comparison:
        from .reproduce import Reproduction
        reproduction = Reproduction(self)
        reproduction.start()
        paths = sorted(set(self.rfiles) | set(self.sfiles))
        ignored = export_ignored(self.source, self.sfiles)
        source_only: list[dict[str, str]] = []
        for path in paths:
            r, s = self.rfiles.get(path), self.sfiles.get(path)
            if r is not None and s is not None:
                v = self.both(path, r, s)
            elif s is not None:
                why = ("export-ignore" if any(rx.match(path) for rx in ignored) else
                       "git-only" if self.k.source_only_reason(path) else "")
                v = Verdict(path, ONLY_SOURCE, how=why,
                            source_git_blob=self.source.metadata.get("unread_blobs", {}).get(s.path))
                source_only.append({"path": path, "reason": why} if why else {"path": path})
            else:
                v = self.release_only(path, r)
            v.release_sha256 = r.sha256 if r is not None else None
            v.source_sha256 = s.sha256 if s is not None else None
            self.cmp.verdicts.append(v)
        reproduction.apply()
        ecosystems.review(self)  # Python/npm packages: install hooks, manifests, built files
        self.summarise(source_only)
        return self.cmp

    def summarise(self, source_only: list[dict[str, str]]) -> None:
        counts = self.cmp.counts()
        n_rel = len(self.rfiles) - counts.get(ecosystems.BUILT_UNVERIFIED, 0)  # build outputs cannot overlap
        overlap = sum(counts.get(k, 0) for k in (IDENTICAL, MODIFIED, REGENERATED, RELEASE_EDIT))
        overlap += sum(1 for v in self.cmp.verdicts if v.verdict in (MISMATCH, UNVERIFIED) and v.source_sha256)
        if n_rel and overlap < max(1, n_rel // 5):
            self.cmp.findings.append(PC109.finding(
                location=Location(artifact=self.release.name), key="overlap",
                message=f"only {overlap} of {n_rel} release files are in {self.source.name}: "
                        "is this the right repository and tag?",
                evidence={"release_files": n_rel, "shared": overlap, "source_files": len(self.sfiles)}))
        if source_only:
            marked = sum(1 for s in source_only if s.get("reason"))
            self.cmp.findings.append(PC106.finding(
                location=Location(artifact=self.release.name), key="source-only",
                related=(Location(artifact=self.source.name),),
                message=f"{len(source_only)} files of {self.source.name} are not in the release "
                        f"({marked} export-ignored or git-only)",
                evidence={"files": source_only[:500], "count": len(source_only)}))
        review = [v for v in self.cmp.verdicts if v.rule and v.rule not in ("PC107", "PC108")]
        gen = self.cmp.generated_by_system()
        gen_txt = ", ".join(f"{k} {v}" for k, v in gen.items())
        edits = counts.get(RELEASE_EDIT, 0)
        msg = (f"{counts.get(IDENTICAL, 0)} identical, "
               f"{counts.get(GENERATED, 0) + counts.get(REGENERATED, 0)} recognised generated"
               f"{f' ({gen_txt})' if gen_txt else ''}, {edits} release edits, "
               f"{counts.get(ONLY_SOURCE, 0)} only in source; {len(review)} need review")
        regen = self.cmp.regeneration or {}
        if regen.get("generated_bytes"):
            rc = regen["counts"]
            partial = f" (partial chain: {', '.join(regen['partial']['ran'])})" if regen.get("partial") else ""
            msg += (f"; regeneration {regen['status']}{partial}: {rc['reproduced']} reproduced, "
                    f"{rc['reproduction-differs']} "
                    f"differ, {rc['reproduced-unverified']} unverified inputs, {rc['not-reproducible']} not reproducible, "
                    f"{regen['verified_fraction']:.0%} of generated bytes verified")
        self.cmp.findings.append(PC100.finding(
            location=Location(artifact=self.release.name), key="summary",
            related=(Location(artifact=self.source.name),), message=msg,
            evidence={"source": self.source.name, "source_commit": self.source.metadata.get("commit"),
                      "source_ref": self.source.metadata.get("ref"), "counts": counts, "generated_by": gen,
                      "regeneration": {k: v for k, v in regen.items() if k not in ("steps", "substituted", "unverified")},
                      "files": [v.to_dict() for v in self.cmp.verdicts if v.verdict not in (IDENTICAL, ONLY_SOURCE)]}))

    # only in the release --------------------------------------------------------------
    def recognise(self, path: str, data: bytes) -> tuple[Generated | None, Generated | None, str]:
        """(matching entry, entry whose signature failed, generator input)."""
        failed, failed_input = None, ""
        for g in self.k.candidates(path):
            inp = g.input_for(path, self.exists)
            if inp is None:
                continue
            if g.kind == "m4":
                return g, None, inp
            if g.max_size is not None and len(data) > g.max_size:
                failed, failed_input = failed or g, inp
                continue
            if g.signature is None or g.signature.search(data[:g.scan_bytes].decode("latin-1")):
                return g, None, inp
            failed, failed_input = failed or g, inp
        return None, failed, failed_input

    def release_only(self, path: str, node: Node) -> Verdict:
        if node.type == SYMLINK:
            v = Verdict(path, UNEXPLAINED, how=f"symlink to {node.link_target}")
            self.add(PC101.finding(location=self.loc(path), key=path, severity=Severity.LOW,
                                   message=f"symlink {path} -> {node.link_target} is only in the release",
                                   evidence={"link_target": node.link_target}), v)
            return v
        data = self.read_r(path)
        copied = self.vendored(path, data, in_source=False)
        if copied is not None:
            return copied
        g, failed, inp = self.recognise(path, data)
        if g is not None and g.kind == "m4":
            return self.m4(path, data, g, inp, in_source=False)
        if g is not None:
            how = g.how + (f" (from {inp})" if inp else "") + (" ; signature matched" if g.signature else "")
            if is_aux(db_name(path)):
                return self.aux(path, data, g, how, in_source=False)
            v = Verdict(path, GENERATED, how=how, system=g.system)
            self.risk(path, data, v, generated=True)
            return v
        if failed is not None and not data.strip():
            return Verdict(path, GENERATED, how=f"empty placeholder for {failed.how}", system=failed.system)
        made = self.made_by_tag_rule(path) if failed is None else None
        if made is not None:
            v = Verdict(path, GENERATED, how=made[1], system=made[0])
            self.risk(path, data, v, generated=True)
            return v
        if failed is not None:
            v = Verdict(path, MISMATCH, how=f"named like {failed.how} but lacks its signature", system=failed.system)
            build = failed.kind in ("build", "code", "m4") or risk.is_build_file(path, data[:2])
            self.add(PC103.finding(
                location=self.loc(path), key=path, severity=Severity.HIGH if build else Severity.LOW,
                message=f"{path} is named like {failed.how} ({failed.system}) but its content does not carry "
                        f"the generator's signature /{failed.signature.pattern if failed.signature else ''}/",
                evidence={"expected": failed.how, "system": failed.system, "input": inp,
                          "signature": failed.signature.pattern if failed.signature else None,
                          "size": len(data), "max_size": failed.max_size}), v)
            self.risk(path, data, v, generated=False)
            return v
        copied = self.copy_of_tag_file(data) if data.strip() else None
        if copied is not None:  # strace's bootstrap copies tests/*.c into tests-m32/: reviewed bytes, another path
            return Verdict(path, GENERATED, how=f"a copy of the tag's {copied}", system="copy",
                           reproduction={"status": "reproduced", "reason": f"identical to the tag's {copied}"})
        v = Verdict(path, UNEXPLAINED)
        code = bool(CODE_EXT.search(path)) or risk.is_build_file(path, data[:2]) or bool(node.mode & 0o111)
        sev = Severity.MEDIUM if code and data.strip() else Severity.LOW
        kind = "code or build script" if code else "file"
        built = self.built_by_release(path) if code and data.strip() else []
        if built:
            sev = Severity.HIGH
        self.add(PC101.finding(location=self.loc(path), key=path, severity=sev,
                               message=f"{kind} {path} is only in the release and no known generator explains it"
                                       + (f"; the release's own build compiles it ({', '.join(built[:3])})"
                                          if built else ""),
                               evidence={"size": node.size, "sha256": node.sha256, "executable": bool(node.mode & 0o111),
                                         "binary": is_binary(data), **({"built_by": built} if built else {})}), v)
        self.risk(path, data, v, generated=False)
        return v

    def copy_of_tag_file(self, data: bytes) -> str | None:
        """The tag's file with exactly these bytes, at whatever path (its sha256, or the git blob id
        of a tag file the comparison did not read)."""
        if not hasattr(self, "_tag_digests"):
            unread = self.source.metadata.get("unread_blobs") or {}
            self._tag_digests: dict[str, str] = {}
            for p, n in sorted(self.sfiles.items()):
                digest = unread.get(n.path) or (n.sha256 if n.is_file else None)
                if digest:
                    self._tag_digests.setdefault(digest, p)
        from .gitsource import git_blob_id  # gitsource imports this module
        return self._tag_digests.get(hashlib.sha256(data).hexdigest()) or self._tag_digests.get(git_blob_id(data))

    def made_by_tag_rule(self, path: str) -> tuple[str, str] | None:
        """(system, how) when a make rule of the tag writes ``path`` from an input of the tag
        (the build files are named by the knowledge's ``rule-targets``)."""
        if not hasattr(self, "_rule_targets"):
            from .maketargets import rule_targets
            self._rule_targets = {}
            for system, rx, how in self.k.rule_files:
                found = rule_targets({p: (lambda p=p: self.read_s(p)) for p in self.sfiles
                                      if rx.match(p) and self.sfiles[p].is_file}, self.sfiles.keys(),
                                     include=lambda p: self.read_s(p) if self.sfiles[p].is_file else None)
                for target, rt in found.items():
                    self._rule_targets.setdefault(target, (system, f"{how} ({rt.where}) from "
                                                          f"{', '.join(rt.inputs[:3])}"
                                                          + (f" and {len(rt.inputs) - 3} more" if len(rt.inputs) > 3 else "")))
        return self._rule_targets.get(path)

    def built_by_release(self, path: str) -> list[str]:
        """The release's build files that name ``path`` as a source to compile (automake
        ``_SOURCES``, meson.build, CMakeLists.txt), as ``file:line``."""
        if not hasattr(self, "_build_refs"):
            from .buildrefs import build_references
            self._build_refs = build_references({p: (lambda p=p: self.read_r(p)) for p in self.rfiles
                                                 if self.rfiles[p].is_file})
        return self._build_refs.get(path, [])

    # files copied from a project's published history (gnulib-tool) -------------------------
    def layouts(self) -> list[Any]:
        """Where the release's gnulib-tool runs put gnulib's files (vendored.layouts): from its
        ``gnulib-cache.m4`` files and the tag's ``bootstrap.conf``; none without gnulib."""
        if not hasattr(self, "_layouts"):
            from .vendored import layouts
            files: dict[str, Any] = {}
            for tree, read in ((self.sfiles, self.read_s), (self.rfiles, self.read_r)):
                for p, node in tree.items():
                    if p.startswith("gl/modules/") or (node.is_file and (p.endswith("gnulib-cache.m4") or
                                                                         p == "bootstrap.conf")):
                        files.setdefault(p, (lambda p=p, read=read: read(p, 1 << 20)))
            aux = None
            for name in ("configure.ac", "configure.in"):
                if name in self.sfiles and self.sfiles[name].is_file:
                    m = re.search(rb"^\s*AC_CONFIG_AUX_DIR\(\[?([\w./-]+)", self.read_s(name), re.M)
                    aux = m.group(1).decode() if m else None
                    break
            self._layouts = layouts(files, aux)
        return self._layouts

    def vendored(self, path: str, data: bytes, in_source: bool) -> Verdict | None:
        """A file gnulib-tool copies (lib/, gnulib-tests/, GNUmakefile, maint.mk, doc/, by the
        tree's layout) judged against every version the project's history ever had: the same
        bytes (or, for a library C file, the same code) is a published copy; a name the project
        has with bytes it never had is PC103. m4 and build-aux files are judged by m4(), aux()."""
        name = db_name(path)
        if name.endswith(".m4") or is_aux(name) or not self.layouts():
            return None
        histories = self.db.histories
        if not histories:
            return None
        kind = REGENERATED if in_source else GENERATED
        known: tuple[Any, str, Any] | None = None
        for lay in self.layouts():
            cands = lay.candidates(path)
            if not cands:
                continue
            for h in histories.values():
                hit = h.match_paths(cands, data)
                if hit is not None:
                    return Verdict(path, kind, system=h.project, how=f"copied by gnulib-tool: {hit.describe()}",
                                   reproduction={"status": "reproduced", "reason": hit.describe()})
            for local in lay.local_copies(path):
                if self.same_as_tag(local, data):
                    why = f"identical to the tag's {local} (gnulib-tool --local-dir {lay.local[0]})"
                    return Verdict(path, kind, system="gnulib", how=f"copied by gnulib-tool: {why}",
                                   reproduction={"status": "reproduced", "reason": why})
            if known is None and not self.generated_elsewhere(path, data):
                for h in histories.values():
                    had = h.has_name(cands)
                    if had is not None:
                        known = (h, had, lay)
                        break
        if known is None:
            return None
        return self.unpublished_copy(path, data, in_source, *known)

    def same_as_tag(self, path: str, data: bytes) -> bool:
        """The tag's ``path`` has exactly these bytes (a file only in the tag is compared by its
        git blob id: it is listed, not read)."""
        node = self.sfiles.get(path)
        if node is None:
            return False
        blob = (self.source.metadata.get("unread_blobs") or {}).get(node.path)
        if blob:
            from .gitsource import git_blob_id  # gitsource imports this module
            return git_blob_id(data) == blob
        return node.is_file and self.read_s(path) == data

    def generated_elsewhere(self, path: str, data: bytes) -> bool:
        """Another generator than gnulib-tool's copy explains the file (automake's
        ``gnulib-tests/Makefile.in``, gperf's ``lib/iconv_open-aix.h``): not a copy."""
        for g in self.k.candidates(path):
            if "gnulib-tool" in g.how or g.signature is None or g.input_for(path, self.exists) is None:
                continue
            if g.signature.search(data[:g.scan_bytes].decode("latin-1")):
                return True
        return False

    def unpublished_copy(self, path: str, data: bytes, in_source: bool, history: Any, had: str, lay: Any) -> Verdict:
        """A release file at a path where gnulib-tool puts ``had``, whose bytes no version of
        ``had`` in the project's history ever had. With no published text to diff against,
        the grade is what the file can do: critical when its indicators grade high (PC105's, and
        those of lines in patched copies: fetching, piping to a shell, decoding, preloading),
        high for code the build compiles or runs (C, shell, make), low for documentation and
        data; medium when the tag carries a local ``.diff`` gnulib-tool applies to it."""
        node = self.rfiles.get(path)
        diffs = [d + ".diff" for d in lay.local_copies(path) if d + ".diff" in self.sfiles]
        hits = risk.analyse(data, unexplained=risk.IN_PATCHED_COPIES) if not is_binary(data) else []
        grade = risk.grade(hits)
        code = bool(CODE_EXT.search(path)) or risk.is_build_file(path, data[:2]) or bool(node and node.mode & 0o111)
        if grade is not None and grade >= Severity.HIGH:
            sev, why = Severity.CRITICAL, "and it carries " + ", ".join(sorted({h.indicator for h in hits}))
        elif diffs:
            sev, why = Severity.MEDIUM, f"the tag's {diffs[0]} is a local patch gnulib-tool applies to it (not verified)"
        elif code:
            sev, why = Severity.HIGH, "code the build compiles or runs must be a published copy"
        else:
            sev, why = Severity.LOW, "documentation or data"
        what = f"no version of {history.project}'s {had} in its history (to {history.head[:12]}) has these bytes"
        v = Verdict(path, MISMATCH, system=history.project, how=what,
                    reproduction={"status": "reproduction-differs", "reason": what})
        ev: dict[str, Any] = {"project": history.project, "published_path": had, "history_head": history.head,
                              "sha256": node.sha256 if node is not None else None, "size": len(data),
                              "layout": lay.origin}
        if diffs:
            ev["local_diff"] = diffs[0]
        if hits:
            ev["indicators"] = [h.to_dict() for h in hits[:20]]
        lines = (min(h.line for h in hits), max(h.line for h in hits)) if hits else None
        self.add(PC103.finding(location=self.loc(path, lines=lines), key=path, severity=sev, evidence=ev,
                               related=self.related(path),
                               message=f"{path} is where gnulib-tool copies {history.project}'s {had}, but {what}: "
                                       f"{why}"), v)
        return v

    # m4 --------------------------------------------------------------------------------
    def m4(self, path: str, data: bytes, g: Generated, inp: str, in_source: bool) -> Verdict:
        name = posixpath.basename(path)
        mv = self.db.judge(name, data)
        ev: dict[str, Any] = {"m4": mv.to_dict(), "database_versions": len(self.db.files.get(name, []))}
        if mv.status in ("exact", "normalised"):
            how = f"m4 database: {'identical to' if mv.status == 'exact' else 'same code as'} {mv.origin}" + \
                  (f" serial {mv.serial}" if mv.serial else "")
            return Verdict(path, REGENERATED if in_source else GENERATED, how=how, system="m4")
        sm = None
        if mv.closest_sha256:  # diff against the closest published copy (of that serial, when there is one)
            mv = self.closest(mv, data)
        if mv.closest_sha256:
            known = self.db.content(mv.closest_sha256)
            if known is not None:
                ka, kb = known.splitlines(), _text(data).splitlines()
                sm = matcher(ka, kb)
                if mv.status == "serial-mismatch" and is_release_edit(ka, kb, sm):
                    return Verdict(path, REGENERATED if in_source else GENERATED, system="m4",
                                   how=f"m4 database: {mv.origin} serial {mv.serial} except version strings")
                ev["diff"], _lines = unified(path, ka, kb, sm, fa=f"{mv.origin}/{name}", keep=self.cmp.diffs)
                ev["diff_against"] = mv.origin
                sm = (sm, kb)
        if mv.status == "serial-mismatch":
            v = Verdict(path, MISMATCH, how=f"m4 {name} serial {mv.serial} differs from {mv.origin}", system="m4")
            sev, why = self.grade_m4_change(ev, data, mv, sm)
            ex, lines = self.flavoured(path, name, mv, sm, ev)
            if ex is not None and sev < Severity.CRITICAL:
                sev, why, v = self.flavour_grade(path, ex, sev, why, v, in_source)
            self.add(PC103.finding(location=self.loc(path, lines=lines), key=path, severity=sev, evidence=ev,
                                   message=f"{path} declares serial {mv.serial} of {name}, but its code differs from "
                                           f"the published serial {mv.serial} ({mv.origin}): {why}"), v)
        elif mv.status == "serial-inflated":
            v = Verdict(path, MISMATCH, how=f"m4 {name} serial {mv.serial} > newest published {mv.max_serial}",
                        system="m4")
            self.add(PC104.finding(location=self.loc(path), key=path, evidence=ev,
                                   message=f"{path} declares serial {mv.serial} of {name}; the newest published is "
                                           f"{mv.max_serial} ({mv.origin}), so autoreconf would keep this copy"), v)
        else:
            what = (f"serial {mv.serial} of {name} is not among the published versions (newest {mv.max_serial})"
                    if mv.status == "unknown-serial" else f"{name} is not in the m4 provenance database")
            v = Verdict(path, UNVERIFIED, how=what, system="m4")
            self.add(PC108.finding(location=self.loc(path), key=path, message=f"{path}: {what}; judged by content",
                                   evidence=ev), v)
        self.risk(path, data, v, generated=False)
        return v

    def flavoured(self, path: str, name: str, mv: M4Verdict, sm: Any, ev: dict[str, Any]):
        """The known flavours and other published copies that explain the differences from
        the closest published copy (flavours.py), in the evidence, and the release lines of the
        unexplained hunks; (None, None) without a diff."""
        if sm is None or mv.closest_sha256 is None:
            return None, None
        sm, mine = sm
        known = self.db.content(mv.closest_sha256) or ""
        others = [(e["origin"], t) for e in self.db.files.get(name, []) if e["sha256"] != mv.closest_sha256
                  for t in [self.db.text(e)] if t is not None]
        ex = flavours.explain(name, known.splitlines(), mine, others, matcher)
        lines = None
        if ex.flavours or ex.published:
            ev["explained_by"] = ex.to_dict()
            if ex.unexplained:  # the diff shows only what nothing explains
                ev["diff"], lines = unified(path, ex.patched, mine, fa=f"{mv.origin} with flavours/{name}")
                ev["diff_against"] = f"{mv.origin} with {', '.join(ex.names)}"
        return ex, lines

    @staticmethod
    def flavour_grade(path: str, ex: "flavours.Explanation", sev: Severity, why: str, v: Verdict,
                      in_source: bool) -> tuple[Severity, str, Verdict]:
        """Every differing hunk explained by a known flavour or another published copy (and no
        risky construct among the changed lines): info, the flavours named. Otherwise the grade stays."""
        if ex.unexplained or not (ex.flavours or ex.published):
            if ex.flavours or ex.published:
                why += f"; {len(ex.unexplained)} hunks unexplained, the rest are {', '.join(ex.names)}"
            return sev, why, v
        names = ", ".join(ex.names)
        v = Verdict(path, REGENERATED if in_source else GENERATED, system=v.system,
                    how=f"{v.how}: every difference is a known flavour ({names})")
        return Severity.INFO, f"every differing hunk is a known flavour: {names}", v

    def closest(self, mv: M4Verdict, data: bytes) -> M4Verdict:
        mine = set(_text(data).splitlines())
        best = None
        entries = self.db.same_serial(mv.name, mv.serial) if mv.status == "serial-mismatch" else \
            self.db.files.get(mv.name, [])
        for e in entries:
            text = self.db.text(e)
            if text is None:
                continue
            changed = len(mine.symmetric_difference(text.splitlines()))  # cheap distance: lines not shared
            if best is None or changed < best[0]:
                best = (changed, e)
        if best is None:
            return mv
        e = best[1]
        return M4Verdict(mv.status, mv.name, mv.serial, origin=e["origin"], max_serial=mv.max_serial,
                         closest_sha256=e["sha256"])

    def grade_m4_change(self, ev: dict[str, Any], data: bytes, mv: M4Verdict, sm: Any = None) -> tuple[Severity, str]:
        """Critical when the lines that differ from the published copy carry risky constructs
        (or cannot be diffed); medium otherwise: distributions patch libtool.m4 and friends,
        and tarballs made with libtool/gettext git snapshots carry changed code under the
        published serial, so a clean diff is shown for review rather than raised."""
        if sm is None and "history" in (mv.origin or ""):  # a version known by its digest: nothing to diff
            return Severity.HIGH, ("that serial's published copy is known by its digest only, so there is no diff; "
                                   "a file claiming a published serial must be that copy")
        if sm is None:
            return Severity.CRITICAL, "no published copy to diff against"
        sm, mine = sm
        added = [mine[j] for op, i1, i2, j1, j2 in sm.get_opcodes() if op in ("insert", "replace")
                 for j in range(j1, j2)]
        changed = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal")
        hits = risk.analyse("\n".join(added).encode("latin-1", "replace"), unexplained=risk.IN_PATCHED_COPIES)
        ev["changed_lines"] = changed
        if hits:
            ev["added_risk"] = [h.to_dict() for h in hits[:20]]
            return Severity.CRITICAL, "the changed lines " + ", ".join(sorted({h.indicator for h in hits}))
        return Severity.HIGH, (f"{changed} changed lines; none is a known risky construct, but a file claiming a "
                               "published serial must be that copy (distribution patches and libtool/gettext git "
                               "snapshots also keep the serial: read the diff)")

    # build-aux helpers ----------------------------------------------------------------------
    def aux(self, path: str, data: bytes, g: Generated, how: str, in_source: bool) -> Verdict:
        """A build-aux script (config.guess, ltmain.sh, install-sh, ...) against the published copies.

        Versions of these scripts are many (config.guess changes monthly), so an unknown
        version is only noted; a published version with different code is graded by what
        the changed lines do."""
        name = db_name(path)
        kind = REGENERATED if in_source else GENERATED
        mv = self.db.judge(name, data, self.gettext_version(path, name))
        if mv.status in ("exact", "normalised"):
            return Verdict(path, kind, system=g.system,
                           how=f"{how}; database: {'identical to' if mv.status == 'exact' else 'same code as'} "
                               f"{mv.origin} {mv.serial or ''}".rstrip())
        if mv.status != "serial-mismatch":
            v = Verdict(path, kind, system=g.system,
                        how=f"{how}; version {mv.serial or '?'} not in the database")
            self.risk(path, data, v, generated=True)
            return v
        mv = self.closest(mv, data)
        known = self.db.content(mv.closest_sha256) if mv.closest_sha256 else None
        if known is None:
            v = Verdict(path, kind, system=g.system, how=how)
            self.risk(path, data, v, generated=True)
            return v
        ka, kb = known.splitlines(), _text(data).splitlines()
        sm = matcher(ka, kb)
        if is_release_edit(ka, kb, sm):
            return Verdict(path, kind, system=g.system, how=f"{how}; database: {mv.origin} except version strings")
        for where, lines in self.tag_appends(path):
            if kb == ka + lines:
                return Verdict(path, kind, system=g.system,
                               how=f"{how}; database: {mv.origin} with the {len(lines)} lines {where} appends")
        added = [kb[j] for op, i1, i2, j1, j2 in sm.get_opcodes() if op in ("insert", "replace") for j in range(j1, j2)]
        changed = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal")
        hits = risk.analyse("\n".join(added).encode("latin-1", "replace"), unexplained=risk.IN_PATCHED_COPIES)
        grade = risk.grade(hits)
        bad = grade is not None and grade >= Severity.HIGH
        same_version = name.startswith("po/") or (  # po/: the gettext release its Makefile.in.in names
            _version_line(known) is not None and _version_line(known) == _version_line(_text(data)))
        diff, lines = unified(path, ka, kb, sm, fa=f"{mv.origin}/{name}", keep=self.cmp.diffs)
        ev = {"published": mv.to_dict(), "diff": diff, "diff_against": mv.origin, "changed_lines": changed}
        if hits:
            ev["added_risk"] = [h.to_dict() for h in hits[:20]]
        v = Verdict(path, MISMATCH, how=f"{name} {mv.serial} differs from {mv.origin}", system=g.system)
        why = ("the changed lines " + ", ".join(sorted({h.indicator for h in hits})) if hits else
               f"{changed} changed lines without risky constructs" + (
                   ", under the exact version line of the published copy" if same_version else
                   " (a distribution or git-snapshot variant)"))
        # a build no published copy is (another version line) cannot be reproduced: risky lines in it are high
        sev = (Severity.CRITICAL if bad or (hits and same_version) else Severity.HIGH if same_version or hits else
               Severity.LOW)
        ex, flavour_lines = self.flavoured(path, name, mv, (sm, kb), ev)
        if ex is not None and not hits:
            sev, why, v = self.flavour_grade(path, ex, sev, why, v, in_source)
        lines = flavour_lines or lines
        if v.verdict == MISMATCH and not same_version:  # a build no published copy is (issue 12: `-dirty`, a distro revision)
            v.reproduction = {"status": "not-reproducible", "unobtainable": True,
                              "reason": f"no published copy of this build ({(_version_line(_text(data)) or name)[:80]}); "
                                        f"its diff against the nearest published copy, {mv.origin}, is the PC103 evidence"}
        self.add(PC103.finding(location=self.loc(path, lines=lines), key=path, evidence=ev, severity=sev,
                               message=f"{path} says it is {name} {mv.serial}, but its code differs from the published "
                                       f"{mv.origin}: {why}"), v)
        self.risk(path, data, v, generated=True)
        return v

    def tag_appends(self, path: str) -> list[tuple[str, list[str]]]:
        """Lines a script of the tag appends to release file ``path`` after copying it in:
        ``printf 'FORMAT' ARGS... >> path`` / ``echo 'TEXT' >> path`` lines of the tag's
        ``bootstrap.conf`` (coreutils' ``bootstrap_post_import_hook`` appends
        ``install-{dvi,ps,pdf,html}:;`` to gettext's ``po/Makefile.in.in``), as (where, lines)."""
        if not hasattr(self, "_appends"):
            self._appends: dict[str, list[tuple[str, list[str]]]] = {}
            node = self.sfiles.get("bootstrap.conf")
            text = _text(self.read_s("bootstrap.conf")) if node is not None and node.is_file else ""
            for number, line in enumerate(text.splitlines(), 1):
                m = _APPEND.match(line)
                if m is None:
                    continue
                if m.group("printf") is not None:
                    out = _printf(m.group("printf"), m.group("args").split())
                else:
                    out = m.group("echo") + "\n"
                if out is not None and out.endswith("\n"):
                    self._appends.setdefault(m.group("target"), []).append(
                        (f"bootstrap.conf:{number}", out[:-1].split("\n")))
        return self._appends.get(path, [])

    def gettext_version(self, path: str, name: str) -> str | None:
        """The gettext version of a po/ infrastructure file: the ``Origin`` of its directory's
        ``Makefile.in.in`` in the release (the other po/ files carry none)."""
        if not name.startswith("po/") or name == "po/Makefile.in.in":
            return None
        sibling = posixpath.join(posixpath.dirname(path), "Makefile.in.in")
        node = self.rfiles.get(sibling)
        return gettext_origin(self.read_r(sibling)[:4096]) if node is not None and node.is_file else None

    # in both ------------------------------------------------------------------------------
    def both(self, path: str, r: Node, s: Node) -> Verdict:
        if r.type == SYMLINK or s.type == SYMLINK:
            if r.type == s.type and r.link_target == s.link_target:
                return Verdict(path, IDENTICAL)
            v = Verdict(path, MODIFIED, how="symlink changed")
            self.add(PC102.finding(location=self.loc(path), key=path, severity=Severity.MEDIUM,
                                   related=self.related(path),
                                   message=f"{path}: {s.type} -> {s.link_target or s.sha256} in the source, "
                                           f"{r.type} -> {r.link_target or r.sha256} in the release",
                                   evidence={"source": s.to_dict(), "release": r.to_dict()}), v)
            return v
        if r.sha256 == s.sha256:
            return Verdict(path, IDENTICAL)
        rdata, sdata = self.read_r(path), self.read_s(path)
        whole = r.size <= MAX_TEXT and s.size <= MAX_TEXT  # bigger files: by hash only, never "edits"
        if whole and not is_binary(rdata) and not is_binary(sdata):
            if rdata.replace(b"\r\n", b"\n") == sdata.replace(b"\r\n", b"\n"):  # on bytes: \v, \x85, bad
                return Verdict(path, RELEASE_EDIT, how="line endings only")              # UTF-8 all count
            a, b = _text(sdata).splitlines(), _text(rdata).splitlines()
        else:
            a = b = None
        copied = self.vendored(path, rdata, in_source=True) if self.source.kind != "archive" else None
        if copied is not None:
            return copied
        g, _failed, inp = self.recognise(path, rdata)
        if g is not None and g.kind == "m4":
            return self.m4(path, rdata, g, inp, in_source=True)
        # against a known-good copy of the release itself (an archive), generated files must be identical too
        regenerable = self.source.kind != "archive"
        if regenerable and g is not None and g.kind != "stamp" and (g.signature is not None or g.system == "project"):
            if is_aux(db_name(path)):
                return self.aux(path, rdata, g, f"{g.how} (committed copy replaced at release)", in_source=True)
            v = Verdict(path, REGENERATED, how=f"{g.how} (committed copy regenerated at release)", system=g.system)
            self.risk(path, rdata, v, generated=True)
            return v
        sm = matcher(a, b) if a is not None else None
        if a is not None and (is_release_edit(a, b, sm) or (g is not None and g.kind == "stamp")):
            diff, lines = unified(path, a, b, sm, keep=self.cmp.diffs)
            v = Verdict(path, RELEASE_EDIT, how="version/date stamp" if g is None else g.how,
                        system="" if g is None else g.system)
            self.add(PC107.finding(location=self.loc(path, lines=lines), key=path, related=self.related(path),
                                   message=f"{path}: release edit (only version/date lines changed)",
                                   evidence={"diff": diff}), v)
            return v
        code = bool(CODE_EXT.search(path)) or risk.is_build_file(path, rdata[:2]) or bool(r.mode & 0o111)
        doc = bool(DOC_EXT.search(path)) and not code
        sev = Severity.LOW if doc else Severity.HIGH if code else Severity.MEDIUM
        ev: dict[str, Any] = {"source_sha256": s.sha256, "release_sha256": r.sha256, "source_size": s.size,
                              "release_size": r.size}
        lines = None
        if a is not None:
            ev["diff"], lines = unified(path, a, b, sm, keep=self.cmp.diffs)
            ev["lines_added"] = sum(j2 - j1 for op, i1, i2, j1, j2 in sm.get_opcodes() if op in ("insert", "replace"))
            ev["lines_removed"] = sum(i2 - i1 for op, i1, i2, j1, j2 in sm.get_opcodes() if op in ("delete", "replace"))
        else:
            ev["binary"] = True
        v = Verdict(path, MODIFIED)
        what = "source file" if code else "documentation" if doc else "file"
        self.add(PC102.finding(location=self.loc(path, lines=lines), key=path, severity=sev, related=self.related(path),
                               message=f"{what} {path} differs from {self.source.name}"
                                       f"{f' at lines {lines[0]}-{lines[1]}' if lines else ''}; not a recognised "
                                       "release edit", evidence=ev), v)
        self.risk(path, rdata, v, generated=False)
        return v

    # risk -----------------------------------------------------------------------------
    def risk(self, path: str, data: bytes, v: Verdict, generated: bool) -> None:
        if is_binary(data) or not risk.is_build_file(path, data[:2]):
            return
        hits = risk.analyse(data)
        sev = risk.grade(hits)
        if sev is None or (generated and sev < Severity.HIGH):
            return
        ordered = sorted(hits, key=lambda h: (h.strength != risk.STRONG, h.line))
        first = ordered[0]
        names = sorted({h.indicator for h in hits})
        f = PC105.finding(
            location=self.loc(path, lines=(min(h.line for h in hits), max(h.line for h in hits))),
            key=f"{path}#risk", severity=sev,
            message=f"{path}: {', '.join(names)} (line {first.line}: {first.text[:100]})",
            evidence={"indicators": [h.to_dict() for h in hits[:50]], "verdict": v.verdict})
        self.cmp.findings.append(f)
        if v.severity is None or Severity.parse(v.severity) < sev:
            v.rule, v.severity = f.rule_id, str(sev)


_APPEND = re.compile(r"""^\s*(?:printf\s+'(?P<printf>[^'%]*(?:%s[^'%]*)*)'(?P<args>(?:\s+[\w.+-]+)*)|"""
                     r"""echo\s+'(?P<echo>[^'\\]*)')\s*>>\s*(?P<target>[\w./-]+)\s*$""")


def _printf(fmt: str, args: list[str]) -> str | None:
    """The shell's ``printf FORMAT ARGS...`` for a format of ``%s`` and ``\\n`` only (the format
    is reused until the arguments are used up)."""
    fmt = fmt.replace("\\n", "\n")
    if "\\" in fmt:
        return None
    k = fmt.count("%s")
    if not k:
        return fmt
    out = []
    for i in range(0, max(len(args), 1), k):
        group = args[i:i + k] + [""] * (k - len(args[i:i + k]))
        parts = fmt.split("%s")
        out.append("".join(part + (group[n] if n < k else "") for n, part in enumerate(parts)))
    return "".join(out)


_VERSION_LINE = re.compile(r"^(?:scriptversion|timestamp|VERSION|package_revision)=.*$", re.M)


def _version_line(text: str) -> str | None:
    """A build-aux script's whole version line (``VERSION="2.4.7 Debian-2.4.7-7~deb12u1"``):
    a copy carrying a published copy's exact line claims to be that copy."""
    m = _VERSION_LINE.search(text[:1 << 16])
    return m.group(0) if m else None


def compare(release: Artifact, source: Artifact, knowledge: Knowledge, db: M4Database,
            options: dict[str, Any] | None = None) -> Comparison:
    return Comparer(release, source, knowledge, db, options).run()


__all__ = ["compare", "Comparison", "Verdict", "single_top", "is_release_edit", "M4Verdict", "Iterable"]
