"""Where an ELF file's described content ends, so that bytes appended after it show."""

from __future__ import annotations

import struct
from typing import BinaryIO

SIGNATURE_MARK = b"~Module signature appended~\n"


def module_signature_size(last: bytes) -> int:
    """Bytes a kernel module signature takes at the end of a file whose last bytes (at least
    40) are ``last``: signer, key id and signature, the 12-byte ``struct module_signature``
    and the marker."""
    info = last[-len(SIGNATURE_MARK) - 12:-len(SIGNATURE_MARK)]
    if len(info) < 12:
        return -1
    signer_len, key_id_len, sig_len = info[3], info[4], int.from_bytes(info[8:12], "big")
    return signer_len + key_id_len + sig_len + 12 + len(SIGNATURE_MARK)


def described_end(f: BinaryIO, size: int) -> int | None:
    """The end of the last header table, segment or section (NOBITS excluded); None if not ELF."""
    f.seek(0)
    hdr = f.read(64)
    if len(hdr) < 52 or hdr[:4] != b"\x7fELF" or hdr[4] not in (1, 2) or hdr[5] not in (1, 2):
        return None
    e = "<" if hdr[5] == 1 else ">"
    if hdr[4] == 2:
        if len(hdr) < 64:
            return None
        phoff, shoff = struct.unpack_from(e + "QQ", hdr, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(e + "HHHH", hdr, 54)
        ehsize = 64
    else:
        phoff, shoff = struct.unpack_from(e + "II", hdr, 28)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(e + "HHHH", hdr, 42)
        ehsize = 52
    end = ehsize
    if phnum and phentsize >= (56 if hdr[4] == 2 else 32) and phoff + phnum * phentsize <= size:
        end = max(end, phoff + phnum * phentsize)
        f.seek(phoff)
        table = f.read(phnum * phentsize)
        for i in range(phnum):
            o = i * phentsize
            if hdr[4] == 2:
                p_offset, = struct.unpack_from(e + "Q", table, o + 8)
                p_filesz, = struct.unpack_from(e + "Q", table, o + 32)
            else:
                p_offset, p_filesz = struct.unpack_from(e + "II", table, o + 4)[0], struct.unpack_from(e + "I", table, o + 16)[0]
            if p_offset + p_filesz <= size:
                end = max(end, p_offset + p_filesz)
    if shnum and shentsize >= (64 if hdr[4] == 2 else 40) and shoff + shnum * shentsize <= size:
        end = max(end, shoff + shnum * shentsize)
        f.seek(shoff)
        table = f.read(shnum * shentsize)
        for i in range(shnum):
            o = i * shentsize
            if hdr[4] == 2:
                sh_type, = struct.unpack_from(e + "I", table, o + 4)
                sh_offset, sh_size = struct.unpack_from(e + "QQ", table, o + 24)
            else:
                sh_type, = struct.unpack_from(e + "I", table, o + 4)
                sh_offset, sh_size = struct.unpack_from(e + "II", table, o + 16)
            if sh_type != 8 and sh_offset + sh_size <= size:   # SHT_NOBITS occupies no file space
                end = max(end, sh_offset + sh_size)
    return end
