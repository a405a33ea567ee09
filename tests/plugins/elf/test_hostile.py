"""Hostile ELF files: every malformation is a clear error naming the file, never a crash
or a hang; and the reader agrees with pyelftools on real Debian files."""

from __future__ import annotations

import random
import struct
import time
from pathlib import Path

import pytest

from provcheck.formats import elf as elfread

NOLIBC = ("-nostdlib",)
OPTS = {"elf": {"cache": False}}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> bytes:
    """A small real shared library with NEEDED, SONAME, RUNPATH, notes and symbols."""
    import subprocess
    d = tmp_path_factory.mktemp("sample")
    (d / "a.c").write_text("int helper(void) { return 1; }\nint api(int x) { return x + helper(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-nostdlib", "-Wl,-soname,libsample.so.1",
                    "-Wl,--enable-new-dtags,-rpath,$ORIGIN", "-Wl,--build-id", "-o", "libsample.so.1", "a.c"],
                   cwd=d, check=True)
    return (d / "libsample.so.1").read_bytes()


def phdr(data: bytes, ptype: int) -> tuple[int, int, int]:
    """(index, offset, filesz) of the first program header of ``ptype`` (64-bit LE)."""
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    for i in range(e_phnum):
        p_type, _f, p_offset, _v, _p, p_filesz = struct.unpack_from("<IIQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == ptype:
            return i, p_offset, p_filesz
    raise AssertionError(ptype)


def mutate_phnum(data: bytes) -> bytes:
    b = bytearray(data)
    struct.pack_into("<H", b, 56, 0xFFFF)
    return bytes(b)


def mutate_dynamic_loop(data: bytes) -> bytes:
    """PT_DYNAMIC claims the whole file: thousands of junk 'entries' and no DT_NULL."""
    b = bytearray(data)
    e_phoff, = struct.unpack_from("<Q", b, 32)
    i, off, _sz = phdr(data, elfread.PT_DYNAMIC)
    struct.pack_into("<Q", b, e_phoff + i * 56 + 8, 0)           # p_offset = 0
    struct.pack_into("<Q", b, e_phoff + i * 56 + 32, len(b))     # p_filesz = file size
    return bytes(b)


def mutate_needed_offset(data: bytes) -> bytes:
    """DT_NEEDED/DT_SONAME string offsets far outside the string table."""
    b = bytearray(data)
    _i, off, sz = phdr(data, elfread.PT_DYNAMIC)
    for j in range(sz // 16):
        tag, _ = struct.unpack_from("<qQ", b, off + j * 16)
        if tag in (elfread.DT_SONAME, elfread.DT_RUNPATH):
            struct.pack_into("<qQ", b, off + j * 16, tag, 0x7FFFFFFF)
    return bytes(b)


def mutate_note_sizes(data: bytes) -> bytes:
    b = bytearray(data)
    _i, off, _sz = phdr(data, elfread.PT_NOTE)
    struct.pack_into("<II", b, off, 0xFFFFFFF0, 0xFFFFFFF0)
    return bytes(b)


def mutate_gnu_hash(data: bytes) -> bytes:
    """No section headers (stripped of them), so the GNU hash decides the symbol count;
    its bucket count is absurd."""
    b = bytearray(data)
    struct.pack_into("<Q", b, 40, 0)      # e_shoff
    struct.pack_into("<H", b, 60, 0)      # e_shnum
    info = elfread.parse_buffer(bytes(b), len(b))
    assert info["soname"]
    raw = elfread._bulk(elfread._Reader(b, len(b)))
    gh = elfread.vaddr_to_offset(raw["_loads"], raw["_dyn"][elfread.DT_GNU_HASH])
    struct.pack_into("<I", b, gh, 0x7FFFFFFF)
    return bytes(b)


CASES = {
    "truncated-ident": (lambda d: d[:10], "shorter than an ELF identification"),
    "truncated-header": (lambda d: d[:40], "ELF header"),
    "truncated-body": (lambda d: d[:600], "outside the file"),
    "bad-class": (lambda d: d[:4] + b"\x07" + d[5:], "bad ELF class"),
    "huge-phnum": (mutate_phnum, "program header table"),
    "dynamic-loop": (mutate_dynamic_loop, ""),
    "string-offsets": (mutate_needed_offset, "string offset"),
    "note-sizes": (mutate_note_sizes, "note"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_elf_is_an_error_naming_the_file(elf, sample, case):
    mutate, reason = CASES[case]
    bad = mutate(sample)
    root = elf.tree({"usr/lib/libgood.so.1": sample, f"usr/lib/x86_64-linux-gnu/{case}.so": bad})
    t = time.perf_counter()
    result = elf.run(root, options=OPTS)
    assert time.perf_counter() - t < 10
    errors = [e for e in result.errors if e.path == f"usr/lib/x86_64-linux-gnu/{case}.so"]
    if case == "dynamic-loop":
        # junk dynamic entries are read (bounded) and either rejected or survive as garbage
        assert len(result.errors) <= 1
        return
    assert len(errors) == 1, result.errors
    expected = "note ignored" if case == "note-sizes" else "cannot read ELF file"  # notes never drop a file
    assert errors[0].plugin == "elf" and expected in errors[0].message
    assert reason in errors[0].message
    assert result.exit_code == 3  # incomplete, not clean


def test_gnu_hash_without_section_headers_is_bounded(sample):
    info = elfread.parse_buffer(sample, len(sample), deep=True)
    assert "api" in info["deep"]["exports"]
    bad = mutate_gnu_hash(sample)
    with pytest.raises(elfread.ElfError):
        elfread.parse_buffer(bad, len(bad), deep=True)


def test_random_corruption_never_escapes_as_another_exception(sample):
    rng = random.Random(20240329)
    t = time.perf_counter()
    outcomes = {"ok": 0, "error": 0}
    for _ in range(1500):
        b = bytearray(sample)
        for _ in range(rng.randint(1, 12)):
            pos = rng.randrange(len(b)) if rng.random() < 0.5 else rng.randrange(min(len(b), 1024))
            b[pos] = rng.randrange(256)
        if rng.random() < 0.1:
            b = b[:rng.randrange(16, len(b))]
        try:
            elfread.parse_buffer(bytes(b), len(b), deep=True)
            outcomes["ok"] += 1
        except elfread.ElfError:
            outcomes["error"] += 1
    assert outcomes["error"] > 50 and outcomes["ok"] > 50, outcomes
    assert time.perf_counter() - t < 30


def test_reader_agrees_with_pyelftools_on_real_debian_files(sshd_rootfs):
    from elftools.elf.elffile import ELFFile

    files = []
    for p in sorted(Path(sshd_rootfs).rglob("*")):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    files.append(p)
    assert len(files) > 400
    checked = 0
    for p in files[::3]:
        info = elfread.parse_file(p, deep=True)
        with open(p, "rb") as f:
            e = ELFFile(f)
            dyn = e.get_section_by_name(".dynamic")
            tags = {"DT_NEEDED": [], "DT_SONAME": None, "DT_RUNPATH": None, "DT_RPATH": None}
            if dyn is not None:
                for t in dyn.iter_tags():
                    if t.entry.d_tag == "DT_NEEDED":
                        tags["DT_NEEDED"].append(t.needed)
                    elif t.entry.d_tag == "DT_SONAME":
                        tags["DT_SONAME"] = t.soname
                    elif t.entry.d_tag == "DT_RUNPATH":
                        tags["DT_RUNPATH"] = t.runpath
                    elif t.entry.d_tag == "DT_RPATH":
                        tags["DT_RPATH"] = t.rpath
            assert info["needed"] == tags["DT_NEEDED"], p
            assert info["soname"] == tags["DT_SONAME"], p
            assert info["runpath"] == tags["DT_RUNPATH"] and info["rpath"] == tags["DT_RPATH"], p
            interp = next((s.get_interp_name() for s in e.iter_segments() if s.header.p_type == "PT_INTERP"), None)
            assert info["interp"] == interp, p
            assert info["relro"] == any(s.header.p_type == "PT_GNU_RELRO" for s in e.iter_segments()), p
            ds = e.get_section_by_name(".dynsym")
            if ds is not None:
                exports = sorted(s.name for s in ds.iter_symbols() if s.name and s["st_shndx"] != "SHN_UNDEF"
                                 and s["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK", "STB_GNU_UNIQUE"))
                assert sorted(x.split("@", 1)[0] for x in info["deep"]["exports"]) == exports, p
                ifunc = sorted(s.name for s in ds.iter_symbols() if s["st_info"]["type"] == "STT_LOOS"
                               and s["st_shndx"] != "SHN_UNDEF" and s.name)
                assert sorted(info["deep"]["ifunc"]) == ifunc, p
            note = e.get_section_by_name(".note.gnu.build-id")
            if note is not None:
                assert info["build_id"] == next(iter(note.iter_notes()))["n_desc"], p
        checked += 1
    assert checked > 100


def test_hostile_ld_so_conf_is_bounded(elf, sample):
    """Include loops, thousands of include globs and directories cost bounded time."""
    conf = "include /etc/ld.so.conf\ninclude /etc/*.conf\n" + "include /etc/a*/*/*.conf\n" * 20000 + \
        "".join(f"/opt/d{i}\n" for i in range(5000))
    files = {"etc/ld.so.conf": conf, "usr/lib/libsample.so.1": sample}
    files.update({f"etc/x{i}.conf": "include /etc/ld.so.conf\n" for i in range(300)})
    t = time.perf_counter()
    result = elf.run(elf.tree(files), options=OPTS)
    assert time.perf_counter() - t < 20
    result.assert_no_errors()


def test_non_utf8_names_reach_every_output_format(elf, gcc, other_plugins, linkage):
    lib = gcc.lib("libfoo.so.1", "int foo(void) { return 1; }\n", "-nostdlib")
    app = gcc.exe("int foo(void);\nvoid _start(void) { foo(); for (;;) ; }\n", "-nostdlib", "libfoo.so.1",
                  inputs={"libfoo.so.1": lib})
    bad = app.replace(b"libfoo.so.1\0", b"libf\xffo.so.1\0")
    libc = gcc.lib("libc.so.6", "int c_stub(void) { return 0; }\n", "-nostdlib")
    root = elf.tree({"usr/bin/app": bytes(bad), "usr/lib/x86_64-linux-gnu/libc.so.6": libc})
    for fmt in ("json", "sarif", "text"):
        res = elf.run_cli(*other_plugins, "scan", root, "--format", fmt, "--select", "PC3", "--no-cache")
        assert res.exit_code == 0, res.stderr
        assert "libf\\xffo.so.1" in res.stdout.replace("\\\\", "\\")
    for fmt in ("json", "dot", "text"):
        code, out, err = linkage(root, "--from", "app", fmt=fmt)
        assert code == 0, err


BAD_FDO_NOTE = r"""
__asm__(".section .note.package,\"a\",@note\n.balign 4\n.long 4\n.long 8\n.long 0xcafe1a7e\n"
        ".asciz \"FDO\"\n.ascii \"{bad:jso\"\n.balign 4\n.previous\n");
"""


def fdo_note(desc: str) -> str:
    """C source that puts an FDO package note with ``desc`` (no quotes or backslashes) in a file."""
    size = len(desc) + 1
    return (f'__asm__(".section .note.package,\\"a\\",@note\\n.balign 4\\n.long 4\\n.long {size}\\n'
            f'.long 0xcafe1a7e\\n.asciz \\"FDO\\"\\n.asciz \\"{desc}\\"\\n.balign 4\\n.previous\\n");\n')


# the second: a JSON text nesting 1,000 levels deep raised RecursionError (found by fuzzing)
@pytest.mark.parametrize("note,reason", [(BAD_FDO_NOTE, "not valid JSON"),
                                         (fdo_note("[" * 1000 + "]" * 1000), "nests 1000 levels deep")],
                         ids=["bad-json", "deep-json"])
def test_a_malformed_note_never_hides_a_library_from_the_graph(elf, gcc, linkage, note, reason):
    """The loader never reads notes: a library whose FDO package note is not JSON keeps its
    place (and its DT_NEEDED edges) in the linkage graph; the bad note is reported."""
    lzma = gcc.lib("liblzma.so.5", "int lzma_code(void) { return 0; }\n", "-nostdlib")
    systemd = gcc.lib("libsystemd.so.0", note + "int lzma_code(void);\nint sd_notify(void) { return lzma_code(); }\n",
                      "-nostdlib", "liblzma.so.5", inputs={"liblzma.so.5": lzma})
    assert b"FDO\0" in systemd
    app = gcc.exe("int sd_notify(void);\nvoid _start(void) { sd_notify(); for (;;) ; }\n", "-nostdlib",
                  "libsystemd.so.0", inputs={"libsystemd.so.0": systemd})
    root = elf.tree({"usr/sbin/sshd": app, "usr/lib/x86_64-linux-gnu/libsystemd.so.0": systemd,
                     "usr/lib/x86_64-linux-gnu/liblzma.so.5": lzma})
    code, out, err = linkage(root, "--from", "sshd", "--to", "liblzma.so.5")
    assert code == 3 and "note ignored" in err and reason in err, err  # incomplete: the note was not read
    chain = [[hop["path"] for hop in path["chain"]] for path in out["paths"]]
    assert ["usr/sbin/sshd", "usr/lib/x86_64-linux-gnu/libsystemd.so.0", "usr/lib/x86_64-linux-gnu/liblzma.so.5"] in chain


def test_corrupt_package_databases_are_errors_not_crashes(elf, sample):
    rng = random.Random(7)
    junk = bytes(rng.randrange(256) for _ in range(8192))
    header_bomb = struct.pack(">II", 0xFFFF, 0x7FFFFFFF) + junk
    from provcheck.formats import packages
    with pytest.raises(ValueError):
        packages.rpm_header(header_bomb)
    for _ in range(300):  # random header blobs: only ValueError/struct.error, never anything else
        blob = struct.pack(">II", rng.randrange(8), rng.randrange(64)) + bytes(rng.randrange(256) for _ in range(160))
        try:
            packages.rpm_header(blob)
        except (ValueError, struct.error):
            pass
    root = elf.tree({"usr/lib/libsample.so.1": sample, "var/lib/rpm/rpmdb.sqlite": junk,
                     "var/lib/dpkg/status": b"\xff\xfe garbage\n\nPackage\n", "var/lib/dpkg/info/x.list": junk,
                     "lib/apk/db/installed": junk})
    result = elf.run(root, options=OPTS)
    (err,) = result.errors
    assert err.path == "var/lib/rpm/rpmdb.sqlite" and "cannot read the rpm database" in err.message


def test_symbol_versions_on_real_debian_files(sshd_rootfs):
    crypto = elfread.parse_file(sshd_rootfs / "usr/lib/x86_64-linux-gnu/libcrypto.so.3", deep=True)["deep"]
    assert "RSA_public_decrypt@OPENSSL_3.0.0" in crypto["exports"]
    assert "OPENSSL_3.0.0" in crypto["verdef"] and "GLIBC_2.2.5" in crypto["verneed"]["libc.so.6"]
    sshd = elfread.parse_file(sshd_rootfs / "usr/sbin/sshd", deep=True)
    assert "__printf_chk@GLIBC_2.3.4" in sshd["deep"]["imports"]
    assert "RSA_set0_key@OPENSSL_3.0.0" in sshd["deep"]["imports"]
    assert "deflateInit_" in sshd["deep"]["imports"]  # zlib's symbols are unversioned
    assert sshd["pie"] and sshd["relro"] and sshd["bind_now"] and sshd["nx"]
    assert len(sshd["build_id"]) == 40


def test_a_symbol_table_that_cannot_be_read_is_reported(checker, tmp_path):
    """One exported name longer than the reader takes used to make the symbol rules skip the
    library in silence."""
    import subprocess
    import provcheck_elf
    src = tmp_path / "long.c"
    src.write_text(f"int {'a' * 5000} = 1;\nint RSA_public_decrypt(void) {{ return 0; }}\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "liblong.so.1"), str(src)], check=True)
    root = checker.tree({"usr/lib/x86_64-linux-gnu/liblong.so.1": (tmp_path / "liblong.so.1").read_bytes()})
    checker.add_plugin(provcheck_elf)
    result = checker.run(root)
    assert any("symbols not read" in e.message and e.path == "usr/lib/x86_64-linux-gnu/liblong.so.1"
               for e in result.errors), [str(e) for e in result.errors]


def test_a_chain_of_thousands_of_libraries_prints_without_exhausting_the_stack(elf, gcc, linkage):
    """libx0000 needs libx0001 needs ... libx1499 (copies of one library with its names
    patched): every output format answers, the text tree stops indenting at 64 levels."""
    template = gcc.lib("libx0000.so", "int x(void) { return 0; }\n", "-nostdlib", "-Wl,--no-as-needed",
                       "libx0001.so", inputs={"libx0001.so": gcc.lib("libx0001.so", "int y;\n", "-nostdlib")})
    n = 1500
    files = {f"usr/lib/x86_64-linux-gnu/libx{i:04d}.so": template.replace(b"libx0001.so", b"libx%04d.so" % (i + 1))
             .replace(b"libx0000.so", b"libx%04d.so" % i) for i in range(n)}
    root = elf.tree(files)
    code, out, err = linkage(root, "--from", "libx0000.so", fmt="text")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == n + 2, lines[-3:]  # the source, 1,500 hops, one "unresolved:" line
    assert lines[-2].strip() == "[depth 1500] libx1500.so => not found" and lines[-1].startswith("unresolved:")
    assert max(len(l) - len(l.lstrip()) for l in lines) == 2 * 64
    code, out, err = linkage(root, "--from", "libx0000.so", "--to", "libx1499.so")
    assert code == 0 and out["paths"][0]["hops"] == n - 1, err
