"""The SVG graph layout: cycles, long chains and wide ranks from hostile linkage graphs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from provcheck import svg_graph
from provcheck.report.graph import MAX_ROWS, GraphEdge, GraphNode, layout

SVG = "{http://www.w3.org/2000/svg}"


def _nodes(svg_text: str) -> dict[str, tuple[float, float]]:
    root = ET.fromstring(svg_text.split("\n", 1)[1])
    out = {}
    for g in root.iter(f"{SVG}g"):
        if "pc-node" in (g.get("class") or ""):
            x, y = g.get("transform")[len("translate("):-1].split(",")
            out[g.get("data-id")] = (float(x), float(y))
    return out


def test_cycles_and_self_loops_are_drawn():
    graph = {"nodes": [{"id": n} for n in "abc"],
             "edges": [{"src": "a", "dst": "b"}, {"src": "b", "dst": "c"}, {"src": "c", "dst": "a"},
                       {"src": "b", "dst": "b", "kind": "dlopen"}]}
    pos = _nodes(svg_graph(graph))
    assert pos["a"][0] < pos["b"][0] < pos["c"][0]  # the back edge c -> a is set aside for ranking
    assert svg_graph(graph).count('class="pc-edge') == 4


def test_a_long_chain_needs_no_recursion():
    n = 5000
    nodes = [GraphNode(id=f"lib{i}", label=f"lib{i}.so") for i in range(n)]
    edges = [GraphEdge(src=f"lib{i}", dst=f"lib{i + 1}") for i in range(n - 1)]
    lay = layout(nodes, edges)
    assert lay.nodes["lib4999"][0] > lay.nodes["lib0"][0]


def test_a_wide_rank_wraps():
    graph = {"nodes": [{"id": "libc.so.6"}] + [{"id": f"bin/p{i}"} for i in range(3 * MAX_ROWS)],
             "edges": [{"src": f"bin/p{i}", "dst": "libc.so.6"} for i in range(3 * MAX_ROWS)]}
    pos = _nodes(svg_graph(graph))
    columns = {x for k, (x, _y) in pos.items() if k.startswith("bin/")}
    assert len(columns) == 3 and pos["libc.so.6"][0] > max(columns)
    assert len({y for k, (_x, y) in pos.items() if k.startswith("bin/")}) == MAX_ROWS
