"""The plugin API contract (scripts/check_imports.py), run as a test and in CI."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import check_imports  # noqa: E402


def test_plugins_import_only_the_public_api_and_no_other_plugin():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/check_imports.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
    assert "0 violations" in proc.stderr


def test_the_contract_catches_internal_modules_private_names_and_other_plugins(tmp_path):
    plugin = ROOT / "plugins" / "provcheck_demo_contract"  # a path under plugins/, removed below
    plugin.mkdir()
    try:
        f = plugin / "mod.py"
        f.write_text(textwrap.dedent("""
            import provcheck
            from provcheck import Finding, CommandContext, hookimpl
            from provcheck.formats.versions import version_compare
            from provcheck.formats import oci
            from provcheck.engine import WorkArea
            import provcheck.vfs
            from provcheck import packages
            from provcheck_sbom.checks import check_sbom
            from provcheck_demo_contract import mod
        """))
        got = check_imports.check_file(f, "provcheck_demo_contract", check_imports.public_names())
    finally:
        f.unlink()
        plugin.rmdir()
    assert [m.split(": ", 1)[1].split(" ")[0] for m in got] == [
        "provcheck.engine", "provcheck.vfs", "provcheck.packages", "imports"], got
    assert "provcheck_sbom.checks" in got[-1]


def test_the_public_api_is_what_the_docs_list():
    import provcheck
    for name in provcheck.__all__:
        assert getattr(provcheck, name) is not None, name
    docs = (ROOT / "docs/plugins.md").read_text()
    missing = [n for n in provcheck.__all__ if n not in ("__version__",) and f"`{n}`" not in docs]
    assert not missing, f"public names missing from docs/plugins.md: {missing}"
