"""Files a release's maker wrote from the tag's git history, reproduced by ``git log``.

openssh's ``ChangeLog`` is ``git log`` of the tag's last 1,161 commits, written by a release
process no rule of the tree names. Any release-only file that *starts* like ``git log``'s
output (a ``commit <id>`` line) is a candidate: its first commit must be the tag's commit or
one of its ancestors, and ``git log -n K`` from there (``K`` = the file's ``commit`` lines), in
the formats the file's own lines point to (``--pretty=fuller``, ``--date=iso``, ``--stat``,
``--name-status``, with and without merges and the tag's ``.mailmap``), must give the file
byte for byte. Then it is ``reproduced``; otherwise it keeps the verdict it had (no finding:
a history file in a format no option set gives is not evidence of anything).

``git`` runs under :mod:`provcheck.sandbox` over a ``.git`` whose objects are the source
repository's (bound read-only) and whose ``HEAD`` is the tag's commit, with no system or user
configuration: nothing of the repository's own configuration (aliases, pagers, hooks) is read.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from . import docgen
from . import regenerate as rg

MAX_SIZE = 64 << 20
_FIRST = re.compile(rb"\A\s*commit ([0-9a-f]{40})\b")
_COMMIT = re.compile(rb"^commit [0-9a-f]{40}\b", re.M)
_ISO = re.compile(rb"^(?:Author|Commit)?Date:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$", re.M)
_ISO_STRICT = re.compile(rb"^(?:Author|Commit)?Date:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", re.M)


@dataclass
class Candidate:
    path: str
    size: int
    sha256: str
    first: str          # the commit id the file starts with
    commits: int        # its ``commit`` lines
    options: list[list[str]]


def candidates(release: Mapping[str, Callable[[], bytes]], tag: Mapping[str, bytes],
               skip: set[str] | frozenset[str] = frozenset()) -> list[Candidate]:
    """Release-only files that start like ``git log`` output, each with the option sets to try."""
    out = []
    for path in sorted(release):
        if path in tag or path in skip:
            continue
        data = release[path]()
        m = _FIRST.match(data[:256])
        if m is None or len(data) > MAX_SIZE:
            continue
        out.append(Candidate(path, len(data), hashlib.sha256(data).hexdigest(), m.group(1).decode(),
                             len(_COMMIT.findall(data)), option_sets(data)))
    return out


def option_sets(data: bytes) -> list[list[str]]:
    """``git log`` options the file's own lines point to, likeliest first."""
    pretty = (["--pretty=fuller"] if b"\nCommitDate: " in data else ["--pretty=full"] if b"\nCommit: " in data
              else [])
    date = ["--date=iso"] if _ISO.search(data) else ["--date=iso-strict"] if _ISO_STRICT.search(data) else []
    if re.search(rb"^ \d+ files? changed", data, re.M):
        files = [["--stat"]]
    elif re.search(rb"^[AMDTRC]\d*\t", data, re.M):
        files = [["--name-status"]]
    else:
        files = [[], ["--name-only"]]
    merges = [[]] if b"\nMerge: " in data else [["--no-merges"], []]
    return [["--no-color", *pretty, *date, *f, *mg, *mm]
            for mm in ([], ["--use-mailmap"]) for f in files for mg in merges]


def reproduce(found: list[Candidate], repo: str | None, commit: str, work_dir: Path | None = None,
              limits: Any = None) -> tuple[dict[str, rg.FileResult], list[dict[str, Any]]]:
    """({path: reproduced}, steps): each candidate against ``git log`` of the tag's history."""
    from provcheck import sandbox
    files: dict[str, rg.FileResult] = {}
    if not found:
        return files, []
    name = f"git log of the tag's history ({', '.join(c.path for c in found[:3])})"
    git = docgen._git_dir(repo)
    why = sandbox.unavailable_reason() or (
        None if git is not None and re.fullmatch(r"[0-9a-f]{40}", commit) else
        "needs the tag's git history: no repository with the full history")
    if why is not None:
        return files, [{"step": name, "skipped": why}]
    assert git is not None
    lines = []
    for i, c in enumerate(found):  # one script: stop at the first option set that gives the file's digest
        tries = " ".join(docgen._quote(" ".join(o)) for o in c.options)
        lines.append(f"git merge-base --is-ancestor {c.first} HEAD 2>/dev/null && for o in {tries}; do "
                     f"git log -n {c.commits} $o {c.first} > out.{i} 2>/dev/null && "
                     f"test \"$(sha256sum < out.{i} | cut -c1-64)\" = {c.sha256} && {{ echo \"{i} $o\"; break; }}; "
                     f"done; rm -f out.{i}")
    base = Path(tempfile.mkdtemp(prefix="history-", dir=work_dir))
    try:
        docgen._fake_git(base, commit)
        env = {"TZ": "UTC", "LC_ALL": "C.UTF-8", "GIT_PAGER": "cat", "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "safe.directory",
               "GIT_CONFIG_VALUE_0": "*", "GIT_CONFIG_KEY_1": "mailmap.blob", "GIT_CONFIG_VALUE_1": "HEAD:.mailmap"}
        res = sandbox.run(["/bin/sh", "-c", "\n".join(lines)], workdir=base, env=env,
                          binds=[(git / "objects", docgen.WORK_GIT)],
                          limits=limits or sandbox.SandboxLimits(seconds=300.0))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for line in res.stdout.decode("utf-8", "replace").splitlines():
        index, _, opts = line.partition(" ")
        if index.isdigit() and int(index) < len(found):
            c = found[int(index)]
            files[c.path] = rg.FileResult(c.path, rg.REPRODUCED, size=c.size,
                                          toolchain=f"git log -n {c.commits} {opts} {c.first[:12]} (the tag's history)")
    step = {"step": name, "returncode": res.returncode, "killed": res.killed, "seconds": round(res.seconds, 3),
            "stderr": rg._tail(res.stderr, 1000)}
    left = [c.path for c in found if c.path not in files]
    if left:
        step["skipped"] = f"no git log format of the tag's history gives {', '.join(left[:5])}"
    return files, [step]


__all__ = ["Candidate", "candidates", "option_sets", "reproduce"]
