"""Sandbox and toolchain benchmark (results in docs/sandbox.md).

Measures:

1. start-up overhead: ``true`` run plainly, under the bare bwrap command line that
   ``provcheck.sandbox`` builds, and through ``sandbox.run`` (limits, polling, clean-up);
   median of ``--repeat`` runs each;
2. the same generator on the same tree, directly and through ``sandbox.run``
   (``autoconf`` of a small ``configure.ac``, the system's autoconf);
3. toolchain resolution (``toolchain.flavours``): warm (everything cached), unpack-cold
   (signed indexes and ``.deb`` cached, unpacked trees not) and, with ``--cold``, fully
   cold (empty cache: every suite's ``apt-get update``, the download and the unpack).

Usage: .venv/bin/python benchmarks/sandbox.py [--repeat N] [--cold] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from provcheck import sandbox
from provcheck_release import toolchain

ROOT = Path(__file__).resolve().parent.parent
CONFIGURE_AC = "AC_INIT([demo],[1.0])\nAC_CONFIG_HEADERS([config.h])\nAC_CHECK_HEADERS([stdio.h])\nAC_OUTPUT\n"


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--cold", action="store_true", help="also resolve with an empty cache (downloads ~100 MB)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if sandbox.unavailable_reason():
        raise SystemExit(f"no sandbox: {sandbox.unavailable_reason()}")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="provcheck-bench-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        uid = sandbox._sandbox_uid()
        if uid is not None:
            os.chown(work, uid, uid)
        bare = [*sandbox.bwrap_args(work, uid=uid), "--", *sandbox._user_prefix(uid), "/bin/true"]
        results["true_plain_s"] = median_seconds(lambda: subprocess.run(["/bin/true"], check=True), args.repeat)
        results["true_bwrap_s"] = median_seconds(lambda: subprocess.run(bare, check=True), args.repeat)
        results["true_sandbox_run_s"] = median_seconds(
            lambda: sandbox.run(["/bin/true"], workdir=work), args.repeat)

        def autoconf(runner):
            def once():
                for p in work.iterdir():
                    if p.is_dir():
                        subprocess.run(["rm", "-rf", str(p)], check=True)
                    else:
                        p.unlink()
                (work / "configure.ac").write_text(CONFIGURE_AC)
                runner()
            return once
        results["autoconf_plain_s"] = median_seconds(autoconf(lambda: subprocess.run(
            ["autoconf"], cwd=work, check=True, env={"PATH": sandbox.PATH, "LC_ALL": "C"})), max(5, args.repeat // 4))
        def sandboxed_autoconf():
            res = sandbox.run(["autoconf"], workdir=work)
            if not res.ok:
                raise SystemExit(f"autoconf failed in the sandbox: {res.stderr[-500:]!r}")
        results["autoconf_sandbox_s"] = median_seconds(autoconf(sandboxed_autoconf), max(5, args.repeat // 4))

        shared = ROOT / ".cache" / "toolchains"
        toolchain.flavours("autoconf", "2.72", cache_dir=shared)     # make sure the shared cache is warm
        results["resolve_warm_s"] = median_seconds(
            lambda: toolchain.flavours("autoconf", "2.72", cache_dir=shared), args.repeat)
        unpack_cold = []
        for i in range(3):
            private = Path(tmp) / f"cache{i}"
            private.mkdir()
            (private / "apt").symlink_to(shared / "apt")
            (private / "debs").symlink_to(shared / "debs")
            start = time.perf_counter()
            toolchain.flavours("autoconf", "2.72", cache_dir=private, download=False)
            unpack_cold.append(time.perf_counter() - start)
        results["resolve_unpack_cold_s"] = statistics.median(unpack_cold)
        if args.cold:
            start = time.perf_counter()
            toolchain.flavours("autoconf", "2.72", cache_dir=Path(tmp) / "empty")
            results["resolve_cold_s"] = time.perf_counter() - start
    results["overhead_bwrap_ms"] = 1000 * (results["true_bwrap_s"] - results["true_plain_s"])
    results["overhead_sandbox_run_ms"] = 1000 * (results["true_sandbox_run_s"] - results["true_plain_s"])
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, as uid {os.getuid()}"
    for key, value in results.items():
        print(f"{key:28s} {value:10.4f}")
    print(f"machine: {machine}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, **results}, indent=1))


if __name__ == "__main__":
    main()
