"""Sub-commands: the registry plugins fill through ``provcheck_add_commands``, the shared
option groups a command asks for, and the :class:`CommandContext` its ``run`` gets.

Every command gets ``--format`` and ``--output`` (the ``output`` group). Other groups are
declared once, here, and shown only by the commands that name them in ``options=``:

* ``config``: ``--config``, ``--set``, ``--work-dir``;
* ``cache``: ``--cache-dir``, ``--no-cache``;
* ``platform``: ``--platform``;
* ``fail-on``: ``--fail-on`` (choices: every :class:`Severity`);
* ``run``: ``--jobs``, ``--progress``;
* ``rules``: ``--select``, ``--ignore``;
* ``inputs``: ``--input``, ``--source``;
* ``plugins``: every plugin's ``provcheck_add_options`` (detector options such as ``--sbom``).

``scan_options=True`` is every group, what ``provcheck scan`` shows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, TextIO

from .config import Config, InputSpec, build_config, read_file_config
from .model import Rule, Severity, UsageError

if TYPE_CHECKING:  # the engine pulls in the plugin manager; commands load it when they run
    import pluggy

    from .cache import Cache
    from .engine import LoadContext, Report
    from .plugins import PluginManager
    from .progress import Progress
    from .report import OutputFormat
    from .vfs import Artifact, BlobStore

OPTION_GROUPS = ("config", "cache", "platform", "fail-on", "run", "rules", "inputs", "plugins")


Setup = Callable[[argparse.ArgumentParser], object]
Run = Callable[[argparse.Namespace, "CommandContext"], int]


@dataclass(frozen=True)
class Command:
    """One sub-command. ``setup`` and ``run`` are callables or ``"module:function"`` names,
    imported only when this command is the one that runs (every command is registered at
    start-up; importing each one's module would cost every run)."""

    name: str
    help: str
    setup: Setup | str
    run: Run | str
    formats: tuple[str, ...] = ("text", "json")
    options: tuple[str, ...] = ()  # shared option groups (OPTION_GROUPS) this command uses

    def setup_function(self) -> Setup:
        return _resolve(self.setup, self.name)  # type: ignore[return-value]

    def run_function(self) -> Run:
        return _resolve(self.run, self.name)  # type: ignore[return-value]


def _resolve(target: object, command: str) -> Callable[..., object]:
    if callable(target):
        return target
    import importlib
    module, sep, attr = str(target).partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"command {command!r}: {target!r} is neither a callable nor 'module:function'")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


class Commands:
    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}

    def add(self, name: str, *, help: str, setup: Setup | str, run: Run | str,
            formats: tuple[str, ...] = ("text", "json"), options: Sequence[str] = (),
            scan_options: bool = False) -> None:
        """Add a command. ``setup``/``run``: callables or ``"module:function"`` (imported when
        the command runs). ``options`` names the shared groups it uses; ``scan_options`` is all of them."""
        for target in (setup, run):
            if not callable(target) and (not isinstance(target, str) or target.count(":") != 1):
                raise ValueError(f"command {name!r}: {target!r} is neither a callable nor 'module:function'")
        if name in self.commands:
            raise ValueError(f"command {name!r} is already defined")
        unknown = set(options) - set(OPTION_GROUPS)
        if unknown:
            raise ValueError(f"command {name!r}: unknown option groups {sorted(unknown)} (known: {OPTION_GROUPS})")
        groups = OPTION_GROUPS if scan_options else tuple(g for g in OPTION_GROUPS if g in options)
        self.commands[name] = Command(name, help, setup, run, formats, groups)


def add_option_groups(parser: argparse.ArgumentParser, groups: Sequence[str], pm: "pluggy.PluginManager") -> None:
    """Declare the shared options of ``groups`` on a command's parser."""
    g = parser.add_argument_group("common options") if set(groups) - {"plugins"} else None
    if g is not None and "fail-on" in groups:
        g.add_argument("--fail-on", type=str.lower, choices=[str(s) for s in Severity],
                       help="exit 1 when a finding has at least this severity (default: high)")
    if g is not None and "rules" in groups:
        g.add_argument("--select", action="append", metavar="PREFIXES", help="only rules with these id prefixes")
        g.add_argument("--ignore", action="append", metavar="PREFIXES", help="drop rules with these id prefixes")
    if g is not None and "platform" in groups:
        g.add_argument("--platform", help="image platform OS/ARCH[/VARIANT] (default linux/amd64)")
    if g is not None and "inputs" in groups:
        g.add_argument("--input", action="append", metavar="ROLE=ARTIFACT", help="another input with a role")
        g.add_argument("--source", metavar="ARTIFACT", help="what the targets were built from (role 'source')")
    if g is not None and "config" in groups:
        g.add_argument("--set", action="append", metavar="PLUGIN.KEY=VALUE", help="a plugin option")
        g.add_argument("--config", metavar="FILE", help="config file (default: ./provcheck.toml or ./pyproject.toml)")
        g.add_argument("--work-dir", metavar="DIR", help="where unpacked blobs go (default: a temp dir)")
    if g is not None and "cache" in groups:
        g.add_argument("--cache-dir", metavar="DIR", help="results kept between runs (default ~/.cache/provcheck)")
        g.add_argument("--no-cache", action="store_true", default=None, help="neither read nor write the cache")
    if g is not None and "run" in groups:
        g.add_argument("--jobs", type=int, metavar="N", help="parallel workers (default: a sensible number)")
        g.add_argument("--progress", action="store_true", default=None, help="show progress even when not a terminal")
    if "plugins" in groups:
        pm.hook.provcheck_add_options(parser=parser.add_argument_group("plugin options"))


class CommandContext:
    """What a command's ``run(args, ctx)`` gets: configuration from the command line, a work
    area with its blob store (created on first use, removed when the command returns),
    loading, the scan pipeline and report output.

    The core builds one per command; plugins never assemble work areas or loaders themselves.
    """

    def __init__(self, pm: "PluginManager", requested: Sequence[str] = ()):
        self.pm = pm
        self.requested = tuple(requested)  # plugins named with -p
        self.formats: dict[str, OutputFormat] = {
            fmt.name: fmt for _, fmts in pm.call_each("provcheck_register_formats") for fmt in fmts or ()}
        self._config: Config | None = None
        self._work: Any = None
        self._store: BlobStore | None = None
        self._loader: LoadContext | None = None
        self._progress: Progress | None = None
        self._cache: Any = None

    # -- the plugins ------------------------------------------------------------------------

    @property
    def hook(self) -> "pluggy.HookRelay":
        """The plugin manager's hook relay, for a plugin's own hooks (``ctx.hook.my_hook(...)``)."""
        return self.pm.hook

    @property
    def rules(self) -> Mapping[str, Rule]:
        """Every registered rule by id."""
        return self.pm.rules

    def only_detectors(self, *plugins: object) -> None:
        """For a focused command (``release``, ``verify``): unregister every detector but
        ``plugins``, those named with ``-p`` and those extending ``plugins`` through their
        own hooks (a detector that also adds release knowledge keeps adding it). The core
        and plugins that detect nothing (formats, finding enrichers) stay."""
        detector_hooks = {"provcheck_detect", "provcheck_crosscheck"}
        kept = tuple(str(getattr(p, "__name__", "")) for p in plugins)
        for name, plugin in list(self.pm.list_name_plugin()):
            if plugin is None or plugin in plugins or self.pm.is_builtin(name) or name in self.requested \
                    or getattr(plugin, "__name__", None) in self.requested:
                continue
            callers = self.pm.get_hookcallers(plugin) or ()
            spec_modules = {getattr(getattr(c.spec, "namespace", None), "__name__", "") for c in callers if c.spec}
            extends = any(m == k or m.startswith(k + ".") for m in spec_modules for k in kept)
            if not extends and detector_hooks & {c.name for c in callers}:
                self.pm.unregister(plugin)

    # -- configuration ------------------------------------------------------------------------

    def config(self, args: argparse.Namespace, inputs: Sequence[InputSpec] | None = None) -> Config:
        """The run configuration: config file, then the shared options, then ``--set``.
        ``inputs`` defaults to the command's ARTIFACT arguments and ``--input``/``--source``.
        The last configuration built is the one ``load``, ``store`` and ``scan`` use."""
        if inputs is None:
            inputs = self.inputs(args)
        data, source = read_file_config(explicit=getattr(args, "config", None))
        plugin_values = {k: v for k, v in vars(args).items() if "." in k}
        for item in getattr(args, "set", None) or ():
            key, sep, value = item.partition("=")
            if not sep or "." not in key:
                raise UsageError(f"--set takes PLUGIN.KEY=VALUE, not {item!r}")
            plugin_values[key] = _parse_value(value)
        config = build_config(
            data, source, inputs=inputs, select=_split(getattr(args, "select", None)),
            ignore=_split(getattr(args, "ignore", None)), fail_on=getattr(args, "fail_on", None),
            platform=getattr(args, "platform", None), work_dir=getattr(args, "work_dir", None),
            cache_dir=getattr(args, "cache_dir", None), no_cache=getattr(args, "no_cache", None),
            jobs=getattr(args, "jobs", None), plugin_values=plugin_values,
            progress=getattr(args, "progress", None))
        self.use(config)
        return config

    def use(self, config: Config) -> None:
        """Make ``config`` (e.g. one changed with ``config.replace``) the one ``load`` and ``scan`` use."""
        self._config = config
        self._loader = None

    def inputs(self, args: argparse.Namespace) -> list[InputSpec]:
        platform = getattr(args, "platform", None)
        specs = [InputSpec.parse(t, "target", platform) for t in getattr(args, "artifacts", None) or ()]
        for role_spec in getattr(args, "input", None) or ():
            role, sep, text = role_spec.partition("=")
            if not sep or not role:
                raise UsageError(f"--input takes ROLE=ARTIFACT, not {role_spec!r}")
            specs.append(InputSpec.parse(text, role, platform))
        if getattr(args, "source", None):
            specs.append(InputSpec.parse(args.source, "source", platform))
        return specs

    # -- the work area ------------------------------------------------------------------------

    def _current(self) -> Config:
        if self._config is None:
            raise UsageError("internal: the command used the work area before building its configuration")
        return self._config

    @property
    def work_dir(self) -> Path:
        """This command's work area (the only place provcheck writes); removed when it returns."""
        if self._work is None:
            from .engine import WorkArea
            area = WorkArea(self._current())
            self._work_path = area.__enter__()
            self._work = area
        return self._work_path

    @property
    def store(self) -> "BlobStore":
        """The content-addressed blob store of the work area."""
        if self._store is None:
            from .vfs import BlobStore
            self._store = BlobStore(self.work_dir / "blobs")
        return self._store

    @property
    def cache(self) -> "Cache | None":
        """The persistent cache shared by every command and process (``provcheck.Cache``),
        None with ``--no-cache``. Pruned to its size bound when the command returns."""
        root = self._current().cache_root()
        if root is None:
            return None
        if self._cache is None or self._cache.root != root:
            from .cache import Cache
            self._cache = Cache(root)
        return self._cache

    def load(self, spec: InputSpec) -> "Artifact":
        """Load one input through the loaders (``provcheck_load_input``); raises InputError."""
        if self._loader is None:
            from .engine import LoadContext
            from .progress import Progress
            config = self._current()
            if self._progress is None:  # on a terminal, or with --progress
                self._progress = Progress(None if not config.progress else True).__enter__()
            self._loader = LoadContext(self.pm, self.store, config, self._progress, cache=self.cache)
        return self._loader.load(spec)

    def scan(self, args: argparse.Namespace | None = None, config: Config | None = None,
             artifacts: Sequence["Artifact"] = ()) -> "Report":
        """Run the pipeline on ``config`` (default: built from ``args``); ``artifacts`` are inputs
        the command loaded itself (with ``load`` or on ``store``)."""
        from .engine import run
        from .progress import Progress
        if config is None:
            if args is None:
                raise UsageError("internal: scan needs args or a config")
            config = self.config(args)
        self.use(config)
        with Progress(None if not config.progress else True) as progress:
            return run(config, self.pm, self.work_dir, progress, artifacts=artifacts, store=self.store,
                       cache=self.cache)

    def close(self) -> None:
        try:
            if self._store is not None:
                self._store.finish()  # loaders save what they learnt (the file-identity cache) first
        finally:
            self._close()

    def _close(self) -> None:
        if self._cache is not None and self._cache.written:
            self._cache.prune()
            self._cache.written = 0
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None
        if self._work is not None:
            self._store = None
            self._loader = None
            self._work.__exit__(None, None, None)
            self._work = None

    def __enter__(self) -> "CommandContext":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- output ----------------------------------------------------------------------------------

    def write_report(self, report: "Report", args: argparse.Namespace) -> None:
        fmt = self.formats.get(args.format)
        if fmt is None:
            raise UsageError(f"unknown format {args.format!r} (known: {', '.join(sorted(self.formats))})")
        with self.output(args) as (stream, color):
            fmt.write(report, stream, color)

    @contextlib.contextmanager
    def output(self, args: argparse.Namespace) -> Iterator[tuple[TextIO, bool]]:
        """The stream ``--output`` names (stdout by default) and whether to use color."""
        target = getattr(args, "output", None)
        if target and target != "-":
            with open(target, "w", encoding="utf-8") as f:
                yield f, False
        else:
            yield sys.stdout, sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _split(values: Iterable[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
