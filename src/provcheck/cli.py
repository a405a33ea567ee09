"""The ``provcheck`` command line.

Exit codes (``ExitCode``): 0 clean, 1 findings at or above ``--fail-on``, 2 interrupted,
3 incomplete (a plugin failed or part of an input was unreadable), 4 usage error,
5 an input could not be read at all.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any, Iterator, Sequence, TextIO

from . import __version__
from .commands import Commands
from .config import Config, InputSpec, build_config, read_file_config
from .engine import ExitCode, Report, WorkArea, run
from .model import ProvcheckError, Severity, UsageError
from .plugins import PluginManager
from .progress import Progress


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2; ours is 4
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


class App:
    """What a command's ``run(args, app)`` gets: the plugin manager and shared helpers."""

    def __init__(self, pm: PluginManager, requested: Sequence[str] = ()):
        self.pm = pm
        self.requested = tuple(requested)  # plugins named with -p
        self.formats = {fmt.name: fmt for _, fmts in pm.call_each("provcheck_register_formats") for fmt in fmts or ()}

    def only_detectors(self, *plugins: Any) -> None:
        """For a focused command (``release``, ``verify``): unregister every detector but
        ``plugins``, those named with ``-p`` and those extending ``plugins`` through their
        own hooks (a detector that also adds release knowledge keeps adding it). The core
        and plugins that detect nothing (formats, finding enrichers) stay."""
        detector_hooks = {"provcheck_detect", "provcheck_crosscheck"}
        kept = tuple(p.__name__ for p in plugins)
        for name, plugin in list(self.pm.list_name_plugin()):
            if plugin is None or plugin in plugins or self.pm.is_builtin(name) or name in self.requested \
                    or getattr(plugin, "__name__", None) in self.requested:
                continue
            callers = self.pm.get_hookcallers(plugin) or ()
            spec_modules = {getattr(getattr(c.spec, "namespace", None), "__name__", "") for c in callers if c.spec}
            extends = any(m == k or m.startswith(k + ".") for m in spec_modules for k in kept)
            if not extends and detector_hooks & {c.name for c in callers}:
                self.pm.unregister(plugin)

    def config(self, args: argparse.Namespace, inputs: Sequence[InputSpec] = ()) -> Config:
        data, source = read_file_config(explicit=getattr(args, "config", None))
        plugin_values = {k: v for k, v in vars(args).items() if "." in k}
        for item in getattr(args, "set", None) or ():
            key, sep, value = item.partition("=")
            if not sep or "." not in key:
                raise UsageError(f"--set takes PLUGIN.KEY=VALUE, not {item!r}")
            plugin_values[key] = _parse_value(value)
        return build_config(
            data, source, inputs=inputs, select=_split(getattr(args, "select", None)),
            ignore=_split(getattr(args, "ignore", None)), fail_on=getattr(args, "fail_on", None),
            platform=getattr(args, "platform", None), work_dir=getattr(args, "work_dir", None),
            cache_dir=getattr(args, "cache_dir", None), no_cache=getattr(args, "no_cache", None),
            jobs=getattr(args, "jobs", None), plugin_values=plugin_values,
            progress=getattr(args, "progress", None))

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

    def scan(self, args: argparse.Namespace, config: Config | None = None, artifacts: Sequence[Any] = ()) -> Report:
        """Run the pipeline; ``artifacts`` are inputs a command loaded itself."""
        config = config or self.config(args, self.inputs(args))
        with WorkArea(config) as work, Progress(None if not config.progress else True) as progress:
            return run(config, self.pm, work, progress, artifacts=artifacts)

    def write_report(self, report: Report, args: argparse.Namespace) -> None:
        fmt = self.formats.get(args.format)
        if fmt is None:
            raise UsageError(f"unknown format {args.format!r} (known: {', '.join(sorted(self.formats))})")
        with self.output(args) as (stream, color):
            fmt.write(report, stream, color)

    @contextlib.contextmanager
    def output(self, args: argparse.Namespace) -> Iterator[tuple[TextIO, bool]]:
        target = getattr(args, "output", None)
        if target and target != "-":
            with open(target, "w", encoding="utf-8") as f:
                yield f, False
        else:
            yield sys.stdout, sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _split(values: Sequence[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- core commands ----------------------------------------------------------------------

def add_scan_options(parser: argparse.ArgumentParser, pm: PluginManager) -> None:
    g = parser.add_argument_group("scan options")
    g.add_argument("--fail-on", type=str.lower, choices=[str(s) for s in Severity],
                   help="exit 1 when a finding has at least this severity (default: high)")
    g.add_argument("--select", action="append", metavar="PREFIXES", help="only rules with these id prefixes")
    g.add_argument("--ignore", action="append", metavar="PREFIXES", help="drop rules with these id prefixes")
    g.add_argument("--platform", help="image platform OS/ARCH[/VARIANT] (default linux/amd64)")
    g.add_argument("--input", action="append", metavar="ROLE=ARTIFACT", help="another input with a role")
    g.add_argument("--source", metavar="ARTIFACT", help="what the targets were built from (role 'source')")
    g.add_argument("--set", action="append", metavar="PLUGIN.KEY=VALUE", help="a plugin option")
    g.add_argument("--config", metavar="FILE", help="config file (default: ./provcheck.toml or ./pyproject.toml)")
    g.add_argument("--work-dir", metavar="DIR", help="where unpacked blobs go (default: a temp dir)")
    g.add_argument("--cache-dir", metavar="DIR", help="results kept between runs (default ~/.cache/provcheck)")
    g.add_argument("--no-cache", action="store_true", default=None, help="neither read nor write the cache")
    g.add_argument("--jobs", type=int, metavar="N", help="parallel layer decompression")
    g.add_argument("--progress", action="store_true", default=None, help="show progress even when not a terminal")
    pg = parser.add_argument_group("plugin options")
    pm.hook.provcheck_add_options(parser=pg)


def cmd_scan(args: argparse.Namespace, app: App) -> int:
    if not args.artifacts and not args.input:
        raise UsageError("scan: name at least one artifact")
    report = app.scan(args)
    app.write_report(report, args)
    return report.exit_code()


def cmd_files(args: argparse.Namespace, app: App) -> int:
    config = app.config(args, app.inputs(args))
    with WorkArea(config) as work, Progress(None if not config.progress else True) as progress:
        from .engine import BlobStore, LoadContext
        ctx = LoadContext(app.pm, BlobStore(work / "blobs"), config, progress)
        code = ExitCode.OK
        with app.output(args) as (stream, _color):
            for spec in config.inputs:
                try:
                    artifact = ctx.load(spec)
                except ProvcheckError as exc:
                    print(f"provcheck: {exc}", file=sys.stderr)
                    code = ExitCode.INPUT
                    continue
                except Exception as exc:
                    print(f"provcheck: {spec.text}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
                    code = ExitCode.INPUT
                    continue
                nodes = list(artifact.tree.walk()) + sorted(artifact.tree.hidden, key=lambda n: n.path)
                for node in nodes:
                    if args.format == "text":
                        hid = f"  (hidden by {node.hidden_by[:19]})" if node.hidden_by else ""
                        link = f" -> {node.link_target}" if node.link_target else ""
                        stream.write(f"{node.type:8} {node.mode & 0o7777:04o} {node.size:>12} "
                                     f"{(node.sha256 or '-')[:16]:16} {node.path}{link}{hid}\n")
                    else:
                        d = node.to_dict()
                        if len(config.inputs) > 1:
                            d["artifact"] = artifact.name
                        stream.write(json.dumps(d, ensure_ascii=False) + "\n")
                for e in artifact.errors:
                    print(f"provcheck: {e}", file=sys.stderr)
                for f in artifact.findings:
                    print(f"provcheck: {f.rule_id} {f.location.path}: {f.message}", file=sys.stderr)
                if artifact.errors and code == ExitCode.OK:
                    code = ExitCode.INCOMPLETE
        return code


def cmd_rules(args: argparse.Namespace, app: App) -> int:
    rules = [app.pm.rules[r] for r in sorted(app.pm.rules)]
    with app.output(args) as (stream, _):
        if args.format == "json":
            json.dump([{"id": r.id, "name": r.name, "summary": r.summary, "severity": str(r.severity),
                        "plugin": app.pm.rule_owner[r.id]} for r in rules], stream, indent=2)
            stream.write("\n")
        else:
            for r in rules:
                stream.write(f"{r.id}  {r.name:32} {str(r.severity):8} {r.summary}\n")
    return ExitCode.OK


def cmd_rule(args: argparse.Namespace, app: App) -> int:
    rule = app.pm.rules.get(args.rule_id.upper())
    if rule is None:
        raise UsageError(f"no rule {args.rule_id!r}; `provcheck rules` lists them")
    with app.output(args) as (stream, _):
        if args.format == "json":
            json.dump({"id": rule.id, "name": rule.name, "summary": rule.summary, "severity": str(rule.severity),
                       "plugin": app.pm.rule_owner[rule.id], "doc": rule.doc}, stream, indent=2)
            stream.write("\n")
        else:
            stream.write(f"{rule.id} {rule.name} ({rule.severity}, from {app.pm.rule_owner[rule.id]})\n\n"
                         f"{rule.summary}\n\n{rule.doc.strip()}\n")
    return ExitCode.OK


def cmd_plugins(args: argparse.Namespace, app: App) -> int:
    infos = app.pm.plugin_infos()
    with app.output(args) as (stream, _):
        if args.format == "json":
            json.dump([{"name": i.name, "version": i.version, "module": i.module, "builtin": i.builtin,
                        "hooks": list(i.hooks), "rules": list(i.rules)} for i in infos], stream, indent=2)
            stream.write("\n")
        else:
            for i in infos:
                kind = "core" if i.builtin else "plugin"
                rules = ", ".join(i.rules) if i.rules else "-"
                stream.write(f"{i.name:28} {i.version:10} {kind:6} rules: {rules}\n")
    return ExitCode.OK


REPORT_FORMATS = ("text", "json", "sarif")  # and every format a plugin registers


def core_commands(commands: Commands, pm: PluginManager) -> None:
    def artifacts(nargs: str):
        return lambda p: p.add_argument("artifacts", nargs=nargs, metavar="ARTIFACT",
                                        help="directory, archive, package, image (layout or archive), git:PATH@REF")

    commands.add("scan", help="scan artifacts and report findings", setup=artifacts("*"), run=cmd_scan,
                 formats=REPORT_FORMATS, scan_options=True)
    commands.add("files", help="print the unpacked tree as JSON lines", setup=artifacts("+"), run=cmd_files,
                 formats=("json", "text"), scan_options=True)
    commands.add("rules", help="list every rule", setup=lambda p: None, run=cmd_rules)
    commands.add("rule", help="show one rule's documentation",
                 setup=lambda p: p.add_argument("rule_id", metavar="RULE"), run=cmd_rule)
    commands.add("plugins", help="list loaded plugins with versions and rules", setup=lambda p: None,
                 run=cmd_plugins)


# -- entry point ----------------------------------------------------------------------------

def _take_plugin_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Pull every ``-p NAME`` / ``-pNAME`` out of argv, wherever it stands."""
    rest, plugins = [], []
    it = iter(argv)
    for arg in it:
        if arg == "-p":
            value = next(it, None)
            if value is None:
                raise UsageError("-p needs a plugin name (or no:NAME)")
            plugins.append(value)
        elif arg.startswith("-p") and not arg.startswith("--"):
            plugins.append(arg[2:])
        else:
            rest.append(arg)
    return rest, plugins


def build_parser(pm: PluginManager, commands: Commands, report_formats: Sequence[str]) -> ArgumentParser:
    parser = ArgumentParser(prog="provcheck", description="What ships, checked against what was reviewed.")
    parser.add_argument("--version", action="version", version=f"provcheck {__version__}")
    parser.add_argument("-p", dest="_plugins", metavar="NAME", action="append",
                        help="load plugin NAME (a module), or no:NAME to disable one")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for cmd in commands.commands.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.setup(p)
        if cmd.scan_options:
            add_scan_options(p, pm)
        formats = cmd.formats
        if formats == REPORT_FORMATS:
            formats = tuple(dict.fromkeys([*REPORT_FORMATS, *sorted(report_formats)]))
        p.add_argument("--format", default=formats[0], choices=formats, help=f"output format (default {formats[0]})")
        p.add_argument("--output", "-o", metavar="FILE", help="write output to FILE instead of stdout")
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, plugin_args = _take_plugin_args(argv)
        pm = PluginManager()
        pm.load(blocked=[p[3:] for p in plugin_args if p.startswith("no:")],
                extra=[p for p in plugin_args if not p.startswith("no:")])
        for err in pm.load_errors:
            print(f"provcheck: plugin {err.plugin!r} {err.message}", file=sys.stderr)
        commands = Commands()
        core_commands(commands, pm)
        pm.hook.provcheck_add_commands(commands=commands)
        app = App(pm, [p for p in plugin_args if not p.startswith("no:")])
        parser = build_parser(pm, commands, list(app.formats))
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help(sys.stderr)
            return ExitCode.USAGE
        return int(args._run(args, app))
    except KeyboardInterrupt:
        print("provcheck: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except UsageError as exc:
        print(f"provcheck: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except ProvcheckError as exc:
        print(f"provcheck: {exc}", file=sys.stderr)
        return ExitCode.INPUT
    except BrokenPipeError:
        return ExitCode.OK
    except Exception as exc:  # never a bare traceback for the user; PROVCHECK_DEBUG=1 shows it
        if os.environ.get("PROVCHECK_DEBUG"):
            raise
        print(f"provcheck: internal error: {type(exc).__name__}: {exc} (PROVCHECK_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return ExitCode.INCOMPLETE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
