"""The linkage graph of one tree: every ELF file, resolved like the dynamic loader would
resolve it when run inside that tree, with package ownership.

Resolution (glibc ``ld.so`` order, per needing object):

1. a DT_NEEDED containing ``/`` is a path (``$ORIGIN`` etc. expanded), taken as is;
2. DT_RPATH of the object, then DT_RPATH of the executable that loads it (only when the
   object has no DT_RUNPATH);
3. DT_RUNPATH of the object (never inherited);
4. the directories of ``etc/ld.so.conf`` (with ``include`` globs), standing in for
   ``ld.so.cache``;
5. the system directories: ``lib/<multiarch>``, ``usr/lib/<multiarch>``, then ``lib64``/
   ``usr/lib64`` for 64-bit objects (other distributions) and ``lib``, ``usr/lib``.

``$ORIGIN`` is the directory of the needing object (as reached), ``$LIB`` the multiarch
``lib/<triplet>`` when the tree has that directory (else ``lib64``/``lib``), ``$PLATFORM``
the machine name. A candidate is taken only when it is an ELF file of the same class and
machine; otherwise the search goes on, as ld.so does. musl trees (``lib/ld-musl-*.so.1``
and no glibc loader) use ``etc/ld-musl-ARCH.path`` or musl's default path instead.
Nothing is guessed: a name that no directory provides is an unresolved edge.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

TRIPLETS = {(64, "x86_64"): "x86_64-linux-gnu", (32, "i386"): "i386-linux-gnu",
            (64, "aarch64"): "aarch64-linux-gnu", (32, "arm"): "arm-linux-gnueabihf",
            (64, "ppc64"): "powerpc64le-linux-gnu", (64, "s390"): "s390x-linux-gnu",
            (64, "riscv"): "riscv64-linux-gnu", (64, "mips"): "mips64el-linux-gnuabi64",
            (32, "mips"): "mipsel-linux-gnu", (64, "loongarch"): "loongarch64-linux-gnu"}
MUSL_ARCH = {"x86_64": "x86_64", "i386": "i386", "aarch64": "aarch64", "arm": "armhf", "ppc64": "powerpc64le",
             "s390": "s390x", "riscv": "riscv64"}
NEEDED, DLOPEN = "needed", "dlopen"
MAX_CONF_DIRS = 1024  # library directories taken from ld.so.conf and its includes


@dataclass
class Obj:
    """One ELF file of the tree (by its real path) and what the graph knows about it."""

    path: str
    info: dict[str, Any]
    node: Any
    package: str | None = None
    aliases: set[str] = field(default_factory=set)

    @property
    def soname(self) -> str | None:
        return self.info.get("soname")

    @property
    def is_library(self) -> bool:
        return bool(self.info.get("soname")) or (self.info["type"] == "DYN" and not self.info.get("interp"))

    @property
    def names(self) -> set[str]:
        out = {self.path.rpartition("/")[2]}  # posixpath.basename, without a call per name
        out.update([a.rpartition("/")[2] for a in self.aliases])
        soname = self.info.get("soname")
        if soname:
            out.add(soname)
        return out

    def to_dict(self) -> dict[str, Any]:
        i = self.info
        return {"path": self.path, "soname": i.get("soname"), "type": i["type"], "class": i["class"],
                "machine": i["machine_name"], "interp": i.get("interp"), "layer": self.node.layer,
                "sha256": self.node.sha256, "package": self.package, "build_id": i.get("build_id"),
                "package_note": i.get("package"), "dlopen": i.get("dlopen") or [], "aliases": sorted(self.aliases)}


@dataclass(frozen=True)
class Edge:
    src: str
    name: str            # the DT_NEEDED / dlopen soname as written
    kind: str            # "needed" or "dlopen"
    dst: str | None      # resolved real path, None when unresolved
    via: str = ""        # how it was found: "rpath", "runpath", "ld.so.conf", "default", "path", "inherited-rpath"
    found_as: str = ""   # the path that was opened (before symlinks)
    searched: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {"from": self.src, "name": self.name, "kind": self.kind, "to": self.dst, "via": self.via,
             "found_as": self.found_as or None}
        if self.dst is None:
            d["searched"] = list(self.searched)
        return d


class Graph:
    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.edges: dict[str, list[Edge]] = {}
        self.rdeps: dict[str, set[str]] = {}
        self.errors: list[tuple[str, str]] = []   # (path, reason) for unreadable ELF files
        self.libc = "glibc"
        self.packages: Any = None                  # packages.Packages, set by analysis.analyze

    # -- building blocks -------------------------------------------------------------
    def add_edge(self, e: Edge) -> None:
        self.edges.setdefault(e.src, []).append(e)
        if e.dst is not None:
            self.rdeps.setdefault(e.dst, set()).add(e.src)

    def unresolved(self) -> Iterator[Edge]:
        for src in sorted(self.edges):
            for e in self.edges[src]:
                if e.dst is None:
                    yield e

    def out(self, path: str, kinds: Iterable[str] = (NEEDED, DLOPEN)) -> list[Edge]:
        kinds = set(kinds)
        return [e for e in self.edges.get(path, ()) if e.dst is not None and e.kind in kinds]

    # -- queries -----------------------------------------------------------------------
    def match(self, pattern: str) -> list[str]:
        """Objects a user pattern names: a glob over the path when it has a ``/``, else over
        the file name, its symlink names and SONAME; a plain word also matches ``word.*``."""
        pat = pattern.strip("/")
        out = []
        globby = any(c in pat for c in "*?[")
        dotted = pat + "."  # a plain word also matches word.*; without a wildcard, fnmatch is ==
        for path, obj in self.objects.items():
            if "/" in pat:
                cands = [path, *obj.aliases]
                if any(_glob(pat, c) for c in cands):
                    out.append(path)
            elif globby:
                names = obj.names
                if pat in names or any(fnmatch.fnmatchcase(n, pat) for n in names):
                    out.append(path)
            else:
                for n in obj.names:
                    if n == pat or n.startswith(dotted):
                        out.append(path)
                        break
        return sorted(out)

    def reachable(self, start: Iterable[str], kinds: Iterable[str] = (NEEDED, DLOPEN)) -> set[str]:
        kinds = tuple(kinds)
        seen = set(start)
        todo = deque(seen)
        while todo:
            cur = todo.popleft()
            for e in self.out(cur, kinds):
                if e.dst not in seen:
                    seen.add(e.dst)
                    todo.append(e.dst)
        return seen

    def dependents(self, targets: Iterable[str], kinds: Iterable[str] = (NEEDED, DLOPEN)) -> set[str]:
        """Everything that reaches any of ``targets`` (the targets excluded)."""
        kinds = set(kinds)
        targets = set(targets)
        seen = set(targets)
        todo = deque(targets)
        while todo:
            cur = todo.popleft()
            for src in self.rdeps.get(cur, ()):
                if src in seen:
                    continue
                if any(e.dst == cur and e.kind in kinds for e in self.edges.get(src, ())):
                    seen.add(src)
                    todo.append(src)
        return seen - targets

    def paths(self, sources: Iterable[str], targets: Iterable[str], kinds: Iterable[str] = (NEEDED, DLOPEN),
              limit: int = 100, budget: int = 200_000) -> tuple[list[list[Edge]], bool]:
        """Every simple path from a source to a target, shortest first (at most ``limit``;
        the second value says whether some were left out)."""
        kinds = tuple(kinds)
        targets = set(targets)
        can_reach = self.dependents(targets, kinds) | targets
        found: list[list[Edge]] = []
        truncated = False
        steps = 0
        for src in sorted(set(sources)):
            if src not in can_reach or src in targets:
                continue
            # breadth-first over simple paths gives shortest first within a source
            queue: deque[tuple[str, list[Edge], frozenset]] = deque([(src, [], frozenset([src]))])
            while queue:
                cur, path, on = queue.popleft()
                for e in sorted(self.out(cur, kinds), key=lambda e: (e.dst, e.kind, e.name)):
                    steps += 1
                    if steps > budget:
                        truncated = True
                        queue.clear()
                        break
                    if e.dst in on or e.dst not in can_reach:
                        continue
                    new = path + [e]
                    if e.dst in targets:
                        found.append(new)
                    else:
                        queue.append((e.dst, new, on | {e.dst}))
        found.sort(key=lambda p: (len(p), [e.dst for e in p], [e.kind for e in p]))
        if len(found) > limit:
            truncated = True
            found = found[:limit]
        return found, truncated


def _glob(pattern: str, path: str) -> bool:
    """The tree's own glob semantics (``**/`` matches any depth, including none)."""
    return bool(_glob_rx(pattern).match(path))


_RX: dict[str, re.Pattern] = {}


def _glob_rx(pattern: str) -> re.Pattern:
    rx = _RX.get(pattern)
    if rx is None:
        from provcheck import glob_regex
        rx = _RX[pattern] = glob_regex(pattern)
    return rx


# -- the loader --------------------------------------------------------------------------

class Loader:
    """Search rules of the tree's dynamic loader."""

    def __init__(self, tree: Any, objects: dict[str, Obj]):
        self.tree = tree
        self.objects = objects
        self._real: dict[str, str | None] = {}
        self._memo: dict[tuple, tuple[str | None, str, str, tuple[str, ...]]] = {}
        self.conf_dirs = self._ld_so_conf()
        self.musl = (any(self.tree.get(p) for p in _musl_loaders(tree))
                     and not any(o.info.get("soname", "") and o.info["soname"].startswith("ld-linux")
                                 for o in objects.values()))

    def realpath(self, path: str) -> str | None:
        if path not in self._real:
            node = self.tree.resolve(path)
            self._real[path] = node.path if node is not None and node.path else None
        return self._real[path]

    def _ld_so_conf(self) -> list[str]:
        dirs: list[str] = []
        known: set[str] = set()
        seen: set[str] = set()
        budget = {"includes": 256}  # a hostile config must not cost more than a few globs

        def read(path: str, depth: int) -> None:
            real = self.realpath(path)
            if real is None or real in seen or depth > 8 or len(seen) > 512 or len(dirs) >= MAX_CONF_DIRS:
                return
            seen.add(real)
            node = self.tree.get(real)
            if node is None or not node.is_file or node.size > 1 << 20:
                return
            text = self.tree.read(node).decode("utf-8", "replace")
            for raw in text.splitlines():
                line = raw.split("#", 1)[0].strip()
                if not line:
                    continue
                if line.startswith("include"):
                    for pat in line.split()[1:]:
                        budget["includes"] -= 1
                        if budget["includes"] < 0:
                            return
                        if not pat.startswith("/"):
                            pat = posixpath.join(posixpath.dirname("/" + path.strip("/")), pat)
                        for inc in sorted(self._glob_paths(pat)):
                            read(inc, depth + 1)
                elif line.startswith("hwcap"):
                    continue
                else:
                    for d in re.split(r"[\s:,]+", line):
                        d = d.split("=", 1)[0].strip("/")
                        if d and d not in known:
                            if len(dirs) >= MAX_CONF_DIRS:
                                return
                            known.add(d)
                            dirs.append(d)

        read("etc/ld.so.conf", 0)
        return dirs

    def _glob_paths(self, pattern: str) -> list[str]:
        pattern = pattern.strip("/")
        d, base = posixpath.split(pattern)
        real = self.realpath(d) if d else ""
        if real is None:
            return []
        prefix = real + "/" if real else ""
        return [n.path for n in self.tree.nodes.values()
                if n.path.startswith(prefix) and "/" not in n.path[len(prefix):]
                and fnmatch.fnmatchcase(n.path[len(prefix):], base)]

    def system_dirs(self, cls: int, machine: str) -> list[str]:
        if self.musl:
            arch = MUSL_ARCH.get(machine, machine)
            node = self.tree.resolve(f"etc/ld-musl-{arch}.path")
            if node is not None and node.is_file and node.size < 1 << 16:
                return [d.strip("/") for d in re.split(r"[\s:]+", self.tree.read(node).decode("utf-8", "replace"))
                        if d.strip("/")]
            return ["lib", "usr/local/lib", "usr/lib"]
        triplet = TRIPLETS.get((cls, machine))
        out = list(self.conf_dirs)
        if triplet:
            out += [f"lib/{triplet}", f"usr/lib/{triplet}"]
        if cls == 64:
            out += ["lib64", "usr/lib64"]
        out += ["lib", "usr/lib"]
        seen, uniq = set(), []
        for d in out:
            if d not in seen:
                seen.add(d)
                uniq.append(d)
        return uniq

    def expand(self, entry: str, origin: str, cls: int, machine: str) -> str | None:
        """One RPATH/RUNPATH entry as a tree path (None when it cannot name a directory)."""
        triplet = TRIPLETS.get((cls, machine))
        lib = f"lib/{triplet}" if triplet and self.realpath(f"lib/{triplet}") else ("lib64" if cls == 64 else "lib")

        def sub(m: re.Match) -> str:
            word = m.group(1) or m.group(2)
            return {"ORIGIN": "/" + origin, "LIB": lib, "PLATFORM": machine}.get(word, m.group(0))

        out = re.sub(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)\b)", sub, entry)
        if not out.startswith("/"):
            return None  # relative to the process's working directory: not a tree path
        return posixpath.normpath(out).strip("/")

    def candidate(self, path: str, cls: int, machine: int) -> tuple[str | None, str]:
        real = self.realpath(path)
        if real is None:
            return None, "missing"
        obj = self.objects.get(real)
        if obj is None:
            node = self.tree.get(real)
            return None, "not an ELF file" if node is not None and node.is_file else "not a file"
        if obj.info["class"] != cls or obj.info["machine"] != machine:
            return None, f"wrong class/machine ({obj.info['class']}-bit {obj.info['machine_name']})"
        return real, ""

    def resolve(self, obj: Obj, name: str, origin_path: str, inherited: tuple[str, ...] = ()
                ) -> tuple[str | None, str, str, tuple[str, ...]]:
        """(real path or None, how, path opened, directories searched)."""
        info = obj.info
        cls, machine, mname = info["class"], info["machine"], info["machine_name"]
        origin = posixpath.dirname(origin_path)
        if "/" in name:
            p = self.expand(name, origin, cls, mname)
            if p is None:
                return None, "path", "", (name,)
            real, _why = self.candidate(p, cls, machine)
            return real, "path", p, (p,)
        groups: list[tuple[str, list[str]]] = []
        if not info.get("runpath"):
            if info.get("rpath"):
                groups.append(("rpath", self._dirs(info["rpath"], origin, cls, mname)))
            if inherited:
                groups.append(("inherited-rpath", list(inherited)))
        if info.get("runpath"):
            groups.append(("runpath", self._dirs(info["runpath"], origin, cls, mname)))
        key = (tuple((g, tuple(d)) for g, d in groups), name, cls, machine)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        searched: list[str] = []
        groups.append(("default", self.system_dirs(cls, mname)))
        result: tuple[str | None, str, str, tuple[str, ...]] | None = None
        for how, dirs in groups:
            for d in dirs:
                p = f"{d}/{name}" if d else name
                searched.append(p)
                real, _why = self.candidate(p, cls, machine)
                if real is not None:
                    if how == "default" and d in self.conf_dirs:
                        how = "ld.so.conf"
                    result = (real, how, p, tuple(searched))
                    break
            if result:
                break
        if result is None:
            result = (None, "", "", tuple(searched))
        self._memo[key] = result
        return result

    def _dirs(self, value: str, origin: str, cls: int, machine: str) -> list[str]:
        out = []
        for entry in value.split(":"):
            if not entry:
                continue  # an empty entry means the working directory: not in the tree
            p = self.expand(entry, origin, cls, machine)
            if p is not None:
                out.append(p)
        return out


def _musl_loaders(tree: Any) -> list[str]:
    """``lib/ld-musl-*.so.1`` (the glob, without sorting and matching every path of the tree)."""
    if tree.get("lib") is None:
        return []
    head, tail = "lib/ld-musl-", ".so.1"
    return sorted(p for p in tree.nodes if p.startswith(head) and p.endswith(tail)
                  and len(p) >= len(head) + len(tail) and "/" not in p[len(head):])


def build(tree: Any, infos: dict[str, dict[str, Any]], packages: dict[str, str] | None = None) -> Graph:
    """The graph of ``tree`` from parsed ELF ``infos`` (real path -> info)."""
    g = Graph()
    for path, info in infos.items():
        owner = (packages or {}).get(path)
        note = info.get("package")
        if owner is None and note and note.get("name"):
            owner = f"{note['name']} (.note.package)"   # the build's own claim; no package database
        g.objects[path] = Obj(path=path, info=info, node=tree.nodes[path], package=owner)
    for node in tree.nodes.values():
        if node.type == "symlink":
            real = tree.realpath(node.path)
            if real in g.objects and real != node.path:
                g.objects[real].aliases.add(node.path)
    loader = Loader(tree, g.objects)
    g.libc = "musl" if loader.musl else "glibc"
    for path in sorted(g.objects):
        obj = g.objects[path]
        for name in obj.info.get("needed", ()):
            real, how, opened, searched = loader.resolve(obj, name, path)
            g.add_edge(Edge(path, name, NEEDED, real, how, opened, searched))
        for entry in obj.info.get("dlopen", ()):
            for name in entry.get("soname", ()):
                real, how, opened, searched = loader.resolve(obj, name, path)
                g.add_edge(Edge(path, name, DLOPEN, real, how, opened, searched))
    _inherit_rpath(g, loader)
    _already_loaded(g)
    return g


def _already_loaded(g: Graph) -> None:
    """ld.so loads an executable's DT_NEEDED breadth-first and reuses a loaded object
    whose SONAME matches a later DT_NEEDED before searching any directory. So a library
    whose dependency sits only in the executable's RUNPATH directory (systemd's
    libsystemd-core needs libsystemd-shared) still loads: resolve such edges to the object
    the executable already loaded, and say so."""
    for _ in range(4):  # newly resolved edges can reveal more
        changed = False
        unresolved = {p for p, edges in g.edges.items() if any(e.dst is None and e.kind == NEEDED for e in edges)}
        if not unresolved:
            break  # the usual case: nothing for a loaded object to stand in for
        # only executables that reach an unresolved object (one walk back from them) can
        # change; an edge this pass resolves starts at one of those objects, so it adds none
        reaching = _needed_by(g, unresolved)
        for exe in sorted((o for o in g.objects.values() if o.path in reaching and o.info.get("interp")),
                          key=lambda o: o.path):
            reach = g.reachable([exe.path], (NEEDED,))
            if reach.isdisjoint(unresolved):
                continue
            pending = [(p, i) for p in sorted(reach) for i, e in enumerate(g.edges.get(p, ()))
                       if e.dst is None and e.kind == NEEDED]
            if not pending:
                continue
            loaded: dict[str, str] = {}
            for p in sorted(reach):
                o = g.objects[p]
                for n in ([o.soname] if o.soname else []) + [posixpath.basename(p)]:
                    loaded.setdefault(n, p)
            for p, i in pending:
                e = g.edges[p][i]
                dst = loaded.get(e.name)
                if dst is None or dst == p:
                    continue
                src_info, dst_info = g.objects[p].info, g.objects[dst].info
                if (src_info["class"], src_info["machine"]) != (dst_info["class"], dst_info["machine"]):
                    continue
                g.edges[p][i] = Edge(p, e.name, e.kind, dst, f"already-loaded:{exe.path}", dst, e.searched)
                g.rdeps.setdefault(dst, set()).add(p)
                changed = True
        if not changed:
            break


def _needed_by(g: Graph, targets: set[str]) -> set[str]:
    """``targets`` and every object that reaches one of them by NEEDED edges."""
    back: dict[str, list[str]] = {}
    for src, edges in g.edges.items():
        for e in edges:
            if e.dst is not None and e.kind == NEEDED:
                back.setdefault(e.dst, []).append(src)
    seen = set(targets)
    todo = list(targets)
    while todo:
        for src in back.get(todo.pop(), ()):
            if src not in seen:
                seen.add(src)
                todo.append(src)
    return seen


def _inherit_rpath(g: Graph, loader: Loader) -> None:
    """Retry unresolved edges of libraries without RUNPATH using the DT_RPATH of the
    executables that load them (glibc searches the loader chain's RPATHs)."""
    exes = [o for o in g.objects.values() if o.info.get("rpath") and not o.info.get("runpath")
            and o.info.get("interp")]
    if not exes:
        return
    for exe in exes:
        dirs = tuple(loader._dirs(exe.info["rpath"], posixpath.dirname(exe.path), exe.info["class"],
                                  exe.info["machine_name"]))
        for lib in g.reachable([exe.path], (NEEDED,)) - {exe.path}:
            obj = g.objects[lib]
            if obj.info.get("runpath"):
                continue
            edges = g.edges.get(lib, [])
            for i, e in enumerate(edges):
                if e.dst is None and e.kind == NEEDED:
                    real, how, opened, searched = loader.resolve(obj, e.name, lib, dirs)
                    if real is not None:
                        edges[i] = Edge(lib, e.name, e.kind, real, how, opened, searched)
                        g.rdeps.setdefault(real, set()).add(lib)
