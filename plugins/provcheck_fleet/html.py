"""``query --format html``: images × affected components, each image linking to its detail
(the component records, the files with their layers, the binaries that reach them)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def _when(epoch: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(epoch), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(epoch or "")


def _image_key(a: dict[str, Any]) -> tuple:
    return a["image"], a["digest"] or "", a["platform"] or ""


def query_page(result: dict[str, Any], db: str) -> dict[str, Any]:
    """Keyword arguments for ``write_html_page``: the query view, the subject and the status."""
    images: dict[tuple, dict[str, Any]] = {}
    names: list[str] = []
    for a in result["affected"]:
        img = images.setdefault(_image_key(a), {"first": a, "components": [], "id": f"image-{len(images) + 1}"})
        img["components"].append(a)
        if a["component"]["name"] not in names:
            names.append(a["component"]["name"])
    rows, cards = [], []
    for img in images.values():
        a = img["first"]
        ref = f"{a['image']}:{','.join(a['tags'])}" if a["tags"] else a["image"]
        row: dict[str, Any] = {"image": {"text": ref, "href": f"#{img['id']}"}, "digest": a["digest"] or "",
                               "platform": a["platform"] or "",
                               "reached": sum(1 for c in img["components"] for r in c["reached_by"] if r["executable"])}
        for c in img["components"]:
            row[f"c:{c['component']['name']}"] = c["component"]["version"]
        rows.append(row)
        comps, files, reach = [], [], []
        for c in img["components"]:
            comp = c["component"]
            adv = c.get("advisory") or {}
            comps.append({"package": comp["name"], "version": comp["version"], "purl": comp["purl"],
                          "record": comp["db_path"] or "", "record layer": comp["record_layer"] or "",
                          **({"advisory": adv.get("advisory_id"), "fixed": adv.get("fixed") or ""} if adv else {})})
            files += [{"package": comp["name"], "path": f["path"], "sha256": f["sha256"] or "", "layer": f["layer"],
                       "ELF": "yes" if f["elf"] else ""} for f in c["files"]]
            if c["files_total"] > len(c["files"]):
                files.append({"package": comp["name"], "path": f"… {c['files_total'] - len(c['files'])} more files "
                                                               "(raise --max-files)"})
            reach += [{"binary": r["binary"], "chain": r["chain"]} for r in c["reached_by"] if r["executable"]]
        tables = [{"title": "affected components", "rows": comps}]
        if reach:
            tables.append({"title": "reached by", "rows": reach})
        tables.append({"title": "files", "rows": files})
        cards.append({"id": img["id"], "title": ref,
                      "fields": {k: v for k, v in {"digest": a["digest"], "index digest": a.get("index_digest"),
                                                   "platform": a["platform"], "scanned as": a["mode"],
                                                   "scanned at": _when(a["scanned_at"])}.items() if v},
                      "tables": tables})
    q = result["query"]
    what = (f"advisories {', '.join(map(str, q['advisories']))}" if q["advisories"] is not None
            else f"component {q['component']}" + (f" {q['versions']}" if q["versions"] else ""))
    failed = result["images_not_scanned"]
    sections: list[dict[str, Any]] = [
        {"type": "counts", "items": {"images checked": result["images_checked"],
                                     "affected images": result["affected_images"], "not scanned": len(failed)}},
        {"type": "table", "id": "query-matrix", "title": f"Images affected by {what}", "noun": "image", "rows": rows,
         "empty": "no inventoried image is affected",
         "columns": [{"key": "image", "label": "image", "kind": "link"}, {"key": "platform", "label": "platform",
                                                                          "filter": "select"},
                     *[{"key": f"c:{n}", "label": n, "filter": "select"} for n in names],
                     {"key": "reached", "label": "binaries reaching it"},
                     {"key": "digest", "label": "digest", "kind": "hash"}]},
        {"type": "details", "title": "Image details", "items": cards},
    ]
    if failed:
        sections.insert(1, {"type": "table", "id": "query-not-scanned", "title": "Not scanned (unknown)",
                            "noun": "image", "rows": failed,
                            "columns": [{"key": "image", "label": "image"}, {"key": "digest", "label": "digest",
                                                                               "kind": "hash"},
                                        {"key": "status", "label": "status"}, {"key": "error", "label": "error"}]})
    code = 1 if result["affected"] else 3 if failed else 0
    words = "affected" if code == 1 else "incomplete" if code == 3 else "clean"
    status = {"code": code, "words": words,
              "detail": f"{result['affected_images']} of {result['images_checked']} images affected by {what}"
                        + (f"; {len(failed)} not scanned" if failed else "")}
    return {"command": "query", "title": f"provcheck query: {what}", "status": status,
            "views": [{"id": "query", "title": "Fleet query", "sections": sections}],
            "subject": [{"name": db, "role": "inventory", "kind": "sqlite", "images checked": result["images_checked"]}]}
