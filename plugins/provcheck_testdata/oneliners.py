"""Python, Perl, awk and Node programs in a pipeline, emulated without running them.

* Python (``python3 -c PROG`` and ``python3 helper.py``): an interpreter over the program's AST
  for a safe subset — literals, names, arithmetic and bit operations, slicing, comprehensions,
  ``for``/``while``/``if``, simple functions and lambdas, ``open`` (tree files read, written ones
  kept in the emulator), ``sys.stdin.buffer``/``sys.stdout.buffer``/``sys.argv``, and pure library
  calls (``base64``, ``binascii``, ``zlib``, ``gzip``, ``lzma``, ``bz2``, ``codecs`` rot13,
  ``itertools.cycle``, ``bytes.translate``/``maketrans``). ``exec``/``eval``, ``os.system`` and
  ``subprocess`` with a shell are sinks. Anything else stops the emulation with the reason.
* Perl, awk and Node: the transformations their programs state — ``tr///``/``y///``,
  ``chr(ord($1) ^ N)``, ``$_ ^ (KEY x length)``, ``unpack("u")``/``pack("H*")``/``decode_base64``;
  awk ``xor(c, N)`` and line ranges; Node ``b ^ N``/``b ^ key[i % key.length]``,
  ``Buffer.from(s, 'base64'|'hex')``, ``zlib.*Sync`` — applied in the order they appear.
"""

from __future__ import annotations

import ast
import base64
import binascii
import bz2
import codecs
import gzip
import itertools
import lzma
import operator
import posixpath
import re
import zlib
from typing import Any

from .emulate import EMPTY, BudgetExceeded, Ctx, Data, Machine, Sink, Step, Stop, Stream, join, _split_opts, tr

# -- arithmetic (shell $((...))) ------------------------------------------------------------------

_ARITH_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
              ast.Mod: operator.mod, ast.BitXor: operator.xor, ast.BitAnd: operator.and_, ast.BitOr: operator.or_,
              ast.LShift: operator.lshift, ast.RShift: operator.rshift}


def safe_arith(text: str) -> int:
    def ev(n):
        if isinstance(n, ast.Expression):
            return ev(n.body)
        if isinstance(n, ast.Constant) and isinstance(n.value, int):
            return n.value
        if isinstance(n, ast.BinOp) and type(n.op) in _ARITH_OPS:
            a, b = ev(n.left), ev(n.right)
            if isinstance(n.op, ast.LShift) and b > 64:
                raise ValueError("shift too large")
            return _ARITH_OPS[type(n.op)](a, b)
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd, ast.Invert)):
            v = ev(n.operand)
            return -v if isinstance(n.op, ast.USub) else ~v if isinstance(n.op, ast.Invert) else v
        raise ValueError("unsupported arithmetic")
    return ev(ast.parse(text.strip() or "0", mode="eval"))


# -- dispatch ---------------------------------------------------------------------------------------

def run(m: Machine, name: str, args: list[str], stdin: Stream, ctx: Ctx, text: str) -> Data:
    if name.startswith("python"):
        return run_python_cmd(m, args, stdin, ctx, text)
    if name == "perl":
        return run_perl(m, args, stdin, ctx, text)
    if name in ("node", "nodejs"):
        return run_node(m, args, stdin, ctx, text)
    return run_awk(m, args, stdin, ctx, text)


def run_python_cmd(m: Machine, args, stdin: Stream, ctx: Ctx, text: str) -> Data:
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] not in ("-c", "-m", "-"):
        i += 1
    if i < len(args) and args[i] == "-c":
        code, argv = (args[i + 1] if i + 1 < len(args) else ""), ["-c"] + args[i + 2:]
    elif i < len(args) and args[i] == "-m":
        raise Stop(f"python -m {args[i + 1] if i + 1 < len(args) else ''}: modules are not emulated")
    elif i < len(args) and args[i] != "-":
        found = m.fs.read(args[i])
        if found is None:
            raise Stop(f"python script {args[i]} is not in the tree")
        code, argv = found[1].decode("utf-8", "replace"), args[i:]
    else:   # the program is standard input: test data run as a program is a sink, a here-document is emulated
        program = stdin.read()
        if program.tainted:
            m.sinks.append(Sink("shell", "python (program on standard input)", f"{ctx.where}:{ctx.line}", program))
            return EMPTY
        code, argv = program.raw.decode("utf-8", "replace"), ["-"] + args[i + 1:]
        stdin = Stream()
    return PyEmu(m, ctx, text, argv, stdin).run(code)


# -- Python ---------------------------------------------------------------------------------------

MAX_INT_BITS = 1 << 16
_SIZED = frozenset({"to_bytes", "ljust", "rjust", "zfill", "center", "bytes", "bytearray", "repeat", "expandtabs"})


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exit(Exception):
    pass


class _Mod:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"<module {self.name}>"


class _Fn:
    """A callable the emulated program may use: a pure function, or a hook into the emulator."""

    def __init__(self, name: str, fn):
        self.name, self.fn = name, fn

    def __call__(self, *a, **k):
        return self.fn(*a, **k)


class _Decompressor:
    """``zlib.decompressobj()``, with its output bounded by the byte budget."""

    def __init__(self, d, limit: int):
        self.d, self.limit, self.total = d, limit, 0

    def decompress(self, data, max_length: int = 0):
        out = self.d.decompress(data, max_length or self.limit - self.total + 1)
        self.total += len(out)
        if self.total > self.limit:
            raise BudgetExceeded("python zlib output exceeds the byte budget")
        return out

    def flush(self, *a):
        return self.d.flush()


class _File:
    def __init__(self, emu: "PyEmu", word: str | None, mode: str, data: Data | None = None, stream=None):
        self.emu, self.word, self.mode = emu, word, mode
        self.data = data
        self.stream = stream
        self.pos = 0
        self.buf: list = []
        self.binary = "b" in mode

    def read(self, n: int = -1):
        if self.stream is not None:
            d = self.stream.read(None if n is None or n < 0 else n)
            self.emu.sources.append(d)
            raw = d.raw
        else:
            raw = self.data.raw[self.pos:] if n is None or n < 0 else self.data.raw[self.pos:self.pos + n]
            self.pos += len(raw)
        return raw if self.binary else raw.decode("utf-8", "surrogateescape")

    def readlines(self):
        r = self.read()
        return r.splitlines(keepends=True)

    def write(self, value):
        raw = value if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8", "surrogateescape")
        self.emu.m.budget.check_size(sum(len(b) for b in self.buf) + len(raw))
        self.buf.append(bytes(raw))
        return len(raw)

    def flush(self):
        return None

    def close(self):
        if self.word is not None and ("w" in self.mode or "a" in self.mode):
            self.emu.written[self.word] = b"".join(self.buf)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __iter__(self):
        return iter(self.readlines())


_SAFE_METHODS = frozenset({
    "decode", "encode", "translate", "maketrans", "join", "split", "rsplit", "strip", "lstrip", "rstrip",
    "replace", "hex", "fromhex", "startswith", "endswith", "find", "rfind", "index", "count", "append", "extend",
    "reverse", "upper", "lower", "splitlines", "to_bytes", "from_bytes", "items", "keys", "values", "get", "pop",
    "read", "write", "close", "readlines", "flush", "insert", "copy", "zfill", "ljust", "rjust", "isdigit",
    "partition", "rpartition", "format", "setdefault", "update", "add", "sort", "swapcase", "removeprefix",
    "removesuffix",
})

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.LShift: operator.lshift,
        ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitXor: operator.xor, ast.BitAnd: operator.and_}
_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
        ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
        ast.Is: operator.is_, ast.IsNot: operator.is_not}


def _rot13(s, enc="rot13"):
    if str(enc).replace("_", "").lower() != "rot13":
        if isinstance(s, str) and enc in ("hex", "hex_codec", "base64", "base64_codec"):
            s = s.encode("latin-1")     # as Python's bytes-to-bytes codecs accept ASCII text
        if isinstance(s, (bytes, bytearray)):
            if enc in ("hex", "hex_codec"):
                return binascii.unhexlify(s)
            if enc in ("base64", "base64_codec"):
                return base64.b64decode(s)
            if enc in ("zlib", "zlib_codec"):
                return zlib.decompress(s)
        raise Stop(f"codecs.decode(..., {enc!r}) is not emulated")
    return codecs.decode(s, "rot13")


class PyEmu:
    def __init__(self, m: Machine, ctx: Ctx, text: str, argv: list[str], stdin: Stream):
        self.m, self.ctx, self.text = m, ctx, text
        self.stdin = stdin
        self.sources: list[Data] = []          # tainted data the program read
        self.out: list[bytes] = []
        self.written: dict[str, bytes] = {}
        stdout = _Fn("stdout.write", lambda v: self._out(v))
        self.sys = {"argv": list(argv), "stdin": _Mod("sys.stdin"), "stdout": _Mod("sys.stdout"),
                    "stderr": _Mod("sys.stderr"), "exit": _Fn("exit", self._exit), "byteorder": "little"}
        self.stdout_write = stdout
        self.env: dict[str, Any] = {"__name__": "__main__"}
        self.constructors: dict[Any, type] = {}
        self.opened: list[_File] = []
        self.sink_hits: list[tuple[str, bytes]] = []

    # -- I/O hooks ------------------------------------------------------------------------------
    def _exit(self, *a):
        raise _Exit()

    def _out(self, v):
        raw = v if isinstance(v, (bytes, bytearray)) else str(v).encode("utf-8", "surrogateescape")
        self.out.append(bytes(raw))
        self.m.budget.check_size(sum(len(b) for b in self.out))
        return len(raw)

    def _open(self, path, mode="r", *a, **k):
        word = str(path)
        if any(c in mode for c in "wax"):
            f = _File(self, word, mode)
            self.opened.append(f)      # closed at exit, as the interpreter does, if the program does not
            return f
        try:
            data = self.m.read_file(word, self.ctx)
        except LookupError:
            return _File(self, None, mode, stream=self.stdin)
        if data.tainted:
            self.sources.append(data)
        return _File(self, None, mode, data=data)

    def _print(self, *vals, sep=" ", end="\n", file=None, flush=False):
        text = sep.join(str(v) for v in vals) + end
        if file is None or file is self.sys["stdout"]:
            self._out(text)
        elif isinstance(file, _File):
            file.write(text)

    def _sink(self, kind: str, how: str, value):
        raw = value if isinstance(value, (bytes, bytearray)) else str(value).encode("utf-8", "surrogateescape")
        self.sink_hits.append((kind + ":" + how, bytes(raw)))
        return None

    def _subprocess(self, args, *a, input=None, shell=False, **k):
        argv = args if isinstance(args, (list, tuple)) else [args]
        prog = str(argv[0]).rsplit("/", 1)[-1] if argv else ""
        if shell or prog in ("sh", "bash", "dash", "zsh", "ksh"):
            if input is not None:
                self._sink("shell", f"subprocess {prog}", input)
            elif shell or "-c" in [str(x) for x in argv]:
                self._sink("shell", f"subprocess {prog} -c", str(argv[-1]) if not shell else str(args))
        elif prog in ("cc", "gcc", "clang", "ld", "as", "ar"):
            self._sink("toolchain", f"subprocess {prog}", input or b"")
        return _Mod("CompletedProcess")

    def builtins(self) -> dict[str, Any]:
        def _bytes(*a):
            if a and isinstance(a[0], int) and len(a) == 1:
                self.m.budget.check_size(a[0])
            if a and not isinstance(a[0], (int, bytes, bytearray, str, list, tuple)):
                vals = []
                for v in a[0]:
                    self.m.budget.tick()
                    vals.append(v)
                return bytes(vals)
            return bytes(*a)

        def _bytearray(*a):
            if a and isinstance(a[0], int):
                self.m.budget.check_size(a[0])
            return bytearray(*a)
        self.constructors = {_bytes: bytes, _bytearray: bytearray}
        b = {
            "bytes": _bytes, "bytearray": _bytearray, "len": len, "range": range, "enumerate": enumerate,
            "zip": zip, "ord": ord, "chr": chr, "int": int, "str": str, "list": list, "tuple": tuple, "dict": dict,
            "set": set, "map": map, "filter": filter, "min": min, "max": max, "sum": sum, "abs": abs, "hex": hex,
            "reversed": reversed, "sorted": sorted, "any": any, "all": all, "bool": bool, "iter": iter, "next": next,
            "isinstance": isinstance, "divmod": divmod, "True": True, "False": False, "None": None,
            "open": _Fn("open", self._open), "print": _Fn("print", self._print), "memoryview": bytes,
            "exec": _Fn("exec", lambda c, *a: self._sink("shell", "python exec", c)),
            "eval": _Fn("eval", lambda c, *a: self._sink("shell", "python eval", c)),
            "compile": _Fn("compile", lambda c, *a, **k: c),
            "exit": _Fn("exit", self._exit), "quit": _Fn("exit", self._exit),
            "__import__": _Fn("__import__", lambda n, *a, **k: self.module(n)),
        }
        return b

    def module(self, name: str):
        mods = {
            "sys": self.sys,
            "base64": {"b64decode": base64.b64decode, "b32decode": base64.b32decode, "b16decode": base64.b16decode,
                       "b85decode": base64.b85decode, "a85decode": base64.a85decode, "decodebytes": base64.decodebytes,
                       "urlsafe_b64decode": base64.urlsafe_b64decode, "b64encode": base64.b64encode,
                       "standard_b64decode": base64.standard_b64decode},
            "binascii": {"unhexlify": binascii.unhexlify, "a2b_hex": binascii.a2b_hex, "a2b_base64": binascii.a2b_base64,
                         "a2b_uu": binascii.a2b_uu, "hexlify": binascii.hexlify, "crc32": binascii.crc32},
            "zlib": {"decompress": self._limited(zlib.decompress), "crc32": zlib.crc32, "MAX_WBITS": zlib.MAX_WBITS,
                     "decompressobj": lambda wbits=zlib.MAX_WBITS, *a: _Decompressor(
                         zlib.decompressobj(wbits), self.m.budget.max_bytes)},
            "gzip": {"decompress": self._limited(gzip.decompress), "open": self._opener(gzip.decompress),
                     "GzipFile": _Fn("GzipFile", self._gzipfile)},
            "lzma": {"decompress": self._limited(lzma.decompress), "open": self._opener(lzma.decompress),
                     "FORMAT_ALONE": lzma.FORMAT_ALONE,
                     "FORMAT_XZ": lzma.FORMAT_XZ, "FORMAT_AUTO": lzma.FORMAT_AUTO, "FORMAT_RAW": lzma.FORMAT_RAW,
                     "FILTER_LZMA1": lzma.FILTER_LZMA1, "FILTER_LZMA2": lzma.FILTER_LZMA2},
            "bz2": {"decompress": self._limited(bz2.decompress), "open": self._opener(bz2.decompress)},
            "codecs": {"decode": _rot13, "encode": _rot13},
            "itertools": {"cycle": itertools.cycle, "islice": itertools.islice, "count": itertools.count,
                          "chain": itertools.chain, "repeat": itertools.repeat},
            "operator": {"xor": operator.xor},
            "struct": {"unpack": __import__("struct").unpack, "pack": __import__("struct").pack,
                       "unpack_from": __import__("struct").unpack_from, "calcsize": __import__("struct").calcsize},
            "os": {"system": _Fn("system", lambda c: self._sink("shell", "os.system", c)),
                   "environ": {}, "path": {"join": lambda *p: posixpath.join(*map(str, p)),
                                           "dirname": lambda p: posixpath.dirname(str(p)),
                                           "basename": lambda p: posixpath.basename(str(p)),
                                           "abspath": lambda p: p, "realpath": lambda p: p,
                                           "normpath": lambda p: posixpath.normpath(str(p)),
                                           "exists": lambda p: self.m.fs.read(str(p)) is not None},
                   "chmod": _Fn("chmod", lambda p, mode: self.m.modes.add(str(p))),
                   "execv": _Fn("execv", lambda p, a: self._sink("exec", str(p), b"")),
                   "getcwd": lambda: "."},
            "subprocess": {"run": _Fn("subprocess", self._subprocess), "call": _Fn("subprocess", self._subprocess),
                           "check_call": _Fn("subprocess", self._subprocess),
                           "check_output": _Fn("subprocess", self._subprocess),
                           "Popen": _Fn("subprocess", self._subprocess), "PIPE": -1, "DEVNULL": -3},
            "pathlib": {"Path": _Fn("Path", lambda p=".": _Path(self, str(p)))},
            "io": {"BytesIO": _Fn("BytesIO", lambda b=b"": _File(self, None, "rb", data=Data(bytes(b))))},
        }
        if name not in mods:
            return _Mod(name)      # using it stops the emulation there; importing it does not
        return mods[name]

    def _decompressed(self, source, decompress, mode: str, what: str) -> "_File":
        """A file object reading ``source`` (an open file) decompressed, its taint and step kept."""
        data = source.data if isinstance(source, _File) and source.data is not None else Data(source.read())
        raw = self._limited(decompress)(data.raw)
        step = Step(what, f"{self.ctx.where}:{self.ctx.line}", len(data.raw), len(raw))
        return _File(self, None, "r" if "t" in mode else "rb", data=data.then(raw, step))

    def _gzipfile(self, filename=None, mode="rb", compresslevel=9, fileobj=None, *a, **k):
        """``gzip.GzipFile(filename or fileobj=...)`` for reading: the decompressed bytes."""
        if any(c in str(mode) for c in "wax"):
            if filename is None:
                raise Stop("python gzip.GzipFile writing to a file object is not emulated")
            return _File(self, str(filename), str(mode))
        source = fileobj if fileobj is not None else self._open(filename, "rb")
        return self._decompressed(source, gzip.decompress, str(mode), "python gzip.GzipFile")

    def _opener(self, decompress):
        """``lzma.open(path)`` and friends, for reading: the file's bytes, decompressed."""
        def open_(path, mode="rb", *a, **k):
            if any(c in str(mode) for c in "wax"):
                return _File(self, str(path), str(mode))
            return self._decompressed(self._open(path, "rb"), decompress, str(mode),
                                      f"python {decompress.__module__}.open")
        return _Fn("open", open_)

    def _limited(self, fn):
        limit = self.m.budget.max_bytes

        def call(data, *a, **k):
            out = fn(data, *a, **k)
            if len(out) > limit:
                raise BudgetExceeded("python decompression output exceeds the byte budget")
            return out
        return call

    def tainted(self) -> bool:
        """Whether test data has reached the program (so a statement it cannot follow loses it)."""
        return bool(self.sources) or self.stdin.data.tainted

    # -- interpreter ------------------------------------------------------------------------------
    def run(self, code: str) -> Data:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError) as exc:
            raise Stop(f"python program does not parse: {exc}") from None
        self.env.update(self.builtins())
        try:
            for stmt in tree.body:     # a statement we cannot follow stops itself, not the module
                try:
                    self.stmt(stmt, self.env)
                except Stop as exc:
                    if self.tainted():
                        self.m.stops.append((f"{self.ctx.where}:{getattr(stmt, 'lineno', 0)}", str(exc)))
            if self.call_functions:
                self.call_parameterless(tree)
        except _Exit:
            pass
        except (Stop, BudgetExceeded):
            raise
        except RecursionError:
            raise Stop("python program nests too deeply") from None
        except Exception as exc:   # the program itself fails (bad input): as Python would, it stops here
            if not self.out and not self.written:
                raise Stop(f"python program raised {type(exc).__name__}: {str(exc)[:120]}") from None
        for f in self.opened:
            if f.word not in self.written:
                f.close()
        base = join(self.sources + ([self.stdin.data] if self.stdin.data.tainted and not self.sources else []))
        prog = self.text if len(self.text) < 300 else self.text[:297] + "..."
        for word, raw in self.written.items():
            self.m.write_file(word, self.m.step(base, raw, prog, self.ctx, f"written to {word}"), self.ctx)
        for what, raw in self.sink_hits:
            kind, how = what.split(":", 1)
            if base.tainted:
                self.m.sinks.append(Sink(kind, how, f"{self.ctx.where}:{self.ctx.line}",
                                         self.m.step(base, raw, prog, self.ctx)))
        return self.m.step(base, b"".join(self.out), prog, self.ctx) if base.tainted else Data(b"".join(self.out))

    call_functions = False

    def call_parameterless(self, tree) -> None:
        """A test helper's functions run when pytest or a caller invokes them: call every top-level
        function that needs no argument."""
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and len(node.args.args) == len(node.args.defaults):
                fn = self.env.get(node.name)
                if not (isinstance(fn, tuple) and fn[0] == "def"):
                    continue
                try:
                    self.call_def(fn, [], {})
                except Stop as exc:
                    if self.tainted():
                        self.m.stops.append((f"{self.ctx.where}:{node.lineno}", str(exc)))
                except (_Exit, _Break, _Continue):
                    pass
                except (BudgetExceeded, RecursionError):
                    raise
                except Exception:
                    pass

    def block(self, stmts, env):
        for s in stmts:
            self.stmt(s, env)

    def assign(self, target, value, env):
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            vals = list(value)
            if len(vals) != len(target.elts):
                raise ValueError("unpack mismatch")
            for t, v in zip(target.elts, vals):
                self.assign(t, v, env)
        elif isinstance(target, ast.Subscript):
            obj = self.expr(target.value, env)
            if not isinstance(obj, (bytearray, list, dict)):
                raise Stop("assignment to an item of an unsupported object")
            obj[self.expr(target.slice, env)] = value
        else:
            raise Stop(f"python assignment to {type(target).__name__} is not emulated")

    def stmt(self, s, env):
        self.m.budget.tick()
        if isinstance(s, ast.Expr):
            self.expr(s.value, env)
        elif isinstance(s, ast.Assign):
            v = self.expr(s.value, env)
            for t in s.targets:
                self.assign(t, v, env)
        elif isinstance(s, ast.AugAssign):
            cur = self.expr(s.target if not isinstance(s.target, ast.Name) else s.target, env)
            self.assign(s.target, self.binop(s.op, cur, self.expr(s.value, env)), env)
        elif isinstance(s, ast.AnnAssign):
            if s.value is not None:
                self.assign(s.target, self.expr(s.value, env), env)
        elif isinstance(s, (ast.Import, ast.ImportFrom)):
            for a in s.names:
                if isinstance(s, ast.ImportFrom):
                    mod = self.module(s.module or "")
                    env[a.asname or a.name] = mod[a.name] if isinstance(mod, dict) and a.name in mod \
                        else _Mod(f"{s.module}.{a.name}")
                else:
                    env[a.asname or a.name.split(".")[0]] = self.module(a.name.split(".")[0]) \
                        if "." not in a.name else self.module(a.name)
        elif isinstance(s, ast.If):
            self.block(s.body if self.expr(s.test, env) else s.orelse, env)
        elif isinstance(s, ast.For):
            it = self.expr(s.iter, env)
            try:
                for v in it:
                    self.m.budget.tick()
                    self.assign(s.target, v, env)
                    try:
                        self.block(s.body, env)
                    except _Continue:
                        continue
                else:
                    self.block(s.orelse, env)
            except _Break:
                pass
        elif isinstance(s, ast.While):
            try:
                while self.expr(s.test, env):
                    self.m.budget.tick()
                    try:
                        self.block(s.body, env)
                    except _Continue:
                        continue
            except _Break:
                pass
        elif isinstance(s, ast.With):
            for item in s.items:
                v = self.expr(item.context_expr, env)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, v, env)
            try:
                self.block(s.body, env)
            finally:
                for item in s.items:
                    if item.optional_vars is not None and isinstance(item.optional_vars, ast.Name):
                        f = env.get(item.optional_vars.id)
                        if isinstance(f, _File):
                            f.close()
        elif isinstance(s, ast.FunctionDef):
            env[s.name] = ("def", s, env)
        elif isinstance(s, ast.Return):
            raise _Return(self.expr(s.value, env) if s.value is not None else None)
        elif isinstance(s, ast.Pass):
            pass
        elif isinstance(s, ast.Break):
            raise _Break()
        elif isinstance(s, ast.Continue):
            raise _Continue()
        elif isinstance(s, ast.Try):
            try:
                self.block(s.body, env)
            except (Stop, BudgetExceeded, _Exit, _Return, _Break, _Continue):
                raise
            except Exception:
                if not s.handlers:
                    raise
                self.block(s.handlers[0].body, env)
            self.block(s.finalbody, env)
        elif isinstance(s, ast.Assert):
            pass
        else:
            raise Stop(f"python statement {type(s).__name__} is not emulated")

    def binop(self, op, a, b):
        if isinstance(op, ast.Pow) and isinstance(b, int) and b > 4096:
            raise Stop("python: exponent too large")
        if isinstance(op, (ast.Mult, ast.FloorDiv, ast.Mod, ast.Div)) and isinstance(a, int) and isinstance(b, int) \
                and a.bit_length() + b.bit_length() > MAX_INT_BITS:   # XOR/AND/OR/+ of big ints stay linear
            raise Stop("python: integer too large")
        if isinstance(op, ast.Mult) and isinstance(b, int) and isinstance(a, (bytes, bytearray, str, list)):
            self.m.budget.check_size(len(a) * b)
        if isinstance(op, ast.Mult) and isinstance(a, int) and isinstance(b, (bytes, bytearray, str, list)):
            self.m.budget.check_size(len(b) * a)
        if isinstance(op, ast.LShift) and isinstance(b, int) and b > 4096:
            raise Stop("python: shift too large")
        return _BIN[type(op)](a, b)

    def call_def(self, fn, args, kwargs):
        kind, node, closure = fn
        local = dict(closure)
        params = node.args.args
        defaults = node.args.defaults
        for k, p in enumerate(params):
            if k < len(args):
                local[p.arg] = args[k]
            elif p.arg in kwargs:
                local[p.arg] = kwargs[p.arg]
            else:
                d = len(params) - len(defaults)
                if k >= d:
                    local[p.arg] = self.expr(defaults[k - d], closure)
        self.m.budget.tick()
        if self.m.depth > 200:
            raise Stop("python recursion")
        if kind == "lambda":
            return self.expr(node.body, local)
        self.m.depth += 1
        try:
            self.block(node.body, local)
        except _Return as r:
            return r.value
        finally:
            self.m.depth -= 1
        return None

    def call(self, fn, args, kwargs):
        if isinstance(fn, tuple) and fn and fn[0] in ("def", "lambda"):
            return self.call_def(fn, args, kwargs)
        if callable(fn):
            if getattr(fn, "__name__", "") in _SIZED and any(
                    isinstance(a, int) and a > self.m.budget.max_bytes for a in list(args) + list(kwargs.values())):
                raise BudgetExceeded(f"python {fn.__name__}() asks for more than the byte budget")
            wrapped = [self._wrap(a) for a in args]
            return fn(*wrapped, **kwargs)
        raise Stop(f"python: calling {type(fn).__name__} is not emulated")

    def _wrap(self, a):
        if isinstance(a, tuple) and a and a[0] in ("def", "lambda"):
            return lambda *x, _f=a: self.call_def(_f, list(x), {})
        if not isinstance(a, (bytes, bytearray, str, list, tuple, dict, set, frozenset, int, float, type(None),
                              _File, _Mod, _Path, range)) and hasattr(a, "__next__") or isinstance(
                a, (itertools.cycle, itertools.repeat, itertools.count)) or isinstance(a, range) and len(a) > 1 << 16:
            return self._counted(a)    # an iterator (maybe endless): every item costs a step
        return a

    def _counted(self, it):
        for v in it:
            self.m.budget.tick()
            yield v

    def attr(self, obj, name: str):
        if name.startswith("_"):
            raise Stop(f"python attribute {name!r} is not emulated")
        if isinstance(obj, dict) and not isinstance(obj, _Mod) and name in obj and obj is not None:
            return obj[name]
        if isinstance(obj, _Mod):
            if obj.name in ("sys.stdin",) and name == "buffer":
                return _File(self, None, "rb", stream=self.stdin)
            if obj.name == "sys.stdin" and name == "read":
                return _File(self, None, "r", stream=self.stdin).read
            if obj.name == "sys.stdout" and name == "buffer":
                return _Mod("sys.stdout.buffer")
            if obj.name.startswith("sys.stdout") and name == "write":
                return self.stdout_write
            if name in ("flush", "close"):
                return lambda *a: None
            if obj.name == "sys.stderr" and name == "write":
                return lambda *a: None
            raise Stop(f"python {obj.name}.{name} is not emulated")
        if isinstance(obj, (_File, _Path)) and hasattr(obj, name):
            return getattr(obj, name)
        if isinstance(obj, (bytes, bytearray, str, list, dict, int, set, tuple)) and name in _SAFE_METHODS:
            if name == "maketrans":
                return bytes.maketrans if isinstance(obj, (bytes, bytearray)) else str.maketrans
            return getattr(obj, name)
        if obj in (bytes, bytearray, int, str) and name in ("fromhex", "maketrans", "from_bytes", "join"):
            return getattr(obj, name)
        if obj in self.constructors and name in ("fromhex", "maketrans"):   # bytes/bytearray as the program sees them
            return getattr(self.constructors[obj], name)
        if isinstance(obj, _Decompressor) and name in ("decompress", "flush"):
            return getattr(obj, name)
        raise Stop(f"python attribute .{name} of {type(obj).__name__} is not emulated")

    def comp(self, node, env):
        out = []

        def gen(k, local):
            if k == len(node.generators):
                self.m.budget.tick()
                if isinstance(node, ast.DictComp):
                    out.append((self.expr(node.key, local), self.expr(node.value, local)))
                else:
                    out.append(self.expr(node.elt, local))
                return
            g = node.generators[k]
            for v in self.expr(g.iter, local):
                inner = dict(local) if k == 0 else local
                self.assign(g.target, v, inner)
                if all(self.expr(c, inner) for c in g.ifs):
                    gen(k + 1, inner)
        gen(0, dict(env))
        if isinstance(node, ast.SetComp):
            return set(out)
        if isinstance(node, ast.DictComp):
            return dict(out)
        return out if isinstance(node, ast.ListComp) else iter(out)

    def expr(self, n, env):
        self.m.budget.tick()
        if isinstance(n, ast.Constant):
            return n.value
        if isinstance(n, ast.Name):
            if n.id in env:
                return env[n.id]
            raise Stop(f"python name {n.id!r} is not known")
        if isinstance(n, ast.BinOp):
            return self.binop(n.op, self.expr(n.left, env), self.expr(n.right, env))
        if isinstance(n, ast.UnaryOp):
            v = self.expr(n.operand, env)
            return {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
                    ast.Invert: operator.invert}[type(n.op)](v)
        if isinstance(n, ast.BoolOp):
            v = None
            for e in n.values:
                v = self.expr(e, env)
                if isinstance(n.op, ast.And) and not v or isinstance(n.op, ast.Or) and v:
                    return v
            return v
        if isinstance(n, ast.Compare):
            left = self.expr(n.left, env)
            for op, c in zip(n.ops, n.comparators):
                right = self.expr(c, env)
                if not _CMP[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(n, ast.IfExp):
            return self.expr(n.body if self.expr(n.test, env) else n.orelse, env)
        if isinstance(n, ast.Subscript):
            return self.expr(n.value, env)[self.expr(n.slice, env)]
        if isinstance(n, ast.Slice):
            return slice(*(self.expr(x, env) if x is not None else None for x in (n.lower, n.upper, n.step)))
        if isinstance(n, (ast.Tuple, ast.List, ast.Set)):
            vals = [self.expr(e, env) for e in n.elts]
            return tuple(vals) if isinstance(n, ast.Tuple) else set(vals) if isinstance(n, ast.Set) else vals
        if isinstance(n, ast.Dict):
            return {self.expr(k, env): self.expr(v, env) for k, v in zip(n.keys, n.values)}
        if isinstance(n, (ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp)):
            return self.comp(n, env)
        if isinstance(n, ast.Lambda):
            return ("lambda", n, env)
        if isinstance(n, ast.Attribute):
            return self.attr(self.expr(n.value, env), n.attr)
        if isinstance(n, ast.JoinedStr):
            return "".join(str(self.expr(v.value, env)) if isinstance(v, ast.FormattedValue) else v.value
                           for v in n.values)
        if isinstance(n, ast.Call):
            fn = self.expr(n.func, env)
            args = []
            for a in n.args:
                if isinstance(a, ast.Starred):
                    args.extend(self.expr(a.value, env))
                else:
                    args.append(self.expr(a, env))
            kwargs = {k.arg: self.expr(k.value, env) for k in n.keywords if k.arg}
            return self.call(fn, args, kwargs)
        raise Stop(f"python expression {type(n).__name__} is not emulated")


class _Path:
    def __init__(self, emu: PyEmu, p: str):
        self.emu, self.p = emu, p

    def read_bytes(self):
        return self.emu._open(self.p, "rb").read()

    def read_text(self, *a, **k):
        return self.emu._open(self.p, "r").read()

    def write_bytes(self, b):
        f = self.emu._open(self.p, "wb")
        f.write(b)
        f.close()

    def write_text(self, t, *a, **k):
        self.write_bytes(str(t).encode())

    def chmod(self, mode):
        self.emu.m.modes.add(self.p)

    def __truediv__(self, other):
        return _Path(self.emu, self.p.rstrip("/") + "/" + str(other))

    @property
    def parent(self):
        return _Path(self.emu, self.p.rsplit("/", 1)[0] if "/" in self.p else ".")

    def __str__(self):
        return self.p


# -- Perl -----------------------------------------------------------------------------------------

_NUM = r"(0x[0-9a-fA-F]+|0b[01]+|0[0-7]*|[1-9]\d*)"


def _int(text: str) -> int:
    return int(text, 0) if not re.fullmatch(r"0[0-7]+", text) else int(text, 8)


def _perl_str(lit: str) -> bytes:
    body = lit[1:-1]
    if lit[0] == "'":
        return body.encode("latin-1", "replace")
    from .emulate import _unescape
    return _unescape(body)


def _xor_key(raw: bytes, key: bytes) -> bytes:
    if not key:
        return raw
    if len(key) == 1:
        return raw.translate(bytes(b ^ key[0] for b in range(256)))
    k = (key * (len(raw) // len(key) + 1))[:len(raw)]
    return (int.from_bytes(raw, "big") ^ int.from_bytes(k, "big")).to_bytes(len(raw), "big") if raw else b""


def _perl_ops(prog: str) -> list[tuple[int, str, Any]]:
    """(position, op, argument) for each transformation a Perl program states."""
    ops: list[tuple[int, str, Any]] = []
    for mm in re.finditer(r"\b(?:tr|y)\s*/((?:[^/\\]|\\.)*)/((?:[^/\\]|\\.)*)/([cdsr]*)", prog):
        flags = "-" + mm.group(3).replace("r", "") if mm.group(3).replace("r", "") else None
        ops.append((mm.start(), "tr", ([flags] if flags else []) + [mm.group(1), mm.group(2)]))
    for mm in re.finditer(r"chr\s*\(\s*ord\s*\(\s*\$\w+\s*\)\s*\^\s*" + _NUM + r"\s*\)", prog):
        ops.append((mm.start(), "xor", bytes([_int(mm.group(1)) & 0xFF])))
    for mm in re.finditer(r"\^=?\s*\(?\s*(\"(?:[^\"\\]|\\.)*\"|'[^']*')\s*x\s*(length(?:\s*\(\s*\$_\s*\))?|\d+)",
                          prog):
        count = None if mm.group(2).startswith("length") else int(mm.group(2))
        ops.append((mm.start(), "perl-xor", (_perl_str(mm.group(1)), count)))
    for mm in re.finditer(r"unpack\s*\(?\s*[\"']u[\"']", prog):
        ops.append((mm.start(), "uu", None))
    for mm in re.finditer(r"chr\s*\(\s*hex\s*\(\s*\$\w+\s*\)\s*\)|\bpack\s*\(?\s*[\"']H\*?[\"']", prog):
        ops.append((mm.start(), "hex", None))
    for mm in re.finditer(r"\bunpack\s*\(?\s*[\"']m0?[\"']", prog):
        ops.append((mm.start(), "base64", None))
    for mm in re.finditer(r"\bdecode_base64\b", prog):
        ops.append((mm.start(), "base64", None))
    for mm in re.finditer(r"\breverse\b", prog):
        ops.append((mm.start(), "reverse", None))
    return sorted(ops, key=lambda o: o[0])


def _apply(ops, raw: bytes) -> bytes:
    for _, op, arg in ops:
        if op == "tr":
            raw = tr(raw, [a.encode("latin-1", "replace") for a in arg])
        elif op == "xor":
            raw = _xor_key(raw, arg)
        elif op == "perl-xor":       # Perl string ^: as long as the longer operand, its tail unchanged
            key, count = arg
            other = key * (len(raw) if count is None else count)
            if len(other) > 64 << 20:
                raise ValueError("perl: repeated key larger than the byte budget")
            n = min(len(raw), len(other))
            raw = _xor_key(raw[:n], other[:n]) + (raw[n:] if len(raw) > n else other[n:])
        elif op == "uu":
            out = bytearray()
            for line in raw.splitlines():
                if line and line not in (b"end", b"`") and not line.startswith(b"begin "):
                    n = (line[0] - 32) & 63
                    out += binascii.a2b_uu(line[:(n * 4 + 5) // 3 + 1])[:n]
            raw = bytes(out)
        elif op == "hex":
            h = re.sub(rb"[^0-9a-fA-F]", b"", raw)
            raw = binascii.unhexlify(h[:len(h) // 2 * 2])
        elif op == "base64":
            raw = base64.b64decode(re.sub(rb"\s", b"", raw))
        elif op == "reverse":
            raw = raw[::-1]
        elif op == "zlib":
            raw = zlib.decompress(raw, arg)
        elif op == "lines":
            a, b = arg
            lines = raw.splitlines(keepends=True)
            raw = b"".join(lines[a - 1:b])
    return raw


def run_perl(m: Machine, args, stdin: Stream, ctx: Ctx, text: str) -> Data:
    prog, files, i = None, [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and len(a) > 1 and prog is None:
            if re.fullmatch(r"-[a-zA-Z0-9]*[eE]", a) and not a.startswith(("-M", "-m", "-I", "-x")):
                prog = args[i + 1] if i + 1 < len(args) else ""
                i += 2
                continue
        elif prog is None:
            found = m.fs.read(a)
            if found is None:
                raise Stop(f"perl script {a} is not in the tree")
            prog = found[1].decode("latin-1")
        else:
            files.append(a)
        i += 1
    if prog is None:
        raise Stop("perl without a program")
    return _stated(m, "perl", prog, _perl_ops(prog), files, stdin, ctx, text,
                   sink=re.search(r"\b(?:eval|system|exec)\b|open\s*\([^)]*\|", prog))


def _stated(m: Machine, lang, prog, ops, files, stdin, ctx, text, sink=None) -> Data:
    data = m.inputs(files, stdin, ctx)
    if not ops:
        if data.tainted:
            raise Stop(f"{lang} program states no transformation the emulator knows")
        return EMPTY
    try:
        out = _apply(ops, data.raw)
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise Stop(f"{lang}: {exc}") from None
    res = m.step(data, out, text, ctx, "; ".join(f"{op} {arg!r}" if arg is not None else op
                                                  for _, op, arg in ops)[:200])
    if sink is not None and res.tainted:
        m.sinks.append(Sink("shell", f"{lang} {sink.group(0)}", f"{ctx.where}:{ctx.line}", res))
        return EMPTY
    return res


# -- awk --------------------------------------------------------------------------------------------

def run_awk(m: Machine, args, stdin: Stream, ctx: Ctx, text: str) -> Data:
    from . import awk
    variables: dict[str, str] = {}
    rest, k = [], 0
    while k < len(args):      # -v NAME=VALUE and -F SEP may repeat
        a = args[k]
        if a in ("-v", "-F") and k + 1 < len(args):
            if a == "-v" and "=" in args[k + 1]:
                name, _, value = args[k + 1].partition("=")
                variables[name] = awk._unescape(value)
            elif a == "-F":
                variables["FS"] = "\t" if args[k + 1] == "t" else awk._unescape(args[k + 1])
            k += 2
            continue
        if a.startswith("-F") and len(a) > 2:
            variables["FS"] = awk._unescape(a[2:])
        elif a.startswith("-v") and len(a) > 2 and "=" in a:
            name, _, value = a[2:].partition("=")
            variables[name] = awk._unescape(value)
        else:
            rest.append(a)
        k += 1
    opts, ops_ = _split_opts(rest, "f")
    if "f" in opts:
        found = m.fs.read(opts["f"])
        if found is None:
            raise Stop(f"awk -f {opts['f']}: not in the tree")
        prog, files = found[1].decode("latin-1"), ops_
    elif ops_:
        prog, files = ops_[0], ops_[1:]
    else:
        raise Stop("awk without a program")
    files = [f for f in files if "=" not in f]
    data = m.inputs(files, stdin, ctx)
    read: list[Data] = []      # what getline < file read: its test data taints the output too

    def read_file(name: str) -> bytes | None:
        try:
            got = m.read_file(name, ctx)
        except (Stop, LookupError):
            return None
        read.append(got)
        return got.raw
    try:
        out = awk.run(prog, data.raw, variables, m.budget.tick, m.budget.max_bytes, argv=files, read_file=read_file)
        return m.step(join([data] + [r for r in read if r.tainted]), out, text, ctx)
    except awk.AwkError as exc:
        reason = str(exc)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, ZeroDivisionError, RecursionError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    sink = re.search(r"\bsystem\s*\(|\|\s*\"(?:/bin/)?(?:ba|da)?sh\"", prog)
    if sink and data.tainted:     # the program hands its input (or what it makes of it) to a shell
        m.sinks.append(Sink("shell", f"awk {sink.group(0)}", f"{ctx.where}:{ctx.line}", data))
        return EMPTY
    raise Stop(f"awk: {reason}")


# -- Node ---------------------------------------------------------------------------------------

def run_node(m: Machine, args, stdin: Stream, ctx: Ctx, text: str) -> Data:
    prog, files = None, []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-e", "--eval", "-p", "--print") and prog is None:
            prog = args[i + 1] if i + 1 < len(args) else ""
            i += 2
            continue
        if prog is None and not a.startswith("-"):
            found = m.fs.read(a)
            if found is None:
                raise Stop(f"node script {a} is not in the tree")
            prog = found[1].decode("latin-1")
        elif prog is not None:
            files.append(a)
        i += 1
    if prog is None:
        raise Stop("node without a program")
    return node_program(m, prog, files, stdin, ctx, text)


def _node_reads(prog: str) -> list[str]:
    """The paths ``readFileSync`` reads: a literal, ``__dirname + '/x'`` or ``path.join(__dirname, 'a', 'x')``
    (relative to the script's directory, as the emulator resolves them)."""
    out = []
    for mm in re.finditer(r"readFileSync\(", prog):
        depth, k = 1, mm.end()
        while k < len(prog) and depth and k - mm.end() < 400:
            depth += {"(": 1, ")": -1}.get(prog[k], 0)
            if depth == 1 and prog[k] == ",":
                break
            k += 1
        arg = prog[mm.end():k]
        parts = [p[1:-1] for p in re.findall(r"'[^']*'|\"[^\"]*\"", arg)]
        if not parts:
            continue
        path = posixpath.join(*parts) if re.search(r"\b(?:path\.)?(?:join|resolve)\s*\(", arg) else "".join(parts)
        out.append(path.lstrip("/") if "__dirname" in arg else path)
    return out


def node_program(m: Machine, prog: str, files, stdin: Stream, ctx: Ctx, text: str) -> Data:
    ops: list[tuple[int, str, Any]] = []
    consts = {mm.group(1): mm.group(2) for mm in re.finditer(
        r"\b(?:const|let|var)\s+(\w+)\s*=\s*(?:Buffer\.from\()?(\"(?:[^\"\\]|\\.)*\"|'[^']*')", prog)}
    for mm in re.finditer(r"\^\s*" + _NUM + r"\b", prog):
        ops.append((mm.start(), "xor", bytes([_int(mm.group(1)) & 0xFF])))
    for mm in re.finditer(r"\^\s*(\w+)\s*\[\s*\w+\s*%\s*\1\.length\s*\]", prog):
        key = consts.get(mm.group(1))
        if key is None:
            raise Stop(f"node: the XOR key {mm.group(1)} is not a literal")
        ops.append((mm.start(), "xor", _perl_str(key)))
    for mm in re.finditer(r"Buffer\.from\(\s*[^,()]+(?:\([^()]*\))?(?:\.\w+\(\s*\))*\s*,\s*['\"](base64|hex)['\"]", prog):
        ops.append((mm.start(), "base64" if mm.group(1) == "base64" else "hex", None))
    for mm in re.finditer(r"zlib\.(gunzipSync|inflateSync|inflateRawSync|unzipSync)", prog):
        ops.append((mm.start(), "zlib", {"gunzipSync": 31, "inflateSync": 15, "inflateRawSync": -15,
                                         "unzipSync": 47}[mm.group(1)]))
    ops.sort(key=lambda o: o[0])
    all_files = list(files) + _node_reads(prog)
    sink = re.search(r"\beval\s*\(|new\s+Function\s*\(|child_process|\bexecSync\b|\bspawnSync\b", prog)
    res = _stated(m, "node", prog, ops, all_files, stdin, ctx, text, sink=sink)
    out = re.search(r"writeFileSync\(\s*(['\"])([^'\"]+)\1", prog)
    if out and res.raw:
        m.write_file(out.group(2), res, ctx)
        return EMPTY
    return res

