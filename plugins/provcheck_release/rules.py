"""Rules of the release-vs-source detector (PC1xx)."""

from __future__ import annotations

from provcheck import Confidence, Rule, Severity, rule_doc

_REFS_XZ = ("- CVE-2024-3094 (xz-utils 5.6.0/5.6.1): the trigger `m4/build-to-host.m4` existed only in the "
            "release tarball\n- Andres Freund, oss-security, 2024-03-29, \"backdoor in upstream xz/liblzma\"\n")
_REFS_TARBALL = ("- vsftpd 2.3.4 (2011), UnrealIRCd 3.2.8.1 (2010), ProFTPD 1.3.3c (2010), Webmin 1.890 (2018): "
                 "backdoors present only in the distributed tarball\n- Reproducible Builds: "
                 "\"Verify that the release tarball matches the source repository\"\n")


_doc = rule_doc


PC100 = Rule(
    id="PC100", name="release-comparison-summary", severity=Severity.INFO,
    summary="Summary of a release compared with its source: how every file was explained",
    doc=_doc("Reports, once per release/source pair, how many files are identical, recognised as generated "
             "(and by which build system), recognised release edits, only in the source, and how many need "
             "review. The evidence carries the verdict of every file that is not identical.",
             "Not a problem in itself: it is the one line that says a release was compared and what it "
             "contained, so a clean result is evidence rather than silence.",
             "`release xz-5.4.1.tar.gz vs xz@v5.4.1: 812 identical, 97 generated (autotools 95, stamps 2), "
             "0 need review`.", _REFS_TARBALL))

PC101 = Rule(
    id="PC101", name="release-only-file", severity=Severity.MEDIUM,
    summary="File only in the release that no known generator explains",
    doc=_doc("Flags files present in the release archive but not at the source tag, that no build-system "
             "knowledge (autotools, gettext, gnulib, docs, Python sdist, version stamps, project config) "
             "recognises as generated. Code and build scripts are medium, other files low; a source file "
             "that the release's own build compiles (named in a `_SOURCES` list of a `Makefile.am`/"
             "`Makefile.in`, in `meson.build` or `CMakeLists.txt` of the release) is high. Build scripts are "
             "also analysed for risky constructs (PC105).",
             "Nobody reviewed such a file: it never passed through the repository. event-stream's "
             "`flatmap-stream` payload and many tarball backdoors arrived this way.",
             "`src/extra_hook.c` in `foo-1.2.tar.gz`, absent from tag `v1.2`.", _REFS_TARBALL))

PC102 = Rule(
    id="PC102", name="release-file-modified", severity=Severity.HIGH,
    summary="File differs between the release and the source tag, and the change is not a release edit",
    doc=_doc("Flags files present in both the release and the source whose contents differ, when the "
             "change is neither a recognised release edit (version stamp, date) nor a regeneration of a "
             "recognised generated file. The finding carries a unified diff excerpt and names the first "
             "changed lines. Source code and build scripts are high, documentation low.",
             "The vsftpd 2.3.4 backdoor was a two-file change (`str.c`, `sysdeputil.c`) in the tarball on "
             "the master site; the repository was clean. Reviewers read the repository.",
             "`str.c` in `vsftpd-2.3.4.tar.gz` checks for `:)` in the user name; the tag does not.",
             _REFS_TARBALL))

PC103 = Rule(
    id="PC103", name="generated-file-content-mismatch", severity=Severity.CRITICAL,
    summary="File recognised as generated whose content does not match its generator",
    doc=_doc("Flags release files whose name says they come from a known generator but whose content does "
             "not: a vendored m4 macro file whose name and `serial` match a published version (gnulib, "
             "autoconf-archive, automake, libtool, gettext, pkg-config, ...) but whose bytes differ even "
             "after comments are normalised away (critical when the changed lines carry a risky construct, high "
             "otherwise: a file claiming a published serial must be that copy; info when every differing hunk "
             "is a known distribution or platform flavour of that file, data/flavours.toml, or the lines of "
             "another published copy); a build-aux script carrying a "
             "published copy's exact version line with different code (at least high; a build no published "
             "copy is, such as `2.4.7-dirty` or a distribution revision no suite serves, is low, high when its "
             "changed lines carry a risky construct); a file where gnulib-tool puts a gnulib file (`lib/`, "
             "the tests base, `GNUmakefile`, `maint.mk`, by the tree's `bootstrap.conf`/`gnulib-cache.m4`) "
             "whose bytes, and for a library C file whose code, no version of that file in gnulib's git "
             "history ever had (data/history/gnulib.zip: high for code the build compiles or runs, critical "
             "with risk indicators, medium when the tag carries a local `.diff` for it, low for documentation); "
             "or a file named like a generator's output "
             "(`configure`, `Makefile.in`, `config.guess`) that lacks the generator's signature (high).",
             "Generated files are waved through by path allow-lists, so they are where an attacker hides "
             "code: the xz 5.6.x trigger was a modified `m4/build-to-host.m4` shipped only in the tarball.",
             "`m4/build-to-host.m4` serial 3 whose content is not gnulib's serial 3.", _REFS_XZ))

PC104 = Rule(
    id="PC104", name="m4-serial-inflation", severity=Severity.HIGH,
    summary="Vendored m4 macro file declares a serial higher than any published version",
    doc=_doc("Compares the `# serial N` line of every vendored m4 file with the highest serial of that file "
             "in the shipped m4 provenance database, and flags a higher one. The evidence names the newest "
             "published copy and diffs against it.",
             "`aclocal` keeps a project's copy of a macro when its serial is not lower than the system's, so "
             "an inflated serial stops `autoreconf` from replacing a tampered macro. The xz attacker set "
             "`build-to-host.m4` to serial 30 when gnulib's was 3.",
             "`m4/build-to-host.m4` with `# serial 30`; the newest published is serial 5.", _REFS_XZ))

PC105 = Rule(
    id="PC105", name="build-script-risk", severity=Severity.HIGH,
    summary="Unexplained or modified build script contains constructs used to hide payloads",
    doc=_doc("Analyses every build file in the release that is not identical to the source (`configure`, "
             "`*.m4`, `Makefile.in`/`.am`, `CMakeLists.txt`, `meson.build`, shell scripts) for: a grep of "
             "the whole source tree by content, `tr` with a character-swapping map, `eval` of an assembled "
             "pipeline, `head -c`/`tail -c`/`dd skip=` byte slicing, decompressors piped into a shell, "
             "reads of compressed test data, `AC_CONFIG_COMMANDS` that evaluate computed content, and "
             "distro-build gating. Findings name the lines. One strong indicator is high, combinations are "
             "critical; for files recognised as generated only high and critical results are reported.",
             "These are the mechanics of the xz trigger: `grep -aErls \"#{4}[[:alnum:]]{5}#{4}$\" "
             "$srcdir/` found the disguised test file, `tr \"\\t \\-_\" \" \\t_\\-\"` undid its corruption, "
             "and `eval $gl_path_map | xz -d` ran the result from config.status.",
             "`m4/build-to-host.m4` lines 64-80: grep-source-tree, tr-substitution, eval-pipeline, "
             "config-commands-exec.", _REFS_XZ))

PC106 = Rule(
    id="PC106", name="source-only-files", severity=Severity.INFO,
    summary="Files at the source tag that the release leaves out",
    doc=_doc("Lists, in one finding per release, the files at the source tag that are not in the release, "
             "marking those excluded by `export-ignore` in `.gitattributes` and repository housekeeping "
             "files releases normally strip (CI configs, `.gitignore`, ...).",
             "Usually harmless; listed so that a reviewer can see what the release does not contain "
             "(a dropped test, a missing licence file) and so that `export-ignore` tricks are visible.",
             "`.github/workflows/ci.yml` (git-only), `tests/fuzz/` (export-ignore).", _REFS_TARBALL))

PC107 = Rule(
    id="PC107", name="release-edit", severity=Severity.INFO,
    summary="File modified at release time in a recognised way (version stamp, date)",
    doc=_doc("Reports files that differ from the source only on lines that carry a version, date, "
             "revision or placeholder (`@VERSION@`, `[unreleased]`), with the diff as evidence.",
             "Release scripts legitimately stamp versions and dates; reporting them at info level keeps "
             "the change visible without asking for review.",
             "`include/curl/curlver.h`: `LIBCURL_TIMESTAMP \"[unreleased]\"` became `\"2023-02-20\"`.",
             _REFS_TARBALL))

PC108 = Rule(
    id="PC108", name="unverified-m4", severity=Severity.INFO, confidence=Confidence.MEDIUM,
    summary="Vendored m4 macro file that the provenance database does not know",
    doc=_doc("Reports vendored m4 files in the release (not identical to the source) whose name is unknown "
             "to the m4 provenance database, or whose serial is not among the published versions (an older "
             "copy). Their content is judged by the build-script risk analysis (PC105) instead.",
             "Provenance could not be established, so the file is only as trustworthy as its content looks; "
             "extending the database (tools/harvest_m4.py) turns these into exact matches.",
             "`m4/ax_check_foo.m4` serial 2, not in autoconf-archive.", _REFS_XZ))

PC109 = Rule(
    id="PC109", name="release-source-unmatched", severity=Severity.MEDIUM,
    summary="The release could not be compared with its tag: no tag found, the trees barely overlap, or "
            "it was made from another commit",
    doc=_doc("Flags a release whose source could not be resolved (no tag spelling matched the release "
             "version), whose files mostly do not appear in the source, which usually means the wrong "
             "tag or repository, or whose files match a commit next to the tag (`TAG~1`, a merge's "
             "`TAG^2`) far better than the tag: it lacks the tag's changes to the files listed, and is "
             "compared with that commit.",
             "A comparison against the wrong source explains nothing; saying so is better than a report full "
             "of unexplained files or a silent pass.",
             "`foo-2.0.tar.gz` vs a repository whose tags stop at `v1.9`.", _REFS_TARBALL))

PC110 = Rule(
    id="PC110", name="reproduction-differs", severity=Severity.HIGH,
    summary="Generated file differs from its regeneration from trusted inputs: lines no input produced",
    doc=_doc("Rebuilds the release's autotools outputs (`aclocal.m4`, `configure`, `config.h.in`, every "
             "`Makefile.in`, `.gmo` catalogs) in a sandbox, with the exact generator versions the files name, "
             "from trusted inputs only: the files of the tag and release m4/build-aux files proven identical to "
             "published copies (a release m4 file whose name is published but whose content is not is replaced by "
             "the closest published copy). Each result is compared byte for byte with the release; hunks explained "
             "by a version stamp, a documented toolchain difference or, in `configure`, another published autoconf's "
             "code at that spot (the same inputs run through every other autoconf version Debian serves; never lines "
             "with a risk indicator) are listed but not raised. The remaining "
             "lines are lines no input produced: high, critical when they carry a risky construct (PC105's "
             "indicators). When automake of the release's version cannot be had, autoconf and autoheader still run "
             "over the release's `aclocal.m4`, checked piece by piece against published macros (a partial chain; "
             "the `Makefile.in` stay not reproducible). When regeneration is impossible (no sandbox, no toolchain of "
             "that version, a generator failed) one informational finding names the files and the reason (medium "
             "when the sandbox had to stop a generator).",
             "Recognising a generated file says nothing about its lines, and attackers read pattern rules. "
             "Reproduction catches the whole class: whatever the injected command looks like (base64 pieces, "
             "`printf` escapes, variables), it is a line no generator wrote. The xz 5.6.x trigger shows up as the "
             "68 lines of `configure` that gettext's real `build-to-host.m4` does not produce.",
             "`configure` line 16866 `gl_am_configmake=`grep -aErls ...`` not produced by autoconf 2.72 from the "
             "tag and the published `build-to-host.m4` serial 5.", _REFS_XZ))


_REFS_PKG = ("- ultralytics 8.3.41 (PyPI, 2024-12): a miner loader in `ultralytics/utils/downloads.py`, built by a "
             "poisoned release workflow\n- @solana/web3.js 1.95.6/1.95.7 (npm, 2024-12): key exfiltration in the built "
             "bundles\n- nx 21.5.0 (npm, 2025-08): a `postinstall` running a new `telemetry.js`\n- @ctrl/tinycolor "
             "4.1.1 / Shai-Hulud (npm, 2025-09): a `bundle.js` and a `postinstall`\n- ctx 0.2.2 (PyPI, 2022), "
             "ua-parser-js 0.7.29 (npm, 2021)\n")

PC120 = Rule(
    id="PC120", name="install-time-code-changed", severity=Severity.CRITICAL,
    summary="Code that runs when the package is installed or built differs from the tag, or is new",
    doc=_doc("Flags, in Python sdists and wheels and npm tarballs, every piece of code the installer runs "
             "that is not identical to the tag: `setup.py` and the modules it imports, in-tree build "
             "backends and build hooks (hatch, pdm, poetry, `backend-path`), `.pth` files (run at every "
             "interpreter start), npm lifecycle scripts (`preinstall`, `install`, `postinstall`, `prepare`, "
             "...) added or changed in `package.json`, the files those scripts name, and a `binding.gyp` "
             "(npm runs `node-gyp rebuild` for it). A `setup.py` only in the sdist that is purely "
             "declarative (literals and one `setup()` call, as poetry writes it) is recognised instead.",
             "Install hooks run with the installing user's rights before anyone imports the package: nx "
             "21.5.0 and the Shai-Hulud worm needed nothing else.",
             "`package.json` of `nx-21.5.0.tgz` adds `\"postinstall\": \"node telemetry.js\"`; "
             "`telemetry.js` is not in the tag.", _REFS_PKG))

PC121 = Rule(
    id="PC121", name="package-manifest-change", severity=Severity.HIGH,
    summary="The package manifest declares something the tag's manifest does not",
    doc=_doc("Compares `package.json`, `pyproject.toml`, `setup.cfg` and a wheel's `entry_points.txt` as "
             "data, key by key. Each changed key is graded by the ecosystem knowledge "
             "(`[[ecosystem.manifest]]` in `data/buildsystems/*.toml`): new or changed dependencies, `bin` "
             "entries, `main`/`exports`, console scripts and package layout are high; build hooks critical "
             "(reported as PC120 when they run at install); version fields info; anything else low. The "
             "evidence lists every changed key with its old and new value.",
             "A new dependency or entry point changes what runs on the user's machine without changing "
             "one line of reviewed code (event-stream gained `flatmap-stream` this way).",
             "`package.json` of the release adds `dependencies.flatmap-stream`.", _REFS_PKG))

PC122 = Rule(
    id="PC122", name="version-file-content", severity=Severity.CRITICAL,
    summary="A version file written at build time holds code, or another version than the release's",
    doc=_doc("Version files written by setuptools-scm, hatch-vcs, versioneer, pdm or flit (`_version.py`, "
             "the configured `write_to`/`version-file`/`versionfile_source`) are expected only in the "
             "artifact. They are parsed, never run: they may hold only docstrings, imports from typing, "
             "constant assignments (and versioneer's `get_versions()` returning its JSON), and every "
             "version string in them must be the release's version. Code is critical, another version high.",
             "A generated file is the natural place to hide code: it is absent from git by design, so a "
             "comparison with the tag cannot show it, and it is imported with the package.",
             "`pkg/_version.py` with `__version__ = '1.2.3'` followed by `import os; os.system(...)`.",
             _REFS_PKG))

PC123 = Rule(
    id="PC123", name="wheel-record-mismatch", severity=Severity.HIGH,
    summary="A wheel's RECORD does not describe the files the wheel contains",
    doc=_doc("Checks `*.dist-info/RECORD` against the wheel: every file must be listed with its sha256 and "
             "size, and every listed file must be present. A mismatch means the wheel was changed after it "
             "was built (or RECORD was written to hide a file).",
             "Installers trust RECORD to uninstall and some tools to verify; a file outside it was added by "
             "something other than the build backend.",
             "`pkg/__init__.py` hashes to `sha256=Zx..` but RECORD says `sha256=Ab..`.", _REFS_PKG))

PC124 = Rule(
    id="PC124", name="built-unverified", severity=Severity.LOW,
    summary="Build output (dist/, lib/, a bundle) that cannot be compared with the source, with its facts",
    doc=_doc("npm build outputs (`dist/`, `lib/`, minified bundles, a `.js` built from `.ts`) are "
             "legitimately absent from git. They get the verdict `built-unverified` and one finding with "
             "what matters: size, which entry points load them, whether they contain code whose "
             "identifiers and strings appear in no source file, the capabilities of that code (processes, "
             "dynamic code, network, credentials, decoding) and obfuscation signals. Low when the novel code "
             "does nothing notable; medium with one capability or obfuscation; critical when two "
             "capabilities (or a new endpoint and a capability) meet in code absent from every source file.",
             "Bundles are large, unread and expected to differ: the @solana/web3.js 1.95.6 key stealer lived "
             "only in the built `lib/` files.",
             "`lib/index.cjs.js` (412 kB, loaded by `main`): 3 novel chunks use fetch and secretKey.",
             _REFS_PKG))

PC125 = Rule(
    id="PC125", name="added-code-capability", severity=Severity.HIGH,
    summary="Code only in the artifact can start processes, run built code, reach the network or read secrets",
    doc=_doc("On the lines an artifact adds to a Python or JavaScript file (a modified module, a file only in "
             "the artifact), looks for capabilities (`data/buildsystems/capabilities.toml`: processes, "
             "dynamic code, network, credentials and environment, decoding) and endpoints (URLs, IP "
             "addresses) that appear in no source file. One capability is high; two within a few lines, or a "
             "new endpoint with any capability, critical. The lines are in the evidence.",
             "The changed lines of ultralytics 8.3.41 started a downloaded miner with `subprocess.Popen`; "
             "ctx 0.2.2 sent `os.environ` to a new host. What the added code can do separates a stray "
             "edit from an attack.",
             "`ultralytics/utils/downloads.py` adds `subprocess.Popen([path, '-o', 'pool.example:8080'])`.",
             _REFS_PKG))

PC126 = Rule(
    id="PC126", name="compiled-extension", severity=Severity.INFO,
    summary="A compiled extension or native binary in a package, with its facts",
    doc=_doc("Reports native code in wheels and npm packages (`.so`, `.pyd`, `.dylib`, `.node`, `.wasm`): "
             "format (ELF class, machine, needed libraries, `PyInit_` symbols; PE; Mach-O), which modules "
             "import it, and whether the source holds code it could be built from (C/C++/Cython/Rust files "
             "of that name). Info when the source has candidates, medium when it has none.",
             "A binary cannot be compared with the tag; saying what it is and who loads it keeps it from "
             "being an opaque pass.",
             "`markupsafe/_speedups.cpython-312-x86_64-linux-gnu.so`: ELF64 x86-64, PyInit__speedups, "
             "from `src/markupsafe/_speedups.c`.", _REFS_PKG))

PC127 = Rule(
    id="PC127", name="provenance-source-mismatch", severity=Severity.CRITICAL,
    summary="Provenance does not tie the artifact to the compared tag",
    doc=_doc("With `--provenance FILE` (a PEP 740 provenance object or attestation, an npm attestations "
             "document or a Sigstore bundle), the signature is verified offline through the attest plugin's "
             "hook and the attested subject, repository and commit are tied to this comparison: the subject "
             "digest must be the artifact's, the commit the tag's commit, the repository the package's. "
             "Any mismatch or failed verification is critical; a verified, matching provenance is reported "
             "at info level with the signer.",
             "Provenance only helps when it is checked against what was compared: a valid attestation of "
             "another commit proves that the artifact was not built from the reviewed tag.",
             "npm provenance names commit `4f1c...`, tag `v1.2.3` is `9b0e...`.", _REFS_PKG))

PC128 = Rule(
    id="PC128", name="provenance-history-change", severity=Severity.HIGH,
    summary="No provenance where earlier releases had it, or a new signer or workflow",
    doc=_doc("With a provenance history file (`release.provenance-history`, JSON: project -> version -> "
             "signer identity, issuer, repository, workflow), flags a release without provenance from a project "
             "whose earlier releases had it, and provenance from a signer identity or workflow none of the "
             "earlier releases used. `release.record-provenance=true` adds verified, unchanged releases.",
             "Compromised publishing credentials bypass the trusted publisher: the artifact then arrives "
             "without provenance, or from another workflow (the ultralytics 8.3.41/42 uploads).",
             "`pkg 2.0.1` has no provenance; 2.0.0 and 1.9.0 were attested by `release.yml`.", _REFS_PKG))

PC129 = Rule(
    id="PC129", name="provenance-verified", severity=Severity.INFO,
    summary="Provenance verified and tied to the compared tag",
    doc=_doc("Records a provenance whose signature verified offline and whose subject, repository and "
             "commit match the artifact and the compared tag; the signer and workflow are in the evidence.",
             "A clean result is evidence, not silence.",
             "`attrs-24.2.0.tar.gz`: PEP 740 publish attestation by `python-attrs/attrs` `pypi-package.yml`, "
             "commit of tag `24.2.0`.", _REFS_PKG))

RULES = [PC100, PC101, PC102, PC103, PC104, PC105, PC106, PC107, PC108, PC109, PC110,
         PC120, PC121, PC122, PC123, PC124, PC125, PC126, PC127, PC128, PC129]
