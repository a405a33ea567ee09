"""Python sdists and wheels: install-time code, version files, dist-info, wheel layout."""

from __future__ import annotations

import ast
import base64
import csv
import io
import json
import posixpath
import re
from collections import Counter, defaultdict
from email.parser import HeaderParser
from typing import Any, Collection

from provcheck import Node, Severity

from . import WHEEL, matches
from .manifest import ManifestError, parse, judge
from ..rules import PC101, PC121, PC122, PC123

_DATA_DIR = re.compile(r"[^/]+\.data/(purelib|platlib|scripts|headers|data)/(.+)")
_DIST_INFO = re.compile(r"([^/]+)\.dist-info/(.+)")
_NAME_NORM = re.compile(r"[-_.]+")
# modules a declarative setup.py / a version file may import
PURE_IMPORTS = {"__future__", "typing", "json", "setuptools", "distutils.core", "os.path"}
PURE_METHODS = {"split", "rsplit", "partition", "rpartition", "replace", "strip", "lstrip", "rstrip", "join",
                "format", "startswith", "endswith", "lower", "upper", "isdigit"}
PURE_BUILTINS = {"tuple", "int", "str", "len", "list"}


# -- wheel layout -------------------------------------------------------------------------------

def wheel_onto_tree(rfiles: dict[str, Node], source_paths: Collection[str]) -> dict[str, Node]:
    """Each top-level package (and ``X.data/purelib|platlib`` content) of a wheel moved to the
    prefix in the source where most of its files are found; scripts found by name."""
    tails: dict[str, set[str]] = defaultdict(set)
    for s in source_paths:
        parts = s.split("/")
        for i in range(len(parts)):
            tails["/".join(parts[i:])].add("/".join(parts[:i]))
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)   # top -> [(release path, path in package)]
    out: dict[str, Node] = {}
    for path, node in rfiles.items():
        if _DIST_INFO.match(path):
            out[path] = node
            continue
        m = _DATA_DIR.fullmatch(path)
        if m and m.group(1) in ("purelib", "platlib"):
            inner = m.group(2)
        elif m:
            base = posixpath.basename(path)
            hits = sorted(tails.get(m.group(2), ()) or tails.get(base, ()), key=len)
            out[(f"{hits[0]}/" if hits and hits[0] else "") + (m.group(2) if tails.get(m.group(2)) else base)
                if hits else path] = node
            continue
        else:
            inner = path
        groups[inner.split("/", 1)[0]].append((path, inner))
    for _top, members in groups.items():
        count: Counter[str] = Counter()
        for _path, inner in members:
            for pre in tails.get(inner, ()):
                count[pre] += 1
        best = min(count, key=lambda p: (-count[p], len(p))) if count else ""
        for path, inner in members:
            new = f"{best}/{inner}" if best else inner
            out[new if new not in out else path] = rfiles[path]
    return out


# -- metadata -------------------------------------------------------------------------------------

def core_metadata(text: str) -> dict[str, Any]:
    msg = HeaderParser().parsestr(text)
    return {"name": msg.get("Name"), "version": msg.get("Version"),
            "project_urls": msg.get_all("Project-URL") or [], "home_page": msg.get("Home-page"),
            "requires_dist": msg.get_all("Requires-Dist") or []}


def release_metadata(r: Any) -> dict[str, Any]:
    for path in sorted(r.rfiles):
        if path == "PKG-INFO" or re.fullmatch(r"[^/]+\.dist-info/METADATA", path):
            text = r.text_r(path)
            if text:
                return core_metadata(text)
    return {}


def _pyproject(r: Any, side: str = "r") -> dict[str, Any]:
    text = (r.text_r if side == "r" else r.text_s)("pyproject.toml")
    if not text:
        return {}
    try:
        return parse(text, "toml")
    except ManifestError:
        return {}


def _setup_cfg(r: Any) -> dict[str, Any]:
    text = r.text_r("setup.cfg")
    try:
        return parse(text, "ini") if text else {}
    except ManifestError:
        return {}


def _dig(doc: Any, dotted: str) -> list[str]:
    cur = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return []
        cur = cur[part]
    if isinstance(cur, str):
        return [cur]
    if isinstance(cur, list):
        return [str(x) for x in cur if isinstance(x, str)]
    return []


def expand(globs: list[str], r: Any) -> list[str]:
    """``{pyproject:KEY}`` / ``{setup.cfg:SECTION.KEY}`` entries resolved to the paths they name."""
    out = []
    docs = {"pyproject": None, "setup.cfg": None}
    for g in globs:
        m = re.fullmatch(r"\{(pyproject|setup\.cfg):([^}]+)\}", g)
        if not m:
            out.append(g)
            continue
        if docs[m.group(1)] is None:
            docs[m.group(1)] = _pyproject(r) if m.group(1) == "pyproject" else _setup_cfg(r)
        for value in _dig(docs[m.group(1)], m.group(2)):
            value = posixpath.normpath(value.strip().lstrip("./")) if value.strip() not in (".", "./") else ""
            if value.startswith(".."):
                continue
            out += [value, f"{value}/**"] if value else ["*.py"]
    return out


# -- pure Python: declarative setup.py, version files ------------------------------------------

def _pure_expr(node: ast.AST) -> bool:
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_pure_expr(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _pure_expr(k) for k in node.keys) and all(_pure_expr(v) for v in node.values)
    if isinstance(node, ast.Subscript):
        return _pure_expr(node.value) and _pure_expr(node.slice)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.operand, ast.Constant)
    if isinstance(node, ast.Starred):
        return _pure_expr(node.value)
    if isinstance(node, ast.Attribute):  # typing.Tuple, os.path names as values
        return isinstance(node.value, ast.Name)
    if isinstance(node, (ast.BoolOp, ast.Compare, ast.BinOp, ast.IfExp)):  # release = "dev" not in version
        return all(_pure_expr(c) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr))
    if isinstance(node, (ast.GeneratorExp, ast.ListComp)):
        return _pure_expr(node.elt) and all(_pure_expr(g.iter) and all(_pure_expr(i) for i in g.ifs)
                                            for g in node.generators)
    if isinstance(node, ast.Call):  # str methods and conversions only: version.split("+")[0], tuple(int(x) ...)
        func = node.func
        ok = (isinstance(func, ast.Attribute) and func.attr in PURE_METHODS and _pure_expr(func.value)) or \
            (isinstance(func, ast.Name) and func.id in PURE_BUILTINS)
        return ok and all(_pure_expr(a) for a in node.args) and all(_pure_expr(k.value) for k in node.keywords)
    return False


def _pure_stmt(s: ast.stmt, setup_call: bool) -> bool:
    if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant):
        return True
    if isinstance(s, ast.Import):
        return all(a.name in PURE_IMPORTS for a in s.names)
    if isinstance(s, ast.ImportFrom):
        return s.level == 0 and (s.module or "") in PURE_IMPORTS
    if isinstance(s, ast.Assign):
        return _pure_expr(s.value) and all(isinstance(t, (ast.Name, ast.Tuple)) for t in s.targets)
    if isinstance(s, ast.AnnAssign):
        return isinstance(s.target, ast.Name) and (s.value is None or _pure_expr(s.value)) and _pure_expr(s.annotation)
    if isinstance(s, ast.If):
        return _pure_expr(s.test) and all(_pure_stmt(x, setup_call) for x in s.body + s.orelse)
    if isinstance(s, ast.FunctionDef) and s.name == "get_versions" and not s.decorator_list:
        body = [x for x in s.body if not (isinstance(x, ast.Expr) and isinstance(x.value, ast.Constant))]
        return (len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(body[0].value, ast.Call)
                and ast.unparse(body[0].value.func) == "json.loads" and len(body[0].value.args) == 1
                and isinstance(body[0].value.args[0], ast.Name))
    if setup_call and isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
        call = s.value
        return (ast.unparse(call.func) in ("setup", "setuptools.setup") and all(_pure_expr(a) for a in call.args)
                and all(_pure_expr(k.value) for k in call.keywords))
    return False


def impure_lines(text: str, setup_call: bool = False) -> list[tuple[int, str]] | None:
    """Statements that are not declarations (None when the text is not Python)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    lines = text.splitlines()
    return [(s.lineno, lines[s.lineno - 1] if s.lineno <= len(lines) else "") for s in tree.body
            if not _pure_stmt(s, setup_call)]


def versions_in(text: str) -> list[str]:
    """Version strings a version file declares (names with 'version', versioneer's JSON)."""
    out = []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return out
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id.lower() for t in targets if isinstance(t, ast.Name)]
            if any(n == "version_json" for n in names):
                try:
                    out.append(str(json.loads(node.value.value).get("version")))
                except (ValueError, AttributeError):
                    out.append(node.value.value[:80])
            elif any("version" in n and "tuple" not in n for n in names):
                out.append(node.value.value)
    return out


def _norm_version(v: str) -> str:
    return v.strip().lower().removeprefix("v").replace("-", ".").replace("_", ".")


# -- the review --------------------------------------------------------------------------------------

def review(r: Any) -> None:
    meta = release_metadata(r)
    version = meta.get("version") or ""
    install = expand(r.data.install_time, r)
    for path in r.rfiles:
        if matches(path, install):
            r.install_time[path] = "Python build/install hook" if not path.endswith(".pth") else \
                ".pth file: its import lines run at every interpreter start"
    setup_imports(r)
    declarative_setup(r)
    manifests(r)
    version_files(r, version)
    if r.kind == WHEEL:
        dist_info(r, meta)
    else:
        for path in sorted(r.rfiles):
            if re.fullmatch(r"(?:.*/)?[^/]+\.egg-info/entry_points\.txt", path) and path not in r.sfiles:
                entry_points(r, path)
    code_in_metadata(r)
    requirements(r, meta)
    binaries(r)


def setup_imports(r: Any) -> None:
    """Top-level modules of the release that ``setup.py`` imports run at install too."""
    text = r.text_r("setup.py")
    if not text:
        return
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        for name in names:
            head = name.replace(".", "/")
            for cand in (f"{head}.py", f"{head}/__init__.py", f"{head.split('/')[0]}.py"):
                if cand in r.rfiles:
                    r.install_time[cand] = f"imported by setup.py ({name})"


def declarative_setup(r: Any) -> None:
    """A ``setup.py`` only in the sdist holding literals and one ``setup()`` call: what poetry and
    other backends write for legacy installers. Anything else in it is install-time code."""
    v = r.verdict("setup.py")
    if v is None or "setup.py" in r.sfiles:
        return
    text = r.text_r("setup.py") or ""
    bad = impure_lines(text, setup_call=True)
    if bad == []:
        r.explain("setup.py", "generated", "declarative setup.py written by the sdist builder (literals and "
                  "one setup() call)", "python")
        v._install_ok = True


def manifests(r: Any) -> None:
    for path, fmt in (("pyproject.toml", "toml"), ("setup.cfg", "ini")):
        v = r.verdict(path)
        if v is None or path not in r.sfiles or v.verdict == "identical":
            continue
        old, new = r.text_s(path), r.text_r(path)
        if old is None or new is None:
            continue
        try:
            rows = judge(r, path, fmt, parse(old, fmt), parse(new, fmt), ignore=[])
        except ManifestError as exc:
            continue_with = f"{path}: cannot parse ({exc}); compared as text"
            v.how = continue_with
            continue
        serious = [x for x in rows if Severity.parse(x["severity"]) > Severity.INFO]
        if not serious and v.verdict in ("regenerated", "generated"):
            v.how += f"; compared as data: only {', '.join(x['key'] for x in rows[:4]) or 'formatting'} changed"
        elif not serious:
            r.explain(path, "release-edit" if rows else "regenerated",
                      f"{path}: only " + (", ".join(x["key"] for x in rows[:6]) or "formatting") + " changed",
                      "python")
        else:
            r.explain(path, "modified", f"{path}: {len(serious)} declared field(s) changed (compared as data)",
                      "python")


def version_files(r: Any, version: str) -> None:
    globs = expand(r.data.version_files, r)
    for path in sorted(r.rfiles):
        v = r.verdict(path)
        if v is None or v.verdict in ("identical",) or not matches(path, globs) or path in r.install_time:
            continue
        text = r.text_r(path)
        if text is None:
            continue
        if path.endswith((".txt", "VERSION")):
            found, bad = [text.strip()], ([] if len(text.strip().splitlines()) == 1 else [(2, "more than one line")])
        else:
            bad = impure_lines(text)
            if bad is None:
                bad = [(1, "not valid Python")]
            found = versions_in(text)
        wrong = [x for x in found if version and _norm_version(x) != _norm_version(version)]
        ev = {"release_version": version, "versions_in_file": found, "in_source": path in r.sfiles}
        if bad:
            ev["code"] = [{"line": n, "text": t[:200]} for n, t in bad[:20]]
            ev["content_head"] = "\n".join(text.splitlines()[:60])[:4000]
            r.explain(path, "modified" if path in r.sfiles else "unexplained",
                      "version file carrying code", "python", keep=("PC102",))
            r.add(path, PC122.finding(location=r.loc(path, lines=(bad[0][0], bad[-1][0])), key=f"{path}#version",
                                      evidence=ev, message=f"version file {path} holds code, not only the version: "
                                                           f"line {bad[0][0]}: {bad[0][1].strip()[:100]}"))
        elif wrong or not found:
            r.explain(path, "modified" if path in r.sfiles else "unexplained", "version file with another version",
                      "python")
            r.add(path, PC122.finding(location=r.loc(path), key=f"{path}#version", evidence=ev, severity=Severity.HIGH,
                                      message=f"version file {path} says {', '.join(found) or 'no version'}; "
                                              f"the release is {version or '?'}"))
        else:
            r.explain(path, "generated", f"version file written at build time: says {found[0]}, nothing else",
                      "python")


def _record_hash(node: Node) -> str:
    return "sha256=" + base64.urlsafe_b64encode(bytes.fromhex(node.sha256)).rstrip(b"=").decode()


def dist_info(r: Any, meta: dict[str, Any]) -> None:
    top = r.c.rprefix
    original = {(n.path[len(top) + 1:] if top else n.path): n for n in r.rfiles.values()}
    by_original = {id(n): p for p, n in r.rfiles.items()}
    record_path = next((p for p in original if re.fullmatch(r"[^/]+\.dist-info/RECORD", p)), None)
    for path in list(r.rfiles):
        m = _DIST_INFO.fullmatch(path)
        if m and r.verdict(path) and r.verdict(path).verdict != "identical":
            r.explain(path, "generated", f"wheel metadata ({m.group(2)}) written by the build backend", "python")
    if record_path is None:
        return
    rows: dict[str, tuple[str, str]] = {}
    for row in csv.reader(io.StringIO(r.c.release.tree.read(original[record_path]).decode("utf-8", "replace"))):
        if row:
            rows[row[0]] = (row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else "")
    problems = []
    for path, node in sorted(original.items()):
        if path == record_path or not node.is_file:
            continue
        want = rows.pop(path, None)
        if want is None:
            problems.append({"path": path, "problem": "not in RECORD"})
        elif want[0] and want[0] != _record_hash(node):
            problems.append({"path": path, "problem": "hash differs", "record": want[0], "actual": _record_hash(node)})
        elif want[1] and want[1].isdigit() and int(want[1]) != node.size:
            problems.append({"path": path, "problem": "size differs", "record": want[1], "actual": node.size})
    problems += [{"path": p, "problem": "listed in RECORD, not in the wheel"} for p in sorted(rows)
                 if not p.endswith("/RECORD") and not p.endswith(".pyc")]
    for prob in problems:
        mapped = by_original.get(id(original.get(prob["path"])), None) or record_path
        r.add(mapped, PC123.finding(location=r.loc(mapped), key=f"{prob['path']}#record", evidence=prob,
                                    message=f"{prob['path']}: {prob['problem']} ({record_path})"))
    for path in sorted(original):
        if path.endswith("entry_points.txt") and _DIST_INFO.fullmatch(path):
            entry_points(r, by_original.get(id(original[path]), path))


def code_in_metadata(r: Any) -> None:
    """Metadata directories hold data; code or a native library in them is explained by nothing."""
    from .code import CODE_FILE
    for path in sorted(r.rfiles):
        v = r.verdict(path)
        node = r.rfiles[path]
        if v is None or v.verdict == "identical" or not re.search(r"\.(?:egg|dist)-info/", path):
            continue
        if CODE_FILE.search(path) or path.endswith((".so", ".pyd", ".dll", ".dylib")):  # modes vary by packer
            r.explain(path, "unexplained", "code inside package metadata", "python")
            r.add(path, PC101.finding(location=r.loc(path), key=path, severity=Severity.MEDIUM,
                                      evidence={"size": node.size, "sha256": node.sha256},
                                      message=f"{path}: code or a native library inside package metadata, which "
                                              "no build backend writes"))


def entry_points(r: Any, path: str) -> None:
    """Every entry point the artifact declares must be declared by the source too."""
    text = r.text_r(path)
    if not text:
        return
    try:
        doc = parse(text, "ini")
    except ManifestError:
        return
    declared = "\0".join(filter(None, (r.text_s(p) for p in packaging_files(r))))
    declared_compact = re.sub(r"\s+", "", declared)
    for group, entries in doc.items():
        if not isinstance(entries, dict):
            entries = {str(entries): str(entries)} if entries else {}
        for name, target in entries.items():
            if name in declared and re.sub(r"\s+", "", str(target)).split("[")[0] in declared_compact:
                continue
            sev = Severity.HIGH
            r.add(path, PC121.finding(location=r.loc(path), key=f"{path}#{group}.{name}", severity=sev,
                                      evidence={"group": group, "name": name, "target": target},
                                      message=f"{path} declares entry point {group}: {name} = {target}, which the "
                                              "source's pyproject.toml/setup.cfg/setup.py do not declare"))


def packaging_files(r: Any) -> list[str]:
    """Source files that declare dependencies and entry points (a known-good artifact as the
    source declares them in its own metadata)."""
    return [p for p in r.sfiles if posixpath.basename(p) in ("pyproject.toml", "setup.cfg", "setup.py", "Pipfile",
                                                             "PKG-INFO", "requires.txt", "entry_points.txt")
            or p.endswith(".dist-info/METADATA") or re.fullmatch(r"(?:.*/)?requirements[^/]*\.(?:txt|in)", p)]


def requirements(r: Any, meta: dict[str, Any]) -> None:
    """Every Requires-Dist of the artifact must be named somewhere in the source's packaging files."""
    reqs = meta.get("requires_dist") or []
    if not reqs:
        return
    texts = [r.text_s(p) or "" for p in packaging_files(r)]
    known = _NAME_NORM.sub("-", "\0".join(texts).lower())
    meta_path = next((p for p in sorted(r.rfiles) if p == "PKG-INFO" or p.endswith(".dist-info/METADATA")), None)
    for req in reqs:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if not name:
            continue
        norm = _NAME_NORM.sub("-", name.group(1).lower())
        if re.search(rf"(?<![a-z0-9-]){re.escape(norm)}(?![a-z0-9])", known):
            continue
        r.add(meta_path, PC121.finding(location=r.loc(meta_path), key=f"{meta_path}#requires.{norm}",
                                       evidence={"requires_dist": req},
                                       message=f"{meta_path} requires {req!r}, a dependency no packaging file of the "
                                               "source names"))


def binaries(r: Any) -> None:
    from .native import report_binaries
    report_binaries(r, r.data.binaries)


__all__ = ["wheel_onto_tree", "review", "impure_lines", "versions_in", "core_metadata"]
