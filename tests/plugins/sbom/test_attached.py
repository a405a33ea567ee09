"""SBOMs attached to a small OCI layout (no download): found through provcheck.formats.oci,
and what cannot be read is reported, never skipped."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sbom_helpers import attach, manifest_digest, pc4, run

STATUS = ("Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13.dfsg-1\n\n")


def _image(checker):
    return checker.oci([{"var/lib/dpkg/status": STATUS,
                         "var/lib/dpkg/info/zlib1g:amd64.list": "/usr/lib/libz.so.1\n",
                         "usr/lib/libz.so.1": b"\x7fELF zlib"}])


def _cdx(*names):
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "library", "name": n, "version": "1:1.2.13.dfsg-1",
         "purl": f"pkg:deb/debian/{n}@1:1.2.13.dfsg-1?arch=amd64"} for n in names]}).encode()


def test_a_referrer_sbom_is_read_and_checked(checker):
    layout = _image(checker)
    attach(layout, manifest_digest(layout), _cdx("zlib1g", "curl"), "application/vnd.cyclonedx+json")
    result = run(checker, layout)
    result.assert_no_errors()
    assert pc4(result) == {"PC401": 1}  # curl is declared, not installed
    assert result.only("PC401").evidence["sbom"].startswith("referrer:sha256:")


def test_an_index_entry_that_is_no_manifest_is_an_error_not_a_skip(checker):
    layout = _image(checker)
    attach(layout, manifest_digest(layout), _cdx("zlib1g"), "application/vnd.cyclonedx+json")
    junk = b"\xff\xfe not a manifest"
    digest = hashlib.sha256(junk).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(junk)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "digest": f"sha256:{digest}", "size": len(junk)})
    (layout / "index.json").write_text(json.dumps(index))
    result = run(checker, layout)
    errors = [e for e in result.errors if e.plugin == "sbom"]
    assert len(errors) == 1 and errors[0].path == f"blobs/sha256:{digest}", result.errors
    assert "cannot be read as a manifest" in errors[0].message and "not a JSON manifest" in errors[0].message
    assert result.exit_code == 3
    assert pc4(result) == {}  # the readable referrer is still checked (and agrees)
