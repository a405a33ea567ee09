"""The ELF reader every plugin uses: small, bounds-checked, pure Python (``struct`` over ``mmap``).

Two passes, chosen by measurement (see docs/formats.md):

* the bulk pass (``parse_file(path)`` / ``parse_buffer(buf, size)`` / ``parse_stream(f)``)
  reads the ELF header, the program headers, the dynamic segment and the strings it names,
  and the ``PT_NOTE`` segments: class, machine, type, interpreter, DT_NEEDED, SONAME,
  RPATH/RUNPATH, DT_AUDIT/DT_DEPAUDIT, flags, RELRO/BIND_NOW/PIE/NX, build-id,
  ``.note.package`` and ``.note.dlopen``. About 40-60 µs per file; all a linkage graph needs.
* the deep pass (``deep=True``) adds the dynamic symbol table: imported and exported
  symbols with their versions, ``STT_GNU_IFUNC`` symbols, ``*_IRELATIVE`` relocations.
  About 0.3 ms per file.

Also here: :func:`described_end` (where the content the headers describe ends, so that
appended bytes show), :func:`describe` (one line for a message) and the machine and type
tables.

Every offset, size and count comes from the file and is checked against the file size
before use; loops are bounded by the bytes that could hold them, so a hostile file
costs at most a linear walk over itself. Problems raise :class:`ElfError` with a reason,
never anything else. A malformed note never makes the file unreadable: the loader does
not read notes, so the reason goes to ``note_errors`` and the DT_NEEDED edges stay.
The results are plain dicts/lists (JSON-able), so they can be cached by blob sha256.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from typing import Any, BinaryIO, Literal, Union

PARSER_VERSION = 9

ELF_MAGIC = b"\x7fELF"

EI_NIDENT = 16
ET_NAMES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}
ET_DESCRIPTIONS = {1: "relocatable object", 2: "executable", 3: "shared object", 4: "core file"}
MACHINES = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390", 40: "arm", 62: "x86_64",
            183: "aarch64", 243: "riscv", 258: "loongarch"}

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
PT_GNU_STACK, PT_GNU_RELRO = 0x6474E551, 0x6474E552
PF_X = 1

DT_NULL, DT_NEEDED, DT_PLTRELSZ, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ = 0, 1, 2, 4, 5, 6, 7, 8
DT_STRSZ, DT_SONAME, DT_RPATH, DT_REL, DT_RELSZ, DT_BIND_NOW, DT_JMPREL = 10, 14, 15, 17, 18, 24, 23
DT_FLAGS, DT_RUNPATH, DT_PLTREL = 30, 29, 20
DT_GNU_HASH = 0x6FFFFEF5
DT_VERSYM, DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFF0, 0x6FFFFFFC, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
DT_FLAGS_1 = 0x6FFFFFFB
DT_AUDIT, DT_DEPAUDIT = 0x6FFFFEFC, 0x6FFFFEFB
DF_BIND_NOW = 0x8
DF_1_NOW, DF_1_PIE = 0x1, 0x08000000

NT_GNU_BUILD_ID = 3
NT_FDO_PACKAGING_METADATA = 0xCAFE1A7E
NT_FDO_DLOPEN_METADATA = 0x407C0C0A

STT_FUNC, STT_OBJECT, STT_GNU_IFUNC = 2, 1, 10
STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 1, 2, 10
SHT_DYNSYM = 11

IRELATIVE = {62: 37, 3: 42, 183: 1032, 40: 160, 22: 61, 21: 248, 20: 248, 243: 58, 258: 12}

MAX_STR = 4096          # longest string we take from a string table
MAX_NOTE_JSON = 1 << 16
MAX_NOTE_DEPTH = 32     # package and dlopen notes are two levels deep
MAX_DYN_ENTRIES = 1 << 16
MAX_SYMBOLS = 1 << 20


Buffer = Union[bytes, bytearray, memoryview, mmap.mmap]
Info = dict[str, object]   # JSON-able facts of one file (see the module docstring); cached as JSON


class ElfError(Exception):
    """The file starts like an ELF file but cannot be read as one; the message says why."""


class _Reader:
    def __init__(self, buf: Any, size: int):
        self.buf = buf
        self.size = size = min(size, len(buf))
        if size < EI_NIDENT:
            raise ElfError(f"truncated: {size} bytes is shorter than an ELF identification")
        ei_class, ei_data = buf[4], buf[5]
        if ei_class not in (1, 2):
            raise ElfError(f"bad ELF class byte {ei_class}")
        if ei_data not in (1, 2):
            raise ElfError(f"bad ELF data-encoding byte {ei_data}")
        self.bits = 64 if ei_class == 2 else 32
        self.e = "<" if ei_data == 1 else ">"
        # Work budget: bytes of string and struct reads allowed for this file. Tables whose
        # entries all point at the same long string would otherwise cost far more than the
        # file's size (4096 x 4096 version entries of 4 KiB each).
        self.budget = 16 * size + (1 << 22)

    def spend(self, n: int, what: str) -> None:
        self.budget -= n
        if self.budget < 0:
            raise ElfError(f"{what}: reading it would cost far more than the file's size; stopped")

    def need(self, off: int, n: int, what: str) -> None:
        if off < 0 or n < 0 or off + n > self.size:
            raise ElfError(f"{what} at offset {off} (+{n} bytes) lies outside the file ({self.size} bytes)")

    def unpack(self, fmt: str, off: int, what: str) -> tuple:
        s = struct.Struct(self.e + fmt)
        self.need(off, s.size, what)
        self.spend(s.size, what)
        return s.unpack_from(self.buf, off)

    def cstr(self, off: int, limit: int, what: str) -> str:
        """A NUL-terminated string at ``off``, not past ``limit`` (exclusive)."""
        limit = min(limit, self.size, off + MAX_STR)
        if off < 0 or off >= limit:
            raise ElfError(f"{what}: string offset {off} outside its table")
        end = self.buf.find(b"\0", off, limit)
        if end < 0:
            raise ElfError(f"{what}: string at offset {off} is not terminated")
        self.spend(end - off + 1, what)
        return bytes(self.buf[off:end]).decode("utf-8", "backslashreplace")


def is_elf(head: bytes) -> bool:
    return head[:4] == ELF_MAGIC


def parse_file(path: str | os.PathLike, deep: bool = False) -> Info:
    """Parse the ELF file at ``path`` (a read-only blob); :class:`ElfError` when malformed."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < EI_NIDENT:
            raise ElfError(f"truncated: {size} bytes is shorter than an ELF identification")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return parse_buffer(buf, size, deep)


def parse_stream(f: BinaryIO, deep: bool = False) -> Info | None:
    """Parse an open file (a blob of a tree, a host file); None when it is not ELF.

    A file with a descriptor is memory-mapped; any other stream (a blob kept in a pack)
    is read into memory."""
    f.seek(0)
    head = f.read(4)
    if head != ELF_MAGIC:
        return None
    try:
        fd = f.fileno()
    except (OSError, ValueError, AttributeError):
        data = head + f.read()
        return parse_buffer(data, len(data), deep)
    size = os.fstat(fd).st_size
    if size < EI_NIDENT:
        raise ElfError(f"truncated: {size} bytes is shorter than an ELF identification")
    with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as buf:
        return parse_buffer(buf, size, deep)


def parse_buffer(buf: Buffer, size: int, deep: bool = False) -> Info:
    """Parse ``size`` bytes of ``buf`` (bytes, bytearray, mmap); :class:`ElfError` when malformed."""
    if bytes(buf[:4]) != ELF_MAGIC:
        raise ElfError("not an ELF file")
    r = _Reader(buf, size)
    info = _bulk(r)
    if deep:
        info["deep"] = _deep(r, info)
    for k in ("_dyn", "_loads", "_strtab_range", "shoff", "shnum", "shentsize"):
        info.pop(k, None)
    return info


# -- bulk pass --------------------------------------------------------------------------

def _bulk(r: _Reader) -> dict[str, Any]:
    if r.bits == 64:
        (e_type, e_machine, _ver, e_entry, e_phoff, e_shoff, e_flags, _ehsize, e_phentsize, e_phnum,
         e_shentsize, e_shnum, _shstrndx) = r.unpack("HHIQQQIHHHHHH", 16, "ELF header")
        ph_fmt, ph_min = "IIQQQQQQ", 56
    else:
        (e_type, e_machine, _ver, e_entry, e_phoff, e_shoff, e_flags, _ehsize, e_phentsize, e_phnum,
         e_shentsize, e_shnum, _shstrndx) = r.unpack("HHIIIIIHHHHHH", 16, "ELF header")
        ph_fmt, ph_min = "IIIIIIII", 32
    info: dict[str, Any] = {
        "class": r.bits, "endian": "little" if r.e == "<" else "big", "machine": e_machine,
        "machine_name": MACHINES.get(e_machine, str(e_machine)), "type": ET_NAMES.get(e_type, str(e_type)),
        "osabi": r.buf[7], "interp": None, "needed": [], "soname": None, "rpath": None, "runpath": None,
        "flags": 0, "flags_1": 0, "dynamic": False, "relro": False, "bind_now": False, "pie": False,
        "nx": None, "build_id": None, "package": None, "dlopen": [], "note_errors": [], "shoff": e_shoff,
        "shnum": e_shnum,
        "shentsize": e_shentsize,
    }
    if e_phnum and e_phentsize < ph_min:
        raise ElfError(f"program header entry size {e_phentsize} is smaller than {ph_min}")
    if e_phnum:
        r.need(e_phoff, e_phnum * e_phentsize, f"program header table ({e_phnum} entries)")
    loads: list[tuple[int, int, int]] = []
    dyn = None
    notes: list[tuple[int, int, int]] = []
    for i in range(e_phnum):
        off = e_phoff + i * e_phentsize
        if r.bits == 64:
            p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz, _memsz, p_align = r.unpack(ph_fmt, off, "program header")
        else:
            p_type, p_offset, p_vaddr, _pa, p_filesz, _memsz, p_flags, p_align = r.unpack(ph_fmt, off, "program header")
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dyn = (p_offset, p_filesz)
        elif p_type == PT_INTERP:
            r.need(p_offset, p_filesz, "PT_INTERP")
            info["interp"] = r.cstr(p_offset, p_offset + p_filesz, "PT_INTERP")
        elif p_type == PT_NOTE:
            notes.append((p_offset, p_filesz, p_align))
        elif p_type == PT_GNU_RELRO:
            info["relro"] = True
        elif p_type == PT_GNU_STACK:
            info["nx"] = not (p_flags & PF_X)
    info["_loads"] = loads
    if dyn is not None:
        _dynamic(r, info, dyn, loads)
    for off, sz, align in notes:
        _notes(r, info, off, sz, align)
    info["pie"] = info["type"] == "DYN" and (bool(info["flags_1"] & DF_1_PIE) or info["interp"] is not None)
    return info


def vaddr_to_offset(loads: list[tuple[int, int, int]], vaddr: int) -> int | None:
    for p_vaddr, p_offset, p_filesz in loads:
        if p_vaddr <= vaddr < p_vaddr + p_filesz:
            return p_offset + (vaddr - p_vaddr)
    return None


def _dynamic(r: _Reader, info: dict[str, Any], dyn: tuple[int, int], loads: list) -> None:
    off, size = dyn
    r.need(off, size, "PT_DYNAMIC")
    info["dynamic"] = True
    fmt, esz = ("qQ", 16) if r.bits == 64 else ("iI", 8)
    count = min(size // esz, MAX_DYN_ENTRIES)
    s = struct.Struct(r.e + fmt)
    entries: list[tuple[int, int]] = []
    for i in range(count):
        tag, val = s.unpack_from(r.buf, off + i * esz)
        if tag == DT_NULL:
            break
        entries.append((tag, val))
    d: dict[int, int] = {}
    for tag, val in entries:
        d.setdefault(tag, val)
    info["_dyn"] = d
    strtab_va, strsz = d.get(DT_STRTAB), d.get(DT_STRSZ, 0)
    strtab = vaddr_to_offset(loads, strtab_va) if strtab_va is not None else None
    if strtab is None:
        if any(t in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_AUDIT, DT_DEPAUDIT) for t, _ in entries):
            raise ElfError("dynamic section names strings but DT_STRTAB is missing or outside every PT_LOAD")
    else:
        r.need(strtab, min(strsz, r.size - strtab) if strsz else 1, "DT_STRTAB")
        strend = min(strtab + strsz, r.size) if strsz else r.size
        info["_strtab"] = (strtab, strend)
    rpath: list[str] = []
    runpath: list[str] = []
    has_strtab = strtab is not None
    if strtab is None:   # no entry names a string (checked above): only flags to read
        strtab = strend = 0
    for tag, val in entries:
        if tag == DT_NEEDED:
            info["needed"].append(r.cstr(strtab + val, strend, "DT_NEEDED"))
        elif tag == DT_SONAME:
            info["soname"] = r.cstr(strtab + val, strend, "DT_SONAME")
        elif tag == DT_RPATH:
            rpath.append(r.cstr(strtab + val, strend, "DT_RPATH"))
        elif tag == DT_RUNPATH:
            runpath.append(r.cstr(strtab + val, strend, "DT_RUNPATH"))
        elif tag in (DT_AUDIT, DT_DEPAUDIT):
            kind = "audit" if tag == DT_AUDIT else "depaudit"
            info.setdefault("audit", []).append([kind, r.cstr(strtab + val, strend, f"DT_{kind.upper()}")])
        elif tag == DT_FLAGS:
            info["flags"] |= val
        elif tag == DT_FLAGS_1:
            info["flags_1"] |= val
        elif tag == DT_BIND_NOW:
            info["bind_now"] = True
    if rpath:
        info["rpath"] = ":".join(rpath)
    if runpath:
        info["runpath"] = ":".join(runpath)
    if info["flags"] & DF_BIND_NOW or info["flags_1"] & DF_1_NOW:
        info["bind_now"] = True
    info["_strtab_range"] = (strtab, strend) if has_strtab else None


def _notes(r: _Reader, info: dict[str, Any], off: int, size: int, align: int) -> None:
    """GNU build id and FDO package/dlopen notes. The loader never reads notes, so a
    malformed one is recorded in ``note_errors`` and never drops the file (and its
    DT_NEEDED edges) from the linkage graph."""
    if off < 0 or size < 0 or off + size > r.size:
        info["note_errors"].append(f"PT_NOTE at offset {off} ({size} bytes) lies outside the file")
        return
    a = 8 if align == 8 else 4
    end = off + size
    pos = off
    while pos + 12 <= end:
        namesz, descsz, ntype = r.unpack("III", pos, "note header")
        name_off = pos + 12
        desc_off = pos + ((12 + namesz + a - 1) & ~(a - 1))
        nxt = desc_off + ((descsz + a - 1) & ~(a - 1))
        if namesz > size or descsz > size or desc_off + descsz > end:
            info["note_errors"].append(f"note at offset {pos} claims {namesz}+{descsz} bytes past its segment")
            return
        name = bytes(r.buf[name_off:name_off + namesz]).rstrip(b"\0")
        desc = bytes(r.buf[desc_off:desc_off + descsz])
        if name == b"GNU" and ntype == NT_GNU_BUILD_ID:
            info["build_id"] = desc.hex()
        elif name == b"FDO" and ntype in (NT_FDO_PACKAGING_METADATA, NT_FDO_DLOPEN_METADATA):
            text = desc.rstrip(b"\0")[:MAX_NOTE_JSON]
            value = None
            depth = _json_depth(text)
            if depth > MAX_NOTE_DEPTH:
                info["note_errors"].append(f"FDO note 0x{ntype:x} at offset {pos}: its JSON nests {depth} levels "
                                           f"deep (more than {MAX_NOTE_DEPTH}); not read")
            else:
                try:
                    value = json.loads(text.decode("utf-8"))
                except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                    info["note_errors"].append(f"FDO note 0x{ntype:x} at offset {pos} is not valid JSON ({exc})")
            if ntype == NT_FDO_PACKAGING_METADATA:
                if isinstance(value, dict):
                    info["package"] = {str(k): v for k, v in value.items() if isinstance(v, (str, int))}
            elif value is not None:
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        sonames = item.get("soname")
                        sonames = [sonames] if isinstance(sonames, str) else sonames
                        if isinstance(sonames, list):
                            info["dlopen"].append({
                                "feature": str(item.get("feature", "")),
                                "priority": str(item.get("priority", "")),
                                "soname": [str(s) for s in sonames if isinstance(s, str)][:16]})
        if nxt <= pos:
            break
        pos = nxt


def _json_depth(text: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text (brackets inside strings skipped);
    ``json.loads`` recurses once a level, so this is checked first."""
    if text.count(b"[") + text.count(b"{") <= MAX_NOTE_DEPTH:
        return 0
    depth = top = 0
    in_str = escaped = False
    for c in text:
        if in_str:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_str = False
        elif c == 0x22:
            in_str = True
        elif c in (0x5B, 0x7B):
            depth += 1
            top = max(top, depth)
        elif c in (0x5D, 0x7D):
            depth -= 1
    return top


# -- deep pass --------------------------------------------------------------------------

def _deep(r: _Reader, info: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"exports": [], "imports": [], "ifunc": [], "irelative": 0,
                           "verneed": {}, "verdef": []}
    d = info.get("_dyn") or {}
    loads = info["_loads"]
    rng = info.get("_strtab_range")
    if not d or rng is None:
        return out
    strtab, strend = rng
    symtab_va = d.get(DT_SYMTAB)
    symoff = vaddr_to_offset(loads, symtab_va) if symtab_va is not None else None
    esz = 24 if r.bits == 64 else 16
    nsyms = _symbol_count(r, info, d, loads, symoff, esz)
    versions = _versions(r, d, loads, strtab, strend, out)
    versym = vaddr_to_offset(loads, d[DT_VERSYM]) if DT_VERSYM in d else None
    if symoff is not None and nsyms:
        r.need(symoff, nsyms * esz, f"dynamic symbol table ({nsyms} symbols)")
        fmt = "IBBHQQ" if r.bits == 64 else "IIIBBH"
        s = struct.Struct(r.e + fmt)
        vs = struct.Struct(r.e + "H")
        for i in range(1, nsyms):
            if r.bits == 64:
                st_name, st_info, _other, st_shndx, _value, _size = s.unpack_from(r.buf, symoff + i * esz)
            else:
                st_name, _value, _size, st_info, _other, st_shndx = s.unpack_from(r.buf, symoff + i * esz)
            if not st_name:
                continue
            name = r.cstr(strtab + st_name, strend, "symbol name")
            bind, stype = st_info >> 4, st_info & 0xF
            ver = None
            if versym is not None and versym + 2 * i + 2 <= r.size:
                idx = vs.unpack_from(r.buf, versym + 2 * i)[0] & 0x7FFF
                ver = versions.get(idx) if idx > 1 else None  # 0 local, 1 global: unversioned
            full = f"{name}@{ver}" if ver else name
            if st_shndx == 0:
                out["imports"].append(full)
            elif bind in (STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE):
                out["exports"].append(full)
                if stype == STT_GNU_IFUNC:
                    out["ifunc"].append(name)
    out["irelative"] = _count_irelative(r, info, d, loads)
    return out


def _symbol_count(r: _Reader, info: dict, d: dict, loads: list, symoff: int | None, esz: int) -> int:
    # 1. section headers, when present and sane
    shoff, shnum, shentsize = info["shoff"], info["shnum"], info["shentsize"]
    sh_min = 64 if r.bits == 64 else 40
    if shoff and shnum and shentsize >= sh_min and shoff + shnum * shentsize <= r.size:
        fmt = "IIQQQQIIQQ" if r.bits == 64 else "IIIIIIIIII"
        for i in range(min(shnum, 1 << 16)):
            sh = r.unpack(fmt, shoff + i * shentsize, "section header")
            if sh[1] == SHT_DYNSYM and sh[9]:
                n = sh[5] // sh[9]
                return min(n, MAX_SYMBOLS, max(0, (r.size - (symoff or 0)) // esz))
    # 2. DT_HASH: nchain is the symbol count
    if DT_HASH in d:
        off = vaddr_to_offset(loads, d[DT_HASH])
        if off is not None:
            _nbucket, nchain = r.unpack("II", off, "DT_HASH")
            return min(nchain, MAX_SYMBOLS, max(0, (r.size - (symoff or 0)) // esz))
    # 3. DT_GNU_HASH: the highest symbol index reachable from a bucket, plus its chain
    if DT_GNU_HASH in d:
        off = vaddr_to_offset(loads, d[DT_GNU_HASH])
        if off is not None:
            nbuckets, symbias, bloom_size, _shift = r.unpack("IIII", off, "DT_GNU_HASH")
            word = 8 if r.bits == 64 else 4
            buckets = off + 16 + bloom_size * word
            r.need(buckets, nbuckets * 4, "DT_GNU_HASH buckets")
            if nbuckets > r.size:
                raise ElfError("DT_GNU_HASH bucket count larger than the file")
            top = max(struct.unpack_from(f"{r.e}{nbuckets}I", r.buf, buckets), default=0) if nbuckets else 0
            if top < symbias:
                return symbias
            chains = buckets + nbuckets * 4
            idx = top
            while True:
                pos = chains + (idx - symbias) * 4
                if idx >= MAX_SYMBOLS or pos + 4 > r.size:
                    raise ElfError("DT_GNU_HASH chain runs past the end of the file")
                if r.unpack("I", pos, "DT_GNU_HASH chain")[0] & 1:
                    return idx + 1
                idx += 1
    return 0


def _versions(r: _Reader, d: dict, loads: list, strtab: int, strend: int, out: dict) -> dict[int, str]:
    names: dict[int, str] = {}
    if DT_VERDEF in d:
        off = vaddr_to_offset(loads, d[DT_VERDEF])
        for _ in range(min(d.get(DT_VERDEFNUM, 0), 4096)):
            if off is None:
                break
            _ver, flags, ndx, cnt, _hash, aux, nxt = r.unpack("HHHHIII", off, "verdef")
            if cnt:
                vda_name = r.unpack("I", off + aux, "verdaux")[0]
                name = r.cstr(strtab + vda_name, strend, "verdef name")
                names[ndx] = name
                if not flags & 1:  # VER_FLG_BASE names the file itself
                    out["verdef"].append(name)
            if not nxt:
                break
            off += nxt
    if DT_VERNEED in d:
        off = vaddr_to_offset(loads, d[DT_VERNEED])
        for _ in range(min(d.get(DT_VERNEEDNUM, 0), 4096)):
            if off is None:
                break
            _ver, cnt, vn_file, vn_aux, vn_next = r.unpack("HHIII", off, "verneed")
            file = r.cstr(strtab + vn_file, strend, "verneed file")
            aux = off + vn_aux
            vers = []
            for _ in range(min(cnt, 4096)):
                _h, _flags, other, vna_name, vna_next = r.unpack("IHHII", aux, "vernaux")
                name = r.cstr(strtab + vna_name, strend, "vernaux name")
                names[other & 0x7FFF] = name
                vers.append(name)
                if not vna_next:
                    break
                aux += vna_next
            out["verneed"][file] = vers
            if not vn_next:
                break
            off += vn_next
    return names


def _count_irelative(r: _Reader, info: dict, d: dict, loads: list) -> int:
    want = IRELATIVE.get(info["machine"])
    if want is None:
        return 0
    total = 0
    tables = []
    if DT_RELA in d:
        tables.append((d[DT_RELA], d.get(DT_RELASZ, 0), True))
    if DT_REL in d:
        tables.append((d[DT_REL], d.get(DT_RELSZ, 0), False))
    if DT_JMPREL in d:
        tables.append((d[DT_JMPREL], d.get(DT_PLTRELSZ, 0), d.get(DT_PLTREL) == DT_RELA))
    for va, size, rela in tables:
        off = vaddr_to_offset(loads, va)
        if off is None or not size:
            continue
        size = min(size, r.size - off)
        if r.bits == 64:
            esz, fmt = (24, "QQq") if rela else (16, "QQ")
        else:
            esz, fmt = (12, "IIi") if rela else (8, "II")
        s = struct.Struct(r.e + fmt)
        for i in range(size // esz):
            r_info = s.unpack_from(r.buf, off + i * esz)[1]
            rtype = r_info & 0xFFFFFFFF if r.bits == 64 else r_info & 0xFF
            if rtype == want:
                total += 1
    return total


# -- one line for a message -------------------------------------------------------------

def machine_name(machine: int) -> str:
    return MACHINES.get(machine, f"machine {machine}")


def describe(head: bytes) -> str:
    """"ELF x86_64 shared object" from the first 20 bytes of a file."""
    if len(head) < 20 or head[:4] != ELF_MAGIC:
        return "ELF (truncated header)"
    order: Literal["little", "big"] = "big" if head[5] == 2 else "little"
    etype = int.from_bytes(head[16:18], order)
    machine = int.from_bytes(head[18:20], order)
    return f"ELF {machine_name(machine)} {ET_DESCRIPTIONS.get(etype, f'type {etype}')}"


# -- where the described content ends ---------------------------------------------------

SIGNATURE_MARK = b"~Module signature appended~\n"
SHT_NOBITS = 8


def module_signature_size(last: bytes) -> int:
    """Bytes a kernel module signature takes at the end of a file whose last bytes (at least
    40) are ``last``: signer, key id and signature, the 12-byte ``struct module_signature``
    and the marker; -1 when ``last`` is too short."""
    info = last[-len(SIGNATURE_MARK) - 12:-len(SIGNATURE_MARK)]
    if len(info) < 12:
        return -1
    signer_len, key_id_len, sig_len = info[3], info[4], int.from_bytes(info[8:12], "big")
    return signer_len + key_id_len + sig_len + 12 + len(SIGNATURE_MARK)


def described_end(f: BinaryIO, size: int) -> int | None:
    """The end of the last header table, segment or section (NOBITS excluded) of the ELF file
    open as ``f`` (``size`` bytes); None when it is not ELF. Tables or entries that lie outside
    the file are ignored (they describe nothing that is there)."""
    f.seek(0)
    hdr = f.read(64)
    if len(hdr) < 52 or hdr[:4] != ELF_MAGIC or hdr[4] not in (1, 2) or hdr[5] not in (1, 2):
        return None
    is64 = hdr[4] == 2
    e = "<" if hdr[5] == 1 else ">"
    if is64:
        if len(hdr) < 64:
            return None
        phoff, shoff = struct.unpack_from(e + "QQ", hdr, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(e + "HHHH", hdr, 54)
        ehsize = 64
        ph, sh = (struct.Struct(e + "8xQ16xQ"), 56), (struct.Struct(e + "4xI16xQQ"), 64)
    else:
        phoff, shoff = struct.unpack_from(e + "II", hdr, 28)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(e + "HHHH", hdr, 42)
        ehsize = 52
        ph, sh = (struct.Struct(e + "4xI8xI"), 32), (struct.Struct(e + "4xI8xII"), 40)
    end = ehsize
    for off, num, entsize, (fmt, minsize), is_sh in ((phoff, phnum, phentsize, ph, False),
                                                     (shoff, shnum, shentsize, sh, True)):
        if not num or entsize < minsize or off + num * entsize > size:
            continue
        f.seek(off)
        table = f.read(num * entsize)
        if len(table) < num * entsize:
            continue
        end = max(end, off + num * entsize)
        for i in range(num):
            fields = fmt.unpack_from(table, i * entsize)
            if is_sh:
                sh_type, start, length = fields
                if sh_type == SHT_NOBITS:   # occupies no file space
                    continue
            else:
                start, length = fields
            if start + length <= size:
                end = max(end, start + length)
    return end
