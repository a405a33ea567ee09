"""The ``provcheck`` command line.

Exit codes (``ExitCode``): 0 clean, 1 findings at or above ``--fail-on``, 2 interrupted,
3 incomplete (a plugin failed or part of an input was unreadable), 4 usage error,
5 an input could not be read at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import NoReturn, Sequence

from . import __version__
from .commands import CommandContext, Commands, add_option_groups
from .engine import ExitCode
from .model import ProvcheckError, UsageError
from .plugins import PluginManager


class ArgumentParser(argparse.ArgumentParser):
    disabled: tuple[str, ...] = ()  # plugins named with -p no:NAME, for the hint below

    def error(self, message: str) -> NoReturn:  # argparse exits 2; ours is 4
        self.print_usage(sys.stderr)
        if self.disabled and ("unrecognized arguments" in message or "invalid choice" in message):
            message += f" (disabled with -p no:NAME: {', '.join(self.disabled)}; their commands and options are gone)"
        raise UsageError(f"{self.prog}: {message}")


# -- core commands ----------------------------------------------------------------------

def cmd_scan(args: argparse.Namespace, ctx: CommandContext) -> int:
    if not args.artifacts and not args.input:
        raise UsageError("scan: name at least one artifact")
    report = ctx.scan(args)
    ctx.write_report(report, args)
    return report.exit_code()


def cmd_files(args: argparse.Namespace, ctx: CommandContext) -> int:
    config = ctx.config(args)
    code = ExitCode.OK
    with ctx.output(args) as (stream, _color):
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


def cmd_cache(args: argparse.Namespace, ctx: CommandContext) -> int:
    from .cache import Cache
    from .config import parse_size
    from .report.text import safe_text
    config = ctx.config(args, inputs=())
    root = config.cache_root()
    if root is None:
        raise UsageError("the cache is off (--no-cache, or PROVCHECK_CACHE_DIR is empty)")
    cache = Cache(root)
    with ctx.output(args) as (stream, _):
        if args.action == "clear":
            cache.clear()
            stream.write(f"cleared {safe_text(str(root))}\n")
        elif args.action == "prune":
            removed, freed = cache.prune(parse_size(args.max_size) if args.max_size else None)
            stream.write(f"removed {removed} entries and directory units, {freed} bytes\n")
        info = cache.info()
        if args.format == "json":
            json.dump({"root": str(info.root), "entries": info.entries, "bytes": info.bytes,
                       "max_bytes": info.max_bytes,
                       "namespaces": {k: {"entries": n, "bytes": b} for k, (n, b) in info.namespaces.items()},
                       "directories": {k: {"files": n, "bytes": b, "evicted": info.units.get(k, [])}
                                       for k, (n, b) in info.directories.items()}},
                      stream, indent=2)
            stream.write("\n")
        else:
            stream.write(f"{safe_text(str(info.root))}: {info.entries} entries, {info.bytes} bytes "
                         f"(bound {info.max_bytes})\n")
            for name, (n, b) in sorted(info.namespaces.items()):
                stream.write(f"  {name:24} {n:8} entries {b:14} bytes\n")
            for name, (n, b) in sorted(info.directories.items()):
                units = info.units.get(name)
                how = (f"prune evicts {', '.join(safe_text(u) for u in units)} by last use" if units
                       else "not evicted: its owner declares no units; removed by clear")
                stream.write(f"  dirs/{name:19} {n:8} files   {b:14} bytes ({how})\n")
    return ExitCode.OK


def _cache_setup(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("info", "prune", "clear"), help="show, evict to the size bound, or empty it")
    p.add_argument("--max-size", metavar="SIZE", help="prune: the bound to evict down to (default 4G)")


def cmd_rules(args: argparse.Namespace, ctx: CommandContext) -> int:
    rules = [ctx.pm.rules[r] for r in sorted(ctx.pm.rules)]
    with ctx.output(args) as (stream, _):
        if args.format == "json":
            json.dump([{"id": r.id, "name": r.name, "summary": r.summary, "severity": str(r.severity),
                        "plugin": ctx.pm.rule_owner[r.id]} for r in rules], stream, indent=2)
            stream.write("\n")
        else:
            for r in rules:
                stream.write(f"{r.id}  {r.name:32} {str(r.severity):8} {r.summary}\n")
    return ExitCode.OK


def cmd_rule(args: argparse.Namespace, ctx: CommandContext) -> int:
    rule = ctx.pm.rules.get(args.rule_id.upper())
    if rule is None:
        raise UsageError(f"no rule {args.rule_id!r}; `provcheck rules` lists them")
    with ctx.output(args) as (stream, _):
        if args.format == "json":
            json.dump({"id": rule.id, "name": rule.name, "summary": rule.summary, "severity": str(rule.severity),
                       "plugin": ctx.pm.rule_owner[rule.id], "doc": rule.doc}, stream, indent=2)
            stream.write("\n")
        else:
            stream.write(f"{rule.id} {rule.name} ({rule.severity}, from {ctx.pm.rule_owner[rule.id]})\n\n"
                         f"{rule.summary}\n\n{rule.doc.strip()}\n")
    return ExitCode.OK


def cmd_plugins(args: argparse.Namespace, ctx: CommandContext) -> int:
    infos = ctx.pm.plugin_infos()
    with ctx.output(args) as (stream, _):
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
                 formats=("json", "text"), options=("config", "cache", "platform", "run"))
    commands.add("cache", help="the persistent cache: info, prune (LRU, to its size bound), clear",
                 setup=_cache_setup, run=cmd_cache, formats=("text", "json"), options=("config", "cache"))
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


def _chosen(argv: Sequence[str], commands: Commands) -> str | None:
    """The command ``argv`` runs (its first word that is not an option), if any."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in commands.commands else None
    return None


def build_parser(pm: PluginManager, commands: Commands, report_formats: Sequence[str],
                 only: str | None = None) -> ArgumentParser:
    """The whole command line; with ``only``, the other commands are listed by name and help
    but their options are not built (nor their modules imported)."""
    parser = ArgumentParser(prog="provcheck", description="What ships, checked against what was reviewed.")
    parser.add_argument("--version", action="version", version=f"provcheck {__version__}")
    parser.add_argument("-p", dest="_plugins", metavar="NAME", action="append",
                        help="load plugin NAME (a module), or no:NAME to disable one")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for cmd in commands.commands.values():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        if only is not None and cmd.name != only:
            continue
        cmd.setup_function()(p)
        add_option_groups(p, cmd.options, pm)
        formats = cmd.formats
        if formats == REPORT_FORMATS:
            formats = tuple(dict.fromkeys([*REPORT_FORMATS, *sorted(report_formats)]))
        p.add_argument("--format", default=formats[0], choices=formats, help=f"output format (default {formats[0]})")
        p.add_argument("--output", "-o", metavar="FILE", help="write output to FILE instead of stdout")
        p.set_defaults(_run=cmd.run_function())
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
        ArgumentParser.disabled = tuple(p[3:] for p in plugin_args if p.startswith("no:"))
        with CommandContext(pm, [p for p in plugin_args if not p.startswith("no:")]) as ctx:
            parser = build_parser(pm, commands, list(ctx.formats), only=_chosen(argv, commands) or "")
            args = parser.parse_args(argv)
            if not getattr(args, "_run", None):
                parser.print_help(sys.stderr)
                return ExitCode.USAGE
            return int(args._run(args, ctx))
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


GC_YOUNG = 100_000  # the garbage collector's first threshold in the program (``console``)


def console() -> NoReturn:
    """The ``provcheck`` program: ``main``, then exit without tearing the interpreter down when
    nothing else runs. Freeing every object of a large tree, module by module, costs about a
    tenth of a warm ``linkage``; ``atexit`` handlers still run and the output is flushed first.

    The cyclic garbage collector runs after ``GC_YOUNG`` new objects instead of 700: a
    command makes tens of thousands of objects that live until it ends (a tree's nodes, the
    caches' entries), which every young collection scanned again; that was 6 % of a warm
    ``linkage``. Cycles are still collected, less often."""
    import gc
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
    code = main()
    import threading
    if threading.active_count() == 1:
        import atexit
        atexit._run_exitfuncs()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (BrokenPipeError, ValueError):
            sys.exit(code)  # the usual exit reports what it can
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    console()
