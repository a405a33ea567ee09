"""The observed inventory of an artifact: what its package databases and files say is there.

``observe(artifact)`` reads, from the artifact's tree only (nothing runs, nothing is
extracted to the host):

* dpkg: ``var/lib/dpkg/status`` (and distroless ``status.d/*``), ``info/*.list`` and
  ``info/*.md5sums``; the layer that added a package is the layer of its ``.list`` file;
* apk: ``lib/apk/db/installed`` with its ``Z:`` (``Q1`` + base64 sha1) checksums;
* rpm: ``var/lib/rpm/rpmdb.sqlite`` (and ``usr/lib/sysimage/rpm``), header blobs parsed here;
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
import struct
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from packageurl import PackageURL

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

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "version": self.version, "purl": self.purl, "type": self.type,
             "origin": self.origin, "layer": self.layer, "db_path": self.db_path, "files": len(self.files)}
        if self.source:
            d["source"] = self.source
        if self.source_version:
            d["source_version"] = self.source_version
        return d


# -- helpers ------------------------------------------------------------------------------

def canonical(tree: Any, path: str) -> str:
    """``path`` with its directory symlinks resolved inside the tree (the last part is kept)."""
    path = path.strip("/")
    if not path or path in tree.nodes:
        return path
    parent, base = posixpath.split(path)
    if not parent:
        return path
    cache = _parent_cache(tree)
    real = cache.get(parent, _MISS)
    if real is _MISS:
        node = tree.resolve(parent)
        real = cache[parent] = None if node is None else node.path
    if real is None:
        return path
    return posixpath.join(real, base) if real else base


_MISS = object()
_CACHES: "weakref.WeakKeyDictionary[Any, dict[str, str | None]]" = weakref.WeakKeyDictionary()


def _parent_cache(tree: Any) -> dict[str, str | None]:
    try:
        return _CACHES.setdefault(tree, {})
    except TypeError:  # not weak-referenceable: no cache
        return {}


def _is_dir(tree: Any, path: str) -> bool:
    node = tree.nodes.get(path)
    if node is None:
        return False
    if node.type == "symlink":
        node = tree.resolve(path)
    return node is not None and node.type == "dir"


def _read_text(tree: Any, node: Any, errors: list[str] | None = None) -> str | None:
    if node is None or not node.is_file:
        return None
    if node.size > MAX_DB:
        if errors is not None:
            errors.append(f"{node.path}: {node.size} bytes, larger than {MAX_DB}; not read")
        return None
    return tree.read(node).decode("utf-8", "replace")


def os_release(tree: Any) -> dict[str, str]:
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
             qualifiers: Mapping[str, str] | None = None) -> str:
    q = {k: v for k, v in (qualifiers or {}).items() if v}
    return PackageURL(type=type_, namespace=namespace or None, name=name, version=version or None,
                      qualifiers=q or None).to_string()


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """RFC 822 style paragraphs (dpkg status), continuation lines folded."""
    cur: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                yield cur
            cur, key = {}, None
        elif line[0] in " \t" and key:
            cur[key] += "\n" + line.strip()
        else:
            k, sep, v = line.partition(":")
            if sep:
                key = k.strip()
                cur[key] = v.strip()
    if cur:
        yield cur


# -- dpkg ---------------------------------------------------------------------------------

def _dpkg(tree: Any, errors: list[str]) -> list[Component]:
    ns, distro = _distro(tree, "debian")
    entries: list[tuple[dict[str, str], str, str | None]] = []  # (paragraph, db path, layer)
    status = tree.resolve("var/lib/dpkg/status")
    text = _read_text(tree, status, errors)
    if text:
        entries += [(p, status.path, status.layer) for p in paragraphs(text)]
    for node in tree.glob("var/lib/dpkg/status.d/*"):  # distroless
        if node.is_file and "." not in node.name:
            t = _read_text(tree, node, errors)
            entries += [(p, node.path, node.layer) for p in paragraphs(t or "")]
    info = "var/lib/dpkg/info"
    out = []
    for para, db_path, db_layer in entries:
        name, version = para.get("Package"), para.get("Version")
        if not name or not version:
            continue
        state = para.get("Status", "install ok installed").split()
        if state and state[-1] in ("not-installed", "config-files"):
            continue
        arch = para.get("Architecture")
        src, src_ver = name, None
        if para.get("Source"):
            m = re.match(r"(\S+)(?:\s*\((\S+)\))?", para["Source"])
            if m:
                src, src_ver = m.group(1), m.group(2)
        if src_ver is None:
            src_ver = re.sub(r"\+b\d+$", "", version)
        stems = [f"{name}:{arch}", name] if arch else [name]
        files: list[str] = []
        hashes: dict[str, tuple[str, str]] = {}
        layer = db_layer
        list_node = next((n for s in stems if (n := tree.get(f"{info}/{s}.list")) is not None), None)
        if list_node is not None:
            layer = list_node.layer or layer
            for line in (_read_text(tree, list_node, errors) or "").splitlines():
                line = line.strip()
                if line and line not in ("/.", "/"):
                    p = canonical(tree, line)
                    if not _is_dir(tree, p):
                        files.append(p)
        md5_node = next((n for s in stems if (n := tree.get(f"{info}/{s}.md5sums")) is not None), None)
        if md5_node is None and db_path.startswith("var/lib/dpkg/status.d/"):
            md5_node = tree.get(db_path + ".md5sums")
        if md5_node is not None:
            for line in (_read_text(tree, md5_node, errors) or "").splitlines():
                digest, _, p = line.strip().partition(" ")
                p = p.strip()
                if re.fullmatch(r"[0-9a-f]{32}", digest) and p:
                    hashes[canonical(tree, p)] = ("md5", digest)
            if not files:
                files = sorted(hashes)
        q = {"arch": arch, "distro": distro}
        if src != name or src_ver != version:
            q["upstream"] = f"{src}@{src_ver}" if src_ver != version else src
        out.append(Component(name=name, version=version, type="deb", origin="dpkg",
                             purl=purl_for("deb", name, version, ns, q), source=src, source_version=src_ver,
                             arch=arch, files=tuple(files), layer=layer, db_path=db_path, hashes=hashes))
    return out


# -- apk ----------------------------------------------------------------------------------

def _apk(tree: Any, errors: list[str]) -> list[Component]:
    node = tree.resolve("lib/apk/db/installed")
    text = _read_text(tree, node, errors)
    if not text:
        return []
    ns, distro = _distro(tree, "alpine")
    out = []
    for block in re.split(r"\n\s*\n", text):
        rec: dict[str, str] = {}
        files: list[str] = []
        hashes: dict[str, tuple[str, str]] = {}
        cur_dir = ""
        last = None
        for line in block.splitlines():
            if len(line) < 2 or line[1] != ":":
                continue
            k, v = line[0], line[2:]
            if k == "F":
                cur_dir = v.strip("/")
            elif k == "R":
                last = canonical(tree, posixpath.join(cur_dir, v))
                files.append(last)
            elif k == "Z" and last is not None:
                if v.startswith("Q1"):
                    try:
                        hashes[last] = ("sha1", base64.b64decode(v[2:]).hex())
                    except ValueError:
                        pass
            elif k not in rec:
                rec[k] = v
        if not rec.get("P") or not rec.get("V"):
            continue
        name, version = rec["P"], rec["V"]
        q = {"arch": rec.get("A"), "distro": distro}
        if rec.get("o") and rec["o"] != name:
            q["upstream"] = rec["o"]
        out.append(Component(name=name, version=version, type="apk", origin="apk",
                             purl=purl_for("apk", name, version, ns, q), source=rec.get("o") or name,
                             source_version=version, arch=rec.get("A"), files=tuple(files), layer=node.layer,
                             db_path=node.path, hashes=hashes))
    return out


# -- rpm ----------------------------------------------------------------------------------

RPM_TAGS = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1022: "arch", 1044: "sourcerpm",
            1116: "dirindexes", 1117: "basenames", 1118: "dirnames", 1035: "filedigests", 5011: "digestalgo",
            1037: "fileflags"}
RPMFILE_CONFIG = 1  # %config files are edited after installation (useradd, ...): not held to their digest
RPM_ALGOS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512"}


def rpm_header(blob: bytes) -> dict[str, Any]:
    """The tags we need from one rpm header blob (as stored in rpmdb.sqlite)."""
    if len(blob) < 8:
        raise ValueError("short header")
    count, size = struct.unpack(">II", blob[:8])
    if count > 100_000 or 8 + count * 16 + size > len(blob):
        raise ValueError("header sizes out of range")
    data = blob[8 + count * 16: 8 + count * 16 + size]
    out: dict[str, Any] = {}
    for i in range(count):
        tag, typ, off, cnt = struct.unpack(">IIII", blob[8 + i * 16: 24 + i * 16])
        name = RPM_TAGS.get(tag)
        if name is None or name in out or off > len(data):  # the first copy of a tag counts
            continue
        if typ == 4:  # int32
            out[name] = list(struct.unpack(f">{cnt}I", data[off: off + 4 * cnt])) if off + 4 * cnt <= len(data) else []
        elif typ in (6, 8, 9):  # string, string array, i18n string
            parts = data[off:].split(b"\0", cnt)[:cnt]
            vals = [p.decode("utf-8", "replace") for p in parts]
            out[name] = vals[0] if typ == 6 else vals
    return out


def _rpm(tree: Any, errors: list[str]) -> list[Component]:
    node = None
    for p in ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"):
        node = tree.resolve(p)
        if node is not None and node.is_file:
            break
    else:
        return []
    if node.size > MAX_DB:
        errors.append(f"{node.path}: larger than {MAX_DB} bytes; not read")
        return []
    ns, distro = _distro(tree, "redhat")
    out = []
    from provcheck.sqlite import UnreadableDatabase, table_column
    try:
        rows = table_column(tree, node, "Packages", "blob")
    except UnreadableDatabase as exc:
        errors.append(f"{node.path}: not a readable rpm sqlite database ({exc})")
        return []
    for blob in rows:
        try:
            h = rpm_header(bytes(blob))
        except (ValueError, struct.error) as exc:
            errors.append(f"{node.path}: unreadable rpm header ({exc})")
            continue
        name = h.get("name")
        if not name or name == "gpg-pubkey":
            continue
        epoch = (h.get("epoch") or [None])[0]
        version = f"{h.get('version', '')}-{h.get('release', '')}"
        full = f"{epoch}:{version}" if epoch else version
        files, hashes = [], {}
        algo = RPM_ALGOS.get((h.get("digestalgo") or [1])[0], "md5")
        dirs, bases, idx = h.get("dirnames") or [], h.get("basenames") or [], h.get("dirindexes") or []
        digests = h.get("filedigests") or []
        flags = h.get("fileflags") or []
        for i, base in enumerate(bases):
            if i < len(idx) and idx[i] < len(dirs):
                p = canonical(tree, dirs[idx[i]] + base)
                files.append(p)
                config = i < len(flags) and flags[i] & RPMFILE_CONFIG
                if i < len(digests) and digests[i] and not config:
                    hashes[p] = (algo, digests[i])
        src = h.get("sourcerpm") or ""
        m = re.match(r"(.+)-[^-]+-[^-]+\.src\.rpm$", src)
        q = {"arch": h.get("arch"), "epoch": str(epoch) if epoch else None, "distro": distro}
        if m:
            q["upstream"] = src
        out.append(Component(name=name, version=full, type="rpm", origin="rpm",
                             purl=purl_for("rpm", name, version, ns, q), source=m.group(1) if m else name,
                             source_version=full, arch=h.get("arch"), files=tuple(files), layer=node.layer,
                             db_path=node.path, hashes=hashes))
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
                    pass
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

def observe(artifact: Any, errors: list[str] | None = None) -> list[Component]:
    """Everything the artifact's package databases and files say is installed.

    Sorted by (type, name, version, purl). Unreadable databases are described in
    ``errors`` (when given) instead of raising.
    """
    errs: list[str] = [] if errors is None else errors
    tree = artifact.tree
    comps: list[Component] = []
    for reader in (_dpkg, _apk, _rpm, _dist_info):
        try:
            comps += reader(tree, errs)
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
