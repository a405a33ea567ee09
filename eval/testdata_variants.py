#!/usr/bin/env python3
"""Payload variants for the test-data detector: one commit adding a payload to test data and the
script that decodes it, planted in a real git tree (exported at a tag, never committed here).

Each variant is ``(name, files)``: paths to write (bytes or text) and the payload path that must get
a critical finding. Payloads are harmless: scripts that echo, and an x86-64 object compiled here
with gcc. ``python eval/testdata_eval.py --mirrors DIR --variants`` plants each in a fresh copy of
a clean tree, commits it, scans the commit and counts the catches.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import lzma
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from xz_rc4 import RC4_AWK, rc4_awk_encrypt  # noqa: E402  (shared with tests/plugins/testdata)

SCRIPT = b"#!/bin/sh\n# harmless variant payload\necho 'second stage would run here'\n"


def object_file() -> bytes:
    d = Path(tempfile.mkdtemp(prefix="pc-variant-"))
    try:
        (d / "h.c").write_text("int helper_resolve(int x) { return x ^ 0x5a5a; }\n")
        subprocess.run([shutil.which("gcc") or "gcc", "-c", "-O2", "-o", str(d / "h.o"), str(d / "h.c")], check=True)
        return (d / "h.o").read_bytes()
    finally:
        shutil.rmtree(d)


def _png(extra: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    rows = b"".join(b"\0" + bytes([x, 0, 255 - x]) * 8 for x in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"") + extra)


def variants(obj: bytes) -> list[tuple[str, str, dict[str, bytes | str]]]:
    """(name, payload path, files) for every variant."""
    rng = random.Random(2024)
    gz = gzip.compress(SCRIPT, mtime=0)
    out: list[tuple[str, str, dict]] = []

    def add(name, payload, files):
        out.append((name, payload, files))

    for base in ("tests/files", "contrib/assets"):
        tag = base.split("/")[0]
        rot = gz.translate(bytes((b - 1) % 256 for b in range(256)))
        add(f"tr byte rotation ({tag})", f"{base}/bad-rot.gz", {
            f"{base}/bad-rot.gz": rot,
            "tests/test_rot.sh": f"#!/bin/sh\ntr '\\000-\\376\\377' '\\001-\\377\\000' < $srcdir/../{base}/bad-rot.gz"
                                 " | gzip -dc | sh\n"})
        image = _png(b"")
        add(f"script after PNG end, dd skip/count ({tag})", f"{base}/logo.png", {
            f"{base}/logo.png": image + gz,
            "tests/Makefile.am": f"check-local:\n\tdd if=$(top_srcdir)/{base}/logo.png bs=1 skip={len(image)} "
                                 f"count={len(gz)} 2>/dev/null | gzip -dc | $(SHELL)\n"})
        add(f"ELF object in valid .xz linked ({tag})", f"{base}/good-2-x86.xz", {
            f"{base}/good-2-x86.xz": lzma.compress(obj),
            "src/Makefile.am": f"noinst_LTLIBRARIES = libv.la\nlibv_la_LIBADD = fast.lo\n"
                               f"fast.lo: $(top_srcdir)/{base}/good-2-x86.xz\n\txz -dc $< > $@\n"})
        add(f"XORed gzip, python3 -c one-liner ({tag})", f"{base}/compat.bin", {
            f"{base}/compat.bin": bytes(b ^ 0x5A for b in gz),
            "tests/test_compat.sh": "#!/bin/sh\npython3 -c \"import sys; d=open(sys.argv[1],'rb').read(); "
                                    "sys.stdout.buffer.write(bytes(b ^ 0x5a for b in d))\" "
                                    f"$srcdir/../{base}/compat.bin | gzip -dc | sh\n"})
        body = rng.randbytes(20000) + SCRIPT + rng.randbytes(5000)
        add(f"script sliced from good .lzma by head -c, tail -c ({tag})", f"{base}/good-large.lzma", {
            f"{base}/good-large.lzma": lzma.compress(body, format=lzma.FORMAT_ALONE),
            "tests/test_large.sh": f"#!/bin/sh\nxz -dc $srcdir/../{base}/good-large.lzma | head -c {20000 + len(SCRIPT)}"
                                   f" | tail -c {len(SCRIPT)} | sh\n"})
        add(f"base64 text fixture to ELF in Makefile.am ({tag})", f"{base}/fixtures/sample.txt", {
            f"{base}/fixtures/sample.txt": base64.encodebytes(obj).decode(),
            f"{base}/Makefile.am": "check_PROGRAMS = t\nt_LDADD = libhelper.o\nlibhelper.o: fixtures/sample.txt\n"
                                   "\tbase64 -d $(srcdir)/fixtures/sample.txt > libhelper.o\n"})
    # shapes the unit tests do not use
    add("hex fixture, xxd -r -p, CMake custom command", "tests/data/table.hex", {
        "tests/data/table.hex": lzma.compress(SCRIPT).hex() + "\n",
        "tests/CMakeLists.txt": "add_custom_target(prep COMMAND sh -c \"xxd -r -p "
                                "${CMAKE_CURRENT_SOURCE_DIR}/data/table.hex | xz -dc | sh\")\n"})
    add("base32 + bzip2 into bash", "tests/data/b32.txt", {
        "tests/data/b32.txt": base64.b32encode(bz2.compress(SCRIPT)).decode() + "\n",
        "tests/run_b32.sh": "#!/bin/bash\nbase32 -d \"${srcdir:-.}/data/b32.txt\" | bunzip2 -c | bash -s\n"})
    add("rev then base64 -d, through eval", "tests/data/rev.txt", {
        "tests/data/rev.txt": base64.b64encode(SCRIPT).decode()[::-1] + "\n",
        "tests/run_rev.sh": "#!/bin/sh\ncode=$(rev < $srcdir/data/rev.txt | base64 -d)\neval \"$code\"\n"})
    lines = ["# header line", "# another", "BEGIN"] + base64.encodebytes(SCRIPT).decode().splitlines() + ["END", "tail"]
    add("sed range extracts a base64 block", "tests/data/notes.txt", {
        "tests/data/notes.txt": "\n".join(lines) + "\n",
        "tests/run_notes.sh": "#!/bin/sh\nsed -n '/^BEGIN$/,/^END$/p' $srcdir/data/notes.txt | sed '1d;$d' "
                              "| base64 -d | sh\n"})
    add("awk line range + cut -b", "tests/data/grid.txt", {
        "tests/data/grid.txt": "xx\nyy\n" + "".join("@@" + ln + "\n" for ln in
                                                   base64.encodebytes(SCRIPT).decode().splitlines()) + "zz\n",
        "tests/run_grid.sh": "#!/bin/sh\nn=$(( 2 + 2 ))\nawk 'NR>=3 && NR<=5' $srcdir/data/grid.txt | cut -b 3- "
                             "| base64 -d | sh\n"})
    key = b"s3cr3t"
    add("Node helper, repeating-key XOR", "tests/data/blob.bin", {
        "tests/data/blob.bin": bytes(b ^ key[i % len(key)] for i, b in enumerate(gz)),
        "tests/tools/unmask.js": "const fs = require('fs');\nconst zlib = require('zlib');\nconst key = 's3cr3t';\n"
                                 "const d = fs.readFileSync('tests/data/blob.bin');\n"
                                 "const x = d.map((b, i) => b ^ key[i % key.length].charCodeAt(0));\n"
                                 "require('child_process').execSync('sh', {input: zlib.gunzipSync(x)});\n"})
    add("decoded shared object via LD_PRELOAD", "tests/data/preload.b64", {
        "tests/data/preload.b64": base64.encodebytes(gzip.compress(obj, mtime=0)).decode(),
        "tests/run_preload.sh": "#!/bin/sh\nbase64 -d $srcdir/data/preload.b64 | gunzip > libtest.so\n"
                                "LD_PRELOAD=./libtest.so ./test_prog\n"})
    add("chmod +x and execute", "tests/data/tool.xz", {
        "tests/data/tool.xz": lzma.compress(obj),
        "tests/run_tool.sh": "#!/bin/sh\nxz -dc $srcdir/data/tool.xz > helper\nchmod +x helper\n./helper\n"})
    add("meson run_command, zstd", "tests/data/init.zst", {
        "tests/data/init.zst": __import__("zstandard").ZstdCompressor().compress(SCRIPT),
        "tests/meson.build": "r = run_command('sh', '-c', 'zstd -dc ' + meson.current_source_dir() / 'data/init.zst'"
                             " + ' | sh', check : false)\n"})
    add("awk RC4 (xz's program) then xz into sh", "tests/data/enc.bin", {
        "tests/data/enc.bin": rc4_awk_encrypt(lzma.compress(SCRIPT)),
        "tests/run_enc.sh": "#!/bin/sh\nLC_ALL=C sed 's/\\(.\\)/\\1\\n/g' $srcdir/data/enc.bin | LC_ALL=C awk '"
                            + RC4_AWK + "' | xz -dc | sh\n"})
    return out
