"""Differential oracles: provcheck.formats.elf against pyelftools and LIEF on every ELF file
of a real Debian root filesystem (openssh-server and its dependencies: 536 ELF files).

Compared: DT_NEEDED, SONAME, RPATH, RUNPATH, interpreter, class, machine, needed symbol
versions (DT_VERNEED) and defined ones (DT_VERDEF). A disagreement fails the test unless it
is listed in EXCEPTIONS with its reason (docs/formats.md explains each); a listed exception
that no longer happens fails too, so the list never goes stale. Files where the readers
differ by design are built in the tests below it, each with its reason.
"""

from __future__ import annotations

import struct
from pathlib import Path

import lief
import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE
from format_helpers import gcc

from provcheck.formats import elf

FIELDS = ("needed", "soname", "rpath", "runpath", "interp", "class", "machine", "verneed", "verdef")

# (path in the root filesystem, oracle, field) -> why the readers differ. None today: on the
# 536 files all three agree on every field.
EXCEPTIONS: dict[tuple[str, str, str], str] = {}


def ours(path: Path) -> dict:
    info = elf.parse_file(path, deep=True)
    deep = info["deep"]
    return {"needed": info["needed"], "soname": info["soname"], "rpath": info["rpath"], "runpath": info["runpath"],
            "interp": info["interp"], "class": info["class"], "machine": info["machine"],
            "verneed": deep["verneed"], "verdef": deep["verdef"]}


def _join(old: str | None, new: str) -> str:
    return new if old is None else f"{old}:{new}"


def by_pyelftools(path: Path) -> dict:
    out: dict = {"needed": [], "soname": None, "rpath": None, "runpath": None, "interp": None,
                 "verneed": {}, "verdef": []}
    with open(path, "rb") as f:
        e = ELFFile(f)
        machine = e.header["e_machine"]
        out["class"], out["machine"] = e.elfclass, ENUM_E_MACHINE.get(machine, machine)
        for seg in e.iter_segments():
            if seg.header.p_type == "PT_INTERP":
                out["interp"] = seg.get_interp_name()
            elif seg.header.p_type == "PT_DYNAMIC":
                for t in seg.iter_tags():
                    tag = t.entry.d_tag
                    if tag == "DT_NEEDED":
                        out["needed"].append(t.needed)
                    elif tag == "DT_SONAME":
                        out["soname"] = t.soname
                    elif tag == "DT_RPATH":
                        out["rpath"] = _join(out["rpath"], t.rpath)
                    elif tag == "DT_RUNPATH":
                        out["runpath"] = _join(out["runpath"], t.runpath)
        sec = e.get_section_by_name(".gnu.version_r")
        if sec is not None:
            out["verneed"] = {v.name: [a.name for a in auxs] for v, auxs in sec.iter_versions()}
        sec = e.get_section_by_name(".gnu.version_d")
        if sec is not None:
            for v, auxs in sec.iter_versions():
                names = [a.name for a in auxs]
                if names and not v["vd_flags"] & 1:  # VER_FLG_BASE names the file itself
                    out["verdef"].append(names[0])
    return out


def by_lief(path: Path) -> dict:
    b = lief.ELF.parse(str(path))
    tag = lief.ELF.DynamicEntry.TAG
    out = {"needed": list(b.libraries), "soname": None, "rpath": None, "runpath": None,
           "interp": b.interpreter if b.has_interpreter else None,
           "class": 64 if b.header.identity_class == lief.ELF.Header.CLASS.ELF64 else 32,
           "machine": int(b.header.machine_type),
           "verneed": {r.name: [a.name for a in r.get_auxiliary_symbols()] for r in b.symbols_version_requirement},
           "verdef": [d.auxiliary_symbols[0].name for d in b.symbols_version_definition
                      if not int(d.flags) & 1 and len(d.auxiliary_symbols)]}
    for entry in b.dynamic_entries:
        if entry.tag == tag.SONAME:
            out["soname"] = entry.name
        elif entry.tag == tag.RPATH:
            out["rpath"] = _join(out["rpath"], entry.rpath)
        elif entry.tag == tag.RUNPATH:
            out["runpath"] = _join(out["runpath"], entry.runpath)
    return out


ORACLES = {"pyelftools": by_pyelftools, "lief": by_lief}


@pytest.fixture(scope="module", autouse=True)
def quiet_lief():
    lief.logging.disable()


@pytest.mark.slow
def test_reader_agrees_with_pyelftools_and_lief_on_every_elf_file_of_a_debian_rootfs(sshd_rootfs, rootfs_elf_files):
    assert len(rootfs_elf_files) >= 500, len(rootfs_elf_files)   # every one, no sample
    seen: dict[tuple[str, str, str], str] = {}
    unexplained = []
    counts = {"verneed": 0, "verdef": 0, "runpath": 0, "interp": 0, "soname": 0}
    for path in rootfs_elf_files:
        rel = path.relative_to(sshd_rootfs).as_posix()
        mine = ours(path)
        for k in counts:
            counts[k] += bool(mine[k])
        for name, oracle in ORACLES.items():
            theirs = oracle(path)
            for field in FIELDS:
                if mine[field] != theirs[field]:
                    key = (rel, name, field)
                    seen[key] = f"ours {mine[field]!r}, {name} {theirs[field]!r}"
                    if key not in EXCEPTIONS:
                        unexplained.append(f"{rel}: {field}: {seen[key]}")
    assert not unexplained, "\n".join(unexplained[:40])
    assert set(EXCEPTIONS) <= set(seen), f"listed exceptions that no longer happen: {set(EXCEPTIONS) - set(seen)}"
    # the fields were really there to compare, not all empty
    assert counts["verneed"] > 400 and counts["verdef"] > 50 and counts["interp"] > 80 and counts["soname"] > 100, counts
    assert counts["runpath"] >= 1, counts


def _strip_section_headers(data: bytes) -> bytes:
    """What sstrip does: the file keeps its segments, loses its section header table."""
    b = bytearray(data)
    struct.pack_into("<Q", b, 40, 0)       # e_shoff
    struct.pack_into("<HHH", b, 58, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    return bytes(b)


@pytest.mark.slow
def test_without_section_headers_only_pyelftools_loses_the_versions(tmp_path, sshd_rootfs):
    """Exception 1 (docs/formats.md): symbol versions are read from the dynamic segment
    (DT_VERNEED/DT_VERDEF), as ld.so reads them. pyelftools finds them through section
    headers only; a file without them (sstrip, or a packer) has none for pyelftools."""
    stripped = tmp_path / "sshd"
    stripped.write_bytes(_strip_section_headers((sshd_rootfs / "usr/sbin/sshd").read_bytes()))
    mine, theirs, lief_view = ours(stripped), by_pyelftools(stripped), by_lief(stripped)
    assert mine == ours(sshd_rootfs / "usr/sbin/sshd")
    assert theirs["verneed"] == {} and mine["verneed"]["libc.so.6"]
    assert lief_view["verneed"] == mine["verneed"]
    assert {k: v for k, v in theirs.items() if k != "verneed"} == {k: v for k, v in mine.items() if k != "verneed"}


def test_a_string_longer_than_the_reader_takes_is_an_error_the_oracles_read(tmp_path):
    """Exception 2: a dynamic string longer than 4 KiB (no real soname or path is) makes the
    file unreadable for provcheck (an ElfError naming the field, reported by every plugin),
    where pyelftools and LIEF return the whole string. The bound keeps a hostile string table
    from costing more than the file's size."""
    long_name = "lib" + "x" * 5000 + ".so"
    path = tmp_path / long_name[:200]
    path.write_bytes(gcc(tmp_path / "b", "int f(void) { return 1; }\n", "-shared", "-fPIC", "-nostdlib",
                         f"-Wl,-soname,{long_name}"))
    with pytest.raises(elf.ElfError, match="DT_SONAME: string at offset .* is not terminated"):
        ours(path)
    assert by_pyelftools(path)["soname"] == long_name == by_lief(path)["soname"]
