"""Hooks the attest plugin offers other plugins (registered through ``provcheck_addhooks``)."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("provcheck")


@hookspec(firstresult=True)
def provcheck_attest_verify_bundle(bundle: bytes, artifact_sha256: "str | None",
                                   trusted_root: "str | None") -> "dict[str, Any] | None":
    """Verify one Sigstore bundle offline, with no identity policy (the caller ties the signer
    and source to what it compared). ``artifact_sha256`` is needed for message signatures;
    ``trusted_root`` is a ``trusted_root.json`` / trust config path (None: the production root
    shipped in sigstore).

    :return: ``{"status": verified|invalid|unverifiable-offline|unreadable, "detail", "signer"
        (certificate identity, issuer, source_repository/source_digest/source_ref/build_signer_uri
        extensions), "statement" (the in-toto statement of a verified DSSE bundle, else None),
        "subjects" [{name, sha256, sha512}], "slsa_source" (repository, ref, commit, builder; SLSA
        predicates only), "tlog", "trusted_root"}``. Raises ``provcheck.UsageError`` for an
        unreadable trusted root.
    """
