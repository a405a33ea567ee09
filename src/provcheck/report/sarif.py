"""SARIF 2.1.0, as GitHub code scanning reads it.

Rules carry help text and ``security-severity``; results carry ``partialFingerprints``
(the provcheck fingerprint, which ignores message and line edits), suppressions with
their justification, and related locations. Errors become tool execution
notifications and mark the invocation unsuccessful. Paths inside an artifact are
relative URIs; the artifact is named in ``properties.artifact`` and, for nested
archives, the containing archives in ``properties.chain``.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from .. import __version__, hookimpl
from ..model import Location, Severity
from . import OutputFormat

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
         Severity.LOW: "note", Severity.INFO: "note"}
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                     Severity.LOW: "3.0", Severity.INFO: "0.0"}


def _location(loc: Location, message: str | None = None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(loc.path or loc.artifact)}}
    if loc.lines:
        physical["region"] = {"startLine": max(1, loc.lines[0]), "endLine": max(loc.lines)}
    out: dict[str, Any] = {"physicalLocation": physical,
                           "properties": {"artifact": loc.artifact, **({"layer": loc.layer} if loc.layer else {}),
                                          **({"chain": list(loc.chain)} if loc.chain else {})}}
    if message:
        out["message"] = {"text": message}
    return out


def _uri(path: str) -> str:
    from urllib.parse import quote
    return quote(path.lstrip("/"), safe="/+@:=,;~!$&'()*")


def to_sarif(report: Any) -> dict[str, Any]:
    rule_ids = sorted({f.rule_id for f in report.findings} | set(report.rules))
    index = {rid: i for i, rid in enumerate(rule_ids)}
    rules = []
    for rid in rule_ids:
        rule = report.rules.get(rid)
        if rule is None:
            rules.append({"id": rid})
            continue
        rules.append({
            "id": rid, "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.summary},
            "help": {"text": rule.doc, "markdown": rule.doc},
            "defaultConfiguration": {"level": LEVEL[rule.severity]},
            "properties": {"security-severity": SECURITY_SEVERITY[rule.severity],
                           "tags": ["security", "supply-chain"], "precision": _precision(rule.confidence)},
        })
    results = []
    for f in report.findings:
        res: dict[str, Any] = {
            "ruleId": f.rule_id, "ruleIndex": index[f.rule_id], "level": LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [_location(f.location)],
            "partialFingerprints": {"provcheck/v1": f.fingerprint},
            "fingerprints": {"provcheck/v1": f.fingerprint},
            "properties": {"severity": str(f.severity), "confidence": str(f.confidence),
                           "security-severity": SECURITY_SEVERITY[f.severity],
                           "evidence": json.loads(json.dumps(dict(f.evidence), default=str)),
                           **({"component": f.component} if f.component else {}),
                           **({"detector": f.detector} if f.detector else {})},
        }
        if f.related:
            res["relatedLocations"] = [dict(_location(r), id=i + 1) for i, r in enumerate(f.related)]
        if f.suppression:
            res["suppressions"] = [{"kind": "external", "status": "accepted",
                                    "justification": f.suppression.reason}]
        results.append(res)
    notifications = [{"level": "error", "message": {"text": str(e)},
                      "descriptor": {"id": f"provcheck/{e.stage}"},
                      **({"exception": {"message": e.detail[-2000:]}} if e.detail else {})}
                     for e in report.errors]
    return {
        "$schema": SCHEMA, "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "provcheck", "version": __version__, "semanticVersion": __version__,
                                "rules": rules}},
            "invocations": [{"executionSuccessful": not report.errors,
                             "toolExecutionNotifications": notifications}],
            "artifacts": [{"location": {"uri": _uri(a.name)}, "roles": ["analysisTarget"],
                           "properties": {"role": a.role, "kind": a.kind,
                                          **({"digest": a.metadata["digest"]} if a.metadata.get("digest") else {})}}
                          for a in report.artifacts],
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }


def _precision(confidence: Any) -> str:
    return {"low": "low", "medium": "medium", "high": "high"}[str(confidence)]


def write_sarif(report: Any, stream: TextIO, color: bool = False) -> None:
    json.dump(to_sarif(report), stream, indent=2, sort_keys=False, ensure_ascii=False)
    stream.write("\n")


@hookimpl
def provcheck_register_formats():
    return [OutputFormat("sarif", write_sarif, ".sarif")]
