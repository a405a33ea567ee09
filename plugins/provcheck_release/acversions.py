"""Hunks of ``configure`` that are another published autoconf's code at that spot.

Release makers run distribution builds of autoconf that carry code of other autoconf
releases (ALT Linux's 2.69 backports 2.70's ``# Sanitize IFS.`` and ``unsigned short int
ascii_mm[]``). Regenerated with the version the file names, such a hunk looks like lines no
input produced. Here the same tree is run through every *other* published autoconf (each
version the Debian archive serves, and the other builds of the used version the chain
already ran), and a hunk is a toolchain difference, "code of autoconf 2.72", when:

- each change of the hunk (a run of replaced, added or removed lines), its release side with
  one non-blank context line each side and compared whitespace-normalised, is a contiguous
  run of that version's ``configure`` *at the same spot*: between the two lines nearest the
  change that the used version's output and that version's output have in common (at most
  :data:`SPOT_SLACK` lines wider than the block, else there is no definite spot), the
  changes in order; the unchanged lines between two changes are the used version's own;
- none of its added lines carries a risk indicator (``risk.analyse``, unexplained set);
- none of its added lines that the used version writes nowhere in the file is text of the
  tree's autoconf inputs (``configure.ac``, every ``*.m4`` input: the tag's, published and
  unverified copies, a partial chain's ``aclocal.m4``; a substring, m4 quotes dropped): what a
  version-dependent branch of a macro emits must come from the version the release names.

Everything else stays unexplained: a distribution's own patch (ALT's ``__need_GNU_STUBS_H``)
is in no published autoconf's output. The other versions run autoconf only, over the same
inputs and the same regenerated ``aclocal.m4``, in the sandbox, through the run cache.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import risk

if TYPE_CHECKING:
    from .regenerate import Chain, Hunk, Options, Trees, _Outcome

SPOT_SLACK = 400          # lines the spot may be wider than the release's block
MAX_RUNS = 6              # other autoconf builds tried at most
OWN_TEXT_MIN = 16         # shorter lines ("fi", "else") are everybody's text
TOOL = "autoconf"


def _norm(line: str) -> str:
    return " ".join(line.split())


@dataclass
class Alternative:
    label: str                # "autoconf 2.72 (debian:trixie:autoconf=2.72-3.1)"
    version: str
    outputs: Mapping[str, bytes]


def is_configure(path: str) -> bool:
    return posixpath.basename(path) == "configure"


def published_versions(cache_dir: Path | None, download: bool, tool: str = TOOL) -> list[str]:
    """Every version of ``tool`` some Debian suite the archive serves has (``toolchain.PACKAGES``)."""
    from . import debian_apt, toolchain
    cache = Path(cache_dir) if cache_dir else toolchain.default_cache_dir()
    every = [p for pkgs in toolchain.PACKAGES.values() for p in pkgs]
    found: set[str] = set()
    for suite in debian_apt.SUITES:
        try:
            index = debian_apt.suite_index(cache / "apt" / suite, suite, every, download)
        except (debian_apt.AptError, OSError):
            continue
        for rec in index or ():
            if rec.get("Package") in toolchain.PACKAGES[tool]:
                found.add(toolchain.upstream_version(rec["Version"]))
    system = debian_apt.installed_version(toolchain.PACKAGES[tool][0])
    if system:
        found.add(toolchain.upstream_version(system))
    return sorted(v for v in found if toolchain.RELEASED.fullmatch(v))


def explain(trees: "Trees", files: Mapping[str, bytes], chain: "Chain", best: "_Outcome",
            others: Iterable["_Outcome"], per_file: Mapping[str, list["Hunk"]], options: "Options",
            ) -> list[dict[str, Any]]:
    """Mark each unexplained, risk-free hunk of a ``configure`` that another published autoconf
    emits at that spot as ``toolchain`` (``how`` names the version); the steps run."""
    todo = {p: hs for p, hs in per_file.items() if is_configure(p) and p in best.produced and
            any(h.kind == "unexplained" for h in hs)}
    if not todo:
        return []
    own = _own_text(files)
    candidates = {}
    for path, hs in todo.items():
        regenerated = {_norm(x) for x in _lines(best.produced[path])}   # lines the used version writes anyway
        candidates[path] = [h for h in hs if h.kind == "unexplained" and _admissible(h, own, regenerated)]
    if not any(candidates.values()):
        return []
    used = next((t for t in best.combo if t.tool == TOOL), None)
    steps: list[dict[str, Any]] = []
    seen = {t.flavour for o in (best, *others) for t in o.combo if t.tool == TOOL}
    combos = {tuple(t.flavour for t in best.combo)}
    alternatives = []
    for o in others:   # the other builds of the used versions the chain ran already (whole combination named)
        if tuple(t.flavour for t in o.combo) not in combos:
            combos.add(tuple(t.flavour for t in o.combo))
            alternatives.append(Alternative(_label(o.combo, every=True), used.version if used else "", o.produced))
    _apply(_pending(candidates), trees, best.produced, alternatives)
    if _pending(candidates):
        for alt, run_steps in _other_versions(trees, files, chain, best, options, used, seen):
            if alt is None:
                steps += run_steps
                continue
            steps += [{**s, "step": f"{s['step']} ({alt.label}, other published autoconf)"} for s in run_steps]
            _apply(_pending(candidates), trees, best.produced, [alt])
            if not _pending(candidates):
                break
    return steps


def _pending(candidates: Mapping[str, list["Hunk"]]) -> dict[str, list["Hunk"]]:
    return {p: hs for p, hs in candidates.items() if any(h.kind == "unexplained" for h in hs)}


def _label(combo: Iterable[Any], every: bool = False) -> str:
    return ", ".join(f"{t.tool} {t.version} ({t.flavour})" for t in combo if every or t.tool == TOOL)


def _admissible(hunk: "Hunk", own: str, regenerated: set[str]) -> bool:
    added = [t for _, t in hunk.added]
    if risk.analyse("\n".join(added).encode("latin-1", "replace"), unexplained=True):
        return False
    return not any(len(k) >= OWN_TEXT_MIN and _norm(t) not in regenerated and k in own
                   for t, k in zip(added, map(_own_key, added)))


def _own_key(line: str) -> str:
    return _norm(line.replace("[", "").replace("]", ""))


def _own_text(files: Mapping[str, bytes]) -> str:
    """The tree's autoconf inputs (m4 quotes dropped, whitespace normalised), one text: a line a
    macro writes may sit inside a longer one (``m4_if(..., [], [LINE])``)."""
    return "\n".join(_own_key(x) for path, data in files.items()
                     if (name := posixpath.basename(path)) in ("configure.ac", "configure.in") or name.endswith(".m4")
                     for x in data.decode("latin-1").splitlines())


def _other_versions(trees: "Trees", files: Mapping[str, bytes], chain: "Chain", best: "_Outcome",
                    options: "Options", used: Any, tried: set[str]) -> Iterable[tuple[Alternative | None, list[dict[str, Any]]]]:
    """autoconf alone, over the inputs and the regenerated aclocal.m4 (and the tag's history when the
    chain's best run had it), with one build of each other
    published version, then the used version's builds not ``tried`` yet, then the others' further
    builds (at most :data:`MAX_RUNS`), two at a time; a version that cannot be had is a step record."""
    from . import regenerate as rg
    from . import toolchain
    steps = [(n, argv) for n, argv in chain.steps if rg.step_kind(n) == TOOL]
    if not steps or used is None:
        return
    inputs = dict(files)
    inputs.update({p: d for p, d in best.produced.items() if posixpath.basename(p) == "aclocal.m4"})
    firsts: list[Any] = []
    same: list[Any] = []
    rest: list[Any] = []
    for version in published_versions(options.toolchain_cache, options.download):
        try:
            found = toolchain.flavours(TOOL, version, cache_dir=options.toolchain_cache, download=options.download)
        except Exception as exc:  # a download or unpack failure: reported, the other versions still compared
            yield None, [{"step": f"autoconf {version} (other published autoconf)", "argv": [], "returncode": None,
                          "killed": None, "seconds": 0.0, "stderr": f"not compared: {exc}"[:400]}]
            continue
        if version == used.version:
            same += [t for t in found if t.flavour not in tried]
        else:
            firsts += found[:1]
            rest += found[1:]
    builds = (firsts + same + rest)[:MAX_RUNS]
    if not builds:
        return
    runner = rg._Runner(rg.Chain(steps, [TOOL], []), trees, options)
    with concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="provcheck-acversions") as pool:
        for at in range(0, len(builds), 2):   # two at a time; the caller stops once every hunk is explained
            for outcome in pool.map(lambda t: runner.run(inputs, [t], best.with_git), builds[at:at + 2]):
                yield Alternative(_label(outcome.combo), outcome.combo[0].version, outcome.produced), outcome.steps


def _apply(todo: Mapping[str, list["Hunk"]], trees: "Trees", produced: Mapping[str, bytes],
           alternatives: list[Alternative]) -> None:
    for path, hunks in todo.items():
        mark(path, TOOL, hunks, produced[path], trees.release[path](), alternatives)


def mark(path: str, tool: str, hunks: list["Hunk"], produced: bytes, release: bytes,
         alternatives: list[Alternative]) -> None:
    """Mark each unexplained hunk (of ``release`` against ``produced``) that another version of
    ``tool`` writes at that spot (``alternatives``: its outputs, by path) as ``toolchain``."""
    regen, rel = _lines(produced), _lines(release)
    groups = _groups(regen, rel)
    for alt in alternatives:
        data = alt.outputs.get(path)
        if data is None:
            continue
        spot = _Spots(regen, _lines(data))
        for hunk in hunks:
            if hunk.kind != "unexplained":
                continue
            changes = groups.get(hunk.release_lines)
            found = spot.find(changes, rel) if changes else None
            if found is not None:
                hunk.kind = "toolchain"
                where = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in found)
                hunk.how = (f"code of {tool} {alt.version}: each change of this hunk, with a line of context "
                            f"each side, is (whitespace aside) lines {where} of {posixpath.basename(path)} "
                            f"regenerated at this spot with {alt.label}")


def _lines(data: bytes) -> list[str]:
    return data.decode("latin-1").splitlines()


Change = tuple[int, int, int, int]    # regenerated i1:i2 replaced by release j1:j2


def _groups(regen: list[str], rel: list[str]) -> dict[tuple[int, int], list[Change]]:
    """Each hunk's changes, keyed by its release lines, exactly as ``regenerate.classify`` cut them."""
    from .compare import matcher
    from .regenerate import CONTEXT
    out = {}
    for group in matcher(regen, rel).get_grouped_opcodes(CONTEXT):
        ops = [(i1, i2, j1, j2) for op, i1, i2, j1, j2 in group if op != "equal"]
        if not ops:
            continue
        changed = [j for _, _, j1, j2 in ops for j in range(j1, j2)]
        span = (min(changed) + 1, max(changed) + 1) if changed else (group[0][3] + 1, group[0][3] + 1)
        out[span] = ops
    return out


class _Spots:
    """Where a place of the regenerated configure is in another version's configure: the lines
    both outputs share (whitespace-normalised) anchor the alignment."""

    def __init__(self, regen: list[str], alt: list[str]):
        from .compare import matcher
        self.alt_norm = [_norm(x) for x in alt]
        self.map: dict[int, int] = {}
        for i, j, n in matcher([_norm(x) for x in regen], self.alt_norm).get_matching_blocks():
            for k in range(n):
                if self.alt_norm[j + k]:
                    self.map[i + k] = j + k
        self.keys = sorted(self.map)

    def find(self, changes: list[Change], rel: list[str]) -> list[tuple[int, int]] | None:
        """For every change, in order, the other output's lines (1-based first, last) that its release
        block with one non-blank context line each side is, contiguously, between the anchors around
        the change and after the previous change's; None when one is not there."""
        out: list[tuple[int, int]] = []
        after = 0
        for i1, i2, j1, j2 in changes:
            lo, hi = j1 - 1, j2
            while lo >= 0 and not rel[lo].strip():
                lo -= 1
            while hi < len(rel) and not rel[hi].strip():
                hi += 1
            want = [_norm(rel[j]) for j in range(max(lo, 0), min(hi + 1, len(rel))) if rel[j].strip()]
            k = bisect.bisect_left(self.keys, i1) - 1
            a_lo = max(self.map[self.keys[k]] if k >= 0 else 0, after)
            k = bisect.bisect_left(self.keys, i2)
            a_hi = self.map[self.keys[k]] if k < len(self.keys) else len(self.alt_norm) - 1
            if not want or a_hi < a_lo or a_hi - a_lo > len(want) + SPOT_SLACK:
                return None
            window = [(j, t) for j in range(a_lo, a_hi + 1) if (t := self.alt_norm[j])]
            texts = [t for _, t in window]
            at = next((s for s in range(len(texts) - len(want) + 1) if texts[s:s + len(want)] == want), None)
            if at is None:
                return None
            first, last = window[at][0], window[at + len(want) - 1][0]
            out.append((first + 1, last + 1))
            after = last   # the next change's block may share this one's closing context line
        return out


__all__ = ["explain", "published_versions", "is_configure", "SPOT_SLACK", "MAX_RUNS"]
