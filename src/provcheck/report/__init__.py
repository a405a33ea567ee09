"""Output formats. Each is a built-in plugin returning ``OutputFormat`` values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TextIO

if TYPE_CHECKING:
    from ..engine import Report


@dataclass(frozen=True)
class OutputFormat:
    """``write(report, stream, color)`` writes one report; ``color`` is true on a terminal."""

    name: str
    write: Callable[["Report", TextIO, bool], None]
    suffix: str = ""
