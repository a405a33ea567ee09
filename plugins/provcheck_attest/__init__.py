"""provcheck_attest: signatures and provenance, verified offline against what was scanned.

* Sigstore bundles (v0.1-v0.3; message signatures and DSSE) with sigstore-python's
  ``Verifier`` and an explicit trusted root (production root shipped in the sigstore
  package, or ``trusted-root``), an identity policy, no network;
* image signatures and attestations: cosign legacy tags and OCI 1.1 referrers;
* in-toto / SLSA provenance: subject digest and source commit, tied to the
  release-vs-source check (an input with role ``source`` that is a git repository);
* OpenPGP detached signatures with ``gpgv`` and a per-project signer history.

Material is looked for next to each target (``X.sigstore.json``, ``X.sigstore``,
``X.intoto.jsonl``; ``X.asc``/``X.sig`` when a keyring is configured), attached to
images, and where the options name it. ``provcheck verify`` runs the same checks
and exits 0 only when everything asked for verified.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from provcheck import InputSpec, Location, ProvcheckError, Severity, ToolError, hookimpl

from .rules import (PC501, PC502, PC503, PC504, PC505, PC506, PC507, PC508, PC509, PC510, PC511, PC512,
                    RULES)

if TYPE_CHECKING:
    from .sigstore_check import Outcome

# Every provcheck command imports every plugin at start-up: the checkers (sigstore_check, intoto,
# openpgp, oci_attach) are imported inside the functions that use them.

BUNDLE_SUFFIXES = (".sigstore.json", ".sigstore")
INTOTO_SUFFIXES = (".intoto.jsonl",)
PGP_SUFFIXES = (".asc", ".sig")
MAX_MATERIAL = 16 << 20

_STASH = object()


@hookimpl
def provcheck_register_rules():
    return list(RULES)


@hookimpl
def provcheck_addhooks(pluginmanager: Any) -> None:
    from . import hookspecs
    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def provcheck_attest_verify_bundle(bundle: bytes, artifact_sha256: str | None, trusted_root: str | None):
    """For other plugins (the release plugin's package provenance): see ``hookspecs``."""
    from provcheck import UsageError
    from . import intoto
    from .sigstore_check import Policy, TrustError, check_bundle, load_trust
    try:
        trust = load_trust(trusted_root)
    except TrustError as exc:
        raise UsageError(str(exc)) from None
    out = check_bundle(bundle, trust, Policy(), artifact_sha256)
    statement = out.statement if out.status == "verified" else None
    subjects, source = [], None
    if isinstance(statement, dict):
        for s in statement.get("subject") or []:
            if isinstance(s, dict) and isinstance(s.get("digest"), dict):
                subjects.append({"name": str(s.get("name", "")),
                                 **{k: str(v).lower() for k, v in s["digest"].items() if k in ("sha256", "sha512")}})
        source = intoto.slsa_source(statement)
    return {"status": out.status, "detail": out.detail, "signer": out.signer, "statement": statement,
            "predicate_type": statement.get("predicateType") if isinstance(statement, dict) else None,
            "subjects": subjects, "slsa_source": source, "tlog": out.log,
            "trusted_root": {"label": trust.label, "sha256": trust.sha256}}


@hookimpl
def provcheck_add_options(parser):
    from .options import add_scan_options
    add_scan_options(parser)


@hookimpl
def provcheck_add_commands(commands):
    commands.add("verify", help="verify signatures, bundles and attestations of an artifact or image, offline",
                 setup=f"{__name__}.command:setup_verify", run=f"{__name__}.command:run_verify",
                 formats=("text", "json", "sarif"), options=("config",))


# -- detection ------------------------------------------------------------------------------

class Context:
    def __init__(self, scan: Any, options: Mapping[str, Any]):
        from .sigstore_check import Policy
        self.scan = scan
        self.options = options
        self.policy = Policy.from_options(options)
        self._trust = None
        self.work = str(scan.ctx.work_dir)
        self.verify_mode = bool(options.get("verify_mode"))

    @property
    def trust(self):
        if self._trust is None:
            from .sigstore_check import TrustError, load_trust
            try:
                self._trust = load_trust(self.options.get("trusted_root") or None)
            except TrustError as exc:
                raise ProvcheckError(str(exc)) from None
        return self._trust

    def opt_list(self, key: str) -> list[str]:
        v = self.options.get(key)
        if not v:
            return []
        return [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)]

    def source_commit(self) -> tuple[str | None, str | None]:
        src = self.scan.artifact("source")
        if src is None or src.kind != "git":
            return None, None
        return src.metadata.get("commit"), src.name


def host_file(artifact: Any) -> Path | None:
    if artifact.kind not in ("archive", "file") or not artifact.source:
        return None
    p = Path(InputSpec.parse(artifact.source).path)
    return p if p.is_file() else None


def file_sha256(scan: Any, path: Path) -> str:
    cache = scan.stash.setdefault(_STASH, {})
    key = str(path.resolve())
    if key not in cache:
        from provcheck import file_sha256 as archive_sha256
        cache[key] = archive_sha256(path)
    return cache[key]


def read_material(path: Path) -> bytes:
    with open(path, "rb") as f:
        data = f.read(MAX_MATERIAL + 1)
    if len(data) > MAX_MATERIAL:
        raise OSError(f"larger than {MAX_MATERIAL} bytes")
    return data


@hookimpl
def provcheck_detect(scan, options):
    ctx = Context(scan, options)
    targets = scan.targets
    explicit = bool(ctx.opt_list("bundle") or options.get("signature"))
    if explicit and len(targets) != 1:
        raise ProvcheckError("attest: a bundle or signature option needs exactly one target "
                             f"(got {len(targets)}); use sidecar files (X.sigstore.json, X.asc) for several")
    out: list = []
    for art in targets:
        try:  # one hostile statement costs its own target, not the others' findings
            out.extend(check_target(ctx, art))
        except ProvcheckError:
            raise
        except Exception as exc:
            import traceback
            scan.errors.append(ToolError(stage="detect", plugin="attest", artifact=art.name,
                                         message=f"{type(exc).__name__}: {exc}", detail=traceback.format_exc()))
    return out


def check_target(ctx: Context, art: Any) -> Iterator:
    found_material = False
    path = host_file(art)
    sha = art.metadata.get("sha256") if art.kind in ("file", "archive") else None  # the core hashed archives
    image_digest = art.metadata.get("manifest_digest") if art.kind == "image" else None

    bundles = [Path(b) for b in ctx.opt_list("bundle")]
    statements = [Path(b) for b in ctx.opt_list("provenance")]
    signature = ctx.options.get("signature")
    sigs = [Path(signature)] if signature else []
    explicit = bool(bundles or statements or sigs)
    if path is not None and not explicit and ctx.options.get("sidecars", True):
        for suffix in BUNDLE_SUFFIXES:
            cand = path.with_name(path.name + suffix)
            if cand.is_file() and cand not in bundles:
                bundles.append(cand)
        for suffix in INTOTO_SUFFIXES:
            cand = path.with_name(path.name + suffix)
            if cand.is_file() and cand not in statements:
                statements.append(cand)
        if ctx.options.get("keyring") and not sigs:
            sigs += [path.with_name(path.name + s) for s in PGP_SUFFIXES if path.with_name(path.name + s).is_file()]
    if path is not None and not sha and (bundles or statements or sigs or ctx.verify_mode
                                         or ctx.options.get("require_signature")):
        sha = file_sha256(ctx.scan, path)   # hash only when there is something to check it against
    loc = Location(artifact=art.name, sha256=sha)
    if (bundles or statements) and not (sha or image_digest):
        raise ProvcheckError(f"attest: {art.name} is a {art.kind}: a Sigstore bundle or provenance statement "
                             "signs one file's or one image's digest, so name the file or image it was made for")

    for b in bundles:
        found_material = True
        if not b.is_file():
            yield PC511.finding(location=loc, key=f"missing:{b.name}", message=f"bundle {b.name} does not exist",
                                evidence={"material": str(b.name)})
            continue
        try:
            raw = read_material(b)
        except OSError as exc:
            yield PC509.finding(location=loc, key=f"bundle:{b.name}", message=f"{b.name}: cannot read: {exc}",
                                evidence={"material": b.name})
            continue
        yield from bundle_findings(ctx, art, loc, b.name, raw, sha, image_digest=image_digest)

    for s in statements:
        found_material = True
        yield from jsonl_findings(ctx, art, loc, s, sha, image_digest)

    if sigs:
        found_material = True
        yield from pgp_findings(ctx, art, loc, path, sigs)

    if art.kind == "image":
        got = list(image_findings(ctx, art))
        found_material = found_material or bool(got)
        yield from got

    if not found_material and (ctx.verify_mode or ctx.options.get("require_signature")):
        what = "attached to the image (no cosign tag, no OCI 1.1 referrer)" if art.kind == "image" else \
            "next to it or named on the command line"
        yield PC511.finding(location=loc, key="none", message=f"no signature or attestation {what}",
                            evidence={"subject_digest": f"sha256:{sha}" if sha else art.metadata.get("manifest_digest")})


def _base_evidence(ctx: Context, material: str, subject: str | None) -> dict[str, Any]:
    ev: dict[str, Any] = {"material": material, "subject_digest": subject}
    if not ctx.policy.empty:
        ev["policy"] = ctx.policy.describe()
    return ev


def _signer_text(signer: dict[str, Any]) -> str:
    ident = signer.get("identity")
    ident = ", ".join(ident) if isinstance(ident, list) else ident
    return f"{ident or '?'} (issuer {signer.get('issuer') or '?'})"


def bundle_findings(ctx: Context, art: Any, loc: Location, name: str, raw: bytes, sha: str | None,
                    image_digest: str | None = None, key: str | None = None) -> Iterator:
    """Findings for one Sigstore bundle checked against ``sha`` (a file) or ``image_digest``;
    ``key`` (default ``bundle:NAME``) keeps their fingerprints stable."""
    from .sigstore_check import check_bundle
    subject = image_digest or (f"sha256:{sha}" if sha else None)
    digest_hex = subject.split(":", 1)[1] if subject else None
    outcome = check_bundle(raw, ctx.trust, ctx.policy, digest_hex)
    ev = _base_evidence(ctx, name, subject) | outcome.evidence()
    if outcome.status not in ("unreadable",):
        ev["trusted_root"] = {"name": ctx.trust.label, "sha256": ctx.trust.sha256}
    key = key or f"bundle:{name}"
    if outcome.status == "unreadable":
        yield PC509.finding(location=loc, key=key, evidence=ev, message=f"{name}: unreadable Sigstore bundle: {outcome.detail}")
        return
    if outcome.status == "unverifiable-offline":
        yield PC503.finding(location=loc, key=key, evidence=ev,
                            message=f"{name}: cannot be verified offline ({outcome.detail}); claimed signer "
                                    f"{_signer_text(outcome.signer)} is unverified")
        return
    if outcome.status == "invalid":
        yield PC501.finding(location=loc, key=key, evidence=ev,
                            message=f"{name}: Sigstore verification failed for {subject or art.name}: {outcome.detail}")
        return
    if outcome.status == "identity-mismatch":
        yield PC502.finding(location=loc, key=key, evidence=ev,
                            message=f"{name}: valid signature by {_signer_text(outcome.signer)}, which does not match "
                                    f"the policy: {outcome.detail}")
        return
    # verified
    if outcome.kind == "dsse":
        ok = yield from statement_findings(ctx, art, loc, name, outcome, subject, ev, key)
        if not ok:
            return
    if ctx.policy.empty:
        yield PC504.finding(location=loc, key=key, evidence=ev,
                            message=f"{name}: signature verifies, signer {_signer_text(outcome.signer)}, but no "
                                    f"identity policy was given (cert-identity / cert-oidc-issuer)")
    else:
        what = "attestation" if outcome.kind == "dsse" else "signature"
        yield PC510.finding(location=loc, key=key, evidence=ev,
                            message=f"{name}: Sigstore {what} verified for {subject}: signer "
                                    f"{_signer_text(outcome.signer)} matches the policy")


def statement_findings(ctx: Context, art: Any, loc: Location, name: str, outcome: Outcome, subject: str | None,
                       ev: dict[str, Any], key: str):
    """Check a verified in-toto statement; returns False when a finding replaces the PC510."""
    from . import intoto
    try:
        if outcome.payload_type != intoto.INTOTO_PAYLOAD:
            raise intoto.StatementError(f"DSSE payload type {outcome.payload_type!r} is not in-toto")
        doc = intoto.check_statement(outcome.statement)
    except intoto.StatementError as exc:
        yield PC509.finding(location=loc, key=key, evidence=ev, message=f"{name}: verified envelope, but {exc}")
        return False
    ev["predicate_type"] = doc.get("predicateType")
    ev["statement_subjects"] = intoto.subjects(doc)[:20]
    if not subject:
        yield PC509.finding(location=loc, key=key, evidence=ev,
                            message=f"{name}: no digest of {art.name} to check the attestation's subjects against")
        return False
    match = intoto.subject_matches(doc, subject)
    if match is None:
        yield PC505.finding(location=loc, key=key, evidence=ev,
                            message=f"{name}: attestation signed by {_signer_text(outcome.signer)} does not list "
                                    f"{subject} among its {len(ev['statement_subjects'])} subject(s)")
        return False
    ev["matched_subject"] = match
    prov = intoto.slsa_source(doc)
    if prov is not None:
        ev["provenance"] = prov
        commit, source_name = ctx.source_commit()
        if commit:
            ev["source_check"] = {"source": source_name, "commit": commit}
            if prov.get("commit") != commit.lower():
                named = prov.get("commit") or "no git commit"
                yield PC506.finding(location=loc, key=key, evidence=ev,
                                    message=f"{name}: provenance names {named} from {prov.get('repository') or '?'}, "
                                            f"the source compared against ({source_name}) is {commit}")
                return False
            ev["source_check"]["result"] = "match"
    return True


def jsonl_findings(ctx: Context, art: Any, loc: Location, path: Path, sha: str | None,
                   image_digest: str | None = None) -> Iterator:
    try:
        raw = read_material(path)
    except OSError as exc:
        yield PC509.finding(location=loc, key=f"intoto:{path.name}", message=f"{path.name}: cannot read: {exc}",
                            evidence={"material": path.name})
        return
    lines = [l for l in raw.splitlines() if l.strip()]
    if not lines:
        yield PC509.finding(location=loc, key=f"intoto:{path.name}", message=f"{path.name}: empty",
                            evidence={"material": path.name})
    for i, line in enumerate(lines[:100], 1):
        label = f"{path.name}:{i}"  # for people; the key follows the line's content, not its position
        key = f"intoto:{path.name}#{hashlib.sha256(line).hexdigest()[:16]}"
        try:
            doc = json.loads(line)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            yield PC509.finding(location=loc, key=key, message=f"{label}: not JSON: {exc}",
                                evidence={"material": label})
            continue
        if isinstance(doc, dict) and "mediaType" in doc:
            yield from bundle_findings(ctx, art, loc, label, line, sha, image_digest=image_digest, key=key)
        elif isinstance(doc, dict) and "payloadType" in doc:
            yield PC503.finding(location=loc, key=key, evidence={"material": label,
                                "payload_type": doc.get("payloadType"), "status": "unverifiable-offline"},
                                message=f"{label}: a bare DSSE envelope without certificate or transparency-log "
                                        f"entry; it cannot be verified offline")
        else:
            yield PC509.finding(location=loc, key=key, evidence={"material": label},
                                message=f"{label}: neither a Sigstore bundle nor a DSSE envelope")


def pgp_findings(ctx: Context, art: Any, loc: Location, path: Path | None, sigs: list[Path]) -> Iterator:
    from . import openpgp
    keyring_path = ctx.options.get("keyring")
    explicit = bool(ctx.options.get("signature"))
    for sig in sigs:
        key = f"pgp:{sig.name}"
        ev: dict[str, Any] = {"material": sig.name, "keyring": os.path.basename(str(keyring_path or "")),
                              "subject_digest": loc.sha256 and f"sha256:{loc.sha256}"}
        if path is None:
            yield PC509.finding(location=loc, key=key, evidence=ev,
                                message=f"{sig.name}: {art.name} is not a file; an OpenPGP signature covers file bytes")
            continue
        if not keyring_path:
            yield PC509.finding(location=loc, key=key, evidence=ev, message=f"{sig.name}: no keyring given to check it")
            continue
        if not sig.is_file():
            yield PC511.finding(location=loc, key=key, evidence=ev, message=f"signature {sig.name} does not exist")
            continue
        try:
            sig_bytes = read_material(sig)
            ring, ring_name = openpgp.read_keyring(keyring_path)
            ev["keyring"] = ring_name
        except (OSError, openpgp.KeyringError) as exc:
            yield PC509.finding(location=loc, key=key, evidence=ev, message=f"{sig.name}: cannot read: {exc}")
            continue
        if not explicit and not openpgp.looks_like_openpgp(sig_bytes):
            yield PC509.finding(location=loc, key=key, evidence=ev,
                                message=f"{sig.name} next to {path.name} is not an OpenPGP signature; not checked")
            continue
        res = openpgp.verify_detached(path, sig_bytes, ring, ctx.work)
        ev |= res.evidence()
        if res.status != "good":
            yield PC507.finding(location=loc, key=key, evidence=ev,
                                message=f"{sig.name}: OpenPGP signature on {path.name} did not verify "
                                        f"({res.status}: {res.detail or res.user_id or ''})".rstrip(": )") + ")")
            continue
        who = f"{res.user_id or '?'} [{res.primary or res.fingerprint}]"
        new_signer = yield from history_findings(ctx, loc, key, path, res, ev, who)
        if not new_signer:
            note = f", key expired {res.key_expired[:10]} (after signing)" if res.key_expired else ""
            yield PC510.finding(location=loc, key=key, evidence=ev,
                                message=f"{sig.name}: good OpenPGP signature on {path.name} by {who}{note}")


def history_findings(ctx: Context, loc: Location, key: str, path: Path, res: Any, ev: dict[str, Any], who: str):
    hist_path = ctx.options.get("history")
    if not hist_path:
        return False
    from . import openpgp
    project, version = openpgp.project_version(path.name)
    project = str(ctx.options.get("project") or project or path.name)
    try:
        hist = openpgp.read_history(hist_path)
    except openpgp.HistoryError as exc:
        raise ProvcheckError(str(exc)) from None
    earlier = openpgp.known_signers(hist, project, version)
    ev["history"] = {"project": project, "version": version, "releases_on_record": len(earlier)}
    known = {fp for fps in earlier.values() for fp in fps}
    new = bool(earlier) and not (res.fingerprints() & known)
    if new:
        ev["history"]["previous_signers"] = sorted(known)
        ev["history"]["previous_versions"] = sorted(earlier)
        yield PC508.finding(location=loc, key=key, evidence=ev,
                            message=f"{path.name} is signed by {who}, a key that signed none of the "
                                    f"{len(earlier)} earlier {project} release(s) on record "
                                    f"(previous signer(s): {', '.join(sorted(known))})")
    elif earlier:
        ev["history"]["signed_earlier"] = sorted(v for v, fps in earlier.items() if res.fingerprints() & set(fps))
    else:
        ev["history"]["note"] = "first release of this project on record"
    if ctx.options.get("record") and version and not new:  # a new signer is never recorded silently
        openpgp.record(hist_path, project, version, res.primary or res.fingerprint)
        ev["history"]["recorded"] = True
    return new


def image_findings(ctx: Context, art: Any) -> Iterator:
    from . import oci_attach
    image_digest = art.metadata.get("manifest_digest")
    loc = Location(artifact=art.name, sha256=(image_digest or "").removeprefix("sha256:") or None)
    try:
        attachments = oci_attach.find_attachments(art)
    except oci_attach.LayoutError as exc:
        yield PC509.finding(location=loc, key="attachments", evidence={"detail": str(exc)},
                            message=f"cannot read the image's attachments: {exc}")
        return
    except (AttributeError, TypeError, ValueError, KeyError, RecursionError) as exc:  # hostile index/manifest shapes
        yield PC509.finding(location=loc, key="attachments", evidence={"detail": f"{type(exc).__name__}: {exc}"},
                            message=f"malformed image index or attachment manifest: {type(exc).__name__}: {exc}")
        return
    for att in attachments:
        label = f"{att.kind}:{att.manifest_digest[:19]}"
        if att.error:
            yield PC509.finding(location=loc, key=label, evidence={"attachment": att.manifest_digest, "detail": att.error},
                                message=f"image attachment {att.manifest_digest}: {att.error}")
            continue
        subject = att.subject if att.subject and att.subject != image_digest else image_digest
        if att.kind == "referrer":
            bundles = [l for l in att.layers if oci_attach.BUNDLE_ARTIFACT in str(l.get("mediaType", ""))
                       or oci_attach.BUNDLE_ARTIFACT in att.artifact_type]
            if not bundles:
                continue  # a referrer of another kind (an SBOM, a scan report): not signature material
            for layer in bundles:
                raw = att.blobs.get(str(layer.get("digest")))
                name = f"referrer {att.manifest_digest[:19]}"
                if raw is None:
                    yield PC509.finding(location=loc, key=label, evidence={"attachment": att.manifest_digest},
                                        message=f"{name}: bundle blob {layer.get('digest')} is missing")
                    continue
                yield from bundle_findings(ctx, art, loc, name, raw, None, image_digest=subject)
        elif att.kind in ("sig", "att"):
            yield from legacy_findings(ctx, art, loc, att, subject, label)
        elif att.kind == "sbom":
            yield PC503.finding(location=loc, key=label, evidence={"attachment": att.manifest_digest, "tag_kind": "sbom"},
                                message=f"cosign .sbom attachment {att.manifest_digest[:19]} is not signed itself; "
                                        f"only a signature or attestation can vouch for it")


def legacy_findings(ctx: Context, art: Any, loc: Location, att: Any, subject: str, label: str) -> Iterator:
    """cosign's legacy ``.sig`` / ``.att`` tags: SET-only bundles, never verifiable offline."""
    from . import intoto
    from .sigstore_check import _short, signer_of
    for i, layer in enumerate(att.layers):
        ann = layer.get("annotations") if isinstance(layer.get("annotations"), dict) else {}
        ev: dict[str, Any] = {"attachment": att.manifest_digest, "tag_kind": att.kind, "layer": layer.get("digest"),
                              "subject_digest": subject, "status": "unverifiable-offline"}
        cert_pem = ann.get("dev.sigstore.cosign/certificate")
        if cert_pem:
            try:
                from cryptography import x509
                ev["signer"] = signer_of(x509.load_pem_x509_certificate(str(cert_pem).encode())) | {"unverified": True}
            except Exception as exc:
                ev["signer_error"] = _short(exc)
        raw = att.blobs.get(str(layer.get("digest")))
        claimed = None
        if raw is not None:
            try:
                payload = json.loads(raw)
                if att.kind == "sig":
                    claimed = ((payload.get("critical") or {}).get("image") or {}).get("docker-manifest-digest")
                else:
                    import base64
                    stmt = json.loads(base64.b64decode(payload.get("payload", "")))
                    claimed = [f"sha256:{s['sha256']}" for s in intoto.subjects(stmt)]
            except Exception:
                claimed = None
        ev["claimed_subject"] = claimed
        has_bundle = "dev.sigstore.cosign/bundle" in ann
        why = ("its transparency-log bundle has a signed entry timestamp but no inclusion proof or checkpoint"
               if has_bundle else "it carries no transparency-log entry")
        who = _signer_text(ev.get("signer") or {}) if ev.get("signer") else "a key (no certificate)"
        yield PC503.finding(location=loc, key=f"{label}:{i}", evidence=ev,
                            message=f"cosign .{att.kind} signature by {who} cannot be verified offline: {why}")


# -- cross-check with the release-vs-source findings -------------------------------------------

def _counts(config: Any, f: Any) -> Severity:
    """The severity a release-vs-source finding will have in the report; INFO when the user
    ignores or suppresses it (crosscheck runs before those stages)."""
    if not config.wants(f.rule_id):
        return Severity.INFO
    if any(rule.matches(f.rule_id, f.location.artifact, f.location.path) for rule in config.suppress):
        return Severity.INFO
    return config.severity.get(f.rule_id, f.severity)


@hookimpl
def provcheck_crosscheck(scan, findings, options):
    signed: dict[str, list] = {}
    differs: dict[str, list] = {}
    for f in findings:
        if f.rule_id in ("PC510", "PC504"):
            signed.setdefault(f.location.artifact, []).append(f)
        elif f.rule_id.startswith("PC1") and _counts(scan.config, f) >= Severity.MEDIUM:
            differs.setdefault(f.location.artifact, []).append(f)
    out = []
    for artifact, sigs in sorted(signed.items()):
        diffs = sorted(differs.get(artifact, []), key=lambda f: (-int(f.severity), f.location.path))
        if not diffs:
            continue
        signers = []
        for s in sigs:
            ev = s.evidence
            who = ev.get("primary_fingerprint") or ev.get("fingerprint") or (ev.get("signer") or {}).get("identity")
            signers.append({"rule": s.rule_id, "signer": who, "user_id": ev.get("user_id"),
                            "issuer": (ev.get("signer") or {}).get("issuer"), "material": ev.get("material"),
                            "policy": ev.get("policy"), "pinned": s.rule_id == "PC510"})
        worst = max(f.severity for f in diffs)
        names = ", ".join(str(x["signer"]) for x in signers)
        out.append(PC512.finding(
            location=sigs[0].location, key="signed-and-differs", severity=worst,
            related=tuple(f.location for f in diffs[:50]),
            evidence={"signers": signers, "source_findings": len(diffs), "worst_severity": str(worst),
                      "differences": [{"rule": f.rule_id, "path": f.location.path, "severity": str(f.severity),
                                       "fingerprint": f.fingerprint} for f in diffs[:50]]},
            message=f"{artifact} is signed by {names}, and differs from its source in {len(diffs)} place(s) "
                    f"(worst: {diffs[0].rule_id} {diffs[0].location.path}); the signature does not vouch for those files"))
    return out
