#!/usr/bin/env python3
"""What the reader emulation (PC212) costs: each tree scanned with ``testdata.pipelines`` on and
off, alternately, ``--rounds`` times (the machine is shared: alternating spreads its load over both),
plus the readers emulated, their total CPU time and the slowest one::

    python benchmarks/testdata_pipelines.py --mirrors DIR [--rounds 3]

``--mirrors`` holds ``<owner>+<name>/repo`` git directories, read at fixed tags.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))

TREES = [("xz-utils 5.6.1", "tukaani-project+xz", "v5.6.1"), ("zstd 1.5.6", "facebook+zstd", "v1.5.6"),
         ("libarchive 3.8.9", "libarchive+libarchive", "v3.8.9"), ("curl 8.21.0", "curl+curl", "curl-8_21_0"),
         ("file 5.48", "file+file", "FILE5_48"), ("pcre2 10.47", "PCRE2Project+pcre2", "pcre2-10.47"),
         ("libpng 1.6.58", "pnggroup+libpng", "v1.6.58"), ("busybox 1.36.1", "mirror+busybox", "1_36_1")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirrors", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import testdata_eval as te
    from provcheck.config import InputSpec
    import provcheck_testdata.pipeline as pl
    readers: list[tuple[float, str]] = []
    original = pl.trace_reader

    def timed(*a, **k):
        t = time.process_time()
        try:
            return original(*a, **k)
        finally:
            readers.append((time.process_time() - t, a[0]))
    pl.trace_reader = timed
    print("| tree | scan CPU (wall), pipelines off | scan CPU (wall), pipelines on | readers emulated | their CPU "
          "time | slowest reader |")
    print("|---|---|---|---|---|---|")
    for label, mirror, tag in TREES:
        repo = args.mirrors / mirror / "repo"
        if not repo.is_dir():
            print(f"| {label} | skipped (no mirror) | | | | |")
            continue
        spec = InputSpec.parse(f"git:{repo}@{tag}")
        on, off = [], []
        for _ in range(args.rounds):
            for enabled, times in ((False, off), (True, on)):
                te.PLUGIN_OPTIONS["pipelines"] = enabled
                readers.clear()
                cpu = time.process_time()
                wall = te.scan([spec])[1]
                times.append((time.process_time() - cpu, wall))
        slow = max(readers, default=(0.0, "-"))

        def fmt(xs):
            return f"{statistics.median(c for c, _ in xs):.1f} s ({statistics.median(w for _, w in xs):.1f} s)"
        print(f"| {label} | {fmt(off)} | {fmt(on)} | {len(readers)} "
              f"| {sum(t for t, _ in readers):.1f} s | {slow[1]} ({slow[0]:.1f} s) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
