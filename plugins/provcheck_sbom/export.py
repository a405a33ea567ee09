"""``provcheck sbom ARTIFACT``: the observed inventory as enriched CycloneDX, advisory
answers as OpenVEX, or a JSON/text summary.

The command runs the normal scan (every detector, so findings can be attached to their
components) and then writes, per format:

* ``cyclonedx``: CycloneDX 1.6 JSON. Components are what the package databases and files
  show, each with ``provcheck:*`` properties (origin, layer, database, the SBOM entries
  that declared it, the rules that fired on its files) and file occurrences;
  ``vulnerabilities`` holds every OSV record that names an installed package, with an
  analysis state (``exploitable`` when a program reaches the library, ``in_triage`` when
  affected but no reach is known, ``not_affected``/``code_not_present`` when the installed
  version is outside the affected ranges).
* ``openvex``: OpenVEX 0.2.0 statements for the same matches (``affected`` with an
  action statement naming the fixed version; ``not_affected`` with the justification
  ``vulnerable_code_not_present``).
* ``json``/``text``: the inventory, the SBOMs found, and the advisory answer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from .elfdeps import chain_names

if TYPE_CHECKING:
    from provcheck import CommandContext


def setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifacts", nargs="+", metavar="ARTIFACT", help="image, root filesystem, archive")


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    from . import run_state
    report = ctx.scan(args)
    st = run_state(report) or {"targets": {}, "advisories": []}
    if args.format == "html":
        from provcheck import write_html_page

        from .html import sbom_view
        with ctx.output(args) as (stream, _color):
            write_html_page(stream, report, command="sbom", views=[sbom_view(report, st)], default_view="sbom")
        return report.exit_code()
    doc = build(report, st, args.format)
    with ctx.output(args) as (stream, _color):
        if args.format == "text":
            stream.write(doc)
        else:
            json.dump(doc, stream, indent=2, sort_keys=False)
            stream.write("\n")
    for e in report.errors:
        print(f"provcheck: {e}", file=__import__("sys").stderr)
    return report.exit_code()


def _now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch and epoch.isdigit() else \
        dt.datetime.now(dt.timezone.utc)
    return t.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _by_component(report: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for f in report.findings:
        if f.component:
            out.setdefault(f.component, []).append(f)
    return out


def _status(res: Any) -> tuple[str, str | None, str]:
    """(status, justification, text) for one advisory result."""
    if res.match is None:
        return "not_affected", "vulnerable_code_not_present", \
            f"{res.component.name} {res.component.version} is outside the affected version ranges"
    if res.reached_by:
        return "affected", None, f"reached by {chain_names(res.reached_by[0])}"
    return "affected", None, "installed version is in an affected range"


def build(report: Any, st: dict[str, Any], fmt: str) -> Any:
    if fmt == "cyclonedx":
        return cyclonedx(report, st)
    if fmt == "openvex":
        return openvex(report, st)
    if fmt == "json":
        return summary(report, st)
    return text(report, st)


def cyclonedx(report: Any, st: dict[str, Any]) -> dict[str, Any]:
    findings = _by_component(report)
    targets = list(st["targets"].values())
    art = targets[0].artifact if targets else None
    meta_comp: dict[str, Any] = {"type": "container" if art is not None and art.kind == "image" else "file",
                                 "bom-ref": "provcheck:subject", "name": art.name if art is not None else "unknown"}
    if art is not None and art.metadata.get("manifest_digest"):
        meta_comp["version"] = art.metadata["manifest_digest"]
        meta_comp["properties"] = [{"name": "provcheck:config_digest", "value": str(art.metadata.get("config_digest"))}]
    components, seen = [], set()
    for state in targets:
        for c in state.components:
            if c.purl in seen:
                continue
            seen.add(c.purl)
            props = [{"name": "provcheck:origin", "value": c.origin}, {"name": "provcheck:database", "value": c.db_path}]
            if c.layer:
                props.append({"name": "provcheck:layer", "value": c.layer})
            if len(targets) > 1:
                props.append({"name": "provcheck:artifact", "value": state.artifact.name})
            for d in state.declared_by.get(c.purl, []):
                props.append({"name": "provcheck:declared-by", "value": f"{d['sbom']}#{d['entry']}"})
            if state.sboms and not state.declared_by.get(c.purl):
                props.append({"name": "provcheck:declared-by", "value": "none"})
            for f in findings.get(c.purl, []):
                props.append({"name": "provcheck:finding", "value": f"{f.rule_id} {f.location.path}"})
            comp = {"type": "library", "bom-ref": c.purl, "name": c.name, "version": c.version, "purl": c.purl,
                    "properties": props}
            files = [p for p in c.files][:50]
            if files:
                comp["evidence"] = {"occurrences": [{"location": "/" + p} for p in files]}
            components.append(comp)
    vulns: dict[str, dict[str, Any]] = {}
    for res in st.get("advisories", []):
        rid = str(res.record.get("id"))
        v = vulns.setdefault(rid, {"bom-ref": f"vuln:{rid}", "id": rid,
                                   "source": {"name": "OSV"},
                                   "description": str(res.record.get("summary") or res.record.get("details") or "")[:2000],
                                   "references": [{"id": a, "source": {"name": "alias"}}
                                                  for a in res.record.get("aliases") or ()],
                                   "affects": []})
        status, just, detail = _status(res)
        v["affects"].append({"ref": res.component.purl,
                             "versions": [{"version": res.component.version,
                                           "status": "affected" if status == "affected" else "unaffected"}]})
        analysis = {"state": ("exploitable" if res.reached_by else "in_triage") if status == "affected" else "not_affected",
                    "detail": detail}
        if just:
            analysis["justification"] = "code_not_present"
        if res.match is not None and res.match.fixed:
            analysis["response"] = ["update"]
        v.setdefault("analysis", analysis)
        if status == "affected":
            v["analysis"] = analysis
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
           "serialNumber": "urn:uuid:" + _uuid(report),
           "metadata": {"timestamp": _now(), "tools": {"components": [{"type": "application", "name": "provcheck",
                                                                       "version": report.version}]},
                        "component": meta_comp},
           "components": components}
    if vulns:
        doc["vulnerabilities"] = list(vulns.values())
    return doc


def _uuid(report: Any) -> str:
    h = hashlib.sha256(json.dumps([a.summary() for a in report.artifacts], sort_keys=True, default=str).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def openvex(report: Any, st: dict[str, Any]) -> dict[str, Any]:
    statements = []
    for res in st.get("advisories", []):
        status, just, detail = _status(res)
        state = st["targets"].get(res.artifact)
        product = res.artifact
        if state is not None and state.artifact.metadata.get("manifest_digest"):
            product = f"pkg:oci/{_oci_name(res.artifact)}@{state.artifact.metadata['manifest_digest']}"
        s: dict[str, Any] = {
            "vulnerability": {"name": str(res.record.get("id")),
                              **({"aliases": list(res.record.get("aliases"))} if res.record.get("aliases") else {})},
            "products": [{"@id": product, "subcomponents": [{"@id": res.component.purl}]}],
            "status": status,
        }
        if just:
            s["justification"] = just
            s["impact_statement"] = detail
        else:
            fixed = res.match.fixed if res.match is not None else None
            s["action_statement"] = (f"Update {res.component.name} to {fixed} or later" if fixed
                                     else f"Remove or replace {res.component.name} {res.component.version}") + f" ({detail})"
        statements.append(s)
    body = json.dumps(statements, sort_keys=True)
    return {"@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "urn:provcheck:vex:" + hashlib.sha256(body.encode()).hexdigest()[:32],
            "author": "provcheck", "timestamp": _now(), "version": 1, "statements": statements}


def _oci_name(name: str) -> str:
    import re
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "image"


def summary(report: Any, st: dict[str, Any]) -> dict[str, Any]:
    out = []
    for state in st["targets"].values():
        out.append({
            "artifact": state.artifact.name,
            "components": [c.to_dict() | {"declared_by": state.declared_by.get(c.purl, [])} for c in state.components],
            "sboms": [s.summary() | {"scope": s.scope} for s in state.sboms],
        })
    return {"artifacts": out,
            "advisories": [_adv_dict(r) for r in st.get("advisories", [])],
            "findings": [f.to_dict() for f in report.findings if f.rule_id.startswith("PC4")],
            "by_component": {purl: sorted(f.fingerprint for f in fs) for purl, fs in sorted(_by_component(report).items())},
            "errors": [e.to_dict() for e in report.errors]}


def _adv_dict(res: Any) -> dict[str, Any]:
    status, just, detail = _status(res)
    return {"artifact": res.artifact, "advisory": res.record.get("id"), "aliases": res.record.get("aliases") or [],
            "component": res.component.purl, "name": res.component.name, "version": res.component.version,
            "status": status, "justification": just, "detail": detail,
            "match": res.match.to_dict() if res.match else None, "layer": res.component.layer,
            "files": [p for p in res.component.files if ".so" in p][:20],
            "reached_by": [" > ".join(ch) for ch in res.reached_by[:20]], "declared_by": res.declared_by}


def text(report: Any, st: dict[str, Any]) -> str:
    lines = []
    for state in st["targets"].values():
        lines.append(f"{state.artifact.name}: {len(state.components)} components; "
                     f"SBOMs: {', '.join(s.label for s in state.sboms) or 'none'}")
    for res in st.get("advisories", []):
        d = _adv_dict(res)
        lines.append(f"{d['advisory']} {d['status'].upper():12} {d['artifact']}: {d['name']} {d['version']} ({d['detail']})")
        for f in d["files"][:3]:
            lines.append(f"    file: {f}")
        for ch in d["reached_by"][:5]:
            lines.append(f"    reached by: {ch}")
        for dec in d["declared_by"][:3]:
            lines.append(f"    declared in {dec['sbom']}: {dec['entry']}")
    groups = _by_component(report)
    if groups:
        lines.append("findings by component:")
        for purl in sorted(groups, key=lambda p: (-max(f.severity for f in groups[p]), p)):
            fs = groups[purl]
            rules = ", ".join(f"{r} x{n}" if n > 1 else r for r, n in sorted(
                {f.rule_id: sum(1 for g in fs if g.rule_id == f.rule_id) for f in fs}.items()))
            lines.append(f"  {purl}: {rules} (worst {max(f.severity for f in fs)})")
    n = sum(1 for f in report.findings if f.rule_id.startswith("PC4"))
    lines.append(f"{n} SBOM finding(s); `provcheck scan` shows them")
    return "\n".join(lines) + "\n"
