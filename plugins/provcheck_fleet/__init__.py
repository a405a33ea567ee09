"""provcheck_fleet: whole registries into an inventory, and "which images are affected?" in under a second.

* ``provcheck scan registry://HOST[:PORT]/REPO[:TAG|@DIGEST]`` scans one image straight
  from a registry (``loader.py``);
* ``provcheck fleet scan SOURCE... --db inventory.sqlite`` pulls a catalog, a list of
  references or single images, attachments first, layers when needed, each distinct
  layer once (cached by digest), on a local process pool or a Dask cluster (``fleet.py``);
* ``provcheck query --db inventory.sqlite --advisory OSV.json`` or ``--component NAME
  [--versions RANGE]`` lists the affected images (``query.py``), as text, JSON, SARIF or
  CSV, exit 1 when any image is affected.

Rules: PC601 affected image, PC602 attached SBOM disagrees with the layers, PC603 registry
served content that does not match its digest.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import provcheck
from provcheck import UsageError

from .rules import RULES

REGISTRY_TYPES = ("registry", "docker")  # input types this plugin loads (registry://, docker://)
FLEET_UNITS = ("blobs/sha256/*",)  # what the cache's prune may evict: one kept layer blob (--keep-blobs)

__all__ = ["provcheck_register_rules", "provcheck_load_input", "provcheck_add_options", "provcheck_add_commands"]


@provcheck.hookimpl
def provcheck_register_rules():
    return RULES


@provcheck.hookimpl(tryfirst=True)
def provcheck_load_input(spec: Any, ctx: Any):
    if spec.type not in REGISTRY_TYPES:
        return None
    from .loader import load_registry_image  # httpx is imported only for registry inputs
    return load_registry_image(spec, ctx)


def _registry_args(g: Any, dest_prefix: str = "") -> None:
    d = lambda k: f"{dest_prefix}{k}"  # noqa: E731
    g.add_argument("--plain-http", dest=d("plain_http"), action="store_true", default=None,
                   help="talk to registries over plain HTTP (no TLS)")
    g.add_argument("--allow-cleartext-auth", dest=d("allow_cleartext_auth"), action="store_true", default=None,
                   help="with --plain-http: also send credentials over plain HTTP")
    g.add_argument("--ca-file", dest=d("ca_file"), metavar="PEM", help="trust this CA for registry TLS")
    g.add_argument("--registry-username", dest=d("username"), metavar="USER",
                   help="registry user (default: from Docker's config.json)")
    g.add_argument("--registry-password-stdin", dest=d("password_stdin"), action="store_true", default=None,
                   help="read the registry password from stdin (or set PROVCHECK_REGISTRY_PASSWORD)")
    g.add_argument("--docker-config", dest=d("docker_config"), metavar="FILE",
                   help="Docker config.json with credentials (default: $DOCKER_CONFIG/config.json, ~/.docker)")


@provcheck.hookimpl
def provcheck_add_options(parser: Any) -> None:
    _registry_args(parser, "fleet.")


def _password(args: argparse.Namespace, stdin_attr: str) -> str | None:
    if getattr(args, stdin_attr, None):
        return sys.stdin.readline().rstrip("\n")
    return os.environ.get("PROVCHECK_REGISTRY_PASSWORD")


# -- provcheck fleet scan ------------------------------------------------------------------------

def _setup_fleet(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["scan"], help="scan: pull images into the inventory")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="registry://HOST[:PORT] (whole catalog), registry://HOST/REPO[:TAG|@DIGEST], "
                        "or a file with one reference a line")
    p.add_argument("--db", required=True, metavar="FILE", help="the inventory (SQLite; created if missing)")
    p.add_argument("--mode", choices=["auto", "fast", "deep"], default="auto",
                   help="auto/fast: an attached SBOM answers without pulling layers; deep: always pull layers "
                        "and check the SBOM against them (default auto)")
    p.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local process pool (default) or an existing Dask cluster")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--scheduler-timeout", type=float, default=20.0, metavar="SECONDS",
                   help="how long to wait for the Dask scheduler (default 20)")
    p.add_argument("--dask-send-credentials", action="store_true",
                   help="send the registry user and password given to this command with every Dask task "
                        "(default: they stay here; workers use their own Docker config)")
    p.add_argument("--all-platforms", action="store_true", help="scan every platform of an index")
    p.add_argument("--rescan", action="store_true", help="rescan images already in the inventory")
    p.add_argument("--keep-blobs", action="store_true", help="keep downloaded layer blobs in the cache")
    _registry_args(p.add_argument_group("registry"))


def _run_fleet(args: argparse.Namespace, ctx: provcheck.CommandContext) -> int:
    """Layer results are entries of the cache, downloads wait in CACHE/dirs/fleet (``--cache-dir``;
    ``--no-cache``: a throw-away cache shared within this run only); ``--jobs``: local worker
    processes (default: CPUs)."""
    from .fleet import FleetOptions, FleetScan, SchedulerError
    from .inventory import Inventory
    from .loader import registry_options
    from .progress import FleetProgress

    if args.executor == "dask" and not args.scheduler:
        raise UsageError("--executor dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    if args.executor == "local" and (args.scheduler or args.dask_send_credentials):
        raise UsageError("--scheduler and --dask-send-credentials are for --executor dask")
    if args.executor == "dask":
        try:
            import distributed  # noqa: F401  (the optional extra)
        except ImportError as exc:
            raise UsageError(f"--executor dask needs Dask, an optional part of provcheck: "
                             f"pip install 'provcheck[dask]' ({exc})") from None
    config = ctx.config(args)
    values = {k: getattr(args, k, None) for k in ("plain_http", "allow_cleartext_auth", "ca_file", "username",
                                                  "docker_config")}
    values["password"] = _password(args, "password_stdin")
    if values["allow_cleartext_auth"] and not values["plain_http"]:
        raise UsageError("--allow-cleartext-auth only makes sense with --plain-http")
    if values["ca_file"] and not Path(values["ca_file"]).is_file():
        raise UsageError(f"--ca-file {values['ca_file']}: no such file")
    root = config.cache_root()
    throwaway = None
    if root is None:
        throwaway = tempfile.mkdtemp(prefix="provcheck-fleet-")
        root = Path(throwaway)
    opts = FleetOptions(registry=registry_options(values), cache_dir=provcheck.Cache(root).directory("fleet", units=FLEET_UNITS),
                        platform=args.platform or config.platform, all_platforms=args.all_platforms,
                        mode=args.mode, executor=args.executor, scheduler=args.scheduler, jobs=args.jobs or 0,
                        scheduler_timeout=args.scheduler_timeout, send_credentials=args.dask_send_credentials,
                        limits=config.limits, rescan=args.rescan, keep_blobs=args.keep_blobs)
    try:
        inv = Inventory(args.db)
    except (ValueError, OSError) as exc:
        raise provcheck.InputError(f"--db {args.db}: {exc}") from None
    enabled = args.progress if args.progress is not None else None
    try:
        with FleetProgress(enabled) as progress:
            try:
                stats = FleetScan(opts, inv, progress, hooks=ctx.hook).run(list(args.sources))
            except SchedulerError as exc:
                raise provcheck.InputError(str(exc)) from None
        summary = inv.summary()
    finally:
        inv.close()
        if throwaway:
            shutil.rmtree(throwaway, ignore_errors=True)
    notes = [] if ctx.hook.provcheck_linkage.get_hookimpls() else [
        "no plugin provides the linkage graph (the elf plugin is disabled): edges come from a plain "
        "RUNPATH and default-directory search"]
    result = {"schema": "provcheck/fleet-scan/v1", "db": str(args.db), "executor": opts.executor,
              "stats": asdict(stats), "inventory": summary, **({"notes": notes} if notes else {})}
    with ctx.output(args) as (stream, _color):
        if args.format == "json":
            stream.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
        else:
            s = stats
            stream.write(f"{s.images} images ({s.images_ok} ok, {s.images_failed} failed, {s.images_resumed} already in "
                         f"the inventory), {s.layers} distinct layers ({s.layers_scanned} scanned, {s.cache_hits} from "
                         f"cache, {s.layer_errors} failed), modes {s.modes or {}}, {s.findings} findings, "
                         f"{s.seconds:.1f}s\n")
            for e in s.errors:
                stream.write(f"error: {e['image']}: {e['error']}\n")
            for k in s.skipped:
                stream.write(f"skipped: {k['reason']}\n")
            for note in notes:
                stream.write(f"note: {note}\n")
    if stats.images_failed or stats.errors:  # failed images, unreadable references, catalog errors
        return 3
    if stats.findings and _findings_at_or_above(args.db, config.fail_on):
        return 1
    return 0


def _findings_at_or_above(db: str, threshold: provcheck.Severity) -> bool:
    import sqlite3
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        sevs = {r[0] for r in con.execute("SELECT DISTINCT f.severity FROM findings f JOIN images i ON "
                                          "i.id = f.image_id WHERE i.scan_id = (SELECT max(id) FROM scans)")}
    finally:
        con.close()
    known = {str(s): s for s in provcheck.Severity}
    return any(s in known and known[s] >= threshold for s in sevs)


# -- provcheck query -----------------------------------------------------------------------------

def _setup_query(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", required=True, metavar="FILE", help="the inventory written by `provcheck fleet scan`")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--advisory", action="append", metavar="OSV.json",
                      help="OSV record(s): a file (one record or a list) or a directory of *.json")
    what.add_argument("--component", metavar="NAME", help="package or source-package name, e.g. liblzma5 or xz-utils")
    p.add_argument("--versions", metavar="RANGE",
                   help="with --component: '5.6.0..5.6.1', '>=5.6.0,<5.6.2', '=5.6.1' (no revision: upstream "
                        "version compared)")
    p.add_argument("--max-files", type=int, default=200, metavar="N", help="files listed per component (default 200)")


def _run_query(args: argparse.Namespace, ctx: provcheck.CommandContext) -> int:
    from .inventory import Inventory
    from .query import dumps, load_advisories, run_query, sarif_report, write_csv, write_text

    if args.versions and not args.component:
        raise UsageError("--versions goes with --component")
    try:
        inv = Inventory(args.db, readonly=True)
    except (ValueError, OSError) as exc:
        raise provcheck.InputError(f"--db {args.db}: {exc}") from None
    try:
        advisories = None
        if args.advisory:
            try:
                advisories = load_advisories(args.advisory)
            except ValueError as exc:
                raise provcheck.InputError(f"--advisory: {exc}") from None
        try:
            result = run_query(inv, component=args.component, versions=args.versions, advisories=advisories,
                               max_files=args.max_files)
        except ValueError as exc:
            raise UsageError(f"--versions: {exc}") from None
    finally:
        inv.close()
    with ctx.output(args) as (stream, _color):
        if args.format == "json":
            stream.write(dumps(result) + "\n")
        elif args.format == "csv":
            write_csv(result, stream)
        elif args.format == "sarif":
            ctx.formats["sarif"].write(sarif_report(result, ctx.rules), stream, False)
        elif args.format == "html":
            from .html import query_page
            provcheck.write_html_page(stream, None, **query_page(result, os.path.basename(args.db)))
        else:
            write_text(result, stream)
    if result["affected"]:
        return 1
    return 3 if result["images_not_scanned"] else 0


@provcheck.hookimpl
def provcheck_add_commands(commands: Any) -> None:
    commands.add("fleet", help="scan registries (catalogs, images) into an inventory: fleet scan SOURCE... --db FILE",
                 setup=_setup_fleet, run=_run_fleet, formats=("text", "json"),
                 options=("config", "cache", "platform", "fail-on", "run"))
    commands.add("query", help="which inventoried images contain a component or are hit by an OSV advisory",
                 setup=_setup_query, run=_run_query, formats=("text", "json", "sarif", "csv", "html"))
