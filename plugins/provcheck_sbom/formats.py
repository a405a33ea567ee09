"""Declared inventories: SPDX 2.2/2.3 (JSON and tag-value), SPDX 3.0 JSON-LD and
CycloneDX 1.4-1.7 (JSON and XML) read into one small model.

These are hand-written readers over the standard library (plus ``defusedxml`` for XML),
not ``spdx-tools``/``cyclonedx-python-lib``: we need a handful of fields from documents
that are often several MB, and those libraries validate and build full object graphs
(seconds for a Syft SPDX of a small image) and reject documents real generators write.
``packageurl-python`` is used for every purl. XML is parsed with ``defusedxml``, which
refuses DTDs with entities and external references (XXE, billion laughs).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from packageurl import PackageURL

MAX_SBOM = 512 << 20


class SbomError(ValueError):
    """The document is not an SBOM we read, or it is malformed."""


@dataclass
class DeclaredComponent:
    name: str
    version: str
    purl: str | None
    type: str  # purl type, "" when unknown
    namespace: str | None = None
    qualifiers: dict[str, str] = field(default_factory=dict)
    ref: str = ""  # bom-ref / SPDXID
    source: str | None = None  # source package name (purl "upstream", syft metadata)
    locations: list[str] = field(default_factory=list)  # paths the generator says it came from
    layers: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    kind: str = "package"  # "package", "operating-system", "container", "application", ...
    files: list[str] = field(default_factory=list)  # refs of contained files

    @property
    def entry(self) -> str:
        return self.ref or self.purl or f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "purl": self.purl, "ref": self.ref}


@dataclass
class DeclaredFile:
    path: str
    hashes: dict[str, str]  # algorithm (sha1, sha256, md5, ...) -> lowercase hex
    ref: str = ""


@dataclass
class Sbom:
    label: str  # where it came from: a file name, "tree:var/lib/db/sbom/x.spdx.json", "referrer:sha256:..."
    format: str  # "spdx-2.3-json", "spdx-2.3-tag", "spdx-3.0-jsonld", "cyclonedx-1.6-json", "cyclonedx-1.6-xml"
    tool: str = ""
    subject_name: str = ""
    subject_digests: list[str] = field(default_factory=list)
    components: list[DeclaredComponent] = field(default_factory=list)
    files: list[DeclaredFile] = field(default_factory=list)
    depends: list[tuple[str, str]] = field(default_factory=list)  # (dependent ref, dependency ref)
    scope: str = "image"  # "image": claims to list everything; "partial": a package's own SBOM

    def summary(self) -> dict[str, Any]:
        return {"label": self.label, "format": self.format, "tool": self.tool, "components": len(self.components),
                "files": len(self.files), "subject": self.subject_name, "subject_digests": self.subject_digests}


# -- helpers ----------------------------------------------------------------------------------

_ALGOS = {"SHA-1": "sha1", "SHA1": "sha1", "SHA-256": "sha256", "SHA256": "sha256", "SHA-384": "sha384",
          "SHA384": "sha384", "SHA-512": "sha512", "SHA512": "sha512", "MD5": "md5", "SHA3-256": "sha3_256",
          "SHA3-512": "sha3_512", "BLAKE2B-256": "blake2b_256", "BLAKE3": "blake3"}


def algo(name: str) -> str:
    n = str(name).strip().upper().replace("_", "-")
    return _ALGOS.get(n, _ALGOS.get(n.replace("-", ""), n.lower()))


_DIGEST_RX = re.compile(r"sha256:[0-9a-f]{64}")


def component_from_purl(purl: str | None, name: str, version: str, **kw: Any) -> DeclaredComponent:
    ptype, ns, quals = "", None, {}
    if purl:
        try:
            p = PackageURL.from_string(purl.strip())
            ptype, ns, quals = p.type, p.namespace, dict(p.qualifiers or {})
            name = name or p.name
            version = version or (p.version or "")
            if p.type in ("deb", "apk", "rpm") and p.name != name and name:
                name = p.name  # the purl names the package; display names vary (Syft uses the package name)
        except ValueError:
            purl = purl  # keep the text; the type stays unknown
    src = None
    up = quals.get("upstream")
    if up:
        src = re.sub(r"[@-][^@]*$", "", up) if "@" in up else (re.sub(r"-[^-]+-[^-]+\.src\.rpm$", "", up))
    if not ptype:  # no purl (Syft without a distro): the type is in the SPDXID or a property
        m = re.match(r"SPDXRef-Package-([a-z0-9]+)-", str(kw.get("ref", "")))
        ptype = _TYPE_ALIASES.get(m.group(1), m.group(1)) if m else ""
    return DeclaredComponent(name=name or "", version=version or "", purl=purl, type=ptype, namespace=ns,
                             qualifiers=quals, source=src, **kw)


_TYPE_ALIASES = {"python": "pypi", "binary": "generic", "java": "maven", "java-archive": "maven", "go-module": "golang",
                 "rust-crate": "cargo", "npm": "npm", "deb": "deb", "rpm": "rpm", "apk": "apk"}


def _digests_in(*texts: Any) -> list[str]:
    out = []
    for t in texts:
        if isinstance(t, str):
            out += _DIGEST_RX.findall(t)
    return out


# -- detection ---------------------------------------------------------------------------------

def parse(data: bytes, label: str) -> Sbom:
    """Read an SBOM of any supported format; :class:`SbomError` when it is not one."""
    try:
        return _parse(data, label)
    except RecursionError:  # "[[[[..." or XML nested thousands deep
        raise SbomError(f"{label}: nested too deeply to be an SBOM") from None


def _parse(data: bytes, label: str) -> Sbom:
    if len(data) > MAX_SBOM:
        raise SbomError(f"{label}: larger than {MAX_SBOM} bytes")
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return parse_cyclonedx_xml(data, label)
    if head.startswith((b"{", b"[")):
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SbomError(f"{label}: not valid JSON ({exc})") from None
        return parse_json(doc, label)
    text = data.decode("utf-8", "replace")
    if re.search(r"^SPDXVersion:\s*SPDX-", text[:8192], re.M):
        return parse_spdx_tag(text, label)
    raise SbomError(f"{label}: neither SPDX nor CycloneDX (JSON, XML or tag-value)")


def parse_json(doc: Any, label: str) -> Sbom:
    if not isinstance(doc, dict):
        raise SbomError(f"{label}: a JSON SBOM is an object")
    # in-toto statements and DSSE envelopes (cosign attestations)
    if doc.get("payloadType") and doc.get("payload"):
        import base64
        try:
            inner = json.loads(base64.b64decode(doc["payload"]))
        except (ValueError, TypeError) as exc:
            raise SbomError(f"{label}: DSSE payload is not base64 JSON ({exc})") from None
        return parse_json(inner, label)
    if "predicate" in doc and "predicateType" in doc:
        pt = str(doc.get("predicateType"))
        if "spdx" not in pt.lower() and "cyclonedx" not in pt.lower():
            raise SbomError(f"{label}: attestation predicate {pt!r} is not an SBOM")
        pred = doc["predicate"]
        if isinstance(pred, str):  # some tools embed the document as a string
            try:
                pred = json.loads(pred)
            except ValueError:
                return parse_spdx_tag(pred, label)
        sbom = parse_json(pred, label)
        for s in doc.get("subject") or ():
            if isinstance(s, dict) and isinstance(s.get("digest"), dict) and s["digest"].get("sha256"):
                sbom.subject_digests.append("sha256:" + str(s["digest"]["sha256"]))
        return sbom
    if doc.get("bomFormat") == "CycloneDX":
        return parse_cyclonedx_json(doc, label)
    if str(doc.get("spdxVersion", "")).startswith("SPDX-"):
        return parse_spdx2_json(doc, label)
    ctx = doc.get("@context")
    if ctx and "spdx.org/rdf/3" in json.dumps(ctx):
        return parse_spdx3(doc, label)
    raise SbomError(f"{label}: JSON but neither SPDX nor CycloneDX")


# -- SPDX 2.x JSON ------------------------------------------------------------------------------

def _spdx_purl(pkg: Mapping[str, Any]) -> str | None:
    for ref in pkg.get("externalRefs") or ():
        if isinstance(ref, dict) and str(ref.get("referenceType", "")).lower() == "purl":
            return str(ref.get("referenceLocator") or "") or None
    return None


def _spdx_root_kind(pkg: Mapping[str, Any]) -> str:
    spdxid = str(pkg.get("SPDXID", ""))
    purpose = str(pkg.get("primaryPackagePurpose", "")).upper()
    if spdxid.startswith("SPDXRef-DocumentRoot") or purpose in ("CONTAINER", "FILE") and not _spdx_purl(pkg):
        return "container"
    if purpose == "OPERATING-SYSTEM":
        return "operating-system"
    return "package"


def parse_spdx2_json(doc: Mapping[str, Any], label: str) -> Sbom:
    ver = str(doc.get("spdxVersion", "SPDX-2")).split("-", 1)[-1]
    creators = (doc.get("creationInfo") or {}).get("creators") or []
    tool = next((c.split(":", 1)[1].strip() for c in creators if isinstance(c, str) and c.startswith("Tool:")), "")
    sbom = Sbom(label=label, format=f"spdx-{ver}-json", tool=tool, subject_name=str(doc.get("name", "")))
    described = set(doc.get("documentDescribes") or ())
    rels = [r for r in doc.get("relationships") or () if isinstance(r, dict)]
    described |= {r.get("relatedSpdxElement") for r in rels if r.get("relationshipType") == "DESCRIBES"}
    for pkg in doc.get("packages") or ():
        if not isinstance(pkg, dict):
            continue
        kind = _spdx_root_kind(pkg)
        name, version = str(pkg.get("name", "")), str(pkg.get("versionInfo", "") or "")
        if kind == "container" or pkg.get("SPDXID") in described and kind != "package":
            sbom.subject_name = name or sbom.subject_name
            sbom.subject_digests += _digests_in(version, _spdx_purl(pkg))
            continue
        c = component_from_purl(_spdx_purl(pkg), name, version, ref=str(pkg.get("SPDXID", "")), kind=kind)
        c.hashes = {algo(h.get("algorithm", "")): str(h.get("checksumValue", "")).lower()
                    for h in pkg.get("checksums") or () if isinstance(h, dict)}
        c.files = [str(f) for f in pkg.get("hasFiles") or ()]
        src = str(pkg.get("sourceInfo", ""))
        m = re.search(r"acquired package info from [^:]+:\s*(.*)", src)
        if m:
            c.locations = [p.strip() for p in m.group(1).split(",") if p.strip()]
        if pkg.get("SPDXID") in described and kind == "package" and _digests_in(version):
            sbom.subject_digests += _digests_in(version)
        sbom.components.append(c)
    for f in doc.get("files") or ():
        if isinstance(f, dict) and f.get("fileName"):
            sbom.files.append(DeclaredFile(path=str(f["fileName"]), ref=str(f.get("SPDXID", "")),
                                           hashes={algo(h.get("algorithm", "")): str(h.get("checksumValue", "")).lower()
                                                   for h in f.get("checksums") or () if isinstance(h, dict)}))
    _spdx_relationships(sbom, [(r.get("spdxElementId"), r.get("relationshipType"), r.get("relatedSpdxElement"))
                               for r in rels])
    return sbom


def _spdx_relationships(sbom: Sbom, rels: Iterable[tuple[Any, Any, Any]]) -> None:
    by_ref = {c.ref: c for c in sbom.components}
    for a, kind, b in rels:
        kind = str(kind or "").upper().replace("-", "_")
        if kind in ("DEPENDS_ON", "DEPENDSON"):
            sbom.depends.append((str(a), str(b)))
        elif kind in ("DEPENDENCY_OF",):  # Syft: the reverse direction
            sbom.depends.append((str(b), str(a)))
        elif kind == "CONTAINS" and a in by_ref:
            by_ref[a].files.append(str(b))


# -- SPDX 2.x tag-value ---------------------------------------------------------------------------

def parse_spdx_tag(text: str, label: str) -> Sbom:
    m = re.search(r"^SPDXVersion:\s*SPDX-(\S+)", text, re.M)
    sbom = Sbom(label=label, format=f"spdx-{m.group(1) if m else '2'}-tag")
    cur: dict[str, Any] | None = None
    pkgs: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    rels: list[tuple[str, str, str]] = []
    doc_name = ""
    lines = iter(text.splitlines())
    for line in lines:
        if ":" not in line or line.startswith("#"):
            continue
        tag, _, value = line.partition(":")
        tag, value = tag.strip(), value.strip()
        if value.startswith("<text>") and "</text>" not in value:  # multi-line value
            parts = [value[6:]]
            for more in lines:
                if "</text>" in more:
                    parts.append(more.split("</text>")[0])
                    break
                parts.append(more)
            value = "\n".join(parts)
        elif value.startswith("<text>"):
            value = value[6:].split("</text>")[0]
        if tag == "PackageName":
            cur = {"name": value, "refs": [], "checksums": {}}
            pkgs.append(cur)
        elif tag == "FileName":
            cur = {"name": value, "checksums": {}}
            files.append(cur)
        elif tag == "SnippetSPDXID" or tag == "LicenseID":
            cur = None
        elif tag == "DocumentName":
            doc_name = value
        elif tag == "Creator" and value.startswith("Tool:"):
            sbom.tool = value[5:].strip()
        elif tag == "Relationship":
            p = value.split()
            if len(p) >= 3:
                rels.append((p[0], p[1], p[2]))
        elif cur is None:
            continue
        elif tag == "SPDXID":
            cur["id"] = value
        elif tag == "PackageVersion":
            cur["version"] = value
        elif tag == "ExternalRef":
            p = value.split(None, 2)
            if len(p) == 3 and p[1].lower() == "purl":
                cur["purl"] = p[2]
        elif tag in ("PackageChecksum", "FileChecksum"):
            a, _, v = value.partition(":")
            cur["checksums"][algo(a)] = v.strip().lower()
        elif tag == "PrimaryPackagePurpose":
            cur["purpose"] = value
        elif tag == "PackageSourceInfo":
            cur["sourceInfo"] = value
    sbom.subject_name = doc_name
    doc = {"packages": [{"name": p["name"], "SPDXID": p.get("id", ""), "versionInfo": p.get("version", ""),
                         "primaryPackagePurpose": p.get("purpose", ""), "sourceInfo": p.get("sourceInfo", ""),
                         "externalRefs": [{"referenceType": "purl", "referenceLocator": p["purl"]}] if p.get("purl") else [],
                         "checksums": [{"algorithm": a, "checksumValue": v} for a, v in p["checksums"].items()]}
                        for p in pkgs],
           "files": [{"fileName": f["name"], "SPDXID": f.get("id", ""),
                      "checksums": [{"algorithm": a, "checksumValue": v} for a, v in f["checksums"].items()]}
                     for f in files],
           "relationships": [{"spdxElementId": a, "relationshipType": k, "relatedSpdxElement": b} for a, k, b in rels],
           "name": doc_name}
    parsed = parse_spdx2_json(doc, label)
    parsed.format, parsed.tool = sbom.format, sbom.tool
    return parsed


# -- SPDX 3.0 JSON-LD ------------------------------------------------------------------------------

def parse_spdx3(doc: Mapping[str, Any], label: str) -> Sbom:
    graph = doc.get("@graph") or []
    if not isinstance(graph, list):
        raise SbomError(f"{label}: SPDX 3 document without @graph")
    sbom = Sbom(label=label, format="spdx-3.0-jsonld")
    rels = []
    for el in graph:
        if not isinstance(el, dict):
            continue
        typ = str(el.get("type") or el.get("@type") or "")
        sid = str(el.get("spdxId") or el.get("@id") or "")
        if typ in ("software_Package", "Package"):
            purl = el.get("software_packageUrl") or el.get("packageUrl")
            for ei in el.get("externalIdentifier") or ():
                if isinstance(ei, dict) and str(ei.get("externalIdentifierType", "")).lower() == "packageurl":
                    purl = purl or ei.get("identifier")
            version = str(el.get("software_packageVersion") or el.get("packageVersion") or "")
            purpose = str(el.get("software_primaryPurpose") or "")
            c = component_from_purl(purl, str(el.get("name", "")), version, ref=sid,
                                    kind="container" if purpose == "container" else "package")
            c.hashes = _spdx3_hashes(el)
            if c.kind == "container":
                sbom.subject_name = c.name
                sbom.subject_digests += _digests_in(version, purl)
            else:
                sbom.components.append(c)
        elif typ in ("software_File", "File"):
            sbom.files.append(DeclaredFile(path=str(el.get("name", "")), ref=sid, hashes=_spdx3_hashes(el)))
        elif typ in ("Relationship", "LifecycleScopedRelationship"):
            to = el.get("to") or []
            for b in to if isinstance(to, list) else [to]:
                rels.append((el.get("from"), _camel_to_upper(str(el.get("relationshipType", ""))), b))
        elif typ in ("CreationInfo",):
            pass
        elif typ in ("Tool", "SoftwareAgent") and not sbom.tool:
            sbom.tool = str(el.get("name", ""))
    _spdx_relationships(sbom, rels)
    return sbom


def _camel_to_upper(s: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", s).upper()


def _spdx3_hashes(el: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for h in el.get("verifiedUsing") or ():
        if isinstance(h, dict) and h.get("hashValue"):
            out[algo(str(h.get("algorithm", "")))] = str(h["hashValue"]).lower()
    return out


# -- CycloneDX JSON ------------------------------------------------------------------------------------

def _cdx_component(raw: Mapping[str, Any], sbom: Sbom, parent: DeclaredComponent | None = None) -> None:
    if not isinstance(raw, dict):
        return
    ctype = str(raw.get("type", "library"))
    props = [(str(p.get("name", "")), str(p.get("value", ""))) for p in raw.get("properties") or ()
             if isinstance(p, dict)]
    hashes = {algo(h.get("alg", "")): str(h.get("content", "")).lower() for h in raw.get("hashes") or ()
              if isinstance(h, dict)}
    name, version = str(raw.get("name", "")), str(raw.get("version", "") or "")
    if ctype == "file":
        paths = [v for k, v in props if k in ("SrcFile", "syft:location:0:path") or k.endswith(":path")]
        path = paths[0] if paths else name
        if hashes:
            sbom.files.append(DeclaredFile(path=path, hashes=hashes, ref=str(raw.get("bom-ref", ""))))
        # a file component with a generic purl (cdxgen) is not a package
        if not raw.get("purl") or str(raw.get("purl")).startswith("pkg:generic/"):
            for c in raw.get("components") or ():
                _cdx_component(c, sbom, parent)
            return
    c = component_from_purl(raw.get("purl"), name, version, ref=str(raw.get("bom-ref", "")), kind=ctype)
    c.hashes = hashes
    for k, v in props:
        if re.fullmatch(r"syft:location:\d+:path", k) or k == "SrcFile":
            c.locations.append(v)
        elif re.fullmatch(r"syft:location:\d+:layerID", k) or k in ("aquasecurity:trivy:LayerDiffID",
                                                                       "aquasecurity:trivy:LayerDigest"):
            c.layers.append(v)
        elif k in ("syft:metadata:source", "aquasecurity:trivy:SrcName") and v:
            c.source = c.source or v
        elif k == "syft:package:type" and not c.type:
            c.type = _TYPE_ALIASES.get(v, v)
    for ev in ((raw.get("evidence") or {}).get("occurrences") or ()):
        if isinstance(ev, dict) and ev.get("location"):
            c.locations.append(str(ev["location"]))
    if ctype in ("operating-system", "container") or (ctype == "file" and not raw.get("purl")):
        pass
    else:
        sbom.components.append(c)
    for child in raw.get("components") or ():
        _cdx_component(child, sbom, c)


def parse_cyclonedx_json(doc: Mapping[str, Any], label: str) -> Sbom:
    sbom = Sbom(label=label, format=f"cyclonedx-{doc.get('specVersion', '1')}-json")
    meta = doc.get("metadata") or {}
    tools = meta.get("tools")
    if isinstance(tools, dict):
        tools = tools.get("components") or []
    names = [f"{t['name']}-{t.get('version', '')}".rstrip("-") for t in tools or ()
             if isinstance(t, dict) and isinstance(t.get("name"), str) and t.get("name")]
    # the generator, not the helpers it ran (cdxgen lists its Trivy plugin first)
    main = [n for n in names if n.split("-")[0] in ("cdxgen", "syft", "trivy")]
    sbom.tool = (next((n for n in main if n.startswith("cdxgen")), None) or (main or names or [""])[0])
    root = meta.get("component") or {}
    if isinstance(root, dict):
        sbom.subject_name = str(root.get("name", ""))
        sbom.subject_digests += _digests_in(root.get("version"), root.get("purl"), root.get("bom-ref"))
        for h in root.get("hashes") or ():
            if isinstance(h, dict) and algo(h.get("alg", "")) == "sha256":
                sbom.subject_digests.append("sha256:" + str(h.get("content", "")).lower())
        for p in root.get("properties") or ():
            if isinstance(p, dict) and str(p.get("name", "")) in ("aquasecurity:trivy:ImageID",
                                                                  "aquasecurity:trivy:RepoDigest",
                                                                  "oci:image:manifest:digest"):
                sbom.subject_digests += _digests_in(p.get("value"))
    for c in doc.get("components") or ():
        _cdx_component(c, sbom)
    for d in doc.get("dependencies") or ():
        if isinstance(d, dict):
            for b in d.get("dependsOn") or ():
                sbom.depends.append((str(d.get("ref")), str(b)))
    return sbom


# -- CycloneDX XML ----------------------------------------------------------------------------------------

def parse_cyclonedx_xml(data: bytes, label: str) -> Sbom:
    try:
        from defusedxml import ElementTree as ET
        from defusedxml.common import DefusedXmlException
    except ImportError as exc:  # never fall back to an unsafe parser
        raise SbomError(f"{label}: XML SBOMs need the 'defusedxml' package ({exc})") from None
    try:
        root = ET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise SbomError(f"{label}: XML refused ({type(exc).__name__}: DTDs/entities are not allowed)") from None
    except Exception as exc:  # ParseError
        raise SbomError(f"{label}: not well-formed XML ({exc})") from None
    m = re.match(r"\{http://cyclonedx\.org/schema/bom/([\d.]+)\}bom$", root.tag)
    if not m:
        raise SbomError(f"{label}: XML root is {root.tag!r}, not a CycloneDX bom")
    ns = "{http://cyclonedx.org/schema/bom/" + m.group(1) + "}"

    def text(el: Any, tag: str) -> str:
        x = el.find(ns + tag)
        return (x.text or "").strip() if x is not None and x.text else ""

    def to_dict(el: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"type": el.get("type", "library"), "bom-ref": el.get("bom-ref", ""),
                             "name": text(el, "name"), "version": text(el, "version"), "purl": text(el, "purl") or None}
        d["hashes"] = [{"alg": h.get("alg", ""), "content": (h.text or "").strip()}
                       for h in el.findall(f"{ns}hashes/{ns}hash")]
        d["properties"] = [{"name": p.get("name", ""), "value": (p.text or "").strip()}
                           for p in el.findall(f"{ns}properties/{ns}property")]
        d["components"] = [to_dict(c) for c in el.findall(f"{ns}components/{ns}component")]
        return d

    doc: dict[str, Any] = {"bomFormat": "CycloneDX", "specVersion": m.group(1), "metadata": {}}
    meta = root.find(ns + "metadata")
    if meta is not None:
        comp = meta.find(ns + "component")
        if comp is not None:
            doc["metadata"]["component"] = to_dict(comp)
        tools = [{"name": text(t, "name"), "version": text(t, "version")}
                 for t in meta.findall(f"{ns}tools/{ns}tool") + meta.findall(f"{ns}tools/{ns}components/{ns}component")]
        doc["metadata"]["tools"] = tools
    doc["components"] = [to_dict(c) for c in root.findall(f"{ns}components/{ns}component")]
    doc["dependencies"] = [{"ref": d.get("ref"), "dependsOn": [x.get("ref") for x in d.findall(ns + "dependency")]}
                           for d in root.findall(f"{ns}dependencies/{ns}dependency")]
    sbom = parse_cyclonedx_json(doc, label)
    sbom.format = f"cyclonedx-{m.group(1)}-xml"
    return sbom
