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
             "otherwise: a file claiming a published serial must be that copy); a build-aux script carrying a "
             "published copy's exact version line with different code (at least high); or a file named like a "
             "generator's output "
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
    summary="The release could not be compared: no source tag found, or the trees barely overlap",
    doc=_doc("Flags a release whose source could not be resolved (no tag spelling matched the release "
             "version) or whose files mostly do not appear in the source, which usually means the wrong "
             "tag or repository.",
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
             "by a version stamp or a documented toolchain difference are listed but not raised. The remaining "
             "lines are lines no input produced: high, critical when they carry a risky construct (PC105's "
             "indicators). When regeneration is impossible (no sandbox, no toolchain of that version, a generator "
             "failed) one informational finding names the files and the reason (medium when the sandbox had to "
             "stop a generator).",
             "Recognising a generated file says nothing about its lines, and attackers read pattern rules. "
             "Reproduction catches the whole class: whatever the injected command looks like (base64 pieces, "
             "`printf` escapes, variables), it is a line no generator wrote. The xz 5.6.x trigger shows up as the "
             "68 lines of `configure` that gettext's real `build-to-host.m4` does not produce.",
             "`configure` line 16866 `gl_am_configmake=`grep -aErls ...`` not produced by autoconf 2.72 from the "
             "tag and the published `build-to-host.m4` serial 5.", _REFS_XZ))

RULES = [PC100, PC101, PC102, PC103, PC104, PC105, PC106, PC107, PC108, PC109, PC110]
