"""The plugin manager: built-in modules, then the ``provcheck`` entry points.

* ``-p no:NAME`` blocks a plugin (built-in or installed) before it loads;
* ``PROVCHECK_DISABLE_PLUGIN_AUTOLOAD=1`` loads only the built-in core modules;
* ``PROVCHECK_TRACE_PLUGINS=1`` prints every hook call on stderr;
* misspelled hook names fail at start-up (``check_pending``), and so do duplicate rule ids.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from importlib import metadata
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
                if ep.dist is not None:  # its version is read when asked for (it parses the metadata)
                    self._dists[ep.name] = ep.dist
        for modname in extra:
            if self.get_plugin(modname) is None and not self.is_blocked(modname):
                self.register(_import(modname), name=modname)
        if os.environ.get("PROVCHECK_TRACE_PLUGINS"):
            self.trace.root.setwriter(lambda s: sys.stderr.write(s))
            self.enable_tracing()
        self.check_pending()
        self._collect_rules()

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


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _import(modname: str) -> Any:
    import importlib
    return importlib.import_module(modname)
