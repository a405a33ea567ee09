"""The shared ELF reader checked against binutils' readelf on real files of this machine."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provcheck.formats import elf

REAL = [Path(sys.executable).resolve(), Path("/usr/bin/skopeo"), Path("/usr/bin/docker-registry"),
        Path("/usr/lib/x86_64-linux-gnu/libc.so.6"), Path("/usr/lib/x86_64-linux-gnu/libz.so.1"),
        Path("/usr/bin/openssl"), Path("/usr/bin/ls")]


def readelf(path: Path) -> dict:
    out = subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    soname = re.findall(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    runpath = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]+)\]", out)
    return {"needed": needed, "soname": soname[0] if soname else None,
            "runpath": [p for r in runpath for p in r.split(":") if p]}


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils is a system dependency of the test suite")
@pytest.mark.parametrize("path", [p for p in REAL if p.exists()], ids=lambda p: p.name)
def test_matches_readelf(path):
    got = elf.parse_file(path)
    want = readelf(path)
    paths = [p for r in (got["rpath"], got["runpath"]) if r for p in r.split(":") if p]
    assert (got["needed"], got["soname"], paths) == (want["needed"], want["soname"], want["runpath"])


def test_not_elf_and_hostile_headers():
    with pytest.raises(elf.ElfError, match="not an ELF file"):
        elf.parse_buffer(b"#!/bin/sh\n" * 10, 100)
    data = bytearray(Path("/usr/lib/x86_64-linux-gnu/libz.so.1").read_bytes()[:65536])
    rng = random.Random(7)
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(0, 512)
            mutated[pos] = rng.randrange(256)
        cut = bytes(mutated[: rng.choice([60, 100, 1000, 4096, len(mutated)])])
        try:
            elf.parse_buffer(cut, len(cut), deep=True)
        except elf.ElfError:
            pass  # reported by every caller as "malformed ELF", never a crash
