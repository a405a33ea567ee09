"""provcheck_elf: the ELF linkage graph of an image or tree, its queries and its policies (PC3xx).

Every ELF file of a target is parsed (a pure-Python, bounds-checked reader; results
cached by blob sha256), its DT_NEEDED and ``.note.dlopen`` names are resolved the way the
tree's own dynamic loader would resolve them, and the resulting graph is checked against
policies configured under ``[plugins.elf]``. ``provcheck linkage`` queries the graph.
See docs/plugins/elf.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

import provcheck
from provcheck import ToolError

from . import hookspecs
from .rules import RULES

if TYPE_CHECKING:
    from .analysis import Analysis, ParseCache
    from .policies import Options

# The analysis and policy modules are imported on first use: every provcheck command
# imports every plugin at start-up.

__version__ = "0.1.0"
PLUGIN = "elf"


@provcheck.hookimpl
def provcheck_addhooks(pluginmanager: Any) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@provcheck.hookimpl
def provcheck_register_rules() -> list:
    return list(RULES)


@provcheck.hookimpl
def provcheck_add_commands(commands: Any) -> None:
    commands.add("linkage", help="query the ELF linkage graph of an image or tree (paths, dependents, DOT)",
                 setup=f"{__name__}.command:setup", run=f"{__name__}.command:run",
                 formats=("text", "json", "dot", "svg", "html"), options=("config", "cache", "platform", "run"))


def plugin_policies(hooks: Any) -> list[Mapping[str, Any]]:
    """Forbidden-reachability policies other plugins add via ``provcheck_elf_policies``
    (``hooks``: ``scan.hook`` or ``ctx.hook``)."""
    hook = getattr(hooks, "provcheck_elf_policies", None)
    if hook is None:
        return []
    out = []
    for result in hook():
        out.extend(result or ())
    return out


def open_cache(opts: Options, cache: provcheck.Cache | None, artifact: Any) -> ParseCache | None:
    """The parse cache of ``artifact``, in the core's persistent cache (``--cache-dir``,
    ``$PROVCHECK_CACHE_DIR``, ``~/.cache/provcheck``); none with ``cache = false`` or
    ``--no-cache`` (``cache`` is None)."""
    if not opts.cache or cache is None:
        return None
    from .analysis import ParseCache
    return ParseCache(cache, artifact.name)


def analysis_for(scan: Any, artifact: Any, opts: Options) -> Analysis:
    """The artifact's analysis, built once per scan (``scan.stash``)."""
    key = (__name__, "analysis", artifact.name, id(artifact))
    an = scan.stash.get(key)
    if an is None:
        from .analysis import analyze
        an = scan.stash[key] = analyze(artifact, open_cache(opts, getattr(scan, "cache", None), artifact))
    return an


def errors_of(an: Analysis) -> list[ToolError]:
    errs = [ToolError(stage="detect", plugin=PLUGIN, artifact=an.artifact.name, path=path, message=why)
            for path, why in an.errors]
    errs += [ToolError(stage="detect", plugin=PLUGIN, artifact=an.artifact.name, path=path, message=why)
             for path, why in an.packages.failed]
    return errs


@provcheck.hookimpl
def provcheck_detect(scan: Any, options: Mapping[str, Any]) -> Iterable:
    from .policies import ALL_CHECKS, Options
    opts = Options.parse(options, plugin_policies(scan.hook))
    findings = []
    for artifact in scan.targets or scan.artifacts:
        an = analysis_for(scan, artifact, opts)
        for check in ALL_CHECKS:
            findings.extend(check(an, opts))
        scan.errors.extend(errors_of(an))  # after the checks: the deep pass adds its own
        if an.cache:
            an.cache.flush()
    return findings


@provcheck.hookimpl
def provcheck_linkage(tree: Any, elf: Any, artifact: Any, scan: Any) -> list[provcheck.Link]:
    """The graph other plugins use (the SBOM plugin's "reached by", the fleet's edges)."""
    if scan is not None and artifact is not None:
        from .policies import Options
        graph = analysis_for(scan, artifact, Options.parse(scan.config.options(PLUGIN),
                                                           plugin_policies(scan.hook))).graph
    elif elf is not None:
        from .graph import build
        graph = build(tree, {k: dict(v) for k, v in elf.items()})
    else:
        from .analysis import analyze
        graph = analyze(artifact or provcheck.Artifact(name="tree", role="target", kind="tree", tree=tree),
                        None).graph
    return [provcheck.Link(src=e.src, name=e.name, dst=e.dst, kind=e.kind)
            for src in sorted(graph.edges) for e in graph.edges[src]]


__all__ = ["provcheck_addhooks", "provcheck_register_rules", "provcheck_add_commands", "provcheck_detect",
           "provcheck_linkage"]
