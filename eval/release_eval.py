"""Real-world evaluation of `provcheck release`: Debian orig tarballs vs upstream git tags.

For each case: download the Debian orig tarball (``apt-get source --download-only``; deb-src
through a private apt state when the system has none), find the upstream repository
(a local clone or mirror you provide; nothing is cloned by this script), run

    provcheck release ORIG --source REPO          (the tag found from the version)

and record findings per severity and wall time. With ``--diffoscope`` also time
``diffoscope`` on the same pair (the orig tarball vs ``git archive`` of the same tag).

    python eval/release_eval.py --repos DIR [--diffoscope] [--only xz-utils,curl] [--json out.json]

``DIR`` holds one repository per case, named ``owner+name/repo`` (the layout of a
mirror), ``owner+name``, ``name.git`` or ``name``. Results go to stdout as a Markdown
table (for docs/plugins/release.md) and, with ``--json``, as data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from provcheck_release.command import peek_top

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "release" / "src"

# (Debian source package, orig tarball glob, upstream repository owner/name)
CASES = [
    ("xz-utils", "xz-utils_5.4.1*.orig.tar.xz", "tukaani-project/xz"),
    ("libarchive", "libarchive_3.6.2*.orig.tar.xz", "libarchive/libarchive"),
    ("curl", "curl_7.88.1*.orig.tar.gz", "curl/curl"),
    ("openssh", "openssh_9.2p1*.orig.tar.gz", "openssh/openssh-portable"),
    ("sudo", "sudo_1.9.13p3*.orig.tar.gz", "sudo-project/sudo"),
    ("file", "file_5.44*.orig.tar.gz", "file/file"),
    ("libffi", "libffi_3.4.4*.orig.tar.gz", "libffi/libffi"),
    ("pcre2", "pcre2_10.42*.orig.tar.gz", "PCRE2Project/pcre2"),
    ("expat", "expat_2.5.0*.orig.tar.*", "libexpat/libexpat"),
    ("libpng1.6", "libpng1.6_1.6.39*.orig.tar.*", "pnggroup/libpng"),
    ("tmux", "tmux_3.3a*.orig.tar.gz", "tmux/tmux"),
    ("libevent", "libevent_2.1.12*.orig.tar.gz", "libevent/libevent"),
    ("libssh2", "libssh2_1.10.0*.orig.tar.gz", "libssh2/libssh2"),
    ("c-ares", "c-ares_1.18.1*.orig.tar.gz", "c-ares/c-ares"),
    ("nghttp2", "nghttp2_1.52.0*.orig.tar.*", "nghttp2/nghttp2"),
    ("libusb-1.0", "libusb-1.0_1.0.26*.orig.tar.*", "libusb/libusb"),
    ("jq", "jq_1.6*.orig.tar.gz", "jqlang/jq"),
    ("flac", "flac_1.4.2*.orig.tar.*", "xiph/flac"),
    ("libogg", "libogg_1.3.5*.orig.tar.*", "xiph/ogg"),
    ("htop", "htop_3.2.2*.orig.tar.*", "htop-dev/htop"),
]
SEVERITIES = ["critical", "high", "medium", "low", "info"]


def orig(package: str, pattern: str) -> Path | None:
    CACHE.mkdir(parents=True, exist_ok=True)
    hits = sorted(p for p in CACHE.glob(pattern) if not p.name.endswith(".asc"))
    if not hits:
        subprocess.run(["apt-get", "source", "--download-only", package], cwd=CACHE, capture_output=True)
        hits = sorted(p for p in CACHE.glob(pattern) if not p.name.endswith(".asc"))
    if not hits:
        sys.path.insert(0, str(ROOT / "plugins"))
        from provcheck_release.tools.harvest_m4 import download
        download([package], CACHE, suite="bookworm", source=True)
        hits = sorted(p for p in CACHE.glob(pattern) if not p.name.endswith(".asc"))
    return hits[-1] if hits else None


def find_repo(repos: Path, slug: str) -> Path | None:
    owner, name = slug.split("/")
    for cand in (repos / f"{owner}+{name}" / "repo", repos / f"{owner}+{name}", repos / f"{name}.git", repos / name):
        if cand.is_dir():
            return cand
    return None


def provcheck(*args: str) -> tuple[int, str, str, float]:
    """The command as a user runs it: every installed plugin loaded (``release`` runs its own
    detector), byte code compiled once as an installed package has it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(ROOT / ".cache" / "pycache")
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "provcheck", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t


DECOMPRESSORS = {".gz": ["gzip", "-dc"], ".xz": ["xz", "-dc"], ".bz2": ["bzip2", "-dc"], ".lzma": ["xz", "-dc"],
                 ".zst": ["zstd", "-dc"]}


def time_diffoscope(tarball: Path, repo: Path, ref: str, timeout: int) -> tuple[float, float] | str:
    """(seconds to prepare diffoscope's inputs, seconds diffoscope takes). diffoscope needs the
    tag as a tarball (``git archive``) and both sides in the same container (given the
    compressed orig and a plain tar it stops at "XzFile vs TarFile" without comparing), so a
    user first runs ``git archive`` and the decompressor; that is timed separately."""
    with tempfile.TemporaryDirectory(prefix="release-eval-") as tmp:
        tag_tar, orig_tar = Path(tmp) / "tag.tar", Path(tmp) / "orig.tar"
        top = peek_top(tarball) or tarball.name.split(".orig")[0].replace("_", "-")  # the orig's own top dir
        t = time.monotonic()
        archived = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", f"--prefix={top}/", "-o",
                                   str(tag_tar), ref], capture_output=True)
        if archived.returncode:  # e.g. a snapshot without its large blobs
            return f"error: git archive: {archived.stderr.decode(errors='replace').strip().splitlines()[-1:]}"
        with open(orig_tar, "wb") as out:
            subprocess.run([*DECOMPRESSORS.get(tarball.suffix, ["cat"]), str(tarball)], stdout=out, check=True)
        prep = time.monotonic() - t
        t = time.monotonic()
        try:
            proc = subprocess.run(["diffoscope", "--no-progress", "--text", str(Path(tmp) / "out.txt"),
                                   str(orig_tar), str(tag_tar)], capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f">{timeout}"
        if proc.returncode not in (0, 1):  # 2: diffoscope failed; its time would mean nothing
            return f"error {proc.returncode}"
        return prep, time.monotonic() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=Path, required=True, help="directory holding the upstream repositories")
    ap.add_argument("--only", help="comma-separated Debian package names")
    ap.add_argument("--diffoscope", action="store_true", help="also time diffoscope on each pair")
    ap.add_argument("--timeout", type=int, default=1800, help="diffoscope timeout per case (seconds)")
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--repeat", type=int, default=1, help="run provcheck N times, keep the fastest")
    ap.add_argument("--diffoscope-json", type=Path,
                    help="reuse diffoscope times from an earlier --json result instead of re-running it")
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    previous = {r["package"]: r for r in json.loads(args.diffoscope_json.read_text())} if args.diffoscope_json else {}
    results = []
    for package, pattern, slug in CASES:
        if only and package not in only:
            continue
        tarball, repo = orig(package, pattern), find_repo(args.repos, slug)
        if tarball is None or repo is None:
            results.append({"package": package, "skipped": "no orig tarball" if tarball is None else f"no repo {slug}"})
            continue
        runs = [provcheck("release", str(tarball), "--source", str(repo), "--format", "json")
                for _ in range(max(1, args.repeat))]
        code, out, err, secs = min(runs, key=lambda r: r[3])
        if not out:
            results.append({"package": package, "tarball": tarball.name, "error": err.strip()[-300:]})
            continue
        data = json.loads(out)
        sev = Counter(f["severity"] for f in data["findings"])
        rel = data.get("release") or {}
        lower = Counter((f["severity"], f["rule_id"]) for f in data["findings"]
                        if f["severity"] in ("medium", "low"))
        row = {"package": package, "tarball": tarball.name, "ref": rel.get("source_ref"), "exit": code,
               "seconds": round(secs, 2), "severity": {s: sev.get(s, 0) for s in SEVERITIES},
               "counts": rel.get("counts"), "generated_by": rel.get("generated_by"),
               "errors": [e["message"] for e in data["errors"]],
               "medium_low": {f"{s} {r}": n for (s, r), n in sorted(lower.items())},
               "high_or_critical": [(f["rule_id"], f["location"]["path"], f["message"]) for f in data["findings"]
                                    if f["severity"] in ("high", "critical")],
               "medium": [(f["rule_id"], f["location"]["path"]) for f in data["findings"]
                          if f["severity"] == "medium"]}
        earlier = previous.get(package, {})
        if isinstance(earlier.get("diffoscope_seconds"), (int, float)) and not args.diffoscope:
            row["diffoscope_seconds"] = earlier["diffoscope_seconds"]
            row["speedup"] = round(earlier["diffoscope_seconds"] / secs, 1)
            if "diffoscope_prep_seconds" in earlier:
                row["diffoscope_prep_seconds"] = earlier["diffoscope_prep_seconds"]
                row["speedup_with_prep"] = round((row["diffoscope_seconds"] + row["diffoscope_prep_seconds"]) / secs, 1)
        if args.diffoscope and rel.get("source_ref"):
            d = time_diffoscope(tarball, repo, rel["source_ref"], args.timeout)
            if isinstance(d, tuple):
                row["diffoscope_prep_seconds"], row["diffoscope_seconds"] = round(d[0], 2), round(d[1], 2)
                row["speedup"] = round(d[1] / secs, 1)
                row["speedup_with_prep"] = round(sum(d) / secs, 1)
            else:
                row["diffoscope_seconds"] = d
        results.append(row)
        print(f"{package}: {row['severity']} {row['seconds']}s"
              + (f" diffoscope {row.get('diffoscope_seconds')}s" if "diffoscope_seconds" in row else ""),
              file=sys.stderr)
    print("| release | tag | files (identical / generated / edits / only-src) | crit | high | med | low | info "
          "| provcheck s | diffoscope s (+ inputs) | speed-up (with inputs) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "severity" not in r:
            print(f"| {r['package']} | - | {r.get('skipped') or r.get('error')} | | | | | | | | |")
            continue
        c = r["counts"] or {}
        files = (f"{c.get('identical', 0)} / {c.get('generated', 0) + c.get('regenerated', 0)} / "
                 f"{c.get('release-edit', 0)} / {c.get('only-in-source', 0)}")
        s = r["severity"]
        print(f"| {r['tarball']} | {r['ref']} | {files} | {s['critical']} | {s['high']} | {s['medium']} | {s['low']} "
              f"| {s['info']} | {r['seconds']} | {r.get('diffoscope_seconds', '-')}"
              f"{' (+' + str(r['diffoscope_prep_seconds']) + ')' if 'diffoscope_prep_seconds' in r else ''} "
              f"| {r.get('speedup', '-')}{' (' + str(r['speedup_with_prep']) + ')' if 'speedup_with_prep' in r else ''} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    bad = [r["package"] for r in results if r.get("severity") and (r["severity"]["high"] or r["severity"]["critical"])]
    print(f"\n{sum(1 for r in results if 'severity' in r)} releases compared; high/critical on: {bad or 'none'}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
