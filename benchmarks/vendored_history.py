"""Benchmark for the published-history sets (plugins/provcheck_release/data/history/*.zip).

    .venv/bin/python benchmarks/vendored_history.py [--repeat N] [--release TARBALL --source REPO --ref TAG]

Rows: loading each set (``History.load``: unzip, index) — the cost a release with a gnulib
layout or an m4 file unknown to the m4 database pays once per process; lookups per second
(a miss needs the byte digest and, for a C file, the code form too; measured on the set's own
paths with data of a typical library file's size); with ``--release``, ``provcheck release
--regenerate never`` on that pair (the whole analysis, process start included). Medians of
``--repeat`` runs; the load average is printed (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from provcheck_release.vendored import HISTORY_DIR, History  # noqa: E402


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--release")
    ap.add_argument("--source")
    ap.add_argument("--ref")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cpus, python {sys.version.split()[0]}")
    for path in sorted(HISTORY_DIR.glob("*.zip")):
        h = History.load(path)
        secs = median_time(lambda path=path: History.load(path), args.repeat)
        print(f"load {path.name}: {secs * 1000:.0f} ms ({len(h)} versions, {path.stat().st_size / 1e6:.2f} MB)")
        data = b"/* a library file */\n" + b"int f (int x) { return x + 1; }\n" * 300  # about 10 KB: a miss
        paths = h.paths[:2000]
        n = len(paths)
        secs = median_time(lambda h=h, data=data, paths=paths: [h.match_paths([p], data) for p in paths],
                           args.repeat)
        print(f"  {n / secs:,.0f} misses/s on 10 KB files (byte digest + code form)")
    if args.release and args.source:
        cmd = [sys.executable, "-m", "provcheck", "release", args.release, "--source", args.source,
               "--regenerate", "never", "--format", "json", "-o", os.devnull] + (["--ref", args.ref] if args.ref else [])
        secs = median_time(lambda: subprocess.run(cmd, capture_output=True, check=False), max(1, args.repeat // 2))
        print(f"provcheck release --regenerate never {Path(args.release).name}: {secs:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
