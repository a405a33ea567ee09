"""Sigstore bundles, verified offline with sigstore-python's own ``Verifier``.

The trusted root is always explicit: the production ``trusted_root.json`` that ships
inside the sigstore package (its TUF cache seed) unless the user names a
``trusted_root.json`` or a client trust config. Nothing here opens a socket: the
``Verifier`` only checks what the bundle carries (certificate chain and SCT, inclusion
proof against a signed checkpoint, inclusion promise, signature).

A bundle is checked twice when the identity policy fails: once with the user's policy
and once with no identity policy, so that "valid signature by someone else" (PC502)
and "not a valid signature" (PC501) are told apart.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

MAX_BUNDLE = 16 << 20

PRODUCTION_ROOT_NAME = "sigstore production (trusted_root.json shipped in sigstore {version})"

_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
_EXT_NAMES = {
    "1.3.6.1.4.1.57264.1.12": "source_repository",
    "1.3.6.1.4.1.57264.1.13": "source_digest",
    "1.3.6.1.4.1.57264.1.14": "source_ref",
    "1.3.6.1.4.1.57264.1.9": "build_signer_uri",
    "1.3.6.1.4.1.57264.1.11": "runner_environment",
    "1.3.6.1.4.1.57264.1.20": "build_trigger",
}


class TrustError(Exception):
    """The trusted root itself could not be read (a usage problem, not a finding)."""


@dataclass(frozen=True)
class Policy:
    """The identity the user expects; all empty means "no identity policy"."""

    identity: str = ""
    issuer: str = ""
    source_repository: str = ""
    source_ref: str = ""
    source_digest: str = ""

    @classmethod
    def from_options(cls, options: Any) -> "Policy":
        repo = str(options.get("cert_source_repository") or "")
        if repo and "://" not in repo and repo.count("/") == 1:
            repo = f"https://github.com/{repo}"
        return cls(identity=str(options.get("cert_identity") or ""), issuer=str(options.get("cert_oidc_issuer") or ""),
                   source_repository=repo, source_ref=str(options.get("cert_source_ref") or ""),
                   source_digest=str(options.get("cert_source_digest") or ""))

    @property
    def empty(self) -> bool:
        return not any((self.identity, self.issuer, self.source_repository, self.source_ref, self.source_digest))

    def describe(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v}

    def build(self):
        from sigstore.verify import policy as p

        checks: list[Any] = []
        if self.identity:
            checks.append(p.Identity(identity=self.identity, issuer=self.issuer or None))
        elif self.issuer:
            checks.append(p.OIDCIssuer(self.issuer))
        if self.source_repository:
            checks.append(p.OIDCSourceRepositoryURI(self.source_repository))
        if self.source_ref:
            checks.append(p.OIDCSourceRepositoryRef(self.source_ref))
        if self.source_digest:
            checks.append(p.OIDCSourceRepositoryDigest(self.source_digest))
        if not checks:
            return AnySigner()
        return p.AllOf(checks)


class AnySigner:
    """No identity constraint (the cryptographic checks still all run). Unlike sigstore's
    ``UnsafeNoOp`` it does not log a warning: provcheck reports PC504 instead."""

    def verify(self, cert: Any) -> None:
        return None


@dataclass
class Trust:
    root: Any            # sigstore.models.TrustedRoot
    label: str
    sha256: str

    _verifier: Any = None

    @property
    def verifier(self):
        if self._verifier is None:
            from sigstore.verify import Verifier
            self._verifier = Verifier(trusted_root=self.root)
        return self._verifier


def production_root_path() -> Path:
    base = resources.files("sigstore") / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev" / "trusted_root.json"
    return Path(str(base))


def load_trust(path: str | None) -> Trust:
    """The trusted root: the user's file (trusted root or client trust config) or production."""
    import sigstore
    from sigstore.models import ClientTrustConfig, TrustedRoot

    if path:
        src = Path(path)
        label = str(path)
    else:
        src = production_root_path()
        label = PRODUCTION_ROOT_NAME.format(version=sigstore.__version__)
    try:
        raw = src.read_bytes()
    except OSError as exc:
        raise TrustError(f"{path or src}: cannot read the trusted root: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw)
        media = str(doc.get("mediaType", "")) if isinstance(doc, dict) else ""
        if "clienttrustconfig" in media:
            root = ClientTrustConfig.from_json(raw.decode()).trusted_root
        else:
            from sigstore_models.trustroot import v1 as trustroot_v1
            root = TrustedRoot(trustroot_v1.TrustedRoot.from_json(raw))
    except Exception as exc:  # pydantic, JSON, sigstore errors: all mean "not a trusted root"
        raise TrustError(f"{label}: not a Sigstore trusted root or trust config: {_short(exc)}") from None
    return Trust(root=root, label=label, sha256=hashlib.sha256(raw).hexdigest())


@dataclass
class Outcome:
    """What one bundle check found. ``status`` is one of: verified, identity-mismatch,
    invalid, unverifiable-offline, unreadable."""

    status: str
    detail: str = ""
    kind: str = ""                  # "message-signature" or "dsse"
    media_type: str = ""
    signer: dict[str, Any] = field(default_factory=dict)
    statement: dict[str, Any] | None = None
    payload_type: str | None = None
    log: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.status, "bundle_kind": self.kind, "bundle_media_type": self.media_type}
        if self.signer:
            d["signer"] = self.signer
        if self.log:
            d["tlog"] = self.log
        if self.detail:
            d["detail"] = self.detail
        if self.payload_type:
            d["payload_type"] = self.payload_type
        return d


def _short(exc: BaseException, limit: int = 400) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def _der_string(raw: bytes) -> str:
    """A DER UTF8String/IA5String (v2 Fulcio extensions), else the raw bytes as text."""
    if len(raw) >= 2 and raw[0] in (0x0C, 0x16, 0x13):
        n, i = raw[1], 2
        if n & 0x80:
            k = n & 0x7F
            n, i = int.from_bytes(raw[2:2 + k], "big"), 2 + k
        return raw[i:i + n].decode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def signer_of(cert: Any) -> dict[str, Any]:
    """Who the certificate names (unverified until the bundle verifies)."""
    from cryptography import x509

    out: dict[str, Any] = {}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = list(san.get_values_for_type(x509.RFC822Name)) + list(san.get_values_for_type(x509.UniformResourceIdentifier))
        names += [o.value.decode("utf-8", "replace") for o in san.get_values_for_type(x509.OtherName)]
        out["identity"] = names[0] if len(names) == 1 else names
    except Exception:
        out["identity"] = None
    for ext in cert.extensions:
        oid = ext.oid.dotted_string
        value = getattr(ext.value, "value", None)
        if not isinstance(value, bytes):
            continue
        if oid == _ISSUER_V2 or (oid == _ISSUER_V1 and "issuer" not in out):
            out["issuer"] = _der_string(value) if oid == _ISSUER_V2 else value.decode("utf-8", "replace")
        elif oid in _EXT_NAMES:
            out[_EXT_NAMES[oid]] = _der_string(value)
    try:
        from cryptography.hazmat.primitives import hashes
        out["certificate_sha256"] = cert.fingerprint(hashes.SHA256()).hex()
        out["not_before"] = cert.not_valid_before_utc.isoformat()
    except Exception:
        pass
    return out


def parse_bundle(raw: bytes):
    """(Bundle, None) or (None, Outcome) for bundles that are unreadable or unverifiable offline."""
    from sigstore.models import Bundle, InvalidBundle

    if len(raw) > MAX_BUNDLE:
        return None, Outcome("unreadable", f"larger than {MAX_BUNDLE} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, Outcome("unreadable", f"not JSON: {_short(exc)}")
    if not isinstance(doc, dict) or "mediaType" not in doc:
        return None, Outcome("unreadable", "not a Sigstore bundle (no mediaType)")
    media = str(doc.get("mediaType"))
    kind = "dsse" if "dsseEnvelope" in doc else "message-signature"
    missing = _missing_offline_material(doc)
    if missing:
        return None, Outcome("unverifiable-offline", missing, kind=kind, media_type=media, signer=_claimed_signer(doc))
    try:
        return Bundle.from_json(raw), None
    except InvalidBundle as exc:
        text = _short(exc)
        if "must contain inclusion proof" in text or "expected checkpoint in inclusion proof" in text:
            out = Outcome("unverifiable-offline", text, kind=kind, media_type=media)
            out.signer = _claimed_signer(doc)
            return None, out
        return None, Outcome("unreadable", text, kind=kind, media_type=media)
    except Exception as exc:
        return None, Outcome("unreadable", _short(exc), kind=kind, media_type=media)


def _missing_offline_material(doc: dict[str, Any]) -> str | None:
    """Why a bundle's log entry cannot be checked offline (no inclusion proof / checkpoint)."""
    vm = doc.get("verificationMaterial")
    entries = vm.get("tlogEntries") if isinstance(vm, dict) else None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        return None  # malformed: the parser reports it
    for e in entries:
        proof = e.get("inclusionProof")
        if proof is None:
            return "log entry has no inclusion proof (only an inclusion promise)"
        if not isinstance(proof, dict):
            return None  # malformed: the parser reports it
        checkpoint = proof.get("checkpoint")
        if checkpoint is None or (isinstance(checkpoint, dict) and not checkpoint.get("envelope")):
            return "inclusion proof has no signed checkpoint"
    return None


def _claimed_signer(doc: dict[str, Any]) -> dict[str, Any]:
    """The identity a bundle claims, for bundles that cannot be verified (marked unverified)."""
    from cryptography import x509
    try:
        vm = doc.get("verificationMaterial") or {}
        raw = (vm.get("certificate") or {}).get("rawBytes") or \
            ((vm.get("x509CertificateChain") or {}).get("certificates") or [{}])[0].get("rawBytes")
        if not raw:
            return {}
        signer = signer_of(x509.load_der_x509_certificate(base64.b64decode(raw)))
        signer["unverified"] = True
        return signer
    except Exception:
        return {}


def _log_info(bundle: Any) -> dict[str, Any]:
    try:
        inner = bundle.log_entry._inner
        return {"log_index": int(inner.log_index), "log_id": inner.log_id.key_id.hex(),
                "integrated_time": int(inner.integrated_time) if inner.integrated_time else None,
                "kind": f"{inner.kind_version.kind}/{inner.kind_version.version}"}
    except Exception:
        return {}


def check_bundle(raw: bytes, trust: Trust, policy: Policy, digest_hex: str | None) -> Outcome:
    """Verify one bundle. ``digest_hex`` is the sha256 of the signed bytes for message
    signatures (for DSSE the statement's subjects are checked by the caller)."""
    from sigstore.errors import VerificationError
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    bundle, early = parse_bundle(raw)
    if early is not None:
        return early
    is_dsse = bundle._dsse_envelope is not None
    out = Outcome("invalid", kind="dsse" if is_dsse else "message-signature",
                  media_type=str(bundle._inner.media_type), signer=signer_of(bundle.signing_certificate),
                  log=_log_info(bundle))

    def attempt(pol: Any) -> tuple[str | None, Any]:
        try:
            if is_dsse:
                ptype, payload = trust.verifier.verify_dsse(bundle, pol)
                return None, (ptype, payload)
            if not digest_hex:
                return "no artifact digest to check a message signature against", None
            hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(digest_hex))
            trust.verifier.verify_artifact(hashed, bundle, pol)
            return None, None
        except VerificationError as exc:
            return _short(exc), None
        except Exception as exc:  # hostile bundles must never become a traceback
            return f"{type(exc).__name__}: {_short(exc)}", None

    error, result = attempt(policy.build())
    if error is not None and not policy.empty:
        bare_error, result = attempt(AnySigner())
        if bare_error is None:
            out.status, out.detail = "identity-mismatch", error
        else:
            out.detail = bare_error
    elif error is not None:
        out.detail = error
    else:
        out.status = "verified"
    if out.status != "invalid" and result is not None:
        out.payload_type = result[0]
        try:
            out.statement = json.loads(result[1])
        except (ValueError, UnicodeDecodeError, RecursionError):
            out.statement = None
    return out
