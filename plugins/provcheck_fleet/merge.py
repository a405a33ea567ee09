"""From cached layer results to one image: its visible files, components and linkage edges.

The layers are applied with the core's OCI changeset logic (whiteouts, opaque
directories, shadowing), on nodes without content. Package databases travel in the
layer results (``meta``), so ``provcheck.formats.inventory.observe()`` reads them from a small
private blob store exactly as it would from a fully unpacked image.
"""

from __future__ import annotations

import base64
import posixpath
from dataclasses import dataclass, field
from typing import Any

from provcheck import Artifact, BlobStore, Node, Tree
from provcheck.formats.archive import Entries
from provcheck.formats.inventory import observe
from provcheck.formats.oci import apply_changeset

DEFAULT_LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu",
                    "usr/lib/aarch64-linux-gnu", "lib64", "usr/lib64", "lib", "usr/lib", "usr/local/lib")


class MetaTree(Tree):
    """A merged tree whose store holds only the package-database files.

    Reading the first bytes of an ELF file answers ``\\x7fELF`` (the layer scan saw it);
    reading any other file not in the store raises FileNotFoundError."""

    def __init__(self, store: BlobStore, elf_shas: set[str]):
        super().__init__(store)
        self.elf_shas = elf_shas

    def read(self, node: Node | str, limit: int | None = None) -> bytes:
        n = self._file(node)
        if n.sha256 in self.store:
            return self.store.read(n.sha256, limit)
        if limit is not None and limit <= 4:
            return (b"\x7fELF" if n.sha256 in self.elf_shas else b"\0\0\0\0")[:limit]
        raise FileNotFoundError(f"{n.path}: content not kept by the fleet layer scan")

    def open(self, node: Node | str):
        n = self._file(node)
        if n.sha256 in self.store:
            return self.store.open(n.sha256)
        raise FileNotFoundError(f"{n.path}: content not kept by the fleet layer scan")


@dataclass
class ImageView:
    tree: MetaTree
    elf: dict[str, dict[str, Any]]
    components: list[Any] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)   # (from path, to path, soname)
    unresolved: list[tuple[str, str]] = field(default_factory=list)   # (from path, soname)
    errors: list[str] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)


def build_view(name: str, layers: list[dict[str, Any]], meta_store: BlobStore) -> ImageView:
    elf: dict[str, dict[str, Any]] = {}
    tree = MetaTree(meta_store, set())
    findings: list[Any] = []
    for res in layers:
        digest = res["digest"]
        for sha, b64 in (res.get("meta") or {}).items():
            if sha not in meta_store:
                got = meta_store.put_bytes(base64.b64decode(b64))
                if got != sha:  # a cache entry that lies about its content is ignored
                    continue
        elf.update(res.get("elf") or {})
        entries = Entries(label=digest)
        for path, typ, sha, size, mode, link in res.get("files") or ():
            entries.items.append((path, Node(path=path, type=typ, sha256=sha, size=size or 0, mode=mode or 0,
                                             link_target=link, layer=digest)))
        apply_changeset(tree, entries, digest, findings, name)
    tree.elf_shas = set(elf)
    view = ImageView(tree=tree, elf=elf)
    view.findings = [f.to_dict() for f in findings]
    return view


def observe_components(view: ImageView) -> None:
    errors: list[str] = []
    artifact = Artifact(name="image", role="target", kind="image", tree=view.tree)
    view.components = observe(artifact, errors)
    view.errors += errors


def _search_dirs(tree: Tree, binary: str, info: dict[str, Any]) -> list[str]:
    dirs = []
    origin = posixpath.dirname(binary)
    for rp in info.get("runpath") or ():
        rp = rp.replace("$ORIGIN", "/" + origin).replace("${ORIGIN}", "/" + origin)
        dirs.append(posixpath.normpath(rp).strip("/"))
    return dirs + list(DEFAULT_LIB_DIRS)


def linkage(view: ImageView, hooks: Any = None) -> None:
    """DT_NEEDED (and dlopen-note) edges between visible ELF files, resolved inside the image.

    With the ELF plugin's facts, its graph builder resolves them as ld.so would (RPATH,
    RUNPATH, ld.so.conf, class/machine checks, musl); otherwise a simple search of RUNPATH
    and the standard directories is used."""
    infos = {n.path: view.elf[n.sha256] for n in view.tree.files()
             if n.sha256 in view.elf and view.elf[n.sha256].get("parser") != "error"}  # malformed: no edges
    if infos and all(i.get("parser", "").startswith("provcheck.formats.elf/") for i in infos.values()):
        try:  # the ELF plugin's graph, through the provcheck_linkage hook (None: -p no:elf)
            links = hooks.provcheck_linkage(tree=view.tree, elf=infos, artifact=None, scan=None) if hooks else None
        except Exception as exc:  # a tree the builder cannot handle: fall back, and say so
            view.errors.append(f"linkage graph: {type(exc).__name__}: {exc}; simple resolution used")
        else:
            if links is not None:
                for e in links:
                    if e.dst:
                        view.edges.append((e.src, e.dst, e.name))
                    else:
                        view.unresolved.append((e.src, e.name))
                return
    _simple_linkage(view)


def _simple_linkage(view: ImageView) -> None:
    tree = view.tree
    cache: dict[tuple[str, str], str | None] = {}
    for node in tree.files():
        info = view.elf.get(node.sha256 or "")
        if not info or not info.get("needed"):
            continue
        if isinstance(info.get("runpath"), str):
            info = dict(info, runpath=[p for p in info["runpath"].split(":") if p])
        dirs = _search_dirs(tree, node.path, info)
        for soname in info["needed"]:
            if "/" in soname:
                target = tree.resolve(soname)
                found = target.path if target is not None and target.is_file else None
            else:
                key = (tuple(dirs).__hash__().__str__(), soname)
                if key in cache:
                    found = cache[key]
                else:
                    found = None
                    for d in dirs:
                        target = tree.resolve(f"{d}/{soname}")
                        if target is not None and target.is_file and (target.sha256 or "") in view.elf:
                            found = target.path
                            break
                    cache[key] = found
            if found:
                view.edges.append((node.path, found, soname))
            else:
                view.unresolved.append((node.path, soname))
