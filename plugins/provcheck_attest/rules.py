"""The PC5xx rules: signatures and provenance, checked offline against what was scanned."""

from __future__ import annotations

from provcheck import Confidence, Rule, Severity, rule_doc

_SIGSTORE_REFS = ("- Sigstore bundle format: https://docs.sigstore.dev/about/bundle/\n"
                  "- sigstore-python `Verifier`: https://sigstore.github.io/sigstore-python/\n"
                  "- Sigstore client spec (verification): https://github.com/sigstore/architecture-docs\n")
_SLSA_REFS = ("- SLSA provenance v1: https://slsa.dev/spec/v1.0/provenance\n"
              "- in-toto attestation framework: https://github.com/in-toto/attestation\n"
              "- DSSE: https://github.com/secure-systems-lab/dsse\n")
_PGP_REFS = ("- RFC 4880 / RFC 9580 (OpenPGP)\n"
             "- gpgv(1) and `--status-fd` (DETAILS in the GnuPG sources)\n"
             "- Debian `debian/upstream/signing-key.asc` (uscan(1), pgpsigurlmangle)\n"
             "- CVE-2024-3094 (xz-utils 5.6.0/5.6.1, signed by a new maintainer's key)\n")
_OCI_REFS = ("- cosign signature spec: https://github.com/sigstore/cosign/blob/main/specs/SIGNATURE_SPEC.md\n"
             "- OCI distribution spec 1.1, referrers (`subject`, `artifactType`)\n")


_doc = rule_doc


PC501 = Rule(
    id="PC501", name="sigstore-verification-failed", severity=Severity.CRITICAL,
    summary="A Sigstore bundle does not verify for the scanned artifact against the trusted root",
    doc=_doc(
        "Verifies Sigstore bundles (`.sigstore`, `.sigstore.json`, v0.1-v0.3; message signatures and "
        "DSSE envelopes) with sigstore-python's `Verifier` built from an explicit trusted root (the "
        "production root shipped in the sigstore package, or `--trusted-root`). Offline: the signing "
        "certificate must chain to a Fulcio CA of the root and carry a valid SCT, the transparency-log "
        "entry must have an inclusion proof against a checkpoint signed by a log of the root, and the "
        "signature must cover the bytes that were scanned. Any failure is this finding; the evidence "
        "names the step that failed.",
        "A bundle that does not verify is no signature at all: the artifact may have been swapped after "
        "signing, the log entry or checkpoint may be forged, or the bundle was made under another root of "
        "trust. Treating it as 'signed' is worse than having no signature.",
        "`provcheck verify xz-5.6.1.tar.gz --bundle xz-5.6.1.tar.gz.sigstore.json --cert-identity ...` after one "
        "byte of the tarball changed: `Signature is invalid for input`.",
        _SIGSTORE_REFS))

PC502 = Rule(
    id="PC502", name="sigstore-identity-mismatch", severity=Severity.HIGH,
    summary="A Sigstore signature is valid but the signer does not match the identity policy",
    doc=_doc(
        "After the bundle verifies cryptographically, checks the signing certificate against the identity "
        "policy: `--cert-identity` (the SAN: e-mail, URI or workflow), `--cert-oidc-issuer`, and for CI "
        "identities the source repository, ref and commit (Fulcio extensions 1.3.6.1.4.1.57264.1.12-14). "
        "The evidence lists what was expected and what the certificate says.",
        "Anyone can get a valid Sigstore certificate for their own identity. A signature only means "
        "something when the signer is the one you expected; a valid signature from someone else is how a "
        "swapped artifact looks.",
        "Expected `https://github.com/org/proj/.github/workflows/release.yml@refs/tags/v1.0`, the "
        "certificate says `https://github.com/fork/proj/...`.",
        _SIGSTORE_REFS))

PC503 = Rule(
    id="PC503", name="sigstore-unverifiable-offline", severity=Severity.MEDIUM, confidence=Confidence.MEDIUM,
    summary="A Sigstore signature cannot be verified offline (no inclusion proof or signed checkpoint)",
    doc=_doc(
        "Reports signatures whose transparency-log material cannot be checked without asking the log: "
        "v0.1 bundles and cosign's legacy image signatures (`sha256-<digest>.sig` / `.att` tags with a "
        "`dev.sigstore.cosign/bundle` annotation) carry a signed entry timestamp but no inclusion proof "
        "or checkpoint. provcheck never makes a network call on its own, so these are reported as "
        "*unverifiable offline*, which is distinct from *invalid* (PC501). The claimed signer is shown as "
        "unverified evidence.",
        "An unverified signature must not read as a verified one. Re-sign with a current client (bundle "
        "v0.3) or verify online with cosign/sigstore and record the result.",
        "A `sha256-<digest>.sig` tag in an OCI layout signed by cosign 1.x.",
        _SIGSTORE_REFS + _OCI_REFS))

PC504 = Rule(
    id="PC504", name="signer-identity-unpinned", severity=Severity.LOW, confidence=Confidence.MEDIUM,
    summary="A signature verified, but no identity policy was given, so any signer would have passed",
    doc=_doc(
        "Notes Sigstore bundles found next to an artifact or attached to an image that verify "
        "cryptographically while no `cert-identity`/`cert-oidc-issuer` was configured. The signer's "
        "identity and issuer are in the evidence so that a policy can be written from them.",
        "Without an expected identity a valid signature proves only that *someone* signed the bytes.",
        "`provcheck scan app.tar.gz` with `app.tar.gz.sigstore.json` beside it and no `[plugins.attest]` "
        "identity.",
        _SIGSTORE_REFS))

PC505 = Rule(
    id="PC505", name="provenance-subject-mismatch", severity=Severity.HIGH,
    summary="An attestation's subjects do not include the sha256 of the artifact that was scanned",
    doc=_doc(
        "Reads in-toto statements (DSSE payload type `application/vnd.in-toto+json`, SLSA provenance v0.2 "
        "and v1, or any predicate) from verified bundles, image attestations and `.intoto.jsonl` files, "
        "and checks that the scanned artifact's sha256 (for images: the manifest digest) is one of the "
        "statement's subjects.",
        "Provenance for other bytes says nothing about these. A valid attestation copied next to a "
        "modified artifact is the obvious way to launder it.",
        "`provenance.intoto.jsonl` lists `xz-5.6.1.tar.gz` with digest `sha256:aa...`, the tarball scanned "
        "hashes to `sha256:bb...`.",
        _SLSA_REFS))

PC506 = Rule(
    id="PC506", name="provenance-source-mismatch", severity=Severity.HIGH,
    summary="SLSA provenance names a source commit other than the one the release was compared against",
    doc=_doc(
        "Extracts the source repository and git commit from SLSA provenance (`resolvedDependencies` "
        "`digest.gitCommit`/`sha1` in v1; `materials` and `invocation.configSource` in v0.2). When the "
        "release-vs-source check runs (an input with role `source` that is a git repository), the "
        "provenance must name that commit.",
        "The xz 5.6.x tarballs were built from something other than the tag reviewers read. Provenance "
        "that names a different commit than the tag under review means the comparison was made against "
        "the wrong source, or the build was.",
        "Provenance says `gitCommit: 2d7cb4...`, `--source git:xz@v5.6.1` resolves to `a3e1f0...`.",
        _SLSA_REFS))

PC507 = Rule(
    id="PC507", name="openpgp-signature-invalid", severity=Severity.CRITICAL,
    summary="An OpenPGP release signature is bad, or was not made by a key of the given keyring",
    doc=_doc(
        "Verifies detached OpenPGP signatures (`.asc`, `.sig`) on release tarballs with `gpgv` against the "
        "keyring the user names (armored or binary; Debian's `debian/upstream/signing-key.asc` works as "
        "is). A bad signature, a signature by a key that is not in the keyring, a revoked key or an "
        "unreadable signature is this finding.",
        "The signature is the only link between the tarball and its maintainer; when it does not verify, "
        "nothing says who made the bytes.",
        "`provcheck verify xz-5.4.1.tar.xz --signature xz-5.4.1.tar.xz.asc --keyring signing-key.asc` after "
        "the tarball was modified: `BADSIG 38EE757D69184620`.",
        _PGP_REFS))

PC508 = Rule(
    id="PC508", name="openpgp-new-signer", severity=Severity.HIGH, confidence=Confidence.MEDIUM,
    summary="A release is signed by a key that did not sign the previous releases on record",
    doc=_doc(
        "Keeps a small local history of signer fingerprints per project (a JSON file the user names with "
        "`--history`; `--record` adds the verified signer) and flags a valid signature whose key (primary "
        "or signing subkey) signed none of the earlier releases on record.",
        "Valid signatures are not the whole story: xz-utils 5.6.0 and 5.6.1 were correctly signed, by the "
        "key of the maintainer who planted the backdoor, not by the key that had signed the releases "
        "before. A change of signer deserves a human look.",
        "History `{\"xz\": {\"5.4.6\": \"3690C240CE51B4670D30AD1C38EE757D69184620\"}}`; `xz-5.6.1.tar.gz.asc` "
        "is signed by `22D465F2B4C173803B20C6DE59FCF207FEA7F445`.",
        _PGP_REFS))

PC509 = Rule(
    id="PC509", name="attestation-unreadable", severity=Severity.MEDIUM,
    summary="A signature, bundle, keyring or attestation file could not be parsed",
    doc=_doc(
        "Reports signature material that is malformed: bundles that are not JSON or not a known bundle "
        "media type, DSSE payloads that are not in-toto statements, keyrings gpgv cannot read, image "
        "attachments whose manifests or blobs are missing. The evidence has the parser's reason.",
        "Material that cannot be read cannot vouch for anything, and a hostile file must be reported, "
        "never skipped silently.",
        "`app.tar.gz.sigstore.json` holding an HTML error page from a download mirror.",
        _SIGSTORE_REFS + _PGP_REFS))

PC510 = Rule(
    id="PC510", name="signature-verified", severity=Severity.INFO,
    summary="A signature or attestation verified: who signed, what policy matched, which digest",
    doc=_doc(
        "Records each signature or attestation that verified, with the signer (certificate identity and "
        "issuer, or OpenPGP fingerprint and user id), the policy that matched, the subject digest checked "
        "and, for provenance, the source repository and commit. It is informational: a report then shows "
        "what was verified, not only what failed.",
        "Nothing is wrong; this is the evidence trail. A report with no PC510 for an artifact had no "
        "verified signature.",
        "`sigstore bundle verified for xz-5.6.1.tar.gz: signer release@tukaani.org (issuer "
        "https://github.com/login/oauth)`.",
        _SIGSTORE_REFS + _PGP_REFS))

PC511 = Rule(
    id="PC511", name="signature-missing", severity=Severity.HIGH,
    summary="Verification was asked for, but no signature or attestation was found",
    doc=_doc(
        "Raised by `provcheck verify` when an image has nothing attached (no cosign tag, no OCI 1.1 "
        "referrer) or a named signature/bundle file does not exist, and by `provcheck scan` when "
        "`require-signature` is set and an artifact has no signature material.",
        "\"Nothing to verify\" must not exit 0: an unsigned artifact where a signed one was expected is "
        "the failure a verification step exists to catch.",
        "`provcheck verify app-image/` on a layout that has no `sha256-<digest>.sig` tag and no referrers.",
        _OCI_REFS))

PC512 = Rule(
    id="PC512", name="signed-release-differs-from-source", severity=Severity.HIGH, confidence=Confidence.MEDIUM,
    summary="A release with a valid signature or provenance also differs from its source",
    doc=_doc(
        "Cross-checks this plugin's verified signatures (PC510, PC504) with the findings of the "
        "release-vs-source detectors (PC1xx, medium severity and above, not suppressed) on the same "
        "artifact: when both exist, it reports who signed the diverging release, which policy matched, "
        "and the differing files (up to 50, as related locations). Its severity is that of the worst "
        "difference.",
        "A valid signature vouches for bytes, not for their origin. The xz-utils 5.6.0/5.6.1 tarballs were "
        "validly signed and contained an `m4/build-to-host.m4` that was not in git. Putting the signer next "
        "to the divergence makes clear whose release it is and that the signature is no reason to trust "
        "the extra files.",
        "`xz-5.6.1.tar.gz` signed by 22D465F2..., with PC1xx findings for `m4/build-to-host.m4`.",
        _PGP_REFS + _SIGSTORE_REFS))

RULES = [PC501, PC502, PC503, PC504, PC505, PC506, PC507, PC508, PC509, PC510, PC511, PC512]
