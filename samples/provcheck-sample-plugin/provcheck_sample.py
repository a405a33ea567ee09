"""A third-party plugin, registered through the ``provcheck`` entry-point group exactly like
the built-in ones, written against the public API alone (``provcheck`` and
``provcheck.formats``). Third parties use their own rule prefix (here ``SMP``).

* a detector: SMP001 for world-writable regular files;
* a command: ``provcheck perms ARTIFACT...`` lists world-writable and set-id files with the
  package that installed each (dpkg, apk or rpm database of the artifact).
"""

from __future__ import annotations

import argparse
import json
import stat
import sys

from provcheck import CommandContext, Commands, ExitCode, ProvcheckError, Rule, Severity, hookimpl
from provcheck.formats import packages

SMP001 = Rule(
    id="SMP001", name="world-writable-file", severity=Severity.MEDIUM,
    summary="Regular file writable by every user",
    doc="## What it does\nFlags regular files with the world-writable bit.\n\n"
        "## Why is this bad?\nAny local user can replace the content of such a file.\n\n"
        "## Example\n`etc/cron.daily/backup` with mode 0777.\n\n"
        "## References\n- CWE-732: Incorrect Permission Assignment for Critical Resource\n")


@hookimpl
def provcheck_register_rules():
    return [SMP001]


@hookimpl
def provcheck_detect(scan):
    for artifact in scan.artifacts:
        for node in artifact.tree.files():
            if node.mode & stat.S_IWOTH:
                yield SMP001.finding(location=node.location(artifact.name), key=node.path,
                                     message=f"{node.path} is world-writable (mode {node.mode & 0o7777:04o})",
                                     evidence={"mode": f"{node.mode & 0o7777:04o}", "sha256": node.sha256})


# -- provcheck perms ---------------------------------------------------------------------------

SPECIAL = stat.S_IWOTH | stat.S_ISUID | stat.S_ISGID


def _setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artifacts", nargs="+", metavar="ARTIFACT", help="directory, archive, package or image")


def _perms(args: argparse.Namespace, ctx: CommandContext) -> int:
    config = ctx.config(args)          # --config, --platform ... and ARTIFACT, as every command reads them
    code = ExitCode.OK
    with ctx.output(args) as (out, _color):
        for spec in config.inputs:
            try:
                artifact = ctx.load(spec)  # loaded into the command's work area, removed afterwards
            except ProvcheckError as exc:
                print(f"provcheck: {exc}", file=sys.stderr)
                code = ExitCode.INPUT
                continue
            owner = {f: p.name for p in packages.installed(artifact.tree).packages for f in p.files}
            for node in artifact.tree.files():
                if node.mode & SPECIAL:
                    row = {"artifact": artifact.name, "path": node.path, "mode": f"{node.mode & 0o7777:04o}",
                           "package": owner.get(packages.canonical(artifact.tree, node.path))}
                    if args.format == "json":
                        out.write(json.dumps(row) + "\n")
                    else:
                        out.write(f"{row['mode']} {row['path']}  ({row['package'] or 'no package'})\n")
            if artifact.errors and code == ExitCode.OK:
                code = ExitCode.INCOMPLETE
    return code


@hookimpl
def provcheck_add_commands(commands: Commands) -> None:
    commands.add("perms", help="list world-writable and set-id files with their package",
                 setup=_setup, run=_perms, formats=("text", "json"), options=("config", "platform"))
