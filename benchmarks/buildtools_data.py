"""The build-tools image of issue 13 (about 700 MB of layers when unpacked) and its merged
root filesystem, built from real Debian packages by ``tests/realdata.py`` (cached).

    .venv/bin/python benchmarks/buildtools_data.py     # prints the image and rootfs paths
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import realdata  # noqa: E402

LAYERS = [["libc6", "bash", "coreutils"], ["build-essential", "gcc", "g++", "python3", "perl"],
          ["openssh-server", "systemd", "curl"]]
NAME = "buildtools"


def image() -> Path:
    return realdata.image(LAYERS, NAME)


def rootfs() -> Path:
    return realdata.rootfs([p for group in LAYERS for p in group], NAME)


if __name__ == "__main__":
    print(image())
    print(rootfs())
