"""Every case under samples/ (what `make demo` shows) reports what its case.toml expects."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("demo", ROOT / "samples/demo.py")
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)


@pytest.mark.parametrize("case_dir", demo.cases(), ids=lambda p: p.name)
def test_sample_case(case_dir, tmp_path):
    case, paths = demo.build_case(case_dir, tmp_path)
    proc = subprocess.run([sys.executable, "-m", "provcheck", *demo.command(case, paths), "--format", "json"],
                          capture_output=True, text=True, cwd=tmp_path)
    report = json.loads(proc.stdout)
    assert demo.check(case, report, proc.returncode) == [], proc.stderr
