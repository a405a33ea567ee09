"""Human-readable report: findings grouped by severity, colour only on a terminal."""

from __future__ import annotations

from typing import Any, TextIO

from .. import hookimpl
from ..model import Severity
from . import OutputFormat

STYLE = {Severity.CRITICAL: "bold white on red", Severity.HIGH: "bold red", Severity.MEDIUM: "yellow",
         Severity.LOW: "cyan", Severity.INFO: "dim"}


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7f, *range(0x80, 0xa0)] if c not in (0x0a,)}


def safe_text(text: str) -> str:
    """``text`` with control characters shown as \\xNN: names, messages and file contents
    come from hostile artifacts and must never drive the terminal. Plugins writing their
    own text output use this too."""
    return str(text).translate(_CONTROL)


def _safe(text: str) -> str:
    from rich.markup import escape as markup_escape
    return markup_escape(safe_text(text))


def write_text(report: Any, stream: TextIO, color: bool = False) -> None:
    from rich.console import Console
    escape = _safe

    console = Console(file=stream, force_terminal=color, no_color=not color, highlight=False,
                      width=120 if not color else None, soft_wrap=not color)
    for a in report.artifacts:
        extra = f", {len(a.layers)} layers" if a.layers else ""
        digest = a.metadata.get("digest") or a.metadata.get("commit") or ""
        console.print(f"[bold]{escape(a.name)}[/] ({a.role}, {a.kind}{extra}) "
                      f"{a.summary()['files']} files {escape(str(digest))}")
    active = report.active
    for sev in sorted(Severity, reverse=True):
        group = [f for f in active if f.severity == sev]
        if not group:
            continue
        console.print(f"\n[{STYLE[sev]}]{sev.name} ({len(group)})[/]")
        for f in group:
            loc = f.location
            where = f"{loc.artifact}:{loc.path}" if loc.path else loc.artifact
            if loc.chain:
                where = f"{loc.artifact}:{'!'.join(loc.chain)}!{loc.path}"
            console.print(f"  [{STYLE[sev]}]{f.rule_id}[/] {escape(where)}")
            console.print(f"      {escape(f.message)}")
            if loc.layer:
                console.print(f"      [dim]layer {escape(loc.layer)}[/]")
    suppressed = [f for f in report.findings if f.suppression]
    if suppressed:
        console.print(f"\n[dim]SUPPRESSED ({len(suppressed)})[/]")
        for f in suppressed:
            console.print(f"  [dim]{f.rule_id} {escape(f.location.path)} — {escape(f.suppression.reason)}[/]")
    if report.errors:
        console.print(f"\n[bold magenta]ERRORS ({len(report.errors)}) — the scan is incomplete[/]")
        for e in report.errors:
            console.print(f"  [magenta]{escape(str(e))}[/]")
    for note in getattr(report, "notes", ()):
        console.print(f"\n[dim]note: {escape(note)}[/]")
    counts = ", ".join(f"{sum(1 for f in active if f.severity == s)} {s}" for s in sorted(Severity, reverse=True))
    console.print(f"\n{len(active)} findings ({counts}); {len(suppressed)} suppressed; {len(report.errors)} errors")


@hookimpl
def provcheck_register_formats():
    return [OutputFormat("text", write_text, ".txt")]
