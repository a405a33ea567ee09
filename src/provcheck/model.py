"""The values that flow through a scan: rules, locations, findings, errors, reports.

Everything here is immutable. A detector returns new ``Finding`` values; only the
suppression stage replaces findings (with copies that carry a ``Suppression``).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, replace
from typing import Mapping

FINGERPRINT_VERSION = "provcheck/v1"


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: "str | Severity") -> "Severity":
        if isinstance(text, Severity):
            return text
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of {names})") from None

    def __str__(self) -> str:
        return self.name.lower()


class Confidence(enum.IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2

    @classmethod
    def parse(cls, text: "str | Confidence") -> "Confidence":
        if isinstance(text, Confidence):
            return text
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            raise ValueError(f"unknown confidence {text!r} (expected low, medium or high)") from None

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where a finding is: an artifact, a POSIX path inside it, and how we got there.

    ``chain`` lists the containing archives from the outside in (for a file inside a
    ``.deb`` inside an image layer: the path of the ``.deb``). ``layer`` is the digest
    of the image layer that produced the file. ``lines`` is an optional (start, end).
    """

    artifact: str
    path: str = ""
    layer: str | None = None
    chain: tuple[str, ...] = ()
    sha256: str | None = None
    lines: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"artifact": self.artifact, "path": self.path, "layer": self.layer}
        if self.chain:
            d["chain"] = list(self.chain)
        if self.sha256:
            d["sha256"] = self.sha256
        if self.lines:
            d["lines"] = list(self.lines)
        return d

    def replace(self, **changes: object) -> "Location":
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Suppression:
    reason: str
    source: str = "config"  # "config", "baseline", or a plugin name


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    rule_id: str
    message: str
    severity: Severity
    location: Location
    confidence: Confidence = Confidence.HIGH
    related: tuple[Location, ...] = ()
    evidence: Mapping[str, object] = field(default_factory=dict)
    key: str = ""
    component: str | None = None
    detector: str = ""
    suppression: Suppression | None = None

    @property
    def fingerprint(self) -> str:
        """Stable identity: rule, artifact, path and key; never message, severity or lines."""
        parts = (FINGERPRINT_VERSION, self.rule_id, self.location.artifact, self.location.path, self.key)
        return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()

    def replace(self, **changes: object) -> "Finding":
        return replace(self, **changes)  # type: ignore[arg-type]

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.artifact, loc.path, self.rule_id, self.fingerprint)

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {
            "rule_id": self.rule_id,
            "severity": str(self.severity),
            "confidence": str(self.confidence),
            "message": self.message,
            "location": self.location.to_dict(),
            "evidence": dict(self.evidence),
            "fingerprint": self.fingerprint,
            "detector": self.detector,
        }
        if self.key:
            d["key"] = self.key
        if self.related:
            d["related"] = [r.to_dict() for r in self.related]
        if self.component:
            d["component"] = self.component
        if self.suppression:
            d["suppression"] = {"reason": self.suppression.reason, "source": self.suppression.source}
        return d


def rule_doc(what: str, why: str, example: str, references: str) -> str:
    """A rule's documentation in the four sections every rule has (a test enforces them)."""
    return (f"## What it does\n{what.strip()}\n\n## Why is this bad?\n{why.strip()}\n\n"
            f"## Example\n{example.strip()}\n\n## References\n{references.strip()}\n")


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A rule: a stable id (``PC`` + 3 digits for built-ins), a kebab-case name and its docs.

    ``doc`` is Markdown with the sections "What it does", "Why is this bad?",
    "Example" and "References"; ``provcheck rule ID`` prints it.
    """

    id: str
    name: str
    summary: str
    severity: Severity
    doc: str
    confidence: Confidence = Confidence.HIGH

    def finding(self, *, location: Location, message: str, **kw: object) -> Finding:
        kw.setdefault("severity", self.severity)
        kw.setdefault("confidence", self.confidence)
        return Finding(rule_id=self.id, location=location, message=message, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolError:
    """Something provcheck could not do: unreadable input, a plugin that raised, a skipped file.

    Any error makes the scan incomplete (exit code 3); what is no error goes to ``scan.notes``.
    """

    stage: str  # "load", "unpack", "detect", "crosscheck", "report", ...
    message: str
    artifact: str | None = None
    path: str | None = None
    plugin: str | None = None
    detail: str | None = None  # e.g. a traceback: in the JSON report and SARIF notifications

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"stage": self.stage, "message": self.message}
        for k in ("artifact", "path", "plugin", "detail"):
            v = getattr(self, k)
            if v:
                d[k] = v
        return d

    def replace(self, **changes: object) -> "ToolError":
        return replace(self, **changes)  # type: ignore[arg-type]

    def __str__(self) -> str:
        where = ":".join(x for x in (self.artifact, self.path) if x)
        who = f"[{self.plugin}] " if self.plugin else ""
        return f"{who}{where + ': ' if where else ''}{self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """One dynamic-linkage edge, as the ``provcheck_linkage`` hook returns them: ``src``
    loads ``name`` (a DT_NEEDED entry or a dlopen soname), found at ``dst`` (a tree path,
    None when the loader would not find it); ``kind`` is ``needed`` or ``dlopen``."""

    src: str
    name: str
    dst: str | None
    kind: str = "needed"


class ProvcheckError(Exception):
    """A user-facing error (bad input, bad option); its message is printed, never a traceback."""


class UsageError(ProvcheckError):
    pass


class InputError(ProvcheckError):
    pass
