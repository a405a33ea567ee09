"""The tag's git history inside the sandbox: a ``.git`` whose ``HEAD`` is the tag's commit.

Release makers run their generators in a git checkout, and some generators ask git:
GnuPG's ``configure.ac`` takes its version from ``m4_esyscmd([./autogen.sh --find-version ...])``,
which runs ``git describe`` (``1.46`` at the tag, ``1.46-unknown`` without a ``.git``); a
``dist-hook`` writes ``git log`` into the ``ChangeLog``. The sandbox tree gets a ``.git``
whose objects are the source repository's (bound read-only at :data:`WORK_GIT`), whose
``HEAD`` is the tag's commit and whose ``packed-refs`` name the repository's tags; nothing of
the repository's own configuration (aliases, hooks, pagers) is copied.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import Callable

WORK_GIT = "/provcheck-git-objects"          # where the source repository's objects appear in the sandbox
GIT_ENV = {"GIT_PAGER": "cat", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_COUNT": "1",
           "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}
_SAFE = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/bin:/bin"}


@functools.lru_cache(maxsize=16)   # asked by the chain, the rule jobs, the history files and the scripts
def git_dir(repo: str | None) -> Path | None:
    """The source repository's git directory, when it has the full history."""
    if not repo:
        return None
    try:
        out = subprocess.run(["git", "-C", repo, "rev-parse", "--absolute-git-dir"], capture_output=True, text=True,
                             timeout=30, env=_SAFE)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    git = Path(out.stdout.strip())
    return None if (git / "shallow").exists() or not (git / "objects").is_dir() else git


def tag_refs(git: Path | None) -> bytes:
    """The repository's tags as a ``packed-refs`` file (``git describe`` and ``--decorate`` name them)."""
    if git is None:
        return b""
    try:
        out = subprocess.run(["git", "--git-dir", str(git), "for-each-ref", "--format=%(objectname) %(refname)",
                              "refs/tags"], capture_output=True, timeout=60, env=_SAFE)
    except (OSError, subprocess.TimeoutExpired):
        return b""
    lines = [x for x in out.stdout.splitlines()[:50000] if re.fullmatch(rb"[0-9a-f]{40} refs/tags/[!-~]+", x)]
    return b"\n".join(lines) + b"\n" if lines else b""


def fake_git(root: Path, commit: str, refs: bytes = b"") -> None:
    """Write ``root/.git`` at the tag's commit; its objects are at :data:`WORK_GIT` in the sandbox."""
    git = root / ".git"
    for d in ("objects/info", "refs/heads", "refs/tags"):
        (git / d).mkdir(parents=True, exist_ok=True)
    (git / "HEAD").write_text(commit + "\n")
    (git / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = false\n")
    (git / "objects/info/alternates").write_text(WORK_GIT + "\n")
    if refs:
        (git / "packed-refs").write_bytes(refs)


_ESYSCMD = re.compile(rb"esyscmd\(\s*\[?([^\]\)\n]*)")


def generators_ask_git(configure_ac: bytes, tag_file: Callable[[str], bytes | None]) -> bool:
    """Whether ``configure.ac`` runs git at autoconf time: an ``m4_esyscmd`` whose command names
    git, or runs a script of the tag (``tag_file(path)`` gives its bytes) that does."""
    for m in _ESYSCMD.finditer(configure_ac):
        command = m.group(1)
        if re.search(rb"\bgit\b", command):
            return True
        words = command.split()
        script = words[0].decode("latin-1").removeprefix("./") if words else ""
        data = tag_file(script) if script else None
        if data and re.search(rb"(?m)^[^#\n]*\bgit\s+(?:describe|rev-parse|log|rev-list|show)\b", data):
            return True
    return False


__all__ = ["WORK_GIT", "GIT_ENV", "git_dir", "tag_refs", "fake_git", "generators_ask_git", "maker_zones"]


MAX_ZONES = 3


@functools.lru_cache(maxsize=16)
def maker_zones(git: Path | None, commit: str) -> tuple[str, ...]:
    """Time zones the release's maker may have worked in, for generators that print local dates
    (``gitlog-to-changelog`` writes each entry's date in the maker's zone: gnupg's ChangeLog has a
    Japanese committer's entries on Berlin's dates). The zones whose UTC offset at the tag
    commit's commit time is its committer's offset, one per distinct rule set (the offsets around
    the usual DST changes of that year and of ten years earlier), the largest groups first."""
    import datetime
    import zoneinfo
    if git is None or not re.fullmatch(r"[0-9a-f]{40}", commit):
        return ()
    try:
        out = subprocess.run(["git", "--git-dir", str(git), "log", "-1", "--format=%ct %ci", commit],
                             capture_output=True, text=True, timeout=30, env=_SAFE).stdout.split()
        when, offset = int(out[0]), out[-1]
        sign = -1 if offset.startswith("-") else 1
        seconds = sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return ()
    at = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    probes = [datetime.datetime(y, m, d, 12, tzinfo=datetime.timezone.utc)  # around the usual DST changes
              for y in (at.year, at.year - 10) for m in (1, 3, 4, 7, 9, 10, 11) for d in (1, 8, 15, 22, 29)]
    groups: dict[tuple[float, ...], list[str]] = {}
    for name in sorted(zoneinfo.available_timezones()):
        if not re.fullmatch(r"[A-Z][A-Za-z_]+/[A-Za-z_/-]+", name):  # places, not aliases such as CET or Etc/GMT-2
            continue
        try:
            zone = zoneinfo.ZoneInfo(name)
            if at.astimezone(zone).utcoffset() != datetime.timedelta(seconds=seconds):
                continue
            rules = tuple(p.astimezone(zone).utcoffset().total_seconds() for p in probes)  # type: ignore[union-attr]
        except (OSError, ValueError, zoneinfo.ZoneInfoNotFoundError):
            continue
        groups.setdefault(rules, []).append(name)
    ranked = sorted(groups.values(), key=lambda names: (-len(names), names[0]))

    def label(names: list[str]) -> str:  # a name of the group's most common region (Europe/..., not Asia/Beirut)
        regions = [n.split("/")[0] for n in names]
        return next(n for n in names if n.startswith(max(regions, key=regions.count) + "/"))
    return tuple(label(names) for names in ranked[:MAX_ZONES])
