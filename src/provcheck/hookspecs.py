"""Every hook provcheck calls. These docstrings are the plugin reference.

A plugin is a module (or object) with functions marked ``@provcheck.hookimpl`` whose
names are hook names below. An implementation may take fewer arguments than the spec
(pluggy's opt-in arguments), so hooks can grow without breaking plugins. Built-in
detectors live in ``plugins/`` and register through the ``provcheck`` entry-point group
exactly like third-party ones.

Lifecycle of a run, in the order hooks are called:

1. start-up: ``provcheck_addhooks``, ``provcheck_add_commands``, ``provcheck_add_options``,
   ``provcheck_register_rules``, ``provcheck_register_formats``, ``provcheck_configure``;
2. loading: ``provcheck_load_input`` once per input (first non-None wins), and
   ``provcheck_unpack`` when a detector asks the scan for a nested archive;
3. detection: ``provcheck_detect`` for every plugin, each isolated (an exception becomes
   an error in the report and exit code 3, the other plugins' findings are kept);
4. ``provcheck_crosscheck`` with every detector's findings, each isolated;
5. ``provcheck_modify_findings`` (suppressions, baselines), then the report is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import argparse

    from .commands import Commands
    from .config import Config, InputSpec
    from .engine import LoadContext, Scan
    from .model import Finding, Link, Rule
    from .report import OutputFormat
    from .vfs import Artifact, Node, Tree

hookspec = pluggy.HookspecMarker("provcheck")


# -- start-up -----------------------------------------------------------------------

@hookspec(historic=True)
def provcheck_addhooks(pluginmanager: "pluggy.PluginManager") -> None:
    """Add hook specifications of a plugin's own (``pluginmanager.add_hookspecs(module)``).

    :param pluginmanager: provcheck's plugin manager.
    """


@hookspec
def provcheck_add_commands(commands: "Commands") -> None:
    """Add sub-commands to the ``provcheck`` command line.

    Call ``commands.add(name, help=..., setup=fn(parser), run=fn(args, ctx) -> int,
    options=("config", "cache", ...))``: ``ctx`` is a :class:`provcheck.CommandContext`
    (configuration, work area, ``load``, ``scan``, ``write_report``); ``options`` names the
    shared option groups the command uses. Every command gets ``--format`` and ``--output``.
    ``setup`` and ``run`` may be ``"module:function"`` names instead of functions: the module
    is imported only when that command runs (every command is registered on every start-up,
    so a plugin keeps its command module out of ``provcheck --version`` and other commands).

    :param commands: the registry of sub-commands.
    """


@hookspec
def provcheck_add_options(parser: "argparse._ArgumentGroup") -> None:
    """Add options to ``provcheck scan`` (and the commands that ask for the ``plugins`` group).

    Use a ``dest`` of the form ``"<plugin>.<key>"``: the value then reaches the plugin
    as ``options[key]`` in ``provcheck_detect`` and ``provcheck_crosscheck``, overriding
    ``[tool.provcheck.plugins.<plugin>]`` from the config file.

    :param parser: an argparse argument group.
    """


@hookspec
def provcheck_register_rules() -> "Iterable[Rule]":  # type: ignore[empty-body]
    """Return the rules this plugin can report. Every rule id must be unique.

    :return: an iterable of :class:`provcheck.Rule`.
    """


@hookspec
def provcheck_register_formats() -> "Iterable[OutputFormat]":  # type: ignore[empty-body]
    """Return output formats (``OutputFormat(name, write)``) for ``--format``.

    :return: an iterable of :class:`provcheck.report.OutputFormat`.
    """


@hookspec
def provcheck_configure(config: "Config") -> None:
    """Called at the start of every scan run, once the configuration is final.

    :param config: the frozen run configuration.
    """


# -- loading ------------------------------------------------------------------------

@hookspec(firstresult=True)
def provcheck_load_input(spec: "InputSpec", ctx: "LoadContext") -> "Artifact | None":
    """Load one input into an :class:`Artifact`, or return None when it is not yours.

    Stops at first non-None result. ``spec.type`` is the user's ``TYPE:`` override or
    None; look at ``spec.path`` to decide. Read contents into ``ctx.store``; never
    extract to the host, execute, or import anything from the input. Record unsafe
    members as engine findings and unreadable parts as errors on the artifact.

    :param spec: what the user named (path, type, ref, role).
    :param ctx: the blob store, limits and progress reporter.
    :return: the artifact, or None.
    """


@hookspec(firstresult=True)
def provcheck_unpack(node: "Node", tree: "Tree", ctx: "LoadContext") -> "Tree | None":
    """Unpack a nested archive found inside a tree (a ``.deb`` in an image, a ``.tar.gz``
    in a release), or return None when it is not an archive you read.

    Stops at first non-None result. Called through ``scan.unpack(artifact, node)``,
    which caches the result and enforces the nesting-depth limit.

    :param node: the archive file.
    :param tree: the tree that holds it.
    :param ctx: the blob store, limits and progress reporter.
    :return: the nested tree, or None.
    """


# -- data one plugin provides to others -----------------------------------------------

@hookspec(firstresult=True)
def provcheck_linkage(tree: "Tree", elf: "Mapping[str, Mapping[str, Any]] | None", artifact: "Artifact | None",
                      scan: "Scan | None") -> "Sequence[Link] | None":
    """The dynamic-linkage graph of ``tree``, resolved as the loader would (RPATH, RUNPATH,
    ld.so.conf, class and machine), as :class:`provcheck.Link` edges. The ELF plugin
    implements it; callers (the SBOM plugin, the fleet) get None when no plugin provides
    it (``-p no:elf``) and must say so in their output.

    :param tree: the tree whose ELF files are linked.
    :param elf: facts already read by :mod:`provcheck.formats.elf` per tree path, or None
        to read them from ``tree``.
    :param artifact: the artifact of ``tree`` in a scan, or None.
    :param scan: the running scan (results computed by a detector are reused), or None.
    :return: every edge, or None.
    """


# -- detection ------------------------------------------------------------------------

@hookspec
def provcheck_detect(scan: "Scan", options: "Mapping[str, Any]") -> "Iterable[Finding] | None":
    """Look at the loaded artifacts and return findings.

    Called once per plugin, isolated: an exception is reported as an error of this
    plugin, the scan goes on and exits 3 (incomplete). Findings must use rule ids this
    plugin registered.

    A detector whose judgement of a file depends on the file's content alone (plus its
    code and options) keeps it in ``scan.results(plugin, artifact, options, *inputs)``:
    ``get(node)``/``put(node, value)`` by content digest, so a warm scan does not read
    the file again. Paths, names and the rest of the tree are applied every run.

    :param scan: the artifacts of this run, with ``scan.artifact(role)``, ``scan.targets``,
        ``scan.unpack(...)``, ``scan.results(...)`` (per-file results across runs),
        ``scan.cache`` (the persistent cache), ``scan.stash`` for plugin state (also
        on the report, for a plugin's own command), ``scan.extras[plugin]`` for a JSON-able
        section of the report, and ``scan.errors`` to append non-fatal ``ToolError`` values.
    :param options: this plugin's options (config table merged with command-line values).
    :return: findings (a generator is fine), or None.
    """


@hookspec
def provcheck_crosscheck(scan: "Scan", findings: "Sequence[Finding]",
                         options: "Mapping[str, Any]") -> "Iterable[Finding] | None":
    """Look at every detector's findings and return more (correlations, advisories).

    Called once per plugin, isolated like ``provcheck_detect``.

    :param scan: the scan.
    :param findings: all findings of the detection stage, read only.
    :param options: this plugin's options.
    :return: new findings, or None.
    """


@hookspec
def provcheck_modify_findings(findings: "list[Finding]", config: "Config", scan: "Scan") -> None:
    """Edit the final list in place: suppress (replace with ``f.replace(suppression=...)``),
    attach components (``f.replace(component=purl)``), re-rank, or drop. The only stage that
    changes existing findings. Isolated like ``provcheck_detect``.

    :param findings: the list the report will show.
    :param config: the run configuration.
    :param scan: the scan, for state kept in ``scan.stash`` by this plugin's detector.
    """
