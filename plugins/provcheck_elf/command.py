"""``provcheck linkage ARTIFACT``: query the linkage graph of one artifact.

* ``--from A --to B``: every path from A to B, shortest first, each hop with the needed
  name, the resolved file, how it was found, its layer and its package;
* ``--who-links LIB``: everything that reaches LIB, transitively, with its distance;
* ``--from A`` alone: what A loads (its closure, like lddtree);
* nothing: the whole graph.

``--format text|json|dot`` (Graphviz). Exit 0 when the query found something, 1 when a
path/dependents query found nothing, 3 when some ELF files could not be read, 4/5 for
usage and input errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from provcheck import CommandContext

    from . import graph as graphmod

# Imported only when ``linkage`` runs (the plugin registers it by name); the graph and
# policy modules are imported inside the functions that use them.

KINDS = ("needed", "dlopen")


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifacts", nargs=1, metavar="ARTIFACT",
                   help="image (OCI layout or archive), root filesystem, package or tarball")
    p.add_argument("--from", dest="src", metavar="PATTERN", action="append",
                   help="binary: a file name (sshd), a SONAME, or a path glob (**/sbin/sshd)")
    p.add_argument("--to", dest="dst", metavar="PATTERN", action="append",
                   help="library: a SONAME or name (liblzma, liblzma.so.5, liblzma.so.*)")
    p.add_argument("--who-links", metavar="PATTERN", action="append",
                   help="list everything that links PATTERN, transitively")
    p.add_argument("--kind", action="append", choices=KINDS, help="edge kinds to follow (default both)")
    p.add_argument("--max-paths", type=int, default=None, help="at most this many paths (default 20)")
    p.add_argument("--stats", action="store_true", help="print timings and counts to stderr")


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from . import PLUGIN, open_cache, plugin_policies
    from .analysis import analyze
    from .policies import Options

    t0 = time.perf_counter()
    config = ctx.config(args)
    raw = dict(config.options(PLUGIN)) or dict(config.options("provcheck_elf"))
    opts = Options.parse(raw, plugin_policies(ctx.hook))
    limit = args.max_paths or opts.max_paths
    kinds = tuple(args.kind or KINDS)
    artifact = ctx.load(config.inputs[0])
    t1 = time.perf_counter()
    cache = open_cache(opts, ctx.cache, artifact)
    try:
        an = analyze(artifact, cache)
        interposed = []
        if args.format in ("svg", "html"):  # drawn as interposition edges
            from .svg import interposers
            interposed = interposers(an, opts.sensitive)
    finally:
        if cache is not None:
            cache.close()
    t2 = time.perf_counter()
    g = an.graph
    for e in artifact.errors:
        print(f"provcheck: {e}", file=sys.stderr)
    for path, why in an.errors:
        print(f"provcheck: {artifact.name}:{path}: {why}", file=sys.stderr)
    for path, why in an.packages.failed:
        print(f"provcheck: {artifact.name}:{path}: {why}", file=sys.stderr)
    found = True
    fmt, draw = args.format, _dot
    if fmt in ("svg", "html"):  # drawn where the DOT writer would write
        from .svg import Drawer
        errors = [str(e) for e in artifact.errors] + [f"{artifact.name}:{p}: {why}"
                                                      for p, why in [*an.errors, *an.packages.failed]]
        fmt, draw = "dot", Drawer(args.format, artifact, _query_words(args), errors, interposed)
    with ctx.output(args) as (stream, _color):
        if args.who_links:
            found = _who_links(g, args.who_links, kinds, fmt, stream, draw)
        elif args.src and args.dst:
            found = _paths(g, args.src, args.dst, kinds, limit, fmt, stream, draw)
        elif args.dst:
            found = _who_links(g, args.dst, kinds, fmt, stream, draw)
        elif args.src:
            found = _closure(g, args.src, kinds, fmt, stream, draw)
        else:
            _whole(g, artifact, fmt, stream, draw)
    t3 = time.perf_counter()
    if args.stats:
        print(json.dumps({"load": round(t1 - t0, 3), "analyze": round(t2 - t1, 3), "query": round(t3 - t2, 3),
                          **an.stats}), file=sys.stderr)
    if artifact.errors or an.errors or an.packages.failed:
        return 3
    return 0 if found else 1


def _query_words(args: argparse.Namespace) -> str:
    if args.who_links or (args.dst and not args.src):
        return f"who links {', '.join(args.who_links or args.dst)}"
    if args.src and args.dst:
        return f"paths from {', '.join(args.src)} to {', '.join(args.dst)}"
    if args.src:
        return f"what {', '.join(args.src)} loads"
    return "the whole linkage graph"


def _resolve_patterns(g: graphmod.Graph, patterns: list[str], what: str) -> list[str]:
    out: list[str] = []
    for p in patterns:
        m = g.match(p)
        if not m:
            print(f"provcheck: {what} {p!r} matches no ELF file", file=sys.stderr)
        out += [x for x in m if x not in out]
    return out


def _label(g: graphmod.Graph, path: str) -> str:
    o = g.objects[path]
    bits = [o.package or "no package"]
    if o.node.layer:
        bits.append(f"layer {o.node.layer[:19]}")
    return f"{path}  [{', '.join(bits)}]"


def _paths(g, srcs, dsts, kinds, limit, fmt, stream: TextIO, draw=None) -> bool:
    from .policies import hop as _hop
    sources = _resolve_patterns(g, srcs, "--from")
    targets = _resolve_patterns(g, dsts, "--to")
    paths, truncated = g.paths(sources, targets, kinds, limit=limit) if sources and targets else ([], False)
    if fmt == "json":
        json.dump({"from": sources, "to": targets, "truncated": truncated,
                   "paths": [{"hops": len(p), "chain": [_hop(g, p[0].src)] + [
                       dict(_hop(g, e.dst), needed=e.name, kind=e.kind, via=e.via, found_as=e.found_as)
                       for e in p]} for p in paths]}, stream, indent=2)
        stream.write("\n")
    elif fmt == "dot":
        edges = {(e.src, e.dst, e.kind, e.name) for p in paths for e in p}
        (draw or _dot)(g, {n for e in edges for n in e[:2]} | set(sources) | set(targets), edges, stream,
             highlight=set(sources) | set(targets))
    else:
        if not paths:
            stream.write(f"no path from {', '.join(srcs)} to {', '.join(dsts)}\n")
        for i, p in enumerate(paths, 1):
            stream.write(f"path {i} ({len(p)} hop{'s' if len(p) != 1 else ''}):\n")
            stream.write(f"  {_label(g, p[0].src)}\n")
            for depth, e in enumerate(p, 1):
                stream.write(f"  {'  ' * depth}-> {e.name} ({e.kind}, via {e.via}): {_label(g, e.dst)}\n")
        if truncated:
            stream.write(f"(more paths exist; showing {len(paths)}; raise --max-paths)\n")
    return bool(paths)


def _who_links(g, patterns, kinds, fmt, stream: TextIO, draw=None) -> bool:
    from .policies import hop as _hop
    targets = _resolve_patterns(g, patterns, "--who-links")
    deps = g.dependents(targets, kinds)
    # distance = shortest hop count to a target
    dist = {t: 0 for t in targets}
    frontier = list(targets)
    while frontier:
        nxt = []
        for cur in frontier:
            for src in sorted(g.rdeps.get(cur, ())):
                if src in deps and src not in dist and any(e.dst == cur and e.kind in kinds for e in g.edges[src]):
                    dist[src] = dist[cur] + 1
                    nxt.append(src)
        frontier = nxt
    order = sorted(deps, key=lambda p: (dist.get(p, 99), p))
    if fmt == "json":
        json.dump({"targets": targets, "dependents": [dict(_hop(g, p), depth=dist.get(p), direct=dist.get(p) == 1)
                                                      for p in order]}, stream, indent=2)
        stream.write("\n")
    elif fmt == "dot":
        nodes = set(deps) | set(targets)
        edges = {(e.src, e.dst, e.kind, e.name) for s in nodes for e in g.out(s, kinds) if e.dst in nodes}
        (draw or _dot)(g, nodes, edges, stream, highlight=set(targets))
    else:
        stream.write(f"{len(order)} file(s) link {', '.join(targets) or ' '.join(patterns)}:\n")
        for p in order:
            stream.write(f"  {dist.get(p, '?')}  {_label(g, p)}\n")
    return bool(order)


def _closure(g, patterns, kinds, fmt, stream: TextIO, draw=None) -> bool:
    sources = _resolve_patterns(g, patterns, "--from")
    nodes = g.reachable(sources, kinds)
    edges = {(e.src, e.dst, e.kind, e.name) for s in nodes for e in g.out(s, kinds)}
    unresolved = [e for s in sorted(nodes) for e in g.edges.get(s, ()) if e.dst is None]
    if fmt == "json":
        json.dump({"from": sources, "objects": [g.objects[p].to_dict() for p in sorted(nodes)],
                   "edges": [{"from": a, "to": b, "kind": k, "name": n} for a, b, k, n in sorted(edges)],
                   "unresolved": [e.to_dict() for e in unresolved]}, stream, indent=2)
        stream.write("\n")
    elif fmt == "dot":
        (draw or _dot)(g, nodes, edges, stream, highlight=set(sources))
    else:
        for s in sources:
            _tree(g, s, kinds, stream)
        for e in unresolved:
            stream.write(f"unresolved: {e.src} needs {e.name}\n")
    return bool(sources)


MAX_INDENT = 64  # deeper chains print "[depth N]" instead of more indentation


def _tree(g, root, kinds, stream) -> None:
    """lddtree-style text: every library once per source, later mentions "(see above)".
    Iterative (a hostile chain of thousands of libraries must not exhaust the stack)."""
    stream.write(f"{_label(g, root)}\n")
    seen: set[str] = set()

    def children(path: str):
        return iter(sorted(g.edges.get(path, ()), key=lambda e: e.name))
    stack = [children(root)]
    while stack:
        e = next(stack[-1], None)
        if e is None:
            stack.pop()
            continue
        if e.kind not in kinds:
            continue
        depth = len(stack)
        indent = "  " * min(depth, MAX_INDENT) + (f"[depth {depth}] " if depth > MAX_INDENT else "")
        mark = "" if e.kind == "needed" else " (dlopen)"
        if e.dst is None:
            stream.write(f"{indent}{e.name}{mark} => not found\n")
            continue
        again = e.dst in seen
        stream.write(f"{indent}{e.name}{mark} => {e.dst}{' (see above)' if again else ''}\n")
        if not again:
            seen.add(e.dst)
            stack.append(children(e.dst))


def _whole(g, artifact, fmt, stream: TextIO, draw=None) -> None:
    if fmt == "json":
        pk = g.packages
        json.dump({"artifact": artifact.name, "libc": g.libc,
                   "package_databases": {"read": pk.databases, "not_read": pk.unread} if pk else None,
                   "objects": [g.objects[p].to_dict() for p in sorted(g.objects)],
                   "edges": [e.to_dict() for s in sorted(g.edges) for e in g.edges[s]],
                   "errors": [{"path": p, "message": m} for p, m in g.errors]}, stream, indent=2)
        stream.write("\n")
    elif fmt == "dot":
        edges = {(e.src, e.dst, e.kind, e.name) for s in g.edges for e in g.edges[s] if e.dst}
        (draw or _dot)(g, set(g.objects), edges, stream)
    else:
        for p in sorted(g.objects):
            stream.write(f"{_label(g, p)}\n")
            for e in g.edges.get(p, ()):
                stream.write(f"    {e.kind:6} {e.name} => {e.dst or 'not found'}\n")


def _dot(g, nodes, edges, stream: TextIO, highlight: set[str] = frozenset()) -> None:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    stream.write("digraph linkage {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n")
    for n in sorted(nodes):
        o = g.objects[n]
        label = q(o.soname or n.rsplit("/", 1)[-1])
        if o.package:  # a DOT line break goes between the quoted parts, not through q()
            label = label[:-1] + "\\n" + q(o.package)[1:]
        attrs = [f"label={label}", f"tooltip={q(n)}"]
        if n in highlight:
            attrs.append("style=filled, fillcolor=lightpink")
        elif not o.is_library:
            attrs.append("shape=ellipse")
        stream.write(f"  {q(n)} [{', '.join(attrs)}];\n")
    for a, b, kind, name in sorted(edges):
        style = "" if kind == "needed" else ", style=dashed"
        stream.write(f"  {q(a)} -> {q(b)} [label={q(name)}{style}];\n")
    stream.write("}\n")
