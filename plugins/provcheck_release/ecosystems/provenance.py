"""Package provenance (PEP 740, npm provenance) tied to the compared tag.

Signatures are verified by the attest plugin through its ``provcheck_attest_verify_bundle``
hook (offline, explicit trusted root); this module only reads the provenance documents and
ties what was attested (subject digest, repository, commit, signer) to the comparison.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from provcheck import Finding, InputSpec, Location, Severity, ToolError

from ..rules import PC127, PC128, PC129
from .origin import describe, normalise_repo

MAX_DOC = 16 << 20
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"


class ProvenanceError(ValueError):
    pass


def pep740_bundle(att: Mapping[str, Any]) -> dict[str, Any]:
    """A PEP 740 attestation object as the Sigstore bundle it is a re-encoding of."""
    vm, env = att.get("verification_material"), att.get("envelope")
    if not isinstance(vm, dict) or not isinstance(env, dict):
        raise ProvenanceError("PEP 740 attestation without verification_material/envelope")
    return {"mediaType": BUNDLE_V03,
            "verificationMaterial": {"certificate": {"rawBytes": vm.get("certificate")},
                                     "tlogEntries": vm.get("transparency_entries") or []},
            "dsseEnvelope": {"payload": env.get("statement"), "payloadType": "application/vnd.in-toto+json",
                             "signatures": [{"sig": env.get("signature")}]}}


def bundles_in(raw: bytes) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(label, sigstore bundle, publisher info) from a PEP 740 provenance object or attestation,
    an npm attestations document, or a plain Sigstore bundle."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProvenanceError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ProvenanceError("not a JSON object")
    out = []
    if isinstance(doc.get("attestation_bundles"), list):  # PEP 740 provenance object
        for i, ab in enumerate(doc["attestation_bundles"]):
            if not isinstance(ab, dict):
                continue
            pub = ab.get("publisher") if isinstance(ab.get("publisher"), dict) else {}
            for j, att in enumerate(ab.get("attestations") or []):
                if isinstance(att, dict):
                    out.append((f"attestation_bundles[{i}].attestations[{j}]", pep740_bundle(att), pub))
    elif "verification_material" in doc:
        out.append(("PEP 740 attestation", pep740_bundle(doc), {}))
    elif isinstance(doc.get("attestations"), list):  # npm: /-/npm/v1/attestations/NAME@VERSION
        for i, att in enumerate(doc["attestations"]):
            if isinstance(att, dict) and isinstance(att.get("bundle"), dict):
                out.append((f"attestations[{i}] ({att.get('predicateType', '?')})", att["bundle"], {}))
    elif "mediaType" in doc:
        out.append(("Sigstore bundle", doc, {}))
    if not out:
        raise ProvenanceError("no PEP 740 attestation, npm attestation or Sigstore bundle in it")
    return out


def _file_digests(path: Path) -> dict[str, str]:
    h256, h512 = hashlib.sha256(), hashlib.sha512()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h256.update(block)
            h512.update(block)
    return {"sha256": h256.hexdigest(), "sha512": h512.hexdigest()}


def _identity(signer: Mapping[str, Any], publisher: Mapping[str, Any]) -> str:
    """The signing workflow without its ref (``.../release.yml@refs/tags/v1.2`` names every
    release differently; the workflow is what must stay the same)."""
    ident = signer.get("build_signer_uri") or signer.get("identity") or ""
    if isinstance(ident, list):
        ident = ident[0] if ident else ""
    ident = str(ident or publisher.get("workflow") or "")
    return re.sub(r"@refs/[^\s]*$", "", ident)


def check(scan: Any, options: Mapping[str, Any]) -> list[Finding]:
    """Provenance of every compared release (``provenance`` option: files), and the history."""
    files = options.get("provenance") or []
    files = [files] if isinstance(files, str) else list(files)
    history_path = options.get("provenance-history")
    if not files and not history_path:
        return []
    comparisons = scan.extras.get("release") or {}
    out: list[Finding] = []
    for art in scan.targets:
        cmp = comparisons.get(art.name)
        if cmp is None or not art.source:
            continue
        host = Path(InputSpec.parse(art.source).path)
        if not host.is_file():
            continue
        meta = describe(host)
        results = []
        for f in files:
            results += check_file(scan, art, Path(f), host, cmp, meta, options, out)
        if history_path:
            out += history(art, Path(str(history_path)), meta, results, options)
    return out


def check_file(scan: Any, art: Any, path: Path, host: Path, cmp: Mapping[str, Any], meta: Mapping[str, Any],
               options: Mapping[str, Any], out: list[Finding]) -> list[dict[str, Any]]:
    loc = Location(artifact=art.name)
    try:
        raw = path.read_bytes()[:MAX_DOC + 1]
        if len(raw) > MAX_DOC:
            raise ProvenanceError(f"larger than {MAX_DOC} bytes")
        bundles = bundles_in(raw)
    except (OSError, ProvenanceError) as exc:
        scan.errors.append(ToolError(stage="detect", plugin="release", artifact=art.name,
                                     message=f"provenance {path.name}: {getattr(exc, 'strerror', None) or exc}"))
        return []
    hook = getattr(getattr(getattr(scan.ctx, "pm", None), "hook", None), "provcheck_attest_verify_bundle", None)
    if hook is None or not hook.get_hookimpls():
        scan.errors.append(ToolError(stage="detect", plugin="release", artifact=art.name,
                                     message=f"provenance {path.name}: verifying it needs the attest plugin "
                                             "(enable provcheck_attest, e.g. -p provcheck_attest)"))
        return []
    digests = _file_digests(host)
    trusted_root = options.get("trusted-root") or None
    expected_repo = meta.get("repository") or ""
    results = []
    for label, bundle, publisher in bundles:
        res = hook(bundle=json.dumps(bundle).encode(), artifact_sha256=digests["sha256"], trusted_root=trusted_root)
        if res is None:  # an implementation that declined: said, never a silent pass
            scan.errors.append(ToolError(stage="detect", plugin="release", artifact=art.name,
                                         message=f"provenance {path.name} ({label}): no plugin verified it"))
            continue
        results.append({**res, "publisher": publisher})
        out.extend(judge(loc, path, label, res, publisher, digests, cmp, expected_repo))
    return results


def judge(loc: Location, path: Path, label: str, res: Mapping[str, Any], publisher: Mapping[str, Any],
          digests: Mapping[str, str], cmp: Mapping[str, Any], expected_repo: str) -> Iterable[Finding]:
    signer = res.get("signer") or {}
    source = res.get("slsa_source") or {}
    key = f"provenance:{path.name}:{label}"
    ev: dict[str, Any] = {"provenance": path.name, "entry": label, "status": res.get("status"),
                          "signer": signer, "publisher": publisher, "predicate_type": res.get("predicate_type"),
                          "subjects": res.get("subjects"), "slsa_source": source, "tlog": res.get("tlog"),
                          "trusted_root": res.get("trusted_root"), "artifact_digests": dict(digests),
                          "compared_commit": cmp.get("source_commit"), "compared_ref": cmp.get("source_ref"),
                          "package_repository": expected_repo}
    if res.get("status") != "verified":
        ev["detail"] = res.get("detail")
        yield PC127.finding(location=loc, key=key, evidence=ev,
                            message=f"provenance {path.name} ({label}) does not verify: {res.get('status')}: "
                                    f"{str(res.get('detail') or '')[:160]}")
        return
    problems = []
    subjects = res.get("subjects") or []
    if res.get("predicate_type") is not None and not any(
            s.get("sha256") == digests["sha256"] or s.get("sha512") == digests["sha512"] for s in subjects):
        problems.append("its subject is another artifact (no subject digest is this file's)")
    commit = str(source.get("commit") or signer.get("source_digest") or "").lower()
    compared = str(cmp.get("source_commit") or "").lower()
    if not commit:
        problems.append("it names no source commit")
    elif compared and commit != compared:
        problems.append(f"it was built from commit {commit[:12]}, the compared tag {cmp.get('source_ref')} is "
                        f"{compared[:12]}")
    attested_repo = normalise_repo(str(source.get("repository") or signer.get("source_repository") or
                                       (f"https://github.com/{publisher.get('repository')}"
                                        if publisher.get("repository") else "")))
    if expected_repo and attested_repo and attested_repo != expected_repo:
        problems.append(f"it was built from {attested_repo}, the package names {expected_repo}")
    ev["attested_commit"], ev["attested_repository"] = commit or None, attested_repo or None
    ev["identity"] = _identity(signer, publisher)
    if problems:
        yield PC127.finding(location=loc, key=key, evidence=ev,
                            message=f"provenance {path.name} ({label}) verifies, but " + "; ".join(problems))
    else:
        yield PC129.finding(location=loc, key=key, evidence=ev,
                            message=f"provenance {path.name}: signed by {ev['identity'] or '?'}, built from "
                                    f"{attested_repo or '?'} at {commit[:12]} = tag {cmp.get('source_ref')}")


def history(art: Any, path: Path, meta: Mapping[str, Any], results: list[dict[str, Any]],
            options: Mapping[str, Any]) -> list[Finding]:
    """Earlier releases' provenance (``{project: {version: {identity, issuer, repository} | null}}``)."""
    loc = Location(artifact=art.name)
    try:
        hist = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(hist, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return [PC128.finding(location=loc, key="provenance-history", severity=Severity.LOW,
                              message=f"provenance history {path.name} unreadable: {exc}", evidence={})]
    project, version = str(meta.get("name") or art.name), str(meta.get("version") or "")
    earlier = {v: e for v, e in (hist.get(project) or {}).items() if v != version}
    attested = {v: e for v, e in earlier.items() if isinstance(e, dict) and e.get("identity")}
    verified = [r for r in results if r.get("status") == "verified"]
    ev = {"project": project, "version": version, "earlier_with_provenance": sorted(attested),
          "earlier_identities": sorted({e["identity"] for e in attested.values()})}
    out = []
    if not verified and attested:
        out.append(PC128.finding(location=loc, key="provenance-missing", evidence=ev,
                                 message=f"{project} {version} has no verified provenance; {len(attested)} earlier "
                                         f"release(s) had it ({', '.join(sorted(attested)[-3:])})"))
    for r in verified:
        ident = _identity(r.get("signer") or {}, r.get("publisher") or {})
        if attested and ident not in ev["earlier_identities"]:
            out.append(PC128.finding(location=loc, key=f"provenance-signer:{ident}", evidence={**ev, "identity": ident},
                                     message=f"{project} {version} is attested by {ident}, a signer/workflow none of "
                                             f"the earlier releases used ({', '.join(ev['earlier_identities'])})"))
    if verified and not out and str(options.get("record-provenance", "")).lower() in ("1", "true", "yes"):
        r = verified[0]
        signer = r.get("signer") or {}
        hist.setdefault(project, {})[version] = {"identity": _identity(signer, r.get("publisher") or {}),
                                                  "issuer": signer.get("issuer"),
                                                  "repository": signer.get("source_repository")}
        path.write_text(json.dumps(hist, indent=2, sort_keys=True) + "\n")
    return out


__all__ = ["check", "bundles_in", "pep740_bundle"]
