"""Benchmark for issue 13: ``scan`` of an image, cold vs warm (layers and detector results cached).

    .venv/bin/python benchmarks/detector_cache.py [--repeat N] [--image PATH] [--json OUT]

Data: by default the ``linkbench`` image of ``benchmarks/linkage.py`` (real Debian 12
packages, 2 layers; ``tests/realdata.py`` builds it); ``--image`` takes any OCI layout (the
build-tools image of ``benchmarks/buildtools_data.py``, for one).

Paired: each round runs the cold scan (the cache emptied first) and then the warm scan, so
both see the same load; the per-round ratios and their median are reported, of wall time and of
CPU time (user + system, which a shared machine's load inflates least), with the load average
before and after. Whole commands, wall time, bytecode
cached. After the rounds, one more cold/warm pair checks that the warm report is exactly
the cold one (findings with fingerprints and hashes, errors, artifacts, summary) and keeps
both reports' ``stats`` (seconds per plugin, detector-result hits and misses).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import realdata  # noqa: E402

LAYERS = [["libc6", "bash", "coreutils"], ["openssh-server", "python3", "systemd", "curl"]]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--image", type=Path, help="an OCI layout (default: the linkbench image)")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    image = args.image or realdata.image(LAYERS, "linkbench")
    work = Path(tempfile.mkdtemp(prefix="detector-cache-bench-"))
    # bytecode is written and reused, as for an installed provcheck
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PROVCHECK_CACHE_DIR"] = str(work / "cache")
    scan = [sys.executable, "-m", "provcheck", "scan", "--format", "json", str(image)]
    res: dict[str, object] = {"image": image.name, "cpus": os.cpu_count(), "loadavg_start": load()}

    cpu: list[float] = []  # CPU seconds (user + system) of each run, what load inflates least

    def once() -> tuple[float, dict]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(scan, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"scan failed ({proc.returncode}): {proc.stderr[-800:]}")
        return wall, json.loads(proc.stdout)

    try:
        subprocess.run([sys.executable, "-m", "provcheck", "--version"], env=env, capture_output=True)
        cold, warm, cold_cpu, warm_cpu = [], [], [], []
        for _ in range(args.repeat):
            shutil.rmtree(work / "cache", ignore_errors=True)
            cold.append(once()[0])
            cold_cpu.append(cpu[-1])
            warm.append(once()[0])
            warm_cpu.append(cpu[-1])
        ratios = [c / w for c, w in zip(cold, warm)]
        cpu_ratios = [c / w for c, w in zip(cold_cpu, warm_cpu)]
        res.update(cold_s={"median": round(statistics.median(cold), 3), "runs": [round(x, 3) for x in cold]},
                   warm_s={"median": round(statistics.median(warm), 3), "runs": [round(x, 3) for x in warm]},
                   cold_over_warm={"median": round(statistics.median(ratios), 2),
                                   "rounds": [round(x, 2) for x in ratios]},
                   cold_cpu_s={"median": round(statistics.median(cold_cpu), 3),
                               "runs": [round(x, 3) for x in cold_cpu]},
                   warm_cpu_s={"median": round(statistics.median(warm_cpu), 3),
                               "runs": [round(x, 3) for x in warm_cpu]},
                   cold_over_warm_cpu={"median": round(statistics.median(cpu_ratios), 2),
                                       "rounds": [round(x, 2) for x in cpu_ratios]},
                   loadavg_end=load())
        shutil.rmtree(work / "cache", ignore_errors=True)
        (_, a), (_, b) = once(), once()
        res["warm_report_equals_cold"] = all(a[k] == b[k] for k in ("findings", "errors", "artifacts", "summary"))
        res["stats_cold"], res["stats_warm"] = a["stats"], b["stats"]
        info = subprocess.run([sys.executable, "-m", "provcheck", "cache", "info", "--format", "json"], env=env,
                              capture_output=True, text=True)
        res["cache"] = json.loads(info.stdout)["namespaces"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
