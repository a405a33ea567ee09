import sys
from pathlib import Path

import pytest

# tests/realdata.py (real Debian packages, cached) is importable as `realdata` from every test.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# `slow` (pyproject.toml): tests that need real data, and these, which take seconds each (a pip
# install, a real git history, thousands of layers): `make test-fast` runs the rest in under a
# minute. Tests that need real data are marked in their modules; a mis-marked one fails a fast
# run (realdata.needs_real_data), so the marker stays honest.
SLOW = (
    "tests/core/test_hostile.py::test_a_layer_of_many_whiteouts_is_applied_in_linear_time",
    "tests/core/test_hostile.py::test_hundred_thousand_members",
    "tests/core/test_cli_and_plugins.py::test_third_party_plugin_through_its_entry_point",
    "tests/core/test_cli_and_plugins.py::test_exit_codes_and_fail_on",
    "tests/core/test_images.py::test_real_debian_image",
    "tests/core/test_images.py::test_multi_platform_index",
    "tests/core/test_hostile_all_plugins.py::test_every_plugin_survives_malformed_files",
    "tests/core/test_sandbox.py",
    "tests/plugins/release/",
    "tests/plugins/attest/test_sigstore.py::test_scan_cli_options_and_unsigned_release",
    "tests/plugins/attest/test_sigstore.py::test_valid_bundle_verifies_with_identity",
    "tests/plugins/elf/test_hostile.py::test_reader_agrees_with_pyelftools_on_real_debian_files",
    "tests/plugins/elf/test_hostile.py::test_symbol_versions_on_real_debian_files",
)


REAL_DATA_FIXTURES = {"debian_sources"}  # fixtures shared by otherwise fast modules


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW) or REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
