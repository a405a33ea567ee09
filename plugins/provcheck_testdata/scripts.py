"""Who reads a file: test scripts and manifests, build scripts, and what build scripts do.

* ``References`` finds every text file that names a binary file (by name, by stem, or by a
  shell/make/CMake glob that matches it).
* ``analyze_script`` finds, in a build script, recursive content greps over the tree,
  ``tr`` substitution tables, decoders (``xz -d``, ``head -c`` ...) and shell sinks
  (``| sh``, ``eval``), with line numbers.
* ``run_grep`` runs the real ``grep`` with a pattern a script uses over the tree's blobs
  (never over the host), to say which files the script would select.
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Iterable

TEST_DIRS = frozenset({"test", "tests", "testing", "testdata", "test-data", "test_data", "testsuite", "t",
                       "fixtures", "testfiles", "test-files", "test_files", "unittests", "unittest",
                       "regress", "regression", "corpus", "golden"})
DOC_NAMES = re.compile(r"(?i)^(?:readme|news|changelog|changes|history|authors|thanks|todo|copying|license|"
                       r"install|notice)(?:\.[a-z0-9]+)?$|\.(?:md|rst|txt|html?|texi|[1-9])$")
BUILD_NAMES = frozenset({"configure", "configure.ac", "configure.in", "aclocal.m4", "acinclude.m4",
                         "CMakeLists.txt", "meson.build", "meson_options.txt", "meson.options", "Makefile.am",
                         "Makefile.in", "Makefile", "GNUmakefile", "makefile", "autogen.sh", "bootstrap",
                         "bootstrap.sh", "build.sh", "setup.py", "SConstruct", "build.rs", "buildconf"})
BUILD_EXTS = (".m4", ".cmake", ".mk", ".am", ".ac")

TOKEN = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9_.+@~-]*")
# "$TESTDIR/golden-compression", "tests/golden-compression/": a directory a test walks
DIRREF = re.compile(rb"/([A-Za-z0-9_][A-Za-z0-9_.+@~-]*)/?(?=[\s\"'`;),|]|$)", re.M)
GENERIC_DIRS = frozenset({b"files", b"data", b"test", b"tests", b"testdata", b"input", b"inputs", b"samples",
                          b"fixtures", b"src", b"bin", b"lib", b"share", b"tmp", b"out", b"output", b"build"})
CODE_EXTS = (".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".java", ".go", ".rs", ".js", ".ts", ".cs", ".m",
             ".swift", ".kt")
MAX_GLOBS = 4000
_GLOB_LEFT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.+@/$(){}-")
_GLOB_RIGHT = re.compile(rb"[A-Za-z0-9_.+@*?/\[\]-]{0,256}")
_WILD = re.compile(rb"[*?]")


def find_globs(data: bytes) -> set[bytes]:
    """Shell-glob-like words (``good-*.xz``, ``$(srcdir)/files/*.lzma``) in a text, in linear
    time: found from their wildcards outwards, each side at most 256 bytes (a regex with a
    leading unbounded run was quadratic on long runs of word characters)."""
    out: set[bytes] = set()
    covered = -1
    for m in _WILD.finditer(data):
        pos = m.start()
        if pos < covered:
            continue
        left = pos
        while left > 0 and pos - left < 256 and data[left - 1] in _GLOB_LEFT:
            left -= 1
        end = _GLOB_RIGHT.match(data, pos).end()
        covered = end
        out.add(data[left:end])
    return out


def is_test_path(path: str) -> bool:
    """Whether a directory of ``path`` is a test directory (its name, not its file's)."""
    return _test_dir(path.rpartition("/")[0])


@functools.lru_cache(maxsize=4096)  # a tree has far fewer directories than files
def _test_dir(directory: str) -> bool:
    return bool(directory) and any(p.lower() in TEST_DIRS or p.lower().startswith(("test", "fuzz"))
                                   for p in directory.split("/"))


def role(path: str) -> str:
    """"test", "build", "doc" or "other" for a text file."""
    name = posixpath.basename(path)
    if DOC_NAMES.search(name) and name != "CMakeLists.txt":
        return "doc"
    if is_test_path(path) or name.startswith("test") or "_test." in name or "-test." in name:
        return "test"
    if name in BUILD_NAMES or name.endswith(BUILD_EXTS) or "/build-aux/" in f"/{path}":
        return "build"
    return "other"


@dataclass
class Reference:
    path: str
    how: str          # "name", "stem" or "glob:<pattern>"
    role: str
    line: int | None = None

    def to_dict(self) -> dict:
        d = {"path": self.path, "how": self.how, "role": self.role}
        if self.line:
            d["line"] = self.line
        return d


class References:
    """An index from binary file names to the text files that mention them."""

    def __init__(self, binaries: Iterable[str]):
        self.by_name: dict[bytes, list[str]] = {}
        self.by_stem: dict[bytes, list[str]] = {}
        for path in binaries:
            base = posixpath.basename(path).encode("utf-8", "surrogateescape")
            self.by_name.setdefault(base, []).append(path)
            stem = base.rsplit(b".", 1)[0]
            if stem != base and len(stem) >= 6:
                self.by_stem.setdefault(stem, []).append(path)
        self.by_dir: dict[bytes, list[str]] = {}
        for path in self.by_name.values():
            for p in path:
                parent = posixpath.basename(posixpath.dirname(p)).encode("utf-8", "surrogateescape")
                if parent and parent.lower() not in GENERIC_DIRS and len(parent) >= 4:
                    self.by_dir.setdefault(parent, []).append(p)
        self.refs: dict[str, list[Reference]] = {}
        self._globs: dict[bytes, set[tuple[str, str]]] = {}

    def add_text(self, path: str, data: bytes, text_role: str) -> None:
        tokens = set(TOKEN.findall(data))
        for tok in tokens & self.by_name.keys():
            for target in self.by_name[tok]:
                if target != path:
                    self._add(target, Reference(path, "name", text_role, _line_of(data, tok)))
        for tok in tokens & self.by_stem.keys():
            for target in self.by_stem[tok]:
                self._add(target, Reference(path, "stem", text_role, _line_of(data, tok)))
        if text_role in ("test", "build", "other") and not path.endswith(CODE_EXTS):
            for g in find_globs(data):
                last = g.rstrip(b"/").rsplit(b"/", 1)[-1]
                literal = re.sub(rb"[*?\[\]]|\$\(?\{?\w*\}?\)?", b"", last)
                if len(literal) >= 2 and b"$" not in last and re.search(rb"[.\-_]", literal) \
                        and len(self._globs) < MAX_GLOBS:
                    self._globs.setdefault(last, set()).add((path, text_role))
        if text_role in ("test", "other") and self.by_dir:
            for d in set(DIRREF.findall(data)) & self.by_dir.keys():
                for target in self.by_dir[d]:
                    self._add(target, Reference(path, "dir:" + d.decode("utf-8", "replace"), text_role,
                                                _line_of(data, d)))

    def _add(self, target: str, ref: Reference) -> None:
        lst = self.refs.setdefault(target, [])
        if not any(r.path == ref.path and r.how == ref.how for r in lst):
            lst.append(ref)

    def resolve_globs(self) -> None:
        names = list(self.by_name)
        for glob, users in self._globs.items():
            literal = max(re.split(rb"[*?]|\[[^\]]*\]", glob), key=len)
            if not any(literal in name for name in names):
                continue
            try:
                rx = re.compile(fnmatch.translate(glob.decode("utf-8", "surrogateescape")).encode(
                    "utf-8", "surrogateescape"))
            except re.error:
                continue
            for name in names:
                if rx.match(name):
                    for target in self.by_name[name]:
                        for path, text_role in users:
                            if path != target:
                                self._add(target, Reference(path, "glob:" + glob.decode("utf-8", "replace"),
                                                            text_role))

    def of(self, path: str) -> list[Reference]:
        return self.refs.get(path, [])


def _line_of(data: bytes, token: bytes) -> int | None:
    i = data.find(token)
    return data.count(b"\n", 0, i) + 1 if i >= 0 else None


# -- build scripts ---------------------------------------------------------------------------

@dataclass
class Signal:
    kind: str      # content-grep, tr-map, decoder, sink
    line: int
    text: str
    pattern: str | None = None
    flags: str = ""

    def __post_init__(self) -> None:
        from .decode import printable
        self.text = printable(self.text)

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "line": self.line, "text": self.text}
        if self.pattern is not None:
            d["pattern"] = self.pattern
        return d


@dataclass
class ScriptAnalysis:
    path: str
    signals: list[Signal] = field(default_factory=list)
    tr_maps: list[tuple[int, str, str, bytes]] = field(default_factory=list)   # line, set1, set2, table
    names: dict[str, int] = field(default_factory=dict)   # binary file names it mentions -> line

    def of(self, kind: str) -> list[Signal]:
        return [s for s in self.signals if s.kind == kind]


_GREP = re.compile(r"""\b(?:grep|egrep|fgrep)\s+((?:-[A-Za-z]+\s+|--[a-z-]+(?:=\S+)?\s+)*)(?:-e\s+)?"""
                   r"""("(?:[^"\\]|\\.)*"|'[^']*'|[^\s'"|;`)]+)([^|;`)\n]*)""")
_TR = re.compile(r"""\btr\s+((?:-[A-Za-z]+\s+)*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s'"|;`)]+)\s+"""
                 r"""("(?:[^"\\]|\\.)*"|'[^']*'|[^\s'"|;`)]+)""")
_DECODER = re.compile(r"""(?x)
    \b(?:xz|lzma|lzip|gzip|bzip2|zstd|lz4|base64|uudecode|openssl)\s+(?:-\w*\s+)*(?:-d\b|-\w*d\w*\b|--decode|--decompress|enc\b)
  | \b(?:unxz|xzcat|unlzma|lzcat|gunzip|zcat|bunzip2|bzcat|unzstd|zstdcat|lz4cat)\b
  | \|\s*\$\{?\w+\}?\s+-d\b
  | \bhead\s+-c\s*\+?\$?\w+ | \btail\s+-c\s*\+?\$?\w+ | \bdd\s[^\n|;]{0,200}?\b(?:skip|count)=
""")
_SINK = re.compile(r"""\|\s*(?:/usr)?(?:/bin/)?(?:ba|da)?sh\b|\|\s*\$\{?(?:SHELL|CONFIG_SHELL)\b|\beval\b""")


def _unquote(arg: str) -> str:
    if len(arg) >= 2 and arg[0] == arg[-1] == "'":
        return arg[1:-1]
    if len(arg) >= 2 and arg[0] == arg[-1] == '"':
        return re.sub(r'\\([\\"$`])', r"\1", arg[1:-1])
    return re.sub(r"\\(.)", r"\1", arg)


def logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Lines with backslash continuations joined, numbered by their first line."""
    buf, start = "", 0
    for n, line in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        yield start, (buf + line)[:8000]
        buf = ""
    if buf:
        yield start, buf[:8000]


def analyze_script(path: str, data: bytes, binary_names: Iterable[bytes] = ()) -> ScriptAnalysis:
    text = data[:4 << 20].decode("utf-8", "surrogateescape")
    result = ScriptAnalysis(path)
    names = set(binary_names)
    for n, line in logical_lines(text):
        if "grep" in line:
            for m in _GREP.finditer(line):
                flags = "".join(f.lstrip("-") for f in m.group(1).split() if not f.startswith("--"))
                longs = m.group(1)
                if "r" in flags or "R" in flags or "--recursive" in longs or "--dereference-recursive" in longs:
                    result.signals.append(Signal("content-grep", n, line.strip()[:300], _unquote(m.group(2)),
                                                 flags + (" " + longs.strip() if "--" in longs else "")))
        if "tr" in line:
            for m in _TR.finditer(line):
                if re.search(r"[dcs]", m.group(1) or ""):
                    continue
                s1, s2 = _unquote(m.group(2)), _unquote(m.group(3))
                table = tr_table(s1, s2)
                if table is not None:
                    result.tr_maps.append((n, s1, s2, table))
                    from .decode import printable
                    result.signals.append(Signal("tr-map", n, line.strip()[:300], printable(f"{s1} -> {s2}")))
        if _DECODER.search(line):
            result.signals.append(Signal("decoder", n, line.strip()[:300]))
        if _SINK.search(line):
            result.signals.append(Signal("sink", n, line.strip()[:300]))
        if names:
            for tok in set(TOKEN.findall(line.encode("utf-8", "surrogateescape"))) & names:
                result.names.setdefault(tok.decode("utf-8", "replace"), n)
    return result


# -- tr ----------------------------------------------------------------------------------------

_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def tr_set(spec: str) -> list[int] | None:
    """Expand a POSIX ``tr`` set (escapes, octal, ranges); None for classes and repeats."""
    if "[:" in spec or "[=" in spec or re.search(r"\[.\*", spec):
        return None
    items: list[int] = []
    i = 0
    raw = spec.encode("latin-1", "replace") if all(ord(c) < 256 for c in spec) else None
    if raw is None:
        return None
    while i < len(raw):
        c = raw[i]
        if c == 0x5C and i + 1 < len(raw):   # backslash
            nxt = chr(raw[i + 1])
            m = re.match(rb"[0-7]{1,3}", raw[i + 1:i + 4])
            if m:
                items.append(int(m.group(0), 8) & 0xFF)
                i += 1 + len(m.group(0))
            else:
                items.append(_ESC.get(nxt, raw[i + 1]))
                i += 2
            continue
        if c == 0x2D and items and i + 1 < len(raw) and i > 0 and raw[i - 1] != 0x5C:   # range a-z
            end = raw[i + 1]
            if raw[i + 1] == 0x5C:
                break
            start = items[-1]
            if end < start:
                return None
            items.extend(range(start + 1, end + 1))
            i += 2
            continue
        items.append(c)
        i += 1
    return items


def tr_table(set1: str, set2: str) -> bytes | None:
    a, b = tr_set(set1), tr_set(set2)
    if not a or not b:
        return None
    if len(b) < len(a):
        b = b + [b[-1]] * (len(a) - len(b))
    table = bytearray(range(256))
    for x, y in zip(a, b):
        table[x] = y
    if bytes(table) == bytes(range(256)):
        return None
    return bytes(table)


# -- running grep over the tree's blobs ---------------------------------------------------------

GREP = shutil.which("grep")


def run_grep(pattern: str, flags: str, files: dict[str, list[str]], timeout: float = 20.0) -> tuple[list[str], str | None]:
    """Paths of tree files whose content the pattern matches, as the script's grep would.

    ``files`` maps host blob paths to the tree paths holding that blob. Returns
    (matched tree paths, error or None)."""
    if GREP is None:
        return [], "grep is not installed"
    mode = "-F" if "F" in flags else "-P" if "P" in flags else "-E" if "E" in flags else "-G"
    args = [GREP, "-l", "-s", "-a", mode]
    if "i" in flags:
        args.append("-i")
    if "z" in flags:
        args.append("-z")
    matched: list[str] = []
    blobs = sorted(files)
    error = None
    for i in range(0, len(blobs), 2000):
        batch = blobs[i:i + 2000]
        try:
            proc = subprocess.run(args + ["-e", pattern, "--"] + batch, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            error = f"grep timed out after {timeout:g}s"
            break
        if proc.returncode > 1:
            error = proc.stderr.decode("utf-8", "replace").strip()[:200] or f"grep exited {proc.returncode}"
            break
        for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
            matched.extend(files.get(line, []))
    return sorted(set(matched)), error
