"""Manifests (package.json, pyproject.toml, setup.cfg, entry_points.txt) compared as data."""

from __future__ import annotations

import configparser
import json
import tomllib
from typing import Any

from provcheck import Severity

from ..rules import PC120, PC121

MISSING = object()


class ManifestError(ValueError):
    pass


def parse(text: str, fmt: str) -> dict[str, Any]:
    """JSON, TOML or INI (setup.cfg / entry_points.txt: section -> key -> value lines)."""
    try:
        if fmt == "json":
            doc = json.loads(text)
        elif fmt == "toml":
            doc = tomllib.loads(text)
        else:
            cp = configparser.RawConfigParser(strict=False, interpolation=None)
            cp.optionxform = str  # type: ignore[assignment]
            cp.read_string(text)
            doc = {s: {k: _ini_value(v) for k, v in cp.items(s)} for s in cp.sections()}
    except (ValueError, configparser.Error, RecursionError) as exc:
        raise ManifestError(str(exc).splitlines()[0][:200]) from None
    if not isinstance(doc, dict):
        raise ManifestError("not an object at the top level")
    return doc


def _ini_value(v: str) -> Any:
    lines = [x.strip() for x in v.splitlines() if x.strip()]
    if len(lines) > 1 or (lines and "=" in lines[0] and v.startswith("\n")):
        out: dict[str, str] = {}
        for x in lines:
            if "=" in x:
                k, _, val = x.partition("=")
                out[k.strip()] = val.strip()
            else:
                out[x] = x
        return out
    return lines[0] if lines else ""


def flatten(doc: Any, prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """Dotted keys -> leaf values; lists of scalars are sets of ``key.ITEM`` leaves."""
    out: dict[str, Any] = {}
    if depth > 12:
        out[prefix] = json.dumps(doc, sort_keys=True, default=str)[:2000]
        return out
    if isinstance(doc, dict):
        if not doc and prefix:
            out[prefix] = {}
        for k, v in doc.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k), depth + 1))
    elif isinstance(doc, list) and all(isinstance(x, (str, int, float, bool)) or x is None for x in doc):
        if not doc:
            out[prefix] = []
        for x in doc:
            out[f"{prefix}.{x}"] = True
    elif isinstance(doc, list):
        for i, x in enumerate(doc):
            out.update(flatten(x, f"{prefix}.{i}", depth + 1))
    else:
        out[prefix] = doc
    return out


def changes(old: dict[str, Any], new: dict[str, Any], ignore: list[str] = ()) -> list[tuple[str, Any, Any]]:
    """(key, old, new) for every leaf that differs (MISSING when absent)."""
    a, b = flatten(old), flatten(new)
    out = []
    for k in sorted(set(a) | set(b)):
        if any(_ignored(k, g) for g in ignore):
            continue
        va, vb = a.get(k, MISSING), b.get(k, MISSING)
        if va != vb:
            out.append((k, va, vb))
    return out


def _ignored(key: str, glob: str) -> bool:
    top = key.split(".", 1)[0]
    return top == glob or (glob.endswith("*") and top.startswith(glob[:-1]))


def _show(v: Any) -> Any:
    return "(absent)" if v is MISSING else v


def judge(r: Any, path: str, fmt: str, old_doc: dict, new_doc: dict, file_kind: str | None = None,
          ignore: list[str] = (), explained: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Findings for every changed key of a manifest, graded by the ecosystem knowledge.
    ``explained``: key -> why the change is expected (publishConfig, workspace protocol)."""
    rows = []
    for key, va, vb in changes(old_doc, new_doc, ignore):
        if explained and key in explained:
            rows.append({"key": key, "old": _show(va), "new": _show(vb), "severity": "info",
                         "what": explained[key]})
            continue
        rule = r.data.manifest_rule(file_kind or path.rsplit("/", 1)[-1], key)
        sev = str(rule.get("severity", "low")) if rule else "low"
        what = str(rule.get("what", "")) if rule else "other metadata"
        rows.append({"key": key, "old": _show(va), "new": _show(vb), "severity": sev, "what": what,
                     "runs": bool(rule and rule.get("runs"))})
    serious = [x for x in rows if Severity.parse(x["severity"]) > Severity.LOW]
    for row in serious:
        sev = Severity.parse(row["severity"])
        if sev <= Severity.INFO:
            continue
        change = ("adds" if row["old"] == "(absent)" else "removes" if row["new"] == "(absent)" else "changes")
        rule = PC120 if row.get("runs") else PC121
        r.add(path, rule.finding(
            location=r.loc(path), key=f"{path}#{row['key']}", severity=sev,
            evidence={"key": row["key"], "old": row["old"], "new": row["new"], "what": row["what"],
                      "all_changes": rows[:200]},
            message=f"{path} {change} {row['key']} ({row['what']}): "
                    f"{json.dumps(row['old'], default=str)[:120]} -> {json.dumps(row['new'], default=str)[:120]}"))
    low = [x for x in rows if Severity.parse(x["severity"]) == Severity.LOW]
    if low:
        r.add(path, PC121.finding(location=r.loc(path), key=f"{path}#other", severity=Severity.LOW,
                                  evidence={"changes": low[:200]},
                                  message=f"{path}: {len(low)} other field(s) changed: "
                                          + ", ".join(x["key"] for x in low[:8])))
    return rows
