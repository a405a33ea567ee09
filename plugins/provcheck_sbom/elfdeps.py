"""A small DT_NEEDED reader and "which programs reach this library" search.

Used for advisory output when the ELF plugin's own linkage graph is not available.
Reads only the ELF header, program headers, the dynamic section and its string table;
malformed files are skipped (returned as None), never raised.
"""

from __future__ import annotations

import posixpath
import struct
from collections import deque
from typing import Any, Iterable

LIB_DIRS = ("lib", "lib64", "usr/lib", "usr/lib64", "usr/local/lib", "lib/x86_64-linux-gnu",
            "usr/lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib/i386-linux-gnu",
            "usr/lib/i386-linux-gnu")
BIN_PREFIXES = ("bin/", "sbin/", "usr/bin/", "usr/sbin/", "usr/libexec/", "usr/lib/openssh/", "usr/local/bin/",
                "usr/local/sbin/", "opt/")


def dynamic_info(tree: Any, node: Any) -> tuple[str | None, list[str]] | None:
    """(DT_SONAME, [DT_NEEDED...]) of an ELF file, or None when it is not a readable ELF."""
    try:
        with tree.open(node) as f:
            ident = f.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF":
                return None
            is64, end = ident[4] == 2, "<" if ident[5] == 1 else ">"
            if is64:
                phoff, = struct.unpack_from(end + "Q", ident, 32)
                phentsize, phnum = struct.unpack_from(end + "HH", ident, 54)
            else:
                phoff, = struct.unpack_from(end + "I", ident, 28)
                phentsize, phnum = struct.unpack_from(end + "HH", ident, 42)
            if phnum == 0 or phnum > 512 or phentsize < (56 if is64 else 32):
                return None
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
            loads, dyn = [], None
            for i in range(phnum):
                off = i * phentsize
                if is64:
                    p_type, _flags, p_offset, p_vaddr, _pa, p_filesz = struct.unpack_from(end + "IIQQQQ", ph, off)
                else:
                    p_type, p_offset, p_vaddr, _pa, p_filesz = struct.unpack_from(end + "IIIII", ph, off)
                if p_type == 1:
                    loads.append((p_vaddr, p_offset, p_filesz))
                elif p_type == 2:
                    dyn = (p_offset, min(p_filesz, 1 << 20))
            if dyn is None:
                return None, []
            f.seek(dyn[0])
            raw = f.read(dyn[1])
            fmt, size = (end + "qQ", 16) if is64 else (end + "iI", 8)
            needed, soname_off, strtab = [], None, None
            for off in range(0, len(raw) - size + 1, size):
                tag, val = struct.unpack_from(fmt, raw, off)
                if tag == 0:
                    break
                if tag == 1:
                    needed.append(val)
                elif tag == 5:
                    strtab = val
                elif tag == 14:
                    soname_off = val
            if strtab is None:
                return None, []
            base = next((o + strtab - v for v, o, s in loads if v <= strtab < v + s), None)
            if base is None:
                return None, []

            def string(off: int) -> str:
                f.seek(base + off)
                s = f.read(256).split(b"\0", 1)[0]
                return s.decode("utf-8", "replace")
            return (string(soname_off) if soname_off is not None else None), [string(n) for n in needed[:256]]
    except (OSError, struct.error, ValueError):
        return None


class Graph:
    """DT_NEEDED edges between the ELF files of a tree (paths are resolved tree paths)."""

    def __init__(self, tree: Any):
        self.tree = tree
        self.needed: dict[str, list[str]] = {}
        self.libs: dict[str, str] = {}  # soname / file name in a library dir -> resolved path
        for d in LIB_DIRS:
            for node in tree.glob(f"{d}/*"):
                if ".so" in node.name:
                    real = tree.resolve(node.path)
                    if real is not None and real.is_file:
                        self.libs.setdefault(node.name, real.path)
        self._scanned: set[str] = set()

    def deps(self, path: str) -> list[str]:
        if path not in self._scanned:
            self._scanned.add(path)
            node = self.tree.nodes.get(path)
            info = dynamic_info(self.tree, node) if node is not None and node.is_file else None
            self.needed[path] = [self.libs[n] for n in (info[1] if info else []) if n in self.libs]
        return self.needed.get(path, [])

    def programs(self) -> Iterable[str]:
        for node in self.tree.files():
            if node.path.startswith(BIN_PREFIXES) and node.mode & 0o111 and ".so" not in node.name:
                yield node.path

    def reaching(self, targets: Iterable[str], limit: int = 50) -> list[list[str]]:
        """Chains program -> ... -> target for every program whose closure holds a target."""
        want = set(targets)
        chains = []
        for prog in sorted(self.programs(), key=lambda p: ("sbin/" not in p, p)):  # daemons before the limit bites
            prev: dict[str, str | None] = {prog: None}
            q = deque([prog])
            hit = None
            while q and hit is None:
                cur = q.popleft()
                for dep in self.deps(cur):
                    if dep not in prev:
                        prev[dep] = cur
                        if dep in want:
                            hit = dep
                            break
                        q.append(dep)
            if hit is not None:
                chain = [hit]
                while prev[chain[-1]] is not None:
                    chain.append(prev[chain[-1]])
                chains.append(list(reversed(chain)))
                if len(chains) >= limit:
                    break
        # daemons first (sshd is why liblzma mattered), then the shortest chains
        chains.sort(key=lambda ch: ("sbin/" not in ch[0], len(ch), ch[0]))
        return chains


def chain_names(chain: list[str]) -> str:
    return " > ".join(posixpath.basename(p) for p in chain)
