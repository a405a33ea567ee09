"""Coverage-guided fuzzing as part of the suite: each target of tests/fuzz/targets.py runs
under atheris for PROVCHECK_FUZZ_SECONDS (3 by default, 30 in CI through .ci/run; ``make
fuzz`` runs longer), seeded with real files. Every input that once broke a target is kept
in tests/fuzz/crashes/TARGET/ and replayed here on every run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import targets  # noqa: E402

SECONDS = int(os.environ.get("PROVCHECK_FUZZ_SECONDS", "3"))
CRASHES = HERE / "crashes"


def _regressions() -> list[tuple[str, Path]]:
    return [(t, p) for t in sorted(targets.TARGETS) for p in sorted((CRASHES / t).glob("*"))]


@pytest.mark.slow   # the OCI and binary targets build on real files (cached downloads)
@pytest.mark.parametrize("target,path", _regressions(), ids=lambda x: x if isinstance(x, str) else x.name)
def test_inputs_that_once_broke_a_reader_are_handled(target, path):
    targets.TARGETS[target][0](path.read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_fuzz(target, tmp_path):
    pytest.importorskip("atheris")
    corpus, seeds, found = tmp_path / "corpus", tmp_path / "seeds", tmp_path / "found"
    for d in (corpus, seeds, found):
        d.mkdir()
    targets.TARGETS[target][1](seeds)          # real files first (downloads are cached)
    proc = subprocess.run([sys.executable, str(HERE / "run.py"), target, str(SECONDS), str(corpus), str(seeds),
                           str(found)], capture_output=True, text=True, timeout=SECONDS * 4 + 120)
    crashes = sorted(found.iterdir())
    assert proc.returncode == 0 and not crashes, (
        f"{target}: the fuzzer broke the reader; keep the input as tests/fuzz/crashes/{target}/<name> "
        f"(found: {[c.name for c in crashes]})\n{proc.stderr[-3000:]}")
    runs = [line for line in proc.stderr.splitlines() if "stat::number_of_executed_units" in line]
    assert runs and int(runs[0].split(":")[-1]) > 0, proc.stderr[-2000:]
