"""Which package owns a file, from the package databases inside the tree.

* dpkg: ``var/lib/dpkg/info/*.list`` (paths as the package shipped them, e.g. ``/lib/...``
  on a merged-usr system, so each is resolved through the tree's symlinks) and
  ``var/lib/dpkg/status`` for versions;
* apk: ``lib/apk/db/installed`` (``P:`` name, ``V:`` version, ``F:`` directory, ``R:`` file);
* rpm: ``var/lib/rpm/rpmdb.sqlite`` (rpm >= 4.16; also under ``usr/lib/sysimage/rpm``) with
  its write-ahead log, copied into the scan's work area and opened read-only; each row is
  an rpm header blob (``NAME``, ``VERSION``, ``RELEASE``, ``DIRNAMES``, ``BASENAMES``,
  ``DIRINDEXES``), parsed with bounds checks. The Berkeley DB (``Packages``) and ndb
  (``Packages.db``) formats are not read; they are listed in ``unread``.
"""

from __future__ import annotations

import posixpath
import sqlite3
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

MAX_DB = 64 << 20


@dataclass
class Packages:
    owner: dict[str, str] = field(default_factory=dict)         # real path -> "name"
    versions: dict[str, str] = field(default_factory=dict)      # name -> version
    databases: list[str] = field(default_factory=list)          # which were read
    where: dict[str, str] = field(default_factory=dict)         # package name -> database file
    unread: list[str] = field(default_factory=list)             # present, in a format not read (rpm bdb/ndb)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, why): present, but unreadable


def read_packages(tree: Any, wanted: Iterable[str]) -> Packages:
    """Ownership of the ``wanted`` real paths (only those are kept)."""
    wanted = set(wanted)
    pk = Packages()
    dir_cache: dict[str, str | None] = {}

    def real(path: str) -> str | None:
        d, base = posixpath.split(path.strip("/"))
        if d not in dir_cache:
            node = tree.resolve(d) if d else None
            dir_cache[d] = (node.path if node is not None else None) if d else ""
        rd = dir_cache[d]
        if rd is None:
            return None
        return f"{rd}/{base}" if rd else base

    info_dir = tree.resolve("var/lib/dpkg/info")
    if info_dir is not None and info_dir.type == "dir":
        prefix = info_dir.path + "/"
        lists = [n for p, n in tree.nodes.items()
                 if p.startswith(prefix) and p.endswith(".list") and "/" not in p[len(prefix):] and n.is_file]
        if lists:
            pk.databases.append("dpkg")
        for n in sorted(lists, key=lambda n: n.path):
            if n.size > MAX_DB:
                continue
            name = n.name[:-5].split(":", 1)[0]
            for line in tree.read(n).decode("utf-8", "surrogateescape").splitlines():
                if not line or line == "/.":
                    continue
                r = real(line)
                if r in wanted:
                    pk.owner.setdefault(r, name)
        status = tree.resolve("var/lib/dpkg/status")
        if status is not None and status.is_file and status.size <= MAX_DB:
            for para in tree.read(status).decode("utf-8", "replace").split("\n\n"):
                fields = {}
                for line in para.splitlines():
                    if line[:1] not in (" ", "\t") and ":" in line:
                        k, _, v = line.partition(":")
                        fields[k.strip()] = v.strip()
                if fields.get("Package") and fields.get("Version") and "not-installed" not in fields.get("Status", ""):
                    pk.versions[fields["Package"]] = fields["Version"]
                    pk.where[fields["Package"]] = status.path

    apk = tree.resolve("lib/apk/db/installed")
    if apk is not None and apk.is_file and apk.size <= MAX_DB:
        pk.databases.append("apk")
        name = ver = None
        cur_dir = ""
        for line in tree.read(apk).decode("utf-8", "replace").splitlines():
            if not line:
                name, cur_dir = None, ""
                continue
            key, _, value = line.partition(":")
            if key == "P":
                name = value
            elif key == "V" and name:
                ver = value
                pk.versions[name] = ver
                pk.where[name] = apk.path
            elif key == "F":
                cur_dir = value
            elif key == "R" and name:
                r = real(f"{cur_dir}/{value}" if cur_dir else value)
                if r in wanted:
                    pk.owner.setdefault(r, name)

    for rpmdb in ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"):
        node = tree.resolve(rpmdb)
        if node is None or not node.is_file or "rpm" in pk.databases:
            continue
        try:
            for name, version, files in read_rpmdb(tree, node):
                pk.versions.setdefault(name, version)
                pk.where.setdefault(name, node.path)
                for f in files:
                    r = real(f)
                    if r in wanted:
                        pk.owner.setdefault(r, name)
            pk.databases.append("rpm")
        except (sqlite3.Error, OSError, ValueError, struct.error) as exc:
            pk.failed.append((node.path, f"cannot read the rpm database: {type(exc).__name__}: {exc}"))
    for rpmdb in ("var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages",
                  "usr/lib/sysimage/rpm/Packages.db"):
        if tree.resolve(rpmdb) is not None:
            pk.unread.append(rpmdb)
    return pk


RPMTAG_NAME, RPMTAG_VERSION, RPMTAG_RELEASE, RPMTAG_EPOCH = 1000, 1001, 1002, 1003
RPMTAG_OLDFILENAMES, RPMTAG_DIRINDEXES, RPMTAG_BASENAMES, RPMTAG_DIRNAMES = 1027, 1116, 1117, 1118
MAX_HEADER = 64 << 20


def read_rpmdb(tree: Any, node: Any) -> Iterator[tuple[str, str, list[str]]]:
    """(name, version-release, file paths) of every package in an rpm sqlite database."""
    if node.size > 1 << 30:
        raise ValueError("rpm database larger than 1 GiB; not read")
    from provcheck.sqlite import UnreadableDatabase, table_column
    try:
        blobs = table_column(tree, node, "Packages", "blob")
    except UnreadableDatabase as exc:
        raise ValueError(f"not a readable rpm database: {exc}") from None
    for blob in blobs:
        if not isinstance(blob, bytes) or len(blob) > MAX_HEADER:
            continue
        tags = rpm_header(blob)
        name = _first(tags.get(RPMTAG_NAME))
        if not name:
            continue
        version = f"{_first(tags.get(RPMTAG_VERSION)) or '?'}-{_first(tags.get(RPMTAG_RELEASE)) or '?'}"
        epoch = tags.get(RPMTAG_EPOCH)
        if isinstance(epoch, list) and epoch and isinstance(epoch[0], int):
            version = f"{epoch[0]}:{version}"
        files: list[str] = []
        dirs, bases, idx = tags.get(RPMTAG_DIRNAMES), tags.get(RPMTAG_BASENAMES), tags.get(RPMTAG_DIRINDEXES)
        if isinstance(dirs, list) and isinstance(bases, list) and isinstance(idx, list) and len(bases) == len(idx):
            files = [dirs[i] + b for i, b in zip(idx, bases) if isinstance(i, int) and 0 <= i < len(dirs)]
        elif isinstance(tags.get(RPMTAG_OLDFILENAMES), list):
            files = [f for f in tags[RPMTAG_OLDFILENAMES] if isinstance(f, str)]
        yield name, version, files


def _first(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, list) and v and isinstance(v[0], str):
        return v[0]
    return None


def rpm_header(blob: bytes) -> dict[int, Any]:
    """The tags we read from one rpm header blob (as stored in rpmdb: no lead magic)."""
    if len(blob) < 8:
        raise ValueError("rpm header shorter than 8 bytes")
    il, dl = struct.unpack_from(">II", blob, 0)
    data = 8 + il * 16
    if il > 0xFFFF or dl > MAX_HEADER or data + dl > len(blob):
        raise ValueError(f"rpm header claims {il} tags and {dl} data bytes in a {len(blob)}-byte blob")
    want = {RPMTAG_NAME, RPMTAG_VERSION, RPMTAG_RELEASE, RPMTAG_EPOCH, RPMTAG_OLDFILENAMES, RPMTAG_DIRINDEXES,
            RPMTAG_BASENAMES, RPMTAG_DIRNAMES}
    out: dict[int, Any] = {}
    end = data + dl
    for i in range(il):
        tag, typ, off, count = struct.unpack_from(">IIiI", blob, 8 + i * 16)
        if tag not in want or off < 0 or data + off > end or count > dl:
            continue
        pos = data + off
        if typ == 4:  # INT32 array
            if pos + 4 * count > end:
                continue
            out[tag] = list(struct.unpack_from(f">{count}i", blob, pos))
        elif typ in (6, 8, 9):  # STRING, STRING_ARRAY, I18NSTRING
            vals = []
            for _ in range(1 if typ == 6 else count):
                z = blob.find(b"\0", pos, end)
                if z < 0:
                    break
                vals.append(blob[pos:z].decode("utf-8", "replace"))
                pos = z + 1
            out[tag] = vals[0] if typ == 6 and vals else vals
    return out
