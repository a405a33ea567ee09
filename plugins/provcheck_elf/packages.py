"""Which package owns a file, from the package databases inside the tree.

* dpkg: ``var/lib/dpkg/info/*.list`` (paths as the package shipped them, e.g. ``/lib/...``
  on a merged-usr system, so each is resolved through the tree's symlinks) and
  ``var/lib/dpkg/status`` for versions;
* apk: ``lib/apk/db/installed`` (``P:`` name, ``V:`` version, ``F:`` directory, ``R:`` file);
* rpm: the databases are binary (sqlite/bdb/ndb) and are not read; the tree is marked so
  ownership shows as unknown rather than absent.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, Iterable

MAX_DB = 64 << 20


@dataclass
class Packages:
    owner: dict[str, str] = field(default_factory=dict)         # real path -> "name"
    versions: dict[str, str] = field(default_factory=dict)      # name -> version
    databases: list[str] = field(default_factory=list)          # which were read
    unread: list[str] = field(default_factory=list)             # present but not understood


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
            elif key == "F":
                cur_dir = value
            elif key == "R" and name:
                r = real(f"{cur_dir}/{value}" if cur_dir else value)
                if r in wanted:
                    pk.owner.setdefault(r, name)

    for rpmdb in ("var/lib/rpm/rpmdb.sqlite", "var/lib/rpm/Packages", "var/lib/rpm/Packages.db",
                  "usr/lib/sysimage/rpm/rpmdb.sqlite"):
        if tree.resolve(rpmdb) is not None:
            pk.unread.append(rpmdb)
    return pk
