"""``sbom --format html``: declared against observed, what only one side has, hash
mismatches, and advisories with the binaries that reach the affected library."""

from __future__ import annotations

from typing import Any

ONLY_DECLARED, UNDECLARED, VERSION, HASHES = ("PC401",), ("PC402",), ("PC403",), ("PC404", "PC406")


def _finding_rows(report: Any, rules: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"severity": str(f.severity), "rule": f.rule_id, "artifact": f.location.artifact,
             "path": f.location.path, "package": f.component or str(f.evidence.get("package") or ""),
             "message": f.message, "evidence": dict(f.evidence)}
            for f in report.findings if f.rule_id in rules and f.suppression is None]


FINDING_COLUMNS = [{"key": "severity", "label": "severity", "kind": "severity", "filter": "select"},
                   {"key": "rule", "label": "rule", "filter": "select"},
                   {"key": "path", "label": "path", "kind": "path"},
                   {"key": "package", "label": "package"}, {"key": "message", "label": "message"}]


def sbom_view(report: Any, st: dict[str, Any]) -> dict[str, Any]:
    from .export import _status
    components, sboms = [], []
    for state in st["targets"].values():
        for s in state.sboms:
            sboms.append(s.summary() | {"scope": s.scope, "artifact": state.artifact.name})
        for c in state.components:
            declared = state.declared_by.get(c.purl) or []
            components.append({"name": c.name, "version": c.version, "purl": c.purl, "origin": c.origin,
                               "layer": c.layer or "", "files": len(c.files), "artifact": state.artifact.name,
                               "declared": ("yes" if declared else "no") if state.sboms else "no SBOM",
                               "declared_as": ", ".join(f"{d['sbom']}#{d['entry']}" for d in declared)})
    advisories = []
    for res in st.get("advisories", []):
        status, _just, detail = _status(res)
        advisories.append({"advisory": str(res.record.get("id")), "status": status, "name": res.component.name,
                           "version": res.component.version, "purl": res.component.purl,
                           "layer": res.component.layer or "", "detail": detail,
                           "reached_by": [list(ch) for ch in res.reached_by[:20]],
                           "reaching": len(res.reached_by), "artifact": res.artifact})
    only_declared, undeclared = _finding_rows(report, ONLY_DECLARED), _finding_rows(report, UNDECLARED)
    versions, hashes = _finding_rows(report, VERSION), _finding_rows(report, HASHES)
    counts = {"observed components": len(components), "SBOMs": len(sboms),
              "declared and observed": sum(1 for c in components if c["declared"] == "yes"),
              "only in an SBOM": len(only_declared), "not in the SBOM": len(undeclared),
              "version mismatches": len(versions), "hash mismatches": len(hashes),
              "advisories affecting": sum(1 for a in advisories if a["status"] == "affected")}
    sections: list[dict[str, Any]] = [{"type": "counts", "items": counts}]
    if not sboms:
        sections.append({"type": "note", "warn": True,
                         "text": "no SBOM was found in or attached to the artifact, nor given with --sbom: "
                                 "only the observed inventory is shown"})
    sections += [
        {"type": "table", "id": "sbom-advisories", "title": "Advisories", "noun": "advisory match", "rows": advisories,
         "empty": "no advisory names an installed package (or no --advisories given)",
         "columns": [{"key": "advisory", "label": "advisory", "filter": "select"},
                     {"key": "status", "label": "status", "kind": "verdict", "filter": "select"},
                     {"key": "name", "label": "package"}, {"key": "version", "label": "version"},
                     {"key": "detail", "label": "why"},
                     {"key": "reached_by", "label": "reached by", "kind": "chain"},
                     {"key": "layer", "label": "layer", "kind": "hash"}]},
        {"type": "table", "id": "sbom-hashes", "title": "Hash mismatches", "noun": "file", "rows": hashes,
         "empty": "every package file and SBOM hash checked matches", "columns": FINDING_COLUMNS, "expand": "evidence"},
        {"type": "table", "id": "sbom-only-declared", "title": "Only in an SBOM (declared, not found)",
         "noun": "component", "rows": only_declared, "empty": "none", "columns": FINDING_COLUMNS, "expand": "evidence"},
        {"type": "table", "id": "sbom-undeclared", "title": "Not in the SBOM (found, not declared)",
         "noun": "component", "rows": undeclared, "empty": "none", "columns": FINDING_COLUMNS, "expand": "evidence"},
        {"type": "table", "id": "sbom-versions", "title": "Version mismatches", "noun": "component", "rows": versions,
         "empty": "none", "columns": FINDING_COLUMNS, "expand": "evidence"},
        {"type": "table", "id": "sbom-components", "title": "Declared against observed", "noun": "component",
         "rows": components,
         "columns": [{"key": "name", "label": "package"}, {"key": "version", "label": "version"},
                     {"key": "purl", "label": "purl", "kind": "code"},
                     {"key": "origin", "label": "seen in", "filter": "select"},
                     {"key": "declared", "label": "declared", "filter": "select"},
                     {"key": "declared_as", "label": "declared as"},
                     {"key": "layer", "label": "layer", "kind": "hash", "filter": "select"},
                     {"key": "files", "label": "files"}]},
        {"type": "table", "id": "sbom-documents", "title": "SBOMs", "noun": "SBOM", "rows": sboms,
         "empty": "none found",
         "columns": [{"key": "label", "label": "SBOM", "kind": "path"}, {"key": "format", "label": "format"},
                     {"key": "tool", "label": "tool"}, {"key": "scope", "label": "scope"},
                     {"key": "components", "label": "components"}, {"key": "subject", "label": "subject"}]},
    ]
    return {"id": "sbom", "title": "SBOM", "sections": sections}
