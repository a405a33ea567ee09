"""The pipeline emulator's filters against the real tools, on data made here (never on an artifact)."""

from __future__ import annotations

import base64
import gzip
import lzma
import random
import shutil
import subprocess

import pytest

from provcheck_testdata import emulate, pipeline, shell

RNG = random.Random(17)
SAMPLE = bytes(RNG.getrandbits(8) for _ in range(3000)) + b"line one\nline two\n\tTabbed-line_3\nlast"
TEXT = b"Alpha beta\ngamma  DELTA 123\n\n  epsilon-zeta_eta\nfinal line without newline"


class Files:
    """A tree of named blobs for the machine; every file counts as test data."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def read(self, word: str):
        key = word.lstrip("./")
        for path, data in self.files.items():
            if path == key or path.endswith("/" + key):
                return path, data, True
        return None

    def glob(self, pattern: str):
        return []


def emulate_cmd(cmd: str, data: bytes) -> bytes:
    m = emulate.Machine(Files({"in.bin": data}))
    out = m.run_script("cat in.bin | " + cmd, "t.sh")
    assert not m.stops, m.stops
    return out.raw


def real(cmd: str, data: bytes) -> bytes:
    return subprocess.run(["sh", "-c", cmd], input=data, capture_output=True, check=True,
                          env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}).stdout


TR_CASES = [
    r"tr 'a-z' 'A-Z'", r"tr -d '[:digit:]'", r"tr -s ' '", r"tr -cd '[:alpha:]\n'", r"tr '\t \-_' ' \t_\-'",
    r"tr '\000-\377' '\377\000-\376'", r"tr 'a-f' '[x*]'", r"tr 'abc' 'x'", r"tr -c 'a-z\n' '#'",
    r"tr '[:lower:]' '[:upper:]'", r"tr 'A-Za-z' 'N-ZA-Mn-za-m'", r"tr -ds 'a' 'l'", r"tr 'a-c' '[z*2]Q'",
    r"tr '\114-\321\322-\377\35-\47\14-\34\0-\13\50-\113' '\0-\377'",
    r"tr 'a-c' '[z*99999999999]Q'",   # a huge repeat count: set 2 is cut at set 1's length
]
SLICE_CASES = [
    "head -c 100", "head -c -2990", "head -n 2", "head -3", "tail -c 50", "tail -c +2990", "tail -n 2",
    "tail -n +2", "dd bs=1 skip=10 count=20 2>/dev/null", "dd ibs=7 skip=3 count=4 2>/dev/null",
    "dd iflag=skip_bytes,count_bytes skip=1000 count=333 bs=64 2>/dev/null", "dd bs=512 count=2 2>/dev/null",
    "cut -b 1-5,8", "cut -b 3-", "cut -c -4", "rev", "base64", "base32", "xxd -p", "od -An -tx1 -v",
    "od -An -to1", "sed -n '2,4p'", "sed 's/[aeiou]/X/g'", "sed -e '1d' -e 's/\\(l\\+\\)ine/<\\1>/'",
    "sed -E 's/([a-z]+) ([a-z]+)/\\2 \\1/'", "sed '/gamma/,/epsilon/d'", "sed 'y/abc/xyz/'", "sed '$!d'",
]


@pytest.mark.parametrize("cmd", TR_CASES)
def test_tr_matches_coreutils(cmd):
    for data in (SAMPLE, TEXT):
        assert emulate_cmd(cmd, data) == real(cmd, data), cmd


@pytest.mark.parametrize("cmd", SLICE_CASES)
def test_filters_match_real_tools(cmd):
    tool = cmd.split()[0]
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed here")
    data = TEXT if tool in ("cut", "rev", "sed", "head", "tail") and "-c" not in cmd else SAMPLE
    assert emulate_cmd(cmd, data) == real(cmd, data), cmd


@pytest.mark.parametrize("encode,decode", [("base64", "base64 -d"), ("base32", "base32 -d"), ("xxd -p", "xxd -r -p"),
                                           ("xxd", "xxd -r"), ("od -An -tx1 -v", "tr -d ' \\n' | xxd -r -p")])
def test_inverses_restore_the_bytes(encode, decode):
    encoded = real(encode, SAMPLE)
    assert emulate_cmd(decode, encoded) == SAMPLE
    assert emulate_cmd(f"{encode} | {decode}", SAMPLE) == SAMPLE


def test_decompressors_and_single_stream():
    two = lzma.compress(b"first\n") + lzma.compress(b"second\n")
    assert emulate_cmd("xz -dc", two) == b"first\nsecond\n"
    assert emulate_cmd("xz -dc --single-stream", two + b"garbage") == b"first\n"
    assert emulate_cmd("gzip -dc", gzip.compress(b"a") + gzip.compress(b"b")) == b"ab"
    assert emulate_cmd("lzma -dc", lzma.compress(b"alone", format=lzma.FORMAT_ALONE)) == b"alone"
    raw = lzma.compress(b"raw lzma1 body", format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}])
    assert emulate_cmd("xz -F raw --lzma1 -dc", raw) == b"raw lzma1 body"
    assert emulate_cmd("uudecode -o /dev/stdout", b"begin 644 x\n" + base64.b64decode(b"") +
                       b"#86)C\n`\nend\n") == b"abc"


def test_xz_second_stage_head_loop():
    """xz 5.6's stage 2: a chain of (skip 1024, keep 2048) head pairs on one stream, then tail -c +N."""
    body = bytes(range(256)) * 200
    keep = b"".join(body[k * 3072 + 1024:(k + 1) * 3072] for k in range(4)) + body[4 * 3072:4 * 3072 + 939]
    i = " && ".join(["((head -c +1024 >/dev/null) && head -c +2048)"] * 4) + " && head -c +939"
    m = emulate.Machine(Files({"tests/files/good.lzma": lzma.compress(body, format=lzma.FORMAT_ALONE)}))
    out = m.run_script(f'export i="{i}"\nxz -dc tests/files/good.lzma | eval $i | tail -c +31', "stage2")
    assert out.raw == keep[30:]
    assert out.sources == {"tests/files/good.lzma"}


@pytest.mark.parametrize("prog", [
    "import sys; d=open(sys.argv[1],'rb').read(); sys.stdout.buffer.write(bytes(b ^ 0x5a for b in d))",
    "import sys\nd = sys.stdin.buffer.read()\nsys.stdout.buffer.write(bytes([c ^ 90 for c in d]))",
    "import sys,itertools as it; sys.stdout.buffer.write(bytes(a ^ b for a, b in zip(open(sys.argv[1],'rb')"
    ".read(), it.cycle([0x5a]))))",
])
def test_python_one_liners_xor(prog):
    data = bytes(RNG.getrandbits(8) for _ in range(500))
    m = emulate.Machine(Files({"d/x.bin": data}))
    out = m.run_script(f"python3 -c \"{prog}\" d/x.bin < d/x.bin", "t.sh")
    assert out.raw == bytes(b ^ 0x5A for b in data)
    assert out.sources == {"d/x.bin"}


def test_perl_and_awk_and_node_state_their_transformations():
    data = b"Hello, World\n"
    m = emulate.Machine(Files({"x": data, "y": bytes(b ^ 0x21 for b in data)}))
    assert m.run_script("perl -pe 'tr/A-Za-z/N-ZA-Mn-za-m/' < x", "t").raw == b"Uryyb, Jbeyq\n"
    assert m.run_script("perl -0777 -pe 's/(.)/chr(ord($1)^0x21)/gse' < y", "t").raw == data
    assert m.run_script("node -e 'const d=require(\"fs\").readFileSync(0); process.stdout.write(d.map(b => b ^ 0x21))' < y",
                        "t").raw == data


def test_budgets_are_reported():
    bomb = lzma.compress(b"\0" * (8 << 20))
    m = emulate.Machine(Files({"b.xz": bomb}), emulate.Budget(max_bytes=1 << 20).start())
    with pytest.raises(emulate.BudgetExceeded, match="byte budget"):
        m.run_script("xz -dc b.xz | sh", "t")
    m = emulate.Machine(Files({}), emulate.Budget(max_steps=500).start())
    with pytest.raises(emulate.BudgetExceeded, match="step budget"):
        m.run_script("python3 -c 'while True: pass'", "t")


def test_unknown_command_stops_with_the_step():
    m = emulate.Machine(Files({"x.bin": b"abc"}))
    m.run_script("tr a b < x.bin | ./mydecoder --key=$(date) | sh", "t.sh", 7)
    sink = m.sinks[0]
    assert sink.kind == "shell"
    assert sink.data.stopped.startswith("emulation stopped at step 3 (t.sh:7): unknown command 'mydecoder'")


def test_shell_parser_keeps_going_after_a_bad_line():
    seq = shell.parse("a=1\nfoo ( bar\nxz -dc f | sh\n")
    kinds = [type(x).__name__ for x in seq.items]
    assert "Unsupported" in kinds and isinstance(seq.items[-1], shell.Pipeline)


def test_make_front_end_expands_variables_and_automatic_names():
    recipes = pipeline.make_recipes("FIX = $(srcdir)/fixtures\nlibhelper.o: $(FIX)/sample.txt\n"
                                    "\t$(AM_V_GEN)base64 -d $< > $@\n")
    assert recipes == [(3, "base64 -d ./fixtures/sample.txt > libhelper.o")]


@pytest.mark.parametrize("script,error", [
    ("python3 -c 'import itertools; print(list(itertools.repeat(0)))' < x.bin", "step budget"),
    ("python3 -c 'import itertools, sys; sys.stdout.write(\"\".join(itertools.cycle(\"ab\")))' < x.bin", "step budget"),
    ("python3 -c 'print(list(range(10**9)))' < x.bin", "step budget"),
    ("python3 -c 'print((1).to_bytes(10**10, \"big\"))' < x.bin", "byte budget"),
    ("python3 -c 'print(b\"x\" * 10**10)' < x.bin", "output budget"),
    ("for a in 1 2 3 4 5 6 7 8; do for b in 1 2 3 4 5 6 7 8; do cat x.bin x.bin; done; done | sh", "output budget"),
])
def test_hostile_programs_hit_a_budget(script, error):
    m = emulate.Machine(Files({"x.bin": b"A" * (64 << 10)}), emulate.Budget(max_bytes=1 << 20, max_steps=20000).start())
    with pytest.raises(emulate.BudgetExceeded, match=error):
        m.run_script(script, "t.sh")


def test_hostile_programs_that_stop():
    m = emulate.Machine(Files({"x.bin": b"A"}), emulate.Budget(max_steps=20000).start())
    m.run_script("python3 -c 'x = 3\nwhile True: x = x * x' < x.bin\nf() { f; f; }; f\nf2() { eval f2; }; f2", "t.sh")
    assert ("t.sh:1", "python: integer too large") in m.stops or any("integer too large" in r for _, r in m.stops)


@pytest.mark.parametrize("prog", [
    "-0777 -pe 's/(.)/chr(ord($1)^0x21)/gse'",
    "-0777 -pe '$_ ^= \"k3y\" x length'",
    "-0777 -pe '$_ = $_ ^ (\"\\x5a\\x33\" x length($_))'",
    "-pe 'tr/A-Za-z/N-ZA-Mn-za-m/'",
    "-0777 -ne 'print unpack(\"u\", $_)'",
])
def test_perl_one_liners_match_perl(prog):
    if shutil.which("perl") is None:
        pytest.skip("perl is not installed here")
    import binascii
    data = TEXT if "unpack" not in prog else binascii.b2a_uu(b"uuencoded line\x00\xff")
    assert emulate_cmd("perl " + prog, data) == real("perl " + prog, data), prog


AWK_CASES = [
    ("{print $2, NR}", b"a b c\nd e f\n"), ("NR>=2 && NR<=3", b"1\n2\n3\n4\n"),
    ('BEGIN{x=split("a:b:c",arr,":"); print x, arr[3]}', b""),
    ('{s=s substr($0,2,3) length($1)} END{print s; printf "%5.2f|%-4s|%x\\n", 3.14159, "ab", 255}', b"hi world\nfoo\n"),
    ('{ for (k=NF; k>0; k--) printf "%s%s", $k, (k>1?" ":"\\n") }', b"one two three\n"),
    ('/o/ { n++ } END { print n+0, toupper("x") index("abc","c") }', b"foo\nbar\nboo\n"),
    ('{ $2 = "X"; print; print NF }', b"a b c\n"),
    ('BEGIN { FS=":" } { t[$1] += $2 } END { for (k in t) n++; print n, t["a"], t["b"] }', b"a:1\nb:2\na:3\n"),
    ('{ while (i < 3) { i++; if (i == 2) continue; printf "%d", i } } END { print "" }', b"x\n"),
    ('BEGIN { for (i = 0; i < 9; i++) { if (i == 2) continue; if (i == 5) break; printf "%d", i }'
     ' do { j++; if (j == 2) continue; if (j == 4) break } while (j < 9); a["x"]; a["y"];'
     ' for (k in a) { n++; break } print "", i, j, n }', b""),
    ('{ printf "%c", $1 + 1 }', b"64\n96\n"),
    ("{ getline; print }", b"a\nb\nc\nd\ne\n"),
    ('{ r = getline x; print $0 "-" x "-" NR "-" r }', b"a\nb\nc\n"),
    ('BEGIN { while ((getline line) > 0) n += length(line); print n, NR }', b"ab\ncde\n"),
    ('BEGIN { RS = ";" } { print NR ": " $0 }', b"a;b;c"),
]


@pytest.mark.parametrize("prog,data", AWK_CASES)
def test_awk_matches_mawk(prog, data):
    if shutil.which("mawk") is None and shutil.which("awk") is None:
        pytest.skip("no awk installed here")
    from provcheck_testdata import awk
    tool = "mawk" if shutil.which("mawk") else "awk"
    real_out = subprocess.run([tool, prog], input=data, capture_output=True, env={"LC_ALL": "C"}).stdout
    assert awk.run(prog, data, {}, lambda: None, 1 << 20) == real_out


def test_awk_rc4_of_xz_matches_mawk():
    from xz_rc4 import RC4_AWK  # xz 5.6.1's program
    data = bytes(RNG.getrandbits(8) for _ in range(2000))
    spread = real("sed 's/\\(.\\)/\\1\\n/g'", data)
    tool = "mawk" if shutil.which("mawk") else "awk"
    expected = subprocess.run([tool, RC4_AWK], input=spread, capture_output=True, env={"LC_ALL": "C"}).stdout
    assert emulate_cmd(f"sed 's/\\(.\\)/\\1\\n/g' | LC_ALL=C awk '{RC4_AWK}'", data) == expected


@pytest.mark.parametrize("cmd", ["printf '%d%%\\n' 5 6", "printf 'a%b %s\\n' x y z", "printf '%05x|%-3d|\\n' 255 7"])
def test_printf_matches_the_shell(cmd):
    assert emulate.Machine(Files({})).run_script(cmd, "t.sh").raw == real(cmd, b"")


def test_printf_stops_on_what_it_cannot_follow_instead_of_failing():
    """``%*d`` is not emulated: the command stops (reported when it carries test data), no TypeError;
    an absurd field width is the output budget, not a gigabyte of spaces."""
    m = emulate.Machine(Files({"in.bin": b"42"}))
    assert m.run_script("printf '%*d' 7 \"$(cat in.bin)\"", "t.sh").raw == b""
    assert m.stops and "not supported" in m.stops[0][1]
    with pytest.raises(emulate.BudgetExceeded):
        emulate.Machine(Files({})).run_script("printf '%999999999999d' 1", "t.sh")
