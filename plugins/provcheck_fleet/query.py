"""``provcheck query``: which images in the inventory contain a component or are hit by an advisory.

The answer per affected image and component: repository, tags, digest and platform; the
package record (purl, version, source package, database file and the layer that wrote
it); the files the component owns, each with the layer its visible copy comes from and
its sha256; and the binaries that reach those files through the DT_NEEDED graph, with
the chain. Candidate components are found by index (name or source package), versions
are compared once per distinct component, and file/linkage lookups are shared between
images with the same layer stack or linkage graph, so the query stays well under a
second on thousands of images.
"""

from __future__ import annotations

import json
import posixpath
import re
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable

from .inventory import Inventory, iter_chunks

MAX_FILES = 200
MAX_REACHERS = 200


# -- version ranges ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bound:
    op: str
    version: str


def parse_range(text: str, compare: Any = None) -> list[Bound]:
    """``>=5.6.0,<5.6.2`` | ``5.6.0..5.6.1`` | ``5.6.0 - 5.6.1`` | ``5.6.0–5.6.1`` | ``5.6.0-5.6.1`` | ``=5.6.1``.

    ``A-B`` is read as a range only when neither side has a ``-`` and B sorts after A
    (otherwise it is one Debian-style version with a revision)."""
    text = text.strip()
    if not text:
        raise ValueError("empty version range")
    m = re.fullmatch(r"(\S+?)\s*(?:\.\.|–|—|\s-\s)\s*(\S+)", text)
    if m is None:
        m2 = re.fullmatch(r"([0-9][^\s,<>=!-]*)-([0-9][^\s,<>=!-]*)", text)
        if m2 and compare is not None and compare(m2.group(2), m2.group(1)) > 0:
            m = m2
    if m is not None:
        return [Bound(">=", m.group(1)), Bound("<=", m.group(2))]
    out = []
    for part in re.split(r"\s*,\s*", text):
        mm = re.fullmatch(r"(>=|<=|==|!=|>|<|=)?\s*(\S+)", part)
        if not mm:
            raise ValueError(f"not a version bound: {part!r}")
        out.append(Bound({"=": "==", None: "=="}.get(mm.group(1), mm.group(1)), mm.group(2)))
    return out


def in_range(ctype: str, version: str, bounds: list[Bound]) -> bool:
    from provcheck.formats.versions import version_compare
    for b in bounds:
        v = version
        if ctype in ("deb", "rpm") and "-" not in b.version and "-" in v:
            v = v.rsplit("-", 1)[0]  # compare upstream versions when the bound has no revision
        c = version_compare(ctype, v, b.version)
        ok = {">=": c >= 0, "<=": c <= 0, ">": c > 0, "<": c < 0, "==": c == 0, "!=": c != 0}[b.op]
        if not ok:
            return False
    return True


# -- the query -----------------------------------------------------------------------------------

def _component(row: sqlite3.Row) -> Any:
    from provcheck.formats.inventory import Component
    return Component(name=row["name"], version=row["version"], purl=row["purl"], type=row["type"],
                     origin=row["origin"], source=row["source"], source_version=row["source_version"], arch=row["arch"])


class Query:
    def __init__(self, inv: Inventory):
        self.inv = inv
        self.db = inv.db
        self.db.row_factory = sqlite3.Row
        self._stack_files: dict[tuple[tuple[int, ...], int], dict[str, Any] | None] = {}
        self._graphs: dict[int, dict[int, list[tuple[int, str]]]] = {}
        self._paths: dict[int, str] = {}
        self._elf_paths: dict[int, set[int]] = {}

    # candidates -> matches
    def by_component(self, name: str, versions: str | None) -> list[tuple[int, dict[str, Any]]]:
        from provcheck.formats.versions import version_compare
        rows = self.db.execute("SELECT * FROM components WHERE name=? OR source=?", (name, name)).fetchall()
        out = []
        for r in rows:
            if versions:
                bounds = parse_range(versions, lambda a, b, t=r["type"]: version_compare(t, a, b))
                if not in_range(r["type"], r["version"], bounds):
                    continue
            out.append((r["id"], {"query": {"component": name, "versions": versions}}))
        return out

    def by_advisories(self, records: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        from provcheck.formats.versions import match
        names: set[str] = set()
        for rec in records:
            for a in rec.get("affected") or ():
                pkg = (a or {}).get("package") or {}
                if pkg.get("name"):
                    names.add(str(pkg["name"]))
                if pkg.get("purl"):
                    m = re.match(r"pkg:[^/]+/(?:[^/]+/)*([^@?#/]+)", str(pkg["purl"]))
                    if m:
                        names.add(m.group(1))
        out = []
        for chunk in iter_chunks(sorted(names)):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT * FROM components WHERE name IN ({marks}) OR source IN ({marks})",
                                   chunk + chunk).fetchall()
            for r in rows:
                comp = _component(r)
                for rec in records:
                    m = match(rec, comp)
                    if m is not None:
                        out.append((r["id"], {"advisory": m.to_dict()}))
                        break
        return out

    # matches -> affected images
    def affected(self, matches: list[tuple[int, dict[str, Any]]], max_files: int = MAX_FILES) -> list[dict[str, Any]]:
        why = dict(matches)
        if not why:
            return []
        ids = sorted(why)
        comps = {}
        rows = []
        for chunk in iter_chunks(ids):
            marks = ",".join("?" * len(chunk))
            comps.update({r["id"]: r for r in self.db.execute(f"SELECT * FROM components WHERE id IN ({marks})", chunk)})
            rows += self.db.execute(
                f"SELECT ic.image_id, ic.component_id, ic.db_path, ic.answered_by, l.digest AS record_layer "
                f"FROM image_components ic LEFT JOIN layers l ON l.id = ic.layer_id "
                f"WHERE ic.component_id IN ({marks})", chunk).fetchall()
        image_ids = sorted({r["image_id"] for r in rows})
        images, tags, stacks = {}, {}, {}
        for chunk in iter_chunks(image_ids):
            marks = ",".join("?" * len(chunk))
            images.update({r["id"]: r for r in self.db.execute(
                f"SELECT * FROM images WHERE id IN ({marks}) AND status='ok'", chunk)})
            for r in self.db.execute(f"SELECT image_id, tag FROM tags WHERE image_id IN ({marks})", chunk):
                tags.setdefault(r["image_id"], []).append(r["tag"])
            for r in self.db.execute(f"SELECT il.image_id, il.idx, il.layer_id, l.digest FROM image_layers il "
                                     f"JOIN layers l ON l.id = il.layer_id WHERE il.image_id IN ({marks}) "
                                     f"ORDER BY il.image_id, il.idx", chunk):
                stacks.setdefault(r["image_id"], []).append((r["layer_id"], r["digest"]))
        comp_files: dict[int, list[tuple[int, str]]] = {}
        out = []
        for r in sorted(rows, key=lambda r: (r["image_id"], r["component_id"])):
            img = images.get(r["image_id"])
            if img is None:
                continue
            cid = r["component_id"]
            if cid not in comp_files:
                comp_files[cid] = [(x["path_id"], x["path"]) for x in self.db.execute(
                    "SELECT cf.path_id, p.path FROM component_files cf JOIN paths p ON p.id = cf.path_id "
                    "WHERE cf.component_id=? ORDER BY p.path", (cid,))]
            stack = tuple(stacks.get(img["id"], ()))
            files = self._files(stack, comp_files[cid], max_files)
            reached = self._reached_by(img["graph_id"], [f["_pid"] for f in files if f.get("elf")])
            for f in files:
                f.pop("_pid", None)
            c = comps[cid]
            out.append({
                "image": f"{img['registry']}/{img['repository']}", "registry": img["registry"],
                "repository": img["repository"], "tags": sorted(tags.get(img["id"], [])), "digest": img["digest"],
                "index_digest": img["index_digest"], "platform": img["platform"], "mode": img["mode"],
                "scanned_at": img["scanned_at"],
                "component": {"name": c["name"], "version": c["version"], "purl": c["purl"], "type": c["type"],
                              "source": c["source"], "source_version": c["source_version"], "arch": c["arch"],
                              "origin": c["origin"], "db_path": r["db_path"], "record_layer": r["record_layer"],
                              "answered_by": r["answered_by"]},
                "files": files, "files_total": len(comp_files[cid]), "reached_by": reached, **why[cid]})
        out.sort(key=lambda a: (a["image"], a["platform"] or "", a["digest"] or "", a["component"]["purl"]))
        return out

    def _files(self, stack: tuple[tuple[int, str], ...], paths: list[tuple[int, str]], limit: int) -> list[dict]:
        if not stack:
            return []
        layer_ids = tuple(l for l, _ in stack)
        order = {l: i for i, l in enumerate(layer_ids)}
        digest_of = dict(stack)
        out = []
        for pid, path in paths:
            key = (layer_ids, pid)
            if key not in self._stack_files:
                best = None
                marks = ",".join("?" * len(layer_ids))
                for row in self.db.execute(f"SELECT lf.layer_id, lf.type, lf.sha256, lf.size, e.sha256 AS elf "
                                           f"FROM layer_files lf LEFT JOIN elf e ON e.sha256 = lf.sha256 "
                                           f"WHERE lf.path_id=? AND lf.layer_id IN ({marks})", (pid, *layer_ids)):
                    if best is None or order[row["layer_id"]] > order[best["layer_id"]]:
                        best = row
                self._stack_files[key] = None if best is None else {
                    "path": path, "type": best["type"], "sha256": best["sha256"], "size": best["size"],
                    "layer": digest_of[best["layer_id"]], "layer_index": order[best["layer_id"]],
                    "elf": best["elf"] is not None, "_pid": pid}
            got = self._stack_files[key]
            if got is not None:
                out.append(dict(got))
        out.sort(key=lambda f: (not f["elf"], f["path"]))
        return out[:limit]

    def _path(self, pid: int) -> str:
        if pid not in self._paths:
            row = self.db.execute("SELECT path FROM paths WHERE id=?", (pid,)).fetchone()
            self._paths[pid] = row[0] if row else f"#{pid}"
        return self._paths[pid]

    def _reached_by(self, graph_id: int | None, targets: list[int]) -> list[dict[str, Any]]:
        if graph_id is None or not targets:
            return []
        rev = self._graphs.get(graph_id)
        if rev is None:
            rev = {}
            for src, dst, soname, path in self.db.execute(
                    "SELECT e.src_id, e.dst_id, e.soname, p.path FROM edges e JOIN paths p ON p.id = e.src_id "
                    "WHERE e.graph_id=? ORDER BY p.path, e.soname", (graph_id,)):  # path order: stable chains
                rev.setdefault(dst, []).append((src, soname))
                self._paths[src] = path
            self._graphs[graph_id] = rev
        parent: dict[int, tuple[int, str] | None] = {t: None for t in targets}
        queue = deque(targets)
        while queue and len(parent) < 100_000:
            cur = queue.popleft()
            for src, soname in rev.get(cur, ()):
                if src not in parent:
                    parent[src] = (cur, soname)
                    queue.append(src)
        out = []
        for node, link in parent.items():
            if link is None:
                continue
            chain, via, n = [self._path(node)], [], node
            while parent.get(n) is not None and len(chain) < 64:
                nxt, soname = parent[n]
                via.append(soname)
                chain.append(self._path(nxt))
                n = nxt
            path = chain[0]
            out.append({"binary": path, "executable": ".so" not in posixpath.basename(path), "chain": chain,
                        "needed": via})
        out.sort(key=lambda r: (not r["executable"], len(r["chain"]), r["binary"]))
        return out[:MAX_REACHERS]


def run_query(inv: Inventory, *, component: str | None = None, versions: str | None = None,
              advisories: list[dict[str, Any]] | None = None, max_files: int = MAX_FILES) -> dict[str, Any]:
    t0 = time.perf_counter()
    q = Query(inv)
    if advisories is not None:
        matches = q.by_advisories(advisories)
    else:
        matches = q.by_component(component or "", versions)
    affected = q.affected(matches, max_files)
    failed = [dict(image=f"{r['registry']}/{r['repository']}", digest=r["digest"], status=r["status"],
                   error=r["error"]) for r in inv.db.execute(
        "SELECT registry, repository, digest, status, error FROM images WHERE status!='ok' ORDER BY 1,2,3")]
    total = inv.db.execute("SELECT count(*) FROM images WHERE status='ok'").fetchone()[0]
    return {"schema": "provcheck/fleet-query/v1",
            "query": {"component": component, "versions": versions,
                      "advisories": [a.get("id") for a in advisories] if advisories is not None else None},
            "affected": affected,
            "affected_images": len({(a["registry"], a["repository"], a["digest"]) for a in affected}),
            "images_checked": total, "images_not_scanned": failed,
            "seconds": round(time.perf_counter() - t0, 4)}


# -- output --------------------------------------------------------------------------------------

CSV_FIELDS = ["image", "tags", "digest", "platform", "mode", "component", "version", "purl", "source",
              "source_version", "db_path", "record_layer", "file", "file_sha256", "file_layer", "reached_by",
              "advisory"]


def write_csv(result: dict[str, Any], stream: Any) -> None:
    import csv
    w = csv.DictWriter(stream, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for a in result["affected"]:
        c = a["component"]
        base = {"image": a["image"], "tags": " ".join(a["tags"]), "digest": a["digest"], "platform": a["platform"],
                "mode": a["mode"], "component": c["name"], "version": c["version"], "purl": c["purl"],
                "source": c["source"], "source_version": c["source_version"], "db_path": c["db_path"],
                "record_layer": c["record_layer"],
                "reached_by": " ".join(r["binary"] for r in a["reached_by"] if r["executable"]),
                "advisory": (a.get("advisory") or {}).get("advisory_id", "")}
        files = a["files"] or [None]
        for f in files:
            w.writerow(dict(base, file=f["path"] if f else "", file_sha256=f["sha256"] if f else "",
                            file_layer=f["layer"] if f else ""))


def write_text(result: dict[str, Any], stream: Any) -> None:
    aff = result["affected"]
    q = result["query"]
    what = (f"advisories {', '.join(q['advisories'])}" if q["advisories"] is not None
            else f"component {q['component']}" + (f" {q['versions']}" if q["versions"] else ""))
    stream.write(f"{result['affected_images']} of {result['images_checked']} images affected by {what} "
                 f"({result['seconds'] * 1000:.0f} ms)\n")
    for a in aff:
        c = a["component"]
        tags = ",".join(a["tags"]) or "-"
        stream.write(f"\n{a['image']}:{tags}@{a['digest']} [{a['platform']}, {a['mode']}]\n")
        layer = f" (layer {c['record_layer'][:19]})" if c["record_layer"] else ""
        stream.write(f"  {c['name']} {c['version']}  {c['purl']}\n  record: {c['db_path'] or '-'}{layer}\n")
        for f in a["files"][:8]:
            stream.write(f"  file: {f['path']}  sha256:{(f['sha256'] or '-')[:16]}  layer {f['layer'][:19]}\n")
        if len(a["files"]) > 8:
            stream.write(f"  ... {a['files_total'] - 8} more files\n")
        for r in [r for r in a["reached_by"] if r["executable"]][:8]:
            stream.write(f"  reached by: {' -> '.join(r['chain'])}\n")
        if a.get("advisory"):
            adv = a["advisory"]
            rng = ", ".join(f"{k} {adv[k]}" for k in ("introduced", "fixed", "last_affected") if adv.get(k))
            stream.write(f"  advisory: {adv.get('advisory_id')} {rng}\n")
    for f in result["images_not_scanned"]:
        stream.write(f"\nnot scanned (unknown): {f['image']}@{f['digest'] or '?'}: {f['error']}\n")


def to_findings(result: dict[str, Any]) -> list[Any]:
    from provcheck import Location, Severity

    from .rules import PC601
    out = []
    for a in result["affected"]:
        c = a["component"]
        artifact = f"{a['image']}@{a['digest']}"
        main = next((f for f in a["files"] if f["elf"]), a["files"][0] if a["files"] else None)
        loc = Location(artifact=artifact, path=main["path"] if main else (c["db_path"] or ""),
                       layer=main["layer"] if main else c["record_layer"], sha256=main["sha256"] if main else None)
        related = tuple(Location(artifact=artifact, path=r["binary"]) for r in a["reached_by"][:20])
        adv = a.get("advisory") or {}
        sev = Severity.parse(adv["severity"]) if adv.get("severity") in ("low", "medium", "high", "critical") \
            else PC601.severity
        label = adv.get("advisory_id") or f"query {result['query']['component']}"
        reach = [r for r in a["reached_by"] if r["executable"]]
        msg = (f"{a['image']} ({', '.join(a['tags']) or 'untagged'}) contains {c['name']} {c['version']} "
               f"({label})" + (f"; reached by {', '.join(r['binary'] for r in reach[:3])}" if reach else ""))
        out.append(PC601.finding(location=loc, message=msg, severity=sev, related=related, key=c["purl"],
                                 component=c["purl"], detector="fleet",
                                 evidence={k: a[k] for k in ("tags", "digest", "platform", "mode", "component",
                                                             "files", "reached_by")} | {"advisory": adv}))
    return out


def sarif_report(result: dict[str, Any], rules: dict[str, Any]) -> Any:
    """An object the core SARIF writer accepts (findings, rules, errors, artifacts)."""
    from types import SimpleNamespace

    from provcheck import ToolError
    findings = sorted(to_findings(result), key=lambda f: f.sort_key())
    errors = [ToolError(stage="inventory", artifact=f["image"], message=f"not scanned: {f['error']}")
              for f in result["images_not_scanned"]]
    arts = {f.location.artifact for f in findings}
    artifacts = [SimpleNamespace(name=a, role="target", kind="image", metadata={"digest": a.rsplit("@", 1)[-1]})
                 for a in sorted(arts)]
    return SimpleNamespace(findings=findings, rules=rules, errors=errors, artifacts=artifacts)


def load_advisories(paths: Iterable[str]) -> list[dict[str, Any]]:
    from provcheck.formats.versions import load
    errors: list[str] = []
    recs = load(list(paths), errors)
    if errors:
        raise ValueError("; ".join(errors))
    if not recs:
        raise ValueError("no OSV records found")
    return recs


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=True, default=str)
