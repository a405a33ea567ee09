"""OpenPGP: real Debian orig tarballs with their upstream signatures and keys, plus
keys generated with gpg for the signer-history (xz 5.6.x) case."""

from __future__ import annotations

import json
import shutil

import provcheck_attest
from provcheck_attest import openpgp

LASSE = "3690C240CE51B4670D30AD1C38EE757D69184620"   # xz-utils upstream key in debian/upstream/signing-key.asc


def rules(res):
    return [f["rule_id"] for f in res.json()["findings"]]


def test_real_xz_orig_tarball_verifies_with_debian_upstream_key(checker, debian_sources):
    d = debian_sources
    res = checker.run_cli("verify", d["xz"], "--signature", d["xz_asc"], "--keyring", d["xz_key"], "--format", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    (f,) = res.json()["findings"]
    assert f["rule_id"] == "PC510"
    ev = f["evidence"]
    assert ev["fingerprint"] == LASSE and ev["primary_fingerprint"] == LASSE
    assert "Lasse Collin" in ev["user_id"]
    assert ev["signed_at"].startswith("2023-01-11")
    assert ev["key_expired_at"].startswith("2024-02-02")   # expired after signing: still a good signature
    assert ev["subject_digest"].startswith("sha256:")
    assert "gpgv" in ev["verifier"]


def test_real_hello_tarball_verifies_and_foreign_key_does_not(checker, debian_sources, cli):
    d = debian_sources
    ok = cli("verify", d["hello"], "--signature", d["hello_asc"], "--keyring", d["hello_key"],
                         "--format", "json")
    assert ok.exit_code == 0 and rules(ok) == ["PC510"], ok.stdout + ok.stderr
    wrong_key = cli("verify", d["hello"], "--signature", d["hello_asc"], "--keyring", d["xz_key"],
                                "--format", "json")
    assert wrong_key.exit_code == 1
    (f,) = wrong_key.json()["findings"]
    assert f["rule_id"] == "PC507" and f["evidence"]["status"] == "no-key"


def test_modified_tarball_is_a_bad_signature(checker, tmp_path, debian_sources, cli):
    d = debian_sources
    data = bytearray(d["xz"].read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / d["xz"].name
    bad.write_bytes(bytes(data))
    res = cli("verify", bad, "--signature", d["xz_asc"], "--keyring", d["xz_key"], "--format", "json")
    assert res.exit_code == 1
    (f,) = res.json()["findings"]
    assert f["rule_id"] == "PC507" and f["severity"] == "critical"
    assert f["evidence"]["status"] == "bad"
    assert any(l.startswith("BADSIG") for l in f["evidence"]["gpgv_status"])


def test_sidecar_signature_in_scan_with_binary_keyring(checker, tmp_path, debian_sources):
    """`provcheck scan` finds X.asc next to a release when a keyring is configured; a binary keyring works too."""
    checker.add_plugin(provcheck_attest)
    d = debian_sources
    shutil.copy(d["xz"], tmp_path / d["xz"].name)
    shutil.copy(d["xz_asc"], tmp_path / d["xz_asc"].name)
    ring = tmp_path / "keys.gpg"
    ring.write_bytes(openpgp.dearmor(d["xz_key"].read_bytes()))
    opts = {"keyring": str(ring)}
    res = checker.run(tmp_path / d["xz"].name, select=["PC5"], options={"attest": opts, "provcheck_attest": opts})
    res.assert_no_errors()
    f = res.only("PC510")
    assert f.evidence["fingerprint"] == LASSE


def test_garbage_signature_and_keyring_are_findings(checker, tmp_path, debian_sources, cli):
    d = debian_sources
    sig = tmp_path / "x.asc"
    sig.write_bytes(b"-----BEGIN PGP SIGNATURE-----\n\nnot base64 at all\n-----END PGP SIGNATURE-----\n")
    res = cli("verify", d["xz"], "--signature", sig, "--keyring", d["xz_key"], "--format", "json")
    assert res.exit_code == 1 and rules(res) == ["PC507"] and "Traceback" not in res.stderr
    ring = tmp_path / "ring.asc"
    ring.write_bytes(b"\x00\x01garbage")
    res = cli("verify", d["xz"], "--signature", d["xz_asc"], "--keyring", ring, "--format", "json")
    assert res.exit_code == 1 and rules(res) == ["PC507"]


def test_new_signer_is_flagged_against_the_history(checker, tmp_path, gpg, cli):
    """The xz 5.6.x shape: a valid signature, by a key that signed none of the earlier releases."""
    old = gpg.new_key("Old Maintainer <old@example.org>")
    new = gpg.new_key("New Maintainer <new@example.org>")
    keyring = tmp_path / "keys.asc"
    keyring.write_bytes(gpg.export(old, new))
    history = tmp_path / "signers.json"
    releases = {}
    for version, key in (("5.4.5", old), ("5.4.6", old), ("5.6.1", new)):
        tarball = checker.tarball({f"xz-{version}/README": f"xz {version}\n"}, name=f"xz-{version}.tar.gz")
        releases[version] = (tarball, gpg.sign(key, tarball))

    for version in ("5.4.5", "5.4.6"):
        tarball, sig = releases[version]
        res = cli("verify", tarball, "--signature", sig, "--keyring", keyring, "--history", history,
                              "--record", "--format", "json")
        assert res.exit_code == 0 and rules(res) == ["PC510"], res.stdout + res.stderr
    assert json.loads(history.read_text()) == {"xz": {"5.4.5": [old], "5.4.6": [old]}}
    ev = json.loads(res.stdout)["findings"][0]["evidence"]["history"]
    assert ev["signed_earlier"] == ["5.4.5"]

    tarball, sig = releases["5.6.1"]
    res = cli("verify", tarball, "--signature", sig, "--keyring", keyring, "--history", history,
                          "--format", "json")
    assert res.exit_code == 1
    (f,) = res.json()["findings"]
    assert f["rule_id"] == "PC508"
    assert f["evidence"]["fingerprint"] == new
    assert f["evidence"]["history"]["previous_signers"] == [old]
    assert f["evidence"]["history"]["previous_versions"] == ["5.4.5", "5.4.6"]
    assert "New Maintainer" in f["message"]
    # without a history the same signature is simply good
    res = cli("verify", tarball, "--signature", sig, "--keyring", keyring, "--format", "json")
    assert res.exit_code == 0 and rules(res) == ["PC510"]


def test_project_and_version_from_file_names():
    assert openpgp.project_version("xz-5.6.1.tar.gz") == ("xz", "5.6.1")
    assert openpgp.project_version("xz-utils_5.4.1.orig.tar.xz") == ("xz-utils", "5.4.1")
    assert openpgp.project_version("hello_2.10.orig.tar.gz") == ("hello", "2.10")
    assert openpgp.project_version("README") == (None, None)


def test_usage_errors(checker, tmp_path, debian_sources, cli):
    d = debian_sources
    assert cli("verify", d["xz"], "--signature", d["xz_asc"]).exit_code == 4
    assert cli("verify", d["xz"], "--signature", tmp_path / "nope.asc", "--keyring", d["xz_key"]).exit_code == 4
    assert cli("verify", tmp_path / "missing.tar.gz").exit_code == 4
    nothing = cli("verify", d["xz"], "--format", "json")
    assert nothing.exit_code == 1 and rules(nothing) == ["PC511"]


def test_keyring_straight_from_the_debian_tarball(checker, debian_sources, cli):
    """Debian's convention: the upstream key lives in debian/upstream/signing-key.asc of the source package."""
    d = debian_sources
    debian_tar = sorted(d["xz"].parent.glob("xz-utils_*.debian.tar.*"))[-1]
    res = cli("verify", d["xz"], "--signature", d["xz_asc"], "--keyring", debian_tar, "--format", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    (f,) = res.json()["findings"]
    assert f["rule_id"] == "PC510" and f["evidence"]["fingerprint"] == LASSE
    assert f["evidence"]["keyring"].endswith(":debian/upstream/signing-key.asc")
    hello_tar = sorted(d["hello"].parent.glob("hello_*.debian.tar.*"))[-1]
    res = cli("verify", d["xz"], "--signature", d["xz_asc"], "--keyring", hello_tar, "--format", "json")
    assert res.exit_code == 1 and rules(res) == ["PC507"]


def test_non_openpgp_sidecar_is_not_called_a_bad_signature(checker, tmp_path):
    checker.add_plugin(provcheck_attest)
    tarball = checker.tarball({"pkg-1.0/README": "x\n"}, name="pkg-1.0.tar.gz")
    (tarball.parent / "pkg-1.0.tar.gz.sig").write_text("MEUCIQDx0cosignStyleBase64Signature==\n")
    ring = tmp_path / "k.asc"
    ring.write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n-----END PGP PUBLIC KEY BLOCK-----\n")
    opts = {"keyring": str(ring)}
    res = checker.run(tarball, select=["PC5"], options={"attest": opts, "provcheck_attest": opts})
    res.assert_no_errors()
    assert [f.rule_id for f in res.findings] == ["PC509"]


def test_crosscheck_names_the_signer_of_a_release_that_differs_from_source(checker, tmp_path, gpg):
    """A stand-in release-vs-source detector reports an extra m4 file; the signer is put next to it."""
    from provcheck import Rule, Severity, hookimpl

    extra = Rule(id="PC190", name="test-extra-file", summary="file not in source", severity=Severity.HIGH,
                 doc="## What it does\nx\n## Why is this bad?\nx\n## Example\nx\n## References\nx\n")

    class FakeRelease:
        @hookimpl
        def provcheck_register_rules(self):
            return [extra]

        @hookimpl
        def provcheck_detect(self, scan):
            for art in scan.targets:
                node = art.tree.get("xz-5.6.1/m4/build-to-host.m4")
                if node is not None:
                    yield extra.finding(location=node.location(art.name), message="not in git", key="m4")

    checker.add_plugin(provcheck_attest)
    checker.add_plugin(FakeRelease())
    new = gpg.new_key("Crosscheck Maintainer <cc@example.org>")
    keyring = tmp_path / "k.asc"
    keyring.write_bytes(gpg.export(new))
    tarball = checker.tarball({"xz-5.6.1/README": "xz\n", "xz-5.6.1/m4/build-to-host.m4": "dnl serial 30\n"},
                              name="xz-5.6.1.tar.gz")
    gpg.sign(new, tarball)
    opts = {"keyring": str(keyring)}
    res = checker.run(tarball, options={"attest": opts, "provcheck_attest": opts})
    res.assert_no_errors()
    f = res.only("PC512")
    assert f.evidence["signers"][0]["signer"] == new
    assert f.evidence["differences"][0]["path"] == "xz-5.6.1/m4/build-to-host.m4"
    assert f.related[0].path == "xz-5.6.1/m4/build-to-host.m4"
    for accepted in ({"suppress": [{"rule": "PC190", "reason": "reviewed"}]}, {"ignore": ["PC190"]},
                     {"severity": {"PC190": "low"}}):  # what the user accepted does not count
        res = checker.run(tarball, options={"attest": opts, "provcheck_attest": opts}, config=accepted)
        res.assert_rules(PC510=1, PC512=0)
    clean = checker.tarball({"xz-5.6.1/README": "xz\n"}, name="xz-5.6.1.tar.gz")
    gpg.sign(new, clean)
    res = checker.run(clean, options={"attest": opts, "provcheck_attest": opts})
    res.assert_rules(PC510=1, PC512=0)
