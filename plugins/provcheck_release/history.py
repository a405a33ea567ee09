"""Files a release's maker wrote from the tag's git history, reproduced by ``git log``.

openssh's ``ChangeLog`` is ``git log`` of the tag's last 1,161 commits, written by a release
process no rule of the tree names. Any release-only file that *starts* like ``git log``'s
output (a ``commit <id>`` line) is a candidate: its first commit must be the tag's commit or
one of its ancestors, and ``git log -n K`` from there (``K`` = the file's ``commit`` lines), in
the formats the file's own lines point to (``--pretty=fuller``, ``--date=iso``, ``--stat``,
``--name-status``, with and without merges and the tag's ``.mailmap``), must give the file
byte for byte. Then it is ``reproduced``; otherwise it keeps the verdict it had (no finding:
a history file in a format no option set gives is not evidence of anything).

A release script of the tag may also pipe the history through a script of its own (curl's
``maketgz``: ``git log --pretty=fuller ... -1000 | ./scripts/log2changes.pl > CHANGES.dist``).
Every such command of a script of the tag (``git log ... [| ...] > FILE`` as a shell line or
inside perl's backticks; no variables, no command substitution) runs as it is, in the script's directory of a copy of the tag, and
whatever it writes is matched *by content* against the release-only files: equal bytes are a
reproduction, whatever name the release process gave the file later (``CHANGES``).

``git`` runs under :mod:`provcheck.sandbox` over a ``.git`` whose objects are the source
repository's (bound read-only) and whose ``HEAD`` is the tag's commit, with no system or user
configuration: nothing of the repository's own configuration (aliases, pagers, hooks) is read;
a release script's pipeline also sees the repository's tags (``--decorate`` names them).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from . import docgen, tagrepo
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
               skip: set[str] | frozenset[str] = frozenset(),
               head: Callable[[str], bytes] | None = None) -> list[Candidate]:
    """Release-only files that start like ``git log`` output, each with the option sets to try
    (``head`` reads a file's first 256 bytes: only a candidate is read whole)."""
    out = []
    for path in sorted(release):
        if path in tag or path in skip:
            continue
        m = _FIRST.match((head(path) if head is not None else release[path]())[:256])
        if m is None:
            continue
        data = release[path]()
        if len(data) > MAX_SIZE:
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
    git = tagrepo.git_dir(repo)
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
        tagrepo.fake_git(base, commit)
        env = {"TZ": "UTC", "LC_ALL": "C.UTF-8", "GIT_PAGER": "cat", "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "safe.directory",
               "GIT_CONFIG_VALUE_0": "*", "GIT_CONFIG_KEY_1": "mailmap.blob", "GIT_CONFIG_VALUE_1": "HEAD:.mailmap"}
        res = sandbox.run(["/bin/sh", "-c", "\n".join(lines)], workdir=base, env=env,
                          binds=[(git / "objects", tagrepo.WORK_GIT)],
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


# a shell line, or the command of a backtick / system() / open() of another script language
_PIPELINE = re.compile(r"""(?:^|[`"'(])[ \t]*(git[ \t]+log\b[^\n`$;&<>|"']*(?:\|[^\n`$;&<>|"']+)*)>[ \t]*"""
                       r"""([\w.+/-]+)[ \t]*(?=[`"')]|$)""", re.M)
MAX_SCRIPT = 1 << 20


def script_jobs(tag: Mapping[str, bytes]) -> list[docgen.DocJob]:
    """``git log ... > FILE`` commands of the tag's scripts (a shell line; perl's or python's
    backticks, ``system``, ``open``), each a job run by ``/bin/sh`` where its script is."""
    jobs = []
    for path in sorted(tag):
        data = tag[path]
        first = data[:128].split(b"\n", 1)[0]
        if len(data) > MAX_SCRIPT or not (path.endswith(".sh") or first.startswith(b"#!")):
            continue
        text = data.decode("utf-8", "replace")
        d = posixpath.dirname(path)
        for m in _PIPELINE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            pipeline, out = m.group(1).strip(), m.group(2)
            # the tag's copy has no modes: its scripts a stage runs as ./path are made executable, as git has them
            stages = [w.split()[0] for w in pipeline.split("|")[1:] if w.split()]
            run = [x for x in stages if x.startswith("./") and tag.get(posixpath.normpath(posixpath.join(d, x)),
                                                                         b"")[:2] == b"#!"]
            chmod = f"chmod +x {' '.join(docgen._quote(x) for x in run)} && " if run else ""
            jobs.append(docgen.DocJob(f"{path}:{line} ({pipeline[:100]} > {out})", d,
                                      f"{chmod}{pipeline} > {docgen._quote(out)}", git=True))
    return jobs


def run_scripts(jobs: list[docgen.DocJob], tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]],
                sizes: Mapping[str, int], repo: str | None, commit: str, work_dir: Path | None = None,
                limits: Any = None) -> tuple[dict[str, rg.FileResult], list[dict[str, Any]]]:
    """({release path: reproduced}, steps): each job's outputs matched by content against the
    release files of ``sizes`` (those without a verdict yet) that the tag lacks or has otherwise."""
    from provcheck import sandbox
    files: dict[str, rg.FileResult] = {}
    if not jobs or not sizes:
        return files, []
    git = tagrepo.git_dir(repo)
    why = sandbox.unavailable_reason() or (
        None if git is not None and re.fullmatch(r"[0-9a-f]{40}", commit) else
        "needs the tag's git history: no repository with the full history")
    if why is not None:
        return files, [{"step": j.name, "skipped": why} for j in jobs]
    assert git is not None
    refs = tagrepo.tag_refs(git)
    by_size: dict[int, list[str]] = {}
    for path, size in sizes.items():
        by_size.setdefault(size, []).append(path)
    steps: list[dict[str, Any]] = []
    locale: dict[str, bytes] | None = None
    for job in jobs:
        job.extra = {".git/packed-refs": refs}
        produced = _run_and_match(job, job.script, tag, release, by_size, git, commit, work_dir, limits, files, steps)
        # a list the maker's ``sort`` ordered in their locale (util-linux's po/POTFILES.in): the same job again
        # in en_US.UTF-8, when an output is a permutation of the lines of the release file of its name
        if any(p in sizes and p not in files and _permutation(data, release[p]()) for p, data in produced.items()):
            if locale is None:
                locale = maintainer_locale(work_dir)
            if not locale:
                steps.append({"step": f"{job.name} in {MAINTAINER_LOCALE}", "skipped": "localedef could not "
                              f"compile {MAINTAINER_LOCALE} (Debian package locales)"})
                continue
            up = "/".join([".."] * len(job.directory.split("/"))) + "/" if job.directory else ""
            again = replace(job, name=f"{job.name} in {MAINTAINER_LOCALE}", extra={**job.extra, **locale})
            _run_and_match(again, f'LOCPATH="$PWD/{up}{LOCALE_DIR}" LC_ALL={MAINTAINER_LOCALE} && '
                                  f"export LOCPATH LC_ALL && {job.script}", tag, release, by_size, git, commit,
                           work_dir, limits, files, steps)
    return files, steps


def _run_and_match(job: docgen.DocJob, script: str, tag: Mapping[str, bytes],
                   release: Mapping[str, Callable[[], bytes]], by_size: Mapping[int, list[str]], git: Path,
                   commit: str, work_dir: Path | None, limits: Any, files: dict[str, rg.FileResult],
                   steps: list[dict[str, Any]]) -> dict[str, bytes]:
    """Run one job; what it wrote that equals a release file is ``reproduced`` (into ``files``)."""
    try:
        produced, record = docgen._run_one(job, script, tag, git, commit, work_dir, limits)
    except Exception as exc:  # one job's failure (a sandbox error, an unwritable tree) is its reason
        steps.append({"step": job.name, "skipped": f"could not run: {exc!r}"[:400]})
        return {}
    steps.append(record)
    for data in produced.values():
        for path in by_size.get(len(data), []):
            if path not in files and data and tag.get(path) != data and release[path]() == data:
                files[path] = rg.FileResult(path, rg.REPRODUCED, size=len(data), toolchain=job.name)
    return produced


def _permutation(a: bytes, b: bytes) -> bool:
    return a != b and len(a) == len(b) and sorted(a.split(b"\n")) == sorted(b.split(b"\n"))


MAINTAINER_LOCALE = "en_US.UTF-8"
LOCALE_DIR = ".provcheck-locale"


def maintainer_locale(work_dir: Path | None) -> dict[str, bytes]:
    """{path in a job's tree: bytes} of en_US.UTF-8 compiled by the system's ``localedef`` (a
    system tool over the system's locale sources; nothing of the release is read), for
    ``LOCPATH``; empty when it cannot be compiled."""
    import subprocess
    out = Path(tempfile.mkdtemp(prefix="locale-", dir=work_dir))
    try:
        target = out / MAINTAINER_LOCALE
        subprocess.run(["localedef", "-i", "en_US", "-f", "UTF-8", str(target)], capture_output=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
        return {f"{LOCALE_DIR}/{p.relative_to(out).as_posix()}": p.read_bytes()
                for p in sorted(target.rglob("*")) if p.is_file()} if (target / "LC_COLLATE").is_file() else {}
    except (OSError, subprocess.TimeoutExpired):
        return {}
    finally:
        shutil.rmtree(out, ignore_errors=True)


__all__ = ["Candidate", "candidates", "option_sets", "reproduce", "script_jobs", "run_scripts"]
