"""The hook the attest plugin offers other plugins: one bundle verified offline, no policy."""

from __future__ import annotations

import json

import pytest

from provcheck import UsageError


def test_attest_verify_bundle_hook(sigstore_local, sigstore_foreign, tmp_path):
    import pluggy

    import provcheck_attest
    from localsigstore import Identity, intoto_statement
    pm = pluggy.PluginManager("provcheck")
    provcheck_attest.provcheck_addhooks(pm)
    pm.register(provcheck_attest)
    stmt = intoto_statement({"pkg-1.0.tgz": "ab" * 32}, commit="1" * 40, repo="git+https://example.org/pkg")
    ident = Identity(source_repo="https://example.org/pkg", source_digest="1" * 40)
    bundle = json.dumps(sigstore_local.sign_dsse(stmt, ident)).encode()
    res = pm.hook.provcheck_attest_verify_bundle(bundle=bundle, artifact_sha256=None,
                                                 trusted_root=sigstore_local.root_path)
    assert res["status"] == "verified" and res["subjects"] == [{"name": "pkg-1.0.tgz", "sha256": "ab" * 32}]
    assert res["slsa_source"]["commit"] == "1" * 40 and res["signer"]["source_digest"] == "1" * 40
    other = pm.hook.provcheck_attest_verify_bundle(bundle=bundle, artifact_sha256=None,
                                                   trusted_root=sigstore_foreign.root_path)
    assert other["status"] == "invalid" and other["statement"] is None and other["subjects"] == []
    assert pm.hook.provcheck_attest_verify_bundle(bundle=b"{", artifact_sha256=None,
                                                  trusted_root=sigstore_local.root_path)["status"] == "unreadable"
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(UsageError):
        pm.hook.provcheck_attest_verify_bundle(bundle=bundle, artifact_sha256=None,
                                               trusted_root=str(tmp_path / "bad.json"))
