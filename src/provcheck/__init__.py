"""provcheck: what ships, checked against what was reviewed.

The public API for plugin authors. Everything else is internal and may change.
"""

__version__ = "0.1.0"

import pluggy

hookimpl = pluggy.HookimplMarker("provcheck")

from .config import Config, InputSpec, Limits  # noqa: E402
from .model import (Confidence, Finding, InputError, Location, ProvcheckError, Rule,  # noqa: E402
                    Severity, Suppression, ToolError, UsageError, rule_doc)
from .vfs import Artifact, BlobStore, Layer, Node, Tree  # noqa: E402

__all__ = [
    "__version__", "hookimpl", "Config", "InputSpec", "Limits", "Confidence", "Finding", "InputError",
    "Location", "ProvcheckError", "Rule", "Severity", "Suppression", "ToolError", "UsageError",
    "Artifact", "BlobStore", "Layer", "Node", "Tree", "Scan", "LoadContext", "rule_doc",
    "write_html_page", "html_release_view", "svg_graph",
]

_HTML = {"write_html_page": "write_page", "html_release_view": "release_view", "svg_graph": "svg_graph"}


def __getattr__(name: str):  # Scan and LoadContext import the plugin manager; load them lazily
    if name in ("Scan", "LoadContext"):
        from . import engine
        return getattr(engine, name)
    if name in _HTML:  # the HTML report (provcheck.report.html): commands add their views to it
        from .report import html
        return getattr(html, _HTML[name])
    if name == "sandbox":  # `from provcheck import sandbox` works without the import costing every run
        import importlib
        return importlib.import_module(".sandbox", __name__)
    raise AttributeError(name)
