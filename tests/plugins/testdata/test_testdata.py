"""provcheck_testdata on faithful xz-style fixtures, honest corpora, images and hostile input."""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import random
import zipfile

import pytest

import provcheck_testdata
from provcheck import Severity
from provcheck.testing import File



def _release(honest, payload, m4=None, prefix="xz-5.6.1/"):
    files = {prefix + k: v for k, v in honest.items()}
    files.update({prefix + k: v for k, v in payload.items()})
    if m4:
        files[prefix + "m4/build-to-host.m4"] = m4
    return files


def opts(**values):
    """Plugin options under both names: the entry-point name the CLI uses ("testdata") and the
    module name ``checker.add_plugin`` registers the module under."""
    return {"testdata": values, "provcheck_testdata": values}


def by_path(result, rule):
    return {f.location.path: f for f in result.by_rule(rule)}


# -- the xz-style payload --------------------------------------------------------------------------

def test_tr_scrambled_xz_decodes_to_script(checker, honest_files, xz_payload_files, build_to_host_m4, stage1_script):
    checker.add_plugin(provcheck_testdata)
    tarball = checker.tarball(_release(honest_files, xz_payload_files, build_to_host_m4), name="xz-5.6.1.tar.gz")
    result = checker.run(tarball, select=["PC2"])
    result.assert_no_errors()

    f = by_path(result, "PC203")["xz-5.6.1/tests/files/bad-3-corrupt_lzma2.xz"]
    assert f.severity == Severity.CRITICAL
    ev = f.evidence
    # how: the map, taken from the build script that holds it
    assert ev["substitution"]["format"] == "xz"
    assert ev["substitution"]["from"].startswith("xz-5.6.1/m4/build-to-host.m4:")
    # what: a shell script, with its hash
    decoded = ev["decoded"]["children"][0]
    expected = b"####Hello####\n" + stage1_script + b"####World####\n"
    assert decoded["kind"] == "script" and decoded["format"] == "shell"
    assert decoded["sha256"] == hashlib.sha256(expected).hexdigest()
    assert "shell script" in f.message and "build-to-host.m4" in f.message
    assert ev["decode"]["ok"] is False          # as shipped, no decoder accepts it


def test_substitution_found_without_any_build_script(checker, honest_files, xz_payload_files):
    """Git held the payload without the m4 trigger: the single-swap search still finds the map."""
    checker.add_plugin(provcheck_testdata)
    repo = checker.gitrepo(_release(honest_files, xz_payload_files, prefix=""), tags="v5.6.1")
    result = checker.run(f"git:{repo}@v5.6.1", select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC203")
    assert f.location.path == "tests/files/bad-3-corrupt_lzma2.xz"
    assert f.evidence["substitution"]["from"] == "byte swap search"
    # xz's tr map trades two pairs at once: tab/space and dash/underscore
    assert f.evidence["substitution"]["table"] == "swap 0x09 <-> 0x20 and 0x2d <-> 0x5f"


def test_build_macro_greps_tree_and_pipes_to_shell(checker, honest_files, xz_payload_files, build_to_host_m4):
    checker.add_plugin(provcheck_testdata)
    tarball = checker.tarball(_release(honest_files, xz_payload_files, build_to_host_m4), name="xz-5.6.1.tar.gz")
    result = checker.run(tarball, select=["PC205"])
    result.assert_no_errors()
    found = by_path(result, "PC205")
    f = found["xz-5.6.1/m4/build-to-host.m4"]
    assert f.severity == Severity.CRITICAL
    # the real grep, run with the macro's own pattern, selects the scrambled file and nothing else
    assert f.evidence["matched_files"] == ["xz-5.6.1/tests/files/bad-3-corrupt_lzma2.xz"]
    grep = [s for s in f.evidence["signals"] if s["kind"] == "content-grep"][0]
    assert grep["pattern"] == "#{4}[[:alnum:]]{5}#{4}$"
    assert "bad-3-corrupt_lzma2.xz" in f.message


def test_encrypted_object_is_flagged_through_the_hidden_script(checker, honest_files, xz_payload_files, build_to_host_m4):
    """The RC4-encrypted object cannot be decrypted by us; what gives it away: it is opaque after
    decompression, no test names it, and the script hidden in the other file reads it."""
    checker.add_plugin(provcheck_testdata)
    tarball = checker.tarball(_release(honest_files, xz_payload_files, build_to_host_m4), name="xz-5.6.1.tar.gz")
    result = checker.run(tarball, select=["PC2"])
    f = by_path(result, "PC204")["xz-5.6.1/tests/files/good-large_compressed.lzma"]
    assert f.severity == Severity.CRITICAL
    assert f.evidence["decode"]["format"] == "lzma" and f.evidence["decode"]["ok"]
    assert f.evidence["decoded"]["children"][0]["kind"] == "opaque"
    reader = f.evidence["read_by"][0]
    assert reader["script"].startswith("xz-5.6.1/tests/files/bad-3-corrupt_lzma2.xz (decoded shell script)")
    hidden = by_path(result, "PC205")["xz-5.6.1/tests/files/bad-3-corrupt_lzma2.xz"]
    assert hidden.severity == Severity.CRITICAL
    assert hidden.evidence["names_test_files"][0]["name"] == "good-large_compressed.lzma"


def test_unencrypted_hidden_object_decodes_to_executable(checker, honest_files, object_file):
    """Behind compression only, the object itself is found, with its hash."""
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    files["tests/files/good-large_compressed.lzma"] = lzma.compress(object_file, format=lzma.FORMAT_ALONE)
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC201")
    assert f.severity == Severity.CRITICAL
    assert f.evidence["decoded"]["children"][0]["format"] == "elf"
    assert f.evidence["decoded"]["children"][0]["sha256"] == hashlib.sha256(object_file).hexdigest()
    assert "no test or build file names it" in f.message


def test_corrupt_named_file_that_is_valid(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    files["tests/files/bad-2-corrupt_check.xz"] = lzma.compress(b"plain text, perfectly valid\n" * 20)
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    result.assert_rules(PC202=1)
    f = result.only("PC202")
    assert f.location.path == "tests/files/bad-2-corrupt_check.xz"
    assert f.evidence["decode"] == {"format": "xz", "ok": True, "streams": 1, "trailing_bytes": 0,
                                    "error": None, "truncated": False}


def test_trailing_data_after_valid_stream(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    tail = random.Random(3).randbytes(40000)
    files["tests/files/sample.gz"] = gzip.compress(b"hello\n" * 100, mtime=0) + tail
    files["tests/test_gz.sh"] = "gzip -t files/sample.gz\n"
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC206")
    assert f.evidence["decode"]["trailing_bytes"] == len(tail)
    assert f.severity == Severity.HIGH


# -- honest corpora stay quiet ----------------------------------------------------------------------

def test_honest_corpus_is_quiet(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    result = checker.run(checker.tree(honest_files), select=["PC2"])
    result.assert_no_errors()
    assert result.findings == [], result._describe()


def test_honest_unreferenced_random_blob_is_medium_not_high(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    files["tests/files/stray.bin"] = random.Random(5).randbytes(20000)
    result = checker.run(checker.tree(files), select=["PC2"])
    f = result.only("PC204")
    assert f.severity == Severity.MEDIUM and f.location.path == "tests/files/stray.bin"
    assert f.evidence["entropy"]["mean"] > 7.5


def test_xz_fixture_with_clean_build_scripts_has_no_build_finding(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    files["m4/ax_check_compile_flag.m4"] = ("AC_DEFUN([AX_CHECK_COMPILE_FLAG],\n[AS_VAR_PUSHDEF([CACHEVAR],"
                                            "[ax_cv_check_$1])\n  AS_IF([test x = y], [eval $2])])\n")
    files["configure"] = "#!/bin/sh\nas_tr_sh=\"eval sed 'y%*+%pp%;s%[^_$as_cr_alnum]%_%g'\"\n" \
                         "ac_cv=`echo $x | tr 'a-z' 'A-Z'`\neval $ac_cv\n"
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    assert result.findings == [], result._describe()


# -- release vs source -------------------------------------------------------------------------------

def test_release_changes_test_data_and_adds_the_trigger(checker, honest_files, xz_payload_files, build_to_host_m4):
    checker.add_plugin(provcheck_testdata)
    git_files = _release(honest_files, xz_payload_files, prefix="")
    git_files["tests/files/good-large_compressed.lzma"] = lzma.compress(b"old content\n" * 99,
                                                                        format=lzma.FORMAT_ALONE)
    repo = checker.gitrepo(git_files, tags="v5.6.1")
    tarball = checker.tarball(_release(honest_files, xz_payload_files, build_to_host_m4), name="xz-5.6.1.tar.gz")
    result = checker.run(tarball, source=f"git:{repo}@v5.6.1", select=["PC2"])
    result.assert_no_errors()
    changed = by_path(result, "PC211")
    assert set(changed) == {"xz-5.6.1/tests/files/good-large_compressed.lzma"}
    assert changed["xz-5.6.1/tests/files/good-large_compressed.lzma"].evidence["in_source"] == "changed"
    m4 = by_path(result, "PC205")["xz-5.6.1/m4/build-to-host.m4"]
    assert m4.evidence["in_source"] == "absent"
    assert "not in the source tree" in m4.message
    # the source artifact itself is not reported a second time
    assert all(f.location.artifact == tarball.name for f in result.findings)


# -- images and packages -------------------------------------------------------------------------------

def test_image_executables_in_data_places(checker, object_file):
    checker.add_plugin(provcheck_testdata)
    with open("/bin/true", "rb") as f:
        true_elf = f.read()
    appended = true_elf + lzma.compress(random.Random(1).randbytes(30000))
    layer = {
        "usr/bin/true": File(true_elf, 0o755),
        "etc/os-release": "ID=debian\n",
        "usr/share/doc/tool/examples/helper": File(true_elf, 0o755),
        "usr/share/tool/plugin.so": true_elf,
        "usr/share/locale/de/LC_MESSAGES/tool.mo": object_file,
        "usr/lib/x86_64-linux-gnu/libgood.so.1": true_elf,
        "usr/lib/x86_64-linux-gnu/libbad.so.1": appended,
        "usr/share/doc/tool/changelog.gz": gzip.compress(b"tool (1.0) unstable\n", mtime=0),
    }
    result = checker.run(checker.oci([layer]), select=["PC2"])
    result.assert_no_errors()
    pc209 = by_path(result, "PC209")
    assert set(pc209) == {"usr/share/doc/tool/examples/helper", "usr/share/tool/plugin.so",
                          "usr/share/locale/de/LC_MESSAGES/tool.mo"}
    assert pc209["usr/share/doc/tool/examples/helper"].severity == Severity.HIGH
    assert pc209["usr/share/tool/plugin.so"].severity == Severity.MEDIUM
    pc208 = result.only("PC208")
    assert pc208.location.path == "usr/share/locale/de/LC_MESSAGES/tool.mo"
    assert "relocatable object" in pc208.message
    pc210 = result.only("PC210")
    assert pc210.location.path == "usr/lib/x86_64-linux-gnu/libbad.so.1"
    assert pc210.evidence["appended_format"] == "xz"
    assert pc210.evidence["appended_bytes"] == len(appended) - len(true_elf)
    # test-data rules do not run on root file systems
    assert not [f for f in result.findings if f.rule_id in ("PC201", "PC204")]


# -- hostile input ------------------------------------------------------------------------------------

def test_hostile_files_never_crash(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    rng = random.Random(11)
    files = dict(honest_files)
    bomb = gzip.compress(b"\0" * (64 << 20), mtime=0)   # 64 MiB of zeros in ~64 KiB
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("a.txt", "hello\n" * 100)
    zdata = bytearray(zbuf.getvalue())
    zdata[-20:-10] = b"\xff" * 10      # broken central directory
    files.update({
        "tests/files/bomb.gz": bomb,
        "tests/files/bad-zip.zip": bytes(zdata),
        "tests/files/garbage.xz": b"\xfd7zXZ\x00" + rng.randbytes(5000),
        "tests/files/garbage.zst": b"\x28\xb5\x2f\xfd" + rng.randbytes(3000),
        "tests/files/garbage.lz4": b"\x04\x22\x4d\x18" + rng.randbytes(3000),
        "tests/files/garbage.bz2": b"BZh9" + rng.randbytes(3000),
        "tests/files/garbage.lz": b"LZIP\x01" + rng.randbytes(3000),
        "tests/files/garbage.lzma": b"\x5d\x00\x00\x80\x00" + b"\xff" * 8 + rng.randbytes(3000),
        "tests/files/short.tar": b"\0" * 100 + b"ustar" + rng.randbytes(400),
        "tests/files/elf-bogus.o": b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x01\x00\x3e\x00" + b"\xff" * 200,
        "tests/test_all.sh": "for f in files/*; do check \"$f\"; done\n",
    })
    result = checker.run(checker.tree(files), select=["PC2"],
                         options=opts(**{"max-decode-bytes": "8MiB", "decode-seconds": 2}))
    result.assert_no_errors()
    assert not [f for f in result.findings if f.severity >= Severity.HIGH], result._describe()


def test_options_are_validated(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    result = checker.run(checker.tree(honest_files), options=opts(**{"no-such-option": 1}))
    assert any("unknown option" in e.message for e in result.errors)


# -- through the command line -------------------------------------------------------------------------

def test_cli_reports_xz_style_payload(checker, honest_files, xz_payload_files, build_to_host_m4):
    tarball = checker.tarball(_release(honest_files, xz_payload_files, build_to_host_m4), name="xz-5.6.1.tar.gz")
    cli = checker.run_cli("scan", tarball, "--select", "PC2", "--format", "json")
    assert cli.exit_code == 1, cli.stderr
    report = cli.json()
    rules = {(f["rule_id"], f["location"]["path"]) for f in report["findings"]}
    assert ("PC203", "xz-5.6.1/tests/files/bad-3-corrupt_lzma2.xz") in rules
    assert ("PC205", "xz-5.6.1/m4/build-to-host.m4") in rules
    assert ("PC204", "xz-5.6.1/tests/files/good-large_compressed.lzma") in rules
    assert report["summary"]["critical"] >= 3
    text = checker.run_cli("rule", "PC203")
    assert text.exit_code == 0 and "## What it does" in text.stdout


# -- real data: clean Debian packages and a clean release stay quiet ------------------------------------

@pytest.mark.slow
def test_real_rootfs_is_quiet_and_appended_payload_is_found(checker, sshd_rootfs):
    """A real Debian root file system (openssh-server's closure) raises nothing; the same tree
    with xz data appended to its real liblzma raises exactly that."""
    checker.add_plugin(provcheck_testdata)
    result = checker.run(sshd_rootfs, select=["PC2"])
    result.assert_no_errors()
    assert result.findings == [], result._describe()

    libs = sorted(sshd_rootfs.glob("usr/lib/x86_64-linux-gnu/liblzma.so.5.*"))
    assert libs, "liblzma is in sshd's closure on Debian 12"
    real = libs[0].read_bytes()
    payload = lzma.compress(random.Random(9).randbytes(50000))
    tree = checker.tree({"usr/bin/.keep": "", "etc/os-release": "ID=debian\n",
                         f"usr/lib/x86_64-linux-gnu/{libs[0].name}": File(real + payload, 0o644),
                         "usr/share/doc/liblzma5/copyright": "xz\n"})
    result = checker.run(tree, select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC210")
    assert f.evidence["elf_end"] == len(real) and f.evidence["appended_bytes"] == len(payload)


@pytest.mark.slow
def test_real_clean_release_has_no_high_findings(checker, xz_orig_tarball):
    """xz-utils 5.4.1 as Debian ships it: 136 binary test files, none high or critical.
    The low findings are the BCJ filter tests (xz streams of ELF programs, used by
    tests/test_files.sh) and a lzip file with trailing data our lzip rejects."""
    checker.add_plugin(provcheck_testdata)
    result = checker.run(xz_orig_tarball, select=["PC2"])
    result.assert_no_errors()
    assert not [f for f in result.findings if f.severity >= Severity.MEDIUM], result._describe()
    low = {(f.rule_id, f.location.path.split("/", 1)[1]) for f in result.findings}
    assert low == {("PC201", "tests/files/good-1-sparc-lzma2.xz"), ("PC201", "tests/files/good-1-x86-lzma2.xz"),
                   ("PC207", "tests/files/good-1-v1-trailing-2.lz")}
    for f in result.by_rule("PC201"):
        assert any(r["how"].startswith("glob:") for r in f.evidence["referenced_by"])


# -- who references a file: manifests, loops, directories -----------------------------------------------

def test_references_through_manifests_globs_and_directories(checker, honest_files):
    """Opaque fixtures named by Makefile.am EXTRA_DIST, CMake add_test, meson test(), a shell loop
    over a glob and a test walking a directory stay quiet; the one nothing names is reported."""
    checker.add_plugin(provcheck_testdata)
    rng = random.Random(21)
    files = dict(honest_files)
    for name in ("am-listed.bin", "cmake-arg.bin", "meson-arg.bin", "loop-1.dat", "loop-2.dat",
                 "corpus/seed-a", "corpus/seed-b", "orphan.bin"):
        files[f"tests/data/{name}"] = rng.randbytes(6000)
    files["tests/data/Makefile.am"] = "EXTRA_DIST = am-listed.bin\n"
    files["tests/CMakeLists.txt"] = "add_test(NAME cmake_case COMMAND reader ${CMAKE_CURRENT_SOURCE_DIR}/data/cmake-arg.bin)\n"
    files["tests/meson.build"] = "test('meson case', reader, args: files('data/meson-arg.bin'))\n"
    files["tests/test_loop.sh"] = 'for f in "$srcdir"/data/loop-*.dat; do ./reader "$f" || exit 1; done\n'
    files["tests/test_corpus.py"] = 'import os\nfor name in os.listdir(HERE + "/data/corpus"):\n    check(name)\n'
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    assert [f.location.path for f in result.by_rule("PC204")] == ["tests/data/orphan.bin"]
    assert result.findings == result.by_rule("PC204")


def test_good_file_that_fails_and_valid_multistream_bad_file(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    broken = bytearray(lzma.compress(b"good data\n" * 50))
    broken[-20] ^= 0x01                                   # index CRC no longer matches
    files["tests/files/good-3-text.xz"] = bytes(broken)
    files["tests/files/bad-4-two-streams.xz"] = lzma.compress(b"one\n") + lzma.compress(b"two\n")
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    result.assert_rules(PC207=1, PC202=1)
    assert result.only("PC207").location.path == "tests/files/good-3-text.xz"
    assert result.only("PC202").evidence["decode"]["streams"] == 2


def test_vendored_source_archive_is_not_critical(checker, honest_files):
    """A tarball of a vendored project holds scripts among many files: not a hidden payload."""
    from provcheck.testing import tar_bytes
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    vendored = tar_bytes({"zlib-1.3/configure": "#!/bin/sh\necho configuring\nexit 0\n",
                          "zlib-1.3/zlib.h": "/* zlib */\n", "zlib-1.3/inflate.c": "int inflate;\n",
                          "zlib-1.3/README": "zlib\n"})
    files["third_party/zlib-1.3.tar.gz"] = gzip.compress(vendored, mtime=0)
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC201")
    assert f.severity == Severity.MEDIUM and "shell script" in f.message


def test_release_changes_a_test_script_that_reads_binary_data(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    repo = checker.gitrepo(honest_files, tags="v1.0")
    release = {"demo-1.0/" + k: v for k, v in honest_files.items()}
    release["demo-1.0/tests/test_random.c"] += "/* changed in the tarball only */\n"
    tarball = checker.tarball(release, name="demo-1.0.tar.gz")
    result = checker.run(tarball, source=f"git:{repo}@v1.0", select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC211")
    assert f.location.path == "demo-1.0/tests/test_random.c" and f.severity == Severity.MEDIUM
    assert f.evidence["in_source"] == "changed" and f.related[0].path == "tests/test_random.c"


def test_plain_object_file_in_test_data(checker, honest_files, object_file):
    """An object file committed as-is: medium when nothing names it, quiet when a test does."""
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    files["tests/files/crc64_table.bin"] = object_file
    files["tests/elf/sample.o"] = object_file
    files["tests/test_elf.sh"] = "readelf -h elf/sample.o\n"
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC201")
    assert f.location.path == "tests/files/crc64_table.bin" and f.severity == Severity.MEDIUM
    assert "x86_64 relocatable object" in f.message


def test_data_appended_to_an_image(checker, honest_files):
    """An encrypted region after a structured file's end: a PNG with 20 KiB after IEND."""
    import struct
    import zlib
    checker.add_plugin(provcheck_testdata)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))
    files = dict(honest_files)
    files["doc/logo.png"] = png
    files["tests/images/pixel.png"] = png + random.Random(4).randbytes(20480)
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC206")
    assert f.location.path == "tests/images/pixel.png" and f.severity == Severity.HIGH
    assert f.evidence["decode"]["trailing_bytes"] == 20480


def test_maintainer_grep_over_sources_is_low(checker, honest_files):
    """Makefile.am rules that grep the sources (whitespace checks) are not test-data readers."""
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    files["Makefile.am"] = ("SUBDIRS = src tests\n\ncheck-whitespace:\n"
                            "\tif grep -rn '[[:space:]]$$' $(srcdir)/src; then exit 1; fi\n")
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    f = result.only("PC205")
    assert f.severity == Severity.LOW and f.location.path == "Makefile.am"


def test_uuencoded_fixtures_are_decoded(checker, honest_files, object_file):
    """libarchive keeps its archives uuencoded: the encoding is peeled like a compression layer."""
    import binascii
    checker.add_plugin(provcheck_testdata)

    def uuencode(data: bytes, name: str) -> bytes:
        lines = [binascii.b2a_uu(data[i:i + 45]) for i in range(0, len(data), 45)]
        return b"begin 644 " + name.encode() + b"\n" + b"".join(lines) + b"`\nend\n"

    files = dict(honest_files)
    files["tests/test_read_sfx.c"] = 'static const char *refname = "test_read_sfx.elf";\n'
    files["tests/test_read_sfx.elf.uu"] = uuencode(object_file, "test_read_sfx.elf")
    files["tests/extra_blob.xz.uu"] = uuencode(lzma.compress(object_file), "extra_blob.xz")
    result = checker.run(checker.tree(files), select=["PC2"])
    result.assert_no_errors()
    found = by_path(result, "PC201")
    assert found["tests/test_read_sfx.elf.uu"].severity == Severity.LOW          # a test names it
    hidden = found["tests/extra_blob.xz.uu"]
    assert hidden.severity == Severity.CRITICAL and "uu -> xz" in hidden.message
    assert hidden.evidence["decoded"]["children"][0]["children"][0]["sha256"] == hashlib.sha256(object_file).hexdigest()


OTHER_PLUGINS = ("release", "elf", "sbom", "attest", "fleet")


def test_cli_option_turns_off_the_swap_search(checker, honest_files, xz_payload_files):
    """Plugin options reach the detector through the real command line (entry-point name)."""
    repo = checker.gitrepo(_release(honest_files, xz_payload_files, prefix=""), tags="v5.6.1")
    blocked = [a for p in OTHER_PLUGINS for a in ("-p", f"no:{p}")]
    on = checker.run_cli(*blocked, "scan", f"git:{repo}@v5.6.1", "--select", "PC203", "--format", "json")
    off = checker.run_cli(*blocked, "scan", f"git:{repo}@v5.6.1", "--select", "PC203", "--format", "json",
                          "--set", "testdata.swap-search=false")
    assert [f["rule_id"] for f in on.json()["findings"]] == ["PC203"], on.stderr
    assert off.json()["findings"] == [] and off.exit_code == 0, off.stderr


def test_rules_follow_the_house_format():
    ids = [r.id for r in provcheck_testdata.RULES]
    assert len(set(ids)) == len(ids) and all(i.startswith("PC2") and len(i) == 5 for i in ids)
    for rule in provcheck_testdata.RULES:
        sections = [line for line in rule.doc.splitlines() if line.startswith("## ")]
        assert sections == ["## What it does", "## Why is this bad?", "## Example", "## References"], rule.id
        assert rule.name == rule.name.lower() and " " not in rule.name


def test_decoded_text_cannot_inject_terminal_escapes(checker, honest_files):
    checker.add_plugin(provcheck_testdata)
    files = dict(honest_files)
    script = b"#!/bin/sh\n\x1b]0;owned\x07\x1b[2Jecho hi\nexit 0\n"
    files["tests/files/extra.xz"] = lzma.compress(script)
    result = checker.run(checker.tree(files), select=["PC2"])
    f = result.only("PC201")
    assert "\x1b" not in f.message and "\\x1b]0;owned" in f.message
    cli = checker.run_cli("-p", "no:release", "-p", "no:elf", "-p", "no:sbom", "-p", "no:attest", "-p", "no:fleet",
                          "scan", checker.tree(files), "--select", "PC2")
    assert cli.exit_code == 1 and "\x1b" not in cli.stdout


def test_decode_budget_exhaustion_is_reported(checker, honest_files, xz_payload_files):
    """A spent decode budget is an error that names the limit, never a silent clean result."""
    checker.add_plugin(provcheck_testdata)
    tree = checker.tree(_release(honest_files, xz_payload_files, prefix=""))
    result = checker.run(tree, select=["PC2"], options=opts(**{"decode-total-seconds": 0}))
    assert not result.by_rule("PC203")
    assert any("decode budget" in e.message and "decode-total-seconds" in e.message for e in result.errors)
    assert result.exit_code == 3


@pytest.mark.slow
def test_real_debian_packages_are_quiet(checker):
    """Real .deb packages (payload read as a root filesystem): no data-place findings."""
    import realdata
    checker.add_plugin(provcheck_testdata)
    debs = realdata.download(["xz-utils", "liblzma5", "file", "libmagic1"])
    result = checker.run(*debs.values(), select=["PC2"])
    result.assert_no_errors()
    assert result.findings == [], result._describe()


def test_a_repository_dressed_as_a_rootfs_still_gets_source_checks(checker):
    """usr/ and etc/ in a git tree must not switch the test-data checks off."""
    import provcheck_testdata
    from pathlib import Path
    sample = Path(__file__).resolve().parents[3] / "samples/xz-style-release"
    files = {str(p.relative_to(sample / "source")): p.read_bytes()
             for p in (sample / "source").rglob("*") if p.is_file()}
    files.update({str(p.relative_to(sample / "release-extra")): p.read_bytes()
                  for p in (sample / "release-extra").rglob("*") if p.is_file()})
    files.update({"usr/share/doc/README": "decoy\n", "etc/xz.conf": "decoy\n", "var/lib/x": "decoy\n"})
    repo = checker.gitrepo(files, tags="v5.6.1")
    checker.add_plugin(provcheck_testdata)
    result = checker.run(f"git:{repo}@v5.6.1")
    assert result.by_rule("PC203"), result.rules()


def test_many_tiny_streams_stop_at_the_stream_cap():
    """A file of thousands of empty xz streams, gzip members or zstd skippable frames used to
    loop once per stream, copying the rest of the file each time."""
    import gzip
    import lzma
    from provcheck_testdata.decode import MAX_STREAMS, Budget, decode
    for fmt, one in [("xz", lzma.compress(b"")), ("gzip", gzip.compress(b"", mtime=0)),
                     ("zstd", b"\x50\x2a\x4d\x18\x00\x00\x00\x00")]:
        res = decode(fmt, one * (MAX_STREAMS + 500), Budget())
        assert res.streams <= MAX_STREAMS and res.truncated, (fmt, res)


def test_a_module_signature_marker_does_not_hide_other_appended_data(checker, tmp_path):
    import os
    import subprocess
    import provcheck_testdata
    from provcheck.formats.elf import SIGNATURE_MARK
    src = tmp_path / "m.c"
    src.write_text("int init_module(void) { return 0; }\n")
    subprocess.run(["gcc", "-c", "-o", str(tmp_path / "m.o"), str(src)], check=True)
    obj = (tmp_path / "m.o").read_bytes()
    sig = os.urandom(512)
    info = bytes([0, 0, 2, 0, 0, 0, 0, 0]) + len(sig).to_bytes(4, "big")  # struct module_signature
    honest = obj + sig + info + SIGNATURE_MARK
    smuggled = obj + os.urandom(8192) + sig + info + SIGNATURE_MARK
    checker.add_plugin(provcheck_testdata)
    image = checker.oci([{"usr/lib/modules/6.1/honest.ko": honest, "usr/lib/modules/6.1/smuggled.ko": smuggled}])
    found = {f.location.path for f in checker.run(image).by_rule("PC210")}
    assert found == {"usr/lib/modules/6.1/smuggled.ko"}


@pytest.mark.slow
def test_lzip_decoder_on_xz_lzip_corpus_and_the_lzip_tool(xz_orig_tarball):
    """The in-process lzip decoder on xz's own .lz test files (good/bad/trailing/v0/v1) and on
    random members compared with the `lzip` tool: same output, same verdict (lzip 1.23 cannot
    read version 0; liblzma's stricter range-coder checks may reject a bit flip lzip lets pass)."""
    import subprocess
    import tarfile

    from provcheck_testdata import decode as dec

    with tarfile.open(xz_orig_tarball) as tf:
        corpus = {m.name.rsplit("/", 1)[1]: tf.extractfile(m).read() for m in tf.getmembers()
                  if m.name.endswith(".lz")}
    assert len(corpus) >= 18
    for name, data in corpus.items():
        res = dec.decode("lzip", data, dec.Budget().start())
        if name.startswith("unsupported-"):
            assert res is None, name
        elif name.startswith("good-") and name != "good-1-v1-trailing-2.lz":  # lzip >= 1.20 rejects that one
            assert res.clean and res.output == b"Hello\nWorld!\n", (name, res)
        else:
            assert not res.ok, (name, res)
    rnd = random.Random(5)
    for i in range(40):
        payload = rnd.randbytes(rnd.randrange(0, 3000)) * rnd.randrange(1, 3)
        member = subprocess.run(["lzip", "-c"], input=payload, capture_output=True, check=True).stdout
        data = member + (member if i % 2 else b"") + [b"", b"trailing", b"LZI", b"LZITrail"][i % 4]
        tool = subprocess.run(["lzip", "-dc"], input=data, capture_output=True)
        res = dec.decode("lzip", data, dec.Budget().start())
        assert res.ok == (tool.returncode == 0), (i, res.error, tool.stderr)
        if res.ok:
            assert res.output == tool.stdout
