"""Benchmark for issue 13: lazy hashing of directories and the persistent layer cache.

    .venv/bin/python benchmarks/cache_lazy.py [--repeat N] [--json OUT] [--baseline SRC]
        [--data linkbench|buildtools] [--only rootfs,image,scan,unpack,startup]

Data: the real Debian 12 image ``tests/realdata.py`` builds for ``benchmarks/linkage.py``
(layer 1: libc6, bash, coreutils; layer 2: openssh-server, python3, systemd, curl; all
dependencies) and the same packages as a merged root filesystem; ``--data buildtools``:
the issue's build-tools image of ``benchmarks/buildtools_data.py`` (build-essential, gcc,
g++, python3, perl, openssh-server, systemd, curl) and its root filesystem.

Every comparison is paired: the commands of one row run alternately, ``--repeat`` times,
and the medians are reported (the machine is shared; its load average is printed).
``--baseline SRC`` (a checkout's ``src`` and ``plugins``, e.g. a ``git worktree`` of the
commit before this work) adds the eager loader to the root-filesystem row.

Rows: ``linkage`` on the root filesystem (warm: the file-identity and parse caches
filled by an earlier run; ``parse cache only``: a tree seen for the first time, with the
file-identity cache and everything kept by the tree's identity (``dir-files``,
``dir-tree``, ``elf-analysis``, ``packages-by-shape``) emptied before each run, so every
file is sniffed, every ELF file hashed and the analysis built from the parse results;
``--no-cache``; ``--baseline``'s warm run, with a cache of its own) vs ``lddtree`` (over
the same ELF files) and ``scanelf -R``, paired with what is left of it: ``python -c pass``,
``provcheck --version`` (imports, every plugin) and a bare Python walk of the tree with one
``lstat`` per entry; ``linkage`` on the image with its layers cached;
``scan`` of the image cold (empty cache) and warm; cold unpack+hash (``files --no-cache``)
vs ``gzip -dc`` of the layers, with peak RSS; the cache's size for the image;
``provcheck --version`` and its import-time budget (``-X importtime``: the top-level
imports, cumulative, largest first).

Bytecode: before anything is timed, the code under test (this checkout's ``src/`` and
``plugins/``, and ``--baseline``'s) is byte-compiled with ``compileall``, as installing a
wheel does. Without it, a module edited after its ``.pyc`` was written is compiled again on
every run when the environment sets ``PYTHONDONTWRITEBYTECODE`` (this machine's shells do;
``provcheck/cache.py`` alone cost 11 ms of a warm ``linkage`` that way), and the commands
also run without that variable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import realdata  # noqa: E402
from linkage import elf_files, lddtree_seconds  # noqa: E402

LAYERS = [["libc6", "bash", "coreutils"], ["openssh-server", "python3", "systemd", "curl"]]
QUERY = ["--from", "sshd", "--to", "liblzma"]


# the floor of any Python walk that checks every file's identity: scandir and one lstat per entry
LSTAT_WALK = """import os, sys
stack = [sys.argv[1]]
while stack:
    d = stack.pop()
    with os.scandir(d) as it:
        for e in sorted(it, key=lambda e: e.name):
            if e.is_dir(follow_symlinks=False):
                stack.append(e.path)
            e.stat(follow_symlinks=False)
"""

CPU: dict[tuple[str, ...], list[float]] = {}  # command -> CPU seconds (user + system) of each run
# every command runs in an empty working directory: no provcheck.toml or pyproject.toml of
# this checkout is read, as for a user who runs provcheck elsewhere (set by main)
CWD: dict[str, Path] = {}


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB, measured by GNU time: a child forked from this
    process would count this interpreter's pages too) of one command; its CPU seconds
    (user + system, what load on a shared machine inflates least) go to ``CPU``."""
    with tempfile.NamedTemporaryFile("r") as out:
        t = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", out.name, *cmd], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, cwd=CWD.get("dir"))
        wall = time.perf_counter() - t
        if proc.returncode not in (0, 1) or (proc.returncode == 1 and not proc.stdout):  # 1: findings, with output
            raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}): {proc.stderr[-800:]!r}")
        rss, user, system = out.read().split()[-3:]
        CPU.setdefault(tuple(cmd), []).append(float(user) + float(system))
        return wall, int(rss)


def paired(rows: dict[str, list[str] | tuple], repeat: int, before=None) -> dict[str, dict[str, float]]:
    """Run each command of ``rows`` once per round, ``repeat`` rounds; medians of wall and RSS.
    ``before(name)`` runs untimed before each command (to empty a cache for a cold run)."""
    times: dict[str, list[float]] = {k: [] for k in rows}
    cpu: dict[str, list[float]] = {k: [] for k in rows}
    rss: dict[str, list[int]] = {k: [] for k in rows}
    for _ in range(repeat):
        for name, spec in rows.items():
            cmd, env = (spec, None) if isinstance(spec, list) else spec
            if before is not None:
                before(name)
            w, m = run(cmd, env)
            times[name].append(w)
            cpu[name].append(CPU[tuple(cmd)][-1])
            rss[name].append(m)
    return {k: {"median_s": round(statistics.median(v), 3), "min_s": round(min(v), 3),
                "cpu_median_s": round(statistics.median(cpu[k]), 3),
                "rss_mib": round(statistics.median(rss[k]) / 1024, 1),
                "runs_s": [round(x, 3) for x in v], "cpu_runs_s": [round(x, 3) for x in cpu[k]]}  # per round
            for k, v in times.items()}


def layer_blobs(image: Path) -> list[Path]:
    index = json.loads((image / "index.json").read_text())
    manifest = json.loads((image / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text())
    return [image / "blobs/sha256" / layer["digest"][7:] for layer in manifest["layers"]]


def import_budget(env: dict[str, str], rounds: int = 5) -> dict[str, float]:
    """Milliseconds ``provcheck --version`` spends importing: every top-level import
    (cumulative, so a plugin's count includes what it pulls in), medians of ``rounds``
    runs, the largest first, and ``total``."""
    per: dict[str, list[float]] = {}
    for _ in range(rounds):
        imp = subprocess.run([sys.executable, "-X", "importtime", "-m", "provcheck", "--version"], env=env,
                             capture_output=True, text=True)
        seen: dict[str, float] = {}
        for line in imp.stderr.splitlines():
            if not line.startswith("import time:"):
                continue
            _self, cum, name = line[len("import time:"):].split("|")
            if cum.strip().isdigit() and not name.startswith("  "):  # top level: the name follows one space
                seen[name.strip()] = seen.get(name.strip(), 0.0) + int(cum) / 1000
        seen["total"] = sum(seen.values())
        for k, v in seen.items():
            per.setdefault(k, []).append(v)
    med = {k: round(statistics.median(v), 1) for k, v in per.items() if len(v) == rounds}
    budget = dict(sorted(med.items(), key=lambda kv: -kv[1])[:12])
    # -X importtime does not see modules imported through importlib.import_module (the core's
    # default plugins and every entry-point plugin): their loading is timed as a whole here
    probe = ("import time\nt = time.perf_counter()\nfrom provcheck.plugins import PluginManager\n"
             "t1 = time.perf_counter()\nPluginManager().load()\nprint(time.perf_counter() - t1)")
    loads = [float(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                                  check=True).stdout) for _ in range(rounds)]
    budget["plugin loading (PluginManager.load, in-process)"] = round(1000 * statistics.median(loads), 1)
    return budget


def compile_code(checkouts: list[Path]) -> None:
    """Byte-compile the ``src/`` and ``plugins/`` of each checkout (stale or missing ``.pyc``
    files only), as a wheel's installation does, so no timed run compiles a module."""
    for checkout in checkouts:
        for part in ("src", "plugins"):
            if (checkout / part).is_dir():
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / part)], check=True,
                               stdout=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("--baseline", metavar="SRC", help="a checkout of the eager loader (its src/ and plugins/)")
    ap.add_argument("--data", choices=("linkbench", "buildtools"), default="linkbench")
    ap.add_argument("--only", default="rootfs,image,scan,unpack,startup", help="comma-separated parts to run")
    args = ap.parse_args()
    R = args.repeat
    parts = set(args.only.split(","))
    if args.data == "buildtools":
        import buildtools_data
        image, rootfs = buildtools_data.image(), buildtools_data.rootfs()
    else:
        image = realdata.image(LAYERS, "linkbench")
        rootfs = realdata.rootfs([p for group in LAYERS for p in group], "linkbench")
    elves = ["/" + str(p.relative_to(rootfs)) for p in elf_files(rootfs)]   # paths inside the root, for lddtree -R
    blobs = layer_blobs(image)
    res: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release(),
                    "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
        "data": {"image": image.name, "layers_bytes": sum(b.stat().st_size for b in blobs), "layers": len(blobs),
                 "rootfs_elf_files": len(elves),
                 "rootfs_files": sum(len(f) for _d, _n, f in os.walk(rootfs))}}
    compile_code([ROOT] + ([Path(args.baseline)] if args.baseline else []))
    print(json.dumps(res), flush=True)
    work = Path(tempfile.mkdtemp(prefix="cache-bench-"))
    CWD["dir"] = work / "cwd"
    CWD["dir"].mkdir()
    try:
        exe = [sys.executable, "-m", "provcheck"]
        # bytecode is written and reused, as for an installed provcheck (a PYTHONDONTWRITEBYTECODE
        # environment recompiles every module on every start: +0.3 s a command on this machine)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_") and k != "PYTHONDONTWRITEBYTECODE"}
        env["PROVCHECK_CACHE_DIR"] = str(work / "cache")
        subprocess.run([*exe, "--version"], env=env, capture_output=True)
        linkage = [*exe, "linkage", "--format", "json", *QUERY]

        # 1. linkage on the root filesystem (caches warm: a second question on the same tree)
        if "rootfs" in parts:
            rows: dict[str, list[str] | tuple] = {
                "provcheck_linkage_rootfs": ([*linkage, str(rootfs)], env),
                "provcheck_linkage_rootfs_parse_cache_only": ([*linkage, str(rootfs)], env),
                "scanelf": ["scanelf", "-R", "-n", "-q", str(rootfs)],
                # what is left, paired with the rows above: the interpreter, provcheck's start-up
                # (imports and every plugin), and a bare Python walk with one lstat per entry
                "python_bare": ([sys.executable, "-c", "pass"], env),
                "provcheck_version": ([*exe, "--version"], env),
                "python_lstat_walk": ([sys.executable, "-c", LSTAT_WALK, str(rootfs)], env),
            }
            if args.baseline:
                base_env = dict(env, PYTHONPATH=f"{args.baseline}/src:{args.baseline}/plugins",
                                PROVCHECK_CACHE_DIR=str(work / "cache-baseline"))  # its own, always warm
                subprocess.run([*exe, "--version"], env=base_env, capture_output=True)
                rows["eager_linkage_rootfs"] = ([*linkage, str(rootfs)], base_env)
            run([*linkage, str(rootfs)], env)  # fills the ELF parse cache and the file-identity cache once
            if args.baseline:  # and the baseline's own entries (its code is another cache version)
                run([*linkage, str(rootfs)], base_env)

            def identity_cache(name: str) -> None:
                if name.endswith("parse_cache_only"):  # a tree seen for the first time (this run writes them again)
                    for namespace in ("dir-files", "dir-tree", "elf-analysis", "packages-by-shape"):
                        shutil.rmtree(work / "cache" / "entries" / namespace, ignore_errors=True)

            res["rootfs"] = paired(rows, R, before=identity_cache)
            res["rootfs"]["provcheck_linkage_rootfs_no_cache"] = paired(
                {"x": ([*linkage, "--no-cache", str(rootfs)], env)}, R)["x"]
            if shutil.which("lddtree"):  # a Python program: one run is seconds to minutes of work
                res["rootfs"]["lddtree"] = {"median_s": round(lddtree_seconds(rootfs, elves), 3), "runs": 1}
            res["rootfs"]["loadavg"] = [round(x, 2) for x in os.getloadavg()]
            print(json.dumps({"rootfs": res["rootfs"]}), flush=True)

        if "image" in parts:
            # 2. the image: cold (empty cache) and warm, scan and linkage
            def empty(name: str) -> None:
                if name.endswith("cold"):
                    shutil.rmtree(work / "cache", ignore_errors=True)

            image_rows: dict[str, list[str] | tuple] = {
                "linkage_cold": ([*linkage, str(image)], env),
                "linkage_warm": ([*linkage, str(image)], env),
            }
            if "scan" in parts:
                image_rows = {"scan_cold": ([*exe, "scan", "--format", "json", str(image)], env),
                              "scan_warm": ([*exe, "scan", "--format", "json", str(image)], env), **image_rows}
            res["image"] = paired(image_rows, R, before=empty)
            info = subprocess.run([*exe, "cache", "info", "--format", "json"], env=env, capture_output=True, text=True)
            res["cache_after_image"] = json.loads(info.stdout)["namespaces"]
            print(json.dumps({"image": res["image"], "cache": res["cache_after_image"]}), flush=True)
            res["image_loadavg"] = [round(x, 2) for x in os.getloadavg()]

        if "unpack" in parts:
            # 3. cold unpack + hash vs a single gzip -dc of the layers
            gz = ["sh", "-c", " && ".join(f"gzip -dc {b} >/dev/null" for b in blobs)]
            res["unpack"] = paired({"files_no_cache": ([*exe, "files", "--no-cache", str(image)], env),
                                    "gzip_dc": gz}, R)
            print(json.dumps({"unpack": res["unpack"]}), flush=True)

        # 4. start-up, and what importing costs
        if "startup" in parts:
            script = shutil.which("provcheck", path=os.path.dirname(sys.executable))
            rows = {"version": ([*exe, "--version"], env), "python_bare": ([sys.executable, "-c", "pass"], env)}
            if script:
                rows["version_script"] = ([script, "--version"], env)
            res["startup"] = paired(rows, max(R, 5))
            res["startup"]["import_budget_ms"] = import_budget(env)
            res["startup"]["loadavg"] = [round(x, 2) for x in os.getloadavg()]
        res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]  # type: ignore[index]
        print(json.dumps({"startup": res.get("startup"), "loadavg_end": res["machine"]["loadavg_end"]}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
