"""Sigstore bundles and SLSA provenance, verified offline by sigstore's own Verifier."""

from __future__ import annotations

import hashlib
import json
import socket

import pytest

import provcheck_attest
from localsigstore import BUNDLE_V01, Identity, intoto_statement

ID = ["--cert-identity", "release@example.org", "--cert-oidc-issuer", "https://accounts.example.org"]
DATA = b"pkg-1.0 release tarball bytes\n" * 500


def write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_bytes(obj if isinstance(obj, bytes) else json.dumps(obj).encode())
    return p


def opts(attest):
    """Plugin options; a plugin added with checker.add_plugin is registered under its module name."""
    return {"attest": attest, "provcheck_attest": attest}


def findings(res, rule=None):
    doc = res.json()
    return [f for f in doc["findings"] if rule is None or f["rule_id"] == rule]


def test_network_is_blocked():
    with pytest.raises(OSError, match="network disabled"):
        socket.create_connection(("127.0.0.1", 9))


def test_valid_bundle_verifies_with_identity(checker, tmp_path, sigstore_local):
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    bundle = write(tmp_path, "pkg.sigstore.json", sigstore_local.sign_blob(DATA))
    res = checker.run_cli("verify", art, "--bundle", bundle, *ID, "--trusted-root", sigstore_local.root_path,
                          "--format", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    (f,) = findings(res)
    assert f["rule_id"] == "PC510"
    ev = f["evidence"]
    assert ev["status"] == "verified"
    assert ev["signer"]["identity"] == "release@example.org"
    assert ev["signer"]["issuer"] == "https://accounts.example.org"
    assert ev["subject_digest"] == "sha256:" + hashlib.sha256(DATA).hexdigest()
    assert ev["policy"] == {"identity": "release@example.org", "issuer": "https://accounts.example.org"}
    assert ev["tlog"]["kind"] == "hashedrekord/0.0.1"
    assert ev["trusted_root"]["name"].endswith("trusted_root.json")


def test_tampered_artifact_is_rejected(checker, tmp_path, sigstore_local, cli):
    bundle = write(tmp_path, "pkg.sigstore.json", sigstore_local.sign_blob(DATA))
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA[:-1] + b"X")
    res = cli("verify", art, "--bundle", bundle, *ID, "--trusted-root", sigstore_local.root_path,
                          "--format", "json")
    assert res.exit_code == 1
    (f,) = findings(res)
    assert f["rule_id"] == "PC501" and f["severity"] == "critical"
    assert "digest mismatch" in f["message"] or "invalid for input" in f["message"]


@pytest.mark.parametrize("identity,issuer", [("mallory@example.org", "https://accounts.example.org"),
                                             ("release@example.org", "https://evil.example.org")])
def test_wrong_identity_is_a_policy_failure_not_a_crypto_failure(checker, tmp_path, sigstore_local, identity, issuer, cli):
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    bundle = write(tmp_path, "pkg.sigstore.json", sigstore_local.sign_blob(DATA))
    res = cli("verify", art, "--bundle", bundle, "--cert-identity", identity, "--cert-oidc-issuer", issuer,
                          "--trusted-root", sigstore_local.root_path, "--format", "json")
    assert res.exit_code == 1
    (f,) = findings(res)
    assert f["rule_id"] == "PC502"
    assert f["evidence"]["signer"]["identity"] == "release@example.org"
    assert f["evidence"]["policy"]["identity"] == identity


@pytest.mark.parametrize("tamper,needle", [
    ("checkpoint", "checkpoint"),           # checkpoint signed by a key the root does not know
    ("checkpoint-forged", "checkpoint"),    # foreign signature claiming the log's key id
    ("proof", "inclusion proof"),           # wrong sibling hash in the audit path
    ("set", "inclusion promise"),           # forged signed entry timestamp
    ("sct", "SCT"),                         # certificate SCT by a CT key the root does not know
    ("no-sct", "SCT"),
])
def test_forged_log_material_is_rejected(checker, tmp_path, sigstore_local, tamper, needle):
    checker.add_plugin(provcheck_attest)
    art = checker.tarball({"pkg-1.0/README": "hello\n"}, name="pkg-1.0.tar.gz")
    bundle = write(tmp_path, "x.sigstore.json", sigstore_local.sign_blob(art.read_bytes(), tamper=tamper))
    res = checker.run(art, options=opts({"bundle": [str(bundle)], "cert_identity": "release@example.org",
                                               "cert_oidc_issuer": "https://accounts.example.org",
                                               "trusted_root": sigstore_local.root_path}))
    res.assert_no_errors()
    f = res.only("PC501")
    assert needle in f.evidence["detail"]
    assert not res.by_rule("PC510")


def test_foreign_and_production_roots_reject_local_bundles(checker, tmp_path, sigstore_local, sigstore_foreign, cli):
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    bundle = write(tmp_path, "pkg.sigstore.json", sigstore_local.sign_blob(DATA))
    foreign = cli("verify", art, "--bundle", bundle, *ID, "--trusted-root", sigstore_foreign.root_path,
                              "--format", "json")
    assert foreign.exit_code == 1
    assert [f["rule_id"] for f in findings(foreign)] == ["PC501"]
    production = cli("verify", art, "--bundle", bundle, *ID, "--format", "json")
    assert production.exit_code == 1
    (f,) = findings(production)
    assert f["rule_id"] == "PC501"
    assert "sigstore production" in f["evidence"]["trusted_root"]["name"]


def test_v01_bundle_without_inclusion_proof_is_unverifiable_offline(checker, tmp_path, sigstore_local, cli):
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    bundle = write(tmp_path, "old.sigstore", sigstore_local.sign_blob(DATA, media_type=BUNDLE_V01, tamper="no-proof"))
    res = cli("verify", art, "--bundle", bundle, *ID, "--trusted-root", sigstore_local.root_path,
                          "--format", "json")
    assert res.exit_code == 1
    (f,) = findings(res)
    assert f["rule_id"] == "PC503"
    assert f["evidence"]["status"] == "unverifiable-offline"
    assert f["evidence"]["signer"]["unverified"] is True
    assert "offline" in f["message"]


def test_v02_bundle_with_proof_verifies(checker, tmp_path, sigstore_local):
    checker.add_plugin(provcheck_attest)
    art = checker.tarball({"pkg-1.0/README": "hello\n"}, name="pkg-1.0.tar.gz")
    bundle = write(tmp_path, "b.sigstore", sigstore_local.sign_blob(
        art.read_bytes(), media_type="application/vnd.dev.sigstore.bundle+json;version=0.2"))
    res = checker.run(art, options=opts({"bundle": str(bundle), "cert_identity": "release@example.org",
                                               "trusted_root": sigstore_local.root_path}))
    res.assert_rules(PC510=1)


@pytest.mark.parametrize("garbage", [b"<html>503</html>", b"{}",
                                     b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}',
                                     b'{"mediaType": "x/y", "verificationMaterial": 5}', b"\xff\xfe" * 100,
                                     b"[" * 200000,
                                     b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", '
                                     b'"verificationMaterial": {"tlogEntries": [{"inclusionProof": 7}]}}'])
def test_garbage_bundles_are_findings_not_tracebacks(checker, tmp_path, sigstore_local, garbage, cli):
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    bundle = write(tmp_path, "bad.sigstore.json", garbage)
    res = cli("verify", art, "--bundle", bundle, *ID, "--trusted-root", sigstore_local.root_path,
                          "--format", "json")
    assert res.exit_code == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert [f["rule_id"] for f in findings(res)] == ["PC509"]


def test_bad_trusted_root_is_a_usage_error(checker, tmp_path, sigstore_local, cli):
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    bundle = write(tmp_path, "pkg.sigstore.json", sigstore_local.sign_blob(DATA))
    root = write(tmp_path, "root.json", b'{"mediaType": "nope"}')
    res = cli("verify", art, "--bundle", bundle, *ID, "--trusted-root", root)
    assert res.exit_code == 4 and "trusted root" in res.stderr
    res = cli("verify", art, "--bundle", bundle)
    assert res.exit_code == 4 and "--cert-identity" in res.stderr


def test_ci_identity_source_repository_ref_and_commit(checker, tmp_path, sigstore_local, cli):
    wf = "https://github.com/org/proj/.github/workflows/release.yml@refs/tags/v1.0"
    ident = Identity(san=wf, issuer="https://token.actions.githubusercontent.com",
                     source_repo="https://github.com/org/proj", source_ref="refs/tags/v1.0", source_digest="a" * 40)
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    bundle = write(tmp_path, "pkg.sigstore.json", sigstore_local.sign_blob(DATA, ident))
    base = ["verify", art, "--bundle", bundle, "--cert-identity", wf, "--cert-oidc-issuer",
            "https://token.actions.githubusercontent.com", "--trusted-root", sigstore_local.root_path, "--format", "json"]
    ok = cli(*base, "--cert-source-repository", "org/proj", "--cert-source-ref", "refs/tags/v1.0",
                         "--cert-source-digest", "a" * 40)
    assert ok.exit_code == 0, ok.stdout
    (f,) = findings(ok)
    assert f["evidence"]["signer"]["source_repository"] == "https://github.com/org/proj"
    assert f["evidence"]["signer"]["source_ref"] == "refs/tags/v1.0"
    bad = cli(*base, "--cert-source-repository", "fork/proj")
    assert bad.exit_code == 1
    assert [f["rule_id"] for f in findings(bad)] == ["PC502"]
    bad_commit = cli(*base, "--cert-source-digest", "b" * 40)
    assert [f["rule_id"] for f in findings(bad_commit)] == ["PC502"]


# -- provenance ---------------------------------------------------------------------------------

def _provenance(sigstore_local, digest, commit, ptype="https://slsa.dev/provenance/v1", **kw):
    return sigstore_local.sign_dsse(intoto_statement({"pkg-1.0.tar.gz": digest}, predicate_type=ptype,
                                                     commit=commit), **kw)


@pytest.mark.parametrize("ptype", ["https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v0.2"])
def test_slsa_provenance_ties_to_the_source_commit(checker, tmp_path, sigstore_local, ptype, cli):
    repo = checker.gitrepo({"src/main.c": "int main(void){return 0;}\n"}, tags="v1.0")
    import subprocess
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "v1.0^{commit}"], capture_output=True, text=True,
                            check=True).stdout.strip()
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    good = write(tmp_path, "good.sigstore.json", _provenance(sigstore_local, hashlib.sha256(DATA).hexdigest(), commit, ptype))
    res = cli("verify", art, "--bundle", good, *ID, "--trusted-root", sigstore_local.root_path,
                          "--source", f"git:{repo}@v1.0", "--format", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    (f,) = findings(res)
    assert f["rule_id"] == "PC510"
    prov = f["evidence"]["provenance"]
    assert prov["commit"] == commit and prov["repository"] == "git+https://example.org/proj"
    assert f["evidence"]["source_check"]["result"] == "match"
    assert f["evidence"]["matched_subject"]["name"] == "pkg-1.0.tar.gz"

    other = write(tmp_path, "other.sigstore.json", _provenance(sigstore_local, hashlib.sha256(DATA).hexdigest(), "c" * 40, ptype))
    res = cli("verify", art, "--bundle", other, *ID, "--trusted-root", sigstore_local.root_path,
                          "--source", f"git:{repo}@v1.0", "--format", "json")
    assert res.exit_code == 1
    (f,) = findings(res)
    assert f["rule_id"] == "PC506"
    assert commit in f["message"] and "c" * 40 in f["message"]


def test_provenance_for_other_bytes_is_a_subject_mismatch(checker, tmp_path, sigstore_local, cli):
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    b = write(tmp_path, "p.sigstore.json", _provenance(sigstore_local, hashlib.sha256(b"other").hexdigest(), "d" * 40))
    res = cli("verify", art, "--bundle", b, *ID, "--trusted-root", sigstore_local.root_path, "--format", "json")
    assert res.exit_code == 1
    (f,) = findings(res)
    assert f["rule_id"] == "PC505"
    assert f["evidence"]["subject_digest"] == "sha256:" + hashlib.sha256(DATA).hexdigest()


def test_tampered_dsse_payload_is_rejected(checker, tmp_path, sigstore_local, cli):
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    b = write(tmp_path, "p.sigstore.json", _provenance(sigstore_local, hashlib.sha256(DATA).hexdigest(), "d" * 40,
                                                       tamper="payload"))
    res = cli("verify", art, "--bundle", b, *ID, "--trusted-root", sigstore_local.root_path, "--format", "json")
    assert res.exit_code == 1
    assert [f["rule_id"] for f in findings(res)] == ["PC501"]


# -- inside `provcheck scan` ------------------------------------------------------------------------

def test_scan_finds_sidecar_bundles(checker, tmp_path, sigstore_local):
    checker.add_plugin(provcheck_attest)
    tarball = checker.tarball({"pkg-1.0/README": "hello\n"}, name="pkg-1.0.tar.gz")
    data = tarball.read_bytes()
    write(tarball.parent, "pkg-1.0.tar.gz.sigstore.json", sigstore_local.sign_blob(data))
    (tarball.parent / "pkg-1.0.tar.gz.intoto.jsonl").write_text(
        json.dumps(_provenance(sigstore_local, hashlib.sha256(data).hexdigest(), "e" * 40)) + "\n"
        + json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}) + "\n")
    res = checker.run(tarball, options=opts({"trusted_root": sigstore_local.root_path}))
    res.assert_no_errors()
    res.assert_rules(PC504=2, PC503=1)   # both verify, but no identity was pinned; one bare envelope
    pinned = checker.run(tarball, options=opts({"trusted_root": sigstore_local.root_path,
                                                      "cert_identity": "release@example.org",
                                                      "cert_oidc_issuer": "https://accounts.example.org"}))
    pinned.assert_rules(PC510=2, PC503=1, PC504=0)
    sig = [f for f in pinned.by_rule("PC510") if f.evidence["bundle_kind"] == "message-signature"][0]
    assert sig.location.sha256 == hashlib.sha256(data).hexdigest()
    # a statement's fingerprint follows its content, not its line: prepending one changes no other
    jsonl = tarball.parent / "pkg-1.0.tar.gz.intoto.jsonl"
    before = {f.fingerprint for f in pinned.findings if f.rule_id in ("PC503", "PC510")}
    jsonl.write_text('{"not": "a statement"}\n' + jsonl.read_text())
    again = checker.run(tarball, options=opts({"trusted_root": sigstore_local.root_path,
                                                "cert_identity": "release@example.org",
                                                "cert_oidc_issuer": "https://accounts.example.org"}))
    again.assert_rules(PC510=2, PC503=1, PC509=1)
    assert before <= {f.fingerprint for f in again.findings}


def test_scan_cli_options_and_unsigned_release(checker, tmp_path, sigstore_local):
    tarball = checker.tarball({"pkg-1.0/README": "hello\n"}, name="pkg-1.0.tar.gz")
    res = checker.run_cli("scan", tarball, "--select", "PC5", "--format", "json")
    assert res.json()["findings"] == []
    # (other plugins run in a scan too; only this plugin's errors are this test's business)
    assert not [e for e in res.json()["errors"] if e.get("plugin") == "attest"]
    res = checker.run_cli("scan", tarball, "--select", "PC5", "--set", "attest.require_signature=true",
                          "--format", "json")
    assert [f["rule_id"] for f in res.json()["findings"]] == ["PC511"]
    bundle = write(tmp_path, "elsewhere.json", sigstore_local.sign_blob(tarball.read_bytes()))
    res = checker.run_cli("scan", tarball, "--select", "PC5", "--attest-bundle", bundle, "--attest-cert-identity",
                          "release@example.org", "--attest-trusted-root", sigstore_local.root_path, "--format", "json")
    assert [f["rule_id"] for f in res.json()["findings"]] == ["PC510"], res.stdout + res.stderr


def test_scan_ties_provenance_to_the_source_input(checker, sigstore_local):
    """`provcheck scan release.tar.gz --source git:REPO@TAG`: the provenance next to the release
    must name the commit the release is compared against."""
    import subprocess
    checker.add_plugin(provcheck_attest)
    repo = checker.gitrepo([{"README": "v1\n"}, {"README": "v2\n"}], tags=["v1.0", "v2.0"])
    rev = {t: subprocess.run(["git", "-C", str(repo), "rev-parse", f"{t}^{{commit}}"], capture_output=True, text=True,
                             check=True).stdout.strip() for t in ("v1.0", "v2.0")}
    tarball = checker.tarball({"pkg-2.0/README": "v2\n"}, name="pkg-2.0.tar.gz")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    (tarball.parent / "pkg-2.0.tar.gz.intoto.jsonl").write_text(
        json.dumps(_provenance(sigstore_local, digest, rev["v2.0"])) + "\n")
    policy = {"trusted_root": sigstore_local.root_path, "cert_identity": "release@example.org"}
    good = checker.run(tarball, source=f"git:{repo}@v2.0", options=opts(policy))
    good.assert_no_errors()
    f = good.only("PC510")
    assert f.evidence["source_check"] == {"source": f"{repo.name}@v2.0", "commit": rev["v2.0"], "result": "match"}
    wrong_tag = checker.run(tarball, source=f"git:{repo}@v1.0", options=opts(policy))
    f = wrong_tag.only("PC506")
    assert rev["v1.0"] in f.message and rev["v2.0"] in f.message
    assert not wrong_tag.by_rule("PC510")


def test_rule_docs_and_ids():
    from provcheck_attest.rules import RULES
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids)) and all(i.startswith("PC5") and len(i) == 5 for i in ids)
    for r in RULES:
        for section in ("## What it does", "## Why is this bad?", "## Example", "## References"):
            assert section in r.doc, (r.id, section)


def test_client_trust_config_is_accepted(checker, tmp_path, sigstore_local, cli):
    from provcheck_attest.sigstore_check import production_root_path
    signing_config = json.loads((production_root_path().parent / "signing_config.v0.2.json").read_text())
    cfg = write(tmp_path, "trust_config.json", {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                                                "trustedRoot": sigstore_local.trusted_root(),
                                                "signingConfig": signing_config})
    art = write(tmp_path, "pkg-1.0.tar.gz", DATA)
    bundle = write(tmp_path, "pkg.sigstore.json", sigstore_local.sign_blob(DATA))
    res = cli("verify", art, "--bundle", bundle, *ID, "--trusted-root", cfg, "--format", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    assert findings(res)[0]["evidence"]["trusted_root"]["name"].endswith("trust_config.json")


def test_network_is_blocked_in_cli_subprocesses(checker):
    import os
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
                          capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode != 0 and "network disabled" in proc.stderr


def test_a_bundle_for_a_directory_is_a_clear_error_not_a_failed_signature(checker, tmp_path, sigstore_local):
    """A directory has no digest a Sigstore bundle could sign: naming one is the user's error
    (exit 3 with the reason), never a critical "verification failed"."""
    tree = checker.tree({"pkg-1.0/README": "hello\n"}, name="pkgdir")
    bundle = write(tmp_path, "b.json", sigstore_local.sign_blob(DATA))
    res = checker.run_cli("scan", tree, "--select", "PC5", "--attest-bundle", bundle, "--attest-cert-identity",
                          "release@example.org", "--attest-trusted-root", sigstore_local.root_path, "--format", "json")
    assert res.exit_code == 3 and findings(res) == [], res.stdout + res.stderr
    (err,) = [e for e in res.json()["errors"] if e.get("plugin") == "attest"]
    assert "pkgdir is a directory" in err["message"] and "Traceback" not in res.stderr
