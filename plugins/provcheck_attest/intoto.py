"""in-toto statements and SLSA provenance (v0.2 and v1): subjects and source.

Only statements from *verified* envelopes are used to say anything positive; the
functions here only read the JSON.
"""

from __future__ import annotations

import re
from typing import Any

INTOTO_PAYLOAD = "application/vnd.in-toto+json"
_HEX40 = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class StatementError(ValueError):
    pass


def check_statement(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise StatementError("payload is not a JSON object")
    if not str(doc.get("_type", "")).startswith("https://in-toto.io/Statement/"):
        raise StatementError(f"not an in-toto statement (_type {doc.get('_type')!r})")
    if not isinstance(doc.get("subject"), list):
        raise StatementError("statement has no subject list")
    return doc


def subjects(doc: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for s in doc.get("subject") or []:
        if isinstance(s, dict):
            digest = s.get("digest") if isinstance(s.get("digest"), dict) else {}
            out.append({"name": str(s.get("name", "")), "sha256": str(digest.get("sha256", "")).lower()})
    return out


def subject_matches(doc: dict[str, Any], sha256_hex: str) -> dict[str, str] | None:
    want = sha256_hex.lower().removeprefix("sha256:")
    return next((s for s in subjects(doc) if s["sha256"] == want), None)


def _commit_of(digest: Any) -> str | None:
    if not isinstance(digest, dict):
        return None
    for key in ("gitCommit", "sha1", "gitTree"):
        v = str(digest.get(key, "")).lower()
        if key != "gitTree" and _HEX40.fullmatch(v):
            return v
    return None


def _split_uri(uri: str) -> tuple[str, str | None]:
    """``git+https://host/repo@refs/tags/v1`` -> (``git+https://host/repo``, ``refs/tags/v1``)."""
    if "@" in uri:
        head, _, ref = uri.rpartition("@")
        if "://" in head:
            return head, ref
    return uri, None


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The mappings of a list from signed-but-untrusted JSON; anything else is no list."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def slsa_source(doc: dict[str, Any]) -> dict[str, Any] | None:
    """Source repository, ref and commit named by SLSA provenance (None for other predicates)."""
    ptype = str(doc.get("predicateType", ""))
    pred = doc.get("predicate") if isinstance(doc.get("predicate"), dict) else {}
    if not ptype.startswith("https://slsa.dev/provenance/"):
        return None
    out: dict[str, Any] = {"predicate_type": ptype}
    if ptype.endswith("/v0.1") or ptype.endswith("/v0.2"):
        inv = pred.get("invocation") if isinstance(pred.get("invocation"), dict) else {}
        cfg = inv.get("configSource") if isinstance(inv.get("configSource"), dict) else {}
        candidates = [cfg] + _dicts(pred.get("materials"))
        builder = (pred.get("builder") or {}).get("id") if isinstance(pred.get("builder"), dict) else None
    else:
        bd = pred.get("buildDefinition") if isinstance(pred.get("buildDefinition"), dict) else {}
        candidates = _dicts(bd.get("resolvedDependencies"))
        rd = pred.get("runDetails") if isinstance(pred.get("runDetails"), dict) else {}
        builder = (rd.get("builder") or {}).get("id") if isinstance(rd.get("builder"), dict) else None
        ext = bd.get("externalParameters") if isinstance(bd.get("externalParameters"), dict) else {}
        wf = ext.get("workflow") if isinstance(ext.get("workflow"), dict) else {}
        if wf.get("repository"):
            out["workflow_repository"] = str(wf.get("repository"))
        if wf.get("ref"):
            out["workflow_ref"] = str(wf.get("ref"))
    if builder:
        out["builder"] = str(builder)
    commits = []
    for dep in candidates:
        commit = _commit_of(dep.get("digest"))
        if commit:
            repo, ref = _split_uri(str(dep.get("uri", "")))
            commits.append({"repository": repo, "ref": ref, "commit": commit})
    if commits:
        out.update(commits[0])
        if len(commits) > 1:
            out["other_commits"] = commits[1:]
    return out
