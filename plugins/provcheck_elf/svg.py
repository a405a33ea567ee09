"""``linkage --format svg|html``: the files a query reached, drawn as a graph.

Nodes are ELF files (name, package, layer), edges say needed or dlopen with the name
asked for; the files named by ``--from``/``--to``/``--who-links`` are highlighted. ``svg``
is the standalone picture; ``html`` is the report page with the graph (zoom, pan, search),
the files and the edges as tables.
"""

from __future__ import annotations

import posixpath
from typing import Any, TextIO

from provcheck import svg_graph, write_html_page


def graph_data(g: Any, nodes: set[str], edges: set[tuple], highlight: set[str]) -> dict[str, Any]:
    out_nodes = []
    for n in sorted(nodes):
        o = g.objects[n]
        layer = o.node.layer or ""
        sub = [o.package or "no package"]
        if layer:
            sub.append("layer " + layer.split(":", 1)[-1][:12])
        out_nodes.append({"id": n, "label": o.soname or posixpath.basename(n), "sub": " · ".join(sub),
                          "title": f"{n}\npackage: {o.package or '-'}\nlayer: {layer or '-'}\n"
                                   f"sha256: {o.node.sha256 or '-'}",
                          "highlight": n in highlight, "kind": "library" if o.is_library else "file"})
    out_edges = [{"src": a, "dst": b, "kind": kind, "label": name} for a, b, kind, name in sorted(edges)]
    return {"nodes": out_nodes, "edges": out_edges}


def interposers(an: Any, sensitive: dict[str, list[str]]) -> list[tuple[str, str, list[str]]]:
    """(file, symbol, owner globs): files that define a security-sensitive symbol another
    library owns (PC309's test), e.g. a liblzma defining RSA_public_decrypt."""
    from .policies import _names_match
    out = []
    for path in sorted(an.graph.objects):
        d = an.deep(path)
        for sym in (d or {}).get("exports", ()):
            owners = sensitive.get(sym.partition("@")[0])
            if owners and not _names_match(an.graph.objects[path], owners):
                out.append((path, sym.partition("@")[0], owners))
    return out


def add_interposition(g: Any, nodes: set[str], edges: set[tuple], interposed: list) -> None:
    """An edge from each drawn interposer to the libraries owning its symbol (drawn too)."""
    import fnmatch
    for src, sym, owners in interposed:
        if src not in nodes:
            continue
        for path, obj in g.objects.items():
            if path != src and any(fnmatch.fnmatchcase(n, o) for o in owners for n in obj.names):
                nodes.add(path)
                edges.add((src, path, "interposition", sym))


class Drawer:
    """Called where the DOT writer would be: ``drawer(g, nodes, edges, stream, highlight=...)``."""

    def __init__(self, fmt: str, artifact: Any, query: str, errors: list[str], interposed: list = ()):
        self.fmt, self.artifact, self.query, self.errors = fmt, artifact, query, errors
        self.interposed = list(interposed)

    def __call__(self, g: Any, nodes: set[str], edges: set[tuple], stream: TextIO,
                 highlight: set[str] = frozenset()) -> None:
        nodes, edges = set(nodes), set(edges)
        add_interposition(g, nodes, edges, self.interposed)
        data = graph_data(g, nodes, edges, set(highlight))
        title = f"{self.artifact.name}: {self.query}"
        if self.fmt == "svg":
            stream.write(svg_graph(data, title=title))
            return
        found = bool(edges) or (bool(nodes) and self.query.startswith("what "))
        code = 3 if self.errors else 0 if found else 1
        status = {"code": code, "words": "incomplete" if self.errors else "found" if found else "nothing found",
                  "detail": f"{len(nodes)} files, {len(edges)} edges" + (f"; {len(self.errors)} files could not be "
                                                                         "read" if self.errors else "")}
        files = [{"path": n["id"], "name": n["label"], "package": g.objects[n["id"]].package or "",
                  "layer": g.objects[n["id"]].node.layer or "", "sha256": g.objects[n["id"]].node.sha256 or "",
                  "asked": "yes" if n["highlight"] else ""} for n in data["nodes"]]
        sections = [{"type": "note", "text": self.query},
                    {"type": "graph", "title": "", **data},
                    {"type": "table", "id": "linkage-files", "title": "Files", "noun": "file", "rows": files,
                     "columns": [{"key": "path", "label": "path", "kind": "path"}, {"key": "name", "label": "name"},
                                 {"key": "package", "label": "package", "filter": "select"},
                                 {"key": "layer", "label": "layer", "kind": "hash", "filter": "select"},
                                 {"key": "sha256", "label": "sha256", "kind": "hash"},
                                 {"key": "asked", "label": "asked for", "filter": "select"}]},
                    {"type": "table", "id": "linkage-edges", "title": "Edges", "noun": "edge",
                     "rows": [{"from": e["src"], "kind": e["kind"], "name": e["label"], "to": e["dst"]}
                              for e in data["edges"]],
                     "columns": [{"key": "from", "label": "from", "kind": "path"},
                                 {"key": "kind", "label": "kind", "filter": "select"},
                                 {"key": "name", "label": "needs"}, {"key": "to", "label": "to", "kind": "path"}]}]
        md = self.artifact.metadata
        subject = [{"name": self.artifact.name, "role": "target", "kind": self.artifact.kind,
                    "files": len(self.artifact.tree.nodes),
                    "digest": md.get("digest") or md.get("manifest_digest") or "", "platform": md.get("platform") or "",
                    "layers": [{"digest": layer.digest, "size": layer.size} for layer in self.artifact.layers]}]
        write_html_page(stream, None, command="linkage", title=f"provcheck linkage: {title}", status=status,
                        subject=subject, errors=self.errors, views=[{"id": "linkage", "title": "Linkage", "sections": sections}])
