"""``provcheck fleet scan``: sources -> image references -> plans -> layer tasks -> inventory.

1. Sources expand to image references: ``registry://HOST[:PORT]`` is the whole catalog,
   ``registry://HOST/REPO[:TAG|@DIGEST]`` one image, a file holds one reference a line.
2. Each reference is planned in a thread pool (manifests, config, attachments): an
   index gives one plan per wanted platform; an attached SBOM may answer the inventory
   (fast mode). A failure here fails that image only.
3. Distinct layer digests become tasks on the executor (a local process pool or a Dask
   cluster); each task returns a compact result and caches it by digest.
4. When all layers of an image are in, the client merges them, reads components and
   linkage, and writes the image to the inventory in one transaction (so an interrupted
   scan resumes: finished images are skipped, finished layers come from the cache).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from provcheck import BlobStore, Limits
from provcheck.formats.oci import parse_platform, platform_matches

from . import attached
from .inventory import Inventory
from .layers import LayerCache, cache_key, scan_layer_task
from .merge import build_view, linkage, observe_components
from .registry import (INDEX_TYPES, DigestMismatch, Reference, RegistryClient, RegistryError, RegistryOptions,
                       iter_platform_manifests, platform_str)

MAX_IMAGES = 1_000_000
IMAGE_SCANNER_VERSION = "fleet-image/1"


@dataclass
class FleetOptions:
    registry: RegistryOptions = field(default_factory=RegistryOptions)
    cache_dir: Path = Path(".provcheck-cache")
    platform: str = "linux/amd64"
    all_platforms: bool = False
    mode: str = "auto"            # auto | fast | deep
    executor: str = "local"       # local | dask
    scheduler: str | None = None
    scheduler_timeout: float = 20.0
    send_credentials: bool = False  # dask: a password given to the client travels with tasks only when asked
    jobs: int = 0
    limits: Limits = field(default_factory=Limits)
    rescan: bool = False
    keep_blobs: bool = False
    planners: int = 8


@dataclass
class ImagePlan:
    ref: Reference
    tags: list[str]
    digest: str
    index_digest: str | None
    platform: str
    config_digest: str | None
    layers: list[dict[str, Any]]
    attachments: list[dict[str, Any]] = field(default_factory=list)
    sbom_components: list[Any] | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # attachments that could not be read
    resumed: bool = False  # already in the inventory: nothing more was fetched


@dataclass
class Stats:
    images: int = 0
    images_ok: int = 0
    images_failed: int = 0
    images_resumed: int = 0
    images_skipped: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    layers: int = 0
    layers_scanned: int = 0
    cache_hits: int = 0
    image_cache_hits: int = 0
    layer_errors: int = 0
    modes: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    findings: int = 0
    seconds: float = 0.0
    bytes_downloaded: int = 0


# -- sources -------------------------------------------------------------------------------------

def expand_sources(sources: list[str], client: RegistryClient, on_error: Callable[[str, str], None],
                   tag_lists: dict[tuple[str, str], set[str] | None] | None = None) -> list[Reference]:
    refs: list[Reference] = []
    texts: list[str] = []
    for s in sources:
        if not s.startswith(("registry://", "docker://")) and os.path.isfile(s):
            try:
                with open(s, encoding="utf-8") as f:
                    lines = [ln.strip() for ln in f.read(16 << 20).splitlines()]
            except (OSError, UnicodeDecodeError) as exc:
                on_error(s, f"cannot read the reference file: {exc}")
                continue
            texts += [ln for ln in lines if ln and not ln.startswith("#")]
        else:
            texts.append(s)
    for text in texts:
        try:
            ref = Reference.parse(text)
        except ValueError as exc:
            on_error(text, str(exc))
            continue
        if ref.repository:
            refs.append(ref)
            continue
        try:
            repos = client.catalog(ref.registry)
        except RegistryError as exc:
            on_error(text, f"catalog: {exc}")
            continue
        def tag_list(repo: str, registry: str = ref.registry) -> tuple[str, list[str] | None, str]:
            try:
                return repo, client.tags(registry, repo), ""
            except RegistryError as exc:
                return repo, None, str(exc)

        valid = []
        for repo in sorted(set(repos)):
            try:
                Reference.parse(f"{ref.registry}/{repo}")
                valid.append(repo)
            except ValueError as exc:
                on_error(f"{ref.registry}/{repo}", f"catalog entry skipped: {exc}")
        with ThreadPoolExecutor(max_workers=8) as pool:
            listed = list(pool.map(tag_list, valid))
        for repo, tags, err in listed:
            if tags is None:
                on_error(f"{ref.registry}/{repo}", f"tag list: {err}")
                continue
            if tag_lists is not None:
                tag_lists[(ref.registry, repo)] = set(tags)
            for tag in sorted(tags):
                if tag.startswith("sha256-"):  # cosign / referrers fallback tags are attachments, not images
                    continue
                try:  # names from the registry are checked like names from the user
                    refs.append(Reference.parse(f"{ref.registry}/{repo}:{tag}"))
                except ValueError as exc:
                    on_error(f"{ref.registry}/{repo}:{tag}", f"catalog entry skipped: {exc}")
    seen, out = set(), []
    for r in refs:
        if r not in seen:
            seen.add(r)
            out.append(r)
    return out[:MAX_IMAGES]


# -- planning ------------------------------------------------------------------------------------

def plan_image(client: RegistryClient, ref: Reference, opts: FleetOptions,
               tags_of: Callable[[], set[str] | None] | None = None,
               known: frozenset = frozenset(), configs: LayerCache | None = None) -> list[ImagePlan]:
    """Manifests, config and attachments of one reference (one plan per platform taken).

    Images whose manifest digest is in ``known`` (already in the inventory) cost one
    manifest request: their plan is marked ``resumed`` and nothing else is fetched.
    ``configs``: where the platform read from a config is kept by the config's digest."""
    got = client.manifest(ref)
    if got is None:
        raise RegistryError(f"{ref}: no such manifest (404)")
    digest, media, doc, _raw = got
    tags = [ref.tag] if ref.tag and not ref.digest else []
    targets: list[tuple[str, str | None, dict[str, Any]]] = []  # (digest, index digest, manifest)
    if media in INDEX_TYPES or doc.get("manifests") is not None:
        want = parse_platform(opts.platform)
        children = list(iter_platform_manifests(doc))
        picked = [m for m in children if opts.all_platforms or platform_matches(m.get("platform"), want)]
        if not picked:
            offered = ", ".join(sorted({platform_str(m.get("platform")) for m in children})) or "none"
            raise RegistryError(f"{ref}: no image for platform {opts.platform} (offered: {offered})")
        for m in picked[:64]:
            child = client.manifest(ref, m["digest"])
            if child is None:
                raise RegistryError(f"{ref}: index names manifest {m['digest']}, which the registry does not have")
            if child[2].get("manifests") is not None:
                raise RegistryError(f"{ref}: nested image indexes are not supported")
            targets.append((child[0], digest, child[2]))
    else:
        targets.append((digest, None, doc))
    plans = []
    for mdigest, index_digest, manifest in targets:
        if (ref.registry, ref.repository, mdigest) in known:
            plans.append(ImagePlan(ref=ref, tags=tags, digest=mdigest, index_digest=index_digest, platform="",
                                   config_digest=None, layers=[], resumed=True))
            continue
        config_desc = manifest.get("config") or {}
        ctype = config_desc.get("mediaType")
        if manifest.get("artifactType") or (ctype and ctype not in IMAGE_CONFIG_TYPES):
            raise NotAnImage(f"{ref}: an OCI artifact ({manifest.get('artifactType') or ctype}), not a container "
                             f"image; skipped")
        platform = ""
        if isinstance(config_desc.get("digest"), str):
            platform = config_platform(client, ref, config_desc["digest"], configs)
        layers = [d for d in manifest.get("layers") or [] if isinstance(d, dict)]
        if not all(isinstance(d.get("digest"), str) for d in layers):
            raise RegistryError(f"{ref}: manifest {mdigest} has a layer without a digest")
        plan = ImagePlan(ref=ref, tags=tags, digest=mdigest, index_digest=index_digest, platform=platform,
                         config_digest=config_desc.get("digest"), layers=layers)
        repo_tags = tags_of() if tags_of is not None else None
        plan.attachments = attached.discover(client, ref, mdigest, repo_tags)
        if index_digest:
            plan.attachments += [dict(a, subject="index")
                                 for a in attached.discover(client, ref, index_digest, repo_tags)]
        sboms = attached.fetch_sboms(client, ref, plan.attachments, plan.errors)
        comps: dict[str, Any] = {}
        for _att, doc in sboms:
            for c in attached.components(doc):
                comps.setdefault(c.purl, c)
        if comps:  # an empty attached SBOM answers nothing: the layers are read instead
            plan.sbom_components = list(comps.values())
        plans.append(plan)
    return plans


def config_platform(client: RegistryClient, ref: Reference, digest: str, configs: LayerCache | None) -> str:
    """The platform an image config names (``os/arch[/variant]``). Kept by the config's digest
    (the registry's bytes were verified against it, so the digest fixes the answer): a warm
    scan does not fetch the config again."""
    import hashlib
    key = hashlib.sha256(f"config-platform/1\0{digest}".encode()).hexdigest()
    hit = configs.get(key) if configs is not None else None
    if hit is not None and isinstance(hit.get("platform"), str):
        return hit["platform"]
    config = json.loads(client.blob_bytes(ref, digest))
    platform = platform_str(config) if isinstance(config, dict) else ""
    if configs is not None:
        configs.put(key, {"key": key, "platform": platform})
    return platform


# -- executors -----------------------------------------------------------------------------------

IMAGE_CONFIG_TYPES = ("application/vnd.oci.image.config.v1+json",
                      "application/vnd.docker.container.image.v1+json")


class NotAnImage(Exception):
    """An OCI artifact (Helm chart, SBOM, signature, ...) under an ordinary tag: skipped."""


class SchedulerError(Exception):
    """The Dask scheduler cannot be reached: nothing can be scanned."""


class LocalExecutor:
    """A process pool (forkserver: workers never inherit the client's threads)."""

    name = "local"

    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        self.pool = ProcessPoolExecutor(max_workers=jobs or max(1, os.cpu_count() or 1),
                                        mp_context=multiprocessing.get_context("forkserver"))

    def run(self, tasks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        futures = {self.pool.submit(scan_layer_task, t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                yield futures[fut], fut.result()
            except Exception as exc:  # a worker that died (killed, out of memory)
                t = futures[fut]
                yield t, {"digest": t["desc"].get("digest"), "error": f"worker failed: {type(exc).__name__}: {exc}"}

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """One Dask task per layer on an existing cluster; results come back to this client."""

    name = "dask"

    def __init__(self, scheduler: str, timeout: float = 20.0):
        from distributed import Client
        try:
            self.client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None

    def run(self, tasks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        from distributed import as_completed as dask_completed
        futures = {}
        for t in tasks:
            f = self.client.submit(scan_layer_task, t, pure=False,
                                   key=f"provcheck-layer-{t['desc']['digest'][7:23]}-{os.urandom(4).hex()}")
            futures[f.key] = (f, t)
        for f in dask_completed([f for f, _ in futures.values()]):
            t = futures[f.key][1]
            try:
                yield t, f.result()
            except Exception as exc:
                yield t, {"digest": t["desc"].get("digest"), "error": f"Dask task failed: {type(exc).__name__}: {exc}"}
            finally:
                f.release()

    def close(self) -> None:
        self.client.close()


# -- the scan ------------------------------------------------------------------------------------

class FleetScan:
    def __init__(self, opts: FleetOptions, inventory: Inventory, progress: Any = None, hooks: Any = None):
        self.hooks = hooks  # the hook relay: the ELF plugin's linkage graph (provcheck_linkage)
        self.has_linkage = bool(hooks is not None and hooks.provcheck_linkage.get_hookimpls())
        self.opts = opts
        self.inv = inventory
        self.progress = progress
        self.stats = Stats()
        self.cache = LayerCache(opts.cache_dir)
        self.image_cache = LayerCache(opts.cache_dir, "images")
        self.config_cache = LayerCache(opts.cache_dir, "configs")
        self.meta_store: BlobStore | None = None  # package-database files of the layers, for merging
        self._lock = threading.Lock()
        self._known: frozenset = frozenset()
        self._repo_tags: dict[tuple[str, str], set[str] | None] = {}
        self._repo_locks: dict[tuple[str, str], threading.Lock] = {}

    def error(self, what: str, message: str) -> None:
        with self._lock:
            self.stats.errors.append({"image": what, "error": message})
        if self.progress is not None:
            self.progress.update(errors=len(self.stats.errors))

    def run(self, sources: list[str]) -> Stats:
        t0 = time.monotonic()
        opts = self.opts
        scan_id = self.inv.start_scan(sources, opts.executor)
        client = RegistryClient(opts.registry)
        (Path(opts.cache_dir) / "tmp").mkdir(parents=True, exist_ok=True)
        meta_dir = tempfile.mkdtemp(prefix="meta-", dir=Path(opts.cache_dir) / "tmp")
        self.meta_store = BlobStore(meta_dir)
        try:
            refs = expand_sources(sources, client, self.error, self._repo_tags)
            if self.progress is not None:
                self.progress.start_images(len(refs))
            plans = self._plan(client, refs, scan_id)
            deep = [p for p in plans if not self._fast(p)]
            for p in plans:
                if self._fast(p):
                    self._write(p, None, scan_id)
            if deep:
                self._scan_layers(deep, scan_id)
            self.stats.bytes_downloaded += client.stats.bytes
        finally:
            client.close()
            self.meta_store.close()
            shutil.rmtree(meta_dir, ignore_errors=True)
            self.stats.seconds = round(time.monotonic() - t0, 3)
            self.inv.finish_scan(scan_id, self.stats.images, self.stats.images_failed)
        return self.stats

    def _fast(self, plan: ImagePlan) -> bool:
        return plan.sbom_components is not None and self.opts.mode in ("auto", "fast")

    def _plan(self, client: RegistryClient, refs: list[Reference], scan_id: int) -> list[ImagePlan]:
        self._known = frozenset() if self.opts.rescan else self.inv.known_images()
        plans: list[ImagePlan] = []
        resumed: set[tuple[str, str, str]] = set()
        with ThreadPoolExecutor(max_workers=max(1, self.opts.planners)) as pool:
            futures = {pool.submit(self._plan_one, client, r): r for r in refs}
            for fut in as_completed(futures):
                ref = futures[fut]
                try:
                    got = fut.result()
                except DigestMismatch as exc:
                    self._failed(ref, None, str(exc), scan_id, mismatch=True)
                    continue
                except NotAnImage as exc:
                    self.stats.images_skipped += 1
                    self.stats.skipped.append({"image": str(ref), "reason": str(exc)})
                    self._advance_image()
                    continue
                except (RegistryError, ValueError, OSError) as exc:
                    self._failed(ref, None, str(exc), scan_id)
                    continue
                except Exception as exc:  # a planner bug: this image fails, the fleet goes on
                    self._failed(ref, None, f"internal error: {type(exc).__name__}: {exc}", scan_id)
                    continue
                for p in got:
                    for problem in p.errors:
                        self.error(str(p.ref), problem)
                    key = (p.ref.registry, p.ref.repository, p.digest)
                    if p.resumed:
                        for tag in p.tags:
                            self.inv.add_tag(p.ref.registry, p.ref.repository, tag, p.digest)
                        if key not in resumed:  # the same image under several tags counts once
                            resumed.add(key)
                            self.stats.images += 1
                            self.stats.images_resumed += 1
                            self.stats.images_ok += 1
                        self._advance_image()
                        continue
                    plans.append(p)
        merged: dict[tuple[str, str, str], ImagePlan] = {}
        for p in sorted(plans, key=lambda p: (str(p.ref), p.platform)):
            key = (p.ref.registry, p.ref.repository, p.digest)
            if key in merged:  # the same image under several tags: scan once, keep every tag
                merged[key].tags = sorted(set(merged[key].tags) | set(p.tags))
            else:
                merged[key] = p
        return list(merged.values())

    def _plan_one(self, client: RegistryClient, ref: Reference) -> list[ImagePlan]:
        return plan_image(client, ref, self.opts, lambda: self._tags(client, ref), self._known, self.config_cache)

    def _tags(self, client: RegistryClient, ref: Reference) -> set[str] | None:
        """The repository's tags (listed once per repository), to find attachment tags without
        probing; None when the registry does not let us list them."""
        key = (ref.registry, ref.repository)
        with self._lock:
            if key in self._repo_tags:
                return self._repo_tags[key]
            lock = self._repo_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._repo_tags:
                try:
                    tags: set[str] | None = set(client.tags(ref.registry, ref.repository))
                except RegistryError:
                    tags = None
                with self._lock:
                    self._repo_tags[key] = tags
            return self._repo_tags[key]

    def _failed(self, ref: Reference, plan: ImagePlan | None, message: str, scan_id: int,
                mismatch: bool = False) -> None:
        self.stats.images += 1
        self.stats.images_failed += 1
        self.error(str(ref), message)
        findings = []
        if mismatch:
            from .rules import PC603
            # "... manifest/blob EXPECTED hashes to ACTUAL" (or "is N bytes, descriptor says M"): the
            # object that failed is the key, both digests the evidence
            digests = re.findall(r"sha256:[0-9a-f]{64}", message)
            evidence = {"expected": digests[0] if digests else None,
                        "actual": digests[1] if len(digests) > 1 else None, "detail": message}
            findings.append({"rule_id": PC603.id, "severity": str(PC603.severity), "message": message,
                             "path": None, "layer": None, "key": evidence["expected"] or message, "evidence": evidence})
            self.stats.findings += 1
        img = {"registry": ref.registry, "repository": ref.repository, "digest": plan.digest if plan else ref.digest,
               "index_digest": plan.index_digest if plan else None, "platform": plan.platform if plan else None,
               "config_digest": plan.config_digest if plan else None, "mode": None, "status": "error",
               "error": message, "tags": (plan.tags if plan else ([ref.tag] if ref.tag else [])),
               "attestations": plan.attachments if plan else [], "findings": findings}
        self.inv.write_image(img, scan_id)
        self._advance_image()

    def _advance_image(self) -> None:
        if self.progress is not None:
            self.progress.update(images=1)

    def _scan_layers(self, plans: list[ImagePlan], scan_id: int) -> None:
        opts = self.opts
        needed: dict[str, tuple[ImagePlan, dict[str, Any]]] = {}
        for p in plans:
            for d in p.layers:
                needed.setdefault(d["digest"], (p, d))
        self.stats.layers += len(needed)
        if self.progress is not None:
            self.progress.start_layers(len(needed))
        results: dict[str, dict[str, Any]] = {}
        todo = []
        task_options = asdict(opts.registry)
        if opts.executor == "dask" and not opts.send_credentials:  # tasks cross the network to other machines
            task_options.update(username=None, password=None)
        for digest, (p, d) in needed.items():
            hit = self.cache.get(cache_key(digest, opts.limits))
            if hit is not None:  # answered from this machine's cache without a worker round trip
                results[digest] = hit
                self.stats.cache_hits += 1
                if self.progress is not None:
                    self.progress.update(layers=1, cache_hits=1)
                continue
            todo.append({"ref": str(p.ref.with_digest(p.digest)), "desc": d, "options": task_options,
                         "cache": str(Path(opts.cache_dir).resolve()), "limits": asdict(opts.limits),
                         "keep_blobs": opts.keep_blobs})
        waiting = {id(p): p for p in plans}

        def ready() -> None:  # the images whose layers are all in, written in one transaction
            done = []
            for key, p in list(waiting.items()):
                if all(d["digest"] in results for d in p.layers):
                    del waiting[key]
                    img = self._image(p, [results[d["digest"]] for d in p.layers], scan_id)
                    if img is not None:
                        done.append((p, img))
            if done:
                self.inv.write_images([img for _p, img in done], scan_id)
                for p, img in done:
                    self._written(p, img)

        ready()
        if todo:
            executor = (LocalExecutor(opts.jobs) if opts.executor == "local"
                        else DaskExecutor(opts.scheduler or "", opts.scheduler_timeout))
            try:
                for _task, res in executor.run(todo):
                    digest = res.get("digest") or _task["desc"]["digest"]
                    results[digest] = res
                    self.stats.bytes_downloaded += int(res.get("downloaded_bytes") or 0)
                    if res.get("error"):
                        self.stats.layer_errors += 1
                    elif res.get("cached"):
                        self.stats.cache_hits += 1
                    else:
                        self.stats.layers_scanned += 1
                    if self.progress is not None:
                        self.progress.update(layers=1, cache_hits=int(bool(res.get("cached"))))
                    ready()
            finally:
                executor.close()
        ready()

    def _image(self, plan: ImagePlan, layer_results: list[dict[str, Any]], scan_id: int) -> dict[str, Any] | None:
        """The inventory record of an image whose layers are in (None: it failed, and that is written)."""
        failed = [r for r in layer_results if r.get("error")]
        if failed:
            msg = "; ".join(f"layer {r.get('digest')}: {r['error']}" for r in failed)
            self._failed(plan.ref, plan, msg, scan_id, mismatch=any("hashes to" in r["error"] or "descriptor says"
                                                                      in r["error"] for r in failed))
            return None
        try:
            key = image_cache_key(plan, layer_results, self.has_linkage)
            hit = self.image_cache.get(key)
            if hit is not None:
                img = self._from_cache(plan, layer_results, hit)
                self.stats.image_cache_hits += 1
            else:
                img = self._merge(plan, layer_results)
                if img["status"] == "ok":
                    self.image_cache.put(key, {"key": key, **_cacheable(img)})
        except Exception as exc:
            self._failed(plan.ref, plan, f"internal error merging layers: {type(exc).__name__}: {exc}", scan_id)
            return None
        return img

    def _written(self, plan: ImagePlan, img: dict[str, Any]) -> None:
        self.stats.images += 1
        self.stats.images_ok += img["status"] == "ok"
        self.stats.images_failed += img["status"] != "ok"
        if img["status"] != "ok":
            self.error(str(plan.ref), img.get("error") or "incomplete")
        self.stats.findings += len(img["findings"])
        self.stats.modes[img["mode"]] = self.stats.modes.get(img["mode"], 0) + 1
        self._advance_image()

    def _from_cache(self, plan: ImagePlan, layer_results: list[dict[str, Any]], hit: dict[str, Any]) -> dict[str, Any]:
        from provcheck.formats.inventory import Component
        comps = [(Component(**{k: (tuple(v) if k == "files" else v) for k, v in c.items()}), "layers")
                 for c in hit["components"]]
        mode = "layers"
        findings = list(hit["findings"])
        if plan.sbom_components is not None:
            mode = "layers+sbom"
            findings += sbom_disagreements(plan, [c for c, _ in comps])
        return {"registry": plan.ref.registry, "repository": plan.ref.repository, "digest": plan.digest,
                "index_digest": plan.index_digest, "platform": plan.platform, "config_digest": plan.config_digest,
                "mode": mode, "status": "ok", "error": None, "tags": plan.tags, "layers": layer_results,
                "edges": [tuple(e) for e in hit["edges"]], "components": comps, "attestations": plan.attachments,
                "findings": findings, "files": hit["files"]}

    def _merge(self, plan: ImagePlan, layer_results: list[dict[str, Any]]) -> dict[str, Any]:
        view = build_view(str(plan.ref), layer_results, self.meta_store)
        observe_components(view)
        linkage(view, self.hooks)
        comps = [(c, "layers") for c in view.components]
        findings = list(view.findings)
        for r in layer_results:
            findings += r.get("findings") or []
        mode = "layers"
        if plan.sbom_components is not None:
            mode = "layers+sbom"
            findings += sbom_disagreements(plan, view.components)
        problems = [e for r in layer_results for e in r.get("errors") or []] + view.errors
        incomplete = [r["digest"] for r in layer_results if not r.get("complete", True)]
        status = "incomplete" if incomplete else "ok"
        return {"registry": plan.ref.registry, "repository": plan.ref.repository, "digest": plan.digest,
                "index_digest": plan.index_digest, "platform": plan.platform, "config_digest": plan.config_digest,
                "mode": mode, "status": status,
                "error": ("; ".join(problems[:20]) or None) if incomplete else None,
                "tags": plan.tags, "layers": layer_results, "edges": view.edges, "components": comps,
                "attestations": plan.attachments, "findings": findings,
                "files": sum(1 for n in view.tree.nodes.values() if n.is_file)}

    def _write(self, plan: ImagePlan, _unused: Any, scan_id: int) -> None:
        img = {"registry": plan.ref.registry, "repository": plan.ref.repository, "digest": plan.digest,
               "index_digest": plan.index_digest, "platform": plan.platform, "config_digest": plan.config_digest,
               "mode": "sbom", "status": "ok", "tags": plan.tags, "layers": [],
               "components": [(c, "sbom") for c in plan.sbom_components or ()],
               "attestations": plan.attachments, "findings": plan.findings}
        self.inv.write_image(img, scan_id)
        self.stats.images += 1
        self.stats.images_ok += 1
        self.stats.modes["sbom"] = self.stats.modes.get("sbom", 0) + 1
        self._advance_image()


def image_cache_key(plan: ImagePlan, layer_results: list[dict[str, Any]], graph: bool = True) -> str:
    """The merged view of an image depends on its layer results (by their own cache keys) and
    on whether the ELF plugin's graph resolved its edges (``graph``)."""
    import hashlib

    from provcheck import __version__
    material = json.dumps([IMAGE_SCANNER_VERSION, __version__, [r.get("key") or r["digest"] for r in layer_results]]
                          + ([] if graph else ["no-linkage-hook"]))
    return hashlib.sha256(material.encode()).hexdigest()


def _cacheable(img: dict[str, Any]) -> dict[str, Any]:
    comps = []
    for c, _how in img["components"]:
        comps.append({"name": c.name, "version": c.version, "purl": c.purl, "type": c.type, "origin": c.origin,
                      "source": c.source, "source_version": c.source_version, "arch": c.arch,
                      "files": list(c.files), "layer": c.layer, "db_path": c.db_path})
    findings = [f for f in img["findings"] if f.get("rule_id") != "PC602"]
    return {"components": comps, "edges": [list(e) for e in img["edges"]], "findings": findings,
            "files": img["files"]}


def sbom_disagreements(plan: ImagePlan, observed: list[Any]) -> list[dict[str, Any]]:
    """Deep mode: packages the layers hold that the attached SBOM omits or versions differently."""
    from provcheck.formats.versions import same_version

    from .rules import PC602
    declared: dict[tuple[str, str], list[str]] = {}
    for c in plan.sbom_components or ():
        declared.setdefault((c.type, c.name), []).append(c.version)
    out = []
    for c in observed:
        if c.origin == "soname":
            continue
        versions = declared.get((c.type, c.name))
        if versions is None:
            msg = f"{c.name} {c.version} is installed ({c.db_path}) but the attached SBOM does not list it"
        elif not any(same_version(c.type, c.version, v) for v in versions):
            msg = f"{c.name} is {c.version} in the image but {', '.join(sorted(versions))} in the attached SBOM"
        else:
            continue
        out.append({"rule_id": PC602.id, "severity": str(PC602.severity), "message": msg, "path": c.db_path,
                    "layer": c.layer, "key": f"{c.type}/{c.name}",
                    "evidence": {"observed": c.purl, "declared": versions or []}})
    return out
