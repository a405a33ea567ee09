"""HTML report benchmark: size, and time until the page is interactive in headless chromium.

The data: a real ``release`` comparison (the pipeline run in-process on a generated release of
2,000 files against its source directory: 1,800 identical, 200 modified C files with diffs of
30-600 lines), plus enough findings to reach 5,000 in all, copied from the kinds the detectors
write (diffs, linkage chains, indicators, hashes; severities and rules mixed). The page is
``scan --format html``'s (findings and the release view).

Measured (see docs/benchmarks.md for recorded results), median of --repeat runs:

1. bytes of the page, and seconds to write it;
2. load: navigation start to the page marking itself ready (``body[data-ready]``: data
   parsed, the findings table drawn), from ``performance.now()`` in the page;
3. interactions: severity filter, text search, sort, expanding a finding, opening the
   release view and a 600-line side-by-side diff (each a click to the DOM being updated).

Usage: .venv/bin/python benchmarks/html_report.py [--findings N] [--files N] [--repeat N] [--json FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import CHROMIUM, FLAGS  # noqa: E402

from provcheck import Location, Severity  # noqa: E402
from provcheck.report.html import write_html  # noqa: E402
from provcheck.testing import Checker  # noqa: E402


def release_report(base: Path, n_files: int, modified: int):
    rng = random.Random(7)
    import provcheck_elf
    import provcheck_release
    import provcheck_sbom
    import provcheck_testdata
    checker = Checker(base)
    for plugin in (provcheck_release, provcheck_elf, provcheck_testdata, provcheck_sbom):
        checker.add_plugin(plugin)  # their rules; only the release detector's (PC1) run
    src, rel = {}, {}
    for i in range(n_files):
        path = f"src/mod{i // 100:02d}/file{i:04d}.c"
        lines = [f"int f{i}_{k}(int x) {{ return x * {k} + {i}; }}" for k in range(rng.randint(40, 700))]
        src[path] = "\n".join(lines) + "\n"
        if i < modified:
            changed = list(lines)
            for k in rng.sample(range(len(changed)), max(1, len(changed) // 10)):
                changed[k] = changed[k].replace("return x", "return (x ^ 0x5a)")
            rel["pkg-1.0/" + path] = "\n".join(changed) + "\n"
        else:
            rel["pkg-1.0/" + path] = src[path]
    source = checker.tree(src, name="pkg-src")
    release = checker.tarball(rel, name="pkg-1.0.tar.gz")
    return checker.run(release, source=source, select=["PC1"]).report


def pad_findings(report, total: int) -> None:
    """Add findings of the kinds the detectors write until there are ``total``."""
    rng = random.Random(11)
    rules = report.rules
    kinds = [("PC301", Severity.CRITICAL), ("PC203", Severity.HIGH), ("PC404", Severity.HIGH),
             ("PC904", Severity.MEDIUM), ("PC402", Severity.MEDIUM), ("PC405", Severity.LOW), ("PC105", Severity.INFO)]
    kinds = [(r, s) for r, s in kinds if r in rules] or [(next(iter(rules)), Severity.MEDIUM)]
    diff = "\n".join(["--- source/x.c", "+++ release/x.c", "@@ -1,8 +1,9 @@"] +
                     [f" int keep{k};" for k in range(4)] + ["-int old;", "+int new;", "+int more;"])
    layers = [f"sha256:{rng.getrandbits(256):064x}" for _ in range(12)]  # an image has a few layers
    while len(report.findings) < total:
        n = len(report.findings)
        rule_id, sev = rng.choice(kinds)
        layer = layers[n % len(layers)]
        path = f"usr/lib/x86_64-linux-gnu/lib{n % 700}.so.{n % 7}"
        ev = {"sha256": f"{rng.getrandbits(256):064x}", "size": rng.randint(1000, 10 ** 7)}
        if n % 3 == 0:
            ev["chain"] = [{"path": "usr/sbin/sshd", "package": "openssh-server", "layer": layer},
                           {"path": f"usr/lib/x86_64-linux-gnu/libsystemd.so.0.{n % 40}", "package": "libsystemd0"},
                           {"path": path, "package": f"lib{n % 700}"}]
        if n % 5 == 0:
            ev["diff"] = diff
        if n % 7 == 0:
            ev["indicators"] = [{"line": k, "indicator": "eval-pipeline", "text": "eval $x | sh", "why": "runs it"}
                                for k in range(3)]
        report.findings.append(rules[rule_id].finding(
            location=Location(artifact="pkg-1.0.tar.gz", path=path, layer=layer), key=f"k{n}", severity=sev,
            component=f"pkg:deb/debian/lib{n % 700}@1.{n % 9}", message=f"{path}: synthetic finding {n} of kind {rule_id}",
            evidence=ev))


ACTIONS = [
    ("filter severity", "document.querySelector('#view-findings .chip[data-severity]').click()", "#findings-table tbody tr.row"),
    ("text search", "(() => { const q = document.querySelector('#findings-table input[data-filter=q]');"
                    " q.value = 'lib4'; q.dispatchEvent(new Event('input')); })()", "#findings-table tbody tr.row"),
    ("sort by path", "document.querySelector('#findings-table th[data-sort=path]').click()", "#findings-table tbody tr.row"),
    ("expand finding", "document.querySelector('#findings-table tbody tr.row').click()", "#findings-table tr.detail"),
    ("open release view", "document.querySelector('nav#pc-tabs button[data-view=release]').click()",
     "#release-table tbody tr.row"),
    ("open 600-line diff", "(() => { const rows = [...document.querySelectorAll('#release-table tbody tr.row')];"
                           " rows.find(r => r.textContent.includes('file0001.c')).click(); })()",
     "#release-table table.sbs tbody tr"),
]


def measure(path: Path) -> dict:
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        load = float(page.get_attribute("body", "data-ready-ms"))  # ms from navigation start to drawn
        nav = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
        out = {"ready_ms": round(load, 1), "dom_content_loaded_ms": round(json.loads(nav)["domContentLoadedEventEnd"], 1)}
        for name, js, selector in ACTIONS:
            ms = page.evaluate(f"(() => {{ const t = performance.now(); {js}; "
                               f"document.querySelector({json.dumps(selector)}); void document.body.offsetHeight; "
                               "return performance.now() - t; })()")
            assert page.locator(selector).count() > 0, name
            out[name] = round(ms, 1)
        browser.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--findings", type=int, default=5000)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--modified", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="html-bench-") as tmp:
        t = time.perf_counter()
        report = release_report(Path(tmp), args.files, args.modified)
        scan_s = time.perf_counter() - t
        files = len(next(iter(report.extras["release"].values()))["files"])
        real = len(report.findings)
        pad_findings(report, args.findings)
        buf = io.StringIO()
        t = time.perf_counter()
        write_html(report, buf)
        write_s = time.perf_counter() - t
        page = Path(tmp) / "report.html"
        page.write_text(buf.getvalue(), encoding="utf-8")
        runs = [measure(page) for _ in range(args.repeat)]
    result = {"findings": len(report.findings), "findings_from_the_release_run": real, "release_files": files,
              "release_scan_s": round(scan_s, 2), "bytes": len(buf.getvalue().encode()), "write_s": round(write_s, 3),
              "runs": len(runs),
              "median_ms": {k: statistics.median(r[k] for r in runs) for k in runs[0]},
              "max_ms": {k: max(r[k] for r in runs) for k in runs[0]}}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
