"""A local Sigstore instance for tests: a Fulcio-like CA, a CT log, a Rekor-like
transparency log (RFC 6962 Merkle tree, signed checkpoints, signed entry
timestamps) and the ``trusted_root.json`` that describes them.

Bundles made here are verified by sigstore's own, unmodified ``Verifier``: the
certificate chains to the CA, carries an embedded precertificate SCT signed by the
CT log key, and the log entry has an inclusion proof against a checkpoint signed by
the log key plus an inclusion promise (SET). Everything is built with
``cryptography`` from first principles; nothing touches the network.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
SOURCE_REPO_URI = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.12")
SOURCE_REPO_DIGEST = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.13")
SOURCE_REPO_REF = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.14")
SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_V02 = "application/vnd.dev.sigstore.bundle+json;version=0.2"
BUNDLE_V01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
INTOTO = "application/vnd.in-toto+json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der_utf8(text: str) -> bytes:
    raw = text.encode()
    return b"\x0c" + _der_len(len(raw)) + raw


def der_octets(raw: bytes) -> bytes:
    return b"\x04" + _der_len(len(raw)) + raw


def spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(spki_der(key)).digest()


# -- RFC 6962 Merkle tree ---------------------------------------------------------------

def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def audit_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1 PATH(m, D[n]), bottom-up."""
    if len(leaves) <= 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return audit_path(index, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(index - k, leaves[k:]) + [mth(leaves[:k])]


@dataclass
class Log:
    """A Rekor-like log: entries are canonicalized bodies; proofs and checkpoints on demand."""

    key: ec.EllipticCurvePrivateKey
    origin: str = "rekor.local - 1234567890"
    url: str = "https://rekor.invalid"
    bodies: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        # a few unrelated entries first, so proofs have real depth
        for i in range(5):
            self.bodies.append(json.dumps({"filler": i}).encode())

    @property
    def log_id(self) -> bytes:
        return key_id(self.key.public_key())

    def append(self, body: bytes) -> int:
        self.bodies.append(body)
        return len(self.bodies) - 1

    def sign_note(self, note: str, key: ec.EllipticCurvePrivateKey | None = None, name: str = "rekor.local",
                  hint_key: ec.EllipticCurvePrivateKey | None = None) -> str:
        key = key or self.key
        sig = key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        hint = key_id((hint_key or key).public_key())[:4]
        return f"{note}\n\u2014 {name} {b64(hint + sig)}\n"

    def checkpoint(self, size: int, root: bytes, key: ec.EllipticCurvePrivateKey | None = None,
                   hint_key: ec.EllipticCurvePrivateKey | None = None) -> str:
        return self.sign_note(f"{self.origin}\n{size}\n{b64(root)}\n", key, hint_key=hint_key)

    def entry(self, index: int, kind: str, integrated_time: int, *, checkpoint_key=None,
              set_key=None, forge_hint: bool = False) -> dict[str, Any]:
        leaves = [leaf_hash(b) for b in self.bodies]
        root = mth(leaves)
        body = self.bodies[index]
        set_payload = rfc8785.dumps({"body": b64(body), "integratedTime": integrated_time,
                                     "logID": self.log_id.hex(), "logIndex": index})
        set_sig = (set_key or self.key).sign(set_payload, ec.ECDSA(hashes.SHA256()))
        return {
            "logIndex": str(index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": kind, "version": "0.0.1"},
            "integratedTime": str(integrated_time),
            "inclusionPromise": {"signedEntryTimestamp": b64(set_sig)},
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": b64(root),
                "treeSize": str(len(leaves)),
                "hashes": [b64(h) for h in audit_path(index, leaves)],
                "checkpoint": {"envelope": self.checkpoint(len(leaves), root, checkpoint_key,
                                                          hint_key=self.key if forge_hint else None)},
            },
            "canonicalizedBody": b64(body),
        }


@dataclass
class Identity:
    san: str = "release@example.org"
    issuer: str = "https://accounts.example.org"
    source_repo: str | None = None      # GitHub-style extensions (v2, DER UTF8String)
    source_ref: str | None = None
    source_digest: str | None = None


class LocalSigstore:
    """One local Sigstore instance. ``trusted_root()`` describes it for the Verifier."""

    def __init__(self, name: str = "local") -> None:
        self.name = name
        self.now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        self.ca_key = ec.generate_private_key(ec.SECP384R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.log = Log(ec.generate_private_key(ec.SECP256R1()), origin=f"rekor.{name} - 42")
        ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{name}.test"),
                             x509.NameAttribute(NameOID.COMMON_NAME, f"{name} fulcio root")])
        ski = x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key())
        self.ca_cert = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.now - dt.timedelta(days=30)).not_valid_after(self.now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(self.ca_key, hashes.SHA384()))

    # -- trust root ------------------------------------------------------------------
    def trusted_root(self) -> dict[str, Any]:
        start = (self.now - dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")

        def tlog(key: ec.EllipticCurvePrivateKey, url: str) -> dict[str, Any]:
            pub = key.public_key()
            return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
                    "publicKey": {"rawBytes": b64(spki_der(pub)), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                  "validFor": {"start": start}},
                    "logId": {"keyId": b64(key_id(pub))}}

        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [tlog(self.log.key, self.log.url)],
            "certificateAuthorities": [{
                "subject": {"organization": f"{self.name}.test", "commonName": f"{self.name} fulcio root"},
                "uri": "https://fulcio.invalid",
                "certChain": {"certificates": [{"rawBytes": b64(self.ca_cert.public_bytes(serialization.Encoding.DER))}]},
                "validFor": {"start": start}}],
            "ctlogs": [tlog(self.ct_key, "https://ctfe.invalid")],
            "timestampAuthorities": [],
        }

    def write_trusted_root(self, path) -> str:
        with open(path, "w") as f:
            json.dump(self.trusted_root(), f, indent=2)
        return str(path)

    # -- Fulcio ------------------------------------------------------------------------
    def issue(self, identity: Identity, key: ec.EllipticCurvePrivateKey, *, sct: bool = True,
              sct_key: ec.EllipticCurvePrivateKey | None = None) -> x509.Certificate:
        if "@" in identity.san and "://" not in identity.san:
            san = x509.RFC822Name(identity.san)
        else:
            san = x509.UniformResourceIdentifier(identity.san)
        not_before = self.now - dt.timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(self.ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_before + dt.timedelta(minutes=10))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V1, identity.issuer.encode()), critical=False)
            .add_extension(x509.UnrecognizedExtension(OIDC_ISSUER_V2, der_utf8(identity.issuer)), critical=False))
        for oid, value in ((SOURCE_REPO_URI, identity.source_repo), (SOURCE_REPO_REF, identity.source_ref),
                           (SOURCE_REPO_DIGEST, identity.source_digest)):
            if value:
                builder = builder.add_extension(x509.UnrecognizedExtension(oid, der_utf8(value)), critical=False)
        if not sct:
            return builder.sign(self.ca_key, hashes.SHA384())
        # precertificate SCT (RFC 6962 3.2): signed over the TBS without the SCT extension
        pre = builder.sign(self.ca_key, hashes.SHA384())
        tbs = pre.tbs_certificate_bytes
        ts = int(self.now.timestamp() * 1000)
        issuer_kid = key_id(self.ca_key.public_key())
        signed = struct.pack("!BBQH", 0, 0, ts, 1) + issuer_kid + len(tbs).to_bytes(3, "big") + tbs + b"\x00\x00"
        ct = sct_key or self.ct_key
        sig = ct.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct_bytes = (b"\x00" + key_id(self.ct_key.public_key()) + struct.pack("!QH", ts, 0)
                     + b"\x04\x03" + struct.pack("!H", len(sig)) + sig)
        sct_list = struct.pack("!H", len(sct_bytes) + 2) + struct.pack("!H", len(sct_bytes)) + sct_bytes
        final = builder.add_extension(x509.UnrecognizedExtension(SCT_LIST, der_octets(sct_list)), critical=False)
        cert = final.sign(self.ca_key, hashes.SHA384())
        assert cert.tbs_precertificate_bytes == tbs
        return cert

    # -- signing -----------------------------------------------------------------------
    def sign_blob(self, data: bytes, identity: Identity | None = None, *, media_type: str = BUNDLE_V03,
                  tamper: str | None = None) -> dict[str, Any]:
        """A message-signature bundle over ``data``. ``tamper`` makes a specific defect:
        "checkpoint" (signed by a foreign key), "checkpoint-forged" (a foreign key's
        signature claiming the log's key id), "proof" (wrong sibling hash), "no-proof",
        "no-sct", "sct" (SCT signed by a foreign key), "set"."""
        identity = identity or Identity()
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.issue(identity, key, sct=tamper != "no-sct",
                          sct_key=ec.generate_private_key(ec.SECP256R1()) if tamper == "sct" else None)
        digest = hashlib.sha256(data).digest()
        sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        pem = cert.public_bytes(serialization.Encoding.PEM)
        body = rfc8785.dumps({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {"content": b64(sig), "publicKey": {"content": b64(pem)}}}})
        entry = self._entry(body, "hashedrekord", tamper)
        bundle = {"mediaType": media_type,
                  "verificationMaterial": self._material(cert, entry, media_type),
                  "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                                       "signature": b64(sig)}}
        return bundle

    def sign_dsse(self, statement: dict[str, Any] | bytes, identity: Identity | None = None, *,
                  payload_type: str = INTOTO, media_type: str = BUNDLE_V03, tamper: str | None = None) -> dict[str, Any]:
        identity = identity or Identity()
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.issue(identity, key)
        payload = statement if isinstance(statement, bytes) else json.dumps(statement).encode()
        pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)
        sig = key.sign(pae, ec.ECDSA(hashes.SHA256()))
        pem = cert.public_bytes(serialization.Encoding.PEM)
        envelope = {"payload": b64(payload), "payloadType": payload_type, "signatures": [{"sig": b64(sig)}]}
        body = rfc8785.dumps({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
            "envelopeHash": {"algorithm": "sha256",
                             "value": hashlib.sha256(json.dumps(envelope).encode()).hexdigest()},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [{"signature": b64(sig), "verifier": b64(pem)}]}})
        entry = self._entry(body, "dsse", tamper)
        if tamper == "payload":
            envelope["payload"] = b64(payload.replace(b"sha256", b"sha256 "))
        return {"mediaType": media_type, "verificationMaterial": self._material(cert, entry, media_type),
                "dsseEnvelope": envelope}

    def _entry(self, body: bytes, kind: str, tamper: str | None) -> dict[str, Any]:
        index = self.log.append(body)
        foreign = ec.generate_private_key(ec.SECP256R1())
        entry = self.log.entry(index, kind, int(self.now.timestamp()),
                               checkpoint_key=foreign if tamper in ("checkpoint", "checkpoint-forged") else None,
                               forge_hint=tamper == "checkpoint-forged",
                               set_key=foreign if tamper == "set" else None)
        if tamper == "proof":
            hashes_ = entry["inclusionProof"]["hashes"]
            hashes_[0] = b64(hashlib.sha256(b"not a sibling").digest())
        if tamper == "no-proof":
            del entry["inclusionProof"]
        return entry

    def _material(self, cert: x509.Certificate, entry: dict[str, Any], media_type: str) -> dict[str, Any]:
        der = {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))}
        if media_type == BUNDLE_V03:
            return {"certificate": der, "tlogEntries": [entry]}
        return {"x509CertificateChain": {"certificates": [der]}, "tlogEntries": [entry]}


def intoto_statement(subjects: dict[str, str], *, predicate_type: str = "https://slsa.dev/provenance/v1",
                     repo: str = "git+https://example.org/proj", commit: str = "0" * 40,
                     ref: str = "refs/tags/v1.0") -> dict[str, Any]:
    """An in-toto v1 statement with a SLSA v1 (or v0.2) provenance predicate."""
    if predicate_type.endswith("/v0.2"):
        predicate = {"builder": {"id": "https://example.org/builder"}, "buildType": "https://example.org/make",
                     "invocation": {"configSource": {"uri": f"{repo}@{ref}", "digest": {"sha1": commit},
                                                     "entryPoint": "Makefile"}},
                     "materials": [{"uri": f"{repo}@{ref}", "digest": {"sha1": commit}}]}
        stype = "https://in-toto.io/Statement/v0.1"
    else:
        predicate = {"buildDefinition": {"buildType": "https://example.org/make/v1",
                                         "externalParameters": {"source": {"uri": repo, "ref": ref}},
                                         "resolvedDependencies": [{"uri": f"{repo}@{ref}",
                                                                   "digest": {"gitCommit": commit}}]},
                     "runDetails": {"builder": {"id": "https://example.org/builder"}}}
        stype = "https://in-toto.io/Statement/v1"
    return {"_type": stype, "predicateType": predicate_type,
            "subject": [{"name": n, "digest": {"sha256": d}} for n, d in subjects.items()],
            "predicate": predicate}
