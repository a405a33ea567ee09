"""Which package owns a file: the core's package databases (:mod:`provcheck.formats.packages`:
dpkg, apk, rpm sqlite), reduced to what linkage evidence needs. The same reader gives the
SBOM plugin its inventory, so a hostile database is parsed by one hardened parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass
class Packages:
    owner: dict[str, str] = field(default_factory=dict)         # real path -> "name"
    versions: dict[str, str] = field(default_factory=dict)      # name -> version
    databases: list[str] = field(default_factory=list)          # which were read
    where: dict[str, str] = field(default_factory=dict)         # package name -> database file
    unread: list[str] = field(default_factory=list)             # present, in a format not read (rpm bdb/ndb)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, why): present, but unreadable


def read_packages(tree: Any, wanted: Iterable[str], cache: Any = None) -> Packages:
    """Ownership of the ``wanted`` real paths (only those are kept); ``cache``: provcheck's cache,
    where an image's package databases are kept once read (``packages.installed``)."""
    from provcheck.formats import packages  # not imported by a run whose analysis is kept (analysis.analyze)
    wanted = set(wanted)
    dbs = packages.installed(tree, hashes=False, cache=cache)
    pk = Packages(databases=list(dbs.read), unread=list(dbs.unread), failed=list(dbs.errors))
    for p in dbs.packages:
        pk.versions.setdefault(p.name, p.version)
        pk.where.setdefault(p.name, p.db_path)
        for f in p.files:
            if f in wanted:
                pk.owner.setdefault(f, p.name)
    return pk
