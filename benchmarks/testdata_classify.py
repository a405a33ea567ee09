#!/usr/bin/env python3
"""Throughput of the testdata detector's classification pass (target: >= 50 MB/s, one core).

The classification pass is what runs over every file: read the head, text or binary,
magic, name claims, and the sampled entropy profile of binary files. Decoding is timed
separately and has its own budget (``decode-seconds`` per file, ``decode-total-seconds``).

    python benchmarks/testdata_classify.py [--mirrors DIR] [--synthetic-mb 256]

With ``--mirrors`` (``<owner>+<name>/repo`` git dirs) the corpus is the test
directories of real repositories at fixed tags, loaded through provcheck's git loader;
otherwise (or in addition) a synthetic corpus of compressed, random, structured and text
files is written to a temp dir. Loading (git cat-file into the blob store) is not timed.
"""

from __future__ import annotations

import argparse
import lzma
import os
import random
import tempfile
import time
import zlib
from pathlib import Path

from provcheck.config import InputSpec, build_config
from provcheck.engine import LoadContext
from provcheck.plugins import PluginManager
from provcheck.vfs import BlobStore

REAL = [("tukaani-project+xz", "v5.4.6"), ("facebook+zstd", "v1.5.6"), ("file+file", "FILE5_48"),
        ("libarchive+libarchive", "v3.8.9"), ("curl+curl", "curl-8_21_0")]


class _Scan:
    def __init__(self) -> None:
        self.errors: list = []


def synthetic(root: Path, mb: int) -> None:
    rng = random.Random(1)
    total = 0
    i = 0
    while total < mb << 20:
        kind = i % 5
        size = rng.choice([4 << 10, 64 << 10, 512 << 10, 4 << 20])
        if kind == 0:
            data = rng.randbytes(size)
        elif kind == 1:
            data = lzma.compress(rng.randbytes(size // 4) + bytes(size // 4), preset=0)
        elif kind == 2:
            data = zlib.compress(b"".join(b"line %d of a log file\n" % j for j in range(size // 24)))
        elif kind == 3:
            data = bytes(size // 2) + rng.randbytes(size // 2)
        else:
            data = (b"plain text fixture\n" * (size // 19))
        (root / "tests" / "files").mkdir(parents=True, exist_ok=True)
        (root / "tests" / "files" / f"f{i:05d}.bin").write_bytes(data)
        total += len(data)
        i += 1


def bench(label: str, specs: list[InputSpec], work: Path) -> None:
    import provcheck_testdata as td
    pm = PluginManager()
    pm.load(autoload=False)
    config = build_config({}, "bench", inputs=specs)
    ctx = LoadContext(pm, BlobStore(work / "blobs"), config)
    artifacts = [ctx.load(s) for s in specs]
    for artifact in artifacts:
        files = [n for n in artifact.tree.files() if "test" in n.path.lower()]
        artifact.tree.nodes = {n.path: n for n in files}
        a = td.Analyzer(_Scan(), artifact, td.Options(), None)
        t = time.perf_counter()
        a.classify()
        secs = time.perf_counter() - t
        binaries = [i for i in a.infos if i.binary]
        total = sum(n.size for n in files)
        bin_bytes = sum(i.node.size for i in binaries)
        t = time.perf_counter()
        maps: list = []
        for info in binaries:
            a.decode_file(info, maps)
        dsecs = time.perf_counter() - t
        from provcheck_testdata import entropy
        read = sum(min(i.node.size, max(td.HEAD, entropy.MAX_BLOCKS * entropy.BLOCK)) if i.binary
                   else min(i.node.size, td.TEXT_MAX) for i in a.infos)
        print(f"| {label} {artifact.name} | {len(files)} files, {total / 1e6:.1f} MB | {len(binaries)} binary, "
              f"{bin_bytes / 1e6:.1f} MB | {secs:.2f} s | **{total / 1e6 / secs:.0f} MB/s**, "
              f"{len(files) / secs:.0f} files/s (bytes read: {read / 1e6 / secs:.0f} MB/s) | {dsecs:.2f} s |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirrors", type=Path)
    ap.add_argument("--synthetic-mb", type=int, default=256)
    args = ap.parse_args()
    print("| corpus | test files | binary | classify | throughput | decode pass (own budget) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="pc-bench-") as tmp:
        work = Path(tmp)
        if args.mirrors:
            for mirror, tag in REAL:
                repo = args.mirrors / mirror / "repo"
                if repo.is_dir():
                    bench("git", [InputSpec.parse(f"git:{repo}@{tag}")], work)
        if args.synthetic_mb:
            root = work / "synthetic"
            synthetic(root, args.synthetic_mb)
            bench("synthetic", [InputSpec.parse(str(root))], work)
    print(f"\n(one process, one core; {os.cpu_count()} CPUs on the machine)")


if __name__ == "__main__":
    main()
