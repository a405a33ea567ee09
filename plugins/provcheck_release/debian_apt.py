"""Debian packages through apt with a private state per suite: its own source list, package
lists and archive cache, the system's Debian archive keyring, so every index is verified by its
signature and every ``.deb`` by the index's SHA256; the system's apt state is never touched."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# every suite the Debian archive serves with the generators' versions (oldest first)
SUITES = ("bullseye", "bookworm", "trixie", "forky", "sid")
LISTS_MAX_AGE = 24 * 3600


class AptError(Exception):
    """apt could not do it; the message says what and why."""


def system_mirror() -> str:
    """The Debian mirror the system's apt already uses (first ``URIs:``/``deb`` entry)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split()
            if parts[:1] == ["URIs:"] and len(parts) > 1 and "security" not in parts[1]:
                return parts[1]
            if parts[:1] == ["deb"] and len(parts) > 2:
                uri = next((p for p in parts[1:] if "://" in p), None)
                if uri and "security" not in uri:
                    return uri
    raise AptError("no Debian mirror found in the system's apt sources")


@contextmanager
def locked(path: Path):
    """An exclusive lock on ``path`` (created), held for the block; across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def suite_options(state: Path, suite: str, source: bool = False) -> list[str]:
    """apt options for a private state under ``state`` serving ``suite`` (main)."""
    for d in ("lists/partial", "cache/archives/partial"):
        (state / d).mkdir(parents=True, exist_ok=True)
    line = f"[signed-by={KEYRING}] {system_mirror()} {suite} main\n"
    sources = state / "sources.list"
    text = f"deb {line}" + (f"deb-src {line}" if source else "")
    if not sources.is_file() or sources.read_text() != text:
        sources.write_text(text)
    return ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::Cache={state / 'cache'}",
            "-o", "Acquire::Languages=none", "-o", "Dir::Cache::pkgcache=pkgcache.bin",
            "-o", "Dir::Cache::srcpkgcache=srcpkgcache.bin"]   # some images turn the binary caches off


def prepared(state: Path, suite: str, source: bool = False, max_age: float = LISTS_MAX_AGE) -> list[str]:
    """``suite_options`` after an ``apt-get update`` when the lists are missing or older than ``max_age``."""
    opts = suite_options(state, suite, source)
    stamp = state / ("updated-src" if source else "updated")
    with locked(state / "lock"):
        if stamp.is_file() and time.time() - stamp.stat().st_mtime < max_age:
            return opts
        for attempt in range(2):   # one retry: a mirror caught mid-sync serves a stale index for a moment
            proc = subprocess.run(["apt-get", *opts, "update", "-qq"], capture_output=True, text=True)
            if proc.returncode == 0:
                break
            time.sleep(5 * (attempt + 1))
        else:
            raise AptError(f"apt-get update of {suite} failed: {proc.stderr.strip()[-300:]}")
        stamp.touch()
    return opts


def records(packages: list[str], opts: list[str]) -> list[dict[str, str]]:
    """The index records (``Package``, ``Version``, ``SHA256``, ...) of every version of ``packages``
    that the suite's signed indexes list (installed-only records, without SHA256, are left out)."""
    proc = subprocess.run(["apt-cache", *opts, "show", *packages], capture_output=True, text=True)
    out, fields = [], {}
    for line in [*proc.stdout.splitlines(), ""]:
        if not line.strip():
            if "SHA256" in fields and fields.get("Package") in packages:
                out.append(fields)
            fields = {}
        elif not line[:1].isspace() and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return out


def suite_index(state: Path, suite: str, packages: list[str], download: bool = True) -> list[dict[str, str]] | None:
    """``records`` of ``packages`` in ``suite``, remembered in the private state until its next update
    (``download=False``: never update; None when the suite was never fetched)."""
    if download:
        opts = prepared(state, suite)
    elif (state / "updated").is_file():
        opts = suite_options(state, suite)
    else:
        return None
    saved = state / "index.json"
    stamp = (state / "updated").stat().st_mtime
    try:
        data = json.loads(saved.read_text())
        if data["updated"] == stamp and set(packages) <= set(data["packages"]):
            return [r for r in data["records"] if r["Package"] in packages]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = records(packages, opts)
    keep = ("Package", "Version", "Architecture", "SHA256", "Filename", "Size")
    found = [{k: r[k] for k in keep if k in r} for r in found]
    tmp = saved.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"updated": stamp, "packages": sorted(packages), "records": found}))
    os.replace(tmp, saved)
    return found


def fetch(package: str, version: str, opts: list[str], dest: Path) -> Path:
    """``apt-get download package=version`` into ``dest`` (apt checks the index's SHA256)."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["apt-get", *opts, "download", f"{package}={version}"], cwd=dest, capture_output=True,
                          text=True)
    hits = sorted(dest.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    if proc.returncode or not hits:
        raise AptError(f"apt-get download {package}={version} failed: {proc.stderr.strip()[-300:]}")
    return hits[-1]


def download(packages: list[str], dest: Path, suite: str | None = None, source: bool = False) -> list[Path]:
    """``apt-get download`` (or ``source --download-only``) into ``dest``; with ``suite``, from that
    Debian suite through a private apt state under ``dest``."""
    dest = dest.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    opts = prepared(dest / "apt-state", suite, source) if suite else []
    if source:  # one by one: a source package missing from the mirror must not stop the rest
        for pkg in packages:
            proc = subprocess.run(["apt-get", *opts, "source", "--download-only", pkg], cwd=dest, capture_output=True,
                                  text=True)
            if proc.returncode:
                print(f"apt: {suite or 'system'}: no source for {pkg}: {proc.stderr.strip()[-200:]}",
                      file=sys.stderr)
        return sorted(p for p in dest.glob("*.orig.tar.*") if not p.name.endswith(".asc"))
    for pkg in packages:  # one by one: a virtual or missing package must not stop the rest
        proc = subprocess.run(["apt-get", *opts, "download", pkg], cwd=dest, capture_output=True, text=True)
        if proc.returncode:
            print(f"apt: {suite or 'system'}: cannot download {pkg}: {proc.stderr.strip()[-200:]}", file=sys.stderr)
    return sorted(dest.glob("*.deb"))


def installed_version(package: str) -> str | None:
    """The system's installed Debian version of ``package``, or None."""
    try:
        proc = subprocess.run(["dpkg-query", "-W", "-f", "${Status}|${Version}", package], capture_output=True,
                              text=True, env={**os.environ, "LC_ALL": "C"})
    except OSError:     # not a Debian system
        return None
    status, _, version = proc.stdout.partition("|")
    return version if proc.returncode == 0 and status.endswith(" installed") else None
