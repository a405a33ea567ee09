"""PC212: a reader of a test file decodes it (emulated) and hands the result to a sink.

Faithful, harmless fixtures for each payload kind: real gzip/xz/lzma streams, a real x86-64 object
compiled with gcc (conftest ``object_file``), scripts that only echo. Each is planted in a test
directory and in an ordinary one, with the script that decodes it, as one commit would add them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import lzma
import random
import struct
import zlib

import pytest
from xz_rc4 import RC4_AWK, rc4_awk_encrypt

import provcheck_testdata
from provcheck import Severity

SCRIPT = b"#!/bin/sh\n# harmless stand-in for a second stage\necho 'payload would run here'\nexit 0\n"
SCRIPT_SHA = hashlib.sha256(SCRIPT).hexdigest()
HONEST = {
    "README": "demo library\n",
    "configure.ac": "AC_INIT([demo], [1.0])\nAM_INIT_AUTOMAKE\nAC_PROG_CC\nAC_OUTPUT\n",
    "Makefile.am": "SUBDIRS = src tests\n",
    "src/demo.c": "int demo(void) { return 1; }\n",
}


def png(extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\0" + bytes([x * 8 % 256, 0, 255 - x]) * 16 for x in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"") + extra)


def run(checker, files, **options):
    checker.add_plugin(provcheck_testdata)
    opts = {"testdata": options, "provcheck_testdata": options} if options else None
    return checker.run(checker.tree({**HONEST, **files}), select=["PC2"], options=opts)


def pc212(result, path):
    found = [f for f in result.by_rule("PC212") if f.location.path == path]
    assert found, [(f.rule_id, f.location.path, f.message) for f in result.findings]
    return found[0]


def commands(finding):
    return [s["command"] for s in finding.evidence["chain"]]


DIRS = ["tests/files", "assets/media"]


# -- the six payload kinds -----------------------------------------------------------------------

@pytest.mark.parametrize("base", DIRS)
def test_tr_byte_rotation_then_gzip_to_shell(checker, base):
    """A `tr` map other than xz's (every byte shifted by one) un-scrambles a gzip stream."""
    stored = gzip.compress(SCRIPT, mtime=0).translate(bytes((b - 1) % 256 for b in range(256)))
    reader = "tests/test_rotate.sh"
    result = run(checker, {f"{base}/bad-rot.gz": stored,
                           reader: f"#!/bin/sh\ntr '\\000-\\376\\377' '\\001-\\377\\000' < \"$srcdir/../{base}/bad-rot.gz\""
                                   " | gzip -dc | sh\n"})
    f = pc212(result, f"{base}/bad-rot.gz")
    assert f.severity == Severity.CRITICAL
    assert f.evidence["reader"] == reader and f.evidence["sink"]["kind"] == "shell"
    assert f.evidence["output"]["sha256"] == SCRIPT_SHA and f.evidence["output"]["kind"] == "script"
    assert [c.split()[0] for c in commands(f)] == ["read", "tr", "gzip"]
    assert "payload would run here" in f.evidence["output"]["preview"]


@pytest.mark.parametrize("base", DIRS)
def test_script_after_png_end_sliced_by_dd(checker, base):
    """A compressed script after a PNG's IEND, cut out with dd skip=/count= in a Makefile.am rule."""
    image = png()
    tail = gzip.compress(SCRIPT, mtime=0)
    files = {f"{base}/logo.png": image + tail,
             "tests/Makefile.am": f"check-local:\n\tdd if=$(top_srcdir)/{base}/logo.png bs=1 skip={len(image)} "
                                  f"count={len(tail)} 2>/dev/null | gzip -dc | $(SHELL)\n"}
    result = run(checker, files)
    f = pc212(result, f"{base}/logo.png")
    assert f.severity == Severity.CRITICAL and f.evidence["output"]["sha256"] == SCRIPT_SHA
    assert commands(f)[1].startswith("dd if=@TOP@/") and f"skip={len(image)}" in commands(f)[1]
    assert f.evidence["read_at"] == "tests/Makefile.am:2"


@pytest.mark.parametrize("base", DIRS)
def test_object_inside_valid_xz_becomes_a_linked_object(checker, object_file, base):
    files = {f"{base}/good-2-x86.xz": lzma.compress(object_file),
             "src/Makefile.am": f"lib_LTLIBRARIES = libdemo.la\nlibdemo_la_SOURCES = demo.c\n"
                                f"libdemo_la_LIBADD = crc_fast.lo\n"
                                f"crc_fast.lo: $(top_srcdir)/{base}/good-2-x86.xz\n\txz -dc $< > $@\n"}
    result = run(checker, files)
    f = pc212(result, f"{base}/good-2-x86.xz")
    assert f.severity == Severity.CRITICAL
    assert f.evidence["sink"]["kind"] == "output-file" and "crc_fast.lo" in f.evidence["sink"]["how"]
    assert f.evidence["output"]["format"] == "elf"
    assert f.evidence["output"]["sha256"] == hashlib.sha256(object_file).hexdigest()


@pytest.mark.parametrize("base", DIRS)
def test_xored_gzip_decoded_by_python_one_liner(checker, base):
    """Missed before: a gzip stream XORed with one byte, decoded by `python3 -c` in a test script."""
    stored = bytes(b ^ 0x5A for b in gzip.compress(SCRIPT, mtime=0))
    reader = "tests/test_compat.sh"
    prog = ("import sys; d = open(sys.argv[1], 'rb').read(); "
            "sys.stdout.buffer.write(bytes(b ^ 0x5a for b in d))")
    result = run(checker, {f"{base}/compat-1.bin": stored,
                           reader: f"#!/bin/sh\nset -e\nPY=python3\n: \"${{srcdir:=.}}\"\n"
                                   f"$PY -c \"{prog}\" \"$srcdir/../{base}/compat-1.bin\" | gzip -dc | sh\n"})
    f = pc212(result, f"{base}/compat-1.bin")
    assert f.severity == Severity.CRITICAL and f.evidence["output"]["sha256"] == SCRIPT_SHA
    assert f.evidence["read_at"] == f"{reader}:5"
    assert "b ^ 0x5a" in commands(f)[1] and commands(f)[2] == "gzip -dc"


@pytest.mark.parametrize("base", DIRS)
def test_script_sliced_from_good_lzma_with_head_and_tail(checker, base):
    """Missed before: xz's second stage, a script cut out of a valid .lzma with head -c | tail -c."""
    rng = random.Random(5)
    body = rng.randbytes(30000) + SCRIPT + rng.randbytes(9000)
    stored = lzma.compress(body, format=lzma.FORMAT_ALONE)
    reader = "tests/test_compress_prepared.sh"
    end = 30000 + len(SCRIPT)
    result = run(checker, {f"{base}/good-large_compressed.lzma": stored,
                           reader: f"#!/bin/sh\nxz -dc $srcdir/../{base}/good-large_compressed.lzma | head -c {end} "
                                   f"| tail -c {len(SCRIPT)} | /bin/sh\n"})
    f = pc212(result, f"{base}/good-large_compressed.lzma")
    assert f.severity == Severity.CRITICAL and f.evidence["output"]["sha256"] == SCRIPT_SHA
    assert [c.split()[0] for c in commands(f)] == ["read", "xz", "head", "tail"]


def test_xz_stage_two_head_loop_through_eval(checker):
    """The same, written as xz 5.6.1 did: a variable of (skip, keep) head pairs run by eval."""
    rng = random.Random(6)
    keep = 2048
    plain = bytearray(rng.randbytes(3072 * 3))
    payload = SCRIPT.ljust(keep * 2, b"\n")
    for k in range(2):      # the script sits in the kept halves, the skipped ones are noise
        plain[k * 3072 + 1024:(k + 1) * 3072] = payload[k * keep:(k + 1) * keep]
    stored = lzma.compress(bytes(plain), format=lzma.FORMAT_ALONE)
    loop = " && ".join(["((head -c +1024 >/dev/null) && head -c +2048)"] * 2)
    files = {"tests/files/good-large_compressed.lzma": stored,
             "tests/files/stage2.sh.txt": "not a reader\n",
             "build-aux/stage.sh": f"#!/bin/sh\nexport i=\"{loop}\"\n"
                                   "xz -dc $top_srcdir/tests/files/good-large_compressed.lzma | eval $i | sh\n"}
    result = run(checker, files)
    f = pc212(result, "tests/files/good-large_compressed.lzma")
    assert f.severity == Severity.CRITICAL
    assert f.evidence["output"]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert commands(f).count("head -c +2048") == 2
    notes = [s.get("note") for s in f.evidence["chain"] if s["command"] == "head -c +2048"]
    assert notes == ["bytes 1024-3072 of its input", "bytes 4096-6144 of its input"]


@pytest.mark.parametrize("base", ["tests/fixtures", "misc/fixtures"])
def test_base64_text_fixture_to_elf_in_makefile_am(checker, object_file, base):
    """Missed before: `base64 -d $(srcdir)/fixtures/sample.txt > libhelper.o` in tests/Makefile.am."""
    text = base64.encodebytes(object_file).decode()
    mk_dir = base.rsplit("/", 1)[0]
    files = {f"{base}/sample.txt": text,
             f"{mk_dir}/Makefile.am": "check_PROGRAMS = test_helper\ntest_helper_LDADD = libhelper.o\n"
                                      "libhelper.o: fixtures/sample.txt\n"
                                      "\tbase64 -d $(srcdir)/fixtures/sample.txt > libhelper.o\n"}
    result = run(checker, files)
    f = pc212(result, f"{base}/sample.txt")
    assert f.severity == Severity.CRITICAL
    assert f.evidence["output"]["sha256"] == hashlib.sha256(object_file).hexdigest()
    assert f.evidence["sink"]["kind"] == "output-file" and f.evidence["sink"]["where"] == f"{mk_dir}/Makefile.am:4"
    assert commands(f)[1] == "base64 -d ./fixtures/sample.txt >libhelper.o"
    # the fixture itself is binary data in text clothing: PC201 names it too
    assert any(x.location.path == f"{base}/sample.txt" for x in result.by_rule("PC201"))


# -- more readers and shapes ---------------------------------------------------------------------

def test_meson_custom_target_reader(checker, object_file):
    files = {"tests/data/blob.xz": lzma.compress(object_file),
             "meson.build": "project('demo', 'c')\nxz = find_program('xz')\n"
                            "helper = custom_target('helper',\n  input : 'tests/data/blob.xz',\n"
                            "  output : 'helper.o',\n  command : [xz, '-dc', '@INPUT@'],\n  capture : true)\n"
                            "library('demo', 'src/demo.c', objects : helper)\n"}
    result = run(checker, files)
    f = pc212(result, "tests/data/blob.xz")
    assert f.severity == Severity.CRITICAL and f.evidence["reader"] == "meson.build"
    assert f.evidence["sink"]["where"] == "meson.build:3" and "helper.o" in f.evidence["sink"]["how"]


def test_python_helper_with_multi_byte_key(checker):
    key = b"k3y!\x90"
    plain = gzip.compress(SCRIPT, mtime=0)
    stored = bytes(b ^ key[i % len(key)] for i, b in enumerate(plain))
    helper = ("#!/usr/bin/env python3\nimport sys\n\nKEY = b'k3y!\\x90'\n\n\ndef unmask(data):\n"
              "    return bytes(b ^ KEY[i % len(KEY)] for i, b in enumerate(data))\n\n\n"
              "if __name__ == '__main__':\n    with open(sys.argv[1], 'rb') as f:\n        data = f.read()\n"
              "    with open(sys.argv[2], 'wb') as out:\n        out.write(unmask(data))\n")
    files = {"tests/data/sample.bin": stored, "tests/tools/unmask.py": helper,
             "tests/Makefile.am": "check-local:\n\t$(PYTHON) $(srcdir)/tools/unmask.py $(srcdir)/data/sample.bin "
                                  "sample.gz\n\tgzip -dc sample.gz > sample.sh\n\tsh ./sample.sh\n"}
    result = run(checker, files)
    f = pc212(result, "tests/data/sample.bin")
    assert f.severity == Severity.CRITICAL and f.evidence["output"]["sha256"] == SCRIPT_SHA
    assert "unmask.py" in commands(f)[1] and commands(f)[-1] == "gzip -dc sample.gz >sample.sh"


def test_pipeline_through_intermediate_files_and_rot13(checker):
    rot = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                          b"NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm")
    stored = lzma.compress(SCRIPT.translate(rot))
    files = {"tests/files/words.xz": stored,
             "tests/test_words.sh": "#!/bin/sh\ntmp=${TMPDIR:-/tmp}/words.$$\n"
                                    "xz -dc < \"$srcdir/files/words.xz\" > \"$tmp\"\n"
                                    "tr 'A-Za-z' 'N-ZA-Mn-za-m' < \"$tmp\" > \"$tmp.2\"\n"
                                    ". \"$tmp.2\"\nrm -f \"$tmp\" \"$tmp.2\"\n"}
    result = run(checker, files)
    f = pc212(result, "tests/files/words.xz")
    assert f.severity == Severity.CRITICAL and f.evidence["output"]["sha256"] == SCRIPT_SHA
    assert f.evidence["sink"]["kind"] == "shell" and f.evidence["sink"]["where"] == "tests/test_words.sh:5"


def test_cmake_execute_process_and_perl_xor(checker, object_file):
    stored = bytes(b ^ 0x21 for b in object_file)
    files = {"tests/res/blob.dat": stored,
             "CMakeLists.txt": "cmake_minimum_required(VERSION 3.10)\nproject(demo C)\n"
                               "set(RES ${CMAKE_CURRENT_SOURCE_DIR}/tests/res)\n"
                               "execute_process(COMMAND perl -0777 -pe \"s/(.)/chr(ord($1)^0x21)/gse\"\n"
                               "  INPUT_FILE ${RES}/blob.dat OUTPUT_FILE ${CMAKE_CURRENT_BINARY_DIR}/res.o)\n"
                               "add_library(demo src/demo.c ${CMAKE_CURRENT_BINARY_DIR}/res.o)\n"}
    result = run(checker, files)
    f = pc212(result, "tests/res/blob.dat")
    assert f.severity == Severity.CRITICAL and f.evidence["output"]["format"] == "elf"


def test_unfollowable_step_before_a_shell_is_reported_medium(checker):
    files = {"tests/files/x.bin": random.Random(1).randbytes(600),
             "tests/run.sh": "#!/bin/sh\ntr a b < $srcdir/files/x.bin | ./tests/mydecoder --key \"$KEY\" | sh\n"}
    result = run(checker, files)
    f = pc212(result, "tests/files/x.bin")
    assert f.severity == Severity.MEDIUM
    assert f.evidence["stopped"].startswith("emulation stopped at step 3 (tests/run.sh:2): unknown command")


def test_exceeded_budget_is_reported(checker):
    files = {"tests/files/zeros.xz": lzma.compress(b"\0" * (4 << 20)),
             "tests/run.sh": "#!/bin/sh\nxz -dc $srcdir/files/zeros.xz | sh\n"}
    result = run(checker, files, **{"max-decode-bytes": "1MiB"})
    assert any("pipeline emulation stopped" in e.message and "budget" in e.message and e.path == "tests/run.sh"
               for e in result.errors), [e.message for e in result.errors]


# -- no reader: look inside anyway -----------------------------------------------------------------

@pytest.mark.parametrize("encode,fmt", [(lambda b: base64.encodebytes(b).decode(), "base64"),
                                        (lambda b: b.hex() + "\n", "hex")])
def test_encoded_text_fixture_without_reader(checker, object_file, encode, fmt):
    result = run(checker, {"tests/data/blob.txt": encode(lzma.compress(object_file))})
    f = result.only("PC201")
    assert f.location.path == "tests/data/blob.txt" and f.severity == Severity.CRITICAL
    assert f.evidence["format"] == fmt
    leaf = f.evidence["decoded"]["children"][0]["children"][0]
    assert leaf["format"] == "elf" and leaf["sha256"] == hashlib.sha256(object_file).hexdigest()


@pytest.mark.parametrize("container", ["png", "zip", "gzip", "pdf"])
def test_program_after_container_end_without_reader(checker, container):
    import io
    import zipfile
    appended = lzma.compress(SCRIPT)
    if container == "png":
        data = png(appended)
    elif container == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("a.txt", "hello\n")
        data = buf.getvalue() + appended
    elif container == "gzip":
        data = gzip.compress(b"hello\n", mtime=0) + appended
    else:
        data = (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
                + appended)
    name = {"png": "logo.png", "zip": "data.zip", "gzip": "sample.gz", "pdf": "manual.pdf"}[container]
    result = run(checker, {f"tests/files/{name}": data})
    f = [x for x in result.by_rule("PC201") if x.location.path == f"tests/files/{name}"][0]
    assert f.severity == Severity.CRITICAL
    assert SCRIPT_SHA in str(f.evidence["decoded"])


# -- honest pipelines stay quiet -------------------------------------------------------------------

def test_decoding_into_a_test_program_or_a_comparison_is_quiet(checker, object_file):
    archive = gzip.compress(b"file contents\n" * 50, mtime=0)
    uu = "begin 644 test_read.tar.gz\n" + "".join(
        chr(32 + len(archive[i:i + 45])) + "".join(chr(32 + ((v) or 64)) for v in _uu_groups(archive[i:i + 45])) + "\n"
        for i in range(0, len(archive), 45)) + "`\nend\n"
    files = {
        "tests/data/expected.bin": b"\x00\x01binary expected output\xff" * 20,
        "tests/data/input.b64": base64.encodebytes(b"\x00\x01binary expected output\xff" * 20).decode(),
        "tests/data/test_read.tar.gz.uu": uu,
        "tests/data/obj.xz": lzma.compress(object_file),
        "tests/data/script.gz": gzip.compress(SCRIPT, mtime=0),
        "tests/test_decode.sh": "#!/bin/sh\nset -e\nbase64 -d $srcdir/data/input.b64 > out.bin\n"
                                "cmp out.bin $srcdir/data/expected.bin\n"
                                "uudecode -o test_read.tar.gz $srcdir/data/test_read.tar.gz.uu\n"
                                "./test_reader test_read.tar.gz\n"
                                "xz -dc $srcdir/data/obj.xz | ./elf_dump > dump.txt\n"
                                "gzip -dc $srcdir/data/script.gz | diff - $srcdir/data/expected.bin || true\n"
                                "gzip -dc < $srcdir/data/script.gz | ./shell_lint --stdin\n",
    }
    result = run(checker, files)
    assert not result.by_rule("PC212"), [f.message for f in result.by_rule("PC212")]


def _uu_groups(chunk: bytes):
    chunk = chunk + b"\0" * (-len(chunk) % 3)
    for i in range(0, len(chunk), 3):
        a, b, c = chunk[i:i + 3]
        yield from (a >> 2, ((a & 3) << 4) | (b >> 4), ((b & 15) << 2) | (c >> 6), c & 63)


def test_build_scripts_that_template_sources_are_not_readers_of_test_data(checker):
    files = {"tests/files/good-1.xz": lzma.compress(b"text\n"),
             "Makefile.am": "foo.sh: foo.sh.in\n\tsed -e 's|@prefix@|$(prefix)|g' $(srcdir)/foo.sh.in > foo.sh\n"
                            "\tchmod +x foo.sh\n\t./foo.sh\n",
             "foo.sh.in": "#!/bin/sh\necho @prefix@\n",
             "tests/test_files.sh": "#!/bin/sh\nfor f in $srcdir/files/good-*.xz; do xz -t $f; done\n"}
    result = run(checker, files)
    assert not result.by_rule("PC212")


# -- real projects whose tests decode fixtures (Debian orig tarballs, cached) -------------------------

def _orig_tarball(package: str):
    import realdata
    dest = realdata.CACHE / "testdata-src"
    with realdata._locked("testdata-src"):
        found = sorted(dest.glob(f"{package}_*.orig.tar.*"))
        if not found:
            dest.mkdir(parents=True, exist_ok=True)
            proc = realdata.apt_get("source", "--download-only", package, cwd=dest)
            assert proc.returncode == 0, f"apt-get source {package}: {proc.stderr[-300:]}"
            found = sorted(dest.glob(f"{package}_*.orig.tar.*"))
    assert found, f"apt-get source gave no {package} orig tarball"
    return found[0]


@pytest.mark.slow
@pytest.mark.parametrize("package", ["libarchive", "file", "busybox"])
def test_real_trees_that_decode_fixtures_stay_quiet(checker, package):
    """libarchive's uuencoded test archives, file's magic tests and busybox's base64/uuencoded test
    fixtures (decoded by its test scripts with uudecode and base64): their readers are emulated,
    nothing reaches a sink, and nothing above low is reported."""
    checker.add_plugin(provcheck_testdata)
    result = checker.run(_orig_tarball(package), select=["PC2"])
    loud = [(f.rule_id, f.severity.name, f.location.path, f.message[:160]) for f in result.findings
            if f.severity >= Severity.MEDIUM]
    assert not loud, loud
    assert not [e.message for e in result.errors if "pipeline" in e.message]


def test_xz_two_stages_stage_one_decoded_from_test_data_is_emulated(checker):
    """Faithful to xz 5.6.1: the "corrupt" file is a tr-scrambled xz stream whose stage-1 script
    reads the "good" .lzma file through the head-pair loop, tail -c, a tr table and a raw LZMA1
    decoder into /bin/sh. Stage 1 is found by the swap search; emulating it yields stage 2."""
    from provcheck_testdata import emulate

    table_args = [b"\\114-\\321\\322-\\377\\35-\\47\\14-\\34\\0-\\13\\50-\\113", b"\\0-\\377"]
    table = emulate.tr(bytes(range(256)), table_args)
    inverse = bytearray(256)
    for i, v in enumerate(table):
        inverse[v] = i
    stage2 = b"#!/bin/sh\n# harmless stand-in for stage 2\necho 'object would be extracted here'\n"
    raw = lzma.compress(stage2, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}])
    rng = random.Random(9)
    skip_junk = 700
    kept = rng.randbytes(skip_junk) + raw.translate(bytes(inverse))
    kept += rng.randbytes(-len(kept) % 2048)
    plain = b"".join(rng.randbytes(1024) + kept[k:k + 2048] for k in range(0, len(kept), 2048))
    pairs = len(kept) // 2048
    loop = " && ".join(["((head -c +1024 >/dev/null) && head -c +2048)"] * pairs)
    stage1 = (b"####Hello####\n#!/bin/sh\n[ ! $(uname) = \"Linux\" ] && exit 0\n"
              b"eval `grep ^srcdir= config.status`\n"
              b"export i=\"" + loop.encode() + b"\";(xz -dc $srcdir/tests/files/good-large_compressed.lzma|eval $i|"
              b"tail -c +" + str(skip_junk + 1).encode() + b"|tr \"" + table_args[0] + b"\" \"" + table_args[1] +
              b"\")|xz -F raw --lzma1 -dc|/bin/sh\n")
    stream = lzma.compress(stage1, check=lzma.CHECK_CRC64)
    scrambled = stream.translate(bytes.maketrans(b"\t -_", b" \t_-"))
    assert scrambled != stream
    files = {"tests/files/bad-3-corrupt_lzma2.xz": scrambled,
             "tests/files/good-large_compressed.lzma": lzma.compress(plain, format=lzma.FORMAT_ALONE),
             "tests/Makefile.am": "EXTRA_DIST = files\n"}
    result = run(checker, files)
    f = pc212(result, "tests/files/good-large_compressed.lzma")
    assert f.severity == Severity.CRITICAL
    assert f.evidence["reader"] == "tests/files/bad-3-corrupt_lzma2.xz (decoded shell script)"
    assert f.evidence["reader_decoded_from"] == "tests/files/bad-3-corrupt_lzma2.xz"
    assert f.evidence["output"]["sha256"] == hashlib.sha256(stage2).hexdigest()
    cmds = commands(f)
    assert cmds.count("head -c +2048") == pairs and cmds[-1] == "xz -F raw --lzma1 -dc"
    assert any(c.startswith("tr ") for c in cmds)


def test_pytest_module_helper_feeding_subprocess_shell(checker):
    """A test module's function (run by pytest, never called in the file) unmasks a fixture and
    feeds it to `sh` through subprocess: parameterless functions are emulated too."""
    stored = bytes(b ^ 0x33 for b in zlib.compress(SCRIPT))
    module = ("import subprocess\nimport zlib\n\nimport pytest\n\nHERE = 'tests/data'\n\n\n"
              "@pytest.mark.parametrize('x', [1])\ndef test_param(x):\n    assert x\n\n\n"
              "def test_fixture_runs():\n    with open(HERE + '/k.bin', 'rb') as f:\n        data = f.read()\n"
              "    code = zlib.decompress(bytes(b ^ 0x33 for b in data))\n"
              "    subprocess.run(['sh'], input=code, check=True)\n")
    result = run(checker, {"tests/data/k.bin": stored, "tests/test_fixture.py": module})
    f = pc212(result, "tests/data/k.bin")
    assert f.severity == Severity.CRITICAL and f.evidence["output"]["sha256"] == SCRIPT_SHA
    assert f.evidence["sink"]["how"] == "subprocess sh"


def test_pipelines_option_turns_the_emulation_off(checker):
    stored = bytes(b ^ 0x5A for b in gzip.compress(SCRIPT, mtime=0))
    files = {"tests/files/compat.bin": stored,
             "tests/t.sh": "#!/bin/sh\npython3 -c \"import sys; sys.stdout.buffer.write(bytes(b ^ 90 for b in "
                           "sys.stdin.buffer.read()))\" < $srcdir/files/compat.bin | gzip -dc | sh\n"}
    assert run(checker, files).by_rule("PC212")
    assert not run(checker, files, pipelines="false").by_rule("PC212")


def test_generator_program_fed_from_data_is_low(checker):
    """`gzip -dc $< | ./gen > $@` for a compiled table: the generator is not followed (low)."""
    files = {"data/unicode.txt.gz": gzip.compress(b"0041;LATIN CAPITAL LETTER A\n" * 50, mtime=0),
             "src/Makefile.am": "tables.c: $(top_srcdir)/data/unicode.txt.gz gen$(EXEEXT)\n"
                                "\tgzip -dc $(top_srcdir)/data/unicode.txt.gz | ./gen > $@\n"}
    result = run(checker, files)
    f = pc212(result, "data/unicode.txt.gz")
    assert f.severity == Severity.LOW and "unknown command 'gen'" in f.evidence["stopped"]


def test_opaque_output_reaching_a_shell_is_high(checker):
    stored = lzma.compress(random.Random(4).randbytes(4096))
    files = {"tests/files/noise.xz": stored, "tests/run.sh": "#!/bin/sh\nxz -dc $srcdir/files/noise.xz | sh\n"}
    f = pc212(run(checker, files), "tests/files/noise.xz")
    assert f.severity == Severity.HIGH and f.evidence["output"]["kind"] == "opaque"


def test_cli_reports_the_chain_of_a_git_commit(checker, object_file):
    """Through the CLI on a git tree whose second commit adds the fixture and the Makefile.am rule."""
    base = dict(HONEST)
    payload = {"tests/fixtures/sample.txt": base64.encodebytes(object_file).decode(),
               "tests/Makefile.am": "check_PROGRAMS = t\nt_LDADD = libhelper.o\nlibhelper.o: fixtures/sample.txt\n"
                                    "\tbase64 -d $(srcdir)/fixtures/sample.txt > libhelper.o\n"}
    repo = checker.gitrepo([base, {**base, **payload}], tags="v1.1")
    cli = checker.run_cli("scan", f"git:{repo}@v1.1", "--select", "PC212", "--format", "json")
    assert cli.exit_code == 1, cli.stderr
    (f,) = cli.json()["findings"]
    assert f["rule_id"] == "PC212" and f["location"]["path"] == "tests/fixtures/sample.txt"
    assert f["evidence"]["read_at"] == "tests/Makefile.am:4"
    assert [s["command"] for s in f["evidence"]["chain"]] == ["read tests/fixtures/sample.txt",
                                                              "base64 -d ./fixtures/sample.txt >libhelper.o"]
    doc = checker.run_cli("rule", "PC212")
    assert doc.exit_code == 0 and "## What it does" in doc.stdout


def test_xz_three_stages_object_through_awk_rc4(checker, object_file):
    """The whole xz 5.6.1 shape, harmless: stage 1 (in the "corrupt" file) pipes stage 2 (cut out
    of the "good" file) into /bin/sh; stage 2 decrypts an xz stream from the same file with the
    awk RC4 program, keeps it with head and hands the object to the compiler. Each stage is
    emulated in turn; the object's hash is in the evidence."""
    rng = random.Random(11)
    encrypted = rc4_awk_encrypt(lzma.compress(object_file))
    stage2 = ("#!/bin/sh\nP=\"-fPIC -DPIC\"\np=\"good-large_compressed.lzma\"\nN=0\nW=0\n"
              "if test -z \"$Y\"; then\nN=0\nW=" + str(len(object_file)) + "\nelse\nN=" + str(len(object_file)) +
              "\nW=0\nfi\n"
              "xz -dc $top_srcdir/tests/files/$p | tail -c +" + str(4096 + 1) + " | LC_ALL=C sed \"s/\\(.\\)/\\1\\n/g\""
              " | LC_ALL=C awk '" + RC4_AWK + "' | xz -dc --single-stream | ((head -c +$N > /dev/null 2>&1) && "
              "head -c +$W) > liblzma_la-crc64-fast.o || true\n"
              "$CC -r liblzma_la-crc64-fast.o -x c - $P -o .libs/liblzma_la-crc64_fast.o < /dev/null 2>/dev/null\n"
              ).encode()
    raw2 = lzma.compress(stage2, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}])
    head = raw2 + rng.randbytes(4096 - len(raw2))
    good = lzma.compress(head + encrypted, format=lzma.FORMAT_ALONE)
    stage1 = (b"#!/bin/sh\n[ ! $(uname) = \"Linux\" ] && exit 0\nexport i=\"head -c +" + str(len(raw2)).encode() +
              b"\";(xz -dc $srcdir/tests/files/good-large_compressed.lzma|eval $i)|xz -F raw --lzma1 -dc|/bin/sh\n")
    stream = lzma.compress(stage1, check=lzma.CHECK_CRC64)
    files = {"tests/files/bad-3-corrupt_lzma2.xz": stream.translate(bytes.maketrans(b"\t -_", b" \t_-")),
             "tests/files/good-large_compressed.lzma": good}
    result = run(checker, files)
    found = {f.evidence["sink"]["kind"]: f for f in result.by_rule("PC212")
             if f.location.path == "tests/files/good-large_compressed.lzma"}
    assert set(found) >= {"shell", "toolchain", "output-file"}
    obj = found["toolchain"]
    assert obj.severity == Severity.CRITICAL
    assert obj.evidence["output"]["sha256"] == hashlib.sha256(object_file).hexdigest()
    assert obj.evidence["reader"] == "tests/files/bad-3-corrupt_lzma2.xz (stage 2 script)"
    assert obj.evidence["reader_run_by"] == "tests/files/bad-3-corrupt_lzma2.xz (decoded shell script):3"
    assert [c.split()[0] if not c.startswith("LC_ALL") else c.split()[1] for c in commands(obj)] == \
        ["read", "xz", "tail", "sed", "awk", "xz", "head"]
