"""Generated-file knowledge: which release files a build system legitimately adds.

Knowledge is data: TOML (or JSON) files, one per build system, under
``data/buildsystems/``; more come from ``[plugins.release] knowledge = [FILES]`` in the
config, from inline ``[[plugins.release.generated]]`` tables, and from other plugins
through the ``provcheck_release_buildsystems`` hook. See ``autotools.toml`` for the format.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from provcheck import glob_regex
from .flavours import parse_hunk


DATA_DIR = Path(__file__).with_name("data") / "buildsystems"
KINDS = {"build", "m4", "doc", "data", "stamp", "code"}


class KnowledgeError(ValueError):
    pass


@dataclass(frozen=True)
class Generated:
    system: str
    paths: tuple[str, ...]
    inputs: tuple[str, ...]
    signature: re.Pattern | None
    how: str
    kind: str
    max_size: int | None
    scan_bytes: int
    _rx: tuple[re.Pattern, ...] = field(repr=False, default=())

    def matches_path(self, path: str) -> bool:
        return any(rx.match(path) for rx in self._rx)

    def input_for(self, path: str, exists: "Callable[[str], bool]") -> str | None:
        """The first generator input present (per ``exists``), '' when none is needed, None when missing."""
        if not self.inputs:
            return ""
        d = posixpath.dirname(path)
        name = posixpath.basename(path)
        stem = name.rsplit(".", 1)[0] if "." in name else name
        base = re.split(r"[-.]", stem, maxsplit=1)[0] or stem
        for tmpl in self.inputs:
            rel = tmpl.format(dir=d, name=name, stem=stem, base=base)
            rel = posixpath.normpath(rel.lstrip("/")) if rel.strip("/") else ""
            if rel.startswith("../") or rel in ("", ".", ".."):
                continue
            if exists(rel):
                return rel
        return None


@dataclass
class Knowledge:
    generated: list[Generated] = field(default_factory=list)
    source_only: list[tuple[str, re.Pattern]] = field(default_factory=list)
    rule_files: list[tuple[str, re.Pattern, str]] = field(default_factory=list)  # (system, build-file glob, how)
    systems: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def add(self, data: Mapping[str, Any], origin: str) -> None:
        if not isinstance(data, Mapping):
            raise KnowledgeError(f"{origin}: expected a table")
        system = str(data.get("name") or origin)
        regeneration = data.get("regeneration", {})
        if not isinstance(regeneration, Mapping):
            raise KnowledgeError(f"{origin}: 'regeneration' must be a table")
        for i, entry in enumerate(regeneration.get("known-differences", [])):
            check_known_difference(entry, f"{origin}: regeneration.known-differences[{i}]")
        self.systems[system] = {"description": data.get("description", ""), "origin": origin,
                                "markers": list(data.get("markers", [])), "regeneration": regeneration,
                                "ecosystem": data.get("ecosystem") or {}}  # read by ecosystems/
        for i, entry in enumerate(data.get("generated", [])):
            self.generated.append(parse_entry(entry, system, f"{origin}: generated[{i}]"))
        for pattern in data.get("source-only", []):
            self.source_only.append((system, glob_regex(str(pattern))))
        rules = data.get("rule-targets", {})
        if not isinstance(rules, Mapping) or (rules and not isinstance(rules.get("files"), list)):
            raise KnowledgeError(f"{origin}: 'rule-targets' must be a table with a 'files' list")
        for pattern in rules.get("files", []):
            self.rule_files.append((system, glob_regex(str(pattern)),
                                    str(rules.get("how") or f"written by a rule of the project's {system} build")))

    def add_file(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
            data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode("utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise KnowledgeError(f"{path.name}: cannot read build-system knowledge: {exc}") from None
        self.add(data, path.name)

    def candidates(self, path: str) -> list[Generated]:
        return [g for g in self.generated if g.matches_path(path)]

    def source_only_reason(self, path: str) -> str | None:
        for system, rx in self.source_only:
            if rx.match(path):
                return system
        return None


def parse_entry(entry: Any, system: str, where: str) -> Generated:
    if not isinstance(entry, Mapping):
        raise KnowledgeError(f"{where}: expected a table")
    paths = entry.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not paths or not all(isinstance(p, str) for p in paths):
        raise KnowledgeError(f"{where}: 'paths' must be a non-empty list of globs")
    inputs = entry.get("inputs", [])
    if isinstance(inputs, str):
        inputs = [inputs]
    kind = str(entry.get("kind", "data"))
    if kind not in KINDS:
        raise KnowledgeError(f"{where}: kind {kind!r} is not one of {', '.join(sorted(KINDS))}")
    sig = entry.get("signature")
    try:
        rx = re.compile(sig, re.M) if sig else None
    except re.error as exc:
        raise KnowledgeError(f"{where}: bad signature regex: {exc}") from None
    how = str(entry.get("how") or f"{system} output")
    return Generated(system=system, paths=tuple(paths), inputs=tuple(map(str, inputs)), signature=rx, how=how,
                     kind=kind, max_size=entry.get("max-size"), scan_bytes=int(entry.get("scan-bytes", 65536)),
                     _rx=tuple(glob_regex(p) for p in paths))


def check_known_difference(entry: Any, where: str) -> None:
    """A ``[[regeneration.known-differences]]`` entry: ``files`` globs, and ``lines`` (regexes every
    changed line must fully match), ``variable`` (a make variable whose file lists may differ) or
    ``hunks`` (patches in unified-diff form that the toolchain applies)."""
    if not isinstance(entry, Mapping) or not entry.get("files") or not entry.get("how"):
        raise KnowledgeError(f"{where}: needs 'files' and 'how'")
    if sum(bool(entry.get(k)) for k in ("lines", "variable", "hunks")) != 1:
        raise KnowledgeError(f"{where}: give exactly one of 'lines', 'variable' and 'hunks'")
    when = entry.get("when")
    if when is not None and not re.fullmatch(r"(?:autoconf|automake|libtool|gettext) \S+", str(when)):
        raise KnowledgeError(f"{where}: 'when' names a tool and its version ('autoconf 2.69'), not {when!r}")
    for hunk in entry.get("hunks", []):
        try:
            parse_hunk(str(hunk))
        except ValueError as exc:
            raise KnowledgeError(f"{where}: bad hunk: {exc}") from None
    for rx in entry.get("lines", []):
        try:
            re.compile(str(rx))
        except re.error as exc:
            raise KnowledgeError(f"{where}: bad regex {rx!r}: {exc}") from None


def builtin_files() -> list[Path]:
    return sorted(p for p in DATA_DIR.iterdir() if p.suffix in (".toml", ".json"))


@lru_cache(maxsize=1)
def builtin() -> Knowledge:
    """The shipped ``data/buildsystems`` files, parsed once per process."""
    k = Knowledge()
    for path in builtin_files():
        k.add_file(path)
    return k


def load(options: Mapping[str, Any], extra: Iterable[Any] = ()) -> Knowledge:
    """Built-in knowledge + ``options['knowledge']`` files + ``options['generated']`` entries
    + whatever other plugins contribute (``extra``: paths or tables)."""
    base = builtin()
    k = Knowledge(list(base.generated), list(base.source_only), systems=dict(base.systems),
                  rule_files=list(base.rule_files))
    for item in extra:
        if isinstance(item, (str, Path)):
            k.add_file(Path(item))
        else:
            k.add(item, str(item.get("name", "plugin")) if isinstance(item, Mapping) else "plugin")
    files = options.get("knowledge") or []
    for f in [files] if isinstance(files, str) else files:
        k.add_file(Path(f))
    project = options.get("generated") or []
    if project:
        k.add({"name": "project", "description": "declared in the provcheck config", "generated": project},
              "config")
    only = options.get("source-only") or []
    if only:
        k.add({"name": "project", "source-only": only}, "config")
    return k


from typing import Callable  # noqa: E402  (used in a string annotation above)

__all__ = ["Generated", "Knowledge", "KnowledgeError", "load", "builtin_files", "fnmatch"]
