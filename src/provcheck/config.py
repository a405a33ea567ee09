"""Run configuration: command line > ``provcheck.toml`` > ``[tool.provcheck]`` in
``pyproject.toml``, both read from the working directory only (never from the input,
which may be hostile).

Example ``provcheck.toml``::

    select = ["PC"]             # rule id prefixes to report (default: all)
    ignore = ["PC904"]          # rule id prefixes to drop
    fail-on = "high"
    [severity]                  # per-rule overrides
    PC201 = "medium"
    [limits]
    max-total-bytes = "32GiB"
    [plugins.elf]               # options for one plugin
    policies = [...]
    [[suppress]]                # kept in the report, marked suppressed
    rule = "PC301"
    path = "usr/sbin/sshd"      # glob, optional
    reason = "accepted: Debian links sshd to libsystemd"
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .model import Severity, UsageError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tib": 1 << 40}


def parse_size(value: object) -> int:
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise UsageError(f"not a size: {value!r} (use e.g. 512MiB, 4GiB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class Limits:
    """Safety limits for unpacking. Hitting one is an engine finding (PC906), not a crash."""

    max_total_bytes: int = 64 << 30      # uncompressed bytes per input
    max_file_bytes: int = 16 << 30       # one member
    max_files: int = 2_000_000           # members per input
    max_ratio: int = 250                 # uncompressed / compressed, checked past ratio_floor
    ratio_floor: int = 256 << 20
    max_depth: int = 4                   # nested archives

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> "Limits":
        kw = {}
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in cls.__dataclass_fields__:
                raise UsageError(f"unknown limit {key!r}")
            kw[name] = parse_size(value) if "bytes" in name or name == "ratio_floor" else _count(key, value)
        return cls(**kw)


def _count(key: str, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise UsageError(f"limit {key!r}: not a whole number: {value!r}") from None


@dataclass(frozen=True)
class InputSpec:
    """One input as the user named it: ``PATH``, ``TYPE:PATH`` or ``git:PATH@REF``."""

    text: str
    path: str
    type: str | None = None
    ref: str | None = None
    role: str = "target"
    platform: str | None = None

    @classmethod
    def parse(cls, text: str, role: str = "target", platform: str | None = None) -> "InputSpec":
        kind, path, ref = None, text, None
        m = re.match(r"^([a-z][a-z0-9+-]*):(?!//)(.+)$", text)
        if m and not os.path.exists(text) and len(m.group(1)) > 1:
            kind, path = m.group(1), m.group(2)
        elif text.startswith(("registry://", "docker://")):
            kind, path = text.split("://", 1)[0], text.split("://", 1)[1]
        if kind == "git" and "@" in path:
            path, ref = path.rsplit("@", 1)
        return cls(text=text, path=path, type=kind, ref=ref, role=role, platform=platform)


@dataclass(frozen=True)
class SuppressRule:
    rule: str
    reason: str
    path: str = "*"
    artifact: str = "*"

    def matches(self, rule_id: str, artifact: str, path: str) -> bool:
        return (rule_id.startswith(self.rule) and fnmatch.fnmatchcase(path, self.path)
                and fnmatch.fnmatchcase(artifact, self.artifact))


@dataclass(frozen=True)
class Config:
    inputs: tuple[InputSpec, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    fail_on: Severity = Severity.HIGH
    plugin_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    suppress: tuple[SuppressRule, ...] = ()
    limits: Limits = field(default_factory=Limits)
    platform: str = "linux/amd64"
    work_dir: Path | None = None
    cache_dir: Path | None = None
    no_cache: bool = False
    jobs: int = 0
    progress: bool = False
    source_file: str | None = None

    def wants(self, rule_id: str) -> bool:
        if self.select and not any(rule_id.startswith(p) for p in self.select):
            return False
        return not any(rule_id.startswith(p) for p in self.ignore)

    def cache_root(self) -> Path | None:
        """Where plugins keep results between runs (None: caching is off).

        ``--cache-dir``/``cache-dir``, else ``$PROVCHECK_CACHE_DIR``, else
        ``$XDG_CACHE_HOME/provcheck`` or ``~/.cache/provcheck``; ``--no-cache`` turns it off."""
        if self.no_cache:
            return None
        if self.cache_dir is not None:
            return self.cache_dir
        env = os.environ.get("PROVCHECK_CACHE_DIR")
        if env is not None:
            return Path(env) if env else None
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "provcheck"

    def options(self, plugin: str) -> Mapping[str, object]:
        return self.plugin_options.get(plugin, {})

    def replace(self, **kw: object) -> "Config":
        return replace(self, **kw)  # type: ignore[arg-type]


def read_file_config(cwd: Path | None = None, explicit: str | None = None) -> tuple[dict[str, Any], str | None]:
    """The config table and where it came from: ``--config FILE``, else ``provcheck.toml``,
    else ``pyproject.toml``'s ``[tool.provcheck]`` in ``cwd``."""
    cwd = cwd or Path.cwd()
    candidates = [Path(explicit)] if explicit else [cwd / "provcheck.toml", cwd / "pyproject.toml"]
    for path in candidates:
        if not path.is_file():
            if explicit:
                raise UsageError(f"{path}: config file not found")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read config: {exc}") from None
        implicit_pyproject = path.name == "pyproject.toml" and not explicit
        if implicit_pyproject and "provcheck" not in text and "\\" not in text:
            continue  # another project's file: [tool.provcheck] needs its name, or an escape to spell it
        import tomllib  # only when there is a config file to read
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path}: cannot read config: {exc}") from None
        if implicit_pyproject:
            data = data.get("tool", {}).get("provcheck")
            if data is None:
                continue
        return data, str(path)
    return {}, None


def build_config(file_data: Mapping[str, Any], source: str | None = None, **cli: Any) -> Config:
    """Merge the file table with command-line values (``None`` means not given)."""
    known = {"select", "ignore", "severity", "fail-on", "plugins", "suppress", "limits", "platform",
             "work-dir", "cache-dir", "jobs"}
    unknown = set(file_data) - known
    if unknown:
        raise UsageError(f"{source}: unknown config keys: {', '.join(sorted(unknown))}")

    def pick(key: str, default: Any) -> Any:
        v = cli.get(key.replace("-", "_"))
        return v if v is not None else file_data.get(key, default)

    try:
        severity = {k: Severity.parse(v) for k, v in dict(file_data.get("severity", {})).items()}
        fail_on = Severity.parse(pick("fail-on", "high"))
    except ValueError as exc:
        raise UsageError(f"{source or 'command line'}: {exc}") from None

    suppress = []
    for item in file_data.get("suppress", []):
        if not isinstance(item, dict) or not item.get("rule") or not str(item.get("reason", "")).strip():
            raise UsageError(f"{source}: every [[suppress]] needs a rule and a non-empty reason: {item!r}")
        suppress.append(SuppressRule(rule=item["rule"], reason=item["reason"].strip(),
                                     path=item.get("path", "*").strip("/") or "*",
                                     artifact=item.get("artifact", "*")))

    options: dict[str, dict[str, Any]] = {k: dict(v) for k, v in dict(file_data.get("plugins", {})).items()}
    for dotted, value in (cli.get("plugin_values") or {}).items():
        plugin, _, key = dotted.partition(".")
        if value is not None:
            options.setdefault(plugin, {})[key] = value

    work = pick("work-dir", None)
    cache = pick("cache-dir", None)
    return Config(
        inputs=tuple(cli.get("inputs") or ()),
        select=tuple(pick("select", ())),
        ignore=tuple(pick("ignore", ())),
        severity=severity,
        fail_on=fail_on,
        plugin_options=options,
        suppress=tuple(suppress),
        limits=Limits.from_mapping(file_data.get("limits", {})),
        platform=pick("platform", "linux/amd64"),
        work_dir=Path(work) if work else None,
        cache_dir=Path(cache) if cache else None,
        no_cache=bool(cli.get("no_cache")),
        jobs=int(pick("jobs", 0)),
        progress=bool(cli.get("progress")),
        source_file=source,
    )
