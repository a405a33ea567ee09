"""The pipeline emulator follows the constructs a reader uses to reach test data, not idioms.

Each case hides the same harmless script in test data and reaches it through one construct
(a ``case`` arm, a ``while read`` loop, ``find -exec``, ``xargs``, a later ``if`` branch,
process substitution, parameter expansion, an expanded here-document, positional parameters,
a CMake output variable, a make pattern rule or ``$(shell)``, a Python program on standard
input or in a file, a Node script using ``__dirname``, ``IFS=, read``, ``cut -f``). The scan
must give a critical PC212 on the payload file, with the construct's commands in the chain.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma
import zlib

import pytest
from fixture_archives import tar_bytes, zip_bytes

import provcheck_testdata
from provcheck import Severity

SCRIPT = b"#!/bin/sh\n# harmless stand-in\necho 'payload would run here'\n"
GZ = gzip.compress(SCRIPT, mtime=0)
B64 = base64.b64encode(SCRIPT).decode()
HONEST = {
    "README": "demo library\n",
    "configure.ac": "AC_INIT([demo], [1.0])\nAM_INIT_AUTOMAKE\nAC_PROG_CC\nAC_OUTPUT\n",
    "src/demo.c": "int demo(void) { return 1; }\n",
}


def _aes_cbc(data: bytes, key: bytes, iv: bytes) -> bytes:   # what `openssl enc -aes-128-cbc -K -iv` writes
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    pad = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(pad.update(data) + pad.finalize()) + enc.finalize()


TAR, ZIP = tar_bytes("init.sh", SCRIPT), zip_bytes("init.sh", SCRIPT)
KEY, IV = "000102030405060708090a0b0c0d0e0f", "0f0e0d0c0b0a09080706050403020100"
AES = _aes_cbc(SCRIPT, bytes.fromhex(KEY), bytes.fromhex(IV))


def run(checker, files):
    checker.add_plugin(provcheck_testdata)
    return checker.run(checker.tree({**HONEST, **files}), select=["PC2"])


CASES = {
    "case arm": ("tests/data/mode.gz", {
        "tests/data/mode.gz": GZ,
        "tests/run.sh": "#!/bin/sh\ncase \"${1:-fast}\" in\n  slow) echo slow ;;\n  fast|*)\n"
                        "    gzip -dc \"$srcdir/data/mode.gz\" | sh ;;\nesac\n"}),
    "while read assembles lines": ("tests/data/lines.txt", {
        "tests/data/lines.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run.sh": "#!/bin/sh\nout=\nwhile IFS= read -r l; do\n  out=\"$out$l\"\ndone < \"$srcdir/data/lines.txt\"\n"
                        "printf '%s' \"$out\" | base64 -d | sh\n"}),
    "while read hex bytes, printf": ("tests/data/bytes.txt", {
        "tests/data/bytes.txt": "".join(f"{b:02x}\n" for b in SCRIPT),
        "tests/run.sh": "#!/bin/bash\nwhile read -r h; do printf \"\\x$h\"; done < $srcdir/data/bytes.txt | bash\n"}),
    "find -exec": ("tests/data/blob.dat", {
        "tests/data/blob.dat": base64.b64encode(GZ).decode() + "\n",
        "tests/run.sh": "#!/bin/sh\nfind \"$srcdir/data\" -name 'blob.dat' -exec cat {} \\; | base64 -d | gzip -dc | sh\n"}),
    "ls | sort | xargs cat of parts": ("tests/data/p1.part", {
        "tests/data/p1.part": GZ[:20], "tests/data/p2.part": GZ[20:40], "tests/data/p3.part": GZ[40:],
        "tests/run.sh": "#!/bin/sh\nls \"$srcdir\"/data/p*.part | sort | xargs cat | gzip -dc | sh\n"}),
    "later if branch names the file": ("tests/data/alt.xz", {
        "tests/data/alt.xz": lzma.compress(SCRIPT),
        "tests/run.sh": "#!/bin/sh\nif [ -n \"$USE_SYSTEM\" ]; then\n  f=/usr/share/doc/x\nelse\n"
                        "  f=$srcdir/data/alt.xz\nfi\nxz -dc \"$f\" | sh\n"}),
    "process substitution": ("tests/data/ps.gz", {
        "tests/data/ps.gz": GZ,
        "tests/run.sh": "#!/bin/bash\nbash <(gzip -dc \"$srcdir/data/ps.gz\")\n"}),
    "parameter expansion builds the path": ("tests/payloads/pe.gz", {
        "tests/payloads/pe.gz": GZ,
        "tests/run_pe.sh": "#!/bin/sh\nname=run_pe.sh\nbase=${name%.sh}\nstem=${base#run_}\n"
                           "gzip -dc $srcdir/payloads/$stem.gz | sh\n"}),
    "here-document with command substitution": ("tests/data/hd.xz", {
        "tests/data/hd.xz": lzma.compress(SCRIPT),
        "tests/run.sh": "#!/bin/sh\nsh <<EOF\n$(xz -dc $srcdir/data/hd.xz)\nEOF\n"}),
    "positional parameters": ("tests/data/s1.bin", {
        "tests/data/s1.bin": GZ[:30], "tests/data/s2.bin": GZ[30:],
        "tests/run.sh": "#!/bin/sh\nset -- $srcdir/data/s1.bin $srcdir/data/s2.bin\n"
                        "for f; do cat \"$f\"; done | gunzip | sh\n"}),
    "cmake output variable": ("tests/data/cm.gz", {
        "tests/data/cm.gz": GZ,
        "tests/CMakeLists.txt": "execute_process(COMMAND gzip -dc ${CMAKE_CURRENT_SOURCE_DIR}/data/cm.gz "
                                "OUTPUT_VARIABLE init)\nexecute_process(COMMAND sh -c \"${init}\")\n"}),
    "make $(shell) in a variable": ("tests/data/mk.xz", {
        "tests/data/mk.xz": lzma.compress(SCRIPT),
        "tests/GNUmakefile": "PAYLOAD := $(shell xz -dc data/mk.xz)\ncheck:\n\t@sh -c '$(PAYLOAD)'\n"}),
    "python program in a here-document": ("tests/data/py.bz2", {
        "tests/data/py.bz2": bz2.compress(SCRIPT),
        "tests/run.sh": "#!/bin/sh\npython3 - \"$srcdir/data/py.bz2\" <<'EOF'\nimport bz2, os, sys\n"
                        "code = bz2.decompress(open(sys.argv[1], 'rb').read()).decode()\nos.system(code)\nEOF\n"}),
    "python script using __file__": ("tests/data/model.bin", {
        "tests/data/model.bin": bz2.compress(SCRIPT),
        "tests/prep_model.py": "import bz2\nimport os\nimport subprocess\n\nHERE = os.path.dirname(__file__)\n\n\n"
                               "def load():\n    with open(os.path.join(HERE, 'data', 'model.bin'), 'rb') as f:\n"
                               "        return bz2.decompress(f.read())\n\n\nif __name__ == '__main__':\n"
                               "    subprocess.run(['sh'], input=load(), check=False)\n"}),
    "node script using __dirname": ("tests/data/n.b64", {
        "tests/data/n.b64": base64.b64encode(GZ).decode(),
        "tests/gen.js": "const fs = require('fs');\nconst zlib = require('zlib');\n"
                        "const { spawnSync } = require('child_process');\n"
                        "const raw = Buffer.from(fs.readFileSync(__dirname + '/data/n.b64', 'utf8'), 'base64');\n"
                        "spawnSync('sh', [], { input: zlib.gunzipSync(raw) });\n"}),
    "IFS=, read fields then eval": ("tests/data/rec.txt", {
        "tests/data/rec.txt": "id,name," + B64 + "\n",
        "tests/run.sh": "#!/bin/sh\nIFS=, read -r id name blob < $srcdir/data/rec.txt\n"
                        "eval \"$(echo \"$blob\" | base64 -d)\"\n"}),
    "cut -d -f column": ("tests/data/table.csv", {
        "tests/data/table.csv": "".join(f"{i},{c}\n" for i, c in enumerate(base64.encodebytes(SCRIPT).decode().split())),
        "tests/run.sh": "#!/bin/sh\ncut -d, -f2 $srcdir/data/table.csv | tr -d '\\n' | base64 -d | sh\n"}),
    "mapfile array": ("tests/data/arr.txt", {
        "tests/data/arr.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run.sh": "#!/bin/bash\nmapfile -t lines < $srcdir/data/arr.txt\n"
                        "printf '%s\\n' \"${lines[@]}\" | base64 -d | bash\n"}),
    "bash array of parts": ("tests/data/a1.bin", {
        "tests/data/a1.bin": GZ[:30], "tests/data/a2.bin": GZ[30:],
        "tests/run.sh": "#!/bin/bash\nparts=(\"$srcdir/data/a1.bin\" \"$srcdir/data/a2.bin\")\n"
                        "cat \"${parts[@]}\" | gunzip | bash\n"}),
    "here-string of $(< file)": ("tests/data/hs.b64", {
        "tests/data/hs.b64": B64 + "\n",
        "tests/run.sh": "#!/bin/bash\ndata=$(< $srcdir/data/hs.b64)\nbase64 -d <<< \"$data\" | bash\n"}),
    "tar -xOf member": ("tests/data/bundle.tar", {
        "tests/data/bundle.tar": TAR,
        "tests/run.sh": "#!/bin/sh\ntar -xOf $srcdir/data/bundle.tar init.sh | sh\n"}),
    "unzip -p member": ("tests/data/bundle.zip", {
        "tests/data/bundle.zip": ZIP,
        "tests/run.sh": "#!/bin/sh\nunzip -p $srcdir/data/bundle.zip init.sh | sh\n"}),
    "python lzma.open": ("tests/data/lo.xz", {
        "tests/data/lo.xz": lzma.compress(SCRIPT),
        "tests/run.sh": "#!/bin/sh\npython3 -c \"import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())\""
                        " $srcdir/data/lo.xz | sh\n"}),
    "perl hex pairs to chr": ("tests/data/ph.txt", {
        "tests/data/ph.txt": SCRIPT.hex() + "\n",
        "tests/run.sh": "#!/bin/sh\nperl -pe 's/([0-9a-f]{2})/chr(hex($1))/ge' $srcdir/data/ph.txt | sh\n"}),
    "awk getline from a file named by ARGV": ("tests/data/gl.txt", {
        "tests/data/gl.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run.sh": "#!/bin/sh\nawk 'BEGIN { while ((getline l < ARGV[1]) > 0) printf \"%s\", l }' "
                        "$srcdir/data/gl.txt | base64 -d | sh\n"}),
    "python bytes.fromhex": ("tests/data/fh.txt", {
        "tests/data/fh.txt": SCRIPT.hex(),
        "tests/run.sh": "#!/bin/sh\npython3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1])"
                        ".read().strip()))' $srcdir/data/fh.txt | sh\n"}),
    "python zlib.decompressobj": ("tests/data/zo.txt", {
        "tests/data/zo.txt": base64.b64encode(zlib.compress(SCRIPT)).decode(),
        "tests/run.sh": "#!/bin/sh\npython3 -c 'import base64,sys,zlib; d=zlib.decompressobj(); sys.stdout.write("
                        "d.decompress(base64.b64decode(open(sys.argv[1]).read())).decode())' $srcdir/data/zo.txt | sh\n"}),
    "while read from process substitution, +=": ("tests/data/ps2.txt", {
        "tests/data/ps2.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run.sh": "#!/bin/bash\nbuf=\nwhile read -r l; do buf+=\"$l\"; done < <(cat $srcdir/data/ps2.txt)\n"
                        "echo \"$buf\" | base64 -d | bash\n"}),
    "python codecs.decode hex of text": ("tests/data/cd.txt", {
        "tests/data/cd.txt": SCRIPT.hex(),
        "tests/run.sh": "#!/bin/sh\npython3 -c 'import codecs,sys; sys.stdout.write(codecs.decode(open(sys.argv[1])"
                        ".read().strip(), \"hex\").decode())' $srcdir/data/cd.txt | sh\n"}),
    "python gzip.GzipFile(fileobj=)": ("tests/data/gf.gz", {
        "tests/data/gf.gz": GZ,
        "tests/run.sh": "#!/bin/sh\npython3 -c 'import gzip,sys; sys.stdout.buffer.write(gzip.GzipFile("
                        "fileobj=open(sys.argv[1],\"rb\")).read())' $srcdir/data/gf.gz | sh\n"}),
    "perl unpack m": ("tests/data/pu.txt", {
        "tests/data/pu.txt": B64 + "\n",
        "tests/run.sh": "#!/bin/sh\nperl -ne 'print unpack(\"m\", $_)' $srcdir/data/pu.txt | sh\n"}),
    "openssl enc -d -aes-128-cbc with -K/-iv": ("tests/data/enc.aes", {
        "tests/data/enc.aes": AES,
        "tests/run.sh": f"#!/bin/sh\nopenssl enc -d -aes-128-cbc -K {KEY} -iv {IV} -in $srcdir/data/enc.aes | sh\n"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_construct_is_followed_to_the_shell(checker, name):
    payload, files = CASES[name]
    result = run(checker, files)
    hits = [f for f in result.by_rule("PC212") if f.location.path == payload]
    assert hits, [(f.rule_id, f.location.path, f.message) for f in result.findings]
    assert hits[0].severity == Severity.CRITICAL
    assert hits[0].evidence["output"]["kind"] in ("script", "text", "compressed")


def test_object_made_by_a_make_pattern_rule_is_a_build_input(checker, object_file):
    files = {"tests/data/helper.xz": lzma.compress(object_file),
             "tests/Makefile.am": "check_PROGRAMS = t\nt_LDADD = data/helper.o\n%.o: %.xz\n\txz -dc $< > $@\n"}
    f = [f for f in run(checker, files).by_rule("PC212") if f.location.path == "tests/data/helper.xz"][0]
    assert f.severity == Severity.CRITICAL
    assert f.evidence["sink"]["kind"] == "output-file" and "data/helper.o" in f.evidence["sink"]["how"]
    assert "xz -dc data/helper.xz" in " ".join(s["command"] for s in f.evidence["chain"])


def test_where_test_data_is_lost_is_reported_in_the_notes(checker):
    files = {"tests/data/x.bin": GZ,
             "tests/run.sh": "#!/bin/sh\n./tests/mydecoder $srcdir/data/x.bin > out.txt\n"}
    result = run(checker, files)
    notes = [n for n in result.report.notes if n.startswith("testdata:")]
    assert notes and "tests/run.sh:2: unknown command 'mydecoder'; it is given tests/data/x.bin" in notes[0], result.report.notes


def test_branch_combinations_are_bounded_and_reported(checker):
    ifs = "".join(f"if [ -n \"$A{k}\" ]; then v{k}=/dev/null; else v{k}=$srcdir/data/x.gz; fi\n" for k in range(8))
    files = {"tests/data/x.gz": GZ,
             "tests/run.sh": "#!/bin/sh\n" + ifs + "gzip -dc $srcdir/data/x.gz $v0 $v1 $v2 $v3 $v4 $v5 $v6 $v7"
                             " > /dev/null\n"}
    result = run(checker, files)
    result.assert_no_errors()
    notes = " ".join(result.report.notes)
    assert "branch combinations" in notes


def test_decoding_for_a_comparison_inside_a_loop_stays_quiet(checker):
    files = {"tests/data/a.gz": GZ, "tests/data/b.gz": GZ,
             "tests/run.sh": "#!/bin/sh\nfor f in $srcdir/data/*.gz; do\n  case $f in\n    *a.gz) gzip -dc $f | cmp - "
                             "$srcdir/expected ;;\n    *) gzip -dc $f > /dev/null ;;\n  esac\ndone\n"}
    result = run(checker, files)
    assert not result.by_rule("PC212"), [f.message for f in result.findings]


def test_a_real_openssl_ciphertext_is_decrypted(checker):
    """The ciphertext comes from the real openssl, with a password (EVP_BytesToKey and PBKDF2)."""
    import shutil
    import subprocess
    if shutil.which("openssl") is None:
        pytest.fail("openssl is required (scripts/system-deps.sh installs it)")
    for extra in ([], ["-pbkdf2"]):
        enc = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-salt", "-pass", "pass:s3cret", *extra],
                             input=SCRIPT, capture_output=True, check=True).stdout
        files = {"tests/data/p.enc": enc,
                 "tests/run.sh": "#!/bin/sh\nopenssl enc -d -aes-256-cbc -pass pass:s3cret " + " ".join(extra)
                                 + " -in $srcdir/data/p.enc | sh\n"}
        hits = [f for f in run(checker, files).by_rule("PC212") if f.location.path == "tests/data/p.enc"]
        assert hits and hits[0].severity == Severity.CRITICAL, extra


@pytest.mark.parametrize("reader,payload", [
    ("tar -xOf $srcdir/data/x.tar a | sh", b"not a tar archive at all" * 40),
    ("unzip -p $srcdir/data/x.tar a | sh", b"PK\x03\x04" + b"\xff" * 300),
    ("openssl enc -d -aes-128-cbc -K 00 -iv 00 -in $srcdir/data/x.tar | sh", b"\x01" * 33),
])
def test_hostile_archives_and_ciphertexts_stop_with_a_reason(checker, reader, payload):
    result = run(checker, {"tests/data/x.tar": payload, "tests/run.sh": "#!/bin/sh\n" + reader + "\n"})
    assert not [e for e in result.errors if "emulator failed" in e.message], [e.message for e in result.errors]
    assert any("tests/run.sh:2" in n for n in result.report.notes), result.report.notes


def test_awk_getline_forms():
    from provcheck_testdata import awk

    def run(program, data=b"", files=None, argv=None):
        return awk.run(program, data, {}, lambda: None, 1 << 20, argv=argv,
                       read_file=(files or {}).get).decode()
    assert run("{ getline; print }", b"a\nb\nc\nd\n") == "b\nd\n"              # skips every other record
    assert run("{ getline x; print $0 \"-\" x \"-\" NR }", b"a\nb\n") == "a-b-2\n"
    assert run('BEGIN { while ((getline l < "f") > 0) n++; print n, l }', files={"f": b"1\n2\n3\n"}) == "3 3\n"
    assert run('BEGIN { print (getline l < "missing") }') == "-1\n"
    assert run("BEGIN { print ARGC, ARGV[1] }", argv=["in.txt"]) == "2 in.txt\n"


def test_a_file_python_never_closes_is_written_at_exit(checker, object_file):
    """meson's custom_target runs ``python3 -c`` that opens its output and never closes it."""
    files = {"tests/data/mp.b64": base64.b64encode(object_file).decode(),
             "tests/meson.build": "py = find_program('python3')\nhelper = custom_target('h', input : 'data/mp.b64', "
                                  "output : 'h.o', command : [py, '-c', 'import base64,sys; open(sys.argv[2],\"wb\")"
                                  ".write(base64.b64decode(open(sys.argv[1]).read()))', '@INPUT@', '@OUTPUT@'])\n"
                                  "executable('t', 't.c', objects : helper)\n"}
    hits = [f for f in run(checker, files).by_rule("PC212") if f.location.path == "tests/data/mp.b64"]
    assert hits and hits[0].severity == Severity.CRITICAL and hits[0].evidence["sink"]["kind"] == "output-file"
