"""provcheck.formats.elf: the regressions fuzzing found, described_end and the tables."""

from __future__ import annotations

import io
import struct

import pytest
from format_helpers import gcc

from provcheck.formats import elf


def fdo_note_source(text: str) -> str:
    """C source that puts an FDO package note holding ``text`` into the file gcc builds."""
    size = len(text) + 1
    desc = text.replace('"', r'\\\"')  # a quote of the assembler string inside a C string
    return (f'__asm__(".section .note.package,\\"a\\",@note\\n.balign 4\\n.long 4\\n.long {size}\\n'
            f'.long 0xcafe1a7e\\n.asciz \\"FDO\\"\\n.asciz \\"{desc}\\"\\n.balign 4\\n.previous\\n");\n')


@pytest.mark.parametrize("buf", [b"\x7fELF", b"\x7fELF\x02\x01", bytearray(b"\x7fELF" + b"\0" * 11)])
def test_a_buffer_shorter_than_an_identification_is_an_elf_error(buf):
    """``parse_buffer(b"\\x7fELF", 4)`` raised IndexError (a mutation run found it)."""
    with pytest.raises(elf.ElfError, match="shorter than an ELF identification"):
        elf.parse_buffer(buf, len(buf))


def test_a_size_larger_than_the_buffer_is_bounded_by_the_buffer(tmp_path):
    lib = gcc(tmp_path, "int f(void) { return 1; }\n", "-shared", "-fPIC", "-nostdlib", "-Wl,-soname,libf.so.1")
    with pytest.raises(elf.ElfError):
        elf.parse_buffer(lib[:200], len(lib), deep=True)


@pytest.mark.parametrize("depth", [33, 1000, 49_992])
def test_a_deeply_nested_package_note_keeps_the_edges(tmp_path, depth):
    """An FDO package note nesting 1,000 levels deep raised RecursionError, the file became
    unreadable and its DT_NEEDED edges vanished; now the note is reported and the rest read."""
    desc = "[" * depth + "]" * depth
    dep = gcc(tmp_path / "dep", "int g(void) { return 0; }\n", "-shared", "-fPIC", "-nostdlib",
              "-Wl,-soname,libdep.so.1", name="libdep.so.1")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libdep.so.1").write_bytes(dep)
    lib = gcc(tmp_path / "lib", fdo_note_source(desc) + "int g(void);\nint f(void) { return g(); }\n", "-shared",
              "-fPIC", "-nostdlib", "-Wl,-soname,libf.so.1", "libdep.so.1")
    info = elf.parse_buffer(lib, len(lib), deep=True)
    assert info["needed"] == ["libdep.so.1"] and info["soname"] == "libf.so.1"
    assert info["package"] is None
    (reason,) = info["note_errors"]
    assert f"nests {depth} levels deep" in reason


def test_brackets_inside_json_strings_do_not_count_as_nesting(tmp_path):
    name = "[" * 40 + "{" * 40
    lib = gcc(tmp_path, fdo_note_source('{"type":"deb","name":"' + name + '"}') + "int f(void) { return 1; }\n",
              "-shared", "-fPIC", "-nostdlib")
    info = elf.parse_buffer(lib, len(lib))
    assert info["note_errors"] == [] and info["package"] == {"type": "deb", "name": name}


@pytest.mark.slow
def test_described_end_of_a_real_file_is_its_size_and_ignores_appended_bytes(sshd_rootfs):
    data = (sshd_rootfs / "usr/sbin/sshd").read_bytes()
    assert elf.described_end(io.BytesIO(data), len(data)) == len(data)
    grown = data + b"PK\x03\x04" + b"\0" * 4096
    assert elf.described_end(io.BytesIO(grown), len(grown)) == len(data)
    assert elf.described_end(io.BytesIO(b"MZ" + b"\0" * 100), 102) is None


@pytest.mark.slow
def test_described_end_skips_tables_outside_the_file(sshd_rootfs):
    data = bytearray((sshd_rootfs / "usr/sbin/sshd").read_bytes())
    struct.pack_into("<Q", data, 40, len(data) * 4)     # e_shoff far past the end
    end = elf.described_end(io.BytesIO(bytes(data)), len(data))
    assert 64 < end < len(data)                          # the segments still count
    short = bytes(data[:100])                            # a file shorter than its size claims
    assert elf.described_end(io.BytesIO(short), len(data)) == 64


@pytest.mark.slow
def test_describe_and_machine_names(sshd_rootfs):
    head = (sshd_rootfs / "usr/sbin/sshd").read_bytes()[:20]
    assert elf.describe(head) == "ELF x86_64 shared object"
    assert elf.machine_name(183) == "aarch64" and elf.machine_name(9999) == "machine 9999"
    assert elf.describe(b"\x7fELF") == "ELF (truncated header)"


@pytest.mark.slow
def test_parse_stream_reads_a_stream_without_a_descriptor(sshd_rootfs):
    data = (sshd_rootfs / "usr/sbin/sshd").read_bytes()
    assert elf.parse_stream(io.BytesIO(data)) == elf.parse_file(sshd_rootfs / "usr/sbin/sshd")
    assert elf.parse_stream(io.BytesIO(b"#!/bin/sh\n")) is None
