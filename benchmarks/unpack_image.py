"""Unpack-and-hash of a real multi-layer image: provcheck against the floor and the peers.

Builds (once, cached under .cache/) an OCI image from real Debian 12 packages — a base
layer, python3 and build-essential — and prints, in one run:

* the decompression floor: every layer through the system's ``gzip -dc``/``zstd -dc`` to
  /dev/null, one after the other;
* ``tar -xf`` of every layer into a temp dir, then ``sha256sum`` of every file;
* a plain Python loop: ``tarfile`` stream + ``hashlib.sha256`` of every member;
* ``provcheck files IMAGE`` (unpack, hash and store every file, apply whiteouts), its
  ratio to the floor, and its peak RSS.

    python benchmarks/unpack_image.py [--image OCI_LAYOUT] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

LAYERS = [
    ["base-files", "base-passwd", "bash", "bsdutils", "coreutils", "dash", "debianutils", "diffutils", "dpkg",
     "findutils", "grep", "gzip", "hostname", "login", "mawk", "ncurses-base", "perl-base", "sed", "tar",
     "tzdata", "util-linux", "apt", "ca-certificates", "libc-bin"],
    ["python3", "python3-dev", "python3-venv", "python3-setuptools"],
    ["build-essential", "git", "gdb"],
]


def layer_blobs(layout: Path) -> list[Path]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs/sha256" / digest).read_text())
    return [layout / "blobs/sha256" / l["digest"].split(":")[1] for l in manifest["layers"]]


def decompressor(blob: Path) -> list[str]:
    head = blob.open("rb").read(4)
    if head[:2] == b"\x1f\x8b":
        return ["gzip", "-dc"]
    if head == b"\x28\xb5\x2f\xfd":
        return ["zstd", "-dc"]
    return ["cat"]


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def uncompressed_size(blobs: list[Path]) -> int:
    total = 0
    for blob in blobs:
        with subprocess.Popen([*decompressor(blob), str(blob)], stdout=subprocess.PIPE) as proc:
            while block := proc.stdout.read(1 << 20):
                total += len(block)
    return total


def floor_devnull(blobs: list[Path]) -> None:
    for blob in blobs:
        with open(os.devnull, "wb") as null:
            subprocess.run([*decompressor(blob), str(blob)], stdout=null, check=True)


def tar_and_sha256sum(blobs: list[Path]) -> None:
    with tempfile.TemporaryDirectory(dir=ROOT / ".cache") as tmp:
        for i, blob in enumerate(blobs):
            dest = Path(tmp) / str(i)
            dest.mkdir()
            subprocess.run(["tar", "-xf", str(blob), "-C", str(dest)], check=True, stderr=subprocess.DEVNULL)
        subprocess.run(f"find {tmp} -type f -print0 | xargs -0 sha256sum > /dev/null", shell=True, check=True)


def python_loop(blobs: list[Path]) -> None:
    for blob in blobs:
        with tarfile.open(blob, "r|*") as t:
            for member in t:
                if member.isreg():
                    f = t.extractfile(member)
                    h = hashlib.sha256()
                    while block := f.read(1 << 20):
                        h.update(block)


def provcheck_files(layout: Path, fill_cache: bool = False) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, files listed) of ``provcheck files``, one child process: with
    ``--no-cache``, or (``fill_cache``) cold with an empty cache that the run fills."""
    with tempfile.TemporaryDirectory(dir=ROOT / ".cache") as work, open(Path(work) / "out.jsonl", "wb") as out:
        env = {**os.environ, "PROVCHECK_CACHE_DIR": str(Path(work) / "cache")}
        # GNU time's %M: the child's own peak (wait4's ru_maxrss also counts this process's pages, which
        # the child had until its exec: several hundred MB after the loops above)
        rss = Path(work) / "rss"
        t = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), sys.executable, "-m", "provcheck", "files",
                               str(layout), "--work-dir", work, *([] if fill_cache else ["--no-cache"])],
                              stdout=out, stderr=subprocess.DEVNULL, env=env)
        seconds = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit("provcheck files failed")
        out.flush()
        lines = sum(1 for _ in open(Path(work) / "out.jsonl", "rb"))
        peak = int(rss.read_text().split()[-1])
    return seconds, peak, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, help="an OCI layout (default: build the Debian image)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept (default 3)")
    args = parser.parse_args()
    if args.image:
        layout = args.image
    else:
        import realdata
        layout = realdata.image(LAYERS, "bench-build")
    blobs = layer_blobs(layout)
    compressed = sum(b.stat().st_size for b in blobs)
    uncompressed = uncompressed_size(blobs)

    def best(fn) -> float:
        return min(timed(fn) for _ in range(args.repeat))

    t_floor = best(lambda: floor_devnull(blobs))
    t_tar = best(lambda: tar_and_sha256sum(blobs))
    t_py = best(lambda: python_loop(blobs))
    runs = [provcheck_files(layout) for _ in range(args.repeat)]
    t_pc, rss, files = min(runs)
    t_fill, rss_fill, _ = min(provcheck_files(layout, fill_cache=True) for _ in range(args.repeat))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"image: {len(blobs)} layers, {compressed / 1e6:.0f} MB compressed, {uncompressed / 1e6:.0f} MB uncompressed, "
          f"{files} entries listed")
    print(f"{'decompression floor (gzip -dc > /dev/null)':48} {t_floor:7.2f} s")
    print(f"{'tar -xf + sha256sum of every file':48} {t_tar:7.2f} s")
    print(f"{'python tarfile + hashlib loop':48} {t_py:7.2f} s")
    print(f"{'provcheck files (unpack, hash, store, layers)':48} {t_pc:7.2f} s   "
          f"ratio to floor {t_pc / t_floor:.2f}, peak RSS {rss / 1024:.0f} MB")
    print(f"{'provcheck files, cold, filling an empty cache':48} {t_fill:7.2f} s   "
          f"ratio to floor {t_fill / t_floor:.2f}, peak RSS {rss_fill / 1024:.0f} MB")
    print(f"provcheck vs tar+sha256sum: {t_tar / t_pc:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
