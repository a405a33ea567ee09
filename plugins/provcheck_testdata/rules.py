"""The PC2xx rules: hidden payloads in test data, and executables where data belongs."""

from __future__ import annotations

from provcheck import Confidence, Rule, Severity, rule_doc

_XZ = ("- CVE-2024-3094 (xz-utils 5.6.0/5.6.1 backdoor): the payload lived in "
       "`tests/files/bad-3-corrupt_lzma2.xz` and `tests/files/good-large_compressed.lzma`\n"
       "- Andres Freund, \"backdoor in upstream xz/liblzma leading to ssh server compromise\", "
       "oss-security, 2024-03-29\n")


def _doc(what: str, why: str, example: str, refs: str = _XZ) -> str:
    return rule_doc(what, why, example, refs)


PC201 = Rule(
    id="PC201", name="test-data-decodes-to-executable", severity=Severity.CRITICAL,
    summary="A binary file in a source tree decodes to an executable, an object file or a script",
    doc=_doc(
        "Decodes every binary file of a source tree that is a compressed stream or an archive (xz, "
        "lzma, gzip, bzip2, zstd, lz4, lzip, zip, tar; nested, within a byte and time budget), text "
        "files that are wholly uuencoded, base64 or hex, and data after a PNG, ZIP, PDF or gzip end, and "
        "classifies what comes out: ELF, COFF, PE or Mach-O objects, shell/awk/perl/python scripts. "
        "Critical when the file is also unreferenced by any test, named as corrupt, or read by a build "
        "script; low when a test names it (an archive reader's fixture may well hold a program). The "
        "evidence has the decode chain, the decoded sha256 and a preview of a script's first lines.",
        "Test data is reviewed as opaque bytes. A compiled object or a script hidden inside a compressed "
        "test file is exactly how the xz backdoor carried its payload through code review.",
        "`tests/files/good-large_compressed.lzma` decodes (lzma) to an x86-64 ELF relocatable object "
        "that no test opens.")
)

PC202 = Rule(
    id="PC202", name="corrupt-test-file-is-valid", severity=Severity.HIGH,
    summary="A test file named bad/corrupt/invalid decodes cleanly",
    doc=_doc(
        "Flags files whose name or directory says they are broken (bad, corrupt, invalid, broken, "
        "damaged, truncated, malformed, garbage, bogus) but which decode completely, every stream "
        "passing its integrity check, with no trailing bytes. Only formats with integrity checks "
        "(xz, gzip, bzip2, zstd, lzip, zip) count; an unchecked lzma stream decoding is not evidence.",
        "A file a test suite expects to fail has no reason to be a valid stream. Calling a payload "
        "\"corrupt\" keeps reviewers and tools from looking inside.",
        "`tests/files/bad-3-corrupt_lzma2.xz` is a valid three-stream xz file.")
)

PC203 = Rule(
    id="PC203", name="valid-after-substitution", severity=Severity.CRITICAL,
    summary="A binary file becomes a valid compressed stream after a byte substitution",
    doc=_doc(
        "Tries the substitution tables of `tr` commands found in the tree's build scripts (and in "
        "scripts decoded from test data), and every swap of two bytes from a small set (whitespace, "
        "`-`, `_`, `.`, `/`, quotes, NUL, 0xFF), on binary files that do not decode as they are. A "
        "file that then decodes completely, with a passing integrity check, is reported with the "
        "table, where it came from, and what the decoded content is.",
        "No honest test file needs a byte substitution to become valid. A stream scrambled by a simple "
        "map hides its content from every decoder and scanner while staying one `tr` away from use.",
        "`tests/files/bad-3-corrupt_lzma2.xz` becomes a valid xz stream after "
        "`tr \"\\t \\-_\" \" \\t_\\-\"` and decodes to a shell script.")
)

PC204 = Rule(
    id="PC204", name="unreferenced-opaque-test-blob", severity=Severity.MEDIUM,
    summary="Opaque test data (high entropy, no known format) that no test references",
    doc=_doc(
        "Flags binary files under test directories whose content, after every decoding step we can "
        "do, is still opaque (high entropy and no known format, or a structured file with large "
        "high-entropy regions) and that no test script, test manifest or build file names, directly "
        "or through a glob. Medium on its own; critical when a build script or a script decoded from "
        "test data selects the file (see PC205).",
        "Encrypted or packed data in a test directory that nothing uses is cargo only an attacker's "
        "build step would read. Honest opaque fixtures (random data for a codec's tests) are named by "
        "the tests that use them.",
        "`tests/files/good-large_compressed.lzma` decodes to 1 MB of mostly random bytes and is named by "
        "no test.")
)

PC205 = Rule(
    id="PC205", name="build-script-reads-test-data", severity=Severity.CRITICAL,
    summary="A build script greps, decodes or executes test data",
    doc=_doc(
        "Looks at build scripts outside test directories (configure, *.m4, CMake, meson, Makefiles, "
        "build-aux) and at scripts decoded from test data. Reports a recursive content `grep` over the "
        "tree (running the real `grep` with the script's own pattern over the tree's files to show what "
        "it selects), and pipelines that name binary test files next to decoders (`xz -d`, `head -c`, "
        "`tr`) or shell sinks (`| sh`, `eval`). With a source tree given, says whether the script "
        "exists there.",
        "Builds do not need test data. A configure macro that finds a file by its content and pipes it "
        "through `tr` and `xz -d` into a shell is the xz backdoor's trigger.",
        "`m4/build-to-host.m4` runs `grep -aErls \"#{4}[[:alnum:]]{5}#{4}$\" $srcdir/`, which selects "
        "`tests/files/bad-3-corrupt_lzma2.xz`, and evals `tr ... | xz -d`.")
)

PC206 = Rule(
    id="PC206", name="trailing-data-after-stream", severity=Severity.MEDIUM,
    summary="Bytes after the end of a valid compressed stream",
    doc=_doc(
        "Flags compressed files whose streams decode cleanly but are followed by bytes that are "
        "neither padding nor another stream, unless the name says the file is bad. The trailing "
        "bytes are classified (entropy, format) in the evidence.",
        "Decoders stop at the end of the stream and ignore what follows, so appended data rides along "
        "unseen.",
        "`tests/data/sample.gz` with 40 KiB of random bytes after the gzip trailer.",
        "- RFC 1952 (gzip), .xz file format specification section 2.1.1.4 (stream padding)\n" + _XZ)
)

PC207 = Rule(
    id="PC207", name="good-test-file-fails", severity=Severity.LOW, confidence=Confidence.MEDIUM,
    summary="A test file named good/valid does not decode",
    doc=_doc(
        "Flags files named good/valid/ok that carry a compressed format (by magic or extension) but do "
        "not decode completely with our decoders.",
        "Weak evidence on its own (a newer codec feature may not be supported here), but a \"good\" "
        "file that is not what it says deserves a look, and it ranks other findings on the same file.",
        "`tests/files/good-1-lzma2-6.xz` that fails its CRC.")
)

PC208 = Rule(
    id="PC208", name="extension-hides-executable", severity=Severity.HIGH,
    summary="A file whose name claims data holds an executable or object file",
    doc=_doc(
        "Flags ELF, PE, COFF and Mach-O content in files whose extension claims data or text "
        "(`.png`, `.txt`, `.dat`, `.gz`, `.mo`, ...), in source trees, packages and images.",
        "A program that pretends to be an image or a translation file slips past reviews and "
        "allow-lists that go by name.",
        "`usr/share/locale/de/LC_MESSAGES/app.mo` that is an ELF shared object.",
        "- MITRE ATT&CK T1036.008, Masquerade File Type\n" + _XZ)
)

PC209 = Rule(
    id="PC209", name="executable-in-data-directory", severity=Severity.HIGH,
    summary="Executable or shared object under /usr/share, documentation or locale directories",
    doc=_doc(
        "In images and packages, flags ELF/PE/Mach-O files under `usr/share` (high under "
        "`usr/share/doc`, `man`, `info`, `locale`, `i18n`; medium elsewhere in `usr/share`).",
        "Architecture-independent data directories hold no machine code (Filesystem Hierarchy "
        "Standard, Debian Policy 9.1). A binary there is misplaced at best and a dropped payload at "
        "worst.",
        "`usr/share/doc/libfoo/examples/helper` is an x86-64 ELF executable.",
        "- Filesystem Hierarchy Standard 3.0, section 4.11 (/usr/share)\n- Debian Policy Manual, 9.1\n")
)

PC210 = Rule(
    id="PC210", name="data-appended-to-elf", severity=Severity.HIGH,
    summary="High-entropy or compressed data appended after the end of an ELF file",
    doc=_doc(
        "Computes where an ELF file's headers, segments and sections end and flags files with more "
        "than 512 bytes after that point whose content is compressed, an archive, an executable or "
        "high-entropy. Kernel-module signatures are recognised and skipped.",
        "Loaders ignore appended bytes, so an ELF file can carry an encrypted or packed payload that "
        "every ELF tool overlooks.",
        "`usr/lib/x86_64-linux-gnu/libfoo.so.1` with 200 KiB of xz data after its section headers.",
        "- ELF specification (System V ABI), file format\n")
)

PC211 = Rule(
    id="PC211", name="release-changes-test-data", severity=Severity.HIGH,
    summary="The release differs from its source in binary test data or in the scripts that read it",
    doc=_doc(
        "With a source tree given (role \"source\"), compares binary test files and the test scripts "
        "that name binary test files: a release that changes them or adds binary test data the source "
        "lacks is reported (high for data, medium for scripts), with both hashes.",
        "Release tarballs copy test data verbatim; a difference means the tarball holds bytes the "
        "source repository's reviewers never saw.",
        "`xz-5.6.1/tests/files/good-large_compressed.lzma` differs from the file at tag v5.6.1.")
)

PC212 = Rule(
    id="PC212", name="test-data-pipeline-reaches-sink", severity=Severity.CRITICAL,
    summary="A script decodes a test file and hands the result to a shell, the toolchain or the loader",
    doc=_doc(
        "Follows every reader of a test file anywhere in the tree (Makefiles and `Makefile.am`, shell "
        "scripts, `meson.build`, `CMakeLists.txt`, Python, Perl and Node scripts, and `python3 -c`, "
        "`perl -e`, `awk` one-liners inside them), extracts the commands between reading the file and a "
        "sink, and runs them on the file's bytes in an in-process emulator (POSIX `tr`, `head`/`tail`, "
        "`dd`, `cut -b`, `rev`, `base64`/`base32`, `xxd -r`, `uudecode`, `od`, a `sed` subset, every "
        "decompressor, Python in a safe interpreter, awk in an awk interpreter, XOR and rot-N as Perl "
        "and Node programs state them, `head -c` loops, intermediate files); a script a pipeline hands "
        "to a shell is emulated in turn as the next stage. "
        "Sinks are `sh`/`bash`/`eval`/`source`, a compiler or linker, executing a written file, "
        "`LD_PRELOAD`, and output files the build compiles or links (`.o`, `.a`, `.so`, `.c`, or a name "
        "in `_LIBADD`/`objects:`). Critical when the emulated output is an executable, object, script, "
        "or text a shell runs or a compiler compiles; high for opaque/binary output; medium when the "
        "emulation stopped before a shell, an executed file or `LD_PRELOAD` (low before a build input), "
        "the evidence saying at which step and why. The evidence holds "
        "the reader and line, every step with its input and output size, the sink, and the output's "
        "decode tree with a preview. Decoding that feeds a test program's standard input, or is "
        "compared with an expected file, is not a sink.",
        "A payload hidden in test data is harmless until something decodes it into the build. Scripts "
        "that slice, substitute, XOR or decompress a test file and hand the result to a shell or a "
        "linker are that step; emulating them shows exactly what reaches the build, whatever idiom the "
        "script uses.",
        "`tests/Makefile.am` runs `base64 -d $(srcdir)/fixtures/sample.txt > libhelper.o`, which "
        "decodes to an x86-64 ELF relocatable object that the build links. In the xz 5.6.1 git tree, "
        "the script decoded from `bad-3-corrupt_lzma2.xz` cuts stage 2 out of "
        "`good-large_compressed.lzma`, and stage 2 decrypts (awk RC4) and links an 88 664-byte object "
        "from the same file.")
)

PC213 = Rule(
    id="PC213", name="data-appended-to-pe-or-macho", severity=Severity.HIGH,
    summary="Compressed, archived, executable or high-entropy data after the end of a PE or Mach-O file",
    doc=_doc(
        "Reads Windows (PE) and macOS (Mach-O, thin or fat) executables with LIEF, in a worker "
        "process, and computes where their headers, sections or segments, Authenticode certificate "
        "table and code signature end (for a fat file: its last slice). Flags files with more than "
        "512 bytes after that point whose content is compressed, an archive, an executable or "
        "high-entropy. The finding carries the file's summary: machine, imports, signatures.",
        "The Windows and macOS loaders ignore such an overlay, so a test file or a shipped launcher "
        "can carry a payload that no tool reading the executable sees. Installers append archives "
        "on purpose; in test data or a library that is rare.",
        "`tests/files/cli-64.exe` with 40 KiB of zip data after its last section.",
        "- Microsoft PE/COFF specification, the attribute certificate table\n"
        "- Apple Mach-O file format reference (fat headers, LC_CODE_SIGNATURE)\n")
)

RULES = (PC201, PC202, PC203, PC204, PC205, PC206, PC207, PC208, PC209, PC210, PC211, PC212, PC213)
