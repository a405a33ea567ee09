"""The pipeline, one way: config -> load inputs -> detect -> crosscheck -> modify -> report.

``run(config)`` returns a :class:`Report`; the CLI turns it into output and an exit code.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import re
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pluggy

from . import __version__
from .cache import Cache, FileResults
from .config import Config, InputSpec, Limits
from .model import Finding, InputError, ProvcheckError, Rule, Severity, ToolError
from .plugins import PluginInfo, PluginManager
from .progress import NULL, Progress
from .vfs import Artifact, BlobStore, Node, Tree

REPORT_SCHEMA = "provcheck/report/v1"


class ExitCode(enum.IntEnum):
    OK = 0            # nothing at or above --fail-on
    FINDINGS = 1      # findings at or above --fail-on
    INTERRUPTED = 2   # Ctrl-C
    INCOMPLETE = 3    # a plugin failed or part of an input could not be read
    USAGE = 4         # bad command line or config
    INPUT = 5         # an input could not be read at all


class LoadContext:
    """What loaders get: the blob store, the limits, progress, and ways to recurse."""

    def __init__(self, pm: PluginManager, store: BlobStore, config: Config, progress: Progress = NULL,
                 depth: int = 0, cache: Cache | None = None):
        self.pm = pm
        self.store = store
        self.config = config
        self.limits: Limits = config.limits
        self.progress = progress
        self.depth = depth
        self.work_dir = store.root.parent
        self.cache = cache  # the persistent cache (None with --no-cache)

    def load(self, spec: InputSpec) -> Artifact:
        """Load an input through ``provcheck_load_input``; InputError when no loader takes it."""
        artifact = self.pm.hook.provcheck_load_input(spec=spec, ctx=self)
        if artifact is None:
            what = f"type {spec.type!r}" if spec.type else "this kind of input"
            raise InputError(f"{spec.text}: no loader reads {what}")
        return artifact

    def unpack(self, node: Node, tree: Tree) -> Tree | None:
        return self.pm.hook.provcheck_unpack(node=node, tree=tree, ctx=self.nested())

    def nested(self) -> "LoadContext":
        return LoadContext(self.pm, self.store, self.config, self.progress, self.depth + 1, self.cache)


class Scan:
    """Everything detectors see: the artifacts of one run and shared helpers."""

    def __init__(self, config: Config, artifacts: list[Artifact], ctx: LoadContext, rules: Mapping[str, Rule]):
        self.config = config
        self.artifacts = artifacts
        self.ctx = ctx
        self.store = ctx.store
        self.cache: Cache | None = ctx.cache  # get/put by namespace, key and version; None with --no-cache
        self.rules = rules
        self.stash: dict[object, object] = {}  # plugin-private state; key by your own object
        self.extras: dict[str, object] = {}  # JSON-able sections for the report, by plugin name
        self.errors: list[ToolError] = []  # detectors append non-fatal errors here (exit 3)
        self.notes: list[str] = []  # what the reader should know that is no error (a missing plugin's part)
        self.findings: list[Finding] = []  # engine findings from nested unpacking
        self._unpacked: dict[tuple[str, str], Tree | None] = {}
        self._results: dict[tuple[object, ...], FileResults] = {}

    @property
    def hook(self) -> pluggy.HookRelay:
        """The hook relay, to call a plugin's own hooks (``scan.hook.provcheck_elf_policies()``)."""
        return self.ctx.pm.hook

    @property
    def targets(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.role == "target"]

    def artifact(self, role: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.role == role), None)

    def by_role(self, role: str) -> list[Artifact]:
        return [a for a in self.artifacts if a.role == role]

    def results(self, plugin: str, artifact: Artifact, options: Mapping[str, object], *inputs: object) -> FileResults:
        """The detector result cache of ``plugin`` (its registered name, or its module's name:
        the same plugin may be loaded either way) for ``artifact``: per-file values by content
        digest (``get(node)``, ``put(node, value)``, JSON-able), kept across runs in ``self.cache``.

        A value may depend only on the file's content and on what is declared here: the
        plugin's code (every source file of its package and of provcheck is digested, so a
        new version or an edit invalidates), ``options`` (this plugin's options as the hook
        got them), the limits, and ``inputs`` (anything else the value depends on, JSON-able
        or ``repr``-able: rules from other plugins' hooks, a mode). Never the path or the
        artifact: a file's value is shared by every path, artifact and image with that content.
        Written when the detector returns (the engine flushes); off with ``--no-cache``."""
        plugin = _plugin_name(self.ctx.pm, plugin)
        version = hashlib.sha256(json.dumps(
            [plugin, _code_digest(self.ctx.pm, plugin), sorted((str(k), repr(v)) for k, v in options.items()),
             sorted((k, repr(v)) for k, v in vars(self.config.limits).items()), [repr(i) for i in inputs]],
            separators=(",", ":")).encode()).hexdigest()
        key = (plugin, version, artifact.name, id(artifact))
        got = self._results.get(key)
        if got is None:
            got = self._results[key] = FileResults(self.cache, f"detect-{_slug(plugin)}", version, group=artifact.name)
        return got

    def flush_results(self) -> dict[str, dict[str, int]]:
        """Write new detector results; their hits and misses per plugin, for the report's stats."""
        counts: dict[str, dict[str, int]] = {}
        for (plugin, *_), results in self._results.items():
            results.flush()
            c = counts.setdefault(str(plugin), {"hits": 0, "misses": 0})
            c["hits"] += results.hits
            c["misses"] += results.misses
        return counts

    def unpack(self, artifact: Artifact, node: Node) -> Tree | None:
        """The tree inside a nested archive (cached), or None when it is not one we read.

        Errors (corrupt member, depth limit) are recorded on the scan, never raised."""
        key = (artifact.name, node.sha256 or node.path)
        if key not in self._unpacked:
            tree = None
            if len(node.chain) + 1 > self.config.limits.max_depth:
                self.errors.append(ToolError(stage="unpack", artifact=artifact.name, path=node.path,
                                             message=f"nesting deeper than {self.config.limits.max_depth} "
                                                     f"archives; not unpacked"))
            else:
                try:
                    tree = self.ctx.unpack(node, artifact.tree)
                    if tree is not None:
                        self.findings += [f.replace(location=f.location.replace(artifact=artifact.name))
                                          for f in tree.findings]
                        self.errors += [e.replace(artifact=artifact.name) for e in tree.errors]
                except ProvcheckError as exc:
                    self.errors.append(ToolError(stage="unpack", artifact=artifact.name, path=node.path,
                                                 message=str(exc)))
            self._unpacked[key] = tree
        return self._unpacked[key]


@dataclass
class Report:
    config: Config
    artifacts: list[Artifact]
    findings: list[Finding]
    errors: list[ToolError]
    rules: Mapping[str, Rule]
    plugins: list[PluginInfo] = field(default_factory=list)
    stats: dict[str, object] = field(default_factory=dict)
    extras: dict[str, object] = field(default_factory=dict)  # plugin sections of the JSON report
    stash: dict[object, object] = field(default_factory=dict)   # the scan's plugin state, for commands
    notes: list[str] = field(default_factory=list)        # e.g. what a disabled plugin would have added
    input_failed: bool = False
    schema: str = REPORT_SCHEMA
    version: str = __version__

    @property
    def active(self) -> list[Finding]:
        return [f for f in self.findings if f.suppression is None]

    def exit_code(self, fail_on: Severity | None = None) -> ExitCode:
        threshold = self.config.fail_on if fail_on is None else fail_on
        if self.input_failed:
            return ExitCode.INPUT
        if self.errors:
            return ExitCode.INCOMPLETE
        if any(f.severity >= threshold for f in self.active):
            return ExitCode.FINDINGS
        return ExitCode.OK

    def to_dict(self) -> dict[str, object]:
        used = sorted({f.rule_id for f in self.findings})
        return {
            "schema": self.schema,
            "tool": {"name": "provcheck", "version": self.version},
            "artifacts": [a.summary() for a in self.artifacts],
            "findings": [f.to_dict() for f in self.findings],
            "errors": [e.to_dict() for e in self.errors],
            "rules": {r: {"name": self.rules[r].name, "summary": self.rules[r].summary,
                          "severity": str(self.rules[r].severity)} for r in used if r in self.rules},
            "summary": {str(s): sum(1 for f in self.active if f.severity == s) for s in Severity}
                       | {"suppressed": sum(1 for f in self.findings if f.suppression)},
            "stats": self.stats,
            **({"notes": self.notes} if self.notes else {}),
            **({"extras": self.extras} if self.extras else {}),
        }


class WorkArea:
    """The only place provcheck writes: ``config.work_dir`` or a temp dir removed at exit."""

    def __init__(self, config: Config):
        self._given = config.work_dir
        self.path: Path | None = None

    def __enter__(self) -> Path:
        if self._given:
            self._given.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix="run-", dir=self._given))
        else:
            self.path = Path(tempfile.mkdtemp(prefix="provcheck-"))
        return self.path

    def __exit__(self, *exc: Any) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def run(config: Config, pm: PluginManager, work: Path, progress: Progress = NULL,
        artifacts: Iterable[Artifact] = (), store: BlobStore | None = None, cache: Cache | None = None) -> Report:
    """Run the whole pipeline in ``work`` (which the caller owns and removes); ``store`` is
    the work area's blob store when the caller already opened it (for ``artifacts``)."""
    started = time.monotonic()
    pm.hook.provcheck_configure(config=config)
    store = store if store is not None else BlobStore(work / "blobs")
    if cache is None and config.cache_root() is not None:
        cache = Cache(config.cache_root())  # type: ignore[arg-type]
    ctx = LoadContext(pm, store, config, progress, cache=cache)
    errors: list[ToolError] = list(pm.load_errors)
    loaded = list(artifacts)
    input_failed = False
    for spec in config.inputs:
        try:
            loaded.append(ctx.load(spec))
        except ProvcheckError as exc:
            input_failed = True
            errors.append(ToolError(stage="load", artifact=spec.text, message=str(exc)))
        except Exception as exc:  # a loader bug must not look like a clean input
            input_failed = True
            errors.append(ToolError(stage="load", artifact=spec.text, message=f"internal error: {exc!r}",
                                    detail=traceback.format_exc()))
    t_loaded = time.monotonic()

    scan = Scan(config, loaded, ctx, pm.rules)
    findings: list[Finding] = []
    for a in loaded:
        findings.extend(f.replace(detector=f.detector or "provcheck") for f in a.findings)
        errors.extend(a.errors)
    seen_errors = [len(a.errors) for a in loaded]  # lazy reads report more while detectors run

    def collect(stage: str, results: Iterable[tuple[str, Any]]) -> list[Finding]:
        out = []
        for plugin, found in results:
            for f in found or ():
                if not isinstance(f, Finding):
                    errors.append(ToolError(stage=stage, plugin=plugin, message=f"returned {type(f).__name__}, not a Finding"))
                elif pm.rule_owner.get(f.rule_id) != plugin:
                    errors.append(ToolError(stage=stage, plugin=plugin,
                                            message=f"reported rule {f.rule_id}, which it did not register"))
                else:
                    out.append(f.replace(detector=plugin))
        return out

    def on_error(stage: str):
        def record(plugin: str, exc: BaseException, tb: str) -> None:
            errors.append(ToolError(stage=stage, plugin=plugin, message=f"{type(exc).__name__}: {exc}", detail=tb))
        return record

    timings: dict[str, float] = {}

    def timed(results: Iterable[tuple[str, Any]]) -> Iterable[tuple[str, Any]]:
        t = time.monotonic()
        for plugin, res in results:
            timings[plugin] = timings.get(plugin, 0.0) + time.monotonic() - t
            yield plugin, res
            t = time.monotonic()

    findings += collect("detect", timed(pm.call_isolated(
        "provcheck_detect", on_error("detect"), config.options, scan=scan)))
    findings += [f.replace(detector="provcheck") for f in scan.findings]  # from nested unpacking
    detected = tuple(findings)
    findings += collect("crosscheck", timed(pm.call_isolated(
        "provcheck_crosscheck", on_error("crosscheck"), config.options, scan=scan, findings=detected)))
    errors.extend(scan.errors)
    for a, seen in zip(loaded, seen_errors):
        errors.extend(a.errors[seen:])

    findings = [_apply_severity(f, config) for f in findings if config.wants(f.rule_id)]
    findings = _dedupe(findings)
    for _ in pm.call_isolated("provcheck_modify_findings", on_error("modify"), config.options,
                              findings=findings, config=config, scan=scan):
        pass
    findings.sort(key=Finding.sort_key)
    cached_results = scan.flush_results()
    if cache is not None and cache.dropped:
        scan.notes += [f"cache: {d} (rebuilt)" for d in cache.dropped]
        cache.dropped.clear()
    stats: dict[str, object] = {"seconds": {"load": round(t_loaded - started, 3), "total": round(time.monotonic() - started, 3),
                         "plugins": {k: round(v, 3) for k, v in sorted(timings.items())}}}
    if cached_results:
        stats["cached_results"] = cached_results
    return Report(config=config, artifacts=loaded, findings=findings, errors=errors, rules=pm.rules,
                  plugins=pm.plugin_infos(), stats=stats, input_failed=input_failed, extras=scan.extras,
                  stash=scan.stash, notes=scan.notes)


_CODE_DIGESTS: dict[tuple[str, int], str] = {}  # by plugin name and object


def _plugin_name(pm: PluginManager, name: str) -> str:
    """The registered name of the plugin called or whose module is called ``name``."""
    if pm.get_plugin(name) is not None:
        return name
    for registered, obj in pm.list_name_plugin():
        if obj is not None and getattr(obj, "__name__", None) == name:
            return registered
    raise ValueError(f"no plugin named {name!r}")


def _code_digest(pm: PluginManager, plugin: str) -> str:
    """sha256 of the source of ``plugin``'s package (or module) and of provcheck's own package:
    what decides a detector's results, so an edited or upgraded plugin never gets old ones."""
    obj = pm.get_plugin(plugin)
    if obj is None:
        raise ValueError(f"no plugin named {plugin!r}")
    got = _CODE_DIGESTS.get((plugin, id(obj)))
    if got is None:
        h = hashlib.sha256(pm.plugin_version(plugin).encode())
        h.update(_core_digest(sys.modules[__package__ or "provcheck"].__file__ or ""))
        file = getattr(obj, "__file__", None)
        if file is None:  # a plugin object, not a module: its class's module
            file = getattr(sys.modules.get(type(obj).__module__), "__file__", None)
        if file is None:
            raise ValueError(f"plugin {plugin!r} has no source file to digest")
        h.update(_source_digest(file))
        got = _CODE_DIGESTS[(plugin, id(obj))] = h.hexdigest()
    return got


@functools.lru_cache(maxsize=None)
def _core_digest(file: str) -> bytes:
    """provcheck's own package: part of every plugin's digest, hashed once per process."""
    return _source_digest(file)


def _source_digest(file: str) -> bytes:
    """sha256 over a module's source, or over every ``.py`` file of a package (by ``__init__.py``)."""
    h = hashlib.sha256()
    path = Path(file)
    files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    for f in files:
        h.update(f"{f.relative_to(path.parent)}\0".encode())
        h.update(f.read_bytes())
    return h.digest()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:48]


def _apply_severity(f: Finding, config: Config) -> Finding:
    sev = config.severity.get(f.rule_id)
    return f if sev is None or sev == f.severity else f.replace(severity=sev)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for f in findings:
        seen.setdefault(f.fingerprint, f)
    return list(seen.values())
