"""provcheck_release: explain every difference between a release archive and its source (PC1xx).

``provcheck release RELEASE --source SOURCE [--ref TAG]`` and, inside ``provcheck scan``,
whenever a target and a ``--source`` are both given. SOURCE is a git repository (the tag
found from the release version when no ref is given), a directory, or another archive.

Every release file gets a verdict: identical, recognised generated (how), regenerated,
release edit, unexplained, modified, or generated-but-not-from-its-generator; only-in-source
files are listed. Generated-file knowledge is data (``data/buildsystems/*.toml``), m4 macro
provenance comes from ``data/m4db.zip`` (``tools/harvest_m4.py``).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import provcheck
from provcheck import hookimpl

from . import hookspecs as _hookspecs
from .rules import RULES

__version__ = provcheck.__version__


@hookimpl
def provcheck_addhooks(pluginmanager: Any) -> None:
    pluginmanager.add_hookspecs(_hookspecs)


@hookimpl
def provcheck_register_rules():
    return list(RULES)


@hookimpl
def provcheck_add_commands(commands: Any) -> None:
    commands.add("release", help="compare a release archive with its source (git tag, directory or archive)",
                 setup=f"{__name__}.command:setup", run=f"{__name__}.command:run",
                 formats=("text", "json", "sarif", "html"), scan_options=True)


def _options(config: Any, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    # the plugin is "release" as an entry point, "provcheck_release" when registered by module
    return {**config.options("release"), **config.options("provcheck_release"), **(given or {})}


# The detector is imported only when there is a source to compare with: every provcheck
# command imports every installed plugin.
@hookimpl
def provcheck_configure(config: Any) -> None:
    options = _options(config)
    if options.get("source-repo"):
        from .detector import read_ahead
        read_ahead(config, options)


@hookimpl
def provcheck_detect(scan: Any, options: Mapping[str, Any]) -> Iterable[provcheck.Finding]:
    options = _options(scan.config, options)
    if (scan.artifact("source") is None and not options.get("source-repo")) or not scan.targets:
        return []
    from .detector import detect
    findings = list(detect(scan, options))
    if options.get("provenance") or options.get("provenance-history"):  # PEP 740 / npm, via the attest hook
        from .ecosystems.provenance import check
        findings += check(scan, options)
    return findings
