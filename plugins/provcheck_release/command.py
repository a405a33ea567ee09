"""``provcheck release RELEASE --source SOURCE [--ref TAG]``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TextIO

from provcheck import CommandContext, InputSpec, Severity, UsageError, safe_text

from .tags import find_tag, names_and_version


def setup(p: argparse.ArgumentParser) -> None:
    """``release`` also gets every scan option (``--source`` is required here)."""
    p.add_argument("release", metavar="RELEASE", help="the release archive (tar.gz/xz/bz2/zst, zip, ...) or directory")
    p.add_argument("--ref", metavar="TAG", help="the git ref to compare with (default: guessed from the release version)")
    p.add_argument("--knowledge", action="append", metavar="FILE",
                   help="extra build-system knowledge (TOML/JSON, format of data/buildsystems/autotools.toml)")
    p.add_argument("--all-files", action="store_true", help="text format: list every file's verdict")
    p.add_argument("--regenerate", choices=("auto", "always", "never"),
                   help="reproduce generated files in a sandbox: auto (default: whenever a toolchain can be had), "
                        "always (unavailable = incomplete, exit 3), never")
    p.add_argument("--provenance", action="append", metavar="FILE",
                   help="PEP 740 provenance / npm attestations / Sigstore bundle of the artifact (verified offline)")
    p.add_argument("--provenance-history", metavar="FILE", help="JSON of earlier releases' provenance signers")
    p.add_argument("--trusted-root", metavar="FILE", help="Sigstore trusted_root.json for --provenance")


def peek_top(path: Path) -> str:
    """The first member's top-level directory of an archive (no extraction), or ''."""
    if path.is_dir():
        return path.resolve().name
    try:
        import libarchive
        with libarchive.file_reader(os.fspath(path)) as archive:
            for entry in archive:
                name = entry.pathname or ""
                return name.lstrip("./").split("/", 1)[0]
    except Exception:  # unreadable here: the engine will report it properly when it loads the input
        return ""
    return ""


def source_spec(release: str, source: str, ref: str | None) -> tuple[InputSpec, str | None]:
    """The source as an input spec, a repository resolved to the release's tag."""
    from provcheck.formats import git as gitmod
    spec = InputSpec.parse(source, "source")
    path = Path(spec.path)
    is_git = spec.type == "git" or (spec.type is None and path.is_dir() and gitmod.is_repo(path))
    if not is_git:
        if ref:
            raise UsageError(f"--ref {ref}: {source} is not a git repository")
        return spec, None
    if spec.ref and not ref:
        return spec, spec.ref
    if not ref:
        names, version = names_and_version((peek_top(Path(release)), Path(release).name))
        if version is None:
            raise UsageError(f"cannot tell the version of {release}; name the tag with --ref")
        try:
            existing = gitmod.tags(path)
        except Exception as exc:
            raise UsageError(f"{source}: cannot list tags: {exc}") from None
        ref, tried = find_tag(existing, names, version)
        if ref is None:
            raise UsageError(f"no tag for version {version} in {source} (tried {', '.join(tried[:12])}, ...); "
                             "name it with --ref")
    return InputSpec.parse(f"git:{os.fspath(path)}@{ref}", "source"), ref


def run(args: argparse.Namespace, ctx: CommandContext) -> int:
    """The release detector only (and plugins named with ``-p``): ``provcheck scan RELEASE
    --source SOURCE`` is the command that runs every detector."""
    if not args.source:
        from .ecosystems.origin import hint
        raise UsageError(f"{hint(Path(args.release))}; give --source (a clone of it): nothing is fetched")
    import provcheck_release
    keep = [provcheck_release]
    if getattr(args, "provenance", None):  # the plugin that verifies provenance for us stays loaded
        hook = getattr(ctx.hook, "provcheck_attest_verify_bundle", None)
        keep += [impl.plugin for impl in (hook.get_hookimpls() if hook is not None else [])]
    ctx.only_detectors(*keep)
    spec, ref = source_spec(args.release, args.source, getattr(args, "ref", None))
    inputs = [InputSpec.parse(args.release, "target")]
    extra = []
    if spec.type == "git":  # read lazily by the detector: only the blobs that differ from the release
        extra += [f"release.source-repo={json.dumps(os.path.abspath(spec.path))}", f"release.ref={json.dumps(ref)}"]
    else:
        inputs.append(spec)
    if getattr(args, "regenerate", None):
        extra.append(f"release.regenerate={json.dumps(args.regenerate)}")
    if getattr(args, "knowledge", None):
        extra.append(f"release.knowledge={json.dumps(args.knowledge)}")
    for key in ("provenance", "provenance_history", "trusted_root"):
        if getattr(args, key, None):
            extra.append(f"release.{key.replace('_', '-')}={json.dumps(getattr(args, key))}")
    args.set = list(getattr(args, "set", None) or []) + extra
    args.source = None  # the source is read lazily by the detector, or is already in `inputs`
    config = ctx.config(args, inputs)
    report = ctx.scan(args, config)
    comparison = next(iter(report.extras.get("release", {}).values()), None)
    if args.format == "json":
        data = report.to_dict()
        data["release"] = comparison  # moved from extras.release[NAME] (where `scan` has it), not copied
        extras = data.get("extras") or {}
        if comparison is not None and len(extras.get("release") or {}) == 1:
            del extras["release"]
            if not extras:
                del data["extras"]
        with ctx.output(args) as (stream, _):
            json.dump(data, stream, indent=2, sort_keys=True, ensure_ascii=False, default=str)
            stream.write("\n")
    elif args.format == "text":
        with ctx.output(args) as (stream, _):
            write_text(report, comparison, stream, all_files=getattr(args, "all_files", False))
    elif args.format == "html":  # the release view first, then the findings
        from provcheck import html_release_view, write_html_page
        views = [html_release_view(comparison, report)] if comparison else []
        source = [{"name": comparison["source"], "role": "source", "commit": comparison.get("source_commit") or "",
                   "ref": comparison.get("source_ref") or ""}] if comparison else []
        with ctx.output(args) as (stream, _):
            write_html_page(stream, report, command="release", views=views, default_view="release", subject=source)
    else:
        ctx.write_report(report, args)
    return report.exit_code()


class _SafeWriter:
    """Everything written goes through the core's safe_text: paths, messages and diff lines
    come from the release and must not reach the terminal as escape sequences."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        self.stream.write(safe_text(text))


def write_text(report: Any, comparison: dict[str, Any] | None, stream: TextIO, all_files: bool = False) -> None:
    out = _SafeWriter(stream)
    """Files that matter first (by severity), the recognised ones in one line."""
    if comparison:
        commit = (comparison.get("source_commit") or "")[:12]
        out.write(f"release {comparison['release']} vs {comparison['source']}"
                  f"{f' (commit {commit})' if commit else ''}\n")
    active = [f for f in report.active if f.rule_id not in ("PC100", "PC106") and f.severity > Severity.INFO]
    active.sort(key=lambda f: (-f.severity, f.location.path, f.rule_id))
    if active:
        out.write(f"\n{len(active)} files need review:\n")
    for f in active:
        loc = f.location
        lines = f" lines {loc.lines[0]}-{loc.lines[1]}" if loc.lines else ""
        out.write(f"  {str(f.severity).upper():8} {f.rule_id} {loc.path}{lines}\n      {f.message}\n")
        for hit in (f.evidence.get("indicators") or [])[:6]:
            out.write(f"      line {hit['line']}: [{hit['indicator']}] {hit['text'][:110]}\n")
        diff = f.evidence.get("diff")
        if diff and f.severity >= Severity.HIGH:
            for line in diff.splitlines()[:16]:
                out.write(f"      | {line[:150]}\n")
    info = [f for f in report.active if f.severity == Severity.INFO and f.rule_id not in ("PC100",)]
    if info:
        out.write(f"\n{len(info)} informational:\n")
        for f in info[:8]:
            out.write(f"  {f.rule_id} {f.message[:140]}\n")
        if len(info) > 8:
            out.write(f"  ... and {len(info) - 8} more (--format json lists them)\n")
    regen = (comparison or {}).get("regeneration") or {}
    if regen.get("status") not in (None, "skipped"):
        out.write(f"\nregeneration {regen['status']}" + (f" ({regen['reason'][:200]})" if regen.get("reason") else "")
                  + (f" with {', '.join(regen.get('toolchains') or [])}" if regen.get("toolchains") else "")
                  + (" [cached]" if regen.get("cached") else "") + "\n")
    summary = next((f for f in report.active if f.rule_id == "PC100"), None)
    if summary:
        out.write(f"\nrecognised: {summary.message}\n")
    if all_files and comparison:
        out.write("\n")
        for v in comparison["files"]:
            out.write(f"  {v['verdict']:20} {v['path']}{'  (' + v['how'] + ')' if v.get('how') else ''}\n")
    for e in report.errors:
        out.write(f"error: {e}\n")
    counts = ", ".join(f"{sum(1 for f in report.active if f.severity == s)} {s}"
                       for s in sorted(Severity, reverse=True))
    out.write(f"{len(report.active)} findings ({counts}); {len(report.errors)} errors\n")
