"""One self-contained HTML page: a header, the findings table and the views commands add.

Everything is inline (CSS, one script, SVG); the page loads nothing. Artifact strings reach
the page two ways, both inert: the header and the SVG graph are escaped here, and the data
the script renders sits in a ``<script type="application/json">`` block with ``<``, ``>``
and ``&`` written as ``\\u003c``..., so no string can close it. The script builds the DOM
with ``textContent`` only. A Content-Security-Policy ``<meta>`` allows exactly the one
style sheet and the one script (by their SHA-256), no inline event handler and no network.

The page data (documented in docs/report-format.md, "HTML report"):
``{"title", "command", "header": {...}, "findings": [...], "rules": {...}, "errors": [...],
"views": [{"id", "title", "sections": [...]}]}``; a section is ``{"type": "table" | "release"
| "graph" | "note" | "counts" | "details", ...}``. Commands build views and call ``write_page``.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Mapping, TextIO

from .. import __version__, hookimpl
from . import OutputFormat

# The SVG graph module (``.graph``) is imported when a page is drawn: this module is a core
# plugin, imported by every command at start-up.

if TYPE_CHECKING:
    from ..engine import Report

FULL_DIFFS = "full-diffs"  # report.stash[FULL_DIFFS][artifact][path]: whole unified diffs for the release view
EXIT_WORDS = {0: "clean", 1: "findings", 2: "interrupted", 3: "incomplete", 4: "usage error", 5: "input unreadable"}


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    from importlib import resources  # this, base64 and datetime when a page is written, not at every start
    return resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")


def _sha(text: str) -> str:
    import base64
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def _clean(text: Any) -> str:
    """A str that encodes as UTF-8 (names from artifacts may carry lone surrogates)."""
    return str(text).encode("utf-8", "replace").decode("utf-8")


def _e(text: Any) -> str:
    """``html.escape(text, quote=True)`` (the html package costs its entity table at every start)."""
    return (_clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("'", "&#x27;"))


def _json_for_script(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _now() -> str:
    import datetime as dt
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch and epoch.isdigit() else \
        dt.datetime.now(dt.timezone.utc)
    return t.replace(microsecond=0).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- page data from a report -------------------------------------------------------------------------

def finding_data(f: Any) -> dict[str, Any]:
    loc = f.location
    d: dict[str, Any] = {"severity": str(f.severity), "rule": f.rule_id, "plugin": f.detector or "",
                         "artifact": loc.artifact, "path": loc.path, "layer": loc.layer or "",
                         "package": f.component or "", "message": f.message, "confidence": str(f.confidence)}
    if loc.chain:
        d["chain"] = list(loc.chain)
    if loc.lines:
        d["lines"] = list(loc.lines)
    if loc.sha256:
        d["sha256"] = loc.sha256
    if f.evidence:
        d["evidence"] = json.loads(json.dumps(dict(f.evidence), default=str))
    if f.related:
        d["related"] = [{"artifact": r.artifact, "path": r.path} for r in f.related]
    if f.suppression:
        d["suppressed"] = f.suppression.reason
    return d


def artifact_data(a: Any) -> dict[str, Any]:
    s = a.summary()
    md = a.metadata
    out = {"name": a.name, "role": a.role, "kind": a.kind, "files": s.get("files"),
           "digest": md.get("digest") or md.get("manifest_digest") or s.get("digest")
           or (f"sha256:{s['sha256']}" if s.get("sha256") else ""), "platform": md.get("platform") or "",
           "commit": md.get("commit") or "", "ref": md.get("ref") or "",
           "layers": [{"digest": layer.get("digest", ""), "size": layer.get("size")} for layer in s.get("layers") or ()]}
    return {k: v for k, v in out.items() if v not in ("", None, [])}


def status_words(code: int, report: Any = None, detail: str = "") -> dict[str, Any]:
    words = EXIT_WORDS.get(int(code), f"exit {int(code)}")
    if not detail and report is not None:
        active = report.active
        if report.errors:
            detail = f"{len(report.errors)} error{'s' if len(report.errors) != 1 else ''}: part of the input was " \
                     "not checked"
        elif int(code) == 1:
            threshold = report.config.fail_on
            n = sum(1 for f in active if f.severity >= threshold)
            detail = f"{n} finding{'s' if n != 1 else ''} at or above {threshold}"
        elif active:
            detail = f"{len(active)} finding{'s' if len(active) != 1 else ''} below the failure threshold"
        else:
            detail = "no findings"
    return {"code": int(code), "words": words, "detail": detail}


def page_data(report: Any = None, *, command: str = "scan", title: str = "", views: Iterable[dict] = (),
              status: dict[str, Any] | None = None, subject: Iterable[dict[str, Any]] = (),
              default_view: str = "", errors: Iterable[str] = ()) -> dict[str, Any]:
    """The page for ``report`` (or for a command without one: ``subject``, ``status``, ``errors``)."""
    findings, rules, errors, artifacts = [], {}, [str(e) for e in errors], list(subject)
    if report is not None:
        findings = [finding_data(f) for f in report.findings]
        order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
        findings.sort(key=lambda f: (order.get(f["severity"], 9), f["rule"], f["artifact"], f["path"]))
        for rid in sorted({f["rule"] for f in findings}):
            rule = report.rules.get(rid)
            if rule is not None:
                rules[rid] = {"name": rule.name, "summary": rule.summary, "severity": str(rule.severity),
                              "doc": rule.doc}
        errors += [str(e) for e in report.errors]
        known = {a.name for a in report.artifacts}
        artifacts = [artifact_data(a) for a in report.artifacts] + [a for a in artifacts if a.get("name") not in known]
        status = status or status_words(report.exit_code(), report)
    views = list(views)
    full: dict[str, dict[str, str]] = {}
    if report is not None and any(v.get("id") == "release" for v in views):
        full = report.stash.get(FULL_DIFFS) or {}  # type: ignore[assignment]
    for f in findings:  # a diff the release view shows whole is not repeated in the finding
        ev = f.get("evidence")
        if ev and isinstance(ev.get("diff"), str) and _full_diff_key(full.get(f["artifact"]) or {}, f["path"]):
            del ev["diff"]
            f["release_diff"] = _full_diff_key(full[f["artifact"]], f["path"])
    names = ", ".join(a.get("name", "") for a in artifacts if a.get("role", "target") == "target") or command
    return {"title": title or f"provcheck {command}: {names}", "command": command,
            "header": {"artifacts": artifacts, "tool": f"provcheck {__version__}", "time": _now(),
                       "status": status or {"code": 0, "words": "clean", "detail": ""}},
            "findings": _pack(findings), "rules": rules, "errors": errors, "views": views,
            "show_findings": report is not None, "default_view": default_view}


PACKED = ("severity", "rule", "plugin", "artifact", "layer", "package", "confidence")  # few distinct values


def _pack(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Findings as rows of one column list; the columns with few distinct values as indexes
    into ``strings`` (a 5,000-finding page is a third smaller)."""
    columns = sorted({k for f in findings for k in f})
    strings: dict[str, int] = {}
    rows = []
    for f in findings:
        rows.append([(strings.setdefault(str(f[k]), len(strings)) if k in PACKED else f[k]) if k in f else None
                     for k in columns])
    return {"columns": columns, "packed": [c for c in columns if c in PACKED], "strings": list(strings),
            "rows": rows}


def _full_diff_key(diffs: dict[str, str], path: str) -> str | None:
    """The key of ``path`` (a location inside the release, with its top directory) in ``diffs``."""
    if path in diffs:
        return path
    rest = path.split("/", 1)[1] if "/" in path else None
    return rest if rest in diffs else None


# -- rendering -------------------------------------------------------------------------------------

def _short(h: str, n: int = 19) -> str:
    return h if len(h) <= n + 2 else h[:n] + "…"


def _hash_html(h: str) -> str:
    return (f'<span class="hash" title="{_e(h)}"><code>{_e(_short(h))}</code>'
            f'<button type="button" class="copy" data-copy="{_e(h)}" title="copy">copy</button></span>')


def _header_html(page: dict[str, Any]) -> str:
    h = page["header"]
    st = h["status"]
    out = [f'<header class="top"><div class="brand">provcheck <span class="cmd">{_e(page["command"])}</span></div>',
           f'<h1>{_e(page["title"])}</h1>',
           f'<div class="status st-{_e(st["words"]).replace(" ", "-")}" id="pc-status">'
           f'<strong>{_e(st["words"])}</strong> <span>{_e(st.get("detail", ""))}</span>'
           f' <span class="exit">exit {int(st["code"])}</span></div>',
           '<dl class="meta">', f'<dt>tool</dt><dd>{_e(h["tool"])}</dd>', f'<dt>time</dt><dd>{_e(h["time"])}</dd>',
           '</dl>', '<div class="artifacts">']
    for a in h["artifacts"]:
        bits = [f'<span class="role">{_e(a.get("role", ""))}</span>', f'<span class="kind">{_e(a.get("kind", ""))}</span>']
        if a.get("files") is not None:
            bits.append(f'<span>{int(a["files"])} files</span>')
        if a.get("platform"):
            bits.append(f'<span>{_e(a["platform"])}</span>')
        out.append(f'<div class="artifact"><div class="aname">{_e(a.get("name", ""))}</div><div class="abits">'
                   + " ".join(bits) + "</div><dl>")
        if a.get("digest"):
            out.append(f'<dt>digest</dt><dd>{_hash_html(str(a["digest"]))}</dd>')
        if a.get("commit"):
            ref = f' <span class="ref">{_e(a["ref"])}</span>' if a.get("ref") else ""
            out.append(f'<dt>source commit</dt><dd>{_hash_html(str(a["commit"]))}{ref}</dd>')
        for key, value in a.items():
            if key in ("name", "role", "kind", "files", "platform", "digest", "commit", "ref", "layers"):
                continue
            out.append(f'<dt>{_e(key)}</dt><dd>{_hash_html(str(value)) if len(str(value)) > 40 else _e(value)}</dd>')
        layers = a.get("layers") or []
        if layers:
            out.append(f'<dt>layers</dt><dd><details><summary>{len(layers)} layer{"s" if len(layers) != 1 else ""}'
                       '</summary><ol class="layers">')
            for layer in layers:
                size = f' <span class="size">{int(layer["size"]):,} bytes</span>' if layer.get("size") else ""
                out.append(f'<li>{_hash_html(str(layer.get("digest", "")))}{size}</li>')
            out.append("</ol></details></dd>")
        out.append("</dl></div>")
    out.append("</div>")
    if page["errors"]:
        out.append(f'<details class="errors" open><summary>{len(page["errors"])} error(s): the result is incomplete'
                   '</summary><ul>' + "".join(f"<li>{_e(e)}</li>" for e in page["errors"]) + "</ul></details>")
    out.append("</header>")
    return "".join(out)


def render(page: dict[str, Any]) -> str:
    from .graph import STYLE as GRAPH_STYLE
    from .graph import graph_from_dict, svg
    css = _asset("report.css") + GRAPH_STYLE
    js = _asset("report.js")
    graphs = []
    views = []
    for vi, view in enumerate(page["views"]):
        sections = []
        for si, section in enumerate(view.get("sections") or ()):
            if section.get("type") == "graph":  # drawn once, as SVG; the script finds it in the DOM
                nodes, edges = graph_from_dict(section)
                graphs.append(f'<div class="graph-src" hidden data-view="{vi}" data-section="{si}">'
                              f'{svg(nodes, edges, title=str(section.get("title") or ""))}</div>')
                section = {k: v for k, v in section.items() if k not in ("nodes", "edges")} | {
                    "node_count": len(nodes), "edge_count": len(edges)}
            sections.append(section)
        views.append(dict(view, sections=sections))
    page = dict(page, views=views)
    csp = (f"default-src 'none'; script-src '{_sha(js)}'; style-src '{_sha(css)}'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(page['title'])}</title><style>{css}</style></head><body>"
            f"{_header_html(page)}<nav id=\"pc-tabs\"></nav><main id=\"pc-main\">"
            "<noscript>The tables and views of this report need JavaScript; the header above is complete."
            "</noscript></main>" + "".join(graphs) +
            f'<script type="application/json" id="pc-data">{_json_for_script(page)}</script>'
            f"<script>{js}</script></body></html>\n")


def write_page(stream: TextIO, report: Report | None = None, *, command: str = "scan", title: str = "",
               views: Iterable[Mapping[str, object]] = (), status: Mapping[str, object] | None = None,
               subject: Iterable[Mapping[str, object]] = (), default_view: str = "",
               errors: Iterable[str] = ()) -> None:
    """Write the page for ``report`` (or for a command without one: ``subject``, ``status``,
    ``errors``) with the ``views`` the command built (docs/report-format.md, "The HTML report")."""
    stream.write(render(page_data(report, command=command, title=title, views=[dict(v) for v in views],
                                  status=dict(status) if status is not None else None,
                                  subject=[dict(a) for a in subject], default_view=default_view, errors=errors)))


def write_html(report: Any, stream: TextIO, color: bool = False) -> None:
    """``scan --format html``: the findings, and the release view when the scan compared one."""
    views = []
    for name, comparison in sorted((report.extras.get("release") or {}).items()):
        views.append(release_view(comparison, report, name))
    write_page(stream, report, command="scan", views=views)


def release_view(release: Mapping[str, object], report: Report | None = None, name: str = "") -> dict[str, object]:
    """The release view: per-file verdicts with counts, a diff for every non-identical file.

    Whole diffs come from ``report.stash["full-diffs"][release name][path]``, where a detector
    keeps them for this view; else from the findings' evidence (cut short: the page says so)."""
    comparison: dict[str, Any] = dict(release)  # the release detector's comparison (JSON-shaped)
    diffs: dict[str, dict[str, Any]] = {}
    risk: dict[str, list[dict[str, Any]]] = {}
    for f in (report.findings if report is not None else ()):
        if f.location.artifact != comparison.get("release"):
            continue
        ev: dict[str, Any] = dict(f.evidence)
        if ev.get("indicators"):
            risk.setdefault(f.location.path, []).extend(
                {"line": h.get("line"), "indicator": h.get("indicator"), "why": h.get("why"), "text": h.get("text")}
                for h in ev["indicators"] if isinstance(h, dict))
        if isinstance(ev.get("diff"), str) and ev["diff"]:
            diffs.setdefault(f.location.path, {"diff": ev["diff"], "source": "evidence"})
    kept: dict[str, dict[str, str]] = report.stash.get(FULL_DIFFS) or {} if report is not None else {}  # type: ignore[assignment]
    for path, text in (kept.get(name or comparison.get("release") or "") or {}).items():
        diffs[path] = {"diff": text, "source": "full"}
    prefix = comparison.get("release_prefix") or ""
    files: list[dict[str, Any]] = []
    for v in comparison.get("files") or ():
        row = dict(v)
        rel = f"{prefix}/{v['path']}" if prefix else v["path"]
        row["diff"] = v["path"] if v["path"] in diffs else rel if rel in diffs else None
        hits = risk.get(rel) or risk.get(v["path"])
        if hits:
            row["risk"] = hits
        files.append(row)
    by_key = {row["diff"]: diffs[row["diff"]] for row in files if row.get("diff")}
    section = {"type": "release", "release": comparison.get("release"), "source": comparison.get("source"),
               "source_commit": comparison.get("source_commit"), "source_ref": comparison.get("source_ref"),
               "counts": comparison.get("counts") or {}, "files": files, "diffs": by_key}
    return {"id": "release", "title": f"Release {name}" if name and name != comparison.get("release") else "Release",
            "sections": [section]}


def svg_graph(graph: Mapping[str, object], *, standalone: bool = True, title: str = "") -> str:
    """A graph section (``{"nodes": [...], "edges": [...]}``) as SVG: ``linkage --format svg``."""
    from .graph import graph_from_dict, svg
    nodes, edges = graph_from_dict(dict(graph))
    return svg(nodes, edges, standalone=standalone, title=title)


@hookimpl
def provcheck_register_formats():
    return [OutputFormat("html", write_html, ".html")]


write_html_page, html_release_view = write_page, release_view  # their names in the `provcheck` API

__all__ = ["page_data", "render", "write_page", "write_html", "release_view", "status_words", "svg_graph",
           "write_html_page", "html_release_view"]
