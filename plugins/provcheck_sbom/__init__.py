"""provcheck_sbom: the declared inventory (SBOMs) against what is really in the artifact,
advisories (OSV) matched with each ecosystem's version order, and a purl on every finding.

Options (``[tool.provcheck.plugins.sbom]`` or the command line):

* ``--sbom FILE`` (``sbom``, repeatable): an SBOM describing the scanned artifact. SBOMs
  inside the artifact (``var/lib/db/sbom/*.spdx.json``, ...) and attached to an OCI layout
  (referrers, cosign ``.sbom``/``.att`` tags) are found without it.
* ``--advisories DIR`` (``advisories``, repeatable): OSV JSON records.

``provcheck sbom ARTIFACT --format cyclonedx|openvex|json|text`` writes the observed
inventory as CycloneDX (with the SBOM cross-check and advisory analysis) or OpenVEX.
"""

from __future__ import annotations

from typing import Any

from provcheck import ToolError, hookimpl

from .rules import RULES

# The inventory, SBOM and advisory modules are imported on first use: every provcheck
# command imports every plugin at start-up.

__all__ = ["Component", "observe", "RULES"]

STATE = "sbom"  # scan.stash key: the inventory, SBOMs and advisory results of one run


def _state(scan: Any) -> dict[str, Any]:
    return scan.stash.setdefault(STATE, {"targets": {}, "advisories": [], "records": []})


def run_state(report: Any) -> dict[str, Any] | None:
    """The inventory, SBOMs and advisory results of the run that made ``report``."""
    return report.stash.get(STATE)


@hookimpl
def provcheck_register_rules():
    return RULES


@hookimpl
def provcheck_add_options(parser):
    parser.add_argument("--sbom", dest="sbom.sbom", action="append", metavar="FILE",
                        help="an SBOM (SPDX 2/3, CycloneDX JSON/XML) of the scanned artifact; repeatable")
    parser.add_argument("--advisories", dest="sbom.advisories", action="append", metavar="DIR",
                        help="OSV advisory records (JSON files or directories); repeatable")


@hookimpl
def provcheck_detect(scan, options):
    from .checks import (PLUGIN, Digests, TargetState, check_library_links, check_package_files, check_sbom,
                         check_unowned, load_sboms)
    from provcheck.formats.inventory import observe, owners
    st = _state(scan)
    cache = scan.stash.setdefault(("sbom", "digests"), {})
    for artifact in scan.artifacts:
        if artifact.role == "source":
            continue
        errs: list[str] = []
        comps = observe(artifact, errs, getattr(scan, "cache", None))
        for e in errs:
            scan.errors.append(ToolError(stage="detect", plugin=PLUGIN, artifact=artifact.name, message=e))
        state = TargetState(artifact=artifact, components=comps, owners=owners(comps))
        st["targets"][artifact.name] = state
        results = getattr(scan, "results", None)  # md5/sha1 of a file depend on its content alone
        digests = Digests(artifact.tree, cache, results(__name__, artifact, {}, "digests/1") if results else None)
        yield from check_package_files(artifact, comps, digests)
        yield from check_unowned(artifact, comps)
        yield from check_library_links(artifact, comps)
        state.sboms = load_sboms(scan, artifact, options)
        for sbom in state.sboms:
            yield from check_sbom(artifact, sbom, comps, state.owners, digests, state)


@hookimpl
def provcheck_crosscheck(scan, findings, options):
    from provcheck.formats import versions as adv
    from .checks import PLUGIN, AdvisoryResult, check_advisories, _as_list
    st = _state(scan)
    paths = _as_list(options.get("advisories"))
    if not paths:
        return
    errs: list[str] = []
    records = adv.load(paths, errs)
    for e in errs:
        scan.errors.append(ToolError(stage="crosscheck", plugin=PLUGIN, message=e))
    st["records"] = records
    results: list[AdvisoryResult] = st["advisories"]
    for state in st["targets"].values():
        links = scan.hook.provcheck_linkage(tree=state.artifact.tree, elf=None, artifact=state.artifact, scan=scan)
        if links is None:
            from .elfdeps import Graph
            graph = Graph(state.artifact.tree)
            scan.notes.append(f"sbom: {state.artifact.name}: no plugin provides the linkage graph (the elf plugin "
                              f"is disabled); advisories are reached through a plain DT_NEEDED search")
        else:
            from .reach import LinkGraph
            graph = LinkGraph(links)
        yield from check_advisories(state, records, graph.reaching, results)
        for path, why in sorted(getattr(graph, "unreadable", {}).items()):  # the plain search's unread files
            scan.errors.append(ToolError(stage="crosscheck", plugin=PLUGIN, artifact=state.artifact.name, path=path,
                                         message=f"ELF file not read, so what it reaches is unknown: {why}"))


@hookimpl
def provcheck_modify_findings(findings, scan):
    """Give every finding without a component the purl of the package owning its file."""
    from provcheck.formats.packages import canonical
    targets = _state(scan)["targets"]
    for i, f in enumerate(findings):
        state = targets.get(f.location.artifact)
        if f.component is not None or state is None or not f.location.path:
            continue
        owner = state.owners.get(f.location.path) or state.owners.get(canonical(state.artifact.tree, f.location.path))
        if owner is not None:
            findings[i] = f.replace(component=owner.purl)


@hookimpl
def provcheck_add_commands(commands):
    commands.add("sbom", help="observed inventory as CycloneDX (with cross-check and advisories) or OpenVEX",
                 setup=f"{__name__}.export:setup", run=f"{__name__}.export:run",
                 formats=("cyclonedx", "openvex", "json", "text", "html"), scan_options=True)


def __getattr__(name: str) -> Any:
    """The inventory names this package exports, imported on first use."""
    if name in ("Component", "observe", "owners"):
        from provcheck.formats import inventory
        return getattr(inventory, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
