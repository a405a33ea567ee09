#!/usr/bin/env python3
"""Regeneration speed (targets: sandboxed chain <= 1.5x the same generators run directly on
the same tree; a repeat run's regeneration <= 0.5 s).

    python benchmarks/regenerate.py RELEASE --source REPO [--ref TAG] [--repeat 3]
    python benchmarks/regenerate.py --project        # the tests' small autotools project

Measures, best of ``--repeat``:

- direct: the chain's commands (aclocal, autoconf, autoheader, automake, msgfmt) run
  directly (no sandbox) in a copy of the trusted input tree regeneration assembled;
- sandboxed: the same commands on the same tree through ``provcheck.sandbox`` (what a cold
  regeneration runs per input tree; with unverified inputs it runs twice);
- cold: the whole regeneration inside ``provcheck release`` with an empty regeneration cache
  (the toolchains already downloaded);
- repeat: the regeneration with the cache filled by the cold run, and the whole command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(release: str, source: str, ref: str | None, cache: Path) -> tuple[float, dict]:
    env = {**os.environ, "PROVCHECK_CACHE_DIR": str(cache)}
    argv = [sys.executable, "-m", "provcheck", "release", release, "--source", source, "--format", "json"]
    if ref:
        argv += ["--ref", ref]
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    return wall, json.loads(proc.stdout)["release"]["regeneration"]


def capture_inputs(release: str, source: str, ref: str | None, work: Path):
    """The trusted input tree, chain and toolchain of the first chain run, captured in-process."""
    from provcheck.testing import Checker

    import provcheck_release
    from provcheck_release import regenerate as rg
    seen: dict = {}
    original = rg._Runner.run

    def spy(self, files, combo):
        seen.setdefault("run", (files, self.chain, combo, set(self.trees.release)))
        return original(self, files, combo)
    rg._Runner.run = spy
    try:
        checker = Checker(work)
        checker.add_plugin(provcheck_release)
        checker.run(release, source=f"git:{source}@{ref}" if ref else source,
                    config={"cache-dir": str(work / "spy-cache")})
    finally:
        rg._Runner.run = original
    return seen["run"]


def direct(files: dict, chain, work: Path) -> float:
    from provcheck_release import regenerate as rg
    tree = work / "direct"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    rg._materialise(files, tree)
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC", "SOURCE_DATE_EPOCH": rg.SOURCE_DATE_EPOCH}
    t = time.perf_counter()
    for _name, argv in chain.steps:
        subprocess.run(argv, cwd=tree, env=env, capture_output=True, check=True)
    return time.perf_counter() - t


def sandboxed(files: dict, chain, combo, release_paths: set, work: Path) -> float:
    from types import SimpleNamespace

    from provcheck_release import regenerate as rg
    runner = rg._Runner(chain, SimpleNamespace(release=release_paths), rg.Options(work_dir=work))
    t = time.perf_counter()
    runner.run(files, combo)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("release", nargs="?")
    ap.add_argument("--source")
    ap.add_argument("--ref")
    ap.add_argument("--project", action="store_true", help="the tests' small autotools project (make dist first)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="regen-bench-") as tmp:
        work = Path(tmp)
        if args.project:
            sys.path.insert(0, str(ROOT / "tests" / "plugins" / "release"))
            import autotools_project as proj
            release = proj.make_dist(work / "project")
            tarball = work / f"{proj.TOP}.tar.gz"
            tarball.write_bytes(proj.tarball_bytes(release))
            repo = work / "hello"
            repo.mkdir()
            for path, text in proj.TAG_FILES.items():
                (repo / path).parent.mkdir(parents=True, exist_ok=True)
                (repo / path).write_text(text)
            for argv in (["git", "init", "-q"], ["git", "add", "-A"],
                         ["git", "-c", "user.name=b", "-c", "user.email=b@example.org", "commit", "-qm", "v1.0"],
                         ["git", "tag", "v1.0"]):
                subprocess.run(argv, cwd=repo, check=True)
            args.release, args.source, args.ref = str(tarball), str(repo), "v1.0"
        if not (args.release and args.source):
            ap.error("RELEASE and --source, or --project")
        files, chain, combo, release_paths = capture_inputs(args.release, args.source, args.ref, work / "capture")
        d = min(direct(files, chain, work) for _ in range(args.repeat))
        s = min(sandboxed(files, chain, combo, release_paths, work) for _ in range(args.repeat))
        colds, repeats, regen = [], [], {}
        warm = work / "warm"  # toolchains (Debian packages, apt indexes) downloaded once, shared by the cold runs
        cli(args.release, args.source, args.ref, warm)
        for i in range(args.repeat):
            cache = work / f"cache-{i}"
            cache.mkdir()
            (cache / "toolchains").symlink_to(warm / "toolchains", target_is_directory=True)
            wall, regen = cli(args.release, args.source, args.ref, cache)
            colds.append((regen["seconds"], wall))
            wall2, regen2 = cli(args.release, args.source, args.ref, cache)
            assert regen2["cached"], regen2
            repeats.append((regen2["seconds"], wall2))
        cold, rep = min(colds), min(repeats)
        print(json.dumps({
            "release": Path(args.release).name, "steps": [n for n, _ in chain.steps],
            "input_files": len(files), "direct_s": round(d, 2), "sandboxed_s": round(s, 2),
            "sandbox_ratio": round(s / d, 2), "cold_regeneration_s": round(cold[0], 2),
            "cold_command_s": round(cold[1], 2), "repeat_regeneration_s": round(rep[0], 3),
            "repeat_command_s": round(rep[1], 2), "second_run_for_unverified_inputs": bool(regen.get("unverified")),
            "counts": regen.get("counts"), "toolchains": regen.get("toolchains"),
            "load_average": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
