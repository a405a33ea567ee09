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
import binascii
import codecs
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
from fixture_archives import tar_bytes, zip_bytes  # noqa: E402  (shared with tests/plugins/testdata)
from xz_rc4 import RC4_AWK, rc4_awk_encrypt  # noqa: E402

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


def _uuencode(data: bytes, name: str) -> str:
    lines = [binascii.b2a_uu(data[k:k + 45]).decode() for k in range(0, len(data), 45)]
    return f"begin 644 {name}\n" + "".join(lines) + "`\nend\n"


def heldout_variants(obj: bytes) -> list[tuple[str, str, dict[str, bytes | str]]]:
    """Six rounds of shapes written after the detector, each before looking at what it follows:
    measured first as written, then kept as a regression set (docs/plugins/testdata.md)."""
    gz = gzip.compress(SCRIPT, mtime=0)
    b64 = base64.b64encode(SCRIPT).decode()
    out: list[tuple[str, str, dict]] = []

    def add(name, payload, files):
        out.append((name, payload, files))

    # round 1
    add("case arm decodes", "tests/data/mode.gz", {
        "tests/data/mode.gz": gz,
        "tests/run_mode.sh": "#!/bin/sh\nmode=${1:-fast}\ncase \"$mode\" in\n  slow) echo slow ;;\n  fast|*)\n    gzip -dc \"$srcdir/data/mode.gz\" | sh ;;\nesac\n"})
    add("while read assembles lines", "tests/data/lines.txt", {
        "tests/data/lines.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run_lines.sh": "#!/bin/sh\nout=\nwhile IFS= read -r l; do\n  out=\"$out$l\"\ndone < \"$srcdir/data/lines.txt\"\nprintf '%s' \"$out\" | base64 -d | sh\n"})
    add("find -exec cat", "tests/data/blob.dat", {
        "tests/data/blob.dat": base64.b64encode(gz).decode() + "\n",
        "tests/run_find.sh": "#!/bin/sh\nfind \"$srcdir/data\" -name 'blob.dat' -exec cat {} \\; | base64 -d | gzip -dc | sh\n"})
    parts = [gz[:20], gz[20:40], gz[40:]]
    add("xargs cat of split parts", "tests/data/p1.part", {
        "tests/data/p1.part": parts[0], "tests/data/p2.part": parts[1], "tests/data/p3.part": parts[2],
        "tests/run_parts.sh": "#!/bin/sh\nls \"$srcdir\"/data/p*.part | sort | xargs cat | gzip -dc | sh\n"})
    add("cat of split parts", "tests/data/q1.bin", {
        "tests/data/q1.bin": parts[0], "tests/data/q2.bin": parts[1], "tests/data/q3.bin": parts[2],
        "tests/run_q.sh": "#!/bin/sh\nd=$srcdir/data\ncat $d/q1.bin $d/q2.bin $d/q3.bin | gunzip | sh\n"})
    rot = codecs.encode(base64.b64encode(SCRIPT).decode(), "rot13")
    add("perl rot13 then base64", "tests/data/r13.txt", {
        "tests/data/r13.txt": rot + "\n",
        "tests/run_r13.sh": "#!/bin/sh\nperl -pe 'tr/A-Za-z/N-ZA-Mn-za-m/' $srcdir/data/r13.txt | base64 -d | sh\n"})
    add("printf of hex escapes", "tests/data/esc.hex", {
        "tests/data/esc.hex": SCRIPT.hex() + "\n",
        "tests/run_esc.sh": "#!/bin/bash\nprintf \"$(sed 's/../\\\\x&/g' $srcdir/data/esc.hex)\" | bash\n"})
    add("python script file, bz2, subprocess", "tests/data/model.bin", {
        "tests/data/model.bin": bz2.compress(SCRIPT),
        "tests/prep_model.py": "import bz2\nimport subprocess\nimport os\n\nHERE = os.path.dirname(__file__)\n\n\ndef load():\n    with open(os.path.join(HERE, 'data', 'model.bin'), 'rb') as f:\n        return bz2.decompress(f.read())\n\n\nif __name__ == '__main__':\n    subprocess.run(['sh'], input=load(), check=False)\n"})
    add("shell function wraps decoder", "tests/data/fn.gz", {
        "tests/data/fn.gz": gz,
        "tests/run_fn.sh": "#!/bin/sh\nunpack() {\n  gzip -dc \"$1\"\n}\nunpack \"$srcdir/data/fn.gz\" | sh\n"})
    add("if else branch names the file", "tests/data/alt.xz", {
        "tests/data/alt.xz": lzma.compress(SCRIPT),
        "tests/run_alt.sh": "#!/bin/sh\nif [ -n \"$USE_SYSTEM\" ]; then\n  f=/usr/share/doc/x\nelse\n  f=$srcdir/data/alt.xz\nfi\nxz -dc \"$f\" | sh\n"})
    img = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
    add("tail -c + head -c after JPEG end", "tests/data/photo.jpg", {
        "tests/data/photo.jpg": img + gz,
        "tests/run_photo.sh": f"#!/bin/sh\ntail -c +{len(img)+1} $srcdir/data/photo.jpg | head -c {len(gz)} | gzip -dc | sh\n"})
    add("dd blocks skip", "tests/data/disk.img", {
        "tests/data/disk.img": bytes(1024) + lzma.compress(SCRIPT) + bytes(512),
        "tests/run_disk.sh": "#!/bin/sh\ndd if=$srcdir/data/disk.img bs=512 skip=2 2>/dev/null | xz -dc 2>/dev/null | sh\n"})
    add("sh -c of command substitution", "tests/data/cs.xz", {
        "tests/data/cs.xz": lzma.compress(SCRIPT),
        "tests/run_cs.sh": "#!/bin/sh\nsh -c \"$(xz -dc $srcdir/data/cs.xz)\"\n"})
    add("bash process substitution", "tests/data/ps.gz", {
        "tests/data/ps.gz": gz,
        "tests/run_ps.sh": "#!/bin/bash\nbash <(gzip -dc \"$srcdir/data/ps.gz\")\n"})
    add("source of decoded temp file", "tests/data/src.b64", {
        "tests/data/src.b64": base64.encodebytes(SCRIPT).decode(),
        "tests/run_src.sh": "#!/bin/sh\ntmp=${TMPDIR:-/tmp}/t.$$\nbase64 -d < $srcdir/data/src.b64 > $tmp\n. $tmp\nrm -f $tmp\n"})
    add("parameter expansion builds the path", "tests/data/pe.gz", {
        "tests/data/pe.gz": gz,
        "tests/run_pe.sh": "#!/bin/sh\nname=run_pe.sh\nbase=${name%.sh}\nstem=${base#run_}\ngzip -dc $srcdir/data/$stem.gz | sh\n"})
    add("tr delete junk then base64", "tests/data/junk.txt", {
        "tests/data/junk.txt": "".join(c + "#" for c in base64.b64encode(SCRIPT).decode()) + "\n",
        "tests/run_junk.sh": "#!/bin/sh\ntr -d '#' < $srcdir/data/junk.txt | base64 -d | sh\n"})
    add("zlib raw via python -c", "tests/data/raw.z", {
        "tests/data/raw.z": zlib.compress(SCRIPT),
        "tests/run_raw.sh": "#!/bin/sh\npython3 -c 'import sys,zlib;sys.stdout.write(zlib.decompress(open(sys.argv[1],\"rb\").read()).decode())' $srcdir/data/raw.z | sh\n"})
    add("Makefile.am variable indirection", "tests/data/mk.gz", {
        "tests/data/mk.gz": gz,
        "tests/Makefile.am": "FIXTURE = data/mk.gz\nDECODE = gzip -dc\ncheck-local:\n\t$(DECODE) $(srcdir)/$(FIXTURE) | $(SHELL)\n"})
    add("xxd plain hex dump reversed", "tests/data/dump.txt", {
        "tests/data/dump.txt": "".join(f"{i*16:08x}: " + " ".join(SCRIPT[i*16:i*16+16][j:j+2].hex() for j in range(0,16,2)) + "\n" for i in range((len(SCRIPT)+15)//16)),
        "tests/run_dump.sh": "#!/bin/sh\nxxd -r $srcdir/data/dump.txt | sh\n"})
    # round 2
    add("heredoc with command substitution", "tests/data/hd.xz", {
        "tests/data/hd.xz": lzma.compress(SCRIPT),
        "tests/run_hd.sh": "#!/bin/sh\nsh <<EOF\n$(xz -dc $srcdir/data/hd.xz)\nEOF\n"})
    add("awk -f program file", "tests/data/nums.txt", {
        "tests/data/nums.txt": " ".join(str(b) for b in SCRIPT) + "\n",
        "tests/dec.awk": "{ for (i = 1; i <= NF; i++) printf \"%c\", $i }\n",
        "tests/run_awk.sh": "#!/bin/sh\nawk -f $srcdir/dec.awk $srcdir/data/nums.txt | sh\n"})
    add("command in a variable", "tests/data/var.xz", {
        "tests/data/var.xz": lzma.compress(SCRIPT),
        "tests/run_var.sh": "#!/bin/sh\nDEC=\"xz -dc\"\nRUN=sh\n$DEC $srcdir/data/var.xz | $RUN\n"})
    add("positional parameters loop", "tests/data/s1.bin", {
        "tests/data/s1.bin": gz[:30], "tests/data/s2.bin": gz[30:],
        "tests/run_pos.sh": "#!/bin/sh\nset -- $srcdir/data/s1.bin $srcdir/data/s2.bin\nfor f; do cat \"$f\"; done | gunzip | sh\n"})
    add("cmake execute_process output variable", "tests/data/cm.gz", {
        "tests/data/cm.gz": gz,
        "tests/CMakeLists.txt": "execute_process(COMMAND gzip -dc ${CMAKE_CURRENT_SOURCE_DIR}/data/cm.gz OUTPUT_VARIABLE init)\nexecute_process(COMMAND sh -c \"${init}\")\n"})
    add("make pattern rule object", "tests/data/helper.xz", {
        "tests/data/helper.xz": lzma.compress(obj),
        "tests/Makefile.am": "check_PROGRAMS = t\nt_LDADD = data/helper.o\n%.o: %.xz\n\txz -dc $< > $@\n"})
    add("csv column then base64", "tests/data/table.csv", {
        "tests/data/table.csv": "".join(f"{i},{chunk}\n" for i, chunk in enumerate(base64.encodebytes(SCRIPT).decode().split())),
        "tests/run_csv.sh": "#!/bin/sh\ncut -d, -f2 $srcdir/data/table.csv | tr -d '\\n' | base64 -d | sh\n"})
    add("tr rot13 then base64", "tests/data/t13.txt", {
        "tests/data/t13.txt": codecs.encode(base64.b64encode(SCRIPT).decode(), "rot13") + "\n",
        "tests/run_t13.sh": "#!/bin/sh\ntr 'A-Za-z' 'N-ZA-Mn-za-m' < $srcdir/data/t13.txt | base64 -d | sh\n"})
    add("python heredoc program, os.system", "tests/data/py.bz2", {
        "tests/data/py.bz2": bz2.compress(SCRIPT),
        "tests/run_py.sh": "#!/bin/sh\npython3 - \"$srcdir/data/py.bz2\" <<'EOF'\nimport bz2, os, sys\ncode = bz2.decompress(open(sys.argv[1], 'rb').read()).decode()\nos.system(code)\nEOF\n"})
    add("bash -c of cat | base64", "tests/data/bc.b64", {
        "tests/data/bc.b64": base64.encodebytes(SCRIPT).decode(),
        "tests/run_bc.sh": "#!/bin/bash\nbash -c \"$(cat $srcdir/data/bc.b64 | base64 -d)\"\n"})
    add("dd skip_bytes", "tests/data/sb.bin", {
        "tests/data/sb.bin": b"HEADER--" * 10 + gz,
        "tests/run_sb.sh": "#!/bin/sh\ndd if=$srcdir/data/sb.bin iflag=skip_bytes skip=80 status=none | gzip -dc | sh\n"})
    add("node script file, spawnSync", "tests/data/n.b64", {
        "tests/data/n.b64": base64.b64encode(gz).decode(),
        "tests/gen.js": "const fs = require('fs');\nconst zlib = require('zlib');\nconst { spawnSync } = require('child_process');\nconst raw = Buffer.from(fs.readFileSync(__dirname + '/data/n.b64', 'utf8'), 'base64');\nspawnSync('sh', [], { input: zlib.gunzipSync(raw) });\n"})
    add("IFS read fields then eval", "tests/data/rec.txt", {
        "tests/data/rec.txt": "id,name," + base64.b64encode(SCRIPT).decode() + "\n",
        "tests/run_rec.sh": "#!/bin/sh\nIFS=, read -r id name blob < $srcdir/data/rec.txt\neval \"$(echo \"$blob\" | base64 -d)\"\n"})
    add("perl -e xor loop", "tests/data/px.bin", {
        "tests/data/px.bin": bytes(b ^ 0x33 for b in gz),
        "tests/run_px.sh": "#!/bin/sh\nperl -e 'local $/; $d = <STDIN>; $d =~ s/(.)/chr(ord($1) ^ 0x33)/gse; print $d' < $srcdir/data/px.bin | gunzip | sh\n"})
    add("while read hex bytes printf", "tests/data/bytes.txt", {
        "tests/data/bytes.txt": "".join(f"{b:02x}\n" for b in SCRIPT),
        "tests/run_bytes.sh": "#!/bin/bash\nwhile read -r h; do printf \"\\x$h\"; done < $srcdir/data/bytes.txt | bash\n"})
    add("gnu make $(shell) in Makefile", "tests/data/mk2.xz", {
        "tests/data/mk2.xz": lzma.compress(SCRIPT),
        "tests/GNUmakefile": "PAYLOAD := $(shell xz -dc data/mk2.xz)\ncheck:\n\t@sh -c '$(PAYLOAD)'\n"})
    add("uudecode -o file then source", "tests/data/u.uu", {
        "tests/data/u.uu": _uuencode(SCRIPT, "x.sh"),
        "tests/run_uu.sh": "#!/bin/sh\nuudecode -o ./x.sh $srcdir/data/u.uu\n. ./x.sh\n"})
    add("meson custom_target command list", "tests/data/ct.xz", {
        "tests/data/ct.xz": lzma.compress(obj),
        "tests/meson.build": "helper = custom_target('helper', input : 'data/ct.xz', output : 'helper.o', command : ['sh', '-c', 'xz -dc @INPUT@ > @OUTPUT@'])\nexecutable('t', 't.c', objects : helper)\n"})
    # round 3
    add("exec fd 3 redirect", "tests/data/fd.gz", {"tests/data/fd.gz": gz,
        "tests/run_fd.sh": "#!/bin/sh\nexec 3< $srcdir/data/fd.gz\ncat <&3 | gunzip | sh\n"})
    add("tee in the middle", "tests/data/tee.gz", {"tests/data/tee.gz": gz,
        "tests/run_tee.sh": "#!/bin/sh\ngzip -dc < $srcdir/data/tee.gz | tee log.txt | sh\n"})
    add("group skips a header from stdin", "tests/data/hdr.bin", {"tests/data/hdr.bin": b"HDR0123456" + gz,
        "tests/run_hdr.sh": "#!/bin/sh\n{ head -c 10 >/dev/null; cat; } < $srcdir/data/hdr.bin | gunzip | sh\n"})
    add("base64 --decode --ignore-garbage", "tests/data/g.txt", {"tests/data/g.txt": "!!" + b64 + "!!\n",
        "tests/run_g.sh": "#!/bin/sh\nbase64 --decode --ignore-garbage $srcdir/data/g.txt | sh\n"})
    add("openssl base64 -d -A", "tests/data/o.txt", {"tests/data/o.txt": b64 + "\n",
        "tests/run_o.sh": "#!/bin/sh\nopenssl base64 -d -A -in $srcdir/data/o.txt | sh\n"})
    add("python exec of base64", "tests/data/pyx.txt", {"tests/data/pyx.txt": base64.b64encode(b"import os\nos.system('echo second stage')\n").decode(),
        "tests/run_pyx.sh": "#!/bin/sh\npython3 -c \"import base64,sys; exec(base64.b64decode(open(sys.argv[1]).read()))\" $srcdir/data/pyx.txt\n"})
    add("perl MIME::Base64", "tests/data/pm.txt", {"tests/data/pm.txt": b64 + "\n",
        "tests/run_pm.sh": "#!/bin/sh\nperl -MMIME::Base64 -e 'print decode_base64(join(\"\", <>))' $srcdir/data/pm.txt | sh\n"})
    add("awk joins lines then base64", "tests/data/aj.txt", {"tests/data/aj.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run_aj.sh": "#!/bin/sh\nawk '{printf \"%s\", $0}' $srcdir/data/aj.txt | base64 -d | sh\n"})
    add("sed strips comment marks", "tests/data/cm.txt", {"tests/data/cm.txt": "".join("#" + l + "\n" for l in SCRIPT.decode().splitlines()),
        "tests/run_cm.sh": "#!/bin/sh\nsed -e 's/^#//' $srcdir/data/cm.txt | sh\n"})
    add("loop variable builds chunk names", "tests/data/chunk1", {"tests/data/chunk1": gz[:25], "tests/data/chunk2": gz[25:50], "tests/data/chunk3": gz[50:],
        "tests/run_ch.sh": "#!/bin/sh\nfor i in 1 2 3; do cat $srcdir/data/chunk$i; done | gzip -dc | sh\n"})
    add("source of process substitution", "tests/data/sp.b64", {"tests/data/sp.b64": b64 + "\n",
        "tests/run_sp.sh": "#!/bin/bash\nsource <(base64 -d $srcdir/data/sp.b64)\n"})
    add("zcat alias", "tests/data/z.gz", {"tests/data/z.gz": gz,
        "tests/run_z.sh": "#!/bin/sh\nzcat $srcdir/data/z.gz | sh\n"})
    add("gunzip to file, chmod 755, run", "tests/data/run.gz", {"tests/data/run.gz": gz,
        "tests/run_r.sh": "#!/bin/sh\ngunzip -c $srcdir/data/run.gz > x.sh && chmod 755 x.sh && ./x.sh\n"})
    add("dd of=/dev/stdout", "tests/data/dd.bin", {"tests/data/dd.bin": bytes(64) + gz,
        "tests/run_dd.sh": "#!/bin/sh\ndd if=$srcdir/data/dd.bin of=/dev/stdout bs=1 skip=64 2>/dev/null | gunzip | sh\n"})
    add("xxd -p -r", "tests/data/x.hex", {"tests/data/x.hex": SCRIPT.hex() + "\n",
        "tests/run_x.sh": "#!/bin/sh\nxxd -p -r $srcdir/data/x.hex | sh\n"})
    add("exported path, helper script", "tests/data/ex.gz", {"tests/data/ex.gz": gz,
        "tests/run_ex.sh": "#!/bin/sh\nexport PAYLOAD=$srcdir/data/ex.gz\nsh ./helper.sh\n",
        "tests/helper.sh": "#!/bin/sh\ngzip -dc \"$PAYLOAD\" | sh\n"})
    add("make foreach patsubst", "tests/data/fe.xz", {"tests/data/fe.xz": lzma.compress(obj),
        "tests/Makefile.am": "SRCS = data/fe.xz\nOBJS = $(patsubst %.xz,%.o,$(SRCS))\ncheck_PROGRAMS = t\nt_LDADD = $(OBJS)\n$(OBJS): $(SRCS)\n\txz -dc $< > $@\n"})
    add("bzcat into bash -s", "tests/data/bz.bz2", {"tests/data/bz.bz2": bz2.compress(SCRIPT),
        "tests/run_bz.sh": "#!/bin/sh\nbzcat $srcdir/data/bz.bz2 | bash -s -- arg\n"})
    # round 4
    add("mapfile array then printf", "tests/data/arr.txt", {"tests/data/arr.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run_arr.sh": "#!/bin/bash\nmapfile -t lines < $srcdir/data/arr.txt\nprintf '%s\\n' \"${lines[@]}\" | base64 -d | bash\n"})
    add("bash array of parts", "tests/data/a1.bin", {"tests/data/a1.bin": gz[:30], "tests/data/a2.bin": gz[30:],
        "tests/run_ap.sh": "#!/bin/bash\nparts=(\"$srcdir/data/a1.bin\" \"$srcdir/data/a2.bin\")\ncat \"${parts[@]}\" | gunzip | bash\n"})
    add("here-string of $(< file)", "tests/data/hs.b64", {"tests/data/hs.b64": b64 + "\n",
        "tests/run_hs.sh": "#!/bin/bash\ndata=$(< $srcdir/data/hs.b64)\nbase64 -d <<< \"$data\" | bash\n"})
    add("tar -xOf member to shell", "tests/data/bundle.tar", {"tests/data/bundle.tar": tar_bytes("init.sh", SCRIPT),
        "tests/run_tar.sh": "#!/bin/sh\ntar -xOf $srcdir/data/bundle.tar init.sh | sh\n"})
    add("unzip -p member to shell", "tests/data/bundle.zip", {"tests/data/bundle.zip": zip_bytes("init.sh", SCRIPT),
        "tests/run_zip.sh": "#!/bin/sh\nunzip -p $srcdir/data/bundle.zip init.sh | sh\n"})
    add("gzip -d < file > tmp, bash tmp", "tests/data/tmp.gz", {"tests/data/tmp.gz": gz,
        "tests/run_tmp.sh": "#!/bin/sh\ngzip -d < $srcdir/data/tmp.gz > ${TMPDIR:-/tmp}/x.sh\nbash ${TMPDIR:-/tmp}/x.sh\n"})
    add("awk getline from ARGV", "tests/data/gl.txt", {"tests/data/gl.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run_gl.sh": "#!/bin/sh\nawk 'BEGIN { while ((getline l < ARGV[1]) > 0) printf \"%s\", l }' $srcdir/data/gl.txt | base64 -d | sh\n"})
    add("python lzma.open", "tests/data/lo.xz", {"tests/data/lo.xz": lzma.compress(SCRIPT),
        "tests/run_lo.sh": "#!/bin/sh\npython3 -c \"import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())\" $srcdir/data/lo.xz | sh\n"})
    add("perl hex pairs to chr", "tests/data/ph.txt", {"tests/data/ph.txt": SCRIPT.hex() + "\n",
        "tests/run_ph.sh": "#!/bin/sh\nperl -pe 's/([0-9a-f]{2})/chr(hex($1))/ge' $srcdir/data/ph.txt | sh\n"})
    add("sh -c of tr -d newlines base64", "tests/data/sc.txt", {"tests/data/sc.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run_sc.sh": "#!/bin/sh\nsh -c \"$(cat $srcdir/data/sc.txt | tr -d '\\n' | base64 -d)\"\n"})
    add("decoder chosen by command -v", "tests/data/cv.xz", {"tests/data/cv.xz": lzma.compress(SCRIPT),
        "tests/run_cv.sh": "#!/bin/sh\nif command -v xz >/dev/null 2>&1; then XZ=xz; else XZ=unxz; fi\n$XZ -dc $srcdir/data/cv.xz | sh\n"})
    add("sed -n line print", "tests/data/ln.txt", {"tests/data/ln.txt": "alpha\nbeta\ngamma\n" + b64 + "\nomega\n",
        "tests/run_ln.sh": "#!/bin/sh\nsed -n '4p' $srcdir/data/ln.txt | base64 -d | sh\n"})
    add("head -n | tail -n 1", "tests/data/ht.txt", {"tests/data/ht.txt": "x\ny\n" + b64 + "\nz\n",
        "tests/run_ht.sh": "#!/bin/sh\nhead -n 3 $srcdir/data/ht.txt | tail -n 1 | base64 -d | sh\n"})
    add("case in function in loop", "tests/data/cf.gz", {"tests/data/cf.gz": gz,
        "tests/run_cf.sh": "#!/bin/sh\nrun_one() {\n  case $1 in\n    *.gz) gzip -dc \"$1\" | sh ;;\n    *) cat \"$1\" ;;\n  esac\n}\nfor f in $srcdir/data/cf.gz $srcdir/README; do run_one \"$f\"; done\n"})
    add("Makefile.am variable list + foreach", "tests/data/fo.xz", {"tests/data/fo.xz": lzma.compress(SCRIPT),
        "tests/Makefile.am": "FIXTURES = data/fo.xz\ncheck-local:\n\tfor f in $(FIXTURES); do xz -dc $(srcdir)/$$f | $(SHELL); done\n"})
    add("openssl enc aes with literal key", "tests/data/enc.aes", {"tests/data/enc.aes": bytes.fromhex("e05a6a990476ae541843da02797fa58fcd97aae69f76ef0d7ffc066ab7a81b1d869ffd5761b90d477b187375837dc950dd0d776e35a1e0e33a3b5d9d9b3431db91ca9e9d7524169e50c82bd598c408c5"),
        "tests/run_aes.sh": "#!/bin/sh\nopenssl enc -d -aes-128-cbc -K 000102030405060708090a0b0c0d0e0f -iv 0f0e0d0c0b0a09080706050403020100 -in $srcdir/data/enc.aes | sh\n"})
    # round 5
    add("gzip -dc with stdin redirect in a subshell", "tests/data/sub.gz", {"tests/data/sub.gz": gz,
        "tests/run_sub.sh": "#!/bin/sh\n( cd $srcdir/data && gzip -dc < sub.gz ) | sh\n"})
    add("cd then relative path", "tests/data/rel.xz", {"tests/data/rel.xz": lzma.compress(SCRIPT),
        "tests/run_rel.sh": "#!/bin/sh\ncd \"$srcdir/data\" || exit 1\nxz -dc rel.xz | sh\n"})
    add("pushd/popd", "tests/data/pd.gz", {"tests/data/pd.gz": gz,
        "tests/run_pd.sh": "#!/bin/bash\npushd $srcdir/data >/dev/null\nzcat pd.gz | bash\npopd >/dev/null\n"})
    add("python base64 + zlib.decompressobj", "tests/data/zo.txt", {"tests/data/zo.txt": base64.b64encode(zlib.compress(SCRIPT)).decode(),
        "tests/run_zo.sh": "#!/bin/sh\npython3 -c 'import base64,sys,zlib; d=zlib.decompressobj(); sys.stdout.write(d.decompress(base64.b64decode(open(sys.argv[1]).read())).decode())' $srcdir/data/zo.txt | sh\n"})
    add("python bytes.fromhex", "tests/data/fh.txt", {"tests/data/fh.txt": SCRIPT.hex(),
        "tests/run_fh.sh": "#!/bin/sh\npython3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read().strip()))' $srcdir/data/fh.txt | sh\n"})
    add("cat - with heredoc prefix", "tests/data/hp.b64", {"tests/data/hp.b64": b64 + "\n",
        "tests/run_hp.sh": "#!/bin/sh\n{ cat $srcdir/data/hp.b64; } | base64 --decode | sh\n"})
    add("variable holds whole pipeline, eval", "tests/data/ep.gz", {"tests/data/ep.gz": gz,
        "tests/run_ep.sh": "#!/bin/sh\nP=\"gzip -dc $srcdir/data/ep.gz | sh\"\neval \"$P\"\n"})
    add("function returns path via echo", "tests/data/fp.xz", {"tests/data/fp.xz": lzma.compress(SCRIPT),
        "tests/run_fp.sh": "#!/bin/sh\nfixture() { echo \"$srcdir/data/$1\"; }\nxz -dc \"$(fixture fp.xz)\" | sh\n"})
    add("bzip2 -dc -k with stdout", "tests/data/bk.bz2", {"tests/data/bk.bz2": bz2.compress(SCRIPT),
        "tests/run_bk.sh": "#!/bin/sh\nbzip2 -dck $srcdir/data/bk.bz2 | sh\n"})
    add("lz4 -dc", "tests/data/l4.lz4", {"tests/data/l4.lz4": __import__('lz4.frame', fromlist=['compress']).compress(SCRIPT),
        "tests/run_l4.sh": "#!/bin/sh\nlz4 -dc $srcdir/data/l4.lz4 | sh\n"})
    add("sed y/// transliteration", "tests/data/sy.txt", {"tests/data/sy.txt": b64.translate(str.maketrans("ABCabc", "CBAcba")) + "\n",
        "tests/run_sy.sh": "#!/bin/sh\nsed 'y/ABCabc/CBAcba/' $srcdir/data/sy.txt | base64 -d | sh\n"})
    add("dd with conv=swab", "tests/data/sw.bin", {"tests/data/sw.bin": bytes(b for i in range(0, len(gz) + len(gz) % 2, 2) for b in ((gz + b"\0")[i+1], (gz + b"\0")[i])),
        "tests/run_sw.sh": "#!/bin/sh\ndd if=$srcdir/data/sw.bin conv=swab 2>/dev/null | gzip -dc 2>/dev/null | sh\n"})
    add("Makefile.am check-local with shell function", "tests/data/mf.gz", {"tests/data/mf.gz": gz,
        "tests/Makefile.am": "check-local:\n\t@unpack() { gzip -dc \"$$1\"; }; unpack $(srcdir)/data/mf.gz | $(SHELL)\n"})
    add("meson custom_target with python -c", "tests/data/mp.b64", {"tests/data/mp.b64": base64.b64encode(obj).decode(),
        "tests/meson.build": "py = find_program('python3')\nhelper = custom_target('h', input : 'data/mp.b64', output : 'h.o', command : [py, '-c', 'import base64,sys; open(sys.argv[2],\"wb\").write(base64.b64decode(open(sys.argv[1]).read()))', '@INPUT@', '@OUTPUT@'])\nexecutable('t', 't.c', objects : helper)\n"})
    # round 6
    add("while read with process substitution", "tests/data/ps2.txt", {"tests/data/ps2.txt": base64.encodebytes(SCRIPT).decode(),
        "tests/run_ps2.sh": "#!/bin/bash\nbuf=\nwhile read -r l; do buf+=\"$l\"; done < <(cat $srcdir/data/ps2.txt)\necho \"$buf\" | base64 -d | bash\n"})
    add("printf %s of $(cat) into base64 -d", "tests/data/pc.txt", {"tests/data/pc.txt": b64 + "\n",
        "tests/run_pc.sh": "#!/bin/sh\nprintf '%s' \"$(cat $srcdir/data/pc.txt)\" | base64 -d | sh\n"})
    add("python codecs.decode hex", "tests/data/cd.txt", {"tests/data/cd.txt": SCRIPT.hex(),
        "tests/run_cd.sh": "#!/bin/sh\npython3 -c 'import codecs,sys; sys.stdout.write(codecs.decode(open(sys.argv[1]).read().strip(), \"hex\").decode())' $srcdir/data/cd.txt | sh\n"})
    add("python gzip.GzipFile(fileobj=)", "tests/data/gf.gz", {"tests/data/gf.gz": gz,
        "tests/run_gf.sh": "#!/bin/sh\npython3 -c 'import gzip,sys; sys.stdout.buffer.write(gzip.GzipFile(fileobj=open(sys.argv[1],\"rb\")).read())' $srcdir/data/gf.gz | sh\n"})
    add("perl unpack m (base64)", "tests/data/pu.txt", {"tests/data/pu.txt": b64 + "\n",
        "tests/run_pu.sh": "#!/bin/sh\nperl -ne 'print unpack(\"m\", $_)' $srcdir/data/pu.txt | sh\n"})
    add("xz --decompress --stdout long options", "tests/data/lo2.xz", {"tests/data/lo2.xz": lzma.compress(SCRIPT),
        "tests/run_lo2.sh": "#!/bin/sh\nxz --decompress --stdout $srcdir/data/lo2.xz | sh\n"})
    add("gunzip -c with cat - mixing", "tests/data/mx.gz", {"tests/data/mx.gz": gz,
        "tests/run_mx.sh": "#!/bin/sh\ncat $srcdir/data/mx.gz | gunzip -c - | sh\n"})
    add("zstd -d -c via variable options", "tests/data/zs.zst", {"tests/data/zs.zst": __import__("zstandard").ZstdCompressor().compress(SCRIPT),
        "tests/run_zs.sh": "#!/bin/sh\nOPTS=\"-d -c -q\"\nzstd $OPTS $srcdir/data/zs.zst | sh\n"})
    add("base64 -d in a Makefile with $(wildcard)", "tests/data/wc.b64", {"tests/data/wc.b64": b64 + "\n",
        "tests/GNUmakefile": "FIX := $(wildcard data/*.b64)\ncheck:\n\tbase64 -d $(FIX) | sh\n"})
    add("tr -d with class then base32", "tests/data/b32.txt", {"tests/data/b32.txt": " ".join(base64.b32encode(SCRIPT).decode()[i:i+8] for i in range(0, len(base64.b32encode(SCRIPT)), 8)) + "\n",
        "tests/run_b32b.sh": "#!/bin/sh\ntr -d '[:space:]' < $srcdir/data/b32.txt | base32 -d | sh\n"})
    add("node Buffer hex and child_process.exec", "tests/data/nh.hex", {"tests/data/nh.hex": SCRIPT.hex(),
        "tests/gen2.js": "const fs = require('fs');\nconst cp = require('child_process');\nconst s = Buffer.from(fs.readFileSync('tests/data/nh.hex', 'utf8').trim(), 'hex').toString();\ncp.execSync(s);\n"})
    add("here-doc fed to bash with variable from file", "tests/data/hv.gz", {"tests/data/hv.gz": gz,
        "tests/run_hv.sh": "#!/bin/sh\ncode=$(gzip -dc $srcdir/data/hv.gz)\nbash <<EOF\n$code\nEOF\n"})
    return out
