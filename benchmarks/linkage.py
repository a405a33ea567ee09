"""Benchmark: the ELF linkage graph of a real Debian image, against lddtree and scanelf.

    .venv/bin/python benchmarks/linkage.py [--repeat N] [--json OUT]

Data: a real Debian 12 OCI image built by ``tests/realdata.py`` (layer 1: libc6, bash,
coreutils; layer 2: openssh-server, python3, systemd, curl; all dependencies), and the
same packages as a root filesystem for the external tools, which cannot read images.

Measured in one run:

* ``scanelf -R -n ROOTFS`` (pax-utils, C): the floor for reading DT_NEEDED of every file;
* ``lddtree -R ROOTFS`` (pax-utils, Python + pyelftools) over every ELF file, one process;
* per-file cost of each parser: provcheck's bulk reader, its deep (symbols) pass,
  pyelftools (dynamic tags + dynamic symbols), LIEF (in a subprocess: import cost too);
* provcheck in-process on the loaded image: graph construction (find + parse every ELF,
  package ownership, resolution), with a cold and a warm parse cache, the sshd->liblzma
  query, and every PC3xx policy;
* the whole ``provcheck linkage IMAGE --from sshd --to liblzma`` command (and on the
  root filesystem), cold and warm cache, wall time with interpreter start-up and loading.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import realdata  # noqa: E402

LAYERS = [["libc6", "bash", "coreutils"], ["openssh-server", "python3", "systemd", "curl"]]
OTHERS = ["-p", "no:release", "-p", "no:testdata", "-p", "no:sbom", "-p", "no:attest", "-p", "no:fleet"]


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def wall(cmd: list[str], repeat: int, **kw) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, **kw)
        best = min(best, time.perf_counter() - t)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-800:]!r}")
    return best


def lddtree_seconds(rootfs: Path, paths: list[str]) -> float:
    """Wall seconds of one complete ``lddtree -R ROOTFS --skip-non-elfs PATHS...`` run.

    lddtree runs with the interpreter of its Debian package (``/usr/bin/python3`` and its
    pyelftools), not this venv's: this venv's newer pyelftools stops lddtree partway on
    the build-tools tree (an assertion in ``_get_stringtable``, exit 1, about three
    quarters of the output), which an earlier version of this benchmark timed as a run.
    A run that does not exit 0 raises."""
    lddtree = shutil.which("lddtree")
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    if lddtree is None:
        raise RuntimeError("lddtree is not installed (pax-utils, scripts/system-deps.sh)")
    t = time.perf_counter()
    proc = subprocess.run([python, lddtree, "-R", str(rootfs), "--skip-non-elfs", *paths], capture_output=True)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"lddtree failed ({proc.returncode}): {proc.stderr[-800:]!r}")
    return seconds


def elf_files(root: Path) -> list[Path]:
    out = []
    for dp, _dn, fn in os.walk(root):
        for f in fn:
            p = Path(dp) / f
            if p.is_symlink() or not p.is_file():
                continue
            with open(p, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    out.append(p)
    return sorted(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    R = args.repeat
    image = realdata.image(LAYERS, "linkbench")
    rootfs = realdata.rootfs([p for group in LAYERS for p in group], "linkbench")
    files = elf_files(rootfs)
    res: dict[str, object] = {"machine": f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}",
                              "python": platform.python_version(), "image": image.name, "rootfs_elf_files": len(files)}
    print(f"data: {image.name} / {rootfs.name}: {len(files)} ELF files in the root filesystem", flush=True)

    # -- external tools -------------------------------------------------------------------
    res["scanelf_s"] = wall(["scanelf", "-R", "-n", "-q", str(rootfs)], R)
    rel = ["/" + str(p.relative_to(rootfs)) for p in files]
    res["lddtree_s"] = lddtree_seconds(rootfs, rel)
    print(f"scanelf -R -n: {res['scanelf_s']:.3f} s; lddtree over {len(rel)} files: {res['lddtree_s']:.2f} s", flush=True)

    # -- per-file parser costs ---------------------------------------------------------------
    sys.path.insert(0, str(ROOT / "plugins"))
    from provcheck.formats import elf as elfread
    n = len(files)
    t, _ = timed(lambda: [elfread.parse_file(p) for p in files], R)
    res["bulk_ms_per_elf"] = t / n * 1e3
    t, _ = timed(lambda: [elfread.parse_file(p, deep=True) for p in files], R)
    res["deep_ms_per_elf"] = t / n * 1e3

    def pyelftools_pass():
        from elftools.elf.dynamic import DynamicSection
        from elftools.elf.elffile import ELFFile
        for p in files:
            with open(p, "rb") as f:
                e = ELFFile(f)
                for s in e.iter_sections():
                    if isinstance(s, DynamicSection):
                        [t.entry.d_tag for t in s.iter_tags()]
                    elif s.name == ".dynsym":
                        [sym.name for sym in s.iter_symbols()]
    t, _ = timed(pyelftools_pass, 1)
    res["pyelftools_ms_per_elf"] = t / n * 1e3
    lief_code = ("import sys, time\n"
                 "def rss():\n"
                 "    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])\n"
                 "r0 = rss(); t = time.perf_counter(); import lief; ti = time.perf_counter() - t; "
                 "r1 = rss(); lief.logging.disable(); "
                 "files = sys.stdin.read().split('\\n'); t = time.perf_counter(); "
                 "[lief.ELF.parse(f) for f in files]; tp = time.perf_counter() - t; "
                 "print(ti, (r1 - r0) / 1024, tp / len(files) * 1e3)")
    out = subprocess.run([sys.executable, "-c", lief_code], input="\n".join(map(str, files)), capture_output=True,
                         text=True)
    if out.returncode == 0:
        ti, mb, per = map(float, out.stdout.split())
        res.update(lief_import_s=ti, lief_import_mb=mb, lief_ms_per_elf=per)
    print("per ELF: bulk {bulk_ms_per_elf:.3f} ms, deep {deep_ms_per_elf:.3f} ms, pyelftools "
          "{pyelftools_ms_per_elf:.2f} ms, LIEF {lief}".format(
              lief=f"{res.get('lief_ms_per_elf', float('nan')):.3f} ms (+{res.get('lief_import_s', 0):.2f} s, "
                   f"{res.get('lief_import_mb', 0):.0f} MB to import)", **res), flush=True)

    # -- provcheck in-process on the loaded image ------------------------------------------------
    from provcheck import Cache
    from provcheck.config import InputSpec, build_config
    from provcheck.engine import BlobStore, LoadContext, WorkArea
    from provcheck.plugins import PluginManager

    from provcheck_elf import policies
    from provcheck_elf.analysis import ParseCache, analyze

    pm = PluginManager()
    pm.load(blocked=[OTHERS[i + 1][3:] for i in range(0, len(OTHERS), 2)])
    config = build_config({}, None, inputs=[InputSpec.parse(str(image))])
    cache_dir = Path(tempfile.mkdtemp(prefix="linkbench-cache-"))
    try:
        with WorkArea(config) as work:
            ctx = LoadContext(pm, BlobStore(work / "blobs"), config)
            t = time.perf_counter()
            artifact = ctx.load(config.inputs[0])
            res["image_load_s"] = time.perf_counter() - t
            res["image_files"] = sum(1 for x in artifact.tree.nodes.values() if x.is_file)
            t, an = timed(lambda: analyze(artifact, None), R)
            res["graph_cold_s"] = t
            res["image_elf_files"] = an.stats["elf"]
            res["graph_edges"] = sum(len(v) for v in an.graph.edges.values())
            res["graph_breakdown_s"] = an.stats["seconds"]
            cache = ParseCache(Cache(cache_dir), artifact.name)
            analyze(artifact, cache)
            t, an = timed(lambda: analyze(artifact, cache), R)
            res["graph_warm_cache_s"] = t
            g = an.graph
            t, (paths, _) = timed(lambda: g.paths(g.match("sshd"), g.match("liblzma"), limit=20), R)
            res["query_sshd_liblzma_s"] = t
            res["query_paths"] = [[e.name for e in p] for p in paths]
            opts = policies.Options.parse({})

            def all_policies():
                a = analyze(artifact, None)
                return [f for check in policies.ALL_CHECKS for f in check(a, opts)]
            t, found = timed(all_policies, 1)
            res["policies_cold_s"] = t
            warm = analyze(artifact, cache)
            [f for check in policies.ALL_CHECKS for f in check(warm, opts)]
            cache.flush()

            def warm_policies():
                a = analyze(artifact, cache)
                return [f for check in policies.ALL_CHECKS for f in check(a, opts)]
            t, found = timed(warm_policies, R)
            res["policies_warm_cache_s"] = t
            res["findings"] = sorted(f"{f.rule_id} {f.severity} {f.location.path}" for f in found)
            cache.close()
        print(f"in-process: load image {res['image_load_s']:.2f} s; graph cold {res['graph_cold_s']:.3f} s "
              f"({res['image_elf_files']} ELF of {res['image_files']} files, {res['graph_edges']} edges), warm "
              f"{res['graph_warm_cache_s']:.3f} s; query {res['query_sshd_liblzma_s'] * 1e3:.2f} ms "
              f"-> {res['query_paths']}; all policies cold {res['policies_cold_s']:.3f} s, warm "
              f"{res['policies_warm_cache_s']:.3f} s", flush=True)

        # -- the whole command ------------------------------------------------------------------------
        exe = [sys.executable, "-m", "provcheck", *OTHERS, "linkage"]
        q = ["--from", "sshd", "--to", "liblzma"]
        cold = [*q, "--set", "elf.cache=false"]
        warm = [*q, "--cache-dir", str(cache_dir)]
        res["cmd_startup_s"] = wall([sys.executable, "-m", "provcheck", *OTHERS, "rules"], R)
        res["cmd_image_cold_s"] = wall([*exe, str(image), *cold], R)
        res["cmd_image_warm_s"] = wall([*exe, str(image), *warm], R)
        res["cmd_rootfs_warm_s"] = wall([*exe, str(rootfs), *warm], R)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    res["speedup_cmd_image_vs_lddtree"] = res["lddtree_s"] / res["cmd_image_warm_s"]
    res["speedup_graph_vs_lddtree"] = res["lddtree_s"] / res["graph_cold_s"]
    res["graph_cold_vs_scanelf"] = res["graph_cold_s"] / res["scanelf_s"]
    res["graph_warm_vs_scanelf"] = res["graph_warm_cache_s"] / res["scanelf_s"]
    print(f"command: start-up {res['cmd_startup_s']:.2f} s; linkage on image cold {res['cmd_image_cold_s']:.2f} s, "
          f"warm {res['cmd_image_warm_s']:.2f} s; on rootfs warm {res['cmd_rootfs_warm_s']:.2f} s", flush=True)
    print(f"ratios: command (image, warm) vs lddtree {res['speedup_cmd_image_vs_lddtree']:.1f}x faster; "
          f"graph vs lddtree {res['speedup_graph_vs_lddtree']:.0f}x faster; graph vs scanelf "
          f"{res['graph_cold_vs_scanelf']:.2f}x (cold) / {res['graph_warm_vs_scanelf']:.2f}x (warm cache)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
