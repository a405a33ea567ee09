"""Session fixtures: real images (shared base layer), real registries (plain; TLS + htpasswd)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import images  # noqa: E402
import servers  # noqa: E402

APPS = [["openssh-server"], ["xz-utils"]]


@pytest.fixture(scope="session")
def fleet_images() -> dict[str, Path]:
    return images.fleet(APPS)


@pytest.fixture(scope="session")
def plain_registry(tmp_path_factory: pytest.TempPathFactory, fleet_images: dict[str, Path]):
    reg = servers.Registry(tmp_path_factory.mktemp("plain-registry")).start()
    try:
        reg.push(fleet_images["base"], "base:1")
        reg.push(fleet_images["base"], "base:latest")
        reg.push(fleet_images["openssh-server"], "apps/sshd:1")
        reg.push(fleet_images["xz-utils"], "apps/xz:1")
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory, fleet_images: dict[str, Path]):
    reg = servers.Registry(tmp_path_factory.mktemp("tls-registry"), tls=True, user="auditor",
                           password="s3cret-pass").start()
    try:
        reg.push(fleet_images["base"], "base:1")
        reg.push(fleet_images["openssh-server"], "apps/sshd:1")
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def fresh_registry(tmp_path: Path):
    """An empty plain registry for tests that push their own images."""
    reg = servers.Registry(tmp_path / "fresh-registry").start()
    try:
        yield reg
    finally:
        reg.stop()
