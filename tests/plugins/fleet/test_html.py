"""``query --format html``: images × affected components from a real registry scan, each image
linking to its detail, opened in headless chromium."""

from __future__ import annotations

import json

import pytest
from browser import browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow  # a real browser (and real data): seconds each

XZ_BOOKWORM = {  # covers bookworm's xz-utils (5.4.1-*): a positive answer on the real images
    "id": "TEST-XZ-BOOKWORM", "summary": "test advisory covering xz-utils before 5.4.5",
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "xz-utils"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "5.4.5-0.1"}]}]}],
}


def test_query_page(checker, plain_registry, browser):  # noqa: F811
    db = checker.base / "inventory.sqlite"
    res = checker.run_cli("fleet", "scan", f"registry://{plain_registry.host}", "--plain-http", "--db", db,
                          "--cache-dir", checker.base / "cache", "--jobs", "2")
    assert res.exit_code in (0, 1), res.stderr
    adv = checker.base / "xz.json"
    adv.write_text(json.dumps(XZ_BOOKWORM))
    out = checker.base / "query.html"
    res = checker.run_cli("query", "--db", db, "--advisory", adv, "--format", "html", "-o", out)
    assert res.exit_code == 1, res.stderr
    expected = json.loads(checker.run_cli("query", "--db", db, "--advisory", adv, "--format", "json").stdout)

    page = browser.open(out)
    status = page.text("#pc-status")
    assert status.lower().startswith("affected") and f"{expected['affected_images']} of" in status
    rows = page.page.locator("#query-matrix tbody tr.row")
    assert rows.count() == expected["affected_images"] == 3  # base (tagged 1 and latest), sshd, xz
    header = page.page.locator("#query-matrix thead th").all_inner_texts()
    assert "liblzma5" in header and "xz-utils" in header
    # only the xz image has the xz-utils package itself
    versions = [v for v in page.page.locator("#query-matrix select[data-filter='c:xz-utils'] option")
                .evaluate_all("os => os.map(o => o.value)") if v not in ("", "\u2205")]
    page.page.select_option("#query-matrix select[data-filter='c:xz-utils']", versions[0])
    assert rows.count() == 1 and "apps/xz" in rows.first.inner_text()
    page.shot("query-matrix")
    # its link opens its detail: components, the binaries reaching liblzma, the files with their layers
    rows.first.locator("a").click()
    card = page.page.locator(".card.target")
    assert card.count() == 1 and "apps/xz" in card.locator("h3").first.inner_text()
    text = card.inner_text()
    assert "affected components" in text and "files" in text and "usr/bin/xz" in text
    assert "reached by" in text
    page.shot("query-image-detail")
    page.assert_quiet()
