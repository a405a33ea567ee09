"""Which programs reach this library": a DT_NEEDED search over the shared ELF reader.

Used for advisory output when the ELF plugin's own linkage graph is not available.
A file that cannot be read has no edges; its reason is kept in ``Graph.unreadable``.
"""

from __future__ import annotations

import posixpath
from collections import deque
from typing import Any, Callable, Iterable

from provcheck.formats import elf

LIB_DIRS = ("lib", "lib64", "usr/lib", "usr/lib64", "usr/local/lib", "lib/x86_64-linux-gnu",
            "usr/lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib/i386-linux-gnu",
            "usr/lib/i386-linux-gnu")
BIN_PREFIXES = ("bin/", "sbin/", "usr/bin/", "usr/sbin/", "usr/libexec/", "usr/lib/openssh/", "usr/local/bin/",
                "usr/local/sbin/", "opt/")


def dynamic_info(tree: Any, node: Any) -> tuple[str | None, list[str]]:
    """(DT_SONAME, [DT_NEEDED...]) of a file of ``tree``: (None, []) when it is not ELF;
    :class:`provcheck.formats.elf.ElfError` or OSError when it cannot be read."""
    with tree.open(node) as f:
        info = elf.parse_stream(f)
    return (None, []) if info is None else (info["soname"], info["needed"])


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
        self.unreadable: dict[str, str] = {}  # path -> why its edges are unknown

    def deps(self, path: str) -> list[str]:
        if path not in self._scanned:
            self._scanned.add(path)
            node = self.tree.nodes.get(path)
            needed: list[str] = []
            if node is not None and node.is_file:
                try:
                    needed = dynamic_info(self.tree, node)[1]
                except (elf.ElfError, OSError) as exc:
                    self.unreadable[path] = str(exc)
            self.needed[path] = [self.libs[n] for n in needed if n in self.libs]
        return self.needed.get(path, [])

    def programs(self) -> Iterable[str]:
        for node in self.tree.files():
            if node.path.startswith(BIN_PREFIXES) and node.mode & 0o111 and ".so" not in node.name:
                yield node.path

    def reaching(self, targets: Iterable[str], limit: int = 50) -> list[list[str]]:
        """Chains program -> ... -> target for every program whose closure holds a target."""
        return chains_reaching(self.programs(), self.deps, targets, limit)


def chains_reaching(programs: Iterable[str], deps: Callable[[str], Iterable[str]], targets: Iterable[str],
                    limit: int = 50) -> list[list[str]]:
    """The shortest chain program -> ... -> target (breadth first over ``deps``) of every program whose
    closure holds a target, at most ``limit`` of them: daemons first, then the shortest chains."""
    want = set(targets)
    chains = []
    for prog in sorted(programs, key=lambda p: ("sbin/" not in p, p)):  # daemons before the limit bites
        prev: dict[str, str | None] = {prog: None}
        q = deque([prog])
        hit = None
        while q and hit is None:
            cur = q.popleft()
            for dep in deps(cur):
                if dep not in prev:
                    prev[dep] = cur
                    if dep in want:
                        hit = dep
                        break
                    q.append(dep)
        if hit is not None:
            chain = [hit]
            while (step := prev[chain[-1]]) is not None:
                chain.append(step)
            chains.append(list(reversed(chain)))
            if len(chains) >= limit:
                break
    # daemons first (sshd is why liblzma mattered), then the shortest chains
    chains.sort(key=lambda ch: ("sbin/" not in ch[0], len(ch), ch[0]))
    return chains


def chain_names(chain: list[str]) -> str:
    return " > ".join(posixpath.basename(p) for p in chain)
