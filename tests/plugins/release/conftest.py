"""Fixtures for the release plugin: real Debian source/binary packages (cached under
.cache/release) turned into xz-style git repositories and release tarballs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import release_realdata as rd  # noqa: E402

import provcheck_release  # noqa: E402


class Cli:
    """``python -m provcheck`` with only the core and this plugin loaded (other plugins are
    developed in parallel and must not decide whether these tests pass)."""

    def __init__(self, cwd: Path):
        self.cwd = cwd

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
        env["PROVCHECK_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        return subprocess.run([sys.executable, "-m", "provcheck", "-p", "provcheck_release", *map(str, args)],
                              capture_output=True, text=True, cwd=self.cwd, env=env, timeout=600)

    def json(self, *args: str) -> tuple[int, dict]:
        proc = self(*args, "--format", "json")
        assert proc.stdout, proc.stderr
        return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def cli(checker) -> Cli:
    return Cli(checker.base)


@pytest.fixture
def release_checker(checker):
    checker.add_plugin(provcheck_release)
    return checker


@pytest.fixture(scope="session")
def xz_real():
    """(git files, release files, top dir) from the real xz-utils 5.4.1 orig tarball."""
    return rd.xz_trees()
