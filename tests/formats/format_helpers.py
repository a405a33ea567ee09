"""Helpers of the format tests: files built with the real gcc."""

from __future__ import annotations

import subprocess
from pathlib import Path


def gcc(work: Path, source: str, *flags: str, name: str = "out") -> bytes:
    work.mkdir(parents=True, exist_ok=True)
    (work / "src.c").write_text(source)
    subprocess.run(["gcc", "src.c", "-o", name, *flags], cwd=work, check=True, capture_output=True)
    return (work / name).read_bytes()
