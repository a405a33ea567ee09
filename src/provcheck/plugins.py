"""The plugin manager: built-in modules, then the ``provcheck`` entry points.

* ``-p no:NAME`` blocks a plugin (built-in or installed) before it loads;
* ``PROVCHECK_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the built-in core modules;
* ``PROVCHECK_TRACE_PLUGINS=1`` prints every hook call on stderr;
* misspelled hook names fail at start-up (``check_pending``), and so do duplicate rule ids.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
import types
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import pluggy

from . import __version__, hookspecs
from .model import Rule, ToolError, UsageError

ENTRY_POINT_GROUP = "provcheck"

# Core modules registered like any plugin. Detectors are not here: they come from
# entry points, exactly as a third party's would.
DEFAULT_PLUGINS = (
    "provcheck.unpack.directory",
    "provcheck.unpack.archive",
    "provcheck.unpack.oci",
    "provcheck.unpack.git",
    "provcheck.report.text",
    "provcheck.report.json",
    "provcheck.report.sarif",
    "provcheck.report.html",
    "provcheck.suppress",
    "provcheck.engine_rules",
)


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    module: str
    builtin: bool
    hooks: tuple[str, ...]
    rules: tuple[str, ...]


class PluginManager(pluggy.PluginManager):
    def __init__(self) -> None:
        super().__init__("provcheck")
        self.add_hookspecs(hookspecs)
        self.rules: dict[str, Rule] = {}
        self.rule_owner: dict[str, str] = {}
        self._builtin: set[str] = set()
        self._dists: dict[str, Any] = {}  # plugin name -> the distribution that installed it
        self.load_errors: list[ToolError] = []
        self.hook.provcheck_addhooks.call_historic(kwargs={"pluginmanager": self})

    def load(self, blocked: Iterable[str] = (), extra: Iterable[str] = (), autoload: bool | None = None) -> None:
        for name in blocked:
            self.set_blocked(name)
        for modname in DEFAULT_PLUGINS:
            if not self.is_blocked(modname):
                self.register(_import(modname), name=modname)
                self._builtin.add(modname)
        if autoload is None:
            autoload = not os.environ.get("PROVCHECK_DISABLE_PLUGIN_AUTOLOAD")
        if autoload:
            for ep in _entry_points():
                if self.get_plugin(ep.name) is not None or self.is_blocked(ep.name):
                    continue
                try:
                    plugin = ep.load()
                except Exception as exc:  # reported on every run (exit 3), never silently skipped
                    self.load_errors.append(ToolError(stage="plugin", plugin=ep.name,
                                                      message=f"failed to import {ep.value}: {type(exc).__name__}: {exc}",
                                                      detail=traceback.format_exc()))
                    continue
                self.register(plugin, name=ep.name)
                if ep.dist is not None:  # its version is read when asked for
                    self._dists[ep.name] = ep.dist
        for modname in extra:
            if self.get_plugin(modname) is None and not self.is_blocked(modname):
                self.register(_import(modname), name=modname)
        if os.environ.get("PROVCHECK_TRACE_PLUGINS"):
            self.trace.root.setwriter(lambda s: sys.stderr.write(s))
            self.enable_tracing()
        self.check_pending()
        self._collect_rules()

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        """pluggy's answer, without ``inspect.getattr_static`` for a plain module's own
        attributes: a function carries its marker itself, and nothing but a function,
        static or class method or bound method can be a hook (about 700 lookups a start)."""
        if type(plugin) is types.ModuleType:
            value = plugin.__dict__.get(name)
            if type(value) is types.FunctionType:
                opts = getattr(value, "provcheck_impl", None)
                return opts if isinstance(opts, dict) else None
            if not isinstance(value, (staticmethod, classmethod, types.MethodType)):
                return None
        return super().parse_hookimpl_opts(plugin, name)

    def is_builtin(self, name: str) -> bool:
        return name in self._builtin

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        result = super().register(plugin, name)
        if result is not None and self.rules:  # registered after start-up (tests)
            self._collect_rules()
        return result

    def _collect_rules(self) -> None:
        self.rules.clear()
        self.rule_owner.clear()
        for name, rules in self.call_each("provcheck_register_rules"):
            for rule in rules or ():
                if not isinstance(rule, Rule):
                    raise UsageError(f"plugin {name!r} registered {rule!r}, which is not a provcheck.Rule")
                if rule.id in self.rules:
                    raise UsageError(f"rule {rule.id} is registered by both {self.rule_owner[rule.id]!r} and {name!r}")
                self.rules[rule.id] = rule
                self.rule_owner[rule.id] = name

    def call_each(self, hook: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Call every implementation of ``hook`` in pluggy's order, yielding (plugin name, result).

        This is pluggy's own ``_multicall`` loop, unrolled so the caller can isolate each
        plugin: an exception is raised to the caller with the plugin's name known.
        """
        caller = getattr(self.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            result = impl.function(*[kwargs[a] for a in impl.argnames])
            if hasattr(result, "__next__"):
                result = list(result)
            yield impl.plugin_name, result

    def call_isolated(self, hook: str, on_error: Callable[[str, BaseException, str], None],
                      options_for: Callable[[str], Any], **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """``call_each`` with per-plugin ``options`` and errors passed to ``on_error``."""
        caller = getattr(self.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            args = dict(kwargs, options=options_for(impl.plugin_name))
            try:
                result = impl.function(*[args[a] for a in impl.argnames])
                if hasattr(result, "__next__"):
                    result = list(result)
            except Exception as exc:  # isolation is the point: one plugin never sinks the scan
                on_error(impl.plugin_name, exc, traceback.format_exc())
                continue
            yield impl.plugin_name, result

    def plugin_version(self, name: str) -> str:
        """The version of the distribution that installed ``name`` (or its ``__version__``)."""
        dist = self._dists.get(name)
        if dist is not None:
            return str(dist.version)
        return str(getattr(self.get_plugin(name), "__version__", __version__))

    def plugin_infos(self) -> list[PluginInfo]:
        infos = []
        for name, plugin in sorted(self.list_name_plugin(), key=lambda x: x[0]):
            if plugin is None:
                continue
            version = self.plugin_version(name)
            hooks = tuple(sorted(c.name for c in self.get_hookcallers(plugin) or ()))
            rules = tuple(sorted(r for r, owner in self.rule_owner.items() if owner == name))
            infos.append(PluginInfo(name=name, version=version, module=getattr(plugin, "__name__", repr(plugin)),
                                    builtin=name in self._builtin, hooks=hooks, rules=rules))
        return infos


class EntryPoint:
    """A ``provcheck`` entry point: ``name = module[:attr]``, from the distribution at ``dist``
    (its ``.dist-info``/``.egg-info`` directory), as ``importlib.metadata.EntryPoint`` has them."""

    __slots__ = ("name", "value", "path", "_version")
    _VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")

    def __init__(self, name: str, value: str, path: str | None):
        self.name, self.value, self.path = name, value, path
        self._version: str | None = None

    @property
    def dist(self) -> "EntryPoint | None":
        """What knows the distribution's ``version`` (as ``importlib.metadata``'s ``dist``)."""
        return self if self.path is not None else None

    @property
    def version(self) -> str:
        """The distribution's version, read when first asked."""
        if self._version is None:
            self._version = _dist_version(self.path or "")
        return self._version

    def load(self) -> Any:
        import importlib
        match = self._VALUE.match(self.value)
        if match is None:
            raise ValueError(f"not an entry point: {self.value!r}")
        obj = importlib.import_module(match.group("module"))
        for attr in filter(None, (match.group("attr") or "").split(".")):
            obj = getattr(obj, attr)
        return obj


def _entry_points() -> list[Any]:
    """The ``provcheck`` entry points, as ``importlib.metadata.entry_points(group=...)`` finds
    them (the first distribution of a name on ``sys.path`` wins), read without importing
    ``importlib.metadata``: it imports the email package, a third of provcheck's start-up.
    Anything that search does not cover (zip files and eggs on ``sys.path``, distribution
    finders of other importers) is left to ``importlib.metadata`` itself."""
    from importlib.machinery import PathFinder
    if any(getattr(f, "find_distributions", None) is not None and f is not PathFinder for f in sys.meta_path):
        return _metadata_entry_points()
    seen: set[str] = set()
    found: list[EntryPoint] = []
    for entry in sys.path:
        if not isinstance(entry, str):
            continue
        try:
            children = os.listdir(entry or ".")
        except OSError:
            if os.path.isfile(entry or "."):  # a zip file on the path
                return _metadata_entry_points()
            continue
        if entry.lower().endswith(".egg"):
            return _metadata_entry_points()
        groups: dict[str, list[str]] = {}  # normalized name -> metadata directories, in listing order
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                if not child.endswith((".dist-info", ".egg-info")):  # its name then comes from its METADATA
                    return _metadata_entry_points()
                groups.setdefault(_normalize(low.rpartition(".")[0].partition("-")[0]), []).append(child)
        for name, dirs in groups.items():
            for child in dirs:
                if name in seen:
                    continue
                seen.add(name)
                path = os.path.join(entry, child)
                try:
                    with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as f:
                        text = f.read()
                except OSError:
                    continue
                found += [EntryPoint(n, v, path) for n, v in _group_pairs(text, ENTRY_POINT_GROUP)]
    return sorted(found, key=lambda ep: ep.name)


def _metadata_entry_points() -> list[Any]:
    from importlib import metadata
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().replace("-", "_")


def _group_pairs(text: str, group: str) -> Iterator[tuple[str, str]]:
    """``name = value`` lines of the ``[group]`` section of an ``entry_points.txt``."""
    section = None
    for line in map(str.strip, text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line.strip("[]")
        elif section == group and "=" in line:
            name, value = line.split("=", 1)
            yield name.strip(), value.strip()


def _dist_version(path: str) -> str:
    """The ``Version`` header of a distribution's METADATA (PKG-INFO for ``.egg-info``)."""
    for fname in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(path, fname), encoding="utf-8") as f:
                text = f.read(1 << 20)
        except OSError:
            continue
        for line in text.splitlines():
            if not line.strip():  # the headers end at the first empty line
                break
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == "version":
                return value.strip()
        break
    from importlib import metadata  # no usable METADATA: let importlib.metadata say what it finds
    return str(metadata.PathDistribution(__import__("pathlib").Path(path)).version)


def _import(modname: str) -> Any:
    import importlib
    return importlib.import_module(modname)
