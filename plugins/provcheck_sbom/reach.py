"""Which programs reach a library, from the linkage graph the ELF plugin provides through
the ``provcheck_linkage`` hook (the same resolution as its PC3xx checks)."""

from __future__ import annotations

from typing import Iterable, Sequence

from provcheck import Link

from .elfdeps import BIN_PREFIXES, chains_reaching


class LinkGraph:
    def __init__(self, links: Sequence[Link]):
        self._deps: dict[str, list[str]] = {}
        for e in links:
            if e.dst is not None and e.dst != e.src:
                self._deps.setdefault(e.src, []).append(e.dst)

    def reaching(self, targets: Iterable[str], limit: int = 50) -> list[list[str]]:
        """Chains program -> ... -> target for every program whose closure holds a target."""
        programs = [p for p in self._deps if p.startswith(BIN_PREFIXES)]
        return chains_reaching(programs, lambda p: self._deps.get(p, ()), targets, limit)
