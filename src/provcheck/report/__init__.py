"""Output formats. Each is a built-in plugin returning ``OutputFormat`` values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TextIO


@dataclass(frozen=True)
class OutputFormat:
    """``write(report, stream, color)`` writes one report; ``color`` is true on a terminal."""

    name: str
    write: Callable[[Any, TextIO, bool], None]
    suffix: str = ""
