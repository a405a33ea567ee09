"""Every reader of a test file, the pipeline it applies, and where the result goes.

``trace_reader(path, data, language, files, budget, names=...)`` turns one reader (a Makefile or
``Makefile.am``, a shell script, a ``meson.build``, a ``CMakeLists.txt``, a Python, Perl or Node
script; :func:`language` says which) into shell text the :mod:`.emulate` machine runs over the
tree's bytes (:class:`TreeFiles`), and returns its :class:`Trace`: the sinks test data reached,
where emulation stopped, and why it ended early. Nothing is executed.

Paths are resolved as the build would see them from the reader's directory: ``$(srcdir)``,
``$(top_srcdir)``, ``${CMAKE_CURRENT_SOURCE_DIR}``, ``meson.current_source_dir()`` and friends;
a path that does not resolve from there is matched by its tail (``fixtures/sample.txt``).
"""

from __future__ import annotations

import ast
import fnmatch
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import emulate, shell
from .emulate import Budget, BudgetExceeded, Machine, Sink, Stop

TOP = "@TOP@"
OBJECT_EXTS = (".o", ".lo", ".obj", ".a", ".la", ".so", ".dylib", ".dll")
SOURCE_EXTS = (".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".S", ".s", ".asm", ".inc")
BUILD_INPUT = re.compile(r"(?:_LDADD|_LIBADD|_SOURCES|_DEPENDENCIES|\bLIBS|\bobjects|\bsources|\blink_with|"
                         r"\bextra_files|add_library|add_executable|target_sources|target_link_libraries|"
                         r"\blink_whole)\b")
MAKE_DEFAULTS = {
    "srcdir": ".", "top_srcdir": TOP, "abs_srcdir": ".", "abs_top_srcdir": TOP, "builddir": ".",
    "top_builddir": TOP, "abs_builddir": ".", "abs_top_builddir": TOP, "CURDIR": ".", "VPATH": ".",
    "CC": "cc", "CXX": "c++", "CCLD": "cc", "CXXLD": "c++", "LD": "ld", "AR": "ar", "AS": "as", "CPP": "cpp",
    "LIBTOOL": "libtool", "SHELL": "/bin/sh", "CONFIG_SHELL": "/bin/sh", "XZ": "xz", "PYTHON": "python3",
    "PERL": "perl", "AWK": "awk", "SED": "sed", "GREP": "grep", "EGREP": "grep -E", "MKDIR_P": "mkdir -p",
    "LN_S": "ln -s", "INSTALL": "install", "EXEEXT": "", "OBJEXT": "o", "RM": "rm -f", "CP": "cp",
    "ECHO": "echo", "BASE64": "base64", "NODE": "node",
}
SHELL_DEFAULTS = {"srcdir": ".", "top_srcdir": TOP, "abs_srcdir": ".", "abs_top_srcdir": TOP, "builddir": ".",
                  "top_builddir": TOP, "SHELL": "/bin/sh", "CONFIG_SHELL": "/bin/sh", "CC": "cc", "XZ": "xz",
                  "PYTHON": "python3", "PERL": "perl", "AWK": "awk", "SED": "sed", "TESTDIR": ".",
                  "TEST_DIR": ".", "DATADIR": ".", "PWD": "."}
CMAKE_DIRS = {"CMAKE_CURRENT_SOURCE_DIR": ".", "CMAKE_CURRENT_LIST_DIR": ".", "CMAKE_SOURCE_DIR": TOP,
              "PROJECT_SOURCE_DIR": TOP, "CMAKE_CURRENT_BINARY_DIR": ".", "CMAKE_BINARY_DIR": TOP,
              "PROJECT_BINARY_DIR": TOP, "CMAKE_C_COMPILER": "cc", "CMAKE_CXX_COMPILER": "c++",
              "CMAKE_LINKER": "ld", "CMAKE_AR": "ar", "CMAKE_COMMAND": "cmake"}


IDENTITY = ("read ", "cat", "cp ", "mv ", "ln ", "tee", "install ")
_CODE_EXTS = frozenset({"c", "h", "cc", "cpp", "cxx", "hpp", "hh", "java", "go", "rs", "js", "ts", "cs", "m", "swift",
                        "kt", "py", "pl", "pm", "sh", "bash", "rb", "php", "lua", "in", "am", "ac", "m4", "mk",
                        "cmake", "build", "s", "asm", "tcl", "awk", "sed", "html", "htm", "css", "xml", "json",
                        "yml", "yaml", "toml", "md", "rst"})
_DATA_EXTS = frozenset({"txt", "dat", "data", "b64", "base64", "hex", "uu", "uue", "bin", "enc", "raw", "out"})


def is_text_fixture(path: str, data: bytes) -> bool:
    """A text file that is test data (not a program, a source or a document a build reads)."""
    from . import magic, scripts
    name = posixpath.basename(path)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name.lstrip(".") else ""
    if ext in _CODE_EXTS or name in ("Makefile", "CMakeLists.txt", "meson.build", "configure"):
        return False
    if not (scripts.is_test_path(path) or ext in _DATA_EXTS):
        return False
    return magic.script_kind(data) is None


def language(path: str, head: bytes) -> str | None:
    """make, shell, meson, cmake, python, perl or node: how to read this file as a reader."""
    name = posixpath.basename(path)
    first = head.split(b"\n", 1)[0]
    if name in ("Makefile", "Makefile.am", "Makefile.in", "GNUmakefile", "makefile") or name.endswith((".mk", ".am")):
        return "make"
    if name == "meson.build":
        return "meson"
    if name == "CMakeLists.txt" or name.endswith(".cmake"):
        return "cmake"
    if first.startswith(b"#!"):
        if re.search(rb"\b(?:ba|da|k|z|a)?sh\b", first):
            return "shell"
        if b"python" in first:
            return "python"
        if b"perl" in first:
            return "perl"
        if b"node" in first:
            return "node"
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    return {"sh": "shell", "bash": "shell", "py": "python", "pl": "perl", "pm": "perl", "js": "node",
            "mjs": "node", "cjs": "node"}.get(ext)


# -- the tree as the emulated script sees it -------------------------------------------------------

class TreeFiles:
    def __init__(self, paths: Iterable[str], read: Callable[[str], bytes | None], is_data: Callable[[str], bool],
                 here: str):
        self.paths = paths if isinstance(paths, (set, frozenset)) else set(paths)
        self._read = read
        self.is_data = is_data
        self.here = here
        self._by_tail: dict[str, list[str]] | None = None
        self._globs: dict[str, list[str]] = {}
        self._resolved: dict[str, str | None] = {}

    def resolve(self, word: str) -> str | None:
        if word in self._resolved:
            return self._resolved[word]
        if len(self._resolved) > 65536:
            self._resolved.clear()
        self._resolved[word] = found = self._resolve(word)
        return found

    def _resolve(self, word: str) -> str | None:
        if not word or word.startswith(("/dev/", "/proc/")) or "\0" in word:
            return None
        word = word.replace("@TOP@/", "/@TOP@/") if not word.startswith(TOP) else word
        if word.startswith(TOP) or "/@TOP@/" in word:
            rel = posixpath.normpath(word.split(TOP, 1)[1].lstrip("/") or ".")
            if rel in self.paths:
                return rel
            word = rel
        cand = posixpath.normpath(posixpath.join(self.here, word.lstrip("/"))) if not word.startswith("/") else None
        if cand and cand in self.paths:
            return cand
        plain = posixpath.normpath(word.lstrip("/"))
        if plain in self.paths:
            return plain
        tail = plain.lstrip("./")
        while tail.startswith("../"):
            tail = tail[3:]
        if not tail or tail == ".":
            return None
        if self._by_tail is None:
            self._by_tail = {}
            for p in self.paths:
                self._by_tail.setdefault(posixpath.basename(p), []).append(p)
        hits = [p for p in self._by_tail.get(posixpath.basename(tail), []) if p == tail or p.endswith("/" + tail)]
        if not hits:
            return None
        return max(hits, key=lambda p: len(posixpath.commonprefix([p, self.here + "/"])))

    def read(self, word: str):
        path = self.resolve(word)
        if path is None:
            return None
        data = self._read(path)
        if data is None:
            return None
        return path, data, self.is_data(path)

    def glob(self, pattern: str) -> list[str]:
        if pattern in self._globs:
            return self._globs[pattern]
        if TOP in pattern:
            pat = posixpath.normpath(pattern.split(TOP, 1)[1].lstrip("/"))
        else:
            pat = posixpath.normpath(posixpath.join(self.here, pattern))
        rx = re.compile(fnmatch.translate(pat))
        hits = sorted(p for p in self.paths if rx.match(p))
        if not hits:
            tail = posixpath.normpath(pattern).lstrip("./")
            rx = re.compile(r"(?:.*/)?" + fnmatch.translate(tail))
            hits = sorted(p for p in self.paths if rx.match(p))
        self._globs[pattern] = result = [TOP + "/" + p for p in hits[:200]]
        return result


# -- front-ends: each reader as shell text ------------------------------------------------------

_MAKE_VAR = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)\s*(\+=|:=|::=|\?=|=)\s*(.*)$")
_MAKE_RULE = re.compile(r"^([^:=\t#][^:=]*?):(?!=)(.*)$")


def _make_lines(text: str) -> list[tuple[int, str]]:
    out, buf, start = [], "", 0
    for n, line in enumerate(text.split("\n"), 1):
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        out.append((start, buf + line))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


def placeholder(name: str) -> str:
    """A variable the emulator expands in any quoting context (see ``emulate.Machine``)."""
    return f"\0{name}\0"


def expand_make(s: str, variables: dict[str, str], auto: dict[str, str], depth: int = 0,
                shells: list[str] | None = None) -> str:
    """Make's expansion of ``s``; with ``shells``, each ``$(shell CMD)`` becomes a placeholder for the
    output of CMD, appended there (the caller runs them first)."""
    if depth > 12 or "$" not in s:
        return s
    out, i, n = [], 0, len(s)
    while i < n:
        c = s[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "$":
            out.append("$$")      # stays a shell dollar; undone below
            i += 2
            continue
        if nxt in "({":
            close = ")" if nxt == "(" else "}"
            depth_p, j = 1, i + 2
            while j < n and depth_p:
                if s[j] == nxt:
                    depth_p += 1
                elif s[j] == close:
                    depth_p -= 1
                j += 1
            body = s[i + 2:j - 1]
            name = expand_make(body, variables, auto, depth + 1, shells)
            m = re.match(r"(\w[\w.-]*):([^=]*)=(.*)$", name)   # $(VAR:.c=.o)
            if m:
                val = expand_make(variables.get(m.group(1), ""), variables, auto, depth + 1, shells)
                out.append(" ".join(w[:-len(m.group(2))] + m.group(3) if m.group(2) and w.endswith(m.group(2))
                                    else w for w in val.split()))
            elif name.startswith("shell ") and shells is not None:
                shells.append(name[6:].replace("$$", "$"))
                out.append(placeholder(f"__make_shell_{len(shells)}"))
            elif name.startswith(("wildcard ", "strip ")):
                out.append(name.split(" ", 1)[1].strip())
            elif (fn := name.split(" ", 1)[0]) in _MAKE_FUNCTIONS and " " in name:
                out.append(_MAKE_FUNCTIONS[fn](name.split(" ", 1)[1]))
            elif name.startswith(("shell ", "foreach ", "if ", "call ", "word ")):
                out.append("$(" + name + ")")
            elif name in auto:
                out.append(auto[name])
            elif name in variables:
                out.append(expand_make(variables[name], variables, auto, depth + 1, shells))
            else:
                out.append("")
            i = j
            continue
        if nxt in "@<^*?+|" and nxt in auto:
            out.append(auto[nxt])
            i += 2
            continue
        if nxt in "@<^*?+|":
            out.append("")
            i += 2
            continue
        out.append(variables.get(nxt, ""))
        i += 2
    return "".join(out)


def _make_pattern(pattern: str, word: str) -> str | None:
    """The stem of ``word`` under a make ``%`` pattern (None when it does not match)."""
    if "%" not in pattern:
        return "" if word == pattern else None
    pre, post = pattern.split("%", 1)
    ok = word.startswith(pre) and word.endswith(post) and len(word) >= len(pre) + len(post)
    return word[len(pre):len(word) - len(post)] if ok else None


def _patsubst(args: str) -> str:
    pat, rep, text = (a.strip() for a in (args.split(",", 2) + ["", ""])[:3])
    return " ".join(rep.replace("%", stem, 1) if (stem := _make_pattern(pat, w)) is not None else w
                    for w in text.split())


def _two(args: str) -> tuple[str, list[str]]:
    first, _, rest = args.partition(",")
    return first.strip(), rest.split()


_MAKE_FUNCTIONS: dict[str, Callable[[str], str]] = {   # the text functions, on already expanded arguments
    "patsubst": _patsubst,
    "subst": lambda a: (lambda f, t, x: x.replace(f, t) if f else x)(*(a.split(",", 2) + ["", ""])[:3]),
    "addprefix": lambda a: " ".join(_two(a)[0] + w for w in _two(a)[1]),
    "addsuffix": lambda a: " ".join(w + _two(a)[0] for w in _two(a)[1]),
    "notdir": lambda a: " ".join(posixpath.basename(w) for w in a.split()),
    "dir": lambda a: " ".join(posixpath.dirname(w) + "/" if "/" in w else "./" for w in a.split()),
    "basename": lambda a: " ".join(posixpath.splitext(w)[0] for w in a.split()),
    "suffix": lambda a: " ".join(posixpath.splitext(w)[1] for w in a.split() if posixpath.splitext(w)[1]),
    "sort": lambda a: " ".join(sorted(set(a.split()))),
    "firstword": lambda a: (a.split() or [""])[0],
    "lastword": lambda a: (a.split() or [""])[-1],
    "filter": lambda a: " ".join(w for w in _two(a)[1] if any(_make_pattern(p, w) is not None
                                                             for p in _two(a)[0].split())),
    "filter-out": lambda a: " ".join(w for w in _two(a)[1] if all(_make_pattern(p, w) is None
                                                                 for p in _two(a)[0].split())),
}


def make_recipes(text: str) -> list[tuple[int, str]]:
    """Recipe lines of a Makefile/Makefile.am as shell text, variables and ``$@``/``$<`` expanded."""
    lines = _make_lines(text)
    variables = dict(MAKE_DEFAULTS)
    for _, line in lines:
        if line.startswith("\t"):
            continue
        m = _MAKE_VAR.match(re.sub(r"^(?:export|override)\s+", "", line.strip()))
        if m:
            k, op, v = m.group(1), m.group(2), m.group(3)
            v = v.split(" #", 1)[0].strip()
            if op == "+=":
                variables[k] = (variables.get(k, "") + " " + v).strip()
            elif op == "?=":
                variables.setdefault(k, v)
            else:
                variables[k] = v
    out: list[tuple[int, str]] = []
    shells: list[str] = []
    rules: list[tuple[int, list[str], list[str], list[tuple[int, str]]]] = []   # line, targets, prereqs, recipe
    for n, line in lines:
        if line.startswith("\t"):
            cmd = line[1:].lstrip("@-+ \t")
            if cmd and rules:
                rules[-1][3].append((n, cmd))
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or _MAKE_VAR.match(stripped):
            continue
        m = _MAKE_RULE.match(stripped)
        if m:
            rest = m.group(2)
            recipe = None
            if ";" in rest:
                rest, recipe = rest.split(";", 1)
            rules.append((n, expand_make(m.group(1), variables, {}).split(), expand_make(rest, variables, {}).split(),
                          [(n, recipe.strip())] if recipe and recipe.strip() else []))
    mentioned = {w for v in variables.values() for w in expand_make(v, variables, {}).split()} | {
        w for _, t, p, _ in rules for w in t + p}
    for _, targets, prereqs, recipe in rules:
        instances = [(targets[0] if targets else "", prereqs, None)]
        pattern = _pattern_rule(targets, prereqs)
        if pattern is not None:     # %.o: %.xz (or .xz.o:) made for every file of the Makefile it can make
            target, source = pattern
            stems = sorted({stem for w in mentioned if (stem := _make_pattern(target, w))})[:_MAX_PATTERN]
            instances = [(target.replace("%", stem), [source.replace("%", stem)] + [p for p in prereqs[1:]
                                                                                  if "%" not in p], stem)
                         for stem in stems]
        for target, pre, stem in instances:
            auto = {"@": target, "<": pre[0] if pre else "", "^": " ".join(pre),
                    "*": stem if stem is not None else posixpath.splitext(target)[0]}
            for n, cmd in recipe:
                out.append((n, expand_make(cmd, variables, auto, shells=shells).replace("$$", "$")))
    return [(0, f"__make_shell_{k}=$({cmd})") for k, cmd in enumerate(shells, 1)] + out


_MAX_PATTERN = 20
_SUFFIX_RULE = re.compile(r"^(\.[\w-]+)(\.[\w-]+)$")


def _pattern_rule(targets: list[str], prereqs: list[str]) -> tuple[str, str] | None:
    """(target pattern, source pattern) of ``%.o: %.xz`` or the suffix rule ``.xz.o:``."""
    if len(targets) == 1 and "%" in targets[0]:
        return targets[0], prereqs[0] if prereqs and "%" in prereqs[0] else ""
    if len(targets) == 1 and not prereqs and (m := _SUFFIX_RULE.match(targets[0])):
        return "%" + m.group(2), "%" + m.group(1)
    return None


def _meson_to_python(stmt: str) -> str:
    s = re.sub(r"\btrue\b", "True", stmt)
    s = re.sub(r"\bfalse\b", "False", s)
    return re.sub(r"(?<![=!<>:])\b([A-Za-z_]\w*)\s*:(?!:)", r"\1=", s)


class _MesonEval:
    def __init__(self):
        self.vars: dict[str, object] = {}
        self.commands: list[tuple[int, str]] = []

    def ev(self, n):
        if isinstance(n, ast.Constant):
            return n.value
        if isinstance(n, ast.Name):
            return self.vars.get(n.id)
        if isinstance(n, ast.List):
            return [self.ev(e) for e in n.elts]
        if isinstance(n, ast.BinOp):
            a, b = self.ev(n.left), self.ev(n.right)
            if isinstance(n.op, ast.Div) and isinstance(a, str) and isinstance(b, str):
                return posixpath.join(a, b)
            if isinstance(n.op, ast.Add):
                if isinstance(a, list):
                    return a + (b if isinstance(b, list) else [b])
                if isinstance(a, str) and isinstance(b, str):
                    return a + b
            return None
        if isinstance(n, ast.Call):
            args = [self.ev(a) for a in n.args]
            kw = {k.arg: self.ev(k.value) for k in n.keywords if k.arg}
            if isinstance(n.func, ast.Attribute):
                obj = n.func.value
                if isinstance(obj, ast.Name) and obj.id == "meson":
                    return {"current_source_dir": ".", "source_root": TOP, "project_source_root": TOP,
                            "global_source_root": TOP, "current_build_dir": ".", "build_root": TOP,
                            "project_build_root": TOP}.get(n.func.attr)
                target = self.ev(obj)
                if n.func.attr == "full_path" and isinstance(target, (str, list)):
                    return target[0] if isinstance(target, list) and target else target
                if n.func.attr == "format" and isinstance(target, str):
                    return re.sub(r"@(\d+)@", lambda m: str(args[int(m.group(1))]) if int(m.group(1)) < len(args)
                                  else m.group(0), target)
                return None
            name = n.func.id if isinstance(n.func, ast.Name) else None
            if name == "files":
                return [a for a in _flat(args) if isinstance(a, str)]
            if name == "find_program":
                return _flat(args)[0] if args else None
            if name == "join_paths":
                return posixpath.join(*[a for a in _flat(args) if isinstance(a, str)]) if args else None
            if name in ("custom_target", "run_command", "configure_file", "run_target", "test", "benchmark"):
                self.record(name, args, kw, n.lineno)
                out = kw.get("output")
                return _flat([out])[0] if out else None
            return None
        return None

    def record(self, name, args, kw, line):
        if name in ("run_command",):
            cmd = args
        elif name in ("test", "benchmark"):
            cmd = args[1:2] + _flat([kw.get("args") or []])
        else:
            cmd = kw.get("command")
        cmd = [c for c in _flat([cmd]) if c is not None]
        if not cmd:
            return
        inputs = [i for i in _flat([kw.get("input")]) if isinstance(i, str)]
        outputs = [o for o in _flat([kw.get("output")]) if isinstance(o, str)]
        words = []
        for c in cmd:
            c = str(c)
            if inputs:
                c = c.replace("@INPUT@", inputs[0]).replace("@INPUT0@", inputs[0])
            if outputs:
                c = c.replace("@OUTPUT@", outputs[0]).replace("@OUTPUT0@", outputs[0])
            c = c.replace("@CURRENT_SOURCE_DIR@", ".").replace("@SOURCE_ROOT@", TOP).replace("@OUTDIR@", ".")
            words.append(c)
        text = " ".join(shlex.quote(w) for w in words)
        if kw.get("capture") and outputs:
            text += " > " + shlex.quote(outputs[0])
        if kw.get("feed") and inputs:
            text += " < " + shlex.quote(inputs[0])
        self.commands.append((line, text))


def _flat(xs) -> list:
    out = []
    for x in xs:
        if isinstance(x, list):
            out.extend(_flat(x))
        else:
            out.append(x)
    return out


def meson_commands(text: str) -> list[tuple[int, str]]:
    ev = _MesonEval()
    stmt, start, depth = "", 0, 0
    for n, line in enumerate(text.split("\n"), 1):
        code = re.sub(r"(?<!['\w])#.*$", "", line) if "'" not in line else line
        if not stmt:
            start = n
        stmt += code + "\n"
        depth += code.count("(") + code.count("[") - code.count(")") - code.count("]")
        if depth > 0:
            continue
        depth = 0
        s = stmt.strip()
        stmt = ""
        if not s or re.match(r"^(?:if|elif|else|endif|foreach|endforeach|subdir|project)\b", s):
            continue
        try:
            tree = ast.parse("\n" * (start - 1) + _meson_to_python(s))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                ev.vars[node.targets[0].id] = ev.ev(node.value)
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                cur = ev.vars.get(node.target.id)
                add = ev.ev(node.value)
                if isinstance(cur, list):
                    ev.vars[node.target.id] = cur + (add if isinstance(add, list) else [add])
            elif isinstance(node, ast.Expr):
                ev.ev(node.value)
    return ev.commands


_CMAKE_CMD = re.compile(r"(?m)^[ \t]*([A-Za-z_]\w*)[ \t]*\(")


def _cmake_args(body: str) -> list[str]:
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|\[(=*)\[(.*?)\]\2\]|([^\s()"#]+)', body, re.S):
        if m.group(1) is not None:
            out.append(("q", m.group(1).replace('\\"', '"')))
        elif m.group(3) is not None:
            out.append(("q", m.group(3)))
        else:
            out.append(("u", m.group(4)))
    return out


def cmake_commands(text: str) -> list[tuple[int, str]]:
    variables = dict(CMAKE_DIRS)
    out: list[tuple[int, str]] = []

    def exp(s: str) -> str:
        for _ in range(8):
            new = re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), ""), s)
            if new == s:
                break
            s = new
        return s

    for m in _CMAKE_CMD.finditer(text):
        name = m.group(1).lower()
        if name not in ("set", "execute_process", "add_custom_command", "add_custom_target"):
            continue
        try:
            end = _balanced_paren(text, m.end())
        except ValueError:
            continue
        line = text.count("\n", 0, m.start()) + 1
        args = [(k, exp(v)) for k, v in _cmake_args(text[m.end():end - 1])]
        if name == "set":
            if args:
                variables[args[0][1]] = " ".join(v for _, v in args[1:] if v not in ("CACHE", "PARENT_SCOPE"))
            continue
        cmds: list[list[tuple[str, str]]] = []
        opts: dict[str, str] = {}
        key = None
        for kind, v in args:
            if kind == "u" and v in ("COMMAND", "INPUT_FILE", "OUTPUT_FILE", "OUTPUT", "DEPENDS",
                                      "WORKING_DIRECTORY", "RESULT_VARIABLE", "OUTPUT_VARIABLE", "ERROR_FILE",
                                      "COMMENT", "VERBATIM", "ALL", "BYPRODUCTS", "MAIN_DEPENDENCY",
                                      "ERROR_VARIABLE", "TIMEOUT", "USES_TERMINAL", "COMMAND_ECHO"):
                key = v
                if v == "COMMAND":
                    cmds.append([])
                continue
            if key == "COMMAND":
                cmds[-1].append((kind, v))
            elif key:
                opts.setdefault(key, v)
        if not cmds:
            continue
        def words(c):
            return " ".join(v if k == "u" and v in ("|", ">", "<", ">>", "&&", "||", ";") else shlex.quote(v)
                            for k, v in c)
        if name == "execute_process":   # its COMMANDs form one pipeline
            text_ = " | ".join(words(c) for c in cmds if c)
            if "INPUT_FILE" in opts:
                text_ = text_ + " < " + shlex.quote(opts["INPUT_FILE"]) if len(cmds) == 1 else \
                    text_.replace(" | ", " < " + shlex.quote(opts["INPUT_FILE"]) + " | ", 1)
            if "OUTPUT_FILE" in opts:
                text_ += " > " + shlex.quote(opts["OUTPUT_FILE"])
            if "OUTPUT_VARIABLE" in opts:    # ${VAR} later is this output, expanded before any shell quoting
                var = re.sub(r"\W", "_", opts["OUTPUT_VARIABLE"])
                text_ = f"{var}=$({text_})"
                variables[opts["OUTPUT_VARIABLE"]] = placeholder(var)
            out.append((line, text_))
        else:
            for c in cmds:
                if c:
                    out.append((line, words(c)))
    return out


def _balanced_paren(text: str, i: int) -> int:
    depth = 1
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "#":
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced")


def _perl_reads(text: str) -> list[str]:
    return [m.group(2) for m in re.finditer(
        r"open\s*\(?\s*(?:my\s+)?[\$\w]+\s*,\s*(?:['\"]<:?\w*['\"]\s*,\s*)?(['\"])<?\s*([^'\"|>]+)\1", text)]


# -- tracing ------------------------------------------------------------------------------------

@dataclass
class Trace:
    reader: str
    language: str
    sinks: list[Sink] = field(default_factory=list)
    stops: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OUTPUT_CMDS = frozenset({"cp", "mv", "ln", "install", "tee", "uudecode", "dd"})


POSITIONAL = "__positional_parameters__"      # what ``set -- ...`` defines and ``for f;`` or ``$1`` uses
RUNS_SCRIPT = "__runs_a_script__"             # uses whatever the units before it define
_POSITIONAL = re.compile(r"\$\{?[@*1-9]")


def _unit_words(node, out: dict) -> None:
    """Raw words of a parsed unit: all of them, and those it defines (variables, functions,
    loop variables, files it writes)."""
    if isinstance(node, shell.Simple):
        out["all"].extend(node.words)
        if any(_POSITIONAL.search(w) for w in node.words):
            out["all"].append(POSITIONAL)
        for k, v in node.assigns:
            out["defs"].add(k.rstrip("+"))
            out["all"].append(v)
        for op, fd, target in node.redirs:
            out["all"].append(target)
            if op.startswith(">") or op == "&>":
                out["defs"].update(_IDENT.findall(target))
            if op == "<" and fd > 2 and node.words == ["exec"]:
                out["defs"].add(f"__fd{fd}__")            # exec 3< file ... cat <&3
            if op == "<&" and target.isdigit():
                out["all"].append(f"__fd{target}__")
        if node.words:
            cmd = posixpath.basename(node.words[0])
            if (cmd in emulate.SHELLS or cmd in ("source", ".")) and any(not w.startswith("-")
                                                                        for w in node.words[1:]):
                out["all"].append(RUNS_SCRIPT)            # a script it runs sees every variable
            if cmd == "set" and len(node.words) > 1:
                out["defs"].add(POSITIONAL)
            if cmd in ("mapfile", "readarray"):
                out["defs"].update(w for w in node.words[1:] if _IDENT.fullmatch(w))
            if cmd in ("export", "local", "readonly", "declare", "typeset", "read"):
                out["defs"].update(w.split("=", 1)[0] for w in node.words[1:] if _IDENT.fullmatch(w.split("=", 1)[0]))
            if cmd in _OUTPUT_CMDS or cmd.startswith("python") or cmd in ("perl", "node"):
                for w in node.words[1:]:
                    out["defs"].update(_IDENT.findall(w.split("=", 1)[-1]))
        return
    if isinstance(node, shell.Func):
        out["defs"].add(node.name)
    if isinstance(node, shell.For):
        out["defs"].add(node.var)
        out["all"].extend(node.words if node.words is not None else [POSITIONAL])
    if isinstance(node, shell.Case):
        out["all"].append(node.word)
    if not isinstance(node, shell.Simple):
        for op, _, target in getattr(node, "redirs", []):
            out["all"].append(target)
            if op.startswith(">") or op == "&>":
                out["defs"].update(_IDENT.findall(target))
    for child in _children(node):
        _unit_words(child, out)


def _children(node) -> list:
    if isinstance(node, shell.Seq):
        return node.items
    if isinstance(node, shell.AndOr):
        return [n for _, n in node.items]
    if isinstance(node, shell.Pipeline):
        return node.cmds
    if isinstance(node, (shell.Group, shell.For)):
        return [node.body]
    if isinstance(node, shell.Case):
        return [body for _, body in node.arms]
    if isinstance(node, shell.If):
        return [x for c, b in node.branches for x in (c, b)] + ([node.orelse] if node.orelse else [])
    if isinstance(node, shell.Loop):
        return [node.cond, node.body]
    if isinstance(node, shell.Func):
        return [node.body]
    return []


def relevant_units(units: list, names: frozenset[bytes]) -> list:
    """The top-level units that can carry a test file's bytes, and those defining what they use.

    Seeds name a test file (or hold a glob); what a carrying unit defines (a variable, a
    function, a file it writes) makes every unit using it a carrier too; units defining a name a
    carrier uses are kept to run first (``srcdir=..``, ``export i=..``), without carrying. The
    rest of a long test script never touches test data and is not emulated."""
    from .scripts import TOKEN
    info = []
    globs: dict[str, bool] = {}
    joined = "\n".join(n.decode("latin-1") for n in names)

    def names_a_file(pattern: str) -> bool:
        last = re.sub(r"['\"]", "", re.sub(r"\$\{?\w*\}?", "*", pattern.rsplit("/", 1)[-1]))
        if last not in globs:
            literal = max(re.split(r"[*?\[\]]", last), key=len)
            globs[last] = len(last.strip("*?")) >= 2 and literal in joined and bool(
                re.search("(?m)^" + fnmatch.translate(last)[4:-3] + "$", joined))
        return globs[last]

    for u in units:
        words: dict = {"all": [], "defs": set()}
        _unit_words(u, words)
        text = " ".join(words["all"])
        seed = bool(set(TOKEN.findall(text.encode("latin-1", "replace"))) & names) or any(
            names_a_file(w) for w in words["all"] if "*" in w or "?" in w or "$" in w)
        info.append((seed, set(_IDENT.findall(text)) | words["defs"], words["defs"]))
    carry = {k for k, (seed, _, _) in enumerate(info) if seed}
    if not carry:
        return units
    changed = True
    while changed:
        changed = False
        defs = set().union(*(info[k][2] for k in carry))
        for k, (_, uses, _) in enumerate(info):
            if k not in carry and (uses & defs or RUNS_SCRIPT in uses and defs):
                carry.add(k)
                changed = True
    keep = set(carry)
    wanted = set().union(*(info[k][1] for k in carry))
    changed = True
    while changed:
        changed = False
        for k, (_, uses, defs) in enumerate(info):
            if k not in keep and defs & wanted:
                keep.add(k)
                wanted |= uses
                changed = True
    return [u for k, u in enumerate(units) if k in keep]


def trace_reader(path: str, data: bytes, lang: str, files: TreeFiles, budget: Budget,
                 is_built: Callable[[str], str | None] | None = None, names: frozenset[bytes] = frozenset(),
                 env: dict[str, str] | None = None) -> Trace:
    """Emulate one reader over the tree: the sinks test data reached, where it stopped, and in
    ``Trace.error`` why emulation ended early (budget spent, nesting too deep, an emulator failure).

    With ``names`` (test files' names and stems), a shell or build reader runs only the units
    :func:`relevant_units` keeps."""
    text = data.decode("latin-1")
    result = Trace(path, lang)
    m = Machine(files, budget, SHELL_DEFAULTS | (CMAKE_DIRS if lang == "cmake" else {}) | (env or {}))
    try:
        if lang == "shell":
            seq = shell.parse(text)
            m.run(shell.Seq(relevant_units(seq.items, names)) if names else seq, emulate.Stream(), path)
        elif lang in ("make", "meson", "cmake"):
            units = make_recipes(text) if lang == "make" else meson_commands(text) if lang == "meson" \
                else cmake_commands(text)
            parsed = [(line, shell.parse(sh, line)) for line, sh in units]
            keep = {id(u) for u in relevant_units([p for _, p in parsed], names)} if names else None
            for _, unit in parsed:
                if keep is None or id(unit) in keep:
                    m.run(unit, emulate.Stream(), path)
        elif lang == "python":
            from .oneliners import PyEmu
            emu = PyEmu(m, emulate.Ctx(path, 1), posixpath.basename(path), [path], emulate.Stream())
            emu.call_functions = True
            emu.env["__file__"] = posixpath.basename(path)   # paths resolve from the reader's directory
            out = emu.run(text)
            if out.tainted:
                m.files.setdefault(f"{path} (standard output)", (out, f"{path}:1"))
        elif lang in ("perl", "node"):
            from . import oneliners
            reads = _perl_reads(text) if lang == "perl" else []
            ctx = emulate.Ctx(path, 1)
            if lang == "perl":
                if reads:
                    out = oneliners._stated(m, "perl", text, oneliners._perl_ops(text), reads, emulate.Stream(), ctx,
                                            posixpath.basename(path),
                                            sink=re.search(r"\b(?:eval|system|exec)\s*[\(\"'$]|open\s*\([^)]*\|",
                                                           text))
                else:
                    out = emulate.EMPTY
            else:
                out = oneliners.node_program(m, text, [], emulate.Stream(), ctx, posixpath.basename(path)) \
                    if "readFileSync" in text else emulate.EMPTY
            del out
    except BudgetExceeded as exc:
        result.error = str(exc)
    except Stop as exc:
        result.stops.append((path, str(exc)))
    except RecursionError:
        result.error = "nesting too deep for the emulator"
    except (MemoryError, ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            UnicodeError, LookupError, ArithmeticError) as exc:   # a construct the emulator mishandles
        result.error = f"emulator failed on this reader ({type(exc).__name__}: {str(exc)[:160]})"
    m.finish(is_built or (lambda k: built_reason(k, text)))
    result.sinks = m.sinks
    result.stops += m.stops
    return result


def built_reason(name: str, reader_text: str) -> str | None:
    """Why an output file is one the build compiles, links or loads (its kind, or the line naming it)."""
    base = posixpath.basename(name)
    if base.endswith(OBJECT_EXTS) or re.search(r"\.so\.\d", base):
        return "an object or library the build links"
    if base.endswith(SOURCE_EXTS):
        return "a source file the build compiles"
    for line in reader_text.splitlines():
        if base in line and BUILD_INPUT.search(line):
            return f"named as a build input: {line.strip()[:120]}"
    return None
