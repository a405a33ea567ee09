"""Benchmark: provcheck.formats.elf against the ELF reader of another git revision, per file.

    .venv/bin/python benchmarks/elf_reader.py [--against REV:PATH] [--repeat N]

Data: every ELF file of the root filesystem of benchmarks/linkage.py (a real Debian 12
root filesystem: libc6, bash, coreutils, openssh-server, python3, systemd, curl and their
dependencies; built and cached by tests/realdata.py). Both readers parse the same files in
the same process, alternating (and swapping which goes first), best of N, in CPU time of
this process (so other work on a shared machine counts less); the bulk pass and the deep pass.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import realdata  # noqa: E402
from linkage import LAYERS, elf_files  # noqa: E402

from provcheck.formats import elf  # noqa: E402


def old_reader(spec: str):
    rev, path = spec.split(":", 1)
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], capture_output=True, text=True,
                          check=True).stdout
    tmp = Path(tempfile.mkdtemp()) / "old_elf.py"
    tmp.write_text(text)
    s = importlib.util.spec_from_file_location("old_elf", tmp)
    mod = importlib.util.module_from_spec(s)
    s.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", default="e8c2b86:plugins/provcheck_elf/elfread.py")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rootfs = realdata.rootfs([p for group in LAYERS for p in group], "linkbench")
    files = elf_files(rootfs)
    old = old_reader(args.against)
    print(f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{len(files)} ELF files of {rootfs.name}")
    best: dict[tuple[str, bool], float] = {}
    for i in range(args.repeat):
        order = [("before", old), ("after", elf)]
        for name, mod in (order if i % 2 == 0 else order[::-1]):
            for deep in (False, True):
                t = time.process_time()
                for p in files:
                    try:
                        mod.parse_file(p, deep=deep)
                    except mod.ElfError:
                        pass
                dt = time.process_time() - t
                best[name, deep] = min(best.get((name, deep), dt), dt)
    for deep in (False, True):
        b, a = best["before", deep] / len(files) * 1e3, best["after", deep] / len(files) * 1e3
        name = "deep" if deep else "bulk"
        print(f"{name}: before {b:.4f} ms/file, after {a:.4f} ms/file ({(a / b - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
