#!/usr/bin/env python3
"""Run the testdata detector (PC2xx) over real source trees and count what it reports.

Inputs are git repositories (read through provcheck's git loader at a tag, never
checked out or committed here) and, optionally, Debian orig tarballs paired with the
git tag they were made from::

    python eval/testdata_eval.py --mirrors DIR [--debian-dir DIR] [--json OUT]

``--mirrors`` holds ``<owner>+<name>/repo`` git directories (one per project below);
``--debian-dir`` holds the ``*.orig.tar.*`` files ``apt-get source --download-only``
fetches (``xz-utils``, ``libarchive``, ``expat``, ``libzstd=1.5.4+dfsg2-5``, ``lz4``, ``file``, ``busybox``).
``--variants`` instead plants every payload variant of ``eval/testdata_variants.py`` (one commit
each) in a clean tree and counts how many the detector catches. Projects whose repository or tarball
is missing are listed as skipped. Results are printed as a Markdown table plus one line
per finding; ``--json`` also writes the full reports.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from provcheck.config import InputSpec, build_config
from provcheck.engine import WorkArea, run
from provcheck.plugins import PluginManager

# (label, mirror dir, tag, expectation)
GIT_TREES = [
    ("xz-utils 5.4.6", "tukaani-project+xz", "v5.4.6", "clean"),
    ("xz-utils 5.6.1 (backdoored git tree, control)", "tukaani-project+xz", "v5.6.1", "payload"),
    ("zstd 1.5.6", "facebook+zstd", "v1.5.6", "clean"),
    ("libarchive 3.8.9", "libarchive+libarchive", "v3.8.9", "clean"),
    ("curl 8.21.0", "curl+curl", "curl-8_21_0", "clean"),
    ("file 5.48", "file+file", "FILE5_48", "clean"),
    ("pcre2 10.47", "PCRE2Project+pcre2", "pcre2-10.47", "clean"),
    ("expat 2.8.3", "libexpat+libexpat", "R_2_8_3", "clean"),
    ("brotli 1.2.0", "google+brotli", "v1.2.0", "clean"),
    ("lz4 1.10.0", "lz4+lz4", "v1.10.0", "clean"),
    ("zlib 1.3.1", "madler+zlib", "v1.3.1", "clean"),
    ("libpng 1.6.58", "pnggroup+libpng", "v1.6.58", "clean"),
    ("busybox 1.36.1 (base64/uuencoded fixtures in test scripts)", "mirror+busybox", "1_36_1", "clean"),
]
# (label, orig tarball glob, mirror dir, tag to pair with or None)
RELEASES = [
    ("xz-utils 5.4.1 Debian orig vs git v5.4.1", "xz-utils_5.4.1.orig.tar.*", "tukaani-project+xz", "v5.4.1"),
    ("libarchive 3.6.2 Debian orig vs git v3.6.2", "libarchive_3.6.2.orig.tar.*", "libarchive+libarchive", "v3.6.2"),
    ("expat 2.5.0 Debian orig (no pairing: git keeps it in a subdirectory)", "expat_2.5.0.orig.tar.*", None, None),
    ("zstd 1.5.4 Debian orig (+dfsg) vs git v1.5.4", "libzstd_1.5.4+dfsg2.orig.tar.xz", "facebook+zstd", "v1.5.4"),
    ("lz4 1.9.4 Debian orig vs git v1.9.4", "lz4_1.9.4.orig.tar.gz", "lz4+lz4", "v1.9.4"),
    ("file 5.44 Debian orig vs git FILE5_44", "file_5.44.orig.tar.*", "file+file", "FILE5_44"),
    ("busybox 1.35.0 Debian orig vs git 1_35_0", "busybox_1.35.0.orig.tar.*", "mirror+busybox", "1_35_0"),
]


DEBIAN_SOURCES = ["xz-utils", "libarchive", "expat", "libzstd=1.5.4+dfsg2-5", "lz4", "file", "busybox"]


def fetch_debian(dest: Path) -> None:
    """Orig tarballs through apt (deb-src must be enabled); a package apt cannot fetch is reported."""
    import subprocess
    dest.mkdir(parents=True, exist_ok=True)
    for pkg in DEBIAN_SOURCES:
        proc = subprocess.run(["apt-get", "source", "--download-only", pkg], cwd=dest, capture_output=True, text=True)
        if proc.returncode:
            print(f"apt-get source {pkg}: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)


PLUGIN_OPTIONS: dict = {}


def scan(specs: list[InputSpec]) -> tuple[dict, float, dict]:
    import provcheck_testdata
    pm = PluginManager()
    pm.load(autoload=False)
    pm.register(provcheck_testdata, name="testdata")
    config = build_config({"select": ["PC2"], "plugins": {"testdata": dict(PLUGIN_OPTIONS)}}, "eval", inputs=specs)
    started = time.monotonic()
    with WorkArea(config) as work:
        report = run(config, pm, work)
        target = next((a for a in report.artifacts if a.role == "target"), None)
        if target is None:
            raise LookupError("; ".join(e.message for e in report.errors))
        files = [n for n in target.tree.files()]
        stats = {"files": len(files), "bytes": sum(n.size for n in files)}
        stats.update(_binary_stats(target))
    out = report.to_dict()
    out["plugin_seconds"] = report.stats["seconds"]
    return out, time.monotonic() - started, stats


def _binary_stats(artifact) -> dict:
    import provcheck_testdata.decode as dec
    import provcheck_testdata.magic as magic
    n = size = uu = 0
    for node in artifact.tree.files():
        with artifact.tree.open(node) as f:
            head = f.read(8192)
            if magic.is_binary(head):
                n += 1
                size += node.size
            elif dec.UU_BEGIN.match(head):
                uu += 1
    return {"binary_files": n, "binary_bytes": size, "uuencoded_files": uu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirrors", type=Path, required=True, help="directory of <owner>+<name>/repo git dirs")
    ap.add_argument("--debian-dir", type=Path, help="directory with Debian *.orig.tar.* files")
    ap.add_argument("--json", type=Path, help="write the full reports here")
    ap.add_argument("--no-pipelines", action="store_true",
                    help="scan without the pipeline emulation (testdata.pipelines=false), to measure its cost")
    ap.add_argument("--variants", action="store_true",
                    help="plant each payload variant of eval/testdata_variants.py in a clean tree and count catches")
    ap.add_argument("--variant-base", default="madler+zlib@v1.3.1", help="MIRROR@TAG the variants are planted in")
    ap.add_argument("--fetch-debian", action="store_true",
                    help="first run `apt-get source --download-only` for the tarballs into --debian-dir")
    args = ap.parse_args(argv)
    if args.fetch_debian:
        if not args.debian_dir:
            ap.error("--fetch-debian needs --debian-dir")
        fetch_debian(args.debian_dir)

    if args.no_pipelines:
        PLUGIN_OPTIONS["pipelines"] = False
    if args.variants:
        return run_variants(args.mirrors, args.variant_base, args.json)

    rows, details, full = [], [], {}
    jobs = []
    for label, mirror, tag, expect in GIT_TREES:
        repo = args.mirrors / mirror / "repo"
        jobs.append((label, expect, [InputSpec.parse(f"git:{repo}@{tag}")] if repo.is_dir() else None))
    for label, pattern, mirror, tag in RELEASES:
        tarballs = sorted(args.debian_dir.glob(pattern)) if args.debian_dir else []
        specs = None
        if tarballs:
            specs = [InputSpec.parse(str(tarballs[0]))]
            repo = args.mirrors / mirror / "repo" if mirror else None
            if repo is not None and repo.is_dir():
                specs.append(InputSpec.parse(f"git:{repo}@{tag}", role="source"))
        jobs.append((label, "clean", specs))

    for label, expect, specs in jobs:
        if specs is None:
            rows.append(f"| {label} | skipped (input missing) | | | | | |")
            continue
        try:
            report, seconds, stats = scan(specs)
        except LookupError as exc:
            rows.append(f"| {label} | skipped: {str(exc)[:160]} | | | | | |")
            continue
        s = report["summary"]
        rows.append(f"| {label} | {stats['files']} | {stats['binary_files']} ({stats['binary_bytes'] / 1e6:.1f} MB)"
                    + (f" + {stats['uuencoded_files']} uuencoded" if stats["uuencoded_files"] else "") + " "
                    f"| {s['critical']} | {s['high']} | {s['medium']} | {s['low'] + s['info']} | {seconds:.1f} s |"
                    + (" errors: " + "; ".join(e["message"] for e in report["errors"]) if report["errors"] else ""))
        for f in report["findings"]:
            details.append(f"- **{label}** `{f['rule_id']}` {f['severity']}: {f['message'][:260]}")
        full[label] = {"expect": expect, "seconds": round(seconds, 2), "stats": stats, "report": report}

    print("| tree | files | binary files | critical | high | medium | low/info | time |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("\n".join(details))
    if args.json:
        args.json.write_text(json.dumps(full, indent=1, default=str))
    bad = [label for label, r in full.items() if r["expect"] == "clean"
           and (r["report"]["summary"]["critical"] or r["report"]["summary"]["high"])]
    missed = [label for label, r in full.items() if r["expect"] == "payload" and not r["report"]["summary"]["critical"]]
    if bad or missed:
        print(f"\nFAIL: high/critical on clean trees: {bad}; payload missed: {missed}", file=sys.stderr)
        return 1
    return 0


def run_variants(mirrors: Path, base: str, json_out: Path | None) -> int:
    """Plant each variant as one commit on a clean tree (exported from its tag), scan, count."""
    import shutil
    import subprocess
    import tempfile
    sys.path.insert(0, str(Path(__file__).parent))
    import testdata_variants as tv
    mirror, tag = base.split("@", 1)
    src = mirrors / mirror / "repo"
    work = Path(tempfile.mkdtemp(prefix="pc-variants-"))
    git = ["git", "-c", "user.name=eval", "-c", "user.email=eval@localhost", "-c", "commit.gpgsign=false"]
    try:
        clean = work / "clean"
        clean.mkdir()
        archive = subprocess.run(["git", "-C", str(src), "archive", tag], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(clean)], input=archive, check=True)
        subprocess.run(git + ["init", "-q", str(clean)], check=True)
        subprocess.run(git + ["-C", str(clean), "add", "-A"], check=True)
        subprocess.run(git + ["-C", str(clean), "commit", "-qm", "base"], check=True)
        obj = tv.object_file()
        rows, caught, results = [], 0, {}
        items = tv.variants(obj) + tv.heldout_variants(obj)
        for name, payload, files in items:
            repo = work / f"v{len(results)}"
            subprocess.run(["git", "clone", "-q", str(clean), str(repo)], check=True)
            for rel, value in files.items():
                path = repo / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(value, str):
                    existing = path.read_text() + "\n" if path.exists() else ""
                    path.write_text(existing + value)
                else:
                    path.write_bytes(value)
            subprocess.run(git + ["-C", str(repo), "add", "-A"], check=True)
            subprocess.run(git + ["-C", str(repo), "commit", "-qm", "tests: add files"], check=True)
            subprocess.run(git + ["-C", str(repo), "tag", "variant"], check=True)
            report, seconds, _ = scan([InputSpec.parse(f"git:{repo}@variant")])
            hits = [f for f in report["findings"] if f["location"]["path"] == payload
                    and f["severity"] == "critical"]
            ok = bool(hits)
            caught += ok
            rules = sorted({f["rule_id"] for f in hits})
            rows.append(f"| {name} | `{payload}` | {'**caught**' if ok else 'missed'} | {', '.join(rules)} "
                        f"| {seconds:.1f} s |")
            results[name] = {"caught": ok, "rules": rules, "seconds": round(seconds, 2),
                             "findings": [f for f in report["findings"] if f["location"]["path"] == payload]}
            shutil.rmtree(repo)
        print(f"variants planted in {mirror} {tag}: {caught}/{len(items)} caught\n")
        print("| variant | payload | result | rules (critical on the payload) | scan time |")
        print("|---|---|---|---|---|")
        print("\n".join(rows))
        if json_out:
            json_out.write_text(json.dumps(results, indent=1, default=str))
        return 0 if caught == len(items) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
