"""What the fuzzers found, driven through the command line: each is now a clear error naming
the file and the reason, not an internal error."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets  # noqa: E402


@pytest.mark.slow   # the layout holds real Debian files
@pytest.mark.parametrize("manifest,reason", [
    (b'"{}"', "the manifest is a JSON str, not an object"),
    (b'{"config": "x", "layers": []}', "the manifest's config is not a descriptor"),
])
def test_an_image_manifest_that_is_not_an_object_is_an_input_error(checker, tmp_path, manifest, reason):
    """found by the oci target: a manifest (or its config) that is valid JSON but not an
    object raised AttributeError in the loader ("internal error")."""
    root = tmp_path / "img"
    shutil.copytree(targets._layout(), root)
    digest = hashlib.sha256(manifest).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(manifest)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{digest}",
         "size": len(manifest)}]}))
    res = checker.run_cli("scan", root, "--format", "json")
    assert "Traceback" not in res.stderr and "internal error" not in res.stdout + res.stderr, res.stdout + res.stderr
    assert reason in res.stdout + res.stderr, res.stdout + res.stderr
