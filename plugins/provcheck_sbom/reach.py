"""Which programs reach a library, from the linkage graph the ELF plugin provides through
the ``provcheck_linkage`` hook (the same resolution as its PC3xx checks)."""

from __future__ import annotations

from collections import deque
from typing import Iterable, Sequence

from provcheck import Link

from .elfdeps import BIN_PREFIXES


class LinkGraph:
    def __init__(self, links: Sequence[Link]):
        self._deps: dict[str, list[str]] = {}
        for e in links:
            if e.dst is not None and e.dst != e.src:
                self._deps.setdefault(e.src, []).append(e.dst)

    def reaching(self, targets: Iterable[str], limit: int = 50) -> list[list[str]]:
        """Chains program -> ... -> target for every program whose closure holds a target."""
        want = set(targets)
        chains = []
        programs = [p for p in self._deps if p.startswith(BIN_PREFIXES)]
        for prog in sorted(programs, key=lambda p: ("sbin/" not in p, p)):  # daemons before the limit bites
            prev: dict[str, str | None] = {prog: None}
            q = deque([prog])
            hit = None
            while q and hit is None:
                cur = q.popleft()
                for dep in self._deps.get(cur, ()):
                    if dep not in prev:
                        prev[dep] = cur
                        if dep in want:
                            hit = dep
                            break
                        q.append(dep)
            if hit is not None:
                chain = [hit]
                while prev[chain[-1]] is not None:
                    chain.append(prev[chain[-1]])  # type: ignore[arg-type]
                chains.append(list(reversed(chain)))
                if len(chains) >= limit:
                    break
        chains.sort(key=lambda ch: ("sbin/" not in ch[0], len(ch), ch[0]))
        return chains
