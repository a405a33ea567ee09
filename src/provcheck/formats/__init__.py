"""Readers for the file formats plugins meet, shared by every plugin and hardened for
hostile input: a malformed file raises the reader's own error with a reason, never
anything else, and costs at most a bounded walk over itself.

* :mod:`provcheck.formats.elf`: ELF headers, dynamic section, notes, symbols, and where
  the described content ends.
* :mod:`provcheck.formats.binary`: Windows (PE) and macOS (Mach-O) executables, read with
  LIEF in a worker process: imports, signatures, overlay past the last section.
"""

from . import binary, elf

__all__ = ["binary", "elf"]
