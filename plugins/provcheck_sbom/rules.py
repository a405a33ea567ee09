"""The PC4xx rules: declared inventory (SBOM) against observed contents, and advisories."""

from __future__ import annotations

from provcheck import Confidence, Rule, Severity, rule_doc

_REFS = ("- SPDX 2.3 and 3.0 specifications; CycloneDX 1.6 specification\n"
         "- debsums(1), dpkg(1) `--verify`; `apk audit`; `rpm -V`\n"
         "- CVE-2024-3094 (xz-utils 5.6.0/5.6.1 backdoor) and the SBOM-driven response to it\n")


def _doc(what: str, why: str, example: str, refs: str = "") -> str:
    return rule_doc(what, why, example, refs + _REFS)


PC401 = Rule(id="PC401", name="sbom-component-absent", severity=Severity.MEDIUM,
             summary="The SBOM declares a component the artifact does not contain",
             doc=_doc("Compares every package an SBOM declares (by purl type and name, normalising the spelling "
                      "differences of Syft, Trivy and cdxgen) with the package databases in the artifact. A "
                      "declared package with no database entry, or a component whose declared files are all "
                      "missing, is reported with the SBOM entry that declared it. Source-package entries "
                      "(cdxgen lists `xz-utils` next to `liblzma5`) are matched through the binaries' `Source`.",
                      "An SBOM that lists what is not there was made from another build, or the image was changed "
                      "after the SBOM was produced; every query answered from it is wrong.",
                      "`pkg:deb/debian/curl@7.88.1-10` in `image.spdx.json`, but no `curl` in `var/lib/dpkg/status`."))
PC402 = Rule(id="PC402", name="undeclared-component", severity=Severity.MEDIUM,
             summary="A component is installed but the SBOM does not declare it",
             doc=_doc("Reports packages recorded in the artifact's package databases (dpkg, apk, rpm, Python "
                      "dist-info) and shared libraries no package owns (`liblzma.so.5.6.1`) that the SBOM does "
                      "not list, with the image layer that added them. Only SBOMs that claim to describe the whole "
                      "artifact (given with `--sbom` or attached to the image) are held to this.",
                      "An advisory query (`which images contain xz 5.6.1?`) answered from an SBOM misses whatever "
                      "it leaves out. Libraries copied in by hand are exactly what generators miss.",
                      "`usr/lib/x86_64-linux-gnu/liblzma.so.5.6.1` added by layer 3, absent from the CycloneDX BOM."))
PC403 = Rule(id="PC403", name="component-version-mismatch", severity=Severity.HIGH,
             summary="SBOM, package database and the files disagree on a component's version",
             doc=_doc("Compares the version an SBOM declares with the installed version in the package database, "
                      "with each ecosystem's ordering (epochs, `+b2` binary NMUs and distro qualifiers are spelling, "
                      "not disagreement). Also reports a package's library symlink (`liblzma.so.5`) that now "
                      "resolves to a library file of another version the package never installed.",
                      "The version is what advisory matching runs on; a wrong one hides a vulnerable component "
                      "or a swapped library.",
                      "SBOM says `liblzma5@5.4.1-0.2`, dpkg says `5.6.1-1`; or `liblzma.so.5 -> liblzma.so.5.6.1` "
                      "while `liblzma5 5.4.1` installed `liblzma.so.5.4.1`."))
PC404 = Rule(id="PC404", name="package-file-modified", severity=Severity.HIGH,
             summary="A file differs from its package's manifest (modified after installation)",
             doc=_doc("Checks every file a package database records a digest for (dpkg `md5sums`, apk `Z:` "
                      "sha1, rpm file digests, dist-info `RECORD` sha256) against the file in the artifact, like "
                      "`debsums`. In images the evidence names the layer that installed the package, the layer "
                      "that wrote the current file, and whether the copy from the installing layer (now hidden) "
                      "still matched.",
                      "Package managers and SBOM generators trust the database; a library replaced after "
                      "installation keeps the package's name and version while running other code.",
                      "`usr/lib/x86_64-linux-gnu/liblzma.so.5.4.1` md5 differs from `liblzma5.md5sums`; written "
                      "by layer 2, package installed by layer 1."))
PC405 = Rule(id="PC405", name="unowned-binary", severity=Severity.MEDIUM,
             summary="An executable or shared object that no package owns",
             doc=_doc("In artifacts that have a package database, lists ELF executables and shared objects that "
                      "no package (dpkg, apk, rpm, dist-info RECORD) owns, with the layer that added them and the "
                      "component inferred from the file name when there is one.",
                      "Binaries outside the package manager have no provenance, no manifest digest and are "
                      "invisible to package-based SBOMs and vulnerability scanners.",
                      "`usr/local/lib/liblzma.so.5.6.1` added by the last layer."))
PC406 = Rule(id="PC406", name="sbom-file-hash-mismatch", severity=Severity.HIGH,
             summary="A file's hash in the SBOM does not match the file in the artifact",
             doc=_doc("Checks SBOM file entries (SPDX `files` checksums, CycloneDX `file` components, SPDX 3 "
                      "`verifiedUsing`) against the artifact's files, mapping `/lib/...`, `usr/lib/...` and "
                      "merged-usr paths to the same file. When the declared path is an absolute symlink in the "
                      "artifact and the file it reaches inside the root matches its package's own checksum (dpkg "
                      "`md5sums`, apk, rpm), the generator followed the link on its own host (cdxgen does for "
                      "`usr/bin/pager -> /etc/alternatives/pager`): the finding is low and says so.",
                      "The SBOM describes different bytes from the ones that ship.",
                      "`usr/bin/xz` SHA256 `ab12...` in the SPDX, `cd34...` in the image."))
PC407 = Rule(id="PC407", name="sbom-subject-mismatch", severity=Severity.HIGH,
             summary="The SBOM describes a different image than the one scanned",
             doc=_doc("Compares the image digest an SBOM names (CycloneDX `metadata.component`, SPDX root "
                      "package, in-toto `subject`) with the scanned image's manifest and config digests (tools "
                      "disagree on which one they use; either is accepted).",
                      "An SBOM of another build answers every question about the wrong image.",
                      "SBOM subject `sha256:1111...`, image manifest `sha256:7bda...`."))
PC408 = Rule(id="PC408", name="vulnerable-component", severity=Severity.HIGH, confidence=Confidence.HIGH,
             summary="A component matches an advisory (OSV) by purl and affected version range",
             doc=_doc("Matches observed components against the OSV records given with `--advisories DIR`, using "
                      "each ecosystem's version ordering (`5.6.1+really5.4.5-1` is after `5.6.1-1` and not "
                      "affected). The evidence lists the component's files and layer, the programs that reach it "
                      "through DT_NEEDED, the fixed version and the SBOM entry that declared it.",
                      "Known-vulnerable or backdoored code is installed.",
                      "`liblzma5 5.6.1-1` (source `xz-utils`) matches CVE-2024-3094; "
                      "`usr/sbin/sshd > libsystemd.so.0 > liblzma.so.5` reaches it.",
                      "- OSV schema, https://ossf.github.io/osv-schema/\n"))
PC409 = Rule(id="PC409", name="package-files-missing", severity=Severity.LOW,
             summary="Files a package manifest lists are missing from the artifact",
             doc=_doc("Per package, lists files with a manifest digest that are not in the artifact.",
                      "Slimmed images delete documentation on purpose, but a missing library or program means the "
                      "package database (and an SBOM made from it) no longer describes the contents.",
                      "`usr/bin/xz` listed in `xz-utils.md5sums`, absent."))

RULES = (PC401, PC402, PC403, PC404, PC405, PC406, PC407, PC408, PC409)
