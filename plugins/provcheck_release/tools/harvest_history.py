"""Build a *published history* set (``provcheck_release/data/history/NAME.zip``) from a git clone
of a project whose files other projects vendor (gnulib, autoconf-archive).

Every blob that ever existed under the copied directories, on any branch or tag of the
clone, is recorded as a content digest only: the first 12 bytes of the SHA-256 of its raw
bytes, with the path it had and the first commit (short id and date) that had it. No file
content is stored. ``vendored.py`` reads the set.

    python -m provcheck_release.tools.harvest_history --project gnulib GNULIB_CLONE \\
        --dir m4 --dir lib --dir tests --dir build-aux --dir top --dir 'doc/*'
    python -m provcheck_release.tools.harvest_history --project autoconf-archive CLONE --dir m4

``--dir D`` takes every path under ``D/``; ``--dir 'D/*'`` only the files directly in ``D``.
Merges are read against their first parent (a merge's own new blobs are counted, a side
branch's are counted on the branch). Refs: every branch and tag (``--branches --tags``;
pull-request refs are not published history).
"""

from __future__ import annotations

import argparse
import array
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from provcheck_release.m4db import serial_of
from provcheck_release.vendored import DIGEST_BYTES, FORMAT, HISTORY_DIR, code_form, is_code_path

ZERO = "0" * 40


def _wanted(path: str, dirs: list[str]) -> bool:
    for d in dirs:
        if d.endswith("/*"):
            base = d[:-1]
            if path.startswith(base) and "/" not in path[len(base):]:
                return True
        elif path.startswith(d.rstrip("/") + "/"):
            return True
    return False


def walk(repo: Path, dirs: list[str], refs: list[str]) -> tuple[list[tuple[str, str, int]], list[str]]:
    """((path, blob id, commit index) of each path's every blob, first commit first; commits as
    'SHORTID YYYY-MM-DD')."""
    roots = sorted({d.split("/", 1)[0] for d in dirs})
    proc = subprocess.run(["git", "-C", str(repo), "log", "--raw", "--no-abbrev", "--no-renames",
                           "--diff-merges=first-parent", "--reverse", "--format=C %H %cs", *refs, "--", *roots],
                          capture_output=True, check=True)
    commits: list[str] = []
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str, int]] = []
    current = -1
    for raw in proc.stdout.split(b"\n"):
        line = raw.decode("utf-8", "surrogateescape")
        if line.startswith("C "):
            _, commit, day = line.split()
            commits.append(f"{commit[:12]} {day}")
            current = len(commits) - 1
        elif line.startswith(":"):
            meta, path = line.split("\t", 1)
            blob = meta.split()[3]
            if blob == ZERO or not _wanted(path, dirs) or (path, blob) in seen:
                continue
            seen.add((path, blob))
            out.append((path, blob, current))
    return out, commits


def digests(repo: Path, blobs: list[str], code: set[str], m4: set[str]
            ) -> tuple[dict[str, bytes], dict[str, bytes], dict[str, str]]:
    """blob id -> truncated SHA-256 of its bytes; for the blobs in ``code`` (C sources of the
    copied library) of their ``code_form``; for those in ``m4`` their declared serial; through
    one ``git cat-file --batch``."""
    proc = subprocess.Popen(["git", "-C", str(repo), "cat-file", "--batch"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    import threading

    def feed() -> None:
        assert proc.stdin is not None
        for b in blobs:
            proc.stdin.write(f"{b}\n".encode())
        proc.stdin.close()
    threading.Thread(target=feed, daemon=True).start()
    out: dict[str, bytes] = {}
    forms: dict[str, bytes] = {}
    serials: dict[str, str] = {}
    for b in blobs:
        header = proc.stdout.readline().split()
        if len(header) != 3 or header[1] != b"blob":
            raise SystemExit(f"harvest_history: git cat-file says {header!r} for {b}")
        data = proc.stdout.read(int(header[2]))
        proc.stdout.read(1)
        out[b] = hashlib.sha256(data).digest()[:DIGEST_BYTES]
        if b in code:
            forms[b] = hashlib.sha256(code_form(data)).digest()[:DIGEST_BYTES]
        if b in m4:
            serials[b] = serial_of(data) or ""
    proc.wait()
    return out, forms, serials


def build(repo: Path, project: str, dirs: list[str], refs: list[str], output: Path) -> dict[str, object]:
    rows, commits = walk(repo, dirs, refs)
    unique = sorted({b for _, b, _ in rows})
    sha, forms, serial = digests(repo, unique, {b for p, b, _ in rows if is_code_path(p)},
                                 {b for p, b, _ in rows if p.endswith(".m4")})
    paths = sorted({p for p, _, _ in rows})
    by_path: dict[str, list[tuple[bytes, int, bytes]]] = {p: [] for p in paths}
    serials: dict[str, list[str]] = {}
    for path, blob, commit in rows:
        by_path[path].append((sha[blob], commit, forms.get(blob, bytes(DIGEST_BYTES))))
        if path.endswith(".m4"):
            serials.setdefault(path, []).append(serial.get(blob, ""))
    used = sorted({c for _, _, c in rows})  # keep only the commits that introduced a blob
    renumber = {c: i for i, c in enumerate(used)}
    digest_bytes, code_bytes = bytearray(), bytearray()
    commit_ids = array.array("I")
    counts = []
    for p in paths:
        counts.append(len(by_path[p]))
        for d, c, f in by_path[p]:
            digest_bytes += d
            code_bytes += f
            commit_ids.append(renumber[c])
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    index = {"format": FORMAT, "project": project, "head": head, "refs": refs, "dirs": dirs,
             "digest": f"sha256[:{DIGEST_BYTES}] of the raw bytes",
             "code": f"sha256[:{DIGEST_BYTES}] of vendored.code_form (C sources under lib/; zeros elsewhere)",
             "first": commits[used[0]] if used else None, "last": max((commits[c] for c in used),
                                                                       key=lambda s: s.split()[1], default=None),
             "paths": paths, "counts": counts, "commits": [commits[c] for c in used],
             "serials": serials}
    stamp = (1980, 1, 1, 0, 0, 0)
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w") as z:
        z.writestr(zipfile.ZipInfo("index.json", stamp), json.dumps(index, separators=(",", ":")),
                   compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        z.writestr(zipfile.ZipInfo("digests.bin", stamp), bytes(digest_bytes), compress_type=zipfile.ZIP_STORED)
        z.writestr(zipfile.ZipInfo("code.bin", stamp), bytes(code_bytes), compress_type=zipfile.ZIP_DEFLATED,
                   compresslevel=9)
        z.writestr(zipfile.ZipInfo("commits.bin", stamp), commit_ids.tobytes(), compress_type=zipfile.ZIP_DEFLATED,
                   compresslevel=9)
    return {"blobs": len(rows), "unique": len(unique), "paths": len(paths), "commits": len(used),
            "bytes": output.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", type=Path, help="a git clone (bare or not) with the project's full history")
    ap.add_argument("--project", required=True, help="the set's name (gnulib, autoconf-archive)")
    ap.add_argument("--dir", action="append", required=True, help="a copied directory (D or 'D/*')")
    ap.add_argument("--ref", action="append", help="refs to walk (default: --branches --tags)")
    ap.add_argument("--output", type=Path, help=f"default: {HISTORY_DIR}/PROJECT.zip")
    args = ap.parse_args(argv)
    out = args.output or HISTORY_DIR / f"{args.project}.zip"
    try:
        stats = build(args.repo, args.project, args.dir, args.ref or ["--branches", "--tags"], out)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"harvest_history: {args.repo}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"output": str(out), **stats}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
