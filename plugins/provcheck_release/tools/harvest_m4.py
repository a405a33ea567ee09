"""Build the known-good m4 database shipped as ``provcheck_release/data/m4db.zip``.

Reads real Debian packages with provcheck's own archive reader (nothing is extracted or
run) and records, for every ``*.m4`` macro file and every build-aux helper script
(``config.guess``, ``ltmain.sh``, ``install-sh``, ... versioned by their ``scriptversion``/
``timestamp``/``VERSION`` line): base name, declared serial, sha256 of
the exact bytes, sha256 of the comment-normalised content, where it came from, and the
text (for diffs in findings).

    python -m provcheck_release.tools.harvest_m4 --download            # apt-get download the default set
    python -m provcheck_release.tools.harvest_m4 pkgs/*.deb            # or name the files
    python -m provcheck_release.tools.harvest_m4 --upstream libtool_2.4.7.orig.tar.xz  # the generators' own releases
    python -m provcheck_release.tools.harvest_m4 --orig foo.orig.tar.gz  # m4 vendored in orig tarballs
    python -m provcheck_release.tools.harvest_m4 --add pkg-config_0.29.2-1_amd64.deb  # add to the shipped database

Binary packages (``.deb``) and the generator projects' own upstream tarballs
(``--upstream``: the Debian orig tarballs of libtool, gnulib, gettext, automake, ...) are
the trusted base: every ``*.m4`` under ``usr/share`` of a package, every ``*.m4`` of an
upstream tarball outside its test suites, is taken. Distributions patch some macros
(Debian's libtool.m4 differs from upstream's at the same serial), so both are needed. Orig tarballs
(``--orig``) add other *published versions* of macro files the base
already knows (same file name, a serial line, a different serial) — an older gnulib copy
vendored by a project — and never a name the base lacks or a second content for a
serial the base already has, so one odd tarball cannot teach the database a new macro or
bless a changed copy of a known one.
"""

from __future__ import annotations

import argparse
import os
import posixpath
import re
import sys
import tempfile
from pathlib import Path

from provcheck import BlobStore, Limits
from provcheck.formats.archive import Reader, read_package

from provcheck_release.debian_apt import download
from provcheck_release.m4db import DB_FORMAT, DB_PATH, M4Database, db_name, hashes, is_aux, version_of, write_db

SOURCE_PACKAGES = ["libtool", "autoconf", "automake", "automake-1.16", "gettext", "gnulib", "pkgconf",
                   "autoconf-archive"]
DEFAULT_PACKAGES = ["autoconf", "automake", "autoconf-archive", "gnulib", "libtool", "libltdl-dev", "gettext",
                    "autopoint", "pkgconf", "pkg-config"]
MAX_M4 = 1 << 20


GETTEXT_ARCHIVE = re.compile(r"^usr/share/gettext/archive\.dir\.tar(?:\.xz|\.gz)?$")
_ARCHIVE_MEMBER = re.compile(r"^(?:\./)?gettext-([0-9][0-9.]*[0-9])/(m4/[^/]+\.m4|po/[^/]+|ABOUT-NLS|config\.rpath)$")
MAX_ARCHIVE = 64 << 20


def gettext_archive(data: bytes, origin: str):
    """(version, database name, bytes) of every m4 file, po/ infrastructure file, ``ABOUT-NLS`` and
    ``config.rpath`` of each gettext release in autopoint's ``archive.dir.tar`` (read in memory,
    nothing extracted)."""
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for member in tar:
            m = _ARCHIVE_MEMBER.match(member.name)
            if not m or not member.isfile() or member.size > MAX_M4:
                continue
            version, rel = m.groups()
            name = db_name(rel) if rel.startswith("po/") else posixpath.basename(rel)
            if rel.startswith("po/") and name == posixpath.basename(rel):
                continue  # not infrastructure (a po/ file autopoint does not copy)
            f = tar.extractfile(member)
            if f is not None:
                yield version, name, f.read(MAX_M4 + 1)


def m4_files(path: Path, store: BlobStore, trusted: str):
    """(member path, database name, serial or None for the file's own, bytes)."""
    reader = Reader(store, Limits(), path.name, rootfs=path.name.endswith(".deb"))
    entries = read_package(reader, path, path.name)
    for err in entries.errors:
        print(f"harvest: {path.name}: {err.message}", file=sys.stderr)
    for _raw, node in entries.items:
        base = posixpath.basename(node.path)
        if node.is_file and trusted == "package" and GETTEXT_ARCHIVE.match(node.path) and node.size <= MAX_ARCHIVE:
            for version, name, data in gettext_archive(store.read(node.sha256), origin_of(path)):
                yield f"{node.path}:gettext-{version}", name, version, data
            continue
        if not node.is_file or not (base.endswith(".m4") or is_aux(base)) or node.size > MAX_M4:
            continue
        if trusted == "package" and not node.path.startswith("usr/share/"):
            continue
        if trusted == "upstream" and any(p in ("tests", "testsuite", "test") for p in node.path.split("/")):
            continue
        yield node.path, base, None, store.read(node.sha256)


def origin_of(path: Path) -> str:
    name = path.name
    if ".orig.tar." in name:
        pkg, _, ver = name.split(".orig.tar.")[0].partition("_")
        return f"{pkg.split('-1.')[0]} {ver} upstream"
    for suffix in (".deb", ".orig.tar.gz", ".orig.tar.xz", ".orig.tar.bz2", ".tar.gz", ".tar.xz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.split("_")[0] + "_" + "_".join(name.split("_")[1:2]).replace("%3a", ":")


def harvest(debs: list[Path], origs: list[Path], upstream: list[Path] = (), base: M4Database | None = None) -> dict:
    """``base``: an existing database whose entries (and sources) are kept, the new ones added."""
    files: dict[str, list[dict]] = {}
    seen: set[tuple[str, str]] = set()
    if base is not None:
        for name, entries in base.files.items():
            files[name] = [{**e, **({"text": t} if (t := base.text(e)) is not None else {})} for e in entries]
            seen.update((name, e["sha256"], e["serial"]) if name.startswith("po/") else (name, e["sha256"])
                        for e in entries)
    with tempfile.TemporaryDirectory(prefix="harvest-m4-") as tmp:
        store = BlobStore(Path(tmp) / "blobs")
        for trusted, group in (("package", debs), ("upstream", list(upstream)), ("", origs)):
            for path in group:
                origin = origin_of(path)
                for member, name, version, data in m4_files(path, store, trusted):
                    sha, norm = hashes(data)
                    serial = version_of(name, data) or version
                    # gettext's po/ files carry no version: one entry per gettext release, even when identical
                    key = (name, sha, serial) if name.startswith("po/") else (name, sha)
                    if key in seen:
                        continue
                    known = files.get(name, [])
                    if not trusted:
                        if not known or serial is None or any(e["serial"] == serial for e in known):
                            continue
                    seen.add(key)
                    origin_here = f"{origin} archive gettext-{version}" if version else origin
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        text = data.decode("latin-1")
                    files.setdefault(name, []).append({"serial": serial, "sha256": sha, "norm": norm,
                                                       "origin": origin_here, "path": member, "text": text})
    for entries in files.values():
        entries.sort(key=lambda e: (e["serial"] or "", e["origin"], e["sha256"]))
    sources = {origin_of(p) for p in [*debs, *upstream, *origs]} | set(base.sources if base is not None else ())
    return {"format": DB_FORMAT, "sources": sorted(sources),
            "files": dict(sorted(files.items()))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("debs", nargs="*", type=Path, help="Debian binary packages (.deb) to harvest")
    ap.add_argument("--upstream", nargs="*", type=Path, default=[],
                    help="the generator projects' own release tarballs (trusted)")
    ap.add_argument("--orig", nargs="*", type=Path, default=[], help="orig tarballs: extra published versions")
    ap.add_argument("--download", action="store_true", help="apt-get download the default package set first")
    ap.add_argument("--suite", action="append", default=[],
                    help="with --download: also download from this Debian suite (e.g. trixie), repeatable")
    ap.add_argument("--cache", type=Path, default=Path(".cache/release/debs"), help="where --download puts .debs")
    ap.add_argument("--add", action="store_true",
                    help="keep every entry of the --output database and add the named files' copies to it")
    ap.add_argument("--output", type=Path, default=DB_PATH)
    args = ap.parse_args(argv)
    debs = list(args.debs)
    upstream = list(args.upstream)
    if args.download:
        debs += download(DEFAULT_PACKAGES, args.cache)
        upstream += download(SOURCE_PACKAGES, args.cache / "upstream", source=True)
        for suite in args.suite:
            debs += download(DEFAULT_PACKAGES, args.cache / suite, suite)
            upstream += download(SOURCE_PACKAGES, args.cache / suite / "upstream", suite, source=True)
    if not debs and not upstream:
        ap.error("name .deb files, --upstream tarballs, or use --download")
    base = M4Database.load(args.output) if args.add else None
    db = harvest(sorted(set(debs)), sorted(set(args.orig)), sorted(set(upstream)), base)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    write_db(db, tmp)
    os.replace(tmp, args.output)
    n = sum(len(v) for v in db["files"].values())
    print(f"harvest: {len(db['files'])} macro files, {n} versions from {len(db['sources'])} packages "
          f"-> {os.fspath(args.output)} ({args.output.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
