"""Where a warm ``linkage ROOTFS --from sshd --to liblzma`` spends its CPU, part by part.

    .venv/bin/python benchmarks/linkage_parts.py [--data linkbench|buildtools] [--repeat N]

Each round loads the root filesystem afresh in-process (caches warm: one run fills them
first), then times the warm run's parts: the walk (``ctx.load``, with the tree's identity),
the analysis (``analyze``: kept by the tree's identity, one cache entry) and the query with
hashing the printed hops. The parts the analysis is built from when it is not kept (a
changed tree, new code) are timed on the same tree too, as ``_analyze`` does them:
sniffing for ELF files (``Tree.starting_with``), the parse results (the cache entry and one
lookup per ELF file), package ownership, the graph. A bare ``os.scandir`` + ``lstat`` walk of the same
tree is timed alongside: the floor of any walk that checks every file's identity. CPU
seconds (``time.process_time``), best and median of ``--repeat`` rounds, in milliseconds;
the load average is printed. Also the tree identity's own digest against two other ways of
encoding the entries (best of at least 9). Start-up (interpreter, imports, plugins) is not in here:
``benchmarks/cache_lazy.py`` times ``provcheck --version`` paired with the whole command.
The code under test is byte-compiled first, as ``cache_lazy.py`` does (``compile_code``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def bare_walk(root: str) -> int:
    n, stack = 0, [root]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in sorted(it, key=lambda e: e.name):
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                e.stat(follow_symlinks=False)
                n += 1
    return n


def listing(root: str) -> tuple[list[str], list[str], list[os.stat_result]]:
    """Every path, symlink ("path\\0target") and ``lstat`` of the tree, in the walk's order."""
    paths: list[str] = []
    links: list[str] = []
    stats: list[os.stat_result] = []
    stack = [("", root)]
    while stack:
        rel, d = stack.pop()
        with os.scandir(d) as it:
            for e in sorted(it, key=lambda e: e.name):
                r = f"{rel}/{e.name}" if rel else e.name
                st = e.stat(follow_symlinks=False)
                paths.append(r)
                stats.append(st)
                if e.is_dir(follow_symlinks=False):
                    stack.append((r, e.path))
                elif e.is_symlink():
                    links.append(f"{r}\0{os.readlink(e.path)}")
    return paths, links, stats


def identity_encodings(root: str, repeat: int) -> dict[str, float]:
    """Best CPU ms of the tree identity as ``unpack.directory.tree_identity`` makes it, whole
    (the racy check, then six 64-bit fields of every entry through ``operator.attrgetter`` and
    one ``struct`` pack each, in C loops, and the digest), and of that digest alone against other
    ways of encoding the same fields: one ``array`` of them, a ``struct`` pack per entry from
    Python, text per entry."""
    import array
    import hashlib
    import itertools
    import operator
    import struct
    import time

    from provcheck.unpack import directory
    paths, links, stats = listing(root)
    pack = struct.Struct("=6Q").pack
    get = operator.attrgetter("st_mode", "st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns")

    def digest(fields: bytes) -> str:
        h = hashlib.sha256("\0".join(paths).encode() + "\0".join(links).encode())
        h.update(fields)
        return h.hexdigest()

    variants = {
        "tree_identity, whole (racy check, digest)": lambda: directory.tree_identity(
            "key", [0, 0], paths, links, stats, time.time_ns() + directory.RACY_NS * 2),
        "its digest: attrgetter and struct in C loops": lambda: digest(b"".join(itertools.starmap(
            pack, map(get, stats)))),
        "one array of the fields": lambda: digest(array.array("Q", itertools.chain.from_iterable(
            map(get, stats))).tobytes()),
        "struct pack per entry, in Python": lambda: digest(b"".join(
            [pack(st.st_mode, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) for st in stats])),
        "text per entry (f-string)": lambda: digest("\0".join(
            [f"{st.st_mode} {st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}"
             for st in stats]).encode()),
    }
    out: dict[str, float] = {}
    for name, fn in variants.items():
        best = float("inf")
        for _ in range(max(repeat, 9)):
            t = time.process_time()
            fn()
            best = min(best, time.process_time() - t)
        out[name] = round(best * 1000, 2)
    out["entries"] = len(stats)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", choices=("linkbench", "buildtools"), default="linkbench")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if args.data == "buildtools":
        import buildtools_data
        rootfs = buildtools_data.rootfs()
    else:
        import realdata
        from cache_lazy import LAYERS
        rootfs = realdata.rootfs([p for group in LAYERS for p in group], "linkbench")

    from cache_lazy import compile_code
    compile_code([ROOT])

    from provcheck import CommandContext, Config, InputSpec
    from provcheck.plugins import PluginManager
    from provcheck_elf import graph as graphmod, open_cache, packages
    from provcheck_elf.analysis import analyze
    from provcheck_elf.policies import Options

    pm = PluginManager()
    pm.load()
    parts: dict[str, list[float]] = {}
    clock = time.process_time
    loadavg = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="linkage-parts-") as cache_dir:
        for round_ in range(args.repeat + 1):  # round 0 fills the caches
            t = clock()
            bare_walk(str(rootfs))
            bare = clock() - t
            ctx = CommandContext(pm)
            ctx.use(Config(cache_dir=Path(cache_dir)))
            with ctx:
                times: dict[str, float] = {"bare scandir + lstat walk": bare}
                t = clock()
                artifact = ctx.load(InputSpec.parse(str(rootfs), "target"))
                times["walk (ctx.load)"] = clock() - t
                tree = artifact.tree
                cache = open_cache(Options.parse({}, []), ctx.cache, artifact)
                assert cache is not None
                t = clock()
                kept = analyze(artifact, cache)
                times["analysis (analyze: kept by the tree identity)"] = clock() - t
                if round_:
                    assert kept.stats.get("kept") and tree.identity, "the analysis was not kept"
                t = clock()
                files = sorted(tree.starting_with(b"\x7fELF"), key=lambda n: n.path)
                times["not kept: sniffing (Tree.starting_with)"] = clock() - t
                t = clock()
                infos = {}
                for node in files:
                    value = cache.get(node, False, tree.known_digest(node))
                    if round_ == 0 and not isinstance(value, dict):  # fill the parse cache
                        from provcheck_elf.analysis import _parse
                        value = _parse(tree, node)
                        cache.put(node, False, value)
                    if isinstance(value, dict) and "error" not in value:
                        infos[node.path] = value
                times["not kept: parse results (cache entry, lookups)"] = clock() - t
                cache.close()
                t = clock()
                owners = packages.read_packages(tree, infos, ctx.cache)
                times["not kept: package ownership"] = clock() - t
                t = clock()
                graph = graphmod.build(tree, infos, owners.owner)
                times["not kept: graph"] = clock() - t
                graph = kept.graph
                t = clock()
                paths, _ = graph.paths(graph.match("sshd"), graph.match("liblzma"))
                for e in paths[0]:
                    assert graph.objects[e.dst].node.sha256
                assert graph.objects[paths[0][0].src].node.sha256
                times["query, hashing the printed hops"] = clock() - t
            if round_:
                for k, v in times.items():
                    parts.setdefault(k, []).append(v * 1000)
    out = {"data": args.data, "files": len(tree.nodes), "elf": len(infos), "loadavg_start": loadavg,
           "loadavg_end": [round(x, 2) for x in os.getloadavg()],
           "cpu_ms": {k: {"best": round(min(v), 1), "median": round(statistics.median(v), 1)} for k, v in parts.items()}}
    out["identity_digest_cpu_ms_best"] = identity_encodings(str(rootfs), args.repeat)
    out["cpu_ms_warm_run_sum_of_best"] = round(sum(  # walk, kept analysis, query
        v["best"] for k, v in out["cpu_ms"].items() if not k.startswith(("bare", "not kept"))), 1)
    out["cpu_ms_not_kept_sum_of_best"] = round(sum(  # walk, the analysis's parts, query
        v["best"] for k, v in out["cpu_ms"].items() if not k.startswith(("bare", "analysis"))), 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
