"""The observed inventory of an artifact: what its package databases and files say is there.

``observe(artifact)`` reads, from the artifact's tree only (nothing runs, nothing is
extracted to the host):

* dpkg, apk and rpm databases through the core's :mod:`provcheck.formats.packages` (the reader
  the ELF plugin's ownership uses too), turned into purls here;
* Python: ``*.dist-info/METADATA`` and ``RECORD`` (sha256 per file);
* shared objects with a versioned file name (``liblzma.so.5.6.1``) that no package owns.

The result is a list of frozen :class:`Component` values, stable API for other plugins
(the fleet plugin imports it). Paths are tree paths: POSIX, no leading slash, with
directory symlinks resolved (``lib/x`` on a merged-usr system is ``usr/lib/x``).
"""

from __future__ import annotations

import base64
import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from packageurl import PackageURL

from provcheck.formats import packages

if TYPE_CHECKING:
    from provcheck.cache import Cache
    from provcheck.vfs import Artifact, Tree
from provcheck.formats.packages import canonical

MAX_DB = 256 << 20  # bytes of one package database file we are willing to read

ORIGINS = ("dpkg", "apk", "rpm", "dist-info", "soname")


@dataclass(frozen=True)
class Component:
    """One component seen in an artifact.

    ``files`` are the tree paths the component owns (canonical: directory symlinks
    resolved); ``hashes`` maps some of them to ``(algorithm, hex digest)`` from the
    package manifest (md5 for dpkg, sha1 for apk, the rpm digest algorithm, sha256 for
    dist-info). ``layer`` is the digest of the image layer that added it (None for a
    directory or archive); ``db_path`` is the database file it was read from.
    """

    name: str
    version: str
    purl: str
    type: str  # "deb", "apk", "rpm", "pypi", "generic"
    origin: str  # "dpkg", "apk", "rpm", "dist-info", "soname"
    source: str | None = None
    source_version: str | None = None
    arch: str | None = None
    files: tuple[str, ...] = ()
    layer: str | None = None
    db_path: str = ""
    hashes: Mapping[str, tuple[str, str]] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def ecosystem(self) -> str:
        return self.type

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "version": self.version, "purl": self.purl, "type": self.type,
             "origin": self.origin, "layer": self.layer, "db_path": self.db_path, "files": len(self.files)}
        if self.source:
            d["source"] = self.source
        if self.source_version:
            d["source_version"] = self.source_version
        return d


# -- helpers ------------------------------------------------------------------------------

def _read_text(tree: Any, node: Any, errors: list[str] | None = None) -> str | None:
    if node is None or not node.is_file:
        return None
    if node.size > MAX_DB:
        if errors is not None:
            errors.append(f"{node.path}: {node.size} bytes, larger than {MAX_DB}; not read")
        return None
    return tree.read(node).decode("utf-8", "replace")


def os_release(tree: Tree) -> dict[str, str]:
    """``etc/os-release`` (or ``usr/lib/os-release``) as a dict; empty when absent."""
    for p in ("etc/os-release", "usr/lib/os-release"):
        node = tree.resolve(p)
        if node is not None and node.is_file:
            out = {}
            for line in tree.read(node, 65536).decode("utf-8", "replace").splitlines():
                k, sep, v = line.partition("=")
                if sep and re.fullmatch(r"[A-Z_]+", k.strip()):
                    out[k.strip()] = v.strip().strip('"').strip("'")
            return out
    return {}


def _distro(tree: Any, default: str) -> tuple[str, str | None]:
    """(namespace, distro qualifier) such as ("debian", "debian-12")."""
    rel = os_release(tree)
    ns = (rel.get("ID") or default).lower()
    ver = rel.get("VERSION_ID")
    if not rel:
        node = tree.resolve("etc/debian_version")
        if node is not None and node.is_file and default == "debian":
            raw = tree.read(node, 64).decode("ascii", "replace").strip()
            m = re.match(r"(\d+)", raw)
            ver = m.group(1) if m else None
    return ns, (f"{ns}-{ver}" if ver else None)


def purl_for(type_: str, name: str, version: str, namespace: str | None = None,
             qualifiers: Mapping[str, str | None] | None = None) -> str:
    """A package URL; qualifiers without a value are left out."""
    q = {k: v for k, v in (qualifiers or {}).items() if v}
    return PackageURL(type=type_, namespace=namespace or None, name=name, version=version or None,
                      qualifiers=q or None).to_string()


# -- dpkg, apk, rpm (read by the core) ----------------------------------------------------

PURL_TYPES = {"dpkg": ("deb", "debian"), "apk": ("apk", "alpine"), "rpm": ("rpm", "redhat")}


def _packages(tree: Any, errors: list[str], cache: Cache | None = None) -> list[Component]:
    dbs = packages.installed(tree, cache=cache)
    errors += [f"{path}: {why}" for path, why in dbs.errors]
    distro: dict[str, tuple[str, str | None]] = {}
    out = []
    for pkg in dbs.packages:
        type_, default_ns = PURL_TYPES[pkg.manager]
        if pkg.manager not in distro:
            distro[pkg.manager] = _distro(tree, default_ns)
        ns, dist = distro[pkg.manager]
        version = pkg.extra.get("version_release") or pkg.version  # rpm: the epoch is a qualifier
        q = {"arch": pkg.arch, "distro": dist}
        if pkg.manager == "rpm":
            q["epoch"] = pkg.extra.get("epoch") or None
            if re.match(r"(.+)-[^-]+-[^-]+\.src\.rpm$", pkg.extra.get("sourcerpm", "")):
                q["upstream"] = pkg.extra["sourcerpm"]
        elif pkg.source != pkg.name or pkg.source_version != pkg.version:
            q["upstream"] = pkg.source if pkg.manager == "apk" or pkg.source_version == pkg.version \
                else f"{pkg.source}@{pkg.source_version}"
        out.append(Component(name=pkg.name, version=pkg.version, type=type_, origin=pkg.manager,
                             purl=purl_for(type_, pkg.name, version, ns, q), source=pkg.source,
                             source_version=pkg.source_version, arch=pkg.arch, files=pkg.files, layer=pkg.layer,
                             db_path=pkg.db_path, hashes=pkg.hashes))
    return out


# -- Python dist-info ------------------------------------------------------------------------

def _dist_info(tree: Any, errors: list[str]) -> list[Component]:
    out = []
    for meta in tree.glob("**/*.dist-info/METADATA"):
        if not meta.is_file:
            continue
        head = tree.read(meta, 65536).decode("utf-8", "replace").split("\n\n", 1)[0]
        fields = {}
        for line in head.splitlines():
            k, sep, v = line.partition(":")
            if sep and k in ("Name", "Version") and k not in fields:
                fields[k] = v.strip()
        if not fields.get("Name") or not fields.get("Version"):
            continue
        name = re.sub(r"[-_.]+", "-", fields["Name"]).lower()
        info_dir = posixpath.dirname(meta.path)
        site = posixpath.dirname(info_dir)
        files, hashes = [], {}
        record = tree.get(info_dir + "/RECORD")
        for line in (_read_text(tree, record, errors) or "").splitlines():
            parts = line.rsplit(",", 2)
            if len(parts) != 3 or not parts[0]:
                continue
            entry = parts[0].strip('"')
            p = posixpath.normpath(posixpath.join(site, entry))
            # a RECORD owns files of its site directory, and scripts pip put in a bin/ next to it;
            # never absolute paths or other places (a planted RECORD would hide a dropped-in library)
            if entry.startswith("/") or p.startswith("../") or \
                    not (p.startswith(site + "/") or posixpath.basename(posixpath.dirname(p)) == "bin"):
                continue
            p = canonical(tree, p)
            files.append(p)
            algo, _, b64 = parts[1].partition("=")
            if algo == "sha256" and b64:
                try:
                    hashes[p] = ("sha256", base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex())
                except ValueError:
                    errors.append(f"{record.path}: {entry}: sha256 {b64[:40]!r} is not base64; the file is not verified")
        out.append(Component(name=name, version=fields["Version"], type="pypi", origin="dist-info",
                             purl=purl_for("pypi", name, fields["Version"]), files=tuple(files),
                             layer=meta.layer, db_path=meta.path, hashes=hashes))
    return out


# -- shared objects nobody owns ---------------------------------------------------------------

SONAME_RX = re.compile(r"^(lib[A-Za-z0-9_+-]+?)(?:-[\d.]+)?\.so\.(\d+(?:\.\d+)+)$")


def soname_version(path: str) -> tuple[str, str] | None:
    """("liblzma", "5.6.1") for ``.../liblzma.so.5.6.1``; None for other names."""
    m = SONAME_RX.match(posixpath.basename(path))
    return (m.group(1), m.group(2)) if m else None


def _sonames(tree: Any, owned: set[str]) -> list[Component]:
    out = []
    for node in tree.files():
        if node.path in owned or ".so." not in node.name:
            continue
        sv = soname_version(node.path)
        if sv is None:
            continue
        head = tree.read(node, 4)
        if head != b"\x7fELF":
            continue
        name, version = sv
        out.append(Component(name=name, version=version, type="generic", origin="soname",
                             purl=purl_for("generic", name, version), files=(node.path,), layer=node.layer,
                             db_path=node.path, hashes={node.path: ("sha256", node.sha256)}))
    return out


# -- entry point ------------------------------------------------------------------------------

def observe(artifact: Artifact, errors: list[str] | None = None, cache: Cache | None = None) -> list[Component]:
    """Everything the artifact's package databases and files say is installed.

    Sorted by (type, name, version, purl). Unreadable databases are described in
    ``errors`` (when given) instead of raising. ``cache``: where the package databases'
    read may be kept (``packages.installed``).
    """
    errs: list[str] = [] if errors is None else errors
    tree = artifact.tree
    comps: list[Component] = []
    for reader in (_packages, _dist_info):
        try:
            comps += reader(tree, errs, cache) if reader is _packages else reader(tree, errs)
        except Exception as exc:  # hostile database content never stops the scan
            errs.append(f"{reader.__name__.strip('_')} database: {type(exc).__name__}: {exc}")
    owned = {p for c in comps for p in c.files}
    comps += _sonames(tree, owned)
    comps.sort(key=lambda c: (c.type, c.name, c.version, c.purl))
    return comps


def owners(components: Iterable[Component]) -> dict[str, Component]:
    """file path -> the component that owns it (package databases win over inference)."""
    rank = {o: i for i, o in enumerate(ORIGINS)}
    out: dict[str, Component] = {}
    for c in sorted(components, key=lambda c: -rank.get(c.origin, 99)):
        for p in c.files:
            out[p] = c
    return out
