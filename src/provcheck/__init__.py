"""provcheck: what ships, checked against what was reviewed.

This module is the whole plugin API, with ``provcheck.formats`` (shared, hardened readers)
and ``provcheck.sandbox``. Every other module of the package is internal and may change;
plugins importing them fail the import contract checked in CI (``scripts/check_imports.py``).
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

import pluggy

hookimpl = pluggy.HookimplMarker("provcheck")

from .config import Config, InputSpec, Limits, parse_size  # noqa: E402
from .model import (Confidence, Finding, InputError, Link, Location, ProvcheckError, Rule,  # noqa: E402
                    Severity, Suppression, ToolError, UsageError, rule_doc)
from .vfs import DIR, FILE, HARDLINK, SYMLINK, Artifact, BlobStore, Layer, Node, Tree, glob_regex  # noqa: E402

__all__ = [
    "__version__", "hookimpl",
    # configuration
    "Config", "InputSpec", "Limits", "parse_size",
    # findings and errors
    "Confidence", "Finding", "InputError", "Link", "Location", "ProvcheckError", "Rule", "Severity", "Suppression",
    "ToolError", "UsageError", "rule_doc",
    # trees
    "Artifact", "BlobStore", "Layer", "Node", "Tree", "glob_regex", "FILE", "DIR", "SYMLINK", "HARDLINK",
    "file_sha256",
    # the pipeline and commands
    "Cache", "FileResults", "Scan", "LoadContext",
    "Report", "ExitCode", "CommandContext", "Commands", "OutputFormat", "safe_text",
    # the HTML report: a command's page, the release view, the standalone graph
    "write_html_page", "html_release_view", "svg_graph",
]

if TYPE_CHECKING:  # the lazy names below, for type checkers
    from .cache import Cache, FileResults
    from .commands import CommandContext, Commands
    from .engine import ExitCode, LoadContext, Report, Scan
    from .report import OutputFormat
    from .report.html import html_release_view, svg_graph, write_html_page
    from .report.text import safe_text
    from .unpack.archive import file_sha256

# Loaded on first use: they import the plugin manager, and `provcheck --version` stays fast.
_LAZY = {"Cache": "cache", "FileResults": "cache",
         "Scan": "engine", "LoadContext": "engine", "Report": "engine", "ExitCode": "engine",
         "CommandContext": "commands", "Commands": "commands", "OutputFormat": "report",
         "safe_text": "report.text", "file_sha256": "unpack.archive",
         "write_html_page": "report.html", "html_release_view": "report.html", "svg_graph": "report.html"}


def __getattr__(name: str) -> Any:
    import importlib
    if name in ("formats", "sandbox"):  # `from provcheck import sandbox` without costing every run
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'provcheck' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
