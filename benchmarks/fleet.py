"""Fleet benchmark: a real registry holding >= 20 real Debian images that share a base layer.

Measures (see docs/plugins/fleet.md for recorded results):

1. cold fleet scan of the whole catalog vs the sum of single-image scans (each with an
   empty cache) -- layer reuse;
2. warm re-scan (new inventory, same layer cache) vs cold, and a resumed scan (same
   inventory);
3. throughput in images per minute with the local executor and with a 2-worker Dask
   cluster (scheduler and workers as separate processes on 127.0.0.1);
4. query latency on an inventory of 1,000 images built from the scanned images and
   variants of them (new digests and tags; 5 % carry liblzma5 5.6.1-1).

Usage: .venv/bin/python benchmarks/fleet.py [--apps N] [--no-dask] [--repeat N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "plugins" / "fleet"))
sys.path.insert(0, str(ROOT / "tests"))

import images  # noqa: E402
import servers  # noqa: E402

from provcheck.config import Limits  # noqa: E402
from provcheck_fleet.fleet import FleetOptions, FleetScan  # noqa: E402
from provcheck_fleet.inventory import Inventory  # noqa: E402
from provcheck_fleet.query import run_query  # noqa: E402
from provcheck_fleet.registry import RegistryOptions  # noqa: E402

APPS = [["openssh-server"], ["xz-utils"], ["curl"], ["wget"], ["less"], ["nano"], ["vim-tiny"], ["iproute2"],
        ["iputils-ping"], ["procps"], ["file"], ["jq"], ["sqlite3"], ["zstd"], ["bzip2"], ["unzip"], ["make"],
        ["patch"], ["netcat-openbsd"], ["tree"], ["rsync"], ["socat"]]


def fleet_scan(sources: list[str], db: Path, cache: Path, executor: str = "local", scheduler: str | None = None,
               jobs: int = 2) -> tuple[float, dict]:
    # the fleet's directory in the cache root ``cache`` (as `provcheck fleet scan` passes it):
    # LayerCache keeps its entries in that root, so every ``cache`` is a cache of its own
    opts = FleetOptions(registry=RegistryOptions(plain_http=True), cache_dir=cache / "dirs" / "fleet",
                        executor=executor,
                        scheduler=scheduler, jobs=jobs, limits=Limits())
    (cache / "dirs" / "fleet").mkdir(parents=True, exist_ok=True)
    inv = Inventory(db)
    t = time.perf_counter()
    try:
        stats = FleetScan(opts, inv).run(sources)
    finally:
        inv.close()
    dt = time.perf_counter() - t
    assert stats.images_failed == 0, stats.errors
    return dt, stats.__dict__


def grow_inventory(src: Path, dest: Path, n: int) -> None:
    """Copy the real inventory and add image variants (new digest and tag, same layers) up to n images;
    every 20th variant carries liblzma5 5.6.1-1 instead of bookworm's version."""
    shutil.copyfile(src, dest)
    db = sqlite3.connect(dest)
    real = db.execute("SELECT id FROM images WHERE status='ok' ORDER BY id").fetchall()
    cols = [r[1] for r in db.execute("PRAGMA table_info(images)")][1:]
    lz = db.execute("SELECT * FROM components WHERE name='liblzma5'").fetchone()
    bad = db.execute("INSERT INTO components (purl, type, name, version, source, source_version, arch, origin) "
                     "VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                     (lz[1].replace(lz[4].replace("+", "%2B"), "5.6.1-1"), lz[2], lz[3], "5.6.1-1", lz[5], "5.6.1-1",
                      lz[7], lz[8])).fetchone()[0]
    db.execute("INSERT INTO component_files SELECT ?, path_id FROM component_files WHERE component_id=?", (bad, lz[0]))
    have = len(real)
    i = 0
    while have < n:
        (orig,) = real[i % len(real)]
        row = db.execute(f"SELECT {', '.join(cols)} FROM images WHERE id=?", (orig,)).fetchone()
        vals = dict(zip(cols, row))
        vals["digest"] = "sha256:%064x" % (10**12 + i)
        vals["repository"] = f"variants/{vals['repository']}-{i // len(real)}"
        new = db.execute(f"INSERT INTO images ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) RETURNING id",
                         [vals[c] for c in cols]).fetchone()[0]
        db.execute("INSERT INTO tags SELECT registry, ?, tag, ? FROM tags WHERE image_id=?",
                   (vals["repository"], new, orig))
        db.execute("INSERT INTO image_layers SELECT ?, idx, layer_id FROM image_layers WHERE image_id=?", (new, orig))
        db.execute("INSERT INTO image_components SELECT ?, component_id, layer_id, db_path, answered_by "
                   "FROM image_components WHERE image_id=?", (new, orig))
        if i % 20 == 0:
            db.execute("UPDATE image_components SET component_id=? WHERE image_id=? AND component_id=?",
                       (bad, new, lz[0]))
        have += 1
        i += 1
    db.commit()
    db.close()


def timed_query(db: Path, reps: int = 7, **kw) -> tuple[float, float, dict]:
    times, result = [], None
    for _ in range(reps):
        inv = Inventory(db, readonly=True)
        t = time.perf_counter()
        result = run_query(inv, **kw)
        times.append(time.perf_counter() - t)
        inv.close()
    return statistics.median(times), max(times), result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--apps", type=int, default=len(APPS))
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the cold, warm and resumed scans (median)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--no-singles", action="store_true", help="skip the single-image scans")
    args = ap.parse_args()
    out_load = [round(x, 2) for x in os.getloadavg()]
    out: dict = {"machine": "2-core Debian 12 VM", "data": {}}
    t = time.perf_counter()
    layouts = images.fleet(APPS[: args.apps])
    out["data"]["build_seconds"] = round(time.perf_counter() - t, 1)
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    reg = servers.Registry(work / "registry").start()
    try:
        for name, layout in layouts.items():
            reg.push(layout, f"{'base' if name == 'base' else 'apps/' + name}:1")
        catalog = [f"registry://{reg.host}"]
        refs = [f"registry://{reg.host}/{'base' if n == 'base' else 'apps/' + n}:1" for n in layouts]
        blobs = {p.name: p.stat().st_size for layout in layouts.values()
                 for p in (layout / "blobs" / "sha256").iterdir()}
        blob_bytes = sum(blobs.values())
        out["data"].update(images=len(layouts), registry="docker-registry (CNCF distribution 2.8) on 127.0.0.1",
                           images_desc="Debian 12 base (libc6, bash, coreutils + deps) + one app layer each: "
                                       + ", ".join(" ".join(a) for a in APPS[: args.apps]),
                           distinct_compressed_blob_bytes=blob_bytes)
        print(f"{len(layouts)} images pushed to {reg.host}", file=sys.stderr)

        # paired: each round a cold scan (empty cache, new inventory), then a warm re-scan into a
        # new inventory with that cache, then a resumed scan (the cold run's inventory)
        colds, warms, resumes = [], [], []
        for r in range(args.repeat):
            cache = work / f"cache-{r}"
            dt, cs = fleet_scan(catalog, work / f"cold-{r}.sqlite", cache)
            colds.append(dt)
            dt, ws = fleet_scan(catalog, work / f"warm-{r}.sqlite", cache)
            warms.append(dt)
            dt, rs = fleet_scan(catalog, work / f"cold-{r}.sqlite", cache)
            resumes.append(dt)
            if r != args.repeat - 1:
                shutil.rmtree(cache, ignore_errors=True)
        shutil.copy(work / f"cold-{args.repeat - 1}.sqlite", work / "cold.sqlite")
        cold = statistics.median(colds)
        out["cold"] = {"seconds": round(cold, 2), "runs": [round(c, 2) for c in colds], "layers": cs["layers"],
                       "scanned": cs["layers_scanned"], "bytes_downloaded": cs["bytes_downloaded"],
                       "images_per_minute": round(60 * len(refs) / cold, 1)}
        print("cold", out["cold"], file=sys.stderr)

        if not args.no_singles:
            singles = []
            for i, ref in enumerate(refs):
                dt, _ = fleet_scan([ref], work / f"single-{i}.sqlite", work / f"cache-single-{i}")
                singles.append(dt)
                shutil.rmtree(work / f"cache-single-{i}", ignore_errors=True)
            out["singles"] = {"sum_seconds": round(sum(singles), 2), "mean_seconds": round(statistics.mean(singles), 2),
                              "ratio_sum_over_cold": round(sum(singles) / cold, 2)}
            print("singles", out["singles"], file=sys.stderr)

        warm, resumed = statistics.median(warms), statistics.median(resumes)
        out["warm"] = {"seconds": round(warm, 2), "runs": [round(w, 2) for w in warms],
                       "cache_hits": ws["cache_hits"], "image_cache_hits": ws["image_cache_hits"],
                       "scanned": ws["layers_scanned"], "speedup_vs_cold": round(cold / warm, 1),
                       "paired_ratios": [round(c / w, 1) for c, w in zip(colds, warms)]}
        out["resumed"] = {"seconds": round(resumed, 2), "runs": [round(r, 2) for r in resumes],
                          "images_resumed": rs["images_resumed"], "speedup_vs_cold": round(cold / resumed, 1)}
        print("warm", out["warm"], "resumed", out["resumed"], file=sys.stderr)

        if not args.no_dask:
            cluster = servers.DaskCluster(work / "dask", workers=2).start()
            try:
                dt, ds = fleet_scan(catalog, work / "dask.sqlite", work / "cache-dask", executor="dask",
                                    scheduler=cluster.address)
                pids = [c for p in cluster.procs for c in servers.child_pids(p.pid)]
                exposed = servers.listening_beyond_loopback(pids)
            finally:
                cluster.stop()
            con = sqlite3.connect(work / "dask.sqlite")
            n_comp = con.execute("SELECT count(*) FROM image_components").fetchone()[0]
            con.close()
            con = sqlite3.connect(work / "cold.sqlite")
            n_comp_local = con.execute("SELECT count(*) FROM image_components").fetchone()[0]
            con.close()
            out["dask"] = {"workers": 2, "seconds": round(dt, 2), "images_per_minute": round(60 * len(refs) / dt, 1),
                           "same_inventory_as_local": n_comp == n_comp_local, "listening_beyond_loopback": exposed}
            print("dask", out["dask"], file=sys.stderr)

        big = work / "1000.sqlite"
        grow_inventory(work / "cold.sqlite", big, 1000)
        out["query"] = {"images": 1000, "db_bytes": big.stat().st_size}
        xz = {"id": "TEST-CVE-2024-3094-bookworm", "affected": [{"package": {"ecosystem": "Debian:12", "name": "xz-utils"},
              "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "5.6.0"}, {"fixed": "5.6.1+really5.4.5-1"}]}]}]}
        for label, kw in (("component liblzma5 5.6.0..5.6.1", {"component": "liblzma5", "versions": "5.6.0..5.6.1"}),
                          ("advisory xz-utils 5.6.0-5.6.1 (OSV)", {"advisories": [xz]}),
                          ("component liblzma5, every version (all 1000 images)", {"component": "liblzma5"})):
            med, worst, res = timed_query(big, **kw)
            out["query"][label] = {"median_ms": round(med * 1000, 1), "max_ms": round(worst * 1000, 1),
                                   "affected_images": res["affected_images"],
                                   "with_sshd_chain": sum(1 for a in res["affected"]
                                                          if any(r["binary"] == "usr/sbin/sshd" for r in a["reached_by"]))}
            print(label, out["query"][label], file=sys.stderr)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "provcheck", "query", "--db", str(big), "--component", "liblzma5",
                               "--versions", "5.6.0..5.6.1", "--format", "json"], capture_output=True, text=True)
        out["query"]["cli_wall_seconds_incl_startup"] = round(time.perf_counter() - t, 3)
        assert proc.returncode == 1, proc.stderr
    finally:
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)
    out["load_average"] = {"start": out_load, "end": [round(x, 2) for x in os.getloadavg()]}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
