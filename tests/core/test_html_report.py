"""``--format html`` opened in headless chromium: the samples' scans, the release view with its
side-by-side diffs, hostile names and diff lines rendered as text under the CSP, no request
leaving the page."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from browser import browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow  # a real browser (and real data): seconds each

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("demo", ROOT / "samples/demo.py")
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)

PWN = "window.__pwned=1"
HOSTILE_NAME = f'<img src=x onerror="{PWN}">.c'
HOSTILE_DIR = 'src-<svg onload="window.__pwned=1">-"onerror=x'  # the source directory: in the header
HOSTILE_LINES = [f"# </style><script>{PWN}</script>", f'x="onerror={PWN}" </script><b>bold</b>',
                 "eval \"$(printf '%s' \"$blob\" | tr 'a-z' 'n-za-m')\" | sh"]


def provcheck(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provcheck", *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("case_dir", demo.cases(), ids=lambda p: p.name)
def test_sample_scan_report(case_dir, tmp_path, browser):  # noqa: F811
    case, paths = demo.build_case(case_dir, tmp_path)
    args = demo.command(case, paths)
    out = tmp_path / "report.html"
    proc = provcheck(*args, "--format", "html", "-o", out, cwd=tmp_path)
    data = json.loads(provcheck(*args, "--format", "json", cwd=tmp_path).stdout)
    assert proc.returncode == case["expect"]["exit-code"], proc.stderr
    assert out.stat().st_size < 1_000_000

    page = browser.open(out)
    status = page.text("#pc-status")
    assert status.lower().startswith("findings" if proc.returncode == 1 else "clean"), status
    assert f"exit {proc.returncode}" in status
    active = [f for f in data["findings"] if not f.get("suppression")]
    n = len(data["findings"])
    assert page.text("#view-findings h2") == f"{n} finding{'s' if n != 1 else ''}"
    assert page.count("#findings-table tbody tr.row") == len(active)
    for a in data["artifacts"]:
        assert a["name"] in page.text("header.top")
    page.shot(f"scan-{case_dir.name}")

    # the severity filter: the first chip shows only that severity
    worst = page.page.get_attribute("#view-findings .chip[data-severity]", "data-severity")
    page.page.click(f"#view-findings .chip[data-severity={worst}]")
    sevs = page.page.locator("#findings-table tbody tr.row .sev").all_inner_texts()
    assert sevs and {s.lower() for s in sevs} == {worst}
    assert len(sevs) == sum(1 for f in active if f["severity"] == worst)
    # the rule filter and the text search narrow further; clearing them brings everything back
    rule = sorted(f["rule_id"] for f in active if f["severity"] == worst)[0]
    page.page.select_option("#findings-table select[data-filter=rule]", rule)
    assert page.count("#findings-table tbody tr.row") == sum(1 for f in active if f["rule_id"] == rule
                                                           and f["severity"] == worst)
    page.page.select_option("#findings-table select[data-filter=rule]", "")
    page.page.select_option("#findings-table select[data-filter=severity]", "")
    page.page.fill("#findings-table input[data-filter=q]", "no such text anywhere")
    assert page.count("#findings-table tbody tr.row") == 0
    page.page.fill("#findings-table input[data-filter=q]", "")
    assert page.count("#findings-table tbody tr.row") == len(active)
    # sorting by rule puts the rows in rule order
    page.page.click("#findings-table th[data-sort=rule]")
    rules = page.page.locator("#findings-table tbody tr.row td:nth-child(2)").all_inner_texts()
    assert rules == sorted(rules)

    # expand the first finding: message, evidence, the rule's documentation
    page.page.click("#findings-table tbody tr.row >> nth=0")
    detail = page.text("#findings-table tr.detail")
    first = sorted((f for f in active), key=lambda f: f["rule_id"])[0]
    assert first["rule_id"] in detail and "documentation" in detail
    page.page.click("#findings-table tr.detail details.ruledoc summary")
    assert "Why is this bad?" in page.text("#findings-table tr.detail pre.doc") or \
        len(page.text("#findings-table tr.detail pre.doc")) > 40
    page.shot(f"scan-{case_dir.name}-finding")
    page.assert_quiet()


def _hostile_release(checker):
    top = "evil-1.0/"
    script = "#!/bin/sh\necho building\nmake all\n"
    lines = "".join(f"{line}\n" for line in HOSTILE_LINES)
    big_src = "".join(f"line {i}\n" for i in range(3000))
    big_rel = "".join(f"line {i}{' changed' if i % 3 == 0 else ''}\n" for i in range(3000))
    source = checker.tree({"build.sh": script, "src/big.c": big_src, "README": "readme\n"}, name=HOSTILE_DIR)
    release = checker.tarball({top + "build.sh": script + lines, top + "src/big.c": big_rel, top + "README": "readme\n",
                               top + HOSTILE_NAME: "int x;\n", top + "</style><h1>x</h1>.c": "int y;\n"},
                              name="evil-1.0.tar.gz")
    return release, source


def test_release_view_hostile_text_and_paging(checker, browser):  # noqa: F811
    release, source = _hostile_release(checker)
    out = checker.base / "release.html"
    res = checker.run_cli("release", release, "--source", source, "--format", "html", "-o", out)
    assert res.exit_code == 1, res.stderr
    html = out.read_text()
    # the CSP: one script and one style sheet by hash, no inline handlers, no network
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html).group(1)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and re.search(r"script-src 'sha256-", csp)
    assert html.count("<script") == 2 and html.count("</script>") == 2  # ours: the data block and the code
    outside = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert html.count("</style>") == 1 and not re.search(r"<[^>]*\son[a-z]+\s*=", outside, flags=re.I)

    page = browser.open(out)
    assert page.page.evaluate("window.__pwned") is None
    assert HOSTILE_DIR in page.text("header.top") and page.count("svg[onload]") == 0
    view = "#view-release"
    assert page.page.is_visible(view)  # the release command opens on its view
    assert page.count(f"{view} .chip[data-verdict]") >= 2
    # the hostile file names are text in the table
    page.page.fill("#release-table input[data-filter=q]", "onerror")
    cells = page.page.locator("#release-table tbody tr.row td.path").all_inner_texts()
    assert cells == [HOSTILE_NAME]
    page.page.fill("#release-table input[data-filter=q]", "</style>")
    assert page.page.locator("#release-table tbody tr.row td.path").all_inner_texts() == ["</style><h1>x</h1>.c"]
    page.page.fill("#release-table input[data-filter=q]", "")

    # build.sh: the diff, side by side, hostile lines as text, the risky line marked
    page.page.click("#release-table tbody tr.row:has-text('build.sh')")
    sbs = "#release-table tr.detail table.sbs"
    added = page.page.locator(f"{sbs} td.add").all_inner_texts()
    for line in HOSTILE_LINES:
        assert line in added
    assert page.count(f"{sbs} td.risk") >= 1
    assert "pipe-to-shell" in page.text("#release-table tr.detail .riskl") or \
        "eval" in page.text("#release-table tr.detail .riskl")
    assert page.count("main img") == 0 and page.count("main h1") == 0 and page.count("main b:has-text('bold')") == 0
    page.shot("release-hostile-diff")

    # src/big.c: 3000 lines, 1000 changed: paged, every row reachable, nothing cut
    page.page.click("#release-table tbody tr.row:has-text('src/big.c')")
    pager = page.text("#release-table tr.detail .sbs-box .pager")
    m = re.search(r"page 1 of (\d+) \(rows 1–400 of (\d+)\)", pager)
    assert m and int(m.group(2)) >= 3000, pager
    assert page.count(f"{sbs} tbody tr") == 400
    pages = int(m.group(1))
    for _ in range(pages - 1):
        page.page.click("#release-table tr.detail .sbs-box .pager button:has-text('next')")
    last = page.page.locator(f"{sbs} td.add").all_inner_texts()
    assert "line 2997 changed" in last
    assert page.page.evaluate("window.__pwned") is None
    page.assert_quiet()


def test_release_view_of_the_xz_sample(tmp_path, browser):  # noqa: F811
    case_dir = ROOT / "samples" / "xz-style-release"
    case, paths = demo.build_case(case_dir, tmp_path)
    out = tmp_path / "xz.html"
    proc = provcheck("release", paths["release"], "--source", paths["source"], "--format", "html", "-o", out,
                     cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    page = browser.open(out)
    header = page.text("header.top")
    assert "v5.6.1" in header and "source commit" in header
    page.page.click("#view-release .chip[data-verdict=generated-mismatch]")
    assert page.page.locator("#release-table tbody tr.row td.path").all_inner_texts() == ["m4/build-to-host.m4"]
    page.page.click("#release-table tbody tr.row >> nth=0")
    detail = "#release-table tr.detail"
    assert "grep-source-tree" in page.text(f"{detail} .riskl")
    # the whole m4 diff against the published copy, the risky release lines marked
    assert page.count(f"{detail} table.sbs td.risk") >= 4
    assert "serial 30" in " ".join(page.page.locator(f"{detail} table.sbs td.add").all_inner_texts())
    page.page.locator(f"{detail} table.sbs td.risk >> nth=0").scroll_into_view_if_needed()
    page.shot("release-xz")
    # the findings are one tab away
    page.page.click("nav#pc-tabs button[data-view=findings]")
    assert page.count("#findings-table tbody tr.row") >= 3
    page.page.click("#findings-table tbody tr.row:has-text('build-to-host.m4') >> nth=0")  # worst first: PC105
    assert "indicators" in page.text("#findings-table tr.detail .evidence")
    page.shot("scan-xz-finding")
    page.page.click("#findings-table tbody tr.row:has-text('PC104')")  # its diff is the release view's
    assert page.count("#findings-table tr.detail button:has-text('release view')") == 1
    page.page.click("#findings-table tr.detail button:has-text('release view')")  # back to the file's diff
    assert page.page.is_visible("#release-table tr.detail table.sbs")
    page.assert_quiet()


def test_the_watch_on_requests_sees_a_load(tmp_path, browser):  # noqa: F811
    """What assert_quiet relies on: a load the CSP blocks is reported on the console, and one
    without the CSP is a recorded request (to a closed port on 127.0.0.1)."""
    out = tmp_path / "report.html"
    case, paths = demo.build_case(ROOT / "samples" / "hostile-tarball", tmp_path)
    provcheck(*demo.command(case, paths), "--format", "html", "-o", out, cwd=tmp_path)
    html = out.read_text()
    bad = tmp_path / "with-image.html"
    bad.write_text(html.replace("<main", '<img src="http://127.0.0.1:9/x.png"><main', 1))
    page = browser.open(bad)
    with pytest.raises(AssertionError):
        page.assert_quiet()
    assert any("Content Security Policy" in m for m in page.console), page.console
    open_page = tmp_path / "without-csp.html"
    open_page.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", bad.read_text()))
    page = browser.open(open_page)
    assert "http://127.0.0.1:9/x.png" in page.requests
