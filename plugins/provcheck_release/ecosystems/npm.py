"""npm tarballs: package.json as data, lifecycle scripts and what they run, built outputs."""

from __future__ import annotations

import posixpath
import re
import shlex
from typing import Any

from provcheck import Severity

from . import BUILT_UNVERIFIED, matches
from .code import (IDENT, MANGLE, capability_hits, chunks, grade, new_endpoints, novel_chunks, obfuscation,
                   split_inserted)
from .manifest import ManifestError, flatten, judge, parse
from ..rules import PC124

SCRIPT_FILE = re.compile(r"\.(?:[cm]?js|ts|sh|py|bat|cmd|ps1|exe|node)$")
SPECIFIER = re.compile(r"""(?:require\s*\(\s*|import\s*\(\s*|\bfrom\s*|\bimport\s+)["']([^"'\n]{1,300})["']""")
JS = (".js", ".cjs", ".mjs", ".jsx")
MAX_BUNDLE = 32 << 20


def package_json(r: Any, side: str) -> dict[str, Any] | None:
    text = (r.text_r if side == "r" else r.text_s)("package.json")
    if text is None:
        return None
    try:
        return parse(text, "json")
    except ManifestError:
        return None


def review(r: Any) -> None:
    new = package_json(r, "r")
    if new is None:
        return
    old = package_json(r, "s") if "package.json" in r.sfiles else {}
    if old is None:
        old = {}
    manifest(r, old, new)
    lifecycle(r, new)
    built(r, new)
    from .native import report_binaries
    report_binaries(r, r.data.binaries)


def _expected(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """Changes a publish makes by design: ``publishConfig`` overrides, ``workspace:`` versions."""
    out: dict[str, str] = {}
    a, b = flatten(old), flatten(new)
    pub = old.get("publishConfig") if isinstance(old.get("publishConfig"), dict) else {}
    for field_, value in pub.items():
        for k, v in flatten({field_: value}).items():
            if b.get(k) == v:
                out[k] = "publishConfig override applied at publish"
        for k in a:
            if (k == field_ or k.startswith(field_ + ".")) and k not in b:
                out[k] = "replaced by publishConfig at publish"
    for k, v in a.items():
        if isinstance(v, str) and v.startswith(("workspace:", "link:", "file:")) and isinstance(b.get(k), str):
            out[k] = f"{v.split(':')[0]}: protocol resolved at publish"
        elif isinstance(v, str) and isinstance(b.get(k), str) and _same_path(v, b[k]):
            out[k] = "path normalised by npm at publish"
    from .origin import normalise_repo
    for field_ in ("repository", "bugs", "homepage"):
        ra, rb = _url_of(old.get(field_)), _url_of(new.get(field_))
        if ra and normalise_repo(ra) and normalise_repo(ra) == normalise_repo(rb):
            for k in set(a) | set(b):
                if k == field_ or k.startswith(field_ + "."):
                    out[k] = f"{field_} normalised by npm at publish"
    return out


def _same_path(x: str, y: str) -> bool:
    return x != y and posixpath.normpath(x.removeprefix("./")) == posixpath.normpath(y.removeprefix("./"))


def _url_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("url") or "")
    return str(value or "")


def manifest(r: Any, old: dict[str, Any], new: dict[str, Any]) -> None:
    if r.verdict("package.json") is None or r.verdict("package.json").verdict == "identical":
        return
    rows = judge(r, "package.json", "json", old, new, file_kind="package.json",
                 ignore=r.data.publish_fields, explained=_expected(old, new))
    serious = [x for x in rows if Severity.parse(x["severity"]) > Severity.INFO]
    if not serious:
        r.explain("package.json", "release-edit",
                  "package.json: only " + (", ".join(x["key"] for x in rows[:6]) or "formatting") + " changed", "npm")
    else:
        r.explain("package.json", "modified", f"package.json: {len(serious)} field(s) changed (compared as data)",
                  "npm")


def script_files(command: str, paths: set[str]) -> list[str]:
    """Release files a lifecycle command names (``node telemetry.js``, ``./setup.sh``, ``node x``)."""
    try:
        words = shlex.split(command, posix=True)
    except ValueError:
        words = command.split()
    out = []
    for w in words:
        w = w.strip("'\";&|()")
        if not w or w.startswith("-"):
            continue
        cand = posixpath.normpath(w.removeprefix("./"))
        for c in (cand, cand + ".js", cand + "/index.js", cand + ".cjs", cand + ".mjs"):
            if c in paths:
                out.append(c)
                break
    return out


def lifecycle(r: Any, new: dict[str, Any]) -> None:
    scripts = new.get("scripts") if isinstance(new.get("scripts"), dict) else {}
    paths = set(r.rfiles)
    for name, command in scripts.items():
        rule = r.data.manifest_rule("package.json", f"scripts.{name}")
        if not rule or not rule.get("runs") or not isinstance(command, str):
            continue
        for f in script_files(command, paths):
            r.install_time.setdefault(f, f"named by scripts.{name}: {command[:80]}")
        for f in list(r.install_time):  # what those files load runs at install too
            for dep in local_requires(r, f):
                r.install_time.setdefault(dep, f"loaded by {f}, which runs at install")
    for path in sorted(paths):  # bundled dependencies' own install scripts run too
        if not re.fullmatch(r"(?:.*/)?node_modules/(?:@[^/]+/)?[^/]+/package\.json", path):
            continue
        try:
            nested = parse(r.text_r(path) or "", "json")
        except ManifestError:
            continue
        hooks = nested.get("scripts") if isinstance(nested.get("scripts"), dict) else {}
        base = posixpath.dirname(path)
        for name, command in hooks.items():
            rule = r.data.manifest_rule("package.json", f"scripts.{name}")
            if not rule or not rule.get("runs") or not isinstance(command, str):
                continue
            r.install_time.setdefault(path, f"bundled dependency {base} declares scripts.{name}: {command[:80]}")
            for f in script_files(command, {p[len(base) + 1:] for p in paths if p.startswith(base + "/")}):
                r.install_time.setdefault(f"{base}/{f}", f"named by {base}'s scripts.{name}")
    for path in paths:
        if matches(path, r.data.install_time):
            if path == "binding.gyp" and ("install" in scripts or "preinstall" in scripts):
                continue
            r.install_time.setdefault(path, "npm runs node-gyp rebuild for a binding.gyp" if path == "binding.gyp"
                                      else "install-time file")


def local_requires(r: Any, path: str) -> list[str]:
    text = r.text_r(path) if path.endswith(JS) else None
    if not text or len(text) > MAX_BUNDLE:
        return []
    out = []
    base = posixpath.dirname(path)
    for literal in re.findall(r"""["'`]([^"'`\n]{1,300})["'`]""", text):  # files it names (exec("sh x.sh"))
        for word in literal.split():
            cand = posixpath.normpath(posixpath.join(base, word.removeprefix("./")))
            if cand in r.rfiles and cand != path and SCRIPT_FILE.search(cand):
                out.append(cand)
    for spec in SPECIFIER.findall(text):
        if not spec.startswith("."):
            continue
        target = posixpath.normpath(posixpath.join(base, spec))
        for c in (target, target + ".js", target + ".cjs", target + ".mjs", target + "/index.js"):
            if c in r.rfiles:
                out.append(c)
                break
    return out


def entry_points(new: dict[str, Any]) -> dict[str, str]:
    """Release path -> the package.json field that loads it (main, module, exports.*, bin.*)."""
    out: dict[str, str] = {}
    for field_ in ("main", "module", "browser", "exports", "bin", "types", "unpkg", "jsdelivr"):
        value = new.get(field_)
        if value is None:
            continue
        for k, v in flatten({field_: value}).items():
            for target in ([v] if isinstance(v, str) else [k.rsplit(".", 1)[-1]] if v is True else []):
                t = posixpath.normpath(str(target).removeprefix("./"))
                for c in (t, t + ".js", t + "/index.js"):
                    out.setdefault(c, k)
    return out


def built(r: Any, new: dict[str, Any]) -> None:
    entries = entry_points(new)
    loaders: dict[str, list[str]] = {}
    release_js = [p for p in r.rfiles if p.endswith(JS)]
    for p in release_js:
        for dep in local_requires(r, p):
            loaders.setdefault(dep, []).append(p)
    source_dirs = {posixpath.dirname(p) for p in r.sfiles if posixpath.dirname(p)}
    source_stems = {posixpath.splitext(posixpath.basename(p))[0] for p in r.sfiles
                    if p.endswith(tuple(r.data.build_inputs))}
    corpus_tokens: set[str] | None = None
    r.quiet_built = []
    for path in sorted(r.rfiles):
        v = r.verdict(path)
        if v is None or v.verdict not in ("unexplained", "generated", "generated-mismatch") or path in r.sfiles:
            continue
        stem = posixpath.basename(path).split(".", 1)[0]
        # a directory the tag holds files of is source-controlled: a new file there is not a build output
        tracked = posixpath.dirname(path) in source_dirs
        is_built = (matches(path, r.data.built) and not tracked) or (path.endswith(JS) and stem in source_stems)
        if not is_built and not path.endswith(JS):
            continue
        if not path.endswith(JS):  # declarations, source maps: the verdict says what they are
            r.explain(path, BUILT_UNVERIFIED, "build output (declarations / source map), not compared", "npm")
            continue
        if corpus_tokens is None:
            corpus_tokens = {part for t in IDENT.findall(r.corpus()) for part in (t, *MANGLE.split(t))}
        bundle(r, path, entries, loaders, corpus_tokens, is_built)
    if r.quiet_built:
        total = sum(x["size"] for x in r.quiet_built)
        r.add(None, PC124.finding(
            location=r.loc("package.json"), key="built-unverified", severity=Severity.LOW,
            evidence={"files": r.quiet_built[:500], "count": len(r.quiet_built), "bytes": total},
            message=f"{len(r.quiet_built)} build output(s) ({total} bytes: "
                    f"{', '.join(x['path'] for x in r.quiet_built[:4])}{', ...' if len(r.quiet_built) > 4 else ''}) "
                    "cannot be compared with the source; none holds code absent from the source that uses a "
                    "process, network, credential or decoding capability"))


def bundle(r: Any, path: str, entries: dict[str, str], loaders: dict[str, list[str]], corpus_tokens: set[str],
           is_built: bool) -> None:
    node = r.rfiles[path]
    r.analysed.add(path)
    text = r.c.release.tree.read(node, MAX_BUNDLE).decode("utf-8", "replace")
    novel, tokens = novel_chunks(text, corpus_tokens)
    inserted, inlined = split_inserted(novel)
    hits = capability_hits(inserted, r.data.capabilities) + new_endpoints(inserted, r.corpus_lower())
    inlined_caps = sorted({h.capability for h in capability_hits([c for c in novel if c not in inserted],
                                                                  r.data.capabilities)})
    signals = obfuscation(text)
    all_chunks = chunks(text)
    minified = bool(all_chunks) and len(text) / max(1, text.count("\n") + 1) > 500
    g = grade(hits)
    sev = (Severity.CRITICAL if g == Severity.CRITICAL else
           Severity.MEDIUM if hits or signals or inlined_caps or path in r.install_time else Severity.LOW)
    loaded_by = ([f"package.json {entries[path]}"] if path in entries else []) + loaders.get(path, [])[:10]
    if path in r.install_time:
        loaded_by.insert(0, f"npm at install ({r.install_time[path]})")
    ev: dict[str, Any] = {"size": node.size, "sha256": node.sha256, "loaded_by": loaded_by, "minified": minified,
                          "chunks": len(all_chunks), "novel_chunks": len(novel),
                          "novel_tokens": sorted(set(tokens))[:60], "obfuscation": signals,
                          "inlined_regions": [{"chunks": [a, b]} for a, b in inlined[:20]],
                          "inlined_capabilities": inlined_caps}
    if hits:
        ev["capabilities"] = [h.to_dict() for h in hits[:30]]
    caps = sorted({h.capability for h in hits})
    what = "build output" if is_built else "JavaScript only in the package"
    r.explain(path, BUILT_UNVERIFIED if is_built else "unexplained",
              f"{what}: {node.size} bytes, {len(novel)} of {len(all_chunks)} chunks hold code absent from every "
              "source file", "npm", keep=("PC101",) if not is_built else ())
    if sev == Severity.LOW and path not in r.install_time:  # nothing notable: one summary finding per package
        r.quiet_built.append({"path": path, "size": node.size, "loaded_by": loaded_by[:4],
                              "novel_chunks": len(novel), "chunks": len(all_chunks), "minified": minified})
        return
    r.add(path, PC124.finding(
        location=r.loc(path, lines=(min(h.position for h in hits), max(h.position for h in hits)) if hits else None),
        key=f"{path}#built", severity=sev, evidence=ev,
        message=f"{path} ({what}, {node.size} bytes, loaded by {', '.join(loaded_by[:2]) or 'no entry point'}): "
                f"{len(novel)} of {len(all_chunks)} chunks hold code absent from every source file"
                + (f"; inserted code uses {', '.join(caps)}" if caps else "")
                + (f"; {len(inlined)} long region(s) of inlined library code use {', '.join(inlined_caps)}"
                   if inlined_caps else "")
                + (f"; {', '.join(signals)}" if signals else "")))


__all__ = ["review", "script_files", "entry_points"]
