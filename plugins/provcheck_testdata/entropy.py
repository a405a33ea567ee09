"""Shannon entropy of a file and its profile across the file, from sampled blocks."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO

BLOCK = 4096
HIGH = 7.2        # bits per byte: compressed or encrypted data
MAX_BLOCKS = 48   # blocks sampled per file (evenly spread) beyond which we do not read

_LOG = [0.0] + [math.log2(i) for i in range(1, BLOCK + 1)]


def shannon(data: bytes | memoryview) -> float:
    n = len(data)
    if n == 0:
        return 0.0
    counts = Counter(data).values()
    if n <= BLOCK:
        return _LOG[n] - sum(c * _LOG[c] for c in counts) / n
    return math.log2(n) - sum(c * math.log2(c) for c in counts) / n


@dataclass
class Profile:
    mean: float = 0.0
    low: float = 0.0
    high: float = 0.0
    high_fraction: float = 0.0          # of sampled blocks at or above HIGH
    blocks: list[tuple[int, float]] = field(default_factory=list)
    regions: list[tuple[int, int]] = field(default_factory=list)   # contiguous high-entropy runs (sampled)

    @property
    def opaque(self) -> bool:
        return self.high_fraction >= 0.9 and self.mean >= HIGH

    @property
    def mixed(self) -> bool:
        """Part structured, part compressed/encrypted."""
        return 0.1 <= self.high_fraction < 0.9 and self.low < 6.0

    def to_dict(self) -> dict:
        d = {"mean": round(self.mean, 3), "min": round(self.low, 3), "max": round(self.high, 3),
             "high_fraction": round(self.high_fraction, 3)}
        if self.regions:
            d["high_regions"] = [list(r) for r in self.regions[:8]]
        return d


def _block_entropy(block: bytes) -> float:
    # small blocks cannot reach 8 bits; scale so that a random block of n bytes reads ~8
    h = shannon(block)
    n = len(block)
    if n < BLOCK and n > 1:
        h = h * 8.0 / min(8.0, math.log2(n))
    return min(h, 8.0)


def profile_bytes(data: bytes) -> Profile:
    n = len(data)
    if n == 0:
        return Profile()
    offsets = _offsets(n)
    return _profile([(o, data[o:o + BLOCK]) for o in offsets], n)


def profile_file(f: BinaryIO, size: int, head: bytes = b"") -> Profile:
    if size == 0:
        return Profile()
    samples = []
    for o in _offsets(size):
        if o + BLOCK <= len(head):
            samples.append((o, head[o:o + BLOCK]))
        else:
            f.seek(o)
            samples.append((o, f.read(BLOCK)))
    return _profile(samples, size)


def _offsets(size: int) -> list[int]:
    count = (size + BLOCK - 1) // BLOCK
    if count <= MAX_BLOCKS:
        return [i * BLOCK for i in range(count)]
    step = (count - 1) / (MAX_BLOCKS - 1)
    return sorted({int(round(i * step)) * BLOCK for i in range(MAX_BLOCKS)})


def _profile(samples: list[tuple[int, bytes]], size: int) -> Profile:
    blocks = []
    weighted = 0.0
    total = 0
    for off, block in samples:
        if len(block) < 64 and len(samples) > 1:
            continue   # a short tail says nothing
        h = _block_entropy(block)
        blocks.append((off, h))
        weighted += h * len(block)
        total += len(block)
    if not blocks:
        return Profile()
    values = [h for _, h in blocks]
    mean = weighted / (total or 1)
    high = [h >= HIGH for h in values]
    regions: list[tuple[int, int]] = []
    start = None
    for (off, _), is_high in zip(blocks, high):
        if is_high and start is None:
            start = off
        elif not is_high and start is not None:
            regions.append((start, off))
            start = None
    if start is not None:
        regions.append((start, size))
    return Profile(mean=mean, low=min(values), high=max(values), high_fraction=sum(high) / len(high),
                   blocks=blocks, regions=regions)
