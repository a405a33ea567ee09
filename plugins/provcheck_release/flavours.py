"""Known flavours of published build inputs: the patches distributions and platforms apply to
libtool, automake and friends without changing a file's serial or version line.

A release's ``m4/libtool.m4`` or ``ltmain.sh`` is often not byte-identical to any published copy
of its serial, because the maintainer's libtool came from Fedora (its ``lib64`` search path,
``-specs=``), MSYS2, pkgsrc or a libtool git snapshot. :func:`explain` tells such a file's
differences from the closest published copy apart:

- hunks of a *known flavour* (``data/flavours.toml``: each flavour names its origin and holds
  its hunks as unified-diff text, applied to the published copy like a patch: the hunk's old
  lines, context included, must be in the published copy and its new lines in the release);
- hunks whose lines, with a line of context on each side, are those of *another published
  copy* of the same file (a libtool git state between two releases, a release older than the
  closest copy): the database itself is the knowledge;
- every other hunk: unexplained, and graded as before.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

FLAVOURS_PATH = Path(__file__).with_name("data") / "flavours.toml"


@dataclass(frozen=True)
class Hunk:
    old: tuple[str, ...]
    new: tuple[str, ...]


@dataclass(frozen=True)
class Flavour:
    name: str
    origin: str
    files: frozenset[str]
    hunks: tuple[Hunk, ...]


def parse_hunk(text: str) -> Hunk:
    """A hunk in unified-diff form: lines starting with ' ' (context), '-' or '+'."""
    old, new = [], []
    for line in text.split("\n"):
        if not line:
            continue
        tag, body = line[0], line[1:]
        if tag not in " -+":
            raise ValueError(f"hunk line must start with ' ', '-' or '+': {line!r}")
        if tag != "+":
            old.append(body)
        if tag != "-":
            new.append(body)
    return Hunk(tuple(old), tuple(new))


@lru_cache(maxsize=2)
def load(path: str = str(FLAVOURS_PATH)) -> tuple[Flavour, ...]:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(Flavour(f["name"], f["origin"], frozenset(f["files"]), tuple(parse_hunk(h) for h in f["hunks"]))
                 for f in data.get("flavour", []))


def find_block(seq: list[str], block: tuple[str, ...] | list[str], start: int = 0) -> int:
    """Index of the first contiguous occurrence of ``block`` in ``seq`` at or after ``start``, or -1."""
    if not block:
        return -1
    n = len(block)
    first = block[0]
    i = start
    while True:
        try:
            i = seq.index(first, i)
        except ValueError:
            return -1
        if seq[i:i + n] == list(block):
            return i
        i += 1


@dataclass
class Explanation:
    patched: list[str]                                   # the published copy with the flavours' hunks applied
    flavours: list[Flavour] = field(default_factory=list)
    published: list[str] = field(default_factory=list)  # origins of other published copies that explain hunks
    unexplained: list[tuple[str, int, int, int, int]] = field(default_factory=list)  # opcodes, patched vs release

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.flavours] + [f"lines of {o}" for o in self.published]

    def to_dict(self) -> dict[str, object]:
        return {"flavours": [{"name": f.name, "origin": f.origin} for f in self.flavours],
                "published_copies": self.published, "unexplained_hunks": len(self.unexplained)}


def explain(name: str, published: list[str], release: list[str], others: Iterable[tuple[str, str]],
            matcher) -> Explanation:
    """Explain the differences of ``release`` from ``published`` (both as lines) for a file
    named ``name``; ``others`` are (origin, text) of the other published copies of that name;
    ``matcher`` builds a difflib-style matcher (compare.matcher)."""
    patched = list(published)
    used = []
    for flavour in load():
        if name not in flavour.files:
            continue
        applied = False
        for h in flavour.hunks:
            if find_block(release, h.new) < 0:
                continue
            at = find_block(patched, h.old)
            while at >= 0:
                patched[at:at + len(h.old)] = h.new
                applied = True
                at = find_block(patched, h.old, at + len(h.new))
        if applied:
            used.append(flavour)
    ops = [op for op in matcher(patched, release).get_opcodes() if op[0] != "equal"]
    copies = [(origin, text.splitlines()) for origin, text in others]
    explained_by: list[str] = []
    unexplained = []
    for op in ops:
        _tag, _i1, _i2, j1, j2 = op
        window = release[max(j1 - 1, 0):j2 + 1]
        hit = next((origin for origin, lines in copies if find_block(lines, window) >= 0), None)
        if hit is None:
            unexplained.append(op)
        elif hit not in explained_by:
            explained_by.append(hit)
    return Explanation(patched, used, explained_by, unexplained)


def published_with_flavours(db, name: str, data: bytes, matcher) -> str | None:
    """For a same-serial m4 or build-aux file (``db``: the m4 database): "ORIGIN with FLAVOURS"
    when every hunk by which it differs from the closest published copy of its serial is a
    known flavour or another published copy's lines and no changed line carries a risk
    indicator — a published copy with published patches, so a trusted generator input; else None."""
    from . import risk
    verdict = db.judge(name, data)
    if verdict.status != "serial-mismatch":
        return None
    text = data.decode("utf-8", "replace")
    mine = text.splitlines()
    mine_set = set(mine)
    best = None
    for e in db.same_serial(name, verdict.serial):
        t = db.text(e)
        if t is not None:
            distance = len(mine_set.symmetric_difference(t.splitlines()))
            if best is None or distance < best[0]:
                best = (distance, e, t)
    if best is None:
        return None
    _, entry, known = best
    published = known.splitlines()
    others = [(e["origin"], t) for e in db.files.get(name, []) if e["sha256"] != entry["sha256"]
              for t in [db.text(e)] if t is not None]
    ex = explain(name, published, mine, others, matcher)
    if ex.unexplained or not (ex.flavours or ex.published):
        return None
    added = [mine[j] for op, i1, i2, j1, j2 in matcher(published, mine).get_opcodes() if op in ("insert", "replace")
             for j in range(j1, j2)]
    if risk.analyse("\n".join(added).encode("latin-1", "replace")):
        return None
    return f"{entry['origin']} with {', '.join(ex.names)}"
