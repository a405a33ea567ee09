"""Installed packages, read from the package databases inside a tree (nothing runs).

One reader for every plugin: the ELF plugin asks which package owns a library, the SBOM
plugin what is installed at which version, the fleet what each layer adds.

* dpkg: ``var/lib/dpkg/status`` and distroless ``status.d/*`` paragraphs, the files of
  ``info/NAME[:ARCH].list`` and the digests of ``.md5sums``; a package's layer is the
  layer of its ``.list`` file;
* apk: ``lib/apk/db/installed`` (``P`` name, ``V`` version, ``A`` arch, ``o`` origin,
  ``F`` directory, ``R`` file, ``Z`` ``Q1`` + base64 sha1);
* rpm: ``rpmdb.sqlite`` under ``var/lib/rpm`` or ``usr/lib/sysimage/rpm`` (rpm >= 4.16),
  each row a header blob parsed here with bounds checks; Berkeley DB and ndb databases
  are listed in ``unread``.

Paths are tree paths with directory symlinks resolved (:func:`canonical`: ``lib/x`` on
a merged-usr system is ``usr/lib/x``). A database that cannot be read is an entry of
``errors``; nothing here raises on hostile content.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import os
import posixpath
import re
import struct
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

if TYPE_CHECKING:
    from ..cache import Cache
    from ..vfs import Node, Tree

MAX_DB = 256 << 20        # bytes of one text database file read
MAX_RPMDB = 1 << 30       # bytes of an rpm sqlite database read
MAX_HEADER = 64 << 20     # bytes of one rpm header
RPMDBS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
RPM_UNREAD = ("var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages",
              "usr/lib/sysimage/rpm/Packages.db")


@dataclass(frozen=True)
class Package:
    """One installed package. ``version`` is written as its manager writes it (rpm:
    ``[EPOCH:]VERSION-RELEASE``); ``hashes`` maps some ``files`` to ``(algorithm, hex)``
    from the database (md5 for dpkg, sha1 for apk, the rpm digest algorithm; rpm
    ``%config`` files are left out, they are edited after installation); ``extra`` holds
    manager details (rpm: ``epoch``, ``version_release``, ``sourcerpm``)."""

    manager: str
    name: str
    version: str
    arch: str | None = None
    source: str | None = None
    source_version: str | None = None
    files: tuple[str, ...] = ()
    hashes: Mapping[str, tuple[str, str]] = field(default_factory=dict, compare=False, hash=False, repr=False)
    db_path: str = ""
    layer: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass
class Databases:
    packages: list[Package] = field(default_factory=list)
    read: list[str] = field(default_factory=list)                     # managers whose database was read
    unread: list[str] = field(default_factory=list)                   # present, in a format not read
    errors: list[tuple[str, str]] = field(default_factory=list)       # (database path, why)
    # dpkg packages whose .md5sums a read without hashes left for later: (index in packages, node)
    md5sums_pending: list[tuple[int, Node]] = field(default_factory=list, repr=False, compare=False)
    sources: list[Node] = field(default_factory=list, repr=False, compare=False)  # the files read


_INSTALLED: "weakref.WeakKeyDictionary[Any, dict[bool, Databases]]" = weakref.WeakKeyDictionary()
_LOOKED_UP: "weakref.WeakSet[Any]" = weakref.WeakSet()  # trees whose kept read was looked for in the cache


def installed(tree: Tree, hashes: bool = True, cache: Cache | None = None) -> Databases:
    """Every package database of ``tree``, read once per tree (plugins share the result).

    ``hashes=False``: the caller needs names, versions and files, not the per-file
    digests, so dpkg's ``.md5sums`` files are not read (``Package.hashes`` is empty unless
    a full read was already made) and their errors are not reported. A read with hashes
    is that read plus the ``.md5sums`` files, so whichever plugin asks first, the status
    file and the file lists are parsed once per tree.

    ``cache`` (``provcheck.Cache``): a tree with an ``identity`` (an image's verified
    layers, a directory's listing with every file's identity) keeps its full read there,
    by that identity and this reader's source, so a warm run parses nothing; a read with
    any error is not kept. A read without hashes is kept by the identity too, or by the
    tree's shape (:func:`_shape`) when it has none (a directory input with racy entries),
    with the sha256 of every database file it read: a warm run uses it when each of those
    files still has that digest as ``Tree.known_digest`` gives it (for a directory input,
    the file-identity cache: no database file is opened)."""
    try:
        done = _INSTALLED[tree]
    except (KeyError, TypeError):
        done = {}
    found = done.get(True) or done.get(hashes)
    if found is not None:
        return found
    key = getattr(tree, "identity", None) if cache is not None else None
    if key is not None and tree not in _LOOKED_UP:
        _LOOKED_UP.add(tree)
        kept = _decoded(cache.get_json(CACHE_NAMESPACE, key, _reader_version()))  # type: ignore[union-attr]
        if kept is not None:
            _remember(tree, True, kept)
            return kept
    base = done.get(False)
    if base is None:
        shape = (key or _shape(tree)) if cache is not None else None  # an identity fixes the shape too
        base = _kept_base(tree, cache, shape) if cache is not None and shape is not None else None
        if base is None:
            base = Databases()
            for manager, reader in (("dpkg", _dpkg), ("apk", _apk), ("rpm", _rpm)):
                try:
                    if reader(tree, base):
                        base.read.append(manager)
                except Exception as exc:  # hostile database content never stops the scan
                    base.errors.append((manager, f"{manager} database: {type(exc).__name__}: {exc}"))
            base.unread += [p for p in RPM_UNREAD if tree.resolve(p) is not None]
            if cache is not None and shape is not None:
                _keep_base(tree, cache, shape, base)
        _remember(tree, False, base)
    if not hashes:
        return base
    dbs = Databases(list(base.packages), list(base.read), list(base.unread), list(base.errors))
    try:
        for i, md5_node in base.md5sums_pending:
            pkg = dbs.packages[i]
            dbs.packages[i] = dataclasses.replace(pkg, hashes=_md5sums(tree, md5_node, dbs))
    except Exception as exc:  # hostile database content never stops the scan
        dbs.errors.append(("dpkg", f"dpkg database: {type(exc).__name__}: {exc}"))
    _remember(tree, True, dbs)
    if key is not None and not dbs.errors:
        cache.put_json(CACHE_NAMESPACE, key, _encoded(dbs), _reader_version())  # type: ignore[union-attr]
    return dbs


CACHE_NAMESPACE = "packages"
SHAPE_NAMESPACE = "packages-by-shape"  # reads without hashes, by the tree's identity or else its shape


def _shape(tree: Tree) -> str:
    """A digest of everything the readers look at without reading a file: every path, its
    type and link target (which files exist, which are directories, how paths resolve).
    With the content of the files they read, it fixes what they return."""
    nodes = tree.nodes
    h = hashlib.sha256("\0".join(nodes).encode())
    h.update("\0".join([n.type for n in nodes.values()]).encode())
    h.update("\0".join([f"{p}\0{n.link_target}" for p, n in nodes.items() if n.link_target is not None]).encode())
    return h.hexdigest()


def _kept_base(tree: Tree, cache: Cache, shape: str) -> Databases | None:
    """The read without hashes kept for this shape, when every file it read is unchanged."""
    value = cache.get_json(SHAPE_NAMESPACE, shape, _reader_version())
    try:
        assert isinstance(value, dict)
        nodes = tree.nodes
        for path, digest, layer in value["sources"]:
            node = nodes.get(path)
            if node is None or node.layer != layer or tree.known_digest(node) != digest:
                return None
        dbs = _decoded(value)
        if dbs is not None:
            dbs.md5sums_pending = [(int(i), nodes[path]) for i, path in value["md5sums_pending"]]
        return dbs
    except (AssertionError, KeyError, TypeError, ValueError):
        return None


def _keep_base(tree: Tree, cache: Cache, shape: str, dbs: Databases) -> None:
    """Keep a read without errors, with the digest of each file it read (exact: they were read)."""
    sources = [[n.path, tree.known_digest(n), n.layer] for n in dbs.sources]
    if dbs.errors or any(digest is None for _, digest, _ in sources):
        return
    value = _encoded(dbs)
    value["sources"] = sources
    value["md5sums_pending"] = [[i, n.path] for i, n in dbs.md5sums_pending]
    try:
        cache.put_json(SHAPE_NAMESPACE, shape, value, _reader_version())
    except OSError:
        pass  # an unwritable cache only costs time on the next run


@functools.lru_cache(maxsize=None)
def _reader_version() -> str:
    """This reader's source (and the sqlite reader's, not imported for it): another parser is
    another cache version."""
    h = hashlib.sha256()
    for module in (__file__, os.path.join(os.path.dirname(__file__), "sqlite.py")):
        with open(module, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def _encoded(dbs: Databases) -> dict[str, Any]:
    return {"packages": [[p.manager, p.name, p.version, p.arch, p.source, p.source_version, list(p.files),
                          {k: list(v) for k, v in p.hashes.items()}, p.db_path, p.layer, dict(p.extra)]
                         for p in dbs.packages],
            "read": dbs.read, "unread": dbs.unread}


def _decoded(value: object) -> Databases | None:
    """A kept full read (verified bytes: still checked for shape, None when it is not one)."""
    try:
        assert isinstance(value, dict)
        out = Databases(read=[str(m) for m in value["read"]], unread=[str(u) for u in value["unread"]])
        for manager, name, version, arch, source, source_version, files, hashes, db_path, layer, extra \
                in value["packages"]:
            out.packages.append(Package(manager, name, version, arch, source, source_version, tuple(files),
                                        {k: (v[0], v[1]) for k, v in hashes.items()}, db_path, layer, extra))
        return out
    except (AssertionError, KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None


def _remember(tree: Tree, hashes: bool, dbs: Databases) -> None:
    try:
        _INSTALLED.setdefault(tree, {})[hashes] = dbs
    except TypeError:  # not weak-referenceable: not cached
        pass


# -- paths and text -----------------------------------------------------------------------

_MISS = object()
_PARENTS: "weakref.WeakKeyDictionary[Any, dict[str, str | None]]" = weakref.WeakKeyDictionary()


def canonical(tree: Tree, path: str) -> str:
    """``path`` with its directory symlinks resolved inside the tree (the last part is kept)."""
    path = path.strip("/")
    if not path or path in tree.nodes:
        return path
    parent, base = posixpath.split(path)
    if not parent:
        return path
    try:
        cache = _PARENTS.setdefault(tree, {})
    except TypeError:  # not weak-referenceable: no cache
        cache = {}
    real = cache.get(parent, _MISS)
    if real is _MISS:
        node = tree.resolve(parent)
        real = cache[parent] = None if node is None else node.path
    if real is None:
        return path
    return posixpath.join(str(real), base) if real else base


def _is_dir(tree: Any, path: str) -> bool:
    nodes = tree.nodes
    node = nodes.get(path)
    if node is not None and node.type == "symlink":
        target = node.link_target or ""
        if target and "/" not in target and target not in (".", ".."):  # a file beside it (libx.so.1 -> libx.so.1.2)
            beside = nodes.get(f"{path.rpartition('/')[0]}/{target}" if "/" in path else target)
            if beside is not None and beside.type == "file":
                return False
        node = tree.resolve(path)
    return node is not None and node.type == "dir"


def _text(tree: Any, node: Any, dbs: Databases) -> str | None:
    if node is None or not node.is_file:
        return None
    if node.size > MAX_DB:
        dbs.errors.append((node.path, f"{node.size} bytes, larger than {MAX_DB}; not read"))
        return None
    dbs.sources.append(node)
    return tree.read(node).decode("utf-8", "replace")


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

_MD5 = re.compile(r"[0-9a-f]{32}")
_SOURCE = re.compile(r"(\S+)(?:\s*\((\S+)\))?")
_BIN_NMU = re.compile(r"\+b\d+$")


def _md5sums(tree: Any, node: Any, dbs: Databases) -> dict[str, tuple[str, str]]:
    hashes: dict[str, tuple[str, str]] = {}
    nodes, md5 = tree.nodes, _MD5.fullmatch
    for line in (_text(tree, node, dbs) or "").splitlines():
        digest, _, p = line.strip().partition(" ")
        p = p.strip()
        if md5(digest) and p:
            p = p.strip("/")
            hashes[p if p in nodes else canonical(tree, p)] = ("md5", digest)
        elif line.strip():
            dbs.errors.append((node.path, f"not an md5sums line, so its file is not verified: {line[:80]!r}"))
    return hashes


def _dpkg(tree: Any, dbs: Databases) -> bool:
    """Packages with their files; ``.md5sums`` are read only for packages without a
    ``.list`` (they name the files), the others are left in ``dbs.md5sums_pending``."""
    entries: list[tuple[dict[str, str], str, str | None]] = []  # (paragraph, db path, layer)
    status = tree.resolve("var/lib/dpkg/status")
    text = _text(tree, status, dbs)
    if text:
        entries += [(p, status.path, status.layer) for p in paragraphs(text)]
    prefix = "var/lib/dpkg/status.d/"  # distroless; the tree's paths in order, without sorting all of them
    for path in sorted(p for p in tree.nodes if p.startswith(prefix) and "/" not in p[len(prefix):]):
        node = tree.nodes[path]
        if node.is_file and "." not in node.name:
            entries += [(p, node.path, node.layer) for p in paragraphs(_text(tree, node, dbs) or "")]
    info = "var/lib/dpkg/info"
    for para, db_path, db_layer in entries:
        name, version = para.get("Package"), para.get("Version")
        if not name or not version:
            continue
        state = para.get("Status", "install ok installed").split()
        if state and state[-1] in ("not-installed", "config-files"):
            continue
        arch = para.get("Architecture")
        src, src_ver = name, None
        m = _SOURCE.match(para.get("Source", ""))
        if m:
            src, src_ver = m.group(1), m.group(2)
        if src_ver is None:
            src_ver = _BIN_NMU.sub("", version)  # a binary-only rebuild keeps its source's version
        stems = [f"{name}:{arch}", name] if arch else [name]
        files: list[str] = []
        hashes: dict[str, tuple[str, str]] = {}
        layer = db_layer
        list_node = next((n for s in stems if (n := tree.get(f"{info}/{s}.list")) is not None), None)
        if list_node is not None:
            layer = list_node.layer or layer
            nodes = tree.nodes
            for line in (_text(tree, list_node, dbs) or "").splitlines():
                line = line.strip()
                if line and line not in ("/.", "/"):
                    p = line.strip("/")
                    node = nodes.get(p)  # canonical() and _is_dir() inlined for the common case: in the tree
                    if node is None:
                        p = canonical(tree, p)
                        if not _is_dir(tree, p):
                            files.append(p)
                    elif node.type != "dir" and (node.type != "symlink" or not _is_dir(tree, p)):
                        files.append(p)
        md5_node = next((n for s in stems if (n := tree.get(f"{info}/{s}.md5sums")) is not None), None)
        if md5_node is None and db_path.startswith("var/lib/dpkg/status.d/"):
            md5_node = tree.get(db_path + ".md5sums")
        if md5_node is not None:
            if files:
                dbs.md5sums_pending.append((len(dbs.packages), md5_node))
            else:  # without a .list, md5sums name the files
                hashes = _md5sums(tree, md5_node, dbs)
                files = sorted(hashes)
        dbs.packages.append(Package("dpkg", name, version, arch, src, src_ver, tuple(files), hashes, db_path, layer))
    return bool(entries)


# -- apk ----------------------------------------------------------------------------------

def _apk(tree: Any, dbs: Databases) -> bool:
    node = tree.resolve("lib/apk/db/installed")
    text = _text(tree, node, dbs)
    if not text:
        return False
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
            elif k == "Z" and last is not None and v.startswith("Q1"):
                try:
                    hashes[last] = ("sha1", base64.b64decode(v[2:]).hex())
                except ValueError:
                    dbs.errors.append((node.path, f"{rec.get('P', '?')}: {last}: checksum {v[:40]!r} is not base64; "
                                                  f"the file is not verified"))
            elif k not in rec:
                rec[k] = v
        if rec.get("P") and rec.get("V"):
            dbs.packages.append(Package("apk", rec["P"], rec["V"], rec.get("A"), rec.get("o") or rec["P"], rec["V"],
                                        tuple(files), hashes, node.path, node.layer))
    return True


# -- rpm ----------------------------------------------------------------------------------

RPM_TAGS = {1000: "name", 1001: "version", 1002: "release", 1003: "epoch", 1022: "arch", 1027: "oldfilenames",
            1035: "filedigests", 1037: "fileflags", 1044: "sourcerpm", 1116: "dirindexes", 1117: "basenames",
            1118: "dirnames", 5011: "digestalgo"}
RPMFILE_CONFIG = 1
RPM_ALGOS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512"}


def rpm_header(blob: bytes) -> dict[str, Any]:
    """The tags of :data:`RPM_TAGS` from one rpm header blob (as stored in rpmdb: no lead
    magic), every offset and count checked against the blob; ValueError when it lies."""
    if len(blob) < 8:
        raise ValueError("rpm header shorter than 8 bytes")
    il, dl = struct.unpack_from(">II", blob, 0)
    data = 8 + il * 16
    if il > 0xFFFF or dl > MAX_HEADER or data + dl > len(blob):
        raise ValueError(f"rpm header claims {il} tags and {dl} data bytes in a {len(blob)}-byte blob")
    out: dict[str, Any] = {}
    end = data + dl
    for i in range(il):
        tag, typ, off, count = struct.unpack_from(">IIiI", blob, 8 + i * 16)
        name = RPM_TAGS.get(tag)
        if name is None or name in out or off < 0 or data + off > end or count > dl:
            continue  # the first copy of a tag counts
        pos = data + off
        if typ == 4:  # INT32 array
            if pos + 4 * count <= end:
                out[name] = list(struct.unpack_from(f">{count}i", blob, pos))
        elif typ in (6, 8, 9):  # STRING, STRING_ARRAY, I18NSTRING
            vals = []
            for _ in range(1 if typ == 6 else count):
                z = blob.find(b"\0", pos, end)
                if z < 0:
                    break
                vals.append(blob[pos:z].decode("utf-8", "replace"))
                pos = z + 1
            out[name] = (vals[0] if vals else "") if typ == 6 else vals
    return out


def _rpm(tree: Any, dbs: Databases) -> bool:
    node = next((n for p in RPMDBS if (n := tree.resolve(p)) is not None and n.is_file), None)
    if node is None:
        return False
    if node.size > MAX_RPMDB:
        dbs.errors.append((node.path, f"rpm database of {node.size} bytes, larger than {MAX_RPMDB}; not read"))
        return False
    from .sqlite import UnreadableDatabase, table_column
    dbs.sources += [n for n in (node, tree.resolve(node.path + "-wal")) if n is not None and n.is_file]
    try:
        rows = table_column(tree, node, "Packages", "blob")
    except UnreadableDatabase as exc:
        dbs.errors.append((node.path, f"cannot read the rpm database: not a readable rpm sqlite database ({exc})"))
        return False
    for blob in rows:
        if not isinstance(blob, bytes) or len(blob) > MAX_HEADER:
            continue
        try:
            h = rpm_header(blob)
        except (ValueError, struct.error) as exc:
            dbs.errors.append((node.path, f"unreadable rpm header ({exc})"))
            continue
        name = h.get("name")
        if not name or not isinstance(name, str) or name == "gpg-pubkey":
            continue
        epoch = next(iter(h.get("epoch") or []), None)  # epoch 0 is written as none, as rpm -q does
        vr = f"{h.get('version') or ''}-{h.get('release') or ''}"
        full = f"{epoch}:{vr}" if epoch else vr
        files: list[str] = []
        hashes: dict[str, tuple[str, str]] = {}
        algo = RPM_ALGOS.get(next(iter(h.get("digestalgo") or [1]), 1), "md5")
        dirs, bases, idx = h.get("dirnames") or [], h.get("basenames") or [], h.get("dirindexes") or []
        digests, flags = h.get("filedigests") or [], h.get("fileflags") or []
        if bases and len(bases) == len(idx):
            paths = [dirs[i] + b if 0 <= i < len(dirs) else None for i, b in zip(idx, bases)]
        else:
            paths = list(h.get("oldfilenames") or [])
        for i, raw in enumerate(paths):
            if raw is None:
                continue
            p = canonical(tree, raw)
            files.append(p)
            config = i < len(flags) and flags[i] & RPMFILE_CONFIG
            if i < len(digests) and digests[i] and not config:
                hashes[p] = (algo, digests[i])
        src = h.get("sourcerpm") or ""
        m = re.match(r"(.+)-[^-]+-[^-]+\.src\.rpm$", src)
        dbs.packages.append(Package("rpm", name, full, h.get("arch") or None, m.group(1) if m else name, full,
                                    tuple(files), hashes, node.path, node.layer,
                                    extra={"epoch": str(epoch) if epoch else "",
                                           "version_release": vr, "sourcerpm": src}))
    return True
