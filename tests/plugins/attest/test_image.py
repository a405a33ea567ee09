"""Signatures and attestations attached to OCI images: OCI 1.1 referrers carrying
Sigstore bundles, and cosign's legacy ``sha256-<digest>.sig`` tags."""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization

import provcheck_attest
from localsigstore import BUNDLE_V03, Identity, intoto_statement

ID = ["--cert-identity", "release@example.org", "--cert-oidc-issuer", "https://accounts.example.org"]


def _put(layout: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def image_manifest(layout: Path) -> tuple[str, bytes]:
    index = json.loads((layout / "index.json").read_text())
    desc = index["manifests"][0]
    raw = (layout / "blobs" / "sha256" / desc["digest"].split(":")[1]).read_bytes()
    return desc["digest"], raw


def attach_referrer(layout: Path, bundle: dict, subject: str) -> str:
    """An OCI 1.1 referrer manifest holding a Sigstore bundle, listed in index.json."""
    empty = _put(layout, b"{}")
    blob = _put(layout, json.dumps(bundle).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": BUNDLE_V03,
                "config": {"mediaType": "application/vnd.oci.empty.v1+json", **empty},
                "layers": [{"mediaType": BUNDLE_V03, **blob}],
                "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": 1}}
    m = _put(layout, json.dumps(manifest).encode())
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": BUNDLE_V03, **m})
    (layout / "index.json").write_text(json.dumps(index))
    return m["digest"]


def attach_legacy_sig(layout: Path, sigstore_local, image_digest: str) -> None:
    """cosign 1.x/2.x style: a manifest tagged sha256-<digest>.sig with a simple-signing payload."""
    payload = json.dumps({"critical": {"identity": {"docker-reference": "example.org/app"},
                                       "image": {"docker-manifest-digest": image_digest},
                                       "type": "cosign container image signature"}, "optional": None}).encode()
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    cert = sigstore_local.issue(Identity(), key)
    from cryptography.hazmat.primitives import hashes
    sig = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    layer = _put(layout, payload)
    rekor_bundle = {"SignedEntryTimestamp": base64.b64encode(b"set").decode(),
                    "Payload": {"body": "", "integratedTime": 1700000000, "logIndex": 1, "logID": "00"}}
    config = _put(layout, b"{}")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
                "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", **layer,
                            "annotations": {"dev.cosignproject.cosign/signature": base64.b64encode(sig).decode(),
                                            "dev.sigstore.cosign/certificate":
                                                cert.public_bytes(serialization.Encoding.PEM).decode(),
                                            "dev.sigstore.cosign/bundle": json.dumps(rekor_bundle)}}]}
    m = _put(layout, json.dumps(manifest).encode())
    index = json.loads((layout / "index.json").read_text())
    tag = "sha256-" + image_digest.split(":")[1] + ".sig"
    index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **m,
                               "annotations": {"org.opencontainers.image.ref.name": tag}})
    (layout / "index.json").write_text(json.dumps(index))


def make_image(checker):
    return checker.oci([{"usr/bin/app": "#!/bin/sh\necho hi\n", "etc/os-release": "ID=test\n"}], name="app-image")


def test_referrer_bundles_verify_against_the_image_digest(checker, sigstore_local, cli):
    layout = make_image(checker)
    digest, raw = image_manifest(layout)
    attach_referrer(layout, sigstore_local.sign_blob(raw), digest)          # signature over the manifest
    stmt = intoto_statement({"example.org/app": digest.split(":")[1]}, predicate_type="https://slsa.dev/provenance/v1")
    attach_referrer(layout, sigstore_local.sign_dsse(stmt), digest)         # provenance for the image
    attach_referrer(layout, sigstore_local.sign_blob(b"another image"), "sha256:" + "1" * 64)   # not ours: ignored
    res = cli("verify", layout, *ID, "--trusted-root", sigstore_local.root_path, "--format", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    found = res.json()["findings"]
    assert [f["rule_id"] for f in found] == ["PC510", "PC510"]
    assert {f["evidence"]["subject_digest"] for f in found} == {digest}
    assert {f["evidence"]["bundle_kind"] for f in found} == {"message-signature", "dsse"}


def test_referrer_for_a_different_image_does_not_verify(checker, sigstore_local, cli):
    layout = make_image(checker)
    digest, raw = image_manifest(layout)
    # a valid signature over other bytes, re-pointed at this image with a forged subject
    attach_referrer(layout, sigstore_local.sign_blob(raw + b" "), digest)
    stmt = intoto_statement({"example.org/other": "2" * 64})
    attach_referrer(layout, sigstore_local.sign_dsse(stmt), digest)
    res = cli("verify", layout, *ID, "--trusted-root", sigstore_local.root_path, "--format", "json")
    assert res.exit_code == 1
    assert sorted(f["rule_id"] for f in res.json()["findings"]) == ["PC501", "PC505"]


def test_oci_archive_and_legacy_cosign_tag(checker, tmp_path, sigstore_local):
    layout = make_image(checker)
    digest, raw = image_manifest(layout)
    attach_legacy_sig(layout, sigstore_local, digest)
    archive = tmp_path / "app-image.tar"
    with tarfile.open(archive, "w") as t:
        for p in sorted(layout.rglob("*")):
            t.add(p, arcname=str(p.relative_to(layout)), recursive=False)
    res = checker.run_cli("verify", archive, *ID, "--trusted-root", sigstore_local.root_path, "--format", "json")
    assert res.exit_code == 1, res.stdout + res.stderr
    (f,) = res.json()["findings"]
    assert f["rule_id"] == "PC503"
    ev = f["evidence"]
    assert ev["tag_kind"] == "sig" and ev["claimed_subject"] == digest
    assert ev["signer"]["identity"] == "release@example.org" and ev["signer"]["unverified"] is True
    # the same in `provcheck scan`, from the layout directory
    checker.add_plugin(provcheck_attest)
    scan = checker.run(layout, select=["PC5"])
    scan.assert_no_errors()
    scan.assert_rules(PC503=1)


def test_image_without_attachments_fails_verify_but_not_scan(checker, sigstore_local, cli):
    layout = make_image(checker)
    res = cli("verify", layout, *ID, "--trusted-root", sigstore_local.root_path, "--format", "json")
    assert res.exit_code == 1
    (f,) = res.json()["findings"]
    assert f["rule_id"] == "PC511"
    checker.add_plugin(provcheck_attest)
    assert checker.run(layout, select=["PC5"]).findings == []


def test_broken_attachment_is_reported(checker, sigstore_local, cli):
    layout = make_image(checker)
    digest, raw = image_manifest(layout)
    m = attach_referrer(layout, sigstore_local.sign_blob(raw), digest)
    manifest = json.loads((layout / "blobs" / "sha256" / m.split(":")[1]).read_text())
    (layout / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]).unlink()
    res = cli("verify", layout, *ID, "--trusted-root", sigstore_local.root_path, "--format", "json")
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    assert [f["rule_id"] for f in res.json()["findings"]] == ["PC509"]


def test_named_bundle_for_an_image_is_checked_against_its_manifest_digest(checker, tmp_path, sigstore_local, cli):
    layout = make_image(checker)
    digest, raw = image_manifest(layout)
    bundle = tmp_path / "image.sigstore.json"
    bundle.write_text(json.dumps(sigstore_local.sign_blob(raw)))
    res = cli("verify", layout, "--bundle", bundle, *ID, "--trusted-root", sigstore_local.root_path,
                          "--format", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    (f,) = res.json()["findings"]
    assert f["rule_id"] == "PC510" and f["evidence"]["subject_digest"] == digest


def test_hostile_index_shapes_are_findings(checker, sigstore_local):
    layout = make_image(checker)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append({"artifactType": BUNDLE_V03, "digest": "sha256:../../etc/passwd"})
    index["manifests"].append({"artifactType": BUNDLE_V03, "digest": "sha256:" + "f" * 64})   # missing blob
    index["manifests"].append("not a descriptor")
    (layout / "index.json").write_text(json.dumps(index))
    checker.add_plugin(provcheck_attest)
    res = checker.run(layout, select=["PC5"])
    res.assert_no_errors()
    assert {f.rule_id for f in res.findings} == {"PC509"}
    assert any("malformed" in f.message or "missing" in f.message for f in res.findings)
