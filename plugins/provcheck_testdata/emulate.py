"""Run a script's decoding pipeline on a file's bytes, in process: nothing from the input executes.

The emulator interprets shell commands parsed by :mod:`.shell` over :class:`Data` (bytes plus the
steps that made them and the test files they came from). Filters are reimplemented here (POSIX
``tr``, ``head``/``tail``, ``dd``, ``cut -b``, ``rev``, ``base64``/``base32``, ``xxd``, ``uudecode``,
``od``, a ``sed`` subset, every decompressor of :mod:`.decode`, and Python/Perl/awk/Node programs
through :mod:`.oneliners`). Where the data reaches a shell, the toolchain, an executed file or
``LD_PRELOAD``, a :class:`Sink` is recorded with the data as it arrives there.

``Machine(fs, budget).run_script(text, where)`` is the entry point; ``Machine.sinks`` and
``Machine.files`` hold the results.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import fnmatch
import hashlib
import lzma
import posixpath
import re
import time
import zlib
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Protocol

from . import decode as dec
from . import shell

# -- values ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    command: str
    where: str              # "tests/Makefile.am:12"
    size_in: int
    size_out: int
    note: str | None = None

    def to_dict(self) -> dict:
        d = {"command": dec.printable(self.command[:300]), "where": self.where, "in": self.size_in,
             "out": self.size_out}
        if self.note:
            d["note"] = dec.printable(self.note[:300])
        return d


@dataclass(frozen=True)
class Data:
    """Bytes flowing through a pipeline, with how they were made and which files they came from."""

    raw: bytes = b""
    steps: tuple[Step, ...] = ()
    sources: frozenset[str] = frozenset()
    stopped: str | None = None      # "step N: reason" when the pipeline could not be followed

    @property
    def tainted(self) -> bool:
        return bool(self.sources)

    def then(self, raw: bytes, step: Step) -> "Data":
        return Data(raw, self.steps + (step,), self.sources, self.stopped)


EMPTY = Data()


def join(parts: Iterable[Data]) -> Data:
    parts = list(parts)
    if not parts:
        return EMPTY
    if len(parts) == 1:
        return parts[0]
    steps: tuple[Step, ...] = parts[0].steps
    for p in parts[1:]:
        k = 0
        while k < min(len(steps), len(p.steps)) and steps[k] == p.steps[k]:
            k += 1
        steps += p.steps[k:]      # the shared history once, then what each part adds
    return Data(b"".join(p.raw for p in parts), steps, frozenset().union(*(p.sources for p in parts)),
                next((p.stopped for p in parts if p.stopped), None))


class Outs(list):
    """Outputs collected in order, with their byte total kept as they are added."""

    def __init__(self, items: Iterable[Data] = ()):
        super().__init__()
        self.total = 0
        for item in items:
            self.append(item)

    def append(self, item: Data) -> None:
        self.total += len(item.raw)
        super().append(item)


class Stream:
    """A command's standard input: commands in a group consume it in turn (``head -c`` pairs)."""

    def __init__(self, data: Data = EMPTY):
        self.data = data
        self.pos = 0

    def read(self, n: int | None = None) -> Data:
        raw = self.data.raw
        end = len(raw) if n is None else min(len(raw), self.pos + max(0, n))
        out = replace(self.data, raw=raw[self.pos:end])
        self.pos = end
        return out

    def read_lines(self, n: int) -> Data:
        raw = self.data.raw
        end = self.pos
        for _ in range(n):
            nl = raw.find(b"\n", end)
            if nl < 0:
                end = len(raw)
                break
            end = nl + 1
        return self.read(end - self.pos)


@dataclass
class Sink:
    kind: str            # shell, toolchain, exec, preload, output-file
    how: str             # the command or file name that receives the data
    where: str
    data: Data
    env: dict[str, str] = field(default_factory=dict)   # the variables a shell sink's script inherits

    def to_dict(self) -> dict:
        return {"kind": self.kind, "how": dec.printable(self.how[:300]), "where": self.where}


class BudgetExceeded(Exception):
    pass


class Stop(Exception):
    """The pipeline cannot be followed from here (unknown command, run-time value, unsupported option)."""


@dataclass
class Budget:
    seconds: float = 5.0
    max_bytes: int = 64 << 20
    max_steps: int = 2_000_000
    steps: int = 0
    deadline: float = 0.0

    def start(self) -> "Budget":
        self.deadline = time.process_time() + self.seconds   # CPU time: a busy machine does not shrink it
        self.steps = 0
        return self

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise BudgetExceeded(f"step budget of {self.max_steps} spent")
        if self.steps % 256 == 0 and time.process_time() > self.deadline:
            raise BudgetExceeded(f"time budget of {self.seconds:g}s spent")

    def check_size(self, n: int) -> None:
        if n > self.max_bytes:
            raise BudgetExceeded(f"output budget of {self.max_bytes} bytes exceeded")


class Files(Protocol):
    """The tree as the emulated script sees it (implemented by the pipeline module)."""

    def read(self, word: str) -> tuple[str, bytes, bool] | None:
        """(tree path, content, is test data) for a path word, or None."""

    def glob(self, pattern: str) -> list[str]:
        """Path words matching a shell glob."""


# -- tr ---------------------------------------------------------------------------------------------

_ESC = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
_CLASSES = {
    "alpha": [c for c in range(256) if chr(c).isascii() and chr(c).isalpha()],
    "digit": list(range(48, 58)),
    "alnum": [c for c in range(256) if chr(c).isascii() and chr(c).isalnum()],
    "upper": list(range(65, 91)), "lower": list(range(97, 123)),
    "space": [9, 10, 11, 12, 13, 32], "blank": [9, 32],
    "punct": [c for c in range(33, 127) if not chr(c).isalnum()],
    "print": list(range(32, 127)), "graph": list(range(33, 127)),
    "cntrl": list(range(32)) + [127], "xdigit": list(range(48, 58)) + list(range(65, 71)) + list(range(97, 103)),
}


def _tr_chars(spec: bytes) -> list:
    """Tokens of a tr set: ints, ("class", name), ("repeat", c, n|None)."""
    out: list = []
    i = 0
    while i < len(spec):
        c = spec[i]
        if c == 0x5C and i + 1 < len(spec):
            m = re.match(rb"[0-7]{1,3}", spec[i + 1:i + 4])
            if m:
                out.append(("esc", int(m.group(0), 8) & 0xFF))
                i += 1 + len(m.group(0))
            else:
                out.append(("esc", _ESC.get(chr(spec[i + 1]), spec[i + 1])))
                i += 2
            continue
        if c == 0x5B:   # [
            m = re.match(rb"\[:([a-z]+):\]", spec[i:])
            if m and m.group(1).decode() in _CLASSES:
                out.append(("class", m.group(1).decode()))
                i += m.end()
                continue
            m = re.match(rb"\[=(.)=\]", spec[i:], re.S)
            if m:
                out.append(m.group(1)[0])
                i += m.end()
                continue
            m = re.match(rb"\[(\\[0-7]{1,3}|\\.|.)\*([0-9]*)\]", spec[i:], re.S)
            if m:
                ch = _tr_chars(m.group(1))[0]
                ch = ch[1] if isinstance(ch, tuple) else ch
                n = m.group(2)
                count = (int(n, 8) if n.startswith(b"0") else int(n)) if n else None
                out.append(("repeat", ch, count or None))
                i += m.end()
                continue
        out.append(c)
        i += 1
    return out


def tr_set(spec: bytes, fill_to: int | None = None) -> list[int]:
    toks = _tr_chars(spec)
    items: list[int] = []
    i = 0

    def val(t):
        return t if isinstance(t, int) else t[1] if isinstance(t, tuple) and t[0] == "esc" else None
    while i < len(toks):
        t = toks[i]
        if val(t) is not None and i + 2 < len(toks) and toks[i + 1] == 0x2D and val(toks[i + 2]) is not None:
            lo, hi = val(t), val(toks[i + 2])
            if hi < lo:
                raise Stop(f"tr: range {lo:#x}-{hi:#x} is reversed")
            items.extend(range(lo, hi + 1))
            i += 3
            continue
        if isinstance(t, tuple) and t[0] == "esc":
            items.append(t[1])
            i += 1
            continue
        if isinstance(t, tuple) and t[0] == "class":
            items.extend(_CLASSES[t[1]])
        elif isinstance(t, tuple) and t[0] == "repeat":
            if t[2] is None:
                items.append(("fill", t[1]))  # type: ignore[arg-type]
            else:   # beyond the length of set 1 a repeat changes nothing: a hostile count costs no memory
                items.extend([t[1]] * min(t[2], max(fill_to or 0, 256)))
        else:
            items.append(t)
        i += 1
    fills = [k for k, x in enumerate(items) if isinstance(x, tuple)]
    if fills:
        k = fills[0]
        ch = items[k][1]   # type: ignore[index]
        rest = [x for x in items if not isinstance(x, tuple)]
        n = max(0, (fill_to or len(rest)) - len(rest))
        items = [x for x in items[:k] if not isinstance(x, tuple)] + [ch] * n + \
                [x for x in items[k + 1:] if not isinstance(x, tuple)]
    return items   # type: ignore[return-value]


def tr(data: bytes, args: list[bytes]) -> bytes:
    """POSIX/GNU tr: -c/-C, -d, -s, ranges, classes, [c*n], escapes; sets padded with the last byte."""
    opts, sets = set(), []
    for a in args:
        if a.startswith(b"-") and len(a) > 1 and not sets and a != b"--" and re.fullmatch(rb"-[cCds]+", a):
            opts.update(chr(c) for c in a[1:])
        elif a == b"--" and not sets:
            continue
        else:
            sets.append(a)
    if not sets or len(sets) > 2:
        raise Stop("tr: needs one or two sets")
    comp = "c" in opts or "C" in opts
    s1 = tr_set(sets[0])
    if comp:
        present = set(s1)
        s1 = [c for c in range(256) if c not in present]
    if "d" in opts:
        out = data.translate(None, bytes(set(s1)))
        if "s" in opts and len(sets) == 2:
            out = _squeeze(out, set(tr_set(sets[1])))
        return out
    if len(sets) == 1:
        if "s" in opts:
            return _squeeze(data, set(s1))
        raise Stop("tr: two sets needed to translate")
    s2 = tr_set(sets[1], fill_to=len(s1))
    if not s2:
        raise Stop("tr: empty second set")
    if len(s2) < len(s1):
        s2 = s2 + [s2[-1]] * (len(s1) - len(s2))
    table = bytearray(range(256))
    for a, b in zip(s1, s2):
        table[a] = b
    out = data.translate(bytes(table))
    return _squeeze(out, set(s2)) if "s" in opts else out


def _squeeze(data: bytes, chars: set[int]) -> bytes:
    if not chars:
        return data
    return re.sub(rb"([" + b"".join(re.escape(bytes([c])) for c in sorted(chars)) + rb"])\1+", rb"\1", data)


# -- numbers -------------------------------------------------------------------------------------

_SUFFIX = {"": 1, "c": 1, "w": 2, "b": 512, "kB": 1000, "K": 1024, "k": 1024, "KiB": 1024, "MB": 1000 ** 2,
           "M": 1 << 20, "MiB": 1 << 20, "GB": 1000 ** 3, "G": 1 << 30, "GiB": 1 << 30}


def number(text: str, what: str) -> int:
    total = 1
    for part in text.split("x"):
        m = re.fullmatch(r"([+-]?)(0x[0-9a-fA-F]+|\d+)([A-Za-z]*)", part)
        if not m or m.group(3) not in _SUFFIX:
            raise Stop(f"{what}: {text!r} is not a number known before run time")
        total *= int(m.group(2), 0) * _SUFFIX[m.group(3)]
    return total


# -- the machine ------------------------------------------------------------------------------------

SHELLS = frozenset({"sh", "bash", "dash", "ksh", "zsh", "ash", "mksh", "busybox"})
TOOLCHAIN = frozenset({"cc", "gcc", "clang", "c++", "g++", "clang++", "ld", "ld.bfd", "ld.gold", "ld.lld",
                       "lld", "as", "ar", "ranlib", "libtool", "cpp", "tcc", "icc", "nvcc", "objcopy",
                       "x86_64-linux-gnu-gcc"})
QUIET = frozenset({"cmp", "diff", "test", "[", "grep", "egrep", "fgrep", "wc", "md5sum", "sha1sum", "sha256sum",
                   "sha512sum", "cksum", "sum", "file", "true", "false", ":", "sleep", "mkdir", "touch", "ls", "cd",
                   "pushd", "popd", "umask", "trap", "shift", "set", "unset", "wait",
                   "exit", "return", "break", "continue", "ulimit", "hash", "type"})
DECOMPRESSORS = {"xz": "xz", "unxz": "xz", "xzcat": "xz", "lzma": "lzma", "unlzma": "lzma", "lzcat": "lzma",
                 "gzip": "gzip", "gunzip": "gzip", "zcat": "gzip", "bzip2": "bzip2", "bunzip2": "bzip2",
                 "bzcat": "bzip2", "zstd": "zstd", "unzstd": "zstd", "zstdcat": "zstd", "lz4": "lz4",
                 "unlz4": "lz4", "lz4cat": "lz4", "lzip": "lzip", "pigz": "gzip", "unpigz": "gzip",
                 "pixz": "xz", "pbzip2": "bzip2", "lbzip2": "bzip2", "pzstd": "zstd"}
MAX_LOOP = 1000
_SPECIAL = re.compile(r"[$`'\"\\\0]")
_EXPANDS = re.compile(r"[$`\\\0]")
_WILD = re.compile(r"[*?]|\[[^\]]+\]")   # a lone "[" (test's bracket) is no pattern
MAX_DEPTH = 24
ELEMENTS = "\x01"    # joins an array's elements inside one expansion, split into words at its end
STDOUT = frozenset({"/dev/stdout", "/dev/fd/1", "/proc/self/fd/1", "-"})
MAX_WORLDS = 16
LOOP_ALL = 32       # a loop over more items runs only those naming or carrying test data, and LOOP_OTHERS more
LOOP_OTHERS = 4
MAX_INLINE_SCRIPT = 256 << 10   # a script of the tree that an emulated script runs, emulated in place


@dataclass
class Ctx:
    where: str      # reader path
    line: int


class Machine:
    """Runs shell text over :class:`Data`; results in ``sinks``, ``files`` and ``stops``.

    ``\\0NAME\\0`` in a word is the value of variable NAME in every quoting context: a make or
    CMake front-end writes its own variables so, since those expand before the shell reads quotes."""

    def __init__(self, fs: Files, budget: Budget | None = None, env: dict[str, str] | None = None):
        self.fs = fs
        self.budget = budget or Budget().start()
        self.env: dict[str, tuple[str, Data | None]] = {k: (v, None) for k, v in (env or {}).items()}
        self.funcs: dict[str, object] = {}
        self.files: dict[str, tuple[Data, str]] = {}     # virtual files written: word -> (data, where)
        self.modes: set[str] = set()                     # files made executable
        self.sinks: list[Sink] = []
        self.stops: list[tuple[str, str]] = []           # (where, reason) for tainted data we lost
        self.depth = 0
        self.args: list[tuple[str, Data | None]] = []
        self.worlds: list[dict] = []      # the other branches' variables, after an if or case
        self.forks = 0
        self.reads = 0                    # read builtins run by a loop's condition, and whether the last hit EOF
        self.read_eof = False
        self.last_line = ""
        self.procsubs = 0
        self.fds: dict[int, Stream] = {}    # descriptors opened by exec N< file
        self.arrays: dict[str, list[tuple[str, Data | None]]] = {}

    # -- entry points -------------------------------------------------------------------------
    def run_script(self, text: str, where: str, line: int = 1, stdin: Stream | None = None) -> Data:
        return self.run(shell.parse(text, line), stdin or Stream(), where)

    def run(self, node, stdin: Stream, where: str) -> Data:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise Stop("nesting deeper than the emulator's limit")
            return self._run(node, stdin, where)
        except (shell.LexError, shell.ParseError) as exc:
            raise Stop(f"cannot parse: {exc}") from None
        finally:
            self.depth -= 1

    # -- nodes --------------------------------------------------------------------------------------
    def _run(self, node, stdin: Stream, where: str) -> Data:
        if isinstance(node, shell.Seq):
            outs = Outs()
            for k, item in enumerate(node.items):
                try:
                    self.collect(outs, self.run(item, stdin, where))
                except Stop as exc:       # this command cannot be followed; the next ones still run
                    if stdin.data.tainted:
                        self.stops.append((f"{where}:{getattr(item, 'line', 0)}", str(exc)))
                worlds, self.worlds = self.worlds, []
                if worlds and k + 1 < len(node.items):   # the rest of the script, in each other branch's world
                    rest, chosen = shell.Seq(node.items[k + 1:]), self.env
                    for env in [w for w in worlds if self.matters(w, chosen, node.items[k + 1:])]:
                        if self.forks >= MAX_WORLDS:
                            self.stops.append((f"{where}:{getattr(item, 'line', 0)}",
                                               f"more than {MAX_WORLDS} branch combinations: later ones not followed"))
                            break
                        self.forks += 1
                        self.env = env
                        self.collect(outs, self.run(rest, stdin, where))
                    self.env = chosen
            return join(outs)
        if isinstance(node, shell.AndOr):
            return join([self.run(n, stdin, where) for _, n in node.items])
        if isinstance(node, shell.Pipeline):
            data = None
            for k, cmd in enumerate(node.cmds):
                data = self.run(cmd, stdin if k == 0 else Stream(data), where)
            return data or EMPTY
        if getattr(node, "redirs", None) and not isinstance(node, shell.Simple):   # { ...; } < f, done < f
            ctx = Ctx(where, node.line)
            stdin, sink = self._redirs(node.redirs, stdin, ctx)
            return self._deliver(self.run(replace(node, redirs=[]), stdin, where), sink, ctx)
        if isinstance(node, shell.Group):
            return self.run(node.body, stdin, where)
        if isinstance(node, shell.For):
            words = ([w for raw in node.words for w in self.expand(raw, Ctx(where, node.line))]
                     if node.words is not None else list(self.args))
            outs = Outs()
            for value in self.worth_iterating(words[:MAX_LOOP]):
                self.env[node.var] = value
                self.collect(outs, self.run(node.body, stdin, where))
            return join(outs)
        if isinstance(node, shell.If):   # every branch: a condition decided at run time must not hide one
            outs = Outs(self.run(c, stdin, where) for c, _ in node.branches)
            bodies = [b for _, b in node.branches] + [node.orelse if node.orelse is not None else shell.Seq([])]
            return self.branches(bodies, stdin, where, outs)
        if isinstance(node, shell.Case):
            self.word(node.word, Ctx(where, node.line))
            bodies = [b for _, b in node.arms]
            if not any(p == "*" for pats, _ in node.arms for p in pats):
                bodies.append(shell.Seq([]))       # no arm matches
            return self.branches(bodies, stdin, where, Outs())
        if isinstance(node, shell.Loop):
            return self.loop(node, stdin, where)
        if isinstance(node, shell.Func):
            self.funcs[node.name] = node.body
            return EMPTY
        if isinstance(node, shell.Unsupported):
            if stdin.data.tainted:
                self.stops.append((f"{where}:{node.line}", node.what))
            return EMPTY
        if isinstance(node, shell.Simple):
            return self.simple(node, stdin, Ctx(where, node.line))
        return EMPTY

    def worth_iterating(self, items: list) -> list:
        """A long loop's items that can matter: those carrying or naming test data, and a few others
        (a harness looping over hundreds of test scripts runs each the same way)."""
        if len(items) <= LOOP_ALL:
            return items
        keep = {k for k, (value, taint) in enumerate(items) if taint is not None or self.names_data(value)}
        keep |= set([k for k in range(len(items)) if k not in keep][:LOOP_OTHERS])
        return [item for k, item in enumerate(items) if k in keep]

    def data_files(self, args: list[str]) -> list[str]:
        """The test data files of the tree among a command's first arguments."""
        return [f[0] for a in args[:16] if not a.startswith("-") and ("/" in a or "." in a)
                and (f := self.fs.read(a)) is not None and f[2]]

    def names_data(self, text: str) -> bool:
        """Whether one of the first words of ``text`` is a test data file of the tree."""
        return any(("/" in w or "." in w) and (f := self.fs.read(w)) is not None and f[2] for w in text.split()[:8])

    def matters(self, world: dict, chosen: dict, rest: list) -> bool:
        """Whether the rest of the script can reach test data differently in ``world``: a variable it
        uses differs there and carries test data, names a file of the tree, or is a decoder or shell."""
        used: set[str] = set()
        for item in rest:
            used |= _uses(item)
        for name in used:
            value, taint = world.get(name, ("", None))
            if (value, taint) == chosen.get(name, ("", None)):
                continue
            if taint is not None:
                return True
            first = posixpath.basename(value.split(" ", 1)[0]) if value else ""
            if first in FILTERS or first in DECOMPRESSORS or first in SHELLS:
                return True
            if self.names_data(value) or any(_WILD.search(w) and self.fs.glob(w) for w in value.split()[:8]):
                return True
        return False

    def branches(self, bodies: list, stdin: Stream, where: str, outs: Outs) -> Data:
        """Run every branch from the same state; the script goes on in the first branch's world and
        :attr:`worlds` keeps the other distinct ones for the enclosing sequence to follow."""
        before, after, others = dict(self.env), None, []
        for body in bodies:
            self.env = dict(before)
            self.collect(outs, self.run(body, stdin, where))
            if after is None:
                after = self.env
            elif self.env != after and self.env not in others:
                others.append(self.env)
        self.env = after if after is not None else before
        self.worlds = others
        return join(outs)

    def loop(self, node: shell.Loop, stdin: Stream, where: str) -> Data:
        """A ``while read`` loop runs once per line of its input; any other loop's body runs once,
        since its count is decided at run time."""
        outs = Outs()
        for k in range(MAX_LOOP):
            self.reads = 0
            self.run(node.cond, stdin, where)
            fed = self.reads > 0
            if fed and self.read_eof and outs:
                break
            if not fed or k < LOOP_ALL or stdin.data.tainted or self.names_data(self.last_line):
                self.collect(outs, self.run(node.body, stdin, where))
            if not fed:
                break
        else:
            if stdin.data.tainted:
                self.stops.append((f"{where}:{node.line}", f"loop stopped after {MAX_LOOP} rounds"))
        return join(outs)

    def read(self, args: list[str], stdin: Stream, ctx: Ctx, ifs_assign: tuple[str, Data | None] | None = None) -> Data:
        """The ``read`` builtin: one line of standard input into the named variables."""
        raw_mode = "-r" in args
        names = [a for a in args if not a.startswith("-")] or ["REPLY"]
        self.reads += 1
        line = stdin.read_lines(1)
        self.read_eof = not line.raw
        self.last_line = line.raw[:4096].decode("latin-1")
        text = line.raw.decode("latin-1").rstrip("\n")
        if not raw_mode:
            text = re.sub(r"\\(.)", r"\1", text)
        ifs = (ifs_assign or self.env.get("IFS", (" \t\n", None)))[0]     # IFS=, read: for this read only
        if ifs and len(names) > 1:
            parts = re.split("[" + re.escape(ifs) + "]+", text.strip(ifs), maxsplit=len(names) - 1)
        else:
            parts = [text.strip(ifs) if ifs else text]
        for k, name in enumerate(names):
            value = parts[k] if k < len(parts) else ""
            taint = line.then(value.encode("latin-1"), Step(f"read {name}", f"{ctx.where}:{ctx.line}",
                                                              len(line.raw), len(value))) if line.tainted else None
            self.env[name] = (value, taint)
        return EMPTY

    def exported(self) -> dict[str, str]:
        """The variables a child shell would see (every variable: exports are not tracked)."""
        return {k: v for k, (v, taint) in self.env.items() if taint is None and len(v) < 1 << 16}

    def collect(self, outs: Outs, out: Data) -> None:
        """Add ``out`` to ``outs`` once it and what was collected before fit the byte budget."""
        if out.raw:
            self.budget.check_size(len(out.raw) + outs.total)
        outs.append(out)

    # -- words ------------------------------------------------------------------------------------
    def var(self, name: str) -> tuple[str, Data | None]:
        if name.isdigit():
            k = int(name)
            return self.args[k - 1] if 0 < k <= len(self.args) else ("", None)
        if name in ("@", "*"):
            return (" ".join(a for a, _ in self.args), join(t for _, t in self.args if t) if any(
                t for _, t in self.args) else None)
        if name == "#":
            return (str(len(self.args)), None)
        return self.env.get(name, ("", None))

    def expand(self, raw: str, ctx: Ctx, split: bool = True) -> list[tuple[str, Data | None]]:
        """Words after parameter expansion, command substitution, quote removal, field splitting and
        globbing; each with the tainted data it carries (None for literal text)."""
        if raw[:2] in ("<(", ">(") and raw.endswith(")"):     # process substitution: a file of its output
            self.procsubs += 1
            name = f"/dev/fd/{62 + self.procsubs}"
            out = self.subst(raw[2:-1], ctx) if raw[0] == "<" else EMPTY
            self.files[name] = (out, f"{ctx.where}:{ctx.line}")
            return [(name, None)]
        if not _SPECIAL.search(raw):        # a plain word: nothing to expand
            if split and _WILD.search(raw):
                matches = self.fs.glob(raw)
                if matches:
                    return [(m, None) for m in matches]
            return [(raw, None)]
        if not _EXPANDS.search(raw) and raw.count("'") + raw.count('"') == 2 and raw[0] in "'\"" \
                and raw[-1] == raw[0] and raw[0] not in raw[1:-1]:
            return [(raw[1:-1], None)]     # one quoted literal
        segs: list[tuple[str, bool, Data | None]] = []   # text, quoted, taint
        i, n = 0, len(raw)
        lit = []

        def flush(quoted=False):
            if lit:
                segs.append(("".join(lit), quoted, None))
                lit.clear()

        def placeholder(j: int, quoted: bool) -> int:
            end = raw.index("\0", j + 1)
            value, taint = self.var(raw[j + 1:end])
            segs.append((value, quoted, taint))
            return end + 1

        def dollar(j: int, quoted: bool) -> int:
            if raw.startswith("$((", j):
                end = shell._skip_balanced(raw, j + 3, "(", ")")
                expr = raw[j + 3:end - 2] if raw[end - 2:end] == "))" else raw[j + 3:end - 1]
                segs.append((str(self.arith(expr, ctx)), quoted, None))
                return end + (1 if raw[end - 1:end + 1] == "))" else 0)
            if raw.startswith("$(", j):
                end = shell._skip_balanced(raw, j + 2, "(", ")")
                inner = raw[j + 2:end - 1].strip()
                if inner.startswith("<") and not inner.startswith("<<") and " " not in inner[1:].strip():
                    out = self.read_file(self.word(inner[1:].strip(), ctx)[0], ctx)     # $(< file)
                    segs.append((out.raw.decode("latin-1").rstrip("\n"), quoted, out if out.tainted else None))
                    return end
                out = self.subst(raw[j + 2:end - 1], ctx)
                segs.append((out.raw.decode("latin-1").rstrip("\n"), quoted, out if out.tainted else None))
                return end
            if raw.startswith("${", j):
                end = shell._skip_balanced(raw, j + 2, "{", "}")
                body = raw[j + 2:end - 1]
                elem = self.element(body)
                if elem is not None:
                    segs.append((elem[0], quoted, elem[1]))
                    return end
                m = re.match(r"([A-Za-z_]\w*|\d+|[@*#?$])(?:(:?[-=+?])(.*))?$", body, re.S)
                if not m:
                    value, taint = self.param_op(body, ctx)
                    segs.append((value, quoted, taint))
                    return end
                value, taint = self.var(m.group(1))
                if m.group(2):
                    op, alt = m.group(2), m.group(3)
                    unset = (not value) if op.startswith(":") else (m.group(1) not in self.env)
                    if op.endswith(("-", "=")) and unset:
                        parts = self.expand(alt, ctx, split=False)
                        value, taint = (parts[0] if parts else ("", None))
                        if op.endswith("="):
                            self.env[m.group(1)] = (value, taint)
                    elif op.endswith("+"):
                        value, taint = (self.expand(alt, ctx, split=False) or [("", None)])[0] if not unset else ("", None)
                segs.append((value, quoted, taint))
                return end
            m = re.match(r"\$([A-Za-z_]\w*|[0-9@*#?$!-])", raw[j:])
            if m:
                value, taint = self.var(m.group(1))
                segs.append((value, quoted, taint))
                return j + m.end()
            lit.append("$")
            return j + 1

        while i < n:
            c = raw[i]
            if c == "'":
                flush()
                j = raw.find("'", i + 1)
                j = n if j < 0 else j
                for k, piece in enumerate(raw[i + 1:j].split("\0")):    # make/cmake values: expanded anyway
                    if k % 2 == 0:
                        segs.append((piece, True, None))
                    else:
                        value, taint = self.var(piece)
                        segs.append((value, True, taint))
                i = j + 1
            elif c == "\0" and "\0" in raw[i + 1:]:     # a make or cmake value (the class docstring)
                flush()
                i = placeholder(i, False)
            elif c == '"':
                flush()
                i += 1
                while i < n and raw[i] != '"':
                    if raw[i] == "\\" and i + 1 < n and raw[i + 1] in '$`"\\\n':
                        lit.append(raw[i + 1])
                        i += 2
                    elif raw[i] == "$":
                        flush(True)
                        i = dollar(i, True)
                    elif raw[i] == "\0" and "\0" in raw[i + 1:]:
                        flush(True)
                        i = placeholder(i, True)
                    elif raw[i] == "`":
                        flush(True)
                        j = raw.find("`", i + 1)
                        j = n if j < 0 else j
                        out = self.subst(raw[i + 1:j].replace("\\`", "`"), ctx)
                        segs.append((out.raw.decode("latin-1").rstrip("\n"), True, out if out.tainted else None))
                        i = j + 1
                    else:
                        lit.append(raw[i])
                        i += 1
                flush(True)
                segs.append(("", True, None))
                i += 1
            elif c == "\\" and i + 1 < n:
                flush()
                segs.append((raw[i + 1], True, None))
                i += 2
            elif c == "$":
                flush()
                i = dollar(i, False)
            elif c == "`":
                flush()
                j = raw.find("`", i + 1)
                j = n if j < 0 else j
                out = self.subst(raw[i + 1:j], ctx)
                segs.append((out.raw.decode("latin-1").rstrip("\n"), False, out if out.tainted else None))
                i = j + 1
            else:
                lit.append(c)
                i += 1
        flush()
        # field splitting of unquoted expansions, then globbing of unquoted wildcards
        fields: list[tuple[list[str], Data | None, bool]] = [([], None, False)]
        for text, quoted, taint in segs:
            cur = fields[-1]
            taint2 = _merge(cur[1], taint)
            if quoted or not split or taint is None and not any(ch in text for ch in " \t\n") or not text:
                fields[-1] = (cur[0] + [text], taint2, cur[2] or (not quoted and bool(_WILD.search(text))))
                if quoted and text == "":
                    fields[-1] = (fields[-1][0], fields[-1][1], fields[-1][2])
                continue
            pieces = re.split(r"[ \t\n]+", text)
            for k, piece in enumerate(pieces):
                if k:
                    fields.append(([], None, False))
                cur = fields[-1]
                fields[-1] = (cur[0] + [piece], _merge(cur[1], taint),
                              cur[2] or bool(_WILD.search(piece)))
        out: list[tuple[str, Data | None]] = []
        had_quote = any(q for _, q, _ in segs)
        for parts, taint, wild in fields:
            word = "".join(parts)
            if not word and not had_quote and len(fields) >= 1 and not taint:
                continue
            if wild and split:
                matches = self.fs.glob(word)
                if matches:
                    out.extend((m, None) for m in matches)
                    continue
            if ELEMENTS in word:      # "${a[@]}": one word an element
                out.extend((w, taint) for w in word.split(ELEMENTS))
                continue
            out.append((word, taint))
        return out

    def array(self, name: str, value: str, ctx: Ctx) -> tuple[str, Data | None]:
        """``name=(a b c)``: the elements (expanded and split as words); the scalar is the first."""
        items: list[tuple[str, Data | None]] = []
        for tok in shell.lex(value[1:-1], ctx.line):
            if tok.kind == "word":
                items.extend(self.expand(tok.value, ctx))
        self.arrays[name] = items[:MAX_LOOP]
        return items[0] if items else ("", None)

    def element(self, body: str) -> tuple[str, Data | None] | None:
        """``${a[@]}``, ``${a[*]}``, ``${a[N]}``, ``${#a[@]}``: None when ``body`` is no array reference."""
        m = re.fullmatch(r"(#?)([A-Za-z_]\w*)\[([^\]]+)\]", body)
        if not m:
            return None
        items = self.arrays.get(m.group(2)) or ([self.env[m.group(2)]] if m.group(2) in self.env else [])
        if m.group(1):
            return str(len(items)), None
        if m.group(3) in ("@", "*"):
            taints = [t for _, t in items if t is not None]
            return ELEMENTS.join(v for v, _ in items), (join(taints) if taints else None)
        try:
            k = int(m.group(3))
        except ValueError:
            raise Stop(f"array index {m.group(3)} is not supported") from None
        return items[k] if -len(items) <= k < len(items) else ("", None)

    def param_op(self, body: str, ctx: Ctx) -> tuple[str, Data | None]:
        """``${#v}``, ``${v#p}``, ``${v##p}``, ``${v%p}``, ``${v%%p}``, ``${v:off[:len]}``, ``${v/p/r}``,
        ``${v//p/r}``: the value, and the variable's taint (the bytes it came from stay its sources)."""
        m = re.match(r"#([A-Za-z_]\w*|\d+)$", body)
        if m:
            return str(len(self.var(m.group(1))[0])), None
        m = re.match(r"([A-Za-z_]\w*|\d+)(##?|%%?|:|//?)(.*)$", body, re.S)
        if not m:
            raise Stop(f"parameter expansion ${{{body}}} is not supported")
        value, taint = self.var(m.group(1))
        op, arg = m.group(2), m.group(3)
        if op == ":":
            nums = arg.split(":", 1)
            off = self.arith(nums[0], ctx) if nums[0].strip() else 0
            off = max(0, len(value) + off) if off < 0 else off
            value = value[off:off + self.arith(nums[1], ctx)] if len(nums) > 1 else value[off:]
        elif op in ("/", "//"):
            pat, _, rep = arg.partition("/")
            pat = self.word(pat, ctx)[0] if pat else pat
            rx = fnmatch.translate(pat)[4:-3] if pat else ""   # (?s:...)\Z
            if pat:
                value = re.sub(rx, lambda _: self.word(rep, ctx)[0] if rep else "", value,
                               count=0 if op == "//" else 1)
        else:
            pat = self.word(arg, ctx)[0] if arg else ""
            cuts = range(len(value) + 1)
            if op.startswith("#"):
                hits = [k for k in cuts if fnmatch.fnmatchcase(value[:k], pat)]
                if hits:
                    value = value[(max(hits) if op == "##" else min(hits)):]
            else:
                hits = [k for k in cuts if fnmatch.fnmatchcase(value[k:], pat)]
                if hits:
                    value = value[:(min(hits) if op == "%%" else max(hits))]
        self.budget.tick(len(value) // 64 + 1)
        if taint is not None:
            taint = taint.then(value.encode("latin-1", "replace"), Step(f"${{{body}}}", f"{ctx.where}:{ctx.line}",
                                                                      len(taint.raw), len(value)))
        return value, taint

    def word(self, raw: str, ctx: Ctx) -> tuple[str, Data | None]:
        parts = self.expand(raw, ctx, split=False)
        return parts[0] if parts else ("", None)

    def arith(self, expr: str, ctx: Ctx) -> int:
        text = re.sub(r"\$?\{?([A-Za-z_]\w*)\}?", lambda m: self.var(m.group(1))[0] or "0", expr)
        if not re.fullmatch(r"[\d\s+\-*/%()<>&|^~]*", text):
            raise Stop(f"arithmetic $(({expr})) is not supported")
        try:
            from .oneliners import safe_arith
            return safe_arith(text.replace("/", "//"))
        except Exception as exc:
            raise Stop(f"arithmetic $(({expr})): {exc}") from None

    def subst(self, text: str, ctx: Ctx) -> Data:
        saved = dict(self.env)
        out = self.run(shell.parse(text, ctx.line), Stream(), ctx.where)
        self.env = saved
        return out

    # -- files ------------------------------------------------------------------------------------
    def key(self, word: str) -> str:
        return posixpath.normpath(word) if word else word

    def read_file(self, word: str, ctx: Ctx) -> Data:
        k = self.key(word)
        if k in self.files:
            return self.files[k][0]
        if word in ("-", "/dev/stdin"):
            raise LookupError("stdin")
        if word == "/dev/null":
            return EMPTY
        found = self.fs.read(word)
        if found is None:
            raise Stop(f"{word}: not a file of the tree and not written before")
        path, content, is_data = found
        self.budget.check_size(len(content))
        if is_data:
            return Data(content, (Step(f"read {path}", f"{ctx.where}:{ctx.line}", len(content), len(content)),),
                        frozenset({path}))
        return Data(content)

    def write_file(self, word: str, data: Data, ctx: Ctx, append: bool = False) -> None:
        if word in ("/dev/null", "/dev/stderr", "/dev/tty") or word.startswith("/dev/fd/"):
            return
        k = self.key(word)
        if append and k in self.files:
            data = join([self.files[k][0], data])
        self.budget.check_size(len(data.raw))
        self.files[k] = (data, f"{ctx.where}:{ctx.line}")

    def inputs(self, files: list[str], stdin: Stream, ctx: Ctx) -> Data:
        if not files:
            return stdin.read()
        parts = []
        for f in files:
            try:
                parts.append(self.read_file(f, ctx))
            except LookupError:
                parts.append(stdin.read())
        return join(parts)

    def _redirs(self, redirs, stdin: Stream, ctx: Ctx) -> tuple[Stream, tuple[str, bool] | None]:
        out = None
        for op, fd, target in redirs:
            if op in ("<<", "<<-"):
                text, taint = self.word(target, ctx)
                stdin = Stream(taint or Data(text.encode("latin-1", "replace")))
                continue
            if op == "<<<":      # here-string: the word and a newline
                text, taint = self.word(target, ctx)
                raw = text.encode("latin-1", "replace") + b"\n"
                stdin = Stream(taint.then(raw, Step("<<<", f"{ctx.where}:{ctx.line}", len(taint.raw), len(raw)))
                               if taint is not None else Data(raw))
                continue
            word, _ = self.word(target, ctx)
            if op == "<" and fd == 0:
                stdin = Stream(self.read_file(word, ctx))
            elif op == "<&" and fd == 0 and word.isdigit() and int(word) in self.fds:
                stdin = self.fds[int(word)]
            elif op in (">", ">>", ">|", "&>") and fd == 1:
                out = (word, op == ">>")
        return stdin, out

    def _deliver(self, out: Data, sink: tuple[str, bool] | None, ctx: Ctx) -> Data:
        if sink is None or sink[0] in STDOUT:
            return out
        self.write_file(sink[0], out, ctx, append=sink[1])
        return EMPTY

    # -- commands ---------------------------------------------------------------------------------
    def simple(self, node: shell.Simple, stdin: Stream, ctx: Ctx) -> Data:
        self.budget.tick()
        assigns = [(k, self.array(k, v, ctx) if v.startswith("(") and v.endswith(")") else self.word(v, ctx))
                   for k, v in node.assigns]
        argv: list[tuple[str, Data | None]] = []
        try:
            for raw in node.words:
                argv.extend(self.expand(raw, ctx))
            stdin, sink = self._redirs(node.redirs, stdin, ctx)
        except Stop as exc:
            if stdin.data.tainted:
                self.stops.append((f"{ctx.where}:{ctx.line}", str(exc)))
            return replace(stdin.data, raw=b"", stopped=f"{ctx.where}:{ctx.line}: {exc}") \
                if stdin.data.tainted else EMPTY
        if [a for a, _ in argv] == ["exec"]:      # exec 3< file: descriptors the rest of the script reads
            for op, fd, target in node.redirs:
                if op == "<" and fd > 2:
                    data = self.read_file(self.word(target, ctx)[0], ctx)
                    self.fds[fd] = Stream(data)
                    self.files[f"/dev/fd/{fd}"] = (data, f"{ctx.where}:{ctx.line}")
            return EMPTY
        if not argv:
            for k, v in assigns:
                if k.endswith("+"):     # name+=value appends (a string; an array gets one more element)
                    k = k[:-1]
                    if k in self.arrays:
                        self.arrays[k] = self.arrays[k] + [v]
                        continue
                    old, taint = self.env.get(k, ("", None))
                    v = (old + v[0], _merge(taint, v[1]))
                self.env[k] = v
                self._preload(k, v, ctx)
            return EMPTY
        for k, v in assigns:
            self._preload(k, v, ctx)
        text = node.text()
        try:
            out = self.command(argv, stdin, ctx, text, dict(assigns))
        except Stop as exc:
            data = stdin.data
            named = [] if data.tainted or any(t for _, t in argv) else self.data_files([a for a, _ in argv[1:]])
            tainted = data.tainted or any(t for _, t in argv) or bool(named)
            if tainted:
                base = data if data.tainted else join([t for _, t in argv if t] or
                                                      [self.read_file(a, ctx) for a in named])
                n = len(base.steps) + 1
                reason = f"emulation stopped at step {n} ({ctx.where}:{ctx.line}): {exc}"
                self.stops.append((f"{ctx.where}:{ctx.line}", str(exc)))
                out = Data(b"", base.steps + (Step(text, f"{ctx.where}:{ctx.line}", len(base.raw), 0,
                                                   f"not followed: {exc}"),), base.sources, reason)
            else:
                out = EMPTY
        return self._deliver(out, sink, ctx)

    def _preload(self, name: str, value: tuple[str, Data | None], ctx: Ctx) -> None:
        if name == "LD_PRELOAD":
            for part in value[0].replace(":", " ").split():
                k = self.key(part)
                if k in self.files and self.files[k][0].tainted:
                    self.sinks.append(Sink("preload", f"LD_PRELOAD={part}", f"{ctx.where}:{ctx.line}",
                                           self.files[k][0]))

    def step(self, data: Data, raw: bytes, text: str, ctx: Ctx, note: str | None = None) -> Data:
        self.budget.check_size(len(raw))
        self.budget.tick()
        return data.then(raw, Step(text, f"{ctx.where}:{ctx.line}", len(data.raw), len(raw), note))

    def command(self, argv, stdin: Stream, ctx: Ctx, text: str, assigns: dict) -> Data:
        name0 = argv[0][0]
        name = posixpath.basename(name0)
        args = [a for a, _ in argv[1:]]
        taints = [t for _, t in argv[1:] if t]
        if name in ("env", "exec", "command", "nohup", "nice", "time", "stdbuf", "xargs") and len(argv) > 1:
            rest = argv[1:]
            while rest and (rest[0][0].startswith("-") or "=" in rest[0][0]):
                if rest[0][0].startswith("LD_PRELOAD="):
                    self._preload("LD_PRELOAD", (rest[0][0].split("=", 1)[1], None), ctx)
                rest = rest[1:]
            if name == "xargs":
                return self.xargs(argv[1:], stdin, ctx, text, assigns)
            if not rest:
                return EMPTY
            return self.command(rest, stdin, ctx, text, assigns)
        if name0 in self.funcs:
            saved = self.args
            self.args = argv[1:]
            try:
                return self.run(self.funcs[name0], stdin, ctx.where)
            finally:
                self.args = saved
        if name == "read":
            return self.read(args, stdin, ctx, assigns.get("IFS"))
        if name in ("mapfile", "readarray"):
            strip = "-t" in args
            target = next((a for a in reversed(args) if not a.startswith("-")), "MAPFILE")
            data = stdin.read()
            lines = _lines(data.raw)[:MAX_LOOP]
            self.arrays[target] = [(ln.rstrip(b"\n").decode("latin-1") if strip else ln.decode("latin-1"),
                                    data.then(ln, Step(f"{name} {target}", f"{ctx.where}:{ctx.line}", len(data.raw),
                                                       len(ln))) if data.tainted else None) for ln in lines]
            return EMPTY
        if name == "set":
            ops = argv[1:]
            while ops and ops[0][0].startswith(("-", "+")) and ops[0][0] != "--":
                ops = ops[1:]
            if ops and ops[0][0] == "--":
                ops = ops[1:]
            if ops or "--" in args:
                self.args = list(ops)
            return EMPTY
        if name == "find":
            return self.find(argv[1:], stdin, ctx, text, assigns)
        if name in ("basename", "dirname") and len(argv) > 1:
            path = argv[1][0].rstrip("/") or "/"
            value = posixpath.basename(path) if name == "basename" else (posixpath.dirname(path) or ".")
            if name == "basename" and len(argv) > 2 and value.endswith(argv[2][0]) and value != argv[2][0]:
                value = value[:-len(argv[2][0])]
            return Data((value + "\n").encode("latin-1", "replace"))
        if name in ("export", "readonly", "local", "declare", "typeset"):
            for a, t in argv[1:]:
                if "=" in a and not a.startswith("-"):
                    k, v = a.split("=", 1)
                    self.env[k] = (v, t)
                    self._preload(k, (v, t), ctx)
            return EMPTY
        if name == "eval":
            code = " ".join(args)
            if taints:
                self.sinks.append(Sink("shell", "eval", f"{ctx.where}:{ctx.line}",
                                       self.step(join(taints), code.encode("latin-1", "replace"), text, ctx)))
                return EMPTY
            return self.run(shell.parse(code, ctx.line), stdin, ctx.where)
        if name in SHELLS or name in ("source", "."):
            return self.shell_cmd(name, argv, stdin, ctx, text)
        if name in TOOLCHAIN:
            return self.toolchain(name, argv, stdin, ctx, text)
        k = self.key(name0)
        if k in self.files:           # running a file the script wrote
            data = self.files[k][0]
            if data.tainted:
                self.sinks.append(Sink("exec", name0, f"{ctx.where}:{ctx.line}", data))
            return EMPTY
        handler = FILTERS.get(name) or (f_interp if python_name(name) else None)
        if handler is None and name in DECOMPRESSORS:
            handler = codec
        if handler is not None:
            try:
                return handler(self, name, args, taints, stdin, ctx, text)
            except (IndexError, ValueError, re.error, KeyError, TypeError, UnicodeError, OverflowError,
                    zlib.error, lzma.LZMAError, EOFError, OSError) as exc:   # the tool would fail here too
                raise Stop(f"{name}: {type(exc).__name__}: {str(exc)[:120]}") from None
        if name in QUIET or name in ("echo", "printf"):
            if name == "echo":
                return self.echo(argv[1:], ctx)
            if name == "printf":
                return self.printf(argv[1:], ctx)
            if stdin.data.tainted and name in ("cmp", "diff", "grep"):
                stdin.read()
            return EMPTY
        if name in ("chmod",):
            if any("x" in a or re.fullmatch(r"[0-7]*[1357][0-7]*", a) for a in args[:-1]):
                self.modes.update(self.key(a) for a in args[1:])
            return EMPTY
        if name in ("cp", "mv", "ln", "install"):
            ops = [a for a in args if not a.startswith("-")]
            if len(ops) == 2:
                try:
                    data = self.read_file(ops[0], ctx)
                except Stop:
                    return EMPTY
                self.write_file(ops[1], self.step(data, data.raw, text, ctx), ctx)
                if name == "mv":
                    self.files.pop(self.key(ops[0]), None)
            return EMPTY
        if name == "rm":
            return EMPTY    # keep what was written: the chain is what matters
        # an unknown program: data that flows into it is consumed there (a test program's stdin)
        if stdin.data.tainted or taints:
            raise Stop(f"unknown command {name!r}")
        data_args = self.data_files(args)
        if data_args:     # it may read test data in a way we cannot follow (or only take its name): say so
            what = f"unknown command {name!r}" if name else f"{text.split()[0]} expands to no command (unset)"
            self.stops.append((f"{ctx.where}:{ctx.line}", f"{what}; it is given {data_args[0]}"))
        return EMPTY

    def xargs(self, argv, stdin: Stream, ctx: Ctx, text: str, assigns: dict) -> Data:
        """``xargs [-0] [-n N] [-I R] CMD ARGS``: words of standard input appended to (or put into) CMD."""
        rest, per, repl, nul = list(argv), 0, None, False
        while rest and rest[0][0].startswith("-"):
            opt = rest.pop(0)[0]
            if opt in ("-0", "--null"):
                nul = True
            elif opt in ("-n", "-L", "-I") and rest:
                value = rest.pop(0)[0]
                repl, per = (value, 1) if opt == "-I" else (repl, number(value, "xargs -n"))
            elif re.fullmatch(r"-[nL]\d+", opt):
                per = int(opt[2:])
            elif opt.startswith("-I") and len(opt) > 2:
                repl, per = opt[2:], 1
            elif opt in ("-r", "--no-run-if-empty", "-t", "-x"):
                continue
            else:
                raise Stop(f"xargs option {opt} is not supported")
        data = stdin.read()
        raw = data.raw.decode("latin-1")
        items = [w for w in (raw.split("\0") if nul else raw.split("\n" if repl else None)) if w.strip()]
        cmd = rest or [("echo", None)]
        taint = data if data.tainted else None
        groups = [items[k:k + per] for k in range(0, len(items), per)] if per else [items]
        outs = Outs()
        for group in groups[:MAX_LOOP]:
            if repl is not None:
                args = [(a.replace(repl, group[0].strip()), taint if repl in a else t) for a, t in cmd]
            else:
                args = cmd + [(w, taint) for w in group]
            self.collect(outs, self.command(args, Stream(), ctx, text, assigns))
        return join(outs)

    def find(self, argv, stdin: Stream, ctx: Ctx, text: str, assigns: dict) -> Data:
        """``find DIR... [-type f] [-name|-path|-iname PAT]... [-exec CMD {} ;|+] [-print]``: the tree's
        files under DIR that match, printed or handed to CMD."""
        words = [w for w, _ in argv]
        k = 0
        roots = []
        while k < len(words) and not words[k].startswith(("-", "(", "!")):
            roots.append(words[k])
            k += 1
        tests: list[tuple[str, str]] = []
        execs: list[tuple[list, bool]] = []
        while k < len(words):
            w = words[k]
            if w in ("-name", "-iname", "-path", "-wholename", "-type", "-maxdepth", "-mindepth", "-newer",
                     "-size", "-perm", "-user", "-group", "-mtime") and k + 1 < len(words):
                tests.append((w, words[k + 1]))
                k += 2
            elif w in ("-exec", "-execdir", "-ok"):
                end = k + 1
                while end < len(words) and words[end] not in (";", "\\;", "+"):
                    end += 1
                execs.append((argv[k + 1:end], end < len(words) and words[end] == "+"))
                k = end + 1
            elif w in ("-print", "-print0", "-o", "-a", "-and", "(", ")", "-delete", "-quit", "-follow", "-L",
                       "-xdev", "-depth"):
                k += 1
            elif w in ("!", "-not"):
                k += 2 if k + 2 <= len(words) and words[k + 1].startswith("-") else 1
                k += 1 if k < len(words) and not words[k].startswith("-") else 0
            else:
                raise Stop(f"find expression {w} is not supported")
        found = []
        for root in roots or ["."]:
            for path in self.fs.glob(root.rstrip("/") + "/**"):
                name = posixpath.basename(path)
                if all(fnmatch.fnmatchcase(name, v) if t == "-name" else
                       fnmatch.fnmatchcase(name.lower(), v.lower()) if t == "-iname" else
                       fnmatch.fnmatchcase(path.split("@TOP@/", 1)[-1], "*" + v.lstrip(".")) if t in ("-path", "-wholename")
                       else True for t, v in tests):
                    found.append(path)
        if not execs:
            return Data(("\0" if "-print0" in words else "\n").join(found).encode("latin-1") + b"\n" if found else b"")
        outs = Outs()
        for cmd, batch in execs:
            runs = [found] if batch else [[p] for p in found]
            for paths in runs[:MAX_LOOP]:
                args: list[tuple[str, Data | None]] = []
                for a, t in cmd:
                    args.extend([(p, None) for p in paths] if a == "{}" else [(a.replace("{}", paths[0]), t)])
                if args:
                    self.collect(outs, self.command(args, Stream(), ctx, text, assigns))
        return join(outs)

    def shell_cmd(self, name, argv, stdin: Stream, ctx: Ctx, text: str) -> Data:
        args = argv[1:]
        opts = []
        while args and args[0][0].startswith("-") and args[0][0] not in ("-", "--"):
            opts.append(args[0][0])
            if args[0][0] == "-c":
                break
            args = args[1:]
        if name in ("source", "."):
            opts = []
        if "-c" in opts:
            if len(args) < 2:
                return EMPTY
            code, taint = args[1]
            if taint is not None:
                self.sinks.append(Sink("shell", f"{name} -c", f"{ctx.where}:{ctx.line}",
                                       self.step(taint, code.encode("latin-1", "replace"), text, ctx)))
                return EMPTY
            saved = self.args
            self.args = args[3:]
            try:
                return self.run(shell.parse(code, ctx.line), stdin, ctx.where)
            finally:
                self.args = saved
        if args and args[0][0] not in ("-", "--", "/dev/stdin") and "-s" not in opts:
            script = args[0][0]
            k = self.key(script)
            if k in self.files and self.files[k][0].tainted:
                self.sinks.append(Sink("shell", f"{name} {script}", f"{ctx.where}:{ctx.line}", self.files[k][0]))
            elif args[0][1] is not None:
                self.sinks.append(Sink("shell", f"{name} {script}", f"{ctx.where}:{ctx.line}", args[0][1]))
            else:
                found = self.fs.read(script)
                if found is not None and found[2]:     # a test data file run as a script
                    data = self.read_file(script, ctx)
                    self.sinks.append(Sink("shell", f"{name} {script}", f"{ctx.where}:{ctx.line}", data))
                elif found is not None and len(found[1]) <= MAX_INLINE_SCRIPT and self.hands_data(args[1:], stdin):
                    return self.child_script(found[1], script, args[1:], stdin, ctx)
            return EMPTY
        data = stdin.read()
        if data.tainted:
            self.sinks.append(Sink("shell", f"{name} (standard input)", f"{ctx.where}:{ctx.line}", data,
                                   self.exported()))
        return EMPTY

    def hands_data(self, args, stdin: Stream) -> bool:
        """Whether a child script would see test data: on its input, in an argument or a variable."""
        if stdin.data.tainted or any(t for _, t in args):
            return True
        if any(t for _, t in self.env.values()):
            return True
        values = [a for a, _ in args] + [v for v, _ in self.env.values() if len(v) < 4096]
        return any(self.names_data(v) for v in values)

    def child_script(self, text: bytes, script: str, args, stdin: Stream, ctx: Ctx) -> Data:
        """A script of the tree that this one runs: emulated with the caller's variables (as if all
        were exported) and its own arguments; what it assigns does not come back."""
        saved_env, saved_args = dict(self.env), self.args
        self.args = list(args)
        try:
            return self.run(shell.parse(text.decode("latin-1"), 1), stdin, f"{script} (run by {ctx.where}:{ctx.line})")
        finally:
            self.env, self.args = saved_env, saved_args

    def toolchain(self, name, argv, stdin: Stream, ctx: Ctx, text: str) -> Data:
        args = [a for a, _ in argv[1:]]
        for a, t in argv[1:]:
            k = self.key(a)
            if k in self.files and self.files[k][0].tainted:
                self.sinks.append(Sink("toolchain", f"{name} {a}", f"{ctx.where}:{ctx.line}", self.files[k][0]))
            elif t is not None:
                self.sinks.append(Sink("toolchain", f"{name} (argument)", f"{ctx.where}:{ctx.line}", t))
            else:
                found = self.fs.read(a) if not a.startswith("-") else None
                if found is not None and found[2]:
                    self.sinks.append(Sink("toolchain", f"{name} {a}", f"{ctx.where}:{ctx.line}",
                                           self.read_file(a, ctx)))
        if "-" in args:
            data = stdin.read()
            if data.tainted:
                self.sinks.append(Sink("toolchain", f"{name} - (standard input)", f"{ctx.where}:{ctx.line}", data))
        return EMPTY

    def echo(self, argv, ctx: Ctx) -> Data:
        words = list(argv)
        newline, escapes = True, False
        while words and re.fullmatch(r"-[neE]+", words[0][0]):
            newline = newline and "n" not in words[0][0]
            escapes = "e" in words[0][0]
            words = words[1:]
        text = " ".join(w for w, _ in words)
        raw = _unescape(text) if escapes else text.encode("latin-1", "replace")
        raw += b"\n" if newline else b""
        taints = [t for _, t in words if t]
        return join(taints).then(raw, Step("echo", f"{ctx.where}:{ctx.line}", 0, len(raw))) if taints else Data(raw)

    def printf(self, argv, ctx: Ctx) -> Data:
        if not argv:
            return EMPTY
        fmt = argv[0][0]
        vals = [w for w, _ in argv[1:]]
        out = bytearray()
        pieces = re.split(r"(%[-+ #0-9.]*[sbdxoc%])", fmt)   # text, conversion, text, ...
        k = 0
        while True:
            for n, p in enumerate(pieces):
                if n % 2:
                    conv = p[-1]
                    if conv == "%":
                        out += b"%"
                        continue
                    v = vals[k] if k < len(vals) else ""
                    k += 1
                    if conv == "b":
                        out += _unescape(v)
                    elif conv == "s":
                        out += v.encode("latin-1", "replace")
                    elif conv == "c":
                        out += v[:1].encode("latin-1", "replace")
                    else:
                        self.budget.check_size(_widest(p))
                        try:
                            out += (p[:-1] + conv).__mod__(int(v or "0", 0)).encode()
                        except ValueError:
                            raise Stop(f"printf: {v!r} is not a number") from None
                elif "%" in p:
                    raise Stop(f"printf: a conversion of {fmt[:60]!r} is not supported")
                else:
                    out += _unescape(p)
            if k >= len(vals) or not any(c != "%%" for c in pieces[1::2]):
                break
        taints = [t for _, t in argv if t]
        raw = bytes(out)
        return join(taints).then(raw, Step("printf", f"{ctx.where}:{ctx.line}", 0, len(raw))) if taints else Data(raw)

    def finish(self, is_built: Callable[[str], str | None]) -> None:
        """Files written from test data that the build compiles, links or loads are sinks too."""
        for k, (data, where) in self.files.items():
            if not data.tainted:
                continue
            why = is_built(k)
            if why:
                self.sinks.append(Sink("output-file", f"{k} ({why})", where, data))


_VAR_REF = re.compile(r"\$\{?([A-Za-z_]\w*)|\0([A-Za-z_]\w*)\0")
_USES_CACHE: dict[int, tuple[object, frozenset[str]]] = {}


def _uses(node) -> frozenset[str]:
    """The variables a parsed node refers to (``$v``, ``${v...}``, make/cmake placeholders)."""
    hit = _USES_CACHE.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    texts: list[str] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, shell.Simple):
            texts += n.words + [v for _, v in n.assigns] + [t for _, _, t in n.redirs]
        elif isinstance(n, shell.Seq):
            stack += n.items
        elif isinstance(n, shell.AndOr):
            stack += [x for _, x in n.items]
        elif isinstance(n, shell.Pipeline):
            stack += n.cmds
        elif isinstance(n, shell.If):
            stack += [x for c, b in n.branches for x in (c, b)] + ([n.orelse] if n.orelse else [])
        elif isinstance(n, shell.Case):
            texts.append(n.word)
            stack += [b for _, b in n.arms]
        elif isinstance(n, shell.Loop):
            stack += [n.cond, n.body]
        elif isinstance(n, (shell.For, shell.Group, shell.Func)):
            texts += getattr(n, "words", None) or []
            stack.append(n.body)
    names = frozenset(a or b for a, b in _VAR_REF.findall(" ".join(texts)))
    if len(_USES_CACHE) > 4096:
        _USES_CACHE.clear()
    _USES_CACHE[id(node)] = (node, names)
    return names


def _lines(raw: bytes) -> list[bytes]:
    """Lines as the text tools see them: split after each newline only (not at CR)."""
    return re.findall(rb"[^\n]*\n|[^\n]+\Z", raw)


def _widest(conversion: str) -> int:
    """The largest field width or precision in a printf conversion (a huge one for an absurd number)."""
    return max((int(d) if len(d) < 16 else 1 << 60 for d in re.findall(r"\d+", conversion)), default=0)


def _merge(a: Data | None, b: Data | None) -> Data | None:
    if a is None:
        return b
    return a if b is None else join([a, b])


def _unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    raw = text.encode("latin-1", "replace")
    while i < len(raw):
        c = raw[i]
        if c == 0x5C and i + 1 < len(raw):
            nxt = raw[i + 1]
            m = re.match(rb"0?([0-7]{1,3})", raw[i + 1:i + 5])
            if nxt == ord("x") and re.match(rb"[0-9a-fA-F]{1,2}", raw[i + 2:i + 4]):
                h = re.match(rb"[0-9a-fA-F]{1,2}", raw[i + 2:i + 4]).group(0)
                out.append(int(h, 16))
                i += 2 + len(h)
                continue
            if m:
                out.append(int(m.group(1), 8) & 0xFF)
                i += 1 + len(m.group(0))
                continue
            if chr(nxt) in _ESC:
                out.append(_ESC[chr(nxt)])
                i += 2
                continue
            if nxt == ord("c"):
                break
        out.append(c)
        i += 1
    return bytes(out)


# -- filters --------------------------------------------------------------------------------------

def _split_opts(args: list[str], with_value: str) -> tuple[dict[str, str], list[str]]:
    """getopt-style: flags and option values (for letters in ``with_value``), then operands."""
    opts: dict[str, str] = {}
    ops: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            ops.extend(args[i + 1:])
            break
        if a.startswith("--") and len(a) > 2:
            k, _, v = a[2:].partition("=")
            opts["--" + k] = v
        elif a.startswith("-") and len(a) > 1 and not re.fullmatch(r"-\d+", a):
            j = 1
            while j < len(a):
                ch = a[j]
                if ch in with_value:
                    v = a[j + 1:]
                    if not v:
                        i += 1
                        v = args[i] if i < len(args) else ""
                    opts[ch] = v
                    break
                opts[ch] = ""
                j += 1
        else:
            ops.append(a)
        i += 1
    return opts, ops


def f_cat(m: Machine, name, args, taints, stdin, ctx, text):
    _, ops = _split_opts(args, "")
    return m.inputs(ops, stdin, ctx)


def f_tee(m: Machine, name, args, taints, stdin, ctx, text):
    _, ops = _split_opts(args, "")
    data = stdin.read()
    for o in ops:
        m.write_file(o, data, ctx)
    return data


def f_tr(m: Machine, name, args, taints, stdin, ctx, text):
    data = stdin.read()
    return m.step(data, tr(data.raw, [a.encode("latin-1", "replace") for a in args]), text, ctx)


def _count(v: str, what: str) -> tuple[int, bool, bool]:
    """(n, negative, plus)"""
    neg = v.startswith("-")
    plus = v.startswith("+")
    return number(v.lstrip("+-"), what), neg, plus


def _obsolete_count(args: list[str], pattern: str) -> list[str]:
    """``head -20`` / ``tail +3``: the old count syntax, only where an option may stand."""
    out = []
    for k, a in enumerate(args):
        prev = args[k - 1] if k else ""
        out.append("-n" + (a if a.startswith("+") else a[1:]) if re.fullmatch(pattern, a) and prev not in ("-c", "-n") else a)
    return out


def f_head(m: Machine, name, args, taints, stdin, ctx, text):
    args = _obsolete_count(args, r"-\d+")
    args = [a.replace("--bytes=", "-c").replace("--lines=", "-n") if a.startswith("--") else a for a in args]
    opts, ops = _split_opts(args, "cn")
    src = Stream(m.inputs(ops, stdin, ctx)) if ops else stdin
    if "c" in opts:
        n, neg, _ = _count(opts["c"], "head -c")
        if neg:
            data = src.read()
            return m.step(data, data.raw[:max(0, len(data.raw) - n)], text, ctx)
        start = src.pos
        data = src.read(n)
        return m.step(data, data.raw, text, ctx, f"bytes {start}-{start + len(data.raw)} of its input")
    n, neg, _ = _count(opts.get("n", "10"), "head -n")
    if neg:
        data = src.read()
        lines = _lines(data.raw)
        return m.step(data, b"".join(lines[:max(0, len(lines) - n)]), text, ctx)
    data = src.read_lines(n)
    return m.step(data, data.raw, text, ctx)


def f_tail(m: Machine, name, args, taints, stdin, ctx, text):
    args = _obsolete_count(args, r"[-+]\d+")
    args = [a.replace("--bytes=", "-c").replace("--lines=", "-n") if a.startswith("--") else a for a in args]
    opts, ops = _split_opts(args, "cn")
    data = m.inputs(ops, stdin, ctx)
    raw = data.raw
    if "c" in opts:
        n, _, plus = _count(opts["c"], "tail -c")
        out = raw[max(0, n - 1):] if plus else (raw[-n:] if n else b"")
    else:
        n, _, plus = _count(opts.get("n", "10"), "tail -n")
        lines = _lines(raw)
        out = b"".join(lines[max(0, n - 1):] if plus else (lines[-n:] if n else []))
    return m.step(data, out, text, ctx)


def f_dd(m: Machine, name, args, taints, stdin, ctx, text):
    kv = {}
    for a in args:
        if "=" not in a:
            raise Stop(f"dd: operand {a!r}")
        k, v = a.split("=", 1)
        kv[k] = v
    ibs = obs = 512
    if "bs" in kv:
        ibs = obs = number(kv["bs"], "dd bs")
    ibs = number(kv["ibs"], "dd ibs") if "ibs" in kv else ibs
    obs = number(kv["obs"], "dd obs") if "obs" in kv else obs
    iflags = set(kv.get("iflag", "").split(",")) - {""}
    conv = set(kv.get("conv", "").split(",")) - {""}
    skip = number(kv.get("skip", kv.get("iseek", "0")), "dd skip")
    skip = skip if "skip_bytes" in iflags else skip * ibs
    count = number(kv["count"], "dd count") if "count" in kv else None
    if count is not None and "count_bytes" not in iflags:
        count *= ibs
    if "if" in kv:
        whole = m.read_file(kv["if"], ctx)
        data = replace(whole, raw=whole.raw[skip:skip + count if count is not None else None])
    else:
        stdin.read(skip)
        data = stdin.read(count)
    raw = data.raw
    if "swab" in conv:
        b = bytearray(raw)
        b[0:len(b) - len(b) % 2:2], b[1:len(b) - len(b) % 2:2] = raw[1:len(b) - len(b) % 2:2], raw[0:len(b) - len(b) % 2:2]
        raw = bytes(b)
    if "lcase" in conv:
        raw = raw.lower()
    if "ucase" in conv:
        raw = raw.upper()
    if "sync" in conv and ibs and len(raw) % ibs:
        raw += b"\0" * (ibs - len(raw) % ibs)
    seek = number(kv.get("seek", kv.get("oseek", "0")), "dd seek")
    seek = seek if "seek_bytes" in set(kv.get("oflag", "").split(",")) else seek * obs
    out = m.step(data, b"\0" * seek + raw, text, ctx)
    if "of" in kv and kv["of"] not in STDOUT:
        m.write_file(kv["of"], out, ctx)
        return EMPTY
    return out


def _ranges(spec: str) -> list[tuple[int, int | None]]:
    out = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d*)-(\d*)|(\d+)", part)
        if not m:
            raise Stop(f"cut: list {spec!r}")
        if m.group(3):
            out.append((int(m.group(3)), int(m.group(3))))
        else:
            out.append((int(m.group(1) or 1), int(m.group(2)) if m.group(2) else None))
    return out


def f_cut(m: Machine, name, args, taints, stdin, ctx, text):
    opts, ops = _split_opts(args, "bcfd")
    spec = opts.get("b", opts.get("c", opts.get("f")))
    if spec is None:
        raise Stop("cut: a -b, -c or -f list is needed")
    rngs = _ranges(spec)
    complement = "--complement" in opts
    delim = (opts.get("d") or "\t").encode("latin-1")[:1]
    data = m.inputs(ops, stdin, ctx)
    out = bytearray()
    for line in _lines(data.raw):
        nl = line.endswith(b"\n")
        body = line[:-1] if nl else line
        if "f" in opts:
            if delim not in body:
                out += (b"" if "s" in opts else body + b"\n")
                continue
            fields = body.split(delim)
            keep = [any(a <= i + 1 <= (b if b is not None else len(fields)) for a, b in rngs) != complement
                    for i in range(len(fields))]
            out += delim.join(f for f, k in zip(fields, keep) if k) + b"\n"
        else:
            keep = [any(a <= i + 1 <= (b if b is not None else len(body)) for a, b in rngs) != complement
                    for i in range(len(body))]
            out += bytes(c for c, k in zip(body, keep) if k) + b"\n"
        m.budget.tick()
    return m.step(data, bytes(out), text, ctx)


def f_rev(m: Machine, name, args, taints, stdin, ctx, text):
    _, ops = _split_opts(args, "")
    data = m.inputs(ops, stdin, ctx)
    out = b"".join(ln[:-1][::-1] + b"\n" if ln.endswith(b"\n") else ln[::-1]
                   for ln in _lines(data.raw))
    return m.step(data, out, text, ctx)


def f_sort(m: Machine, name, args, taints, stdin, ctx, text):
    opts, ops = _split_opts(args, "ktSoT")
    if set(opts) - set("urnVsfh"):
        raise Stop(f"sort -{''.join(opts)} is not supported")
    data = m.inputs(ops, stdin, ctx)
    lines = [ln if ln.endswith(b"\n") else ln + b"\n" for ln in _lines(data.raw)]
    if "n" in opts:
        key = (lambda ln: float(re.match(rb"\s*(-?\d*\.?\d*)", ln).group(1) or 0))  # type: ignore[union-attr]
        lines.sort(key=key)
    else:
        lines.sort(key=(lambda ln: ln.lower()) if "f" in opts else None)
    if "u" in opts:
        lines = list(dict.fromkeys(lines))
    if "r" in opts:
        lines.reverse()
    return m.step(data, b"".join(lines), text, ctx) if data.tainted else Data(b"".join(lines))


def f_ls(m: Machine, name, args, taints, stdin, ctx, text):
    """The names ``ls`` prints for files and directories of the tree (one a line, sorted)."""
    _, ops = _split_opts(args, "")
    names: list[str] = []
    for op in ops or ["."]:
        if m.fs.read(op) is not None:
            names.append(op)
        else:
            names += [posixpath.basename(p) for p in m.fs.glob(op.rstrip("/") + "/*")]
    return Data("".join(n + "\n" for n in sorted(names)).encode("latin-1", "replace"))


def f_base(m: Machine, name, args, taints, stdin, ctx, text):
    opts, ops = _split_opts(args, "w")
    data = m.inputs(ops, stdin, ctx)
    kind = "32" if name == "base32" or "--base32" in opts else "64"
    if name == "basenc" and not ("--base64" in opts or "--base32" in opts):
        raise Stop("basenc: only --base64/--base32")
    if "d" in opts or "D" in opts or "--decode" in opts:
        raw = data.raw
        if "i" in opts or "--ignore-garbage" in opts:
            alphabet = rb"A-Za-z0-9+/=" if kind == "64" else rb"A-Z2-7="
            raw = re.sub(rb"[^" + alphabet + rb"]", b"", raw)
        raw = re.sub(rb"\s", b"", raw)
        try:
            out = base64.b64decode(raw, validate=False) if kind == "64" else base64.b32decode(raw)
        except (binascii.Error, ValueError) as exc:
            raise Stop(f"{name} -d: invalid input ({exc})") from None
        return m.step(data, out, text, ctx)
    out = base64.b64encode(data.raw) if kind == "64" else base64.b32encode(data.raw)
    wrap = int(opts.get("w", "76") or 76)
    if wrap:
        out = b"\n".join(out[i:i + wrap] for i in range(0, len(out), wrap))
    return m.step(data, out + b"\n", text, ctx)


def f_xxd(m: Machine, name, args, taints, stdin, ctx, text):
    opts, ops = _split_opts(args, "cglos")
    plain = "p" in opts or "ps" in opts or "--plain" in opts or "--postscript" in opts
    data = m.inputs(ops[:1], stdin, ctx)
    if "r" in opts or "--revert" in opts:
        if plain:
            hexdigits = re.sub(rb"[^0-9a-fA-F]", b"", data.raw)
            return m.step(data, binascii.unhexlify(hexdigits[:len(hexdigits) // 2 * 2]), text, ctx)
        out = bytearray()
        for line in data.raw.splitlines():
            mm = re.match(rb"\s*([0-9a-fA-F]+):\s?(.*)", line)
            if not mm:
                continue
            off = int(mm.group(1), 16)
            hexpart = mm.group(2).split(b"  ")[0]
            digits = re.sub(rb"[^0-9a-fA-F]", b"", hexpart)
            chunk = binascii.unhexlify(digits[:len(digits) // 2 * 2])
            if off > len(out) + (64 << 20):
                raise Stop("xxd -r: offset jump too large")
            if off > len(out):
                out += b"\0" * (off - len(out))
            out[off:off + len(chunk)] = chunk
            m.budget.tick()
        return m.step(data, bytes(out), text, ctx)
    if plain:
        h = data.raw.hex().encode()
        return m.step(data, b"\n".join(h[i:i + 60] for i in range(0, len(h), 60)) + b"\n", text, ctx)
    lines = []
    for off in range(0, len(data.raw), 16):
        chunk = data.raw[off:off + 16]
        hx = " ".join(chunk[i:i + 2].hex() for i in range(0, len(chunk), 2))
        asc = "".join(chr(c) if 32 <= c < 127 else "." for c in chunk)
        lines.append(f"{off:08x}: {hx:<39}  {asc}")
    return m.step(data, ("\n".join(lines) + "\n").encode(), text, ctx)


def f_od(m: Machine, name, args, taints, stdin, ctx, text):
    opts, ops = _split_opts(args, "Atwjn")
    fmt = opts.get("t", "o2" if "b" not in opts else "o1")
    if "b" in opts:
        fmt = "o1"
    if fmt in ("x1", "xC"):
        conv = "{:02x}"
    elif fmt in ("o1", "oC"):
        conv = "{:03o}"
    elif fmt in ("u1", "uC", "d1"):
        conv = "{:3d}"
    else:
        raise Stop(f"od -t {fmt}: only single-byte types are emulated")
    data = m.inputs(ops, stdin, ctx)
    raw = data.raw
    skip = number(opts["j"], "od -j") if "j" in opts else 0
    raw = raw[skip:]
    if "N" in opts:
        raw = raw[:number(opts["N"], "od -N")]
    width = int(opts.get("w", "16") or 16)
    addr = opts.get("A", "o")
    lines = []
    for off in range(0, len(raw), width):
        vals = " ".join(conv.format(b - 256 if fmt == "d1" and b > 127 else b) for b in raw[off:off + width])
        prefix = "" if addr == "n" else ({"x": "{:06x}", "d": "{:07d}"}.get(addr, "{:07o}")).format(off + skip)
        lines.append(f"{prefix} {vals}")
    return m.step(data, ("\n".join(lines) + "\n").encode(), text, ctx)


def f_uudecode(m: Machine, name, args, taints, stdin, ctx, text):
    opts, ops = _split_opts(args, "o")
    data = m.inputs(ops, stdin, ctx)
    mm = re.search(rb"(?m)^begin(-base64)? [0-7]{3,4} ([^\r\n]+)\r?\n", data.raw)
    if not mm:
        raise Stop("uudecode: no begin line")
    res = dec.decode("uu", data.raw[mm.start():], dec.Budget(max_output=m.budget.max_bytes,
                                                              max_total=m.budget.max_bytes).start())
    out = m.step(data, res.output if res else b"", text, ctx, None if res and res.ok else "incomplete uuencoded data")
    target = opts.get("o") or mm.group(2).decode("latin-1").strip()
    if target in ("-", "/dev/stdout"):
        return out
    m.write_file(target, out, ctx)
    return EMPTY


def codec(m: Machine, name, args, taints, stdin, ctx, text):
    fmt = DECOMPRESSORS[name]
    opts, ops = _split_opts(args, "FSTM" if fmt in ("xz", "lzma") else "S")
    decompress = (name.startswith("un") or name.endswith("cat") or "d" in opts or "--decompress" in opts
                  or "--uncompress" in opts or name == "zcat")
    form = opts.get("F") or opts.get("--format") or ""
    if fmt == "lzma" and form in ("", "auto"):
        form = "lzma"
    if "t" in opts or "l" in opts or "--test" in opts or "--list" in opts:
        m.inputs(ops, stdin, ctx)
        return EMPTY
    data = m.inputs(ops, stdin, ctx)
    if not decompress:
        if fmt == "gzip":
            out = zlib.compressobj(9, zlib.DEFLATED, 31)
            raw = out.compress(data.raw) + out.flush()
        elif fmt in ("xz", "lzma"):
            raw = lzma.compress(data.raw, format=lzma.FORMAT_ALONE if form == "lzma" else lzma.FORMAT_XZ)
        elif fmt == "bzip2":
            raw = bz2.compress(data.raw)
        else:
            raise Stop(f"{name}: compression is not emulated")
        return m.step(data, raw, text, ctx)
    budget = dec.Budget(max_output=m.budget.max_bytes, max_total=m.budget.max_bytes,
                        seconds=max(0.5, m.budget.deadline - time.process_time())).start()
    note = None
    if form == "raw" or "--lzma1" in opts or "--lzma2" in opts:
        filt = _raw_filter(opts)
        try:
            d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
            raw = d.decompress(data.raw, max_length=m.budget.max_bytes)
        except lzma.LZMAError as exc:
            raise Stop(f"{name}: raw decoding failed ({exc})") from None
        return m.step(data, raw, text, ctx)
    kind = {"xz": "xz", "lzma": "lzma", "alone": "lzma", "lzip": "lzip", "gzip": "gzip"}.get(form, fmt)
    if fmt == "xz" and form in ("", "auto"):
        kind = "xz" if data.raw.startswith(b"\xfd7zXZ") else "lzma" if data.raw[:1] and data.raw[0] <= 224 and \
            not data.raw.startswith(b"\xfd") else "xz"
        if data.raw.startswith((b"\x1f\x8b", b"LZIP")):
            kind = "gzip" if data.raw.startswith(b"\x1f\x8b") else "lzip"
    src = data.raw
    if "--single-stream" in opts and kind == "xz":
        d = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        try:
            raw = d.decompress(src, max_length=m.budget.max_bytes)
        except lzma.LZMAError as exc:
            raise Stop(f"{name} --single-stream: {exc}") from None
        return m.step(data, raw, text, ctx, "first stream only")
    res = dec.decode(kind, src, budget)
    if res is None:
        raise Stop(f"{name}: no decoder for {kind}")
    if not res.ok:
        note = f"decoder error after {len(res.output)} bytes: {res.error}"
        if not res.output:
            raise Stop(f"{name} -d: {res.error}")
    if res.truncated:
        raise BudgetExceeded(f"{name} -d output exceeds the byte budget")
    return m.step(data, res.output, text, ctx, note)


def _raw_filter(opts: dict) -> dict:
    spec = opts.get("--lzma1") or opts.get("--lzma2") or ""
    fid = lzma.FILTER_LZMA2 if "--lzma2" in opts else lzma.FILTER_LZMA1
    filt = {"id": fid, "dict_size": 8 << 20}
    for part in filter(None, spec.split(",")):
        k, _, v = part.partition("=")
        if k == "preset":
            continue
        if k in ("dict",):
            filt["dict_size"] = number(v.replace("MiB", "M").replace("KiB", "K"), "lzma dict")
        elif k in ("lc", "lp", "pb"):
            filt[k] = int(v)
    return filt


_POSIX_CLASSES = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
                  "space": r" \t\n\r\f\v", "blank": r" \t", "punct": r"!-/:-@\[-`{-~", "xdigit": "0-9A-Fa-f",
                  "print": r" -~", "graph": r"!-~", "cntrl": r"\x00-\x1f\x7f"}


def sed_regex(pattern: str, extended: bool) -> str:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "^":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            while j < len(pattern) and pattern[j] != "]":
                if pattern.startswith("[:", j):
                    j = pattern.find(":]", j) + 2
                    continue
                j += 1
            body = pattern[i + 1:j]
            body = re.sub(r"\[:(\w+):\]", lambda mm: _POSIX_CLASSES.get(mm.group(1), ""), body)
            body = body.replace("\\", "\\\\") if not extended else body
            out.append("[" + body + "]")
            i = j + 1
            continue
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            if not extended and n in "(){}|+?":
                out.append(n)
            elif n == "n":
                out.append("\n")
            elif n == "t":
                out.append("\t")
            else:
                out.append("\\" + n)
            i += 2
            continue
        if not extended and c in "(){}|+?":
            out.append("\\" + c)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _sed_parse(script: str, extended: bool) -> list:
    cmds, i, n = [], 0, len(script)

    def addr(j):
        if j < n and script[j].isdigit():
            mm = re.match(r"\d+", script[j:])
            return ("line", int(mm.group(0))), j + mm.end()
        if j < n and script[j] == "$":
            return ("last",), j + 1
        if j < n and (script[j] == "/" or script[j] == "\\"):
            delim = script[j + 1] if script[j] == "\\" else "/"
            j += 2 if script[j] == "\\" else 1
            k = j
            while k < n and script[k] != delim:
                k += 2 if script[k] == "\\" else 1
            return ("re", re.compile(sed_regex(script[j:k], extended), re.S)), k + 1
        return None, j

    while i < n:
        while i < n and script[i] in " \t\n;":
            i += 1
        if i >= n:
            break
        a1, i = addr(i)
        a2 = None
        if a1 and i < n and script[i] == ",":
            a2, i = addr(i + 1)
        neg = False
        while i < n and script[i] in " !":
            neg = neg or script[i] == "!"
            i += 1
        if i >= n:
            raise Stop("sed: missing command")
        c = script[i]
        if c in "s y":
            delim = script[i + 1]
            parts, k = [], i + 2
            for _ in range(2):
                start = k
                while k < n and script[k] != delim:
                    k += 2 if script[k] == "\\" else 1
                parts.append(script[start:k])
                k += 1
            mm = re.match(r"[gpIi0-9]*", script[k:])
            flags = mm.group(0)
            i = k + len(flags)
            if c == "s":
                rep = re.sub(r"\\(\d)", r"\\g<\1>", parts[1].replace("\\n", "\n"))
                rep = re.sub(r"(?<!\\)&", r"\\g<0>", rep).replace("\\&", "&")
                rx = re.compile(sed_regex(parts[0], extended), re.I if "I" in flags or "i" in flags else 0)
                count = 0 if "g" in flags else int(re.sub(r"\D", "", flags) or 1)
                cmds.append((a1, a2, neg, "s", (rx, rep, count, "g" in flags, "p" in flags)))
            else:
                src, dst = _unescape(parts[0]), _unescape(parts[1])
                if len(src) != len(dst):
                    raise Stop("sed y: sets differ in length")
                cmds.append((a1, a2, neg, "y", bytes.maketrans(src, dst)))
        elif c in "dpq=":
            cmds.append((a1, a2, neg, c, None))
            i += 1
        elif c in "rw":
            nl = script.find("\n", i)
            i = n if nl < 0 else nl
            cmds.append((a1, a2, neg, "nop", None))
        else:
            raise Stop(f"sed command {c!r} is outside the emulated subset (s, y, d, p, q, line/regex ranges)")
    return cmds


def f_sed(m: Machine, name, args, taints, stdin, ctx, text):
    opts, ops = {}, []
    scripts_: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-e", "--expression"):
            scripts_.append(args[i + 1] if i + 1 < len(args) else "")
            i += 2
            continue
        if a.startswith("--expression="):
            scripts_.append(a.split("=", 1)[1])
        elif a.startswith("-") and len(a) > 1 and not a.startswith("--"):
            if "i" in a:
                raise Stop("sed -i edits files in place")
            if "f" in a:
                raise Stop("sed -f reads its script from a file")
            opts.update({ch: "" for ch in a[1:]})
        elif a.startswith("--"):
            opts[a] = ""
        else:
            ops.append(a)
        i += 1
    if not scripts_:
        if not ops:
            raise Stop("sed without a script")
        scripts_.append(ops.pop(0))
    ext = "E" in opts or "r" in opts or "--regexp-extended" in opts
    cmds = _sed_parse("\n".join(scripts_), ext)
    quiet = "n" in opts or "--quiet" in opts
    data = m.inputs(ops, stdin, ctx)
    lines = data.raw.decode("latin-1").split("\n")
    trailing_nl = data.raw.endswith(b"\n")
    if trailing_nl:
        lines.pop()
    out: list[str] = []
    active: dict[int, bool] = {}
    last_printed_final = False

    def match(a, ln, k, last):
        if a[0] == "line":
            return k == a[1]
        if a[0] == "last":
            return last
        return a[1].search(ln) is not None

    for k, ln in enumerate(lines, 1):
        m.budget.tick()
        last = k == len(lines)
        deleted = quit_ = False
        before = len(out)
        for idx, (a1, a2, neg, c, arg) in enumerate(cmds):
            if a1 is None:
                sel = True
            elif a2 is None:
                sel = match(a1, ln, k, last)
            else:
                if active.get(idx):
                    sel = True
                    if (a2[0] == "line" and k >= a2[1]) or (a2[0] != "line" and match(a2, ln, k, last)):
                        active[idx] = False
                elif match(a1, ln, k, last):
                    sel = True
                    active[idx] = not (a2[0] == "line" and k >= a2[1])
                else:
                    sel = False
            if sel == neg:
                continue
            if c == "s":
                rx, rep, count, g, p = arg
                new, nsub = rx.subn(rep, ln, count=0 if g else 1) if count <= 1 else _nth_sub(rx, rep, ln, count)
                ln = new
                if p and nsub:
                    out.append(ln)
            elif c == "y":
                ln = ln.encode("latin-1").translate(arg).decode("latin-1")
            elif c == "d":
                deleted = True
                break
            elif c == "p":
                out.append(ln)
            elif c == "q":
                quit_ = True
                break
            elif c == "=":
                out.append(str(k))
        if not deleted and not quiet:
            out.append(ln)
        if len(out) > before:
            last_printed_final = last
        if quit_:
            break
    raw = "\n".join(out).encode("latin-1", "replace")
    if out and (trailing_nl or not last_printed_final):
        raw += b"\n"
    return m.step(data, raw, text, ctx)


def _nth_sub(rx, rep, ln, nth):
    hits = list(rx.finditer(ln))
    if len(hits) < nth:
        return ln, 0
    h = hits[nth - 1]
    return ln[:h.start()] + h.expand(rep) + ln[h.end():], 1


def f_openssl(m: Machine, name, args, taints, stdin, ctx, text):
    if args and args[0] in ("base64", "enc"):
        rest = args[1:]
        infile = next((rest[k + 1] for k, a in enumerate(rest[:-1]) if a == "-in"), None)
        data = m.read_file(infile, ctx) if infile else stdin.read()
        if args[0] == "enc" and any(re.fullmatch(r"-(?:aes|des|bf|camellia|chacha|sm4|aria)\S*", a) for a in rest):
            if "-d" not in rest:
                raise Stop("openssl enc: encryption is not emulated")
            return _openssl_decrypt(m, rest, data, ctx, text)
        if "-d" in rest:
            return m.step(data, base64.b64decode(re.sub(rb"\s", b"", data.raw)), text, ctx)
        return m.step(data, base64.b64encode(data.raw) + b"\n", text, ctx)
    raise Stop("openssl: only base64 is emulated")


def f_tar(m: Machine, name, args, taints, stdin, ctx, text):
    """``tar -xOf ARCHIVE [MEMBER...]`` (also ``-O -xf``, ``xOf``, ``-z``/``-J``/``-j``): members to
    standard output, in archive order."""
    import io
    import tarfile
    bundled = bool(args) and re.fullmatch(r"[a-zA-Z]+", args[0]) is not None     # tar xOf ...
    flags = "".join(a.lstrip("-") for k, a in enumerate(args) if a.startswith("-") or (k == 0 and bundled))
    if "x" not in flags or "O" not in flags and "--to-stdout" not in args:
        raise Stop("tar: only extraction to standard output (-xO) is emulated")
    ops = [a for k, a in enumerate(args) if not a.startswith("-") and not (k == 0 and bundled)]
    archive = ops[0] if "f" in flags and ops else "-"
    data = m.read_file(archive, ctx) if archive != "-" else stdin.read()
    members = set(ops[1:])
    out = bytearray()
    try:
        with tarfile.open(fileobj=io.BytesIO(data.raw), mode="r:*") as tf:
            for info in tf:
                m.budget.tick()
                if info.isfile() and (not members or info.name in members or info.name.lstrip("./") in members):
                    m.budget.check_size(len(out) + info.size)
                    out += tf.extractfile(info).read()   # type: ignore[union-attr]
    except tarfile.TarError as exc:
        raise Stop(f"tar: {exc}") from None
    return m.step(data, bytes(out), text, ctx)


def f_unzip(m: Machine, name, args, taints, stdin, ctx, text):
    """``unzip -p ARCHIVE [MEMBER...]``: members to standard output."""
    import io
    import zipfile
    opts, ops = _split_opts(args, "dPx")
    if "p" not in opts and "c" not in opts:
        raise Stop("unzip: only -p/-c (to standard output) is emulated")
    if not ops:
        raise Stop("unzip without an archive")
    data = m.read_file(ops[0], ctx)
    out = bytearray()
    try:
        with zipfile.ZipFile(io.BytesIO(data.raw)) as zf:
            for info in zf.infolist():
                m.budget.tick()
                if not info.is_dir() and (len(ops) == 1 or info.filename in ops[1:]):
                    m.budget.check_size(len(out) + info.file_size)
                    out += zf.read(info)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:   # bad archive, method, encryption
        raise Stop(f"unzip: {exc}") from None
    return m.step(data, bytes(out), text, ctx)


def _evp_bytes_to_key(password: bytes, salt: bytes, key_len: int, iv_len: int, md: str) -> tuple[bytes, bytes]:
    out, block = b"", b""
    while len(out) < key_len + iv_len:
        block = hashlib.new(md, block + password + salt).digest()
        out += block
    return out[:key_len], out[key_len:key_len + iv_len]


def _openssl_decrypt(m: Machine, rest: list[str], data: Data, ctx: Ctx, text: str) -> Data:
    """``openssl enc -d -aes-{128,192,256}-{cbc,ctr,ecb}`` with ``-K``/``-iv`` or a literal password."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    cipher = next((a[1:] for a in rest if re.fullmatch(r"-aes-(?:128|192|256)-(?:cbc|ctr|ecb)", a)), None)
    if cipher is None:
        raise Stop(f"openssl enc: cipher {next((a for a in rest if a.startswith('-aes') or a.startswith('-des')), '?')}"
                   " is not emulated")
    bits, mode = int(cipher.split("-")[1]), cipher.split("-")[2]
    opt = {rest[k]: rest[k + 1] for k in range(len(rest) - 1) if rest[k] in ("-K", "-iv", "-k", "-pass", "-md", "-iter")}
    raw = data.raw
    if "-a" in rest or "-base64" in rest or "-A" in rest:
        raw = base64.b64decode(re.sub(rb"\s", b"", raw))
    if "-K" in opt:
        key, iv = bytes.fromhex(opt["-K"]), bytes.fromhex(opt.get("-iv", "00" * 16).ljust(32, "0"))
    else:
        password = opt.get("-k") or (opt.get("-pass", "")[5:] if opt.get("-pass", "").startswith("pass:") else None)
        if password is None:
            raise Stop("openssl enc: the key or password is a run-time value")
        salt = raw[8:16] if raw[:8] == b"Salted__" else b""
        raw = raw[16:] if salt else raw
        md = opt.get("-md", "sha256")
        if "-pbkdf2" in rest or "-iter" in opt:
            derived = hashlib.pbkdf2_hmac(md, password.encode(), salt, int(opt.get("-iter", "10000")), bits // 8 + 16)
            key, iv = derived[:bits // 8], derived[bits // 8:]
        else:
            key, iv = _evp_bytes_to_key(password.encode(), salt, bits // 8, 16, md)
    if len(key) != bits // 8:
        raise Stop(f"openssl enc: a {len(key) * 8}-bit key for {cipher}")
    algo = algorithms.AES(key)
    dec = Cipher(algo, modes.CBC(iv) if mode == "cbc" else modes.CTR(iv) if mode == "ctr" else modes.ECB()).decryptor()
    out = dec.update(raw) + dec.finalize()
    if mode != "ctr" and "-nopad" not in rest:
        unpad = padding.PKCS7(128).unpadder()
        out = unpad.update(out) + unpad.finalize()
    return m.step(data, out, text, ctx, f"{cipher} decryption with the key the command names")


def f_interp(m: Machine, name, args, taints, stdin, ctx, text):
    from . import oneliners
    return oneliners.run(m, name, args, stdin, ctx, text)


FILTERS: dict[str, Callable] = {
    "cat": f_cat, "tee": f_tee, "tr": f_tr, "head": f_head, "tail": f_tail, "dd": f_dd, "cut": f_cut, "rev": f_rev,
    "base64": f_base, "base32": f_base, "basenc": f_base, "xxd": f_xxd, "od": f_od, "uudecode": f_uudecode,
    "sed": f_sed, "gsed": f_sed, "openssl": f_openssl, "sort": f_sort, "ls": f_ls, "tar": f_tar, "bsdtar": f_tar,
    "unzip": f_unzip,
}
for _n in ("python", "python2", "python3", "perl", "awk", "gawk", "mawk", "nawk", "busybox-awk", "node", "nodejs"):
    FILTERS[_n] = f_interp
def python_name(name: str) -> bool:
    return bool(re.fullmatch(r"python[0-9.]*", name))


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def globmatch(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)
