"""Container images: OCI image layouts, OCI archives and ``docker save`` tarballs.

Both ``docker save`` layouts are read: the legacy one (``manifest.json`` naming
``<id>/layer.tar``) and the OCI-in-docker one Docker 25+ writes (an OCI layout plus
``manifest.json``). Multi-platform indexes are resolved with ``--platform``.

Every blob is checked against its descriptor's digest and size (PC907). Layers are
decompressed in parallel (libarchive picks the filter from the bytes, whatever the
media type says) and applied in order with OCI whiteouts; files that a later layer
deletes or shadows stay in ``tree.hidden`` with ``hidden_by`` set to that layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import stat
from pathlib import Path
from typing import Any, BinaryIO, Callable, Mapping

from .. import hookimpl
from ..config import InputSpec
from ..engine_rules import PC902, PC906, PC907
from ..model import Finding, InputError, Location, ToolError
from ..vfs import DIR, HARDLINK, Artifact, Layer, Node, Tree
from . import layercache
from .archive import Budget, Entries, Reader, build_tree, sniff

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MAX_JSON = 8 << 20
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class ImageSource:
    """Reads the files of an image layout, from a directory or from an unpacked archive."""

    def __init__(self, root: Path | None = None, tree: Tree | None = None):
        self.root, self.tree = root, tree

    def exists(self, rel: str) -> bool:
        return self._host(rel) is not None

    def _host(self, rel: str) -> Path | None:
        rel = rel.strip("/")
        if not rel or ".." in rel.split("/"):
            return None
        if self.tree is not None:
            node = self.tree.get(rel)
            return self.tree.store.path(node.sha256) if node is not None and node.is_file and node.sha256 else None
        if self.root is None:
            return None
        path = self.root / rel
        parent = self.root
        try:
            for part in rel.split("/")[:-1]:  # no symlinked directory on the way (blobs -> /elsewhere)
                parent = parent / part
                if not stat.S_ISDIR(os.lstat(parent).st_mode):
                    return None
            st = os.lstat(path)
        except OSError:
            return None
        return path if stat.S_ISREG(st.st_mode) else None

    def read_blob(self, digest: str, limit: int = MAX_JSON) -> bytes | None:
        """A blob of the layout by digest, verified against it; None when absent, larger than
        ``limit`` or not matching. For plugins reading attachments (SBOMs, signatures)."""
        m = re.fullmatch(r"sha256:([0-9a-f]{64})", digest or "")
        host = self._host(f"blobs/sha256/{m.group(1)}") if m else None
        if host is None or m is None:
            return None
        with open(host, "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit or hashlib.sha256(data).hexdigest() != m.group(1):
            return None
        return data

    def path(self, rel: str) -> Path:
        host = self._host(rel)
        if host is None:
            raise InputError(f"{rel}: missing from the image (or not a regular file)")
        return host

    def read_json(self, rel: str) -> Any:
        with open(self.path(rel), "rb") as f:
            data = f.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            raise InputError(f"{rel}: larger than {MAX_JSON} bytes; not an image manifest")
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise InputError(f"{rel}: not valid JSON ({exc})") from None

    def read_object(self, rel: str, what: str) -> dict[str, Any]:
        """A JSON object (an index, a manifest, a config); InputError for any other JSON value."""
        value = self.read_json(rel)
        if not isinstance(value, dict):
            raise InputError(f"{rel}: the {what} is a JSON {type(value).__name__}, not an object")
        return value


def _annotations(doc: dict[str, Any]) -> dict[str, Any]:
    value = doc.get("annotations")
    return value if isinstance(value, dict) else {}


def blob_rel(digest: str) -> str:
    m = re.fullmatch(r"([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)", digest if isinstance(digest, str) else "")
    if not m:
        raise InputError(f"malformed digest {digest!r}")
    return f"blobs/{m.group(1)}/{m.group(2)}"


class HashingStream:
    """A read-only, non-seekable stream that hashes what passes through it."""

    def __init__(self, f: BinaryIO, progress: Any = None):
        self.f, self.h, self.size, self.progress = f, hashlib.sha256(), 0, progress

    def readinto(self, buf: Any) -> int:
        n = self.f.readinto(buf)  # type: ignore[attr-defined]  # a real file object
        if n:
            self.h.update(memoryview(buf)[:n])
            self.size += n
            if self.progress is not None:
                self.progress.advance(n)
        return n or 0

    def seekable(self) -> bool:
        return False

    def drain(self) -> None:
        buf = bytearray(1 << 20)
        while self.readinto(buf):
            pass


def parse_platform(text: str) -> dict[str, str]:
    parts = text.split("/")
    if len(parts) < 2:
        raise InputError(f"platform {text!r} is not OS/ARCH[/VARIANT]")
    return {"os": parts[0], "architecture": parts[1], **({"variant": parts[2]} if len(parts) > 2 else {})}


def _platform_str(p: dict[str, Any] | None) -> str:
    if not p:
        return "unknown"
    return "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)


class ImageLoader:
    def __init__(self, src: ImageSource, name: str, ctx: Any, platform: str):
        self.src, self.name, self.ctx = src, name, ctx
        self.want = parse_platform(platform)
        self.findings: list[Finding] = []
        self.errors: list[ToolError] = []

    # -- blobs ---------------------------------------------------------------------
    def check_blob(self, desc: dict[str, Any], what: str, data_path: Path | None = None,
                   actual: tuple[str, int] | None = None) -> None:
        digest, size = desc.get("digest", ""), desc.get("size")
        if actual is None:
            if data_path is None:
                raise ValueError("check_blob needs data_path or actual")
            h, n = hashlib.sha256(), 0
            with open(data_path, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
                    n += len(block)
            actual = (f"sha256:{h.hexdigest()}", n)
        problems = []
        if digest.startswith("sha256:") and actual[0] != digest:
            problems.append(f"content hashes to {actual[0]}")
        if isinstance(size, int) and size != actual[1]:
            problems.append(f"is {actual[1]} bytes, descriptor says {size}")
        if problems:
            self.findings.append(PC907.finding(
                location=Location(artifact=self.name, path=blob_rel(digest) if digest else what, layer=digest or None),
                message=f"{what} {digest}: {' and '.join(problems)}", key=f"{what}:{digest}",
                evidence={"expected_digest": digest, "actual_digest": actual[0], "expected_size": size,
                          "actual_size": actual[1]}))

    def read_blob_json(self, desc: dict[str, Any], what: str) -> Any:
        rel = blob_rel(desc.get("digest", ""))
        self.check_blob(desc, what, self.src.path(rel))
        return self.src.read_object(rel, what)

    # -- manifests -----------------------------------------------------------------
    def pick_manifest(self, index: dict[str, Any], depth: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
        """(descriptor, manifest) for the wanted platform, following nested indexes."""
        listed = index.get("manifests")
        manifests = [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
        if not manifests:
            raise InputError(f"{self.name}: the image index lists no manifests")
        images = [m for m in manifests if not _is_attachment(m)]
        matching = [m for m in images if platform_matches(m.get("platform"), self.want)]
        candidates = matching or [m for m in images if not m.get("platform")]
        if not candidates:
            offered = ", ".join(sorted({_platform_str(m.get("platform")) for m in images}))
            raise InputError(f"{self.name}: no image for platform {_platform_str(self.want)} (offered: {offered}); "
                             f"choose one with --platform")
        desc = candidates[0]
        doc = self.read_blob_json(desc, "manifest")
        if m_is_index(desc) or doc.get("manifests") is not None:
            if depth > 4:
                raise InputError(f"{self.name}: image indexes nested too deep")
            return self.pick_manifest(doc, depth + 1)
        return desc, doc

    def load(self) -> Artifact:
        if self.src.exists("index.json") and (self.src.exists("oci-layout") or not self.src.exists("manifest.json")):
            index = self.src.read_object("index.json", "image index")
            desc, manifest = self.pick_manifest(index)
            config_desc = manifest.get("config") or {}
            if not isinstance(config_desc, dict):
                raise InputError(f"{self.name}: the manifest's config is not a descriptor")
            config = self.read_blob_json(config_desc, "config") if config_desc.get("digest") else {}
            listed = manifest.get("layers")
            layer_descs = [d for d in listed if isinstance(d, dict)] if isinstance(listed, list) else []
            layers = [(blob_rel(d.get("digest", "")), d) for d in layer_descs]
            meta = {"manifest_digest": desc.get("digest"), "digest": desc.get("digest"),
                    "config_digest": config_desc.get("digest"),
                    "ref": _annotations(desc).get("org.opencontainers.image.ref.name"),
                    "media_type": manifest.get("mediaType") or desc.get("mediaType"),
                    "annotations": _annotations(manifest),
                    "index": index}
        elif self.src.exists("manifest.json"):
            entries = self.src.read_json("manifest.json")
            if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
                raise InputError(f"{self.name}: manifest.json is not a docker save manifest")
            entry = entries[0]
            config_rel = str(entry.get("Config", ""))
            config = self.src.read_object(config_rel, "config")
            config_digest = _digest_from_rel(config_rel) or self._file_digest(config_rel)
            if _digest_from_rel(config_rel):
                self.check_blob({"digest": config_digest}, "config", self.src.path(config_rel))
            rootfs = config.get("rootfs")
            diff_ids = rootfs.get("diff_ids") or [] if isinstance(rootfs, dict) else []
            diff_ids = diff_ids if isinstance(diff_ids, list) else []
            layers = []
            for i, rel in enumerate(entry.get("Layers") or []):
                digest = _digest_from_rel(rel)
                layers.append((rel, {"digest": digest, "diff_id": diff_ids[i] if i < len(diff_ids) else None,
                                     "mediaType": "application/vnd.docker.image.rootfs.diff.tar"}))
            meta = {"config_digest": config_digest, "digest": config_digest, "tags": entry.get("RepoTags") or [],
                    "media_type": "docker-save"}
        else:
            raise InputError(f"{self.name}: neither index.json nor manifest.json; not an image")

        platform = {k: config.get(k) for k in ("os", "architecture", "variant") if config.get(k)}
        meta["platform"] = _platform_str(platform)
        run = config.get("config")
        run = run if isinstance(run, dict) else {}
        meta["config"] = {k: run.get(k) for k in ("Env", "Entrypoint", "Cmd", "User", "Labels")}
        listed = config.get("history")
        history = [h for h in listed if isinstance(h, dict) and not h.get("empty_layer")] \
            if isinstance(listed, list) else []
        tree, layer_infos = self.apply_layers(layers, history)
        digests = [info.digest for info in layer_infos]
        if not self.errors and all(d.startswith("sha256:") for d in digests) \
                and not any(f.rule_id in (PC906.id, PC907.id) for f in self.findings):
            # every layer read whole and matching its digest: the tree is a function of these
            tree.identity = hashlib.sha256(json.dumps(["image-tree", layercache.LOADER_VERSION, digests,
                                                       sorted(vars(self.ctx.limits).items())]).encode()).hexdigest()
        return Artifact(name=self.name, role="target", kind="image", tree=tree, layers=layer_infos, metadata=meta,
                        findings=self.findings, errors=self.errors, layout=self.src)

    def _file_digest(self, rel: str) -> str:
        h = hashlib.sha256()
        with open(self.src.path(rel), "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        return f"sha256:{h.hexdigest()}"

    # -- layers --------------------------------------------------------------------
    def read_layer(self, rel: str, desc: dict[str, Any], reader: Reader) -> Entries:
        cache, digest = self.ctx.cache, desc.get("digest")
        if cache is None or not isinstance(digest, str) or not digest.startswith("sha256:"):
            return self._read_layer(rel, desc, reader)
        host = self.src.path(rel)
        if layercache.known_blob(cache, host) == digest or (
                cache.has(layercache.NAMESPACE, layercache.layer_key(digest, self.ctx.limits)) and self._verify(host, desc)):
            warm = layercache.load(cache, digest, self.ctx.limits, self.ctx.store, reader.budget, self.name,
                                   lambda: self._refill(rel, digest))
            if warm is not None:
                task = self.ctx.progress.task(f"layer {digest[:19]} (cached)", host.stat().st_size)
                task.advance(host.stat().st_size)
                task.done()
                return warm
        entries = self._read_layer(rel, desc, reader)
        if not any(f.rule_id == PC907.id for f in self.findings if f.location.layer == digest):
            layercache.remember_blob(cache, host, digest)
            layercache.save(cache, digest, self.ctx.limits, entries, self.ctx.store)
        return entries

    def _verify(self, host: Path, desc: dict[str, Any]) -> bool:
        """Hash the layer blob (no decompression) when its identity is not on record."""
        h, n = hashlib.sha256(), 0
        with open(host, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
                n += len(block)
        size = desc.get("size")
        return f"sha256:{h.hexdigest()}" == desc.get("digest") and (not isinstance(size, int) or size == n)

    def _refill(self, rel: str, digest: str) -> None:
        """Decompress a cached layer again for the contents its entry did not keep."""
        reader = Reader(self.ctx.store, self.ctx.limits, self.name, rootfs=True, defer_links=True)
        with open(self.src.path(rel), "rb") as f:
            stream = HashingStream(f)
            entries = reader.read(stream, digest, layer=digest)  # type: ignore[arg-type]
            stream.drain()
        if f"sha256:{stream.h.hexdigest()}" != digest or not entries.complete:
            raise InputError(f"{self.name}: layer {digest} changed or became unreadable since it was loaded")
        cache = self.ctx.cache
        if cache is not None and not cache.has(layercache.NAMESPACE, layercache.layer_key(digest, self.ctx.limits)):
            layercache.save(cache, digest, self.ctx.limits, entries, self.ctx.store)  # dropped as damaged: rebuilt

    def _read_layer(self, rel: str, desc: dict[str, Any], reader: Reader) -> Entries:
        host = self.src.path(rel)
        digest = desc.get("digest")
        task = self.ctx.progress.task(f"layer {(digest or rel)[:19]}", host.stat().st_size)
        try:
            with open(host, "rb") as f:
                stream = HashingStream(f, task)
                entries = reader.read(stream, digest or rel, layer=digest or rel)  # type: ignore[arg-type]
                stream.drain()
        finally:
            task.done()
        actual = (f"sha256:{stream.h.hexdigest()}", stream.size)
        if digest:
            self.check_blob(desc, "layer", actual=actual)
        else:
            desc["digest"] = actual[0]
            for _raw, node in entries.items:
                node.layer = actual[0]
            if desc.get("diff_id") and desc["diff_id"] != actual[0]:
                self.check_blob({"digest": desc["diff_id"], "size": None}, "layer (diff_id)", actual=actual)
        return entries

    def apply_layers(self, layers: list[tuple[str, dict[str, Any]]], history: list[dict]) -> tuple[Tree, list[Layer]]:
        budget = Budget(self.ctx.limits)
        reader = Reader(self.ctx.store, self.ctx.limits, self.name, rootfs=True, budget=budget, defer_links=True)
        jobs = self.ctx.config.jobs or min(4, os.cpu_count() or 1)
        from concurrent.futures import ThreadPoolExecutor  # not at import: every start-up imports this loader
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(lambda item: self.read_layer(item[0], item[1], reader), layers))
        tree = Tree(self.ctx.store)
        infos = []
        for i, ((rel, desc), entries) in enumerate(zip(layers, results)):
            digest = desc.get("digest") or rel
            self.findings += entries.findings
            self.errors += entries.errors
            apply_changeset(tree, entries, digest, self.findings, self.name)
            infos.append(Layer(digest=digest, media_type=desc.get("mediaType", ""), size=desc.get("size"),
                               diff_id=desc.get("diff_id"), index=i,
                               created_by=history[i].get("created_by") if i < len(history) else None))
        return tree, infos


def apply_changeset(tree: Tree, entries: Entries, digest: str, findings: list[Finding], artifact: str) -> None:
    """Apply one layer: whiteouts against the layers below, then this layer's entries.

    Deletions are gathered first and applied in one pass over the tree, so the cost is
    linear in the tree size whatever the number of whiteouts (a hostile layer may carry
    hundreds of thousands)."""
    visible = tree.nodes
    gone: set[str] = set()     # whited out: the entry and everything below it
    emptied: set[str] = set()  # opaque directories, and lower directories this layer replaces
    items = []                 # with a non-directory: everything below them
    for _raw, node in entries.items:
        parent, _, base = node.path.rpartition("/")  # tree paths are normalised: dirname, basename
        if base == OPAQUE:
            emptied.add(parent)
        elif base.startswith(WHITEOUT):
            name = base[len(WHITEOUT):]
            if name not in ("", ".", ".."):  # a whiteout names one entry of its own directory
                gone.add(posixpath.join(parent, name))
        else:
            items.append(node)
            old = visible.get(node.path)
            if old is not None and old.type == DIR and node.type != DIR:
                emptied.add(node.path)

    def hide(node: Node) -> None:
        if node.type != DIR:
            node.hidden_by = digest
            tree.hidden.append(node)

    def buried(path: str) -> bool:
        if path in gone or "" in emptied:
            return True
        i = path.find("/")
        while i != -1:
            ancestor = path[:i]
            if ancestor in gone or ancestor in emptied:
                return True
            i = path.find("/", i + 1)
        return False

    if gone or emptied:
        for path in [p for p in visible if buried(p)]:
            hide(visible.pop(path))
    for node in items:
        old = visible.get(node.path)
        if old is not None and old.layer != digest and not (old.type == DIR and node.type == DIR):
            hide(old)  # shadowed: kept, hidden by this layer
        if node.type == HARDLINK and node.sha256 is None:
            src = visible.get(node.link_target or "")
            if src is None or not src.is_file:
                findings.append(PC902.finding(location=Location(artifact=artifact, path=node.path, layer=digest),
                                              key=node.path, message=f"hardlink {node.path!r} -> {node.link_target!r} "
                                                                     f"names no file of this or a lower layer; dropped",
                                              evidence={"target": node.link_target}))
                continue
            node.sha256, node.size = src.sha256, src.size
        visible[node.path] = node
    tree.add_parent_dirs()


def m_is_index(desc: dict[str, Any]) -> bool:
    return desc.get("mediaType") in INDEX_TYPES


def _is_attachment(desc: dict[str, Any]) -> bool:
    return bool(desc.get("artifactType")) or (desc.get("platform") or {}).get("os") == "unknown"


def platform_matches(platform: Mapping[str, object] | None, want: Mapping[str, str]) -> bool:
    if not platform:
        return False
    if platform.get("os") != want["os"] or platform.get("architecture") != want["architecture"]:
        return False
    return "variant" not in want or platform.get("variant") in (want["variant"], None)


def _digest_from_rel(rel: str) -> str | None:
    m = re.fullmatch(r"blobs/(sha256)/([0-9a-f]{64})", rel.strip("/"))
    if m:
        return f"{m.group(1)}:{m.group(2)}"
    m = re.fullmatch(r"([0-9a-f]{64})\.json", rel)
    return f"sha256:{m.group(1)}" if m else None


IMAGE_TYPES = {"oci", "oci-dir", "oci-archive", "docker-archive", "image"}


@hookimpl(tryfirst=True)
def provcheck_load_input(spec: InputSpec, ctx: Any) -> Artifact | None:
    """Image layouts (directories) and archives named as images with ``--type``; an
    untyped archive is read once by the archive loader, which hands an image back here
    (``image_from_archive``) when its top level is one."""
    if spec.type is not None and spec.type not in IMAGE_TYPES:
        return None
    path = Path(spec.path)
    if path.is_dir():
        if not (path / "oci-layout").is_file() and not (path / "index.json").is_file():
            if spec.type is not None:
                raise InputError(f"{spec.path}: not an OCI image layout (no oci-layout or index.json)")
            return None
        return _load(ImageSource(root=path), path.resolve().name, spec, path, ctx, [], [])
    if not path.is_file():
        if spec.type is None:
            return None
        raise InputError(f"{spec.path}: no such file or directory")
    if spec.type is None:
        return None
    reader = Reader(ctx.store, ctx.limits, path.name, rootfs=False)
    entries = reader.read(path, path.name)
    tree = build_tree(ctx.store, entries)
    if not is_image_tree(tree):
        raise InputError(f"{spec.path}: archive holds no index.json or manifest.json; not an image")
    return _load(ImageSource(tree=tree), path.name, spec, path, ctx, entries.findings, entries.errors)


MAX_MANIFEST = 1 << 20


def is_image_tree(tree: Tree) -> bool:
    """An OCI archive or docker-save tarball at the top level of an archive's tree."""
    node = tree.get("manifest.json")
    manifest = tree.read(node, MAX_MANIFEST) if node is not None and node.is_file else None
    return _image_top(lambda name: tree.get(name) is not None, manifest)


def _image_top(has: Callable[[str], bool], manifest: bytes | None) -> bool:
    """The one rule for "this archive is an image": an ``oci-layout``, an ``index.json`` with
    ``blobs/``, or a ``manifest.json`` that is docker-save's JSON list (browser extensions
    and web apps ship a ``manifest.json`` object)."""
    if has("oci-layout") or (has("index.json") and has("blobs")):
        return True
    try:
        return manifest is not None and isinstance(json.loads(manifest), list)
    except ValueError:
        return False


def image_from_archive(tree: Tree, spec: InputSpec, path: Path, ctx: Any, findings: list[Finding],
                       errors: list[ToolError]) -> Artifact:
    return _load(ImageSource(tree=tree), path.name, spec, path, ctx, findings, errors)


def _load(src: ImageSource, name: str, spec: InputSpec, path: Path, ctx: Any, outer: list[Finding],
          outer_errors: list[ToolError]) -> Artifact:
    artifact = ImageLoader(src, name, ctx, spec.platform or ctx.config.platform).load()
    artifact.role, artifact.source = spec.role, spec.text
    artifact.metadata["path"] = str(path)
    artifact.findings[:0] = outer
    artifact.errors[:0] = outer_errors
    return artifact


def looks_like_image_archive(path: Path) -> bool:
    """:func:`is_image_tree`'s rule on an archive file, from its member names and its
    ``manifest.json`` only (nothing is stored): for commands that must decide before loading."""
    if sniff(path) is None:
        return False
    import libarchive
    from libarchive.exception import ArchiveError
    tops: set[str] = set()
    manifest = None
    try:
        with libarchive.file_reader(str(path)) as archive:
            for i, entry in enumerate(archive):
                name = str(entry.pathname or "").lstrip("./")
                tops.add(name.split("/", 1)[0])
                if name == "manifest.json" and entry.isfile and manifest is None:
                    manifest = b""
                    for block in entry.get_blocks():
                        manifest += block
                        if len(manifest) > MAX_MANIFEST:
                            break
                if "oci-layout" in tops or i > 100_000:
                    break
    except ArchiveError:
        return False
    return _image_top(tops.__contains__, manifest)
