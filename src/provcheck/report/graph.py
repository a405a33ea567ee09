"""A directed graph laid out left to right and drawn as SVG (the linkage view, ``--format svg``).

Layered layout: ranks by longest path from the roots (back edges of cycles are set aside
first), order inside a rank by a few barycentre sweeps, boxes sized to their labels. Every
string is escaped; nothing in the SVG runs or loads anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any, Iterable

NODE_H = 46
RANK_GAP = 140
ROW_GAP = 22
CHAR_W = 7.2
MIN_W, MAX_W = 150, 330
PAD = 24
MAX_ROWS = 40   # boxes in one column before a rank wraps
SUB_GAP = 24
EDGE_STYLE = {"needed": "needed", "dlopen": "dlopen", "interposition": "interposition"}


@dataclass
class GraphNode:
    id: str
    label: str          # the short name drawn in bold (file name, SONAME)
    sub: str = ""       # the second line: package, layer
    title: str = ""     # the tooltip: full path and details
    highlight: bool = False
    kind: str = "file"  # "file" (an executable) or "library"


@dataclass
class GraphEdge:
    src: str
    dst: str
    kind: str = "needed"  # needed | dlopen | interposition
    label: str = ""


@dataclass
class Layout:
    nodes: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # id -> (x, y, width)
    width: float = 0
    height: float = 0


def _ranks(ids: list[str], edges: list[GraphEdge]) -> dict[str, int]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    for e in edges:
        if e.src in out and e.dst in out and e.src != e.dst:
            out[e.src].append(e.dst)
    # drop back edges (iterative DFS), then longest path over what is left
    state: dict[str, int] = {}
    forward: dict[str, list[str]] = {i: [] for i in ids}
    for root in ids:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                continue  # back edge: a cycle
            forward[node].append(nxt)
            if nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(out[nxt])))
    indeg = {i: 0 for i in ids}
    for s in ids:
        for d in forward[s]:
            indeg[d] += 1
    rank = {i: 0 for i in ids}
    queue = [i for i in ids if indeg[i] == 0]
    while queue:
        s = queue.pop()
        for d in forward[s]:
            rank[d] = max(rank[d], rank[s] + 1)
            indeg[d] -= 1
            if indeg[d] == 0:
                queue.append(d)
    return rank


def _width(n: GraphNode) -> float:
    return max(MIN_W, min(MAX_W, CHAR_W * max(len(n.label) * 1.1, len(n.sub)) + 20))


def layout(nodes: list[GraphNode], edges: list[GraphEdge]) -> Layout:
    ids = [n.id for n in nodes]
    byid = {n.id: n for n in nodes}
    rank = _ranks(ids, edges)
    columns: dict[int, list[str]] = {}
    for i in ids:
        columns.setdefault(rank[i], []).append(i)
    preds: dict[str, list[str]] = {i: [] for i in ids}
    succs: dict[str, list[str]] = {i: [] for i in ids}
    for e in edges:
        if e.src in byid and e.dst in byid:
            preds[e.dst].append(e.src)
            succs[e.src].append(e.dst)
    ranks = sorted(columns)
    pos = {n: k for c in columns.values() for k, n in enumerate(c)}
    for sweep in range(4):  # barycentre ordering, down then up
        order = ranks[1:] if sweep % 2 == 0 else list(reversed(ranks[:-1]))
        near = preds if sweep % 2 == 0 else succs
        for r in order:
            bary = {n: (sum(pos[m] for m in near[n]) / len(near[n])) if near[n] else pos[n] for n in columns[r]}
            columns[r].sort(key=bary.__getitem__)
            pos.update((n, k) for k, n in enumerate(columns[r]))
    col_w = {r: max(_width(byid[n]) for n in columns[r]) for r in ranks}
    # a rank taller than MAX_ROWS (the whole graph's hundreds of programs) wraps into sub-columns
    chunks = {r: [columns[r][i:i + MAX_ROWS] for i in range(0, len(columns[r]), MAX_ROWS)] for r in ranks}
    tallest = max((len(c) for r in ranks for c in chunks[r]), default=0)
    height = tallest * (NODE_H + ROW_GAP) - ROW_GAP + 2 * PAD
    out = Layout()
    x: float = PAD
    for r in ranks:
        for ci, col in enumerate(chunks[r]):
            y0 = PAD + (tallest - len(col)) * (NODE_H + ROW_GAP) / 2
            for k, n in enumerate(col):
                out.nodes[n] = (x, y0 + k * (NODE_H + ROW_GAP), col_w[r])
            x += col_w[r] + (RANK_GAP if ci == len(chunks[r]) - 1 else SUB_GAP)
    out.width = max(x - RANK_GAP + PAD, 2 * PAD)
    out.height = max(height, 2 * PAD)
    return out


def _trim(text: str, width: float) -> str:
    room = int((width - 16) / CHAR_W)
    return text if len(text) <= room else text[:max(room - 1, 1)] + "…"


STYLE = """
.pc-graph{font:12px system-ui,-apple-system,'Segoe UI',sans-serif}
.pc-node rect{fill:#fff;stroke:#8a94a6;stroke-width:1.2;rx:6}
.pc-node.library rect{fill:#f5f7fb}
.pc-node.hl rect{fill:#fde8ec;stroke:#c2185b;stroke-width:2}
.pc-node.match rect{stroke:#1565c0;stroke-width:3;fill:#e3f0ff}
.pc-node.dim{opacity:.25}
.pc-node .name{font-weight:600;fill:#1b2330}
.pc-node .sub{fill:#5b6575;font-size:11px}
.pc-edge path{fill:none;stroke:#7b8597;stroke-width:1.4}
.pc-edge.dlopen path{stroke-dasharray:6 4;stroke:#8e44ad}
.pc-edge.interposition path{stroke:#d32f2f;stroke-width:2}
.pc-edge text{fill:#4a5263;font-size:10.5px;paint-order:stroke;stroke:#fff;stroke-width:3px}
.pc-edge.dim{opacity:.07}
"""


def svg(nodes: Iterable[GraphNode], edges: Iterable[GraphEdge], *, standalone: bool = False,
        title: str = "") -> str:
    """The graph as SVG markup; ``standalone`` adds the XML namespace, a style sheet and a title."""
    nodes, edges = list(nodes), list(edges)
    lay = layout(nodes, edges)
    parts: list[str] = []
    w, h = lay.width, lay.height
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    parts.append(f'<svg{ns} class="pc-graph" viewBox="0 0 {w:.0f} {h:.0f}" width="{w:.0f}" height="{h:.0f}" '
                 f'role="img" aria-label="{escape(title or "linkage graph")}">')
    if standalone:
        parts.append(f"<title>{escape(title)}</title><style>{STYLE}</style>")
        parts.append(f'<rect width="{w:.0f}" height="{h:.0f}" fill="#ffffff"/>')
    parts.append('<defs>'
                 '<marker id="pc-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                 'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#7b8597"/></marker>'
                 '<marker id="pc-arrow-dlopen" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                 'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#8e44ad"/></marker>'
                 '<marker id="pc-arrow-interposition" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                 'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#d32f2f"/></marker>'
                 '</defs><g class="pc-viewport">')
    for e in edges:
        if e.src not in lay.nodes or e.dst not in lay.nodes:
            continue
        sx, sy, sw = lay.nodes[e.src]
        dx, dy, _dw = lay.nodes[e.dst]
        kind = EDGE_STYLE.get(e.kind, "needed")
        x1, y1 = sx + sw, sy + NODE_H / 2
        x2, y2 = dx, dy + NODE_H / 2
        if x2 > x1:
            c = (x2 - x1) / 2
            d = f"M{x1:.1f},{y1:.1f} C{x1 + c:.1f},{y1:.1f} {x2 - c:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            lx, ly = (x1 + x2) / 2, (y1 + y2) / 2 - 4
        else:  # a back edge (cycle) or same rank: an arc under the boxes
            x1, y1 = sx + sw / 2, sy + NODE_H
            x2, y2 = dx + _dw / 2, dy + NODE_H
            drop = 40 + abs(x1 - x2) / 6
            d = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + drop:.1f} {x2:.1f},{y2 + drop:.1f} {x2:.1f},{y2:.1f}"
            lx, ly = (x1 + x2) / 2, max(y1, y2) + drop * 0.75
        marker = "pc-arrow" if kind == "needed" else f"pc-arrow-{kind}"
        label = e.label or e.kind  # the kind is the line's colour and dash; the tooltip says it in words
        parts.append(f'<g class="pc-edge {kind}" data-src="{escape(e.src)}" data-dst="{escape(e.dst)}">'
                     f'<title>{escape(e.src)} → {escape(e.dst)}: {escape(e.kind)} {escape(e.label)}</title>'
                     f'<path d="{d}" marker-end="url(#{marker})"/>'
                     f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle">{escape(_trim(label, RANK_GAP))}'
                     f'</text></g>')
    for n in nodes:
        x, y, wd = lay.nodes[n.id]
        cls = "pc-node " + ("library" if n.kind == "library" else "file") + (" hl" if n.highlight else "")
        search = escape(f"{n.id} {n.label} {n.sub}".lower())
        parts.append(f'<g class="{cls}" data-id="{escape(n.id)}" data-search="{search}" '
                     f'transform="translate({x:.1f},{y:.1f})">'
                     f'<title>{escape(n.title or n.id)}</title>'
                     f'<rect width="{wd:.1f}" height="{NODE_H}" rx="6"/>'
                     f'<text class="name" x="10" y="19">{escape(_trim(n.label, wd))}</text>'
                     f'<text class="sub" x="10" y="35">{escape(_trim(n.sub, wd))}</text></g>')
    parts.append("</g></svg>")
    out = "".join(parts)
    if standalone:
        out = '<?xml version="1.0" encoding="UTF-8"?>\n' + out + "\n"
    return out


def graph_from_dict(data: dict[str, Any]) -> tuple[list[GraphNode], list[GraphEdge]]:
    """Nodes and edges from the page data (``{"nodes": [...], "edges": [...]}``)."""
    nodes = [GraphNode(id=str(n["id"]), label=str(n.get("label") or n["id"]), sub=str(n.get("sub") or ""),
                       title=str(n.get("title") or n["id"]), highlight=bool(n.get("highlight")),
                       kind=str(n.get("kind") or "file")) for n in data.get("nodes") or ()]
    edges = [GraphEdge(src=str(e["src"]), dst=str(e["dst"]), kind=str(e.get("kind") or "needed"),
                       label=str(e.get("label") or "")) for e in data.get("edges") or ()]
    return nodes, edges
