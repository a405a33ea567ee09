"""Declared against observed: finding SBOMs, matching components, and the PC4xx checks."""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from provcheck import SYMLINK, Finding, Location, Severity, ToolError
from provcheck.formats.oci import MAX_MANIFEST, attachment_kind, decode_manifest, sbom_layers
from provcheck.formats.packages import canonical

from provcheck.formats import versions as adv
from .formats import DeclaredComponent, Sbom, SbomError, parse
from provcheck.formats.inventory import Component, soname_version
from .rules import PC401, PC402, PC403, PC404, PC405, PC406, PC407, PC408, PC409

PLUGIN = "sbom"
IN_TREE = ("var/lib/db/sbom/*.spdx.json", "var/lib/db/sbom/*.cdx.json", "var/lib/db/sbom/*.json",
           "usr/share/sbom/**/*.spdx.json", "usr/share/sbom/**/*.cdx.json", "**/*.dist-info/sboms/*.json")
OBSERVABLE = ("deb", "apk", "rpm", "pypi")


@dataclass
class TargetState:
    artifact: Any
    components: list[Component]
    owners: dict[str, Component]
    sboms: list[Sbom] = field(default_factory=list)
    declared_by: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # component purl -> SBOM entries


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v]
    return [v for v in str(value).split(os.pathsep) if v]


# -- finding the declared inventories ---------------------------------------------------------------

def load_sboms(scan: Any, artifact: Any, options: Any) -> list[Sbom]:
    out: list[Sbom] = []
    for path in _as_list(options.get("sbom")):
        label = posixpath.basename(path)
        try:
            with open(path, "rb") as f:
                out.append(parse(f.read(), label))
        except OSError as exc:
            scan.errors.append(ToolError(stage="detect", plugin=PLUGIN, artifact=artifact.name, path=label,
                                         message=f"cannot read SBOM {path}: {exc.strerror or exc}"))
        except SbomError as exc:
            scan.errors.append(ToolError(stage="detect", plugin=PLUGIN, artifact=artifact.name, path=label,
                                         message=str(exc)))
    tree = artifact.tree
    seen = set()
    for pattern in IN_TREE:
        for node in tree.glob(pattern):
            if not node.is_file or node.path in seen:
                continue
            seen.add(node.path)
            try:
                sbom = parse(tree.read(node), f"tree:{node.path}")
            except SbomError as exc:
                scan.errors.append(ToolError(stage="detect", plugin=PLUGIN, artifact=artifact.name, path=node.path,
                                             message=str(exc)))
                continue
            sbom.scope = "partial"
            out.append(sbom)
    out += attached_sboms(scan, artifact)
    return out


def attached_sboms(scan: Any, artifact: Any) -> list[Sbom]:
    """SBOMs attached to an image: OCI 1.1 referrers (a manifest whose ``subject`` is the
    image) and cosign ``sha256-<hex>.sbom`` / ``.att`` tags, in an OCI layout directory or
    an OCI/Docker archive."""
    if artifact.kind != "image" or not artifact.source:
        return []
    index = artifact.metadata.get("index")
    if not isinstance(index, dict) or artifact.layout is None:
        return []  # legacy docker save: no index, no attachments
    return _attached(scan, artifact, artifact.layout, index)


def _attached(scan: Any, artifact: Any, layout: Any, index: dict) -> list[Sbom]:
    """Read through the core's view of the layout (``artifact.layout``): the same files the
    image was loaded from, with its limits, never re-read from the input."""
    digest = artifact.metadata.get("manifest_digest") or ""
    out = []

    def blob(d: str, limit: int = 256 << 20) -> bytes | None:
        return layout.read_blob(d, limit)

    for desc in index.get("manifests") or ():
        if not isinstance(desc, dict) or desc.get("digest") == digest:
            continue
        tag = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name", "")
        raw = blob(desc.get("digest", ""), MAX_MANIFEST)
        if raw is None:
            continue
        try:
            man = decode_manifest(raw, f"blobs/{desc.get('digest')}")
        except ValueError as exc:  # it may be the SBOM's referrer: never a silent skip
            scan.errors.append(ToolError(stage="detect", plugin=PLUGIN, artifact=artifact.name,
                                         path=f"blobs/{desc.get('digest')}",
                                         message=f"index entry {desc.get('digest')} cannot be read as a manifest, "
                                                 f"so an SBOM attached through it would be missed: {exc}"))
            continue
        kind = attachment_kind(man, digest, tag)
        if kind is None:
            continue
        for layer in sbom_layers(man):
            data = blob(layer["digest"])
            if data is None:
                scan.errors.append(ToolError(stage="detect", plugin=PLUGIN, artifact=artifact.name,
                                             path=f"blobs/{layer['digest']}",
                                             message=f"attached SBOM blob {layer['digest']} is missing or "
                                                     f"does not match its digest"))
                continue
            label = f"{kind.split('-')[0]}:{layer['digest'][:19]}"
            try:
                sbom = parse(data, label)
            except SbomError as exc:
                scan.errors.append(ToolError(stage="detect", plugin=PLUGIN, artifact=artifact.name,
                                             path=label, message=str(exc)))
                continue
            out.append(sbom)
    return out


# -- matching -----------------------------------------------------------------------------------

def declared_version(d: DeclaredComponent) -> str:
    v = d.version
    ep = d.qualifiers.get("epoch")
    if ep and ep != "0" and ":" not in v:
        v = f"{ep}:{v}"
    return v


def same_version(type_: str, declared: str, observed: str, comp: Component | None = None) -> bool:
    if not declared:
        return True  # nothing declared to disagree with
    if adv.version_compare(type_, declared, observed) == 0:
        return True
    strip = lambda v: v.split(":", 1)[1] if ":" in v else v  # noqa: E731
    if type_ in ("deb", "rpm") and ":" not in declared and strip(observed) == declared:
        return True  # the generator dropped the epoch: spelling
    if comp is not None and comp.source_version and declared == comp.source_version:
        return True  # a source-package entry (cdxgen) or the version before a binNMU
    return False


def _norm(type_: str, name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower() if type_ == "pypi" else name


class Matcher:
    def __init__(self, components: list[Component]):
        self.by_key: dict[tuple[str, str], list[Component]] = {}
        self.by_source: dict[tuple[str, str], list[Component]] = {}
        for c in components:
            self.by_key.setdefault((c.type, _norm(c.type, c.name)), []).append(c)
            if c.source and c.source != c.name:
                self.by_source.setdefault((c.type, c.source), []).append(c)

    def find(self, d: DeclaredComponent) -> tuple[list[Component], bool]:
        """(observed components this entry names, whether it named them as a source package)."""
        types = [d.type] if d.type else list(OBSERVABLE) + ["generic"]
        for t in types:
            hits = self.by_key.get((t, _norm(t, d.name)))
            if hits:
                arch = d.qualifiers.get("arch")
                narrowed = [c for c in hits if not arch or not c.arch or c.arch == arch]
                return narrowed or hits, False
        for t in types:
            hits = self.by_source.get((t, d.name))
            if hits:
                return hits, True
        return [], False


class Digests:
    """md5/sha1/... of tree files, computed once per blob (``results``: the engine's per-file
    result cache, so a warm run does not read the files again)."""

    def __init__(self, tree: Any, cache: dict, results: Any = None):
        self.tree, self.cache, self.results = tree, cache, results

    def of(self, node: Any, algo: str) -> str | None:
        if algo == "sha256":
            return node.sha256
        key = (node.sha256, algo)
        if key not in self.cache:
            known = self.results.get(node, algo) if self.results is not None else None
            if isinstance(known, str):
                self.cache[key] = known
                return known
            try:
                h = hashlib.new(algo)
            except ValueError:
                return None
            with self.tree.open(node) as f:
                while block := f.read(1 << 20):
                    h.update(block)
            self.cache[key] = h.hexdigest()
            if self.results is not None:
                self.results.put(node, self.cache[key], algo)
        return self.cache[key]


def _followed_out_of_root(tree: Any, path: str, node: Any, owners: dict[str, Component],
                          digests: Digests) -> Component | None:
    """The package vouching for ``node`` when ``path`` is an absolute symlink in the tree and
    ``node`` (where it leads inside the root) matches that package's own checksum: then an
    SBOM generator that followed the link on the host described the host's file."""
    link = tree.nodes.get(path)
    if link is None or link.type != SYMLINK or not (link.link_target or "").startswith("/"):
        return None
    owner = owners.get(node.path)
    expected = owner.hashes.get(node.path) if owner is not None else None
    if not expected:
        return None
    algo, digest = expected
    return owner if digests.of(node, algo) == digest else None


def _layer_info(artifact: Any, digest: str | None) -> dict[str, Any] | None:
    if not digest:
        return None
    for layer in artifact.layers:
        if layer.digest == digest:
            return {"digest": digest, "index": layer.index, "created_by": layer.created_by}
    return {"digest": digest}


def _loc(artifact: Any, path: str, layer: str | None = None) -> Location:
    loc = artifact.location(path)
    return loc.replace(layer=layer) if layer and not loc.layer else loc


# -- checks that need no SBOM ---------------------------------------------------------------------

def check_package_files(artifact: Any, comps: list[Component], digests: Digests) -> Iterator[Finding]:
    """PC404 (file differs from the package manifest) and PC409 (manifest files missing)."""
    tree = artifact.tree
    hidden: dict[str, list[Any]] = {}
    for n in tree.hidden:
        hidden.setdefault(n.path, []).append(n)
    for c in comps:
        missing = []
        for path, (algo, expected) in sorted(c.hashes.items()):
            if c.origin == "soname":
                continue
            node = tree.nodes.get(path)
            if node is None:
                missing.append(path)
                continue
            if node.type == "symlink":
                try:  # apk records the digest of a symlink's target text
                    if hashlib.new(algo, (node.link_target or "").encode()).hexdigest() == expected:
                        continue
                except ValueError:
                    pass
                actual = f"symlink -> {node.link_target}"
            elif not node.is_file:
                actual = node.type
            else:
                actual = digests.of(node, algo)
                if actual is None or actual == expected:
                    continue
            earlier = []
            for h in hidden.get(path, ()):
                if h.is_file:
                    earlier.append({"layer": h.layer, "sha256": h.sha256, "hidden_by": h.hidden_by,
                                    "matches_manifest": digests.of(h, algo) == expected})
            who = f"{c.name} {c.version}"
            layer_note = ""
            if node.layer and c.layer and node.layer != c.layer:
                layer_note = f"; written by layer {_short(node.layer)}, package installed by layer {_short(c.layer)}"
            yield PC404.finding(
                location=_loc(artifact, path), component=c.purl, key=f"{c.type}/{c.name}:{path}",
                message=f"{path} differs from {who}'s manifest ({algo} {expected[:12]}..., file has "
                        f"{actual[:12] if not actual.startswith('symlink') else actual}){layer_note}",
                evidence={"package": c.name, "version": c.version, "manifest": c.db_path, "algorithm": algo,
                          "expected": expected, "actual": actual, "sha256": node.sha256,
                          "written_by_layer": _layer_info(artifact, node.layer),
                          "installed_by_layer": _layer_info(artifact, c.layer), "earlier_copies": earlier})
        if missing:
            yield PC409.finding(
                location=_loc(artifact, c.db_path, c.layer), component=c.purl, key=f"{c.type}/{c.name}",
                message=f"{len(missing)} file(s) of {c.name} {c.version} are missing "
                        f"(first: {missing[0]})",
                evidence={"package": c.name, "version": c.version, "missing": missing[:200],
                          "missing_count": len(missing)})


def _short(d: str | None) -> str:
    return (d or "")[:19]


def check_unowned(artifact: Any, comps: list[Component]) -> Iterator[Finding]:
    """PC405: ELF files no package owns (only in artifacts with a package database)."""
    managed = [c for c in comps if c.origin in ("dpkg", "apk", "rpm")]
    if not managed:
        return
    owned = {p for c in comps if c.origin != "soname" for p in c.files}
    inferred = {c.files[0]: c for c in comps if c.origin == "soname"}
    tree = artifact.tree
    for node in tree.files():
        if node.path in owned or node.size < 52 or node.path.startswith("var/lib/dpkg/"):
            continue
        if tree.read(node, 4) != b"\x7fELF":
            continue
        kind = "shared object" if ".so" in node.name else "executable"
        inf = inferred.get(node.path)
        layer = _layer_info(artifact, node.layer)
        added = f" (added by layer {_short(node.layer)}: {layer.get('created_by') or '-'})" if layer else ""
        yield PC405.finding(
            location=node.location(artifact.name), component=inf.purl if inf else None, key=node.path,
            severity=Severity.HIGH if inf else PC405.severity,
            message=f"{kind} {node.path} is owned by no package{added}"
                    + (f"; its name says {inf.name} {inf.version}" if inf else ""),
            evidence={"sha256": node.sha256, "size": node.size, "mode": f"{node.mode & 0o7777:04o}",
                      "layer": layer, "inferred_component": inf.purl if inf else None})


def check_library_links(artifact: Any, comps: list[Component]) -> Iterator[Finding]:
    """PC403 (file side): a package's library symlink now resolves to a file of another version."""
    tree = artifact.tree
    for c in comps:
        if c.origin not in ("dpkg", "apk", "rpm"):
            continue
        owned = set(c.files)
        versions = {}
        for p in c.files:
            sv = soname_version(p)
            if sv:
                versions[sv[0]] = sv[1]
        if not versions:
            continue
        for p in c.files:
            node = tree.nodes.get(p)
            if node is None or node.type != "symlink":
                continue
            target = tree.resolve(p)
            if target is None or target.path in owned or not target.is_file:
                continue
            sv = soname_version(target.path)
            if not sv or sv[0] not in versions or sv[1] == versions[sv[0]]:
                continue
            yield PC403.finding(
                location=_loc(artifact, target.path), component=c.purl, key=f"link:{p}",
                message=f"{p} (from {c.name} {c.version}) resolves to {target.path}: the file says {sv[0]} "
                        f"{sv[1]}, the package installed {sv[0]} {versions[sv[0]]}",
                evidence={"link": p, "resolves_to": target.path, "file_version": sv[1],
                          "package": c.name, "package_version": c.version, "package_file_version": versions[sv[0]],
                          "sha256": target.sha256, "layer": _layer_info(artifact, target.layer)})


# -- checks against one SBOM ------------------------------------------------------------------------

def check_sbom(artifact: Any, sbom: Sbom, comps: list[Component], owners: dict[str, Component],
               digests: Digests, state: TargetState) -> Iterator[Finding]:
    tree = artifact.tree
    matcher = Matcher(comps)
    matched: set[int] = set()
    where = f"{sbom.label} ({sbom.format}{', ' + sbom.tool if sbom.tool else ''})"
    basenames: dict[str, str | None] = {}
    for path, node in tree.nodes.items():
        if node.is_file:
            b = posixpath.basename(path)
            basenames[b] = None if b in basenames else path

    def tree_path(p: str) -> str | None:
        p = p.strip().lstrip("./").lstrip("/")
        if not p:
            return None
        cp = canonical(tree, p)
        if cp in tree.nodes:
            return cp
        if "/" not in p:
            return basenames.get(p)
        return None

    declared_keys = set()
    for d in sbom.components:
        if d.kind in ("operating-system", "container", "file"):
            continue
        hits, as_source = matcher.find(d)
        entry = {"sbom": sbom.label, "entry": d.entry, "purl": d.purl or "", "version": d.version}
        if hits:
            for c in hits:
                matched.add(id(c))
                state.declared_by.setdefault(c.purl, []).append(entry)
            if as_source:
                continue
            dv = declared_version(d)
            c0 = hits[0]
            if not any(same_version(c.type, dv, c.version, c) for c in hits):
                yield PC403.finding(
                    location=_loc(artifact, c0.db_path, c0.layer), component=c0.purl,
                    key=f"{sbom.label}|{c0.type}/{c0.name}",
                    message=f"{where} declares {c0.name} {dv}; {c0.origin} records {c0.version}",
                    evidence={"sbom": sbom.label, "entry": d.entry, "declared_purl": d.purl, "declared_version": dv,
                              "observed_version": c0.version, "observed_purl": c0.purl, "database": c0.db_path})
            continue
        if d.type in OBSERVABLE and any(c.type == d.type for c in comps):
            yield PC401.finding(
                location=_loc(artifact, comps_db(comps, d.type)), key=f"{sbom.label}|{d.type}/{d.name}",
                message=f"{where} declares {d.type} package {d.name} {d.version}, which no package database "
                        f"in the artifact records",
                evidence={"sbom": sbom.label, "entry": d.entry, "declared_purl": d.purl,
                          "declared_version": d.version, "locations": d.locations[:20]})
            continue
        # other ecosystems and binaries found by generators: verify through their files
        locs = [loc for loc in d.locations if not loc.startswith("sha256:")]
        found = [p for p in (tree_path(loc) for loc in locs) if p]
        if found:
            for p in found:
                if p in owners:
                    matched.add(id(owners[p]))
            declared_keys.update(found)
        elif locs:
            yield PC401.finding(
                location=_loc(artifact, locs[0].lstrip("/")), key=f"{sbom.label}|{d.type or 'unknown'}/{d.name}",
                message=f"{where} declares {d.name} {d.version} at {locs[0]}, which is not in the artifact",
                evidence={"sbom": sbom.label, "entry": d.entry, "declared_purl": d.purl, "locations": locs[:20]})
    declared_files = {tp for f in sbom.files if (tp := tree_path(f.path))}
    declared_names = {(d.type or "generic", d.name) for d in sbom.components}

    if sbom.scope == "image":
        for c in comps:
            if id(c) in matched:
                continue
            if c.origin == "dist-info" and c.files and all(
                    id(owners.get(p)) in matched for p in c.files[:5] if owners.get(p) is not None
                    and owners[p].origin != "dist-info"):
                if any(owners.get(p) is not None and owners[p].origin != "dist-info" for p in c.files[:5]):
                    continue  # a Python package shipped inside a declared distro package
            if c.origin == "soname" and (c.files[0] in declared_keys or c.files[0] in declared_files
                                         or ("generic", c.name) in declared_names):
                continue
            layer = _layer_info(artifact, c.layer)
            added = f", added by layer {_short(c.layer)} ({layer.get('created_by') or '-'})" if layer else ""
            yield PC402.finding(
                location=_loc(artifact, c.db_path if c.origin != "soname" else c.files[0], c.layer),
                component=c.purl, key=f"{sbom.label}|{c.type}/{c.name}",
                severity=Severity.HIGH if c.origin == "soname" else PC402.severity,
                message=f"{c.name} {c.version} ({c.origin}: {c.db_path}) is not declared in {where}{added}",
                evidence={"sbom": sbom.label, "purl": c.purl, "origin": c.origin, "database": c.db_path,
                          "layer": layer, "files": list(c.files[:20])})

    # file-level hashes
    for f in sbom.files:
        tp = tree_path(f.path)
        if tp is None:
            continue
        node = tree.resolve(tp)
        if node is None or not node.is_file:
            continue
        for algo in ("sha256", "sha1", "sha512", "md5"):
            want = f.hashes.get(algo)
            if not want or not want.strip("0"):
                continue  # Syft writes all-zero digests for empty files
            got = digests.of(node, algo)
            if got is None or got == want:
                break
            owner = owners.get(tp)
            outside = _followed_out_of_root(tree, tp, node, owners, digests)
            if outside is not None:
                yield PC406.finding(
                    location=node.location(artifact.name), component=outside.purl, key=f"{sbom.label}|{tp}",
                    severity=Severity.LOW,
                    message=f"{where} gives {tp} {algo} {want[:16]}..., but {tp} is an absolute symlink "
                            f"({tp} -> {tree.nodes[tp].link_target}) and the file it reaches in the artifact, "
                            f"{node.path}, matches {outside.name}'s own checksums: the generator followed the "
                            f"symlink out of the root (a generator fault, not tampering)",
                    evidence={"sbom": sbom.label, "entry": f.ref, "declared_path": f.path, "algorithm": algo,
                              "declared": want, "actual": got, "sha256": node.sha256,
                              "symlink_target": tree.nodes[tp].link_target, "reached": node.path,
                              "package": outside.purl, "package_checksum": list(outside.hashes[node.path]),
                              "layer": _layer_info(artifact, node.layer)})
                break
            yield PC406.finding(
                location=node.location(artifact.name), component=owner.purl if owner else None,
                key=f"{sbom.label}|{tp}",
                message=f"{where} gives {tp} {algo} {want[:16]}...; the file has {got[:16]}...",
                evidence={"sbom": sbom.label, "entry": f.ref, "declared_path": f.path, "algorithm": algo,
                          "declared": want, "actual": got, "sha256": node.sha256,
                          "layer": _layer_info(artifact, node.layer)})
            break

    # the image the SBOM names
    if sbom.subject_digests and artifact.kind == "image":
        known = {artifact.metadata.get("manifest_digest"), artifact.metadata.get("config_digest"),
                 artifact.metadata.get("digest")}
        known.discard(None)
        if known and not (set(sbom.subject_digests) & known):
            yield PC407.finding(
                location=Location(artifact=artifact.name, path=""), key=f"{sbom.label}|subject",
                message=f"{where} describes {sorted(set(sbom.subject_digests))[0]}; the scanned image is "
                        f"{artifact.metadata.get('manifest_digest')} (config {artifact.metadata.get('config_digest')})",
                evidence={"sbom": sbom.label, "sbom_subject": sbom.subject_name,
                          "sbom_digests": sorted(set(sbom.subject_digests)),
                          "manifest_digest": artifact.metadata.get("manifest_digest"),
                          "config_digest": artifact.metadata.get("config_digest")})


def comps_db(comps: list[Component], type_: str) -> str:
    return next((c.db_path for c in comps if c.type == type_), "")


# -- advisories -------------------------------------------------------------------------------------

@dataclass
class AdvisoryResult:
    artifact: str
    component: Component
    record: dict[str, Any]
    match: adv.Match | None  # None: the package matched by name but its version is outside the ranges
    reached_by: list[list[str]] = field(default_factory=list)
    declared_by: list[dict[str, str]] = field(default_factory=list)


def name_matches(record: dict[str, Any], comp: Component) -> bool:
    for entry in record.get("affected") or ():
        if isinstance(entry, dict) and isinstance(entry.get("package"), dict):
            eco = str(entry["package"].get("ecosystem") or "")
            if adv._name_matches(entry["package"], comp, adv.purl_type(eco) if eco else "generic"):
                return True
    return False


def fixed_versions(record: dict[str, Any], comp: Component) -> list[str]:
    out = []
    for entry in record.get("affected") or ():
        if not isinstance(entry, dict):
            continue
        for rng in entry.get("ranges") or ():
            for ev in (rng or {}).get("events") or ():
                if isinstance(ev, dict) and ev.get("fixed"):
                    out.append(str(ev["fixed"]))
    return sorted(set(out))


def check_advisories(state: TargetState, records: list[dict[str, Any]],
                     reaching: Callable[[list[str]], list[list[str]]],
                     results: list[AdvisoryResult]) -> Iterator[Finding]:
    """PC408 for each affected component, with the programs that reach its libraries
    (``reaching``: from the ELF plugin's graph, or the plain search without it)."""
    artifact = state.artifact
    for c in state.components:
        for rec in records:
            if not name_matches(rec, c):
                continue
            m = adv.match(rec, c)
            res = AdvisoryResult(artifact=artifact.name, component=c, record=rec, match=m,
                                 declared_by=state.declared_by.get(c.purl, []))
            results.append(res)
            if m is None:
                continue
            libs = [p for p in c.files if ".so" in posixpath.basename(p) and p in artifact.tree.nodes
                    and artifact.tree.nodes[p].is_file]
            chains = reaching(libs) if libs else []
            res.reached_by = chains
            from .elfdeps import chain_names
            sev = Severity.parse(m.severity) if m.severity in ("low", "medium", "high", "critical") else PC408.severity
            ids = ", ".join([m.advisory_id] + [a for a in m.aliases if a != m.advisory_id][:3])
            rng = (f"fixed in {m.fixed}" if m.fixed else f"last affected {m.last_affected}" if m.last_affected
                   else "listed version" if m.exact else "no fix")
            reach = f"; reached by {chain_names(chains[0])}" + (f" and {len(chains) - 1} more" if len(chains) > 1 else "") \
                if chains else ""
            declared = f"; declared in {res.declared_by[0]['sbom']} as {res.declared_by[0]['entry']}" \
                if res.declared_by else "; not declared in any SBOM"
            yield PC408.finding(
                location=_loc(artifact, libs[0] if libs else c.db_path, c.layer), component=c.purl, severity=sev,
                key=f"{m.advisory_id}|{c.type}/{c.name}",
                message=f"{c.name} {c.version} ({c.origin}) is affected by {ids} ({rng}){reach}{declared}",
                evidence={"advisory": m.advisory_id, "aliases": list(m.aliases), "summary": m.summary,
                          "package": c.name, "version": c.version, "purl": c.purl, "source": c.source,
                          "match": m.to_dict(), "files": libs[:20], "database": c.db_path,
                          "layer": _layer_info(artifact, c.layer),
                          "reached_by": [" > ".join(ch) for ch in chains[:20]],
                          "declared_by": res.declared_by})
