"""``sbom --format html`` on the real Debian image tampered after installation, with an SPDX
document that declares a package that is not there, a wrong version and hostile names."""

from __future__ import annotations

import json
from urllib.parse import quote
import sys
from pathlib import Path

import pytest

from browser import browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow  # a real browser (and real data): seconds each

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sbom_helpers import LIBDIR, SAMPLES, add_layer, copy_layout, image_file  # noqa: E402

EVIL = '<img src=x onerror="window.__pwned=1">'


def _purl(name: str, version: str) -> list[dict]:
    return [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
             "referenceLocator": f"pkg:deb/debian/{name}@{version}?arch=amd64"}]


@pytest.fixture(scope="module")
def tampered_with_sbom(image, tmp_path_factory):
    base = tmp_path_factory.mktemp("html-sbom")
    layout = copy_layout(image, base / "sshd-tampered")
    lib = image_file(image, f"{LIBDIR}/liblzma.so.5.4.1")
    add_layer(layout, {f"{LIBDIR}/liblzma.so.5.4.1": lib + b"\0patched after install",
                       f"{LIBDIR}/liblzma.so.5.6.1": lib + b"\0xz 5.6.1",
                       f"{LIBDIR}/liblzma.so.5": ("symlink", "liblzma.so.5.6.1")},
              created_by="COPY liblzma /usr/lib/x86_64-linux-gnu/")
    doc = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "sshd",
           "documentNamespace": "https://example.invalid/sshd",
           "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: hand-written"]},
           "packages": [
               {"SPDXID": "SPDXRef-curl", "name": "curl", "versionInfo": "7.88.1-10", "downloadLocation": "NOASSERTION",
                "externalRefs": _purl("curl", "7.88.1-10")},
               {"SPDXID": "SPDXRef-xz", "name": "liblzma5", "versionInfo": "5.6.1-1", "downloadLocation": "NOASSERTION",
                "externalRefs": _purl("liblzma5", "5.6.1-1")},
               {"SPDXID": "SPDXRef-evil", "name": EVIL + "</style>", "versionInfo": '1"onerror=1',
                "downloadLocation": "NOASSERTION", "externalRefs": _purl(quote(EVIL + "</style>"), "1")}]}
    sbom = base / "sshd.spdx.json"
    sbom.write_text(json.dumps(doc))
    return layout, sbom


def test_sbom_page(checker, tampered_with_sbom, browser):  # noqa: F811
    layout, sbom = tampered_with_sbom
    out = checker.base / "sbom.html"
    res = checker.run_cli("sbom", layout, "--sbom", sbom, "--advisories", SAMPLES, "--format", "html", "-o", out)
    assert res.exit_code == 1, res.stderr
    page = browser.open(out)
    assert page.page.is_visible("#view-sbom")
    chips = page.text("#view-sbom .chips")
    assert "only in an SBOM" in chips and "hash mismatches" in chips

    # advisories: CVE-2024-3094 affects the dropped-in 5.6.1, reached from sshd through libsystemd
    page.page.select_option("#sbom-advisories select[data-filter=status]", "affected")
    row = page.page.locator("#sbom-advisories tbody tr.row")
    assert row.count() == 1
    assert "CVE-2024-3094" in row.inner_text() and "5.6.1" in row.inner_text()
    chains = row.locator(".chain").evaluate_all("cs => cs.map(c => Array.from(c.querySelectorAll('.hop'))"
                                                ".map(h => h.getAttribute('title')))")
    assert ["usr/sbin/sshd", f"{LIBDIR}/libsystemd.so.0.35.0", f"{LIBDIR}/liblzma.so.5.6.1"] in chains
    # hash mismatch: the rewritten library, with its evidence one click away
    hashes = page.page.locator("#sbom-hashes tbody tr.row")
    assert f"{LIBDIR}/liblzma.so.5.4.1" in hashes.all_inner_texts()[0]
    hashes.first.click()
    assert "expected" in page.text("#sbom-hashes tr.detail") and "actual" in page.text("#sbom-hashes tr.detail")
    # declared, not found: curl and the hostile name, as text
    absent = " ".join(page.page.locator("#sbom-only-declared tbody tr.row").all_inner_texts())
    assert "curl" in absent and "style> 1\"onerror=1" in absent  # the hostile entry, as text
    assert page.count("main img") == 0 and page.page.evaluate("window.__pwned") is None
    # version: liblzma5 declared 5.6.1-1, observed 5.4.1
    assert "liblzma5" in page.text("#sbom-versions")
    # declared against observed: filter to the undeclared
    page.page.select_option("#sbom-components select[data-filter=declared]", "no")
    assert page.count("#sbom-components tbody tr.row") > 10
    page.page.locator("#sbom-advisories").scroll_into_view_if_needed()
    page.shot("sbom-tampered")

    # the findings tab: the ELF plugin's PC301 (sshd reaches liblzma) shows its chain hop by hop
    page.page.click("nav#pc-tabs button[data-view=findings]")
    page.page.select_option("#findings-table select[data-filter=rule]", "PC301")
    page.page.click("#findings-table tbody tr.row >> nth=0")
    hops = page.page.locator("#findings-table tr.detail .evidence .chain").first.locator(".hop .hp").all_inner_texts()
    assert hops[0] == "usr/sbin/sshd" and hops[-1].startswith(f"{LIBDIR}/liblzma.so.5")
    # digests are shortened, the copy button carries the whole value
    button = page.page.locator("#findings-table tr.detail .hash button.copy").first
    full = button.get_attribute("data-copy")
    shown = page.page.locator("#findings-table tr.detail .hash code").first.inner_text()
    assert len(full) >= 64 and shown.endswith("…") and full.startswith(shown[:-1])
    button.click()
    page.page.wait_for_function("b => b.textContent === 'copied'", arg=button.element_handle(), timeout=3000)
    page.shot("sbom-tampered-finding")
    page.assert_quiet()
