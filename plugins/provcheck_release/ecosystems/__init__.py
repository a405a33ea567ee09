"""Package ecosystems: Python sdists and wheels, npm tarballs, read the way their installers read them.

The generic comparison gives every file a verdict. For a package artifact this pass then
explains what the package manager does with it: which files run at install (``setup.py``,
build hooks, ``.pth`` files, npm lifecycle scripts and what they name), what the manifest
declares (``package.json``/``pyproject.toml``/``setup.cfg`` compared as data), which files a
build writes (version files, ``*.dist-info``, npm ``dist/``), and what added code can do.

Knowledge is data: the ``[ecosystem]`` tables of the build-system files
(``data/buildsystems/python.toml``, ``npm.toml``, ``capabilities.toml``), extended by
``--knowledge`` files and the ``provcheck_release_buildsystems`` hook like the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Collection, Mapping

from provcheck import Finding, Location, Node, ProvcheckError, Severity

SDIST, WHEEL, NPM = "sdist", "wheel", "npm"
BUILT_UNVERIFIED = "built-unverified"
_WHEEL_MARK = re.compile(r"[^/]+\.dist-info/WHEEL")


@lru_cache(maxsize=512)
def glob_rx(pattern: str) -> re.Pattern:
    """``**/`` any directories (also none), ``*`` and ``?`` within one name."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(path: str, globs: Collection[str]) -> bool:
    return any(glob_rx(g).match(path) for g in globs)


def kind_of(paths: Collection[str], top: str, name: str) -> str | None:
    """sdist, wheel, npm or None (not a package artifact this pass knows)."""
    if any(_WHEEL_MARK.fullmatch(p) for p in paths):
        return WHEEL
    if "package.json" in paths and (top == "package" or name.endswith((".tgz", ".tar.gz"))) and top != "" \
            and "PKG-INFO" not in paths:
        return NPM
    if "PKG-INFO" in paths and ({"setup.py", "pyproject.toml", "setup.cfg"} & set(paths)):
        return SDIST
    return None


def onto_source(release_files: dict[str, Node], source_paths: Collection[str]) -> dict[str, Node]:
    """A wheel's files renamed to where they live in the source tree (``src/`` layouts,
    ``package-dir``, ``packages.find``); every other release unchanged."""
    if not any(_WHEEL_MARK.fullmatch(p) for p in release_files):
        return release_files
    from .python import wheel_onto_tree
    return wheel_onto_tree(release_files, source_paths)


# -- the knowledge ---------------------------------------------------------------------------

@dataclass
class Capability:
    name: str
    what: str
    patterns: tuple[re.Pattern, ...]


@dataclass
class EcosystemData:
    install_time: list[str] = field(default_factory=list)
    version_files: list[str] = field(default_factory=list)
    binaries: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)
    build_inputs: list[str] = field(default_factory=list)
    publish_fields: list[str] = field(default_factory=list)
    manifest: list[dict[str, Any]] = field(default_factory=list)
    capabilities: list[Capability] = field(default_factory=list)

    def manifest_rule(self, file: str, key: str) -> dict[str, Any] | None:
        """The last entry for ``file`` whose key glob matches the dotted ``key``."""
        for entry in reversed(self.manifest):
            if entry.get("file") == file and any(_key_match(g, key) for g in entry.get("keys", ())):
                return entry
        return None


def _key_match(glob: str, key: str) -> bool:
    rx = "".join("[^.]*" if c == "*" else re.escape(c) for c in glob)
    return re.fullmatch(rx, key) is not None


class EcosystemError(ProvcheckError):
    """A broken ``[ecosystem]`` table: a plugin error naming the file."""


def data_for(knowledge: Any, kind: str) -> EcosystemData:
    """Every ``[ecosystem]`` table that applies to ``kind``, merged in load order."""
    out = EcosystemData()
    for system, info in knowledge.systems.items():
        eco = info.get("ecosystem") or {}
        if not eco:
            continue
        applies = eco.get("applies") or ["*"]
        if "*" not in applies and kind not in applies:
            continue
        try:
            for key, attr in (("install-time", "install_time"), ("version-files", "version_files"),
                              ("binaries", "binaries"), ("built", "built"), ("build-inputs", "build_inputs"),
                              ("publish-fields", "publish_fields")):
                getattr(out, attr).extend(str(x) for x in eco.get(key, []))
            for entry in eco.get("manifest", []):
                if not isinstance(entry, Mapping) or not entry.get("file") or not entry.get("keys"):
                    raise EcosystemError(f"{system}: ecosystem.manifest entries need 'file' and 'keys'")
                Severity.parse(str(entry.get("severity", "low")))
                out.manifest.append(dict(entry))
            for cap in eco.get("capability", []):
                out.capabilities.append(Capability(str(cap["name"]), str(cap.get("what", cap["name"])),
                                                   tuple(re.compile(p) for p in cap.get("patterns", []))))
        except (KeyError, TypeError, ValueError, re.error) as exc:
            raise EcosystemError(f"{system} ({info.get('origin')}): bad [ecosystem] table: {exc}") from None
    return out


# -- the pass ---------------------------------------------------------------------------------

class Review:
    """What an ecosystem module needs of the comparison: files, verdicts, and a way to
    replace a file's generic verdict and findings with its own."""

    def __init__(self, comparer: Any, kind: str, data: EcosystemData):
        self.c, self.kind, self.data = comparer, kind, data
        self.verdicts = {v.path: v for v in comparer.cmp.verdicts}
        self.install_time: dict[str, str] = {}   # path -> why it runs at install
        self.analysed: set[str] = set()          # judged as a whole already (bundles)
        self._corpus: str | None = None
        self._corpus_lower: str | None = None
        self._unread: dict[str, str] | None = None

    # files
    @property
    def rfiles(self) -> dict[str, Node]:
        return self.c.rfiles

    @property
    def sfiles(self) -> dict[str, Node]:
        return self.c.sfiles

    def text_r(self, path: str) -> str | None:
        node = self.rfiles.get(path)
        if node is None or not node.is_file:
            return None
        data = self.c.read_r(path)
        return None if b"\0" in data[:8192] else data.decode("utf-8", "replace")

    def text_s(self, path: str) -> str | None:
        node = self.sfiles.get(path)
        if node is None:
            return None
        if path in self.unread:  # listed by the lazy git read, not read: read it now
            from .sourcetext import read_unread
            data = read_unread(self, path)
        elif not node.is_file:
            return None
        else:
            data = self.c.read_s(path)
        return None if b"\0" in data[:8192] else data.decode("utf-8", "replace")

    @property
    def unread(self) -> dict[str, str]:
        if self._unread is None:
            cut = len(self.c.sprefix) + 1 if self.c.sprefix else 0
            self._unread = {p[cut:]: sha for p, sha in (self.c.source.metadata.get("unread_blobs") or {}).items()}
        return self._unread

    def corpus(self) -> str:
        """Every text file of the source (files the lazy git read skipped are read now), joined."""
        if self._corpus is None:
            from .sourcetext import source_corpus
            self._corpus = source_corpus(self)
        return self._corpus

    def corpus_lower(self) -> str:
        if self._corpus_lower is None:
            self._corpus_lower = self.corpus().lower()
        return self._corpus_lower

    def loc(self, path: str, **kw: Any) -> Location:
        return self.c.loc(path, **kw)

    # verdicts and findings
    def verdict(self, path: str):
        return self.verdicts.get(path)

    def generic_findings(self, path: str) -> list[Finding]:
        return [f for f in self.c.cmp.findings if f.key == path or (f.key or "").startswith(path + "#")]

    def explain(self, path: str, verdict: str, how: str, system: str, keep: tuple[str, ...] = ()) -> None:
        """Replace ``path``'s verdict; its generic PC101/PC102/PC103/PC107 findings go
        (rules in ``keep`` and the build-script risk analysis stay)."""
        v = self.verdicts.get(path)
        if v is None:
            return
        drop = {"PC101", "PC102", "PC103", "PC107"} - set(keep)
        self.c.cmp.findings[:] = [f for f in self.c.cmp.findings
                                  if not (f.key == path and f.rule_id in drop)]
        v.verdict, v.how, v.system = verdict, how, system
        if v.rule in drop:
            v.rule = v.severity = None
            for f in self.generic_findings(path):
                self._raise(v, f)

    def add(self, path: str | None, finding: Finding) -> None:
        self.c.cmp.findings.append(finding)
        v = self.verdicts.get(path) if path else None
        if v is not None:
            self._raise(v, finding)

    @staticmethod
    def _raise(v: Any, f: Finding) -> None:
        if v.severity is None or Severity.parse(v.severity) < f.severity:
            v.rule, v.severity = f.rule_id, str(f.severity)


def review(comparer: Any) -> None:
    """Run the ecosystem pass on a finished comparison (before its summary)."""
    kind = kind_of(comparer.rfiles.keys(), comparer.rprefix, comparer.release.name)
    if kind is None:
        return
    data = data_for(comparer.k, kind)
    r = Review(comparer, kind, data)
    if kind == NPM:
        from . import npm
        npm.review(r)
    else:
        from . import python
        python.review(r)
    from . import code
    code.review_install_time(r)
    code.review_added_code(r)


__all__ = ["review", "onto_source", "kind_of", "data_for", "Review", "EcosystemData", "EcosystemError",
           "BUILT_UNVERIFIED", "SDIST", "WHEEL", "NPM", "matches"]
