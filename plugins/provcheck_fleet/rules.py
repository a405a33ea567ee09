"""Fleet rules (PC6xx)."""

from __future__ import annotations

from provcheck import Confidence, Rule, Severity

PC601 = Rule(
    id="PC601", name="affected-image", severity=Severity.HIGH,
    summary="An image in the fleet inventory contains a component an advisory or a query names",
    doc="""## What it does
`provcheck query --db inventory.sqlite --advisory OSV.json` (or `--component NAME --versions RANGE`)
reports one finding per affected image and component: the image's repository, tags and
digest, the component's package record and the layer that added it, the files it owns
with the layer each visible copy comes from, and the binaries that reach those files
through the dynamic-linkage graph (`sshd -> libsystemd.so.0 -> liblzma.so.5`).

## Why is this bad?
An image that ships a vulnerable or backdoored component is exposed wherever it runs;
when the component is a shared library, every binary that loads it is exposed too,
even though the binary's own package is not named by the advisory.

## Example
An inventory of a registry's catalog, queried with the OSV record of CVE-2024-3094
(`xz-utils` 5.6.0 and 5.6.1): every image whose dpkg database lists `liblzma5`
5.6.0 or 5.6.1 is reported, with `usr/lib/x86_64-linux-gnu/liblzma.so.5.6.1` in layer
`sha256:...` and `usr/sbin/sshd` reaching it through `libsystemd.so.0`.

## References
- OSV schema: https://ossf.github.io/osv-schema/
- CVE-2024-3094 (xz-utils backdoor)
- OCI distribution specification (image manifests, referrers)
""")

PC602 = Rule(
    id="PC602", name="attached-sbom-disagrees", severity=Severity.HIGH, confidence=Confidence.HIGH,
    summary="The SBOM attached to an image omits or misversions a package its layers install",
    doc="""## What it does
In deep mode (`provcheck fleet scan --mode deep`) provcheck pulls the layers of an image
that has an attached SBOM (cosign `.sbom`/`.att`, or an OCI 1.1 referrer) and compares
the packages its package databases record with the SBOM's components. A package that the
SBOM does not list, or lists with another version, is reported.

## Why is this bad?
Fast inventory queries trust attached SBOMs. An SBOM that leaves out a package (by a
generator bug, or on purpose) hides that image from exactly the query that should find
it on the day an advisory comes out.

## Example
The image's `var/lib/dpkg/status` lists `liblzma5 5.6.1-1`, its attached SPDX document
has no `liblzma5` package.

## References
- SPDX 2.3 and CycloneDX 1.5 JSON specifications
- Sigstore cosign: attaching SBOMs and attestations to images
""")

PC603 = Rule(
    id="PC603", name="registry-digest-mismatch", severity=Severity.CRITICAL,
    summary="A registry served a manifest or blob whose content does not match its digest",
    doc="""## What it does
Every manifest, config and layer pulled from a registry is hashed while it streams and
compared with the digest that names it (and with the descriptor's size). A mismatch stops
the image: nothing from that blob is scanned or cached, and the image is reported with
this finding and an error; the rest of the fleet is scanned.

## Why is this bad?
Digests are what make image references immutable. A registry, mirror or proxy that
serves different bytes under a digest is corrupt or compromised.

## Example
`registry.example:5000/app@sha256:ab12...`: layer `sha256:cd34...` hashes to `sha256:ef56...`.

## References
- OCI distribution specification, "Pulling blobs" (digest verification)
- OCI image specification, descriptors
""")

RULES = (PC601, PC602, PC603)
