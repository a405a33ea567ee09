"""A POSIX awk subset for the emulator: programs from a reader are parsed into a tree and compiled
to Python closures over our own functions (never to Python source), then run over the input bytes.

Covered: ``BEGIN``/``END``/pattern-action rules (expressions and ``/regex/``), ``if``/``else``,
``for (;;)``, ``for (k in a)``, ``while``, ``do``, ``break``/``continue``/``next``/``exit``,
``print``/``printf`` (to standard output), ``delete``, arrays and ``in``, fields and ``NF``/``NR``/
``FS``/``RS``/``OFS``/``ORS``, string concatenation, the arithmetic/comparison/logical/ternary/
assignment/increment operators, ``~``/``!~``, and the builtins ``length substr index sprintf int
tolower toupper split`` plus gawk's ``xor and or lshift rshift compl``, ``getline [var] [< file]``
(from the main input or a file the caller serves; ``cmd | getline`` is not), ``ARGV``/``ARGC``. Characters are bytes
(``LC_ALL=C``). Anything else is a :class:`AwkError`; the caller stops the pipeline there.
"""

from __future__ import annotations

import math
import re
from typing import Callable, Iterator

MAX_FIELDS = 1 << 16


class AwkError(Exception):
    pass


class _Next(Exception):
    pass


class _Exit(Exception):
    pass


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# -- values ---------------------------------------------------------------------------------------

_NUMPREFIX = re.compile(r"\s*[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)")
_LOOKS_NUMERIC = re.compile(r"\s*[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)\s*\Z")


class StrNum(str):
    """A field or split element: compares as a number when it looks like one."""


def num(v) -> float:
    if isinstance(v, (int, float)):
        return v
    m = _NUMPREFIX.match(v)
    return float(m.group(0)) if m else 0.0


def string(v) -> str:
    if isinstance(v, str):
        return v
    if math.isinf(v) or math.isnan(v):
        return ("-" if v < 0 else "") + ("inf" if math.isinf(v) else "nan")
    if v == int(v):
        return str(int(v))
    return "%.6g" % v


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) or isinstance(v, StrNum) and bool(_LOOKS_NUMERIC.match(v))


def compare(a, b, op: str) -> bool:
    if _numeric(a) and _numeric(b):
        x, y = num(a), num(b)
    else:
        x, y = string(a), string(b)
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y, "!=": x != y}[op]


def truth(v) -> bool:
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, StrNum) and _LOOKS_NUMERIC.match(v):
        return num(v) != 0
    return v != ""


def sprintf(fmt: str, args: list) -> str:
    out, k = [], 0
    for m in re.finditer(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([cdiouxXeEfgGs%])|[^%]+|%", fmt):
        if m.group(4) is None:
            out.append(m.group(0))
            continue
        conv = m.group(4)
        if conv == "%":
            out.append("%")
            continue
        width, prec = m.group(2), m.group(3)
        if width == "*":
            width = str(int(num(args[k]))) if k < len(args) else ""
            k += 1
        if prec == "*":
            prec = str(int(num(args[k]))) if k < len(args) else ""
            k += 1
        v = args[k] if k < len(args) else ""
        k += 1
        spec = "%" + m.group(1) + (width or "") + ("." + prec if prec is not None else "")
        if conv == "c":   # a number is a character code, a string gives its first character
            ch = chr(int(num(v)) & 0xFF) if _numeric(v) else string(v)[:1]
            out.append((spec + "s") % ch)
        elif conv in "diouxX":
            n = num(v)
            n = int(n) if not (math.isinf(n) or math.isnan(n)) else 0
            out.append((spec + ("d" if conv == "i" else "d" if conv == "u" else conv)) % n)
        elif conv in "eEfgG":
            out.append((spec + conv) % num(v))
        else:
            out.append((spec + "s") % string(v))
    return "".join(out)


# -- lexer -----------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r]+|\\\n|\#[^\n]*)
  | (?P<nl>\n)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\+\+|--|\+=|-=|\*=|/=|%=|\^=|==|<=|>=|!=|&&|\|\||!~|>>|[-+*/%^!<>|?:~$=(){}\[\];,])
""", re.X)
KEYWORDS = frozenset({"BEGIN", "END", "if", "else", "for", "while", "do", "break", "continue", "next", "exit",
                      "print", "printf", "in", "delete", "function", "getline", "return", "nextfile"})
BUILTINS = frozenset({"length", "substr", "index", "sprintf", "int", "tolower", "toupper", "split", "xor", "and",
                      "or", "lshift", "rshift", "compl", "sin", "cos", "exp", "log", "sqrt", "atan2"})
_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "/": "/", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unescape(body: str) -> str:
    def rep(m):
        s = m.group(1)
        if s[0] in "01234567":
            return chr(int(s, 8) & 0xFF)
        return _ESC.get(s, "\\" + s)
    return re.sub(r"\\([0-7]{1,3}|.)", rep, body, flags=re.S)


def lex(src: str) -> list[tuple[str, str]]:
    toks: list[tuple[str, str]] = []
    i = 0
    while i < len(src):
        # a regex literal where an operand may start
        if src[i] == "/" and (not toks or toks[-1][0] in ("nl", "op") and toks[-1][1] in
                              ("(", ",", "{", "}", ";", "!", "~", "!~", "&&", "||", "\n") or toks[-1][0] == "nl"):
            j = i + 1
            while j < len(src) and src[j] != "/":
                j += 2 if src[j] == "\\" else 1
            if j >= len(src):
                raise AwkError("unterminated regular expression")
            toks.append(("re", src[i + 1:j]))
            i = j + 1
            continue
        m = _TOKEN.match(src, i)
        if not m:
            raise AwkError(f"unexpected character {src[i]!r}")
        kind = m.lastgroup
        text = m.group(0)
        i = m.end()
        if kind == "ws":
            continue
        if kind == "str":
            toks.append(("str", _unescape(text[1:-1])))
        elif kind == "name" and text in KEYWORDS:
            toks.append(("kw", text))
        elif kind == "name" and text in BUILTINS:
            toks.append(("builtin", text))
        else:
            toks.append((kind, text))
    return toks


# -- parser: builds closures ----------------------------------------------------------------------

class State:
    def __init__(self, tick: Callable[[], None], max_out: int):
        self.vars: dict[str, object] = {"FS": " ", "OFS": " ", "ORS": "\n", "RS": "\n", "NR": 0, "NF": 0,
                                        "SUBSEP": "\x1c", "CONVFMT": "%.6g", "OFMT": "%.6g", "RSTART": 0,
                                        "RLENGTH": -1, "FNR": 0, "FILENAME": ""}
        self.arrays: dict[str, dict] = {}
        self.fields: list[str] = [""]
        self.out: list[str] = []
        self.size = 0
        self.tick = tick
        self.max_out = max_out
        self.main: Iterator[str] = iter(())                   # records of the main input, as getline sees them
        self.read_file: Callable[[str], bytes | None] = lambda name: None
        self.open_files: dict[str, Iterator[str]] = {}

    def read_line(self, name: str) -> str | None | bool:
        """The next line of file ``name`` for ``getline < name`` (None at its end, False if unreadable)."""
        if name not in self.open_files:
            data = self.read_file(name)
            if data is None:
                return False
            lines = data.decode("latin-1").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            self.open_files[name] = iter(lines)
        return next(self.open_files[name], None)

    def emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > self.max_out:
            raise AwkError("output exceeds the byte budget")
        self.out.append(text)

    def set_record(self, rec: str) -> None:
        self.fields = [rec]
        self._split()

    def _split(self) -> None:
        fs = string(self.vars["FS"])
        rec = self.fields[0]
        if fs == " ":
            parts = rec.split()
        elif rec == "":
            parts = []
        elif len(fs) == 1 and fs != "\\":
            parts = rec.split(fs)
        else:
            parts = re.split(fs, rec)
        if len(parts) > MAX_FIELDS:
            raise AwkError("too many fields")
        self.fields = [rec] + [StrNum(p) for p in parts]
        self.vars["NF"] = len(parts)

    def get_field(self, i: int):
        if i < 0:
            raise AwkError("negative field index")
        if i == 0:
            return StrNum(self.fields[0])
        return self.fields[i] if i < len(self.fields) else StrNum("")

    def set_field(self, i: int, v) -> None:
        if i == 0:
            self.set_record(string(v))
            return
        if i > MAX_FIELDS:
            raise AwkError("field index too large")
        while len(self.fields) <= i:
            self.fields.append(StrNum(""))
        self.fields[i] = string(v)
        self.vars["NF"] = len(self.fields) - 1
        self.fields[0] = string(self.vars["OFS"]).join(string(f) for f in self.fields[1:])


class Parser:
    def __init__(self, toks):
        self.t = toks
        self.i = 0

    def peek(self, k: int = 0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else ("eof", "")

    def at(self, kind, value=None) -> bool:
        t = self.peek()
        return t[0] == kind and (value is None or t[1] == value)

    def take(self, kind, value=None):
        if not self.at(kind, value):
            raise AwkError(f"expected {value or kind}, got {self.peek()[1]!r}")
        t = self.t[self.i]
        self.i += 1
        return t

    def opt_nl(self):
        while self.at("nl") or self.at("op", ";"):
            self.i += 1

    def skip_nl(self):
        while self.at("nl"):
            self.i += 1

    # program
    def program(self):
        begin, rules, end = [], [], []
        self.opt_nl()
        while not self.at("eof"):
            if self.at("kw", "BEGIN"):
                self.i += 1
                self.skip_nl()
                begin.append(self.block())
            elif self.at("kw", "END"):
                self.i += 1
                self.skip_nl()
                end.append(self.block())
            elif self.at("kw", "function"):
                raise AwkError("user-defined functions are not emulated")
            else:
                pattern = None if self.at("op", "{") else self.expr()
                action = self.block() if self.at("op", "{") else None
                rules.append((pattern, action))
            self.opt_nl()
        return begin, rules, end

    def block(self):
        self.take("op", "{")
        stmts = []
        self.opt_nl()
        while not self.at("op", "}"):
            stmts.append(self.stmt())
            self.opt_nl()
        self.take("op", "}")
        return _seq(stmts)

    def simple_end(self):
        if self.at("op", ";") or self.at("nl"):
            self.i += 1
        elif not (self.at("op", "}") or self.at("eof")):
            raise AwkError(f"unexpected {self.peek()[1]!r}")

    def stmt(self):
        t = self.peek()
        if t == ("op", "{"):
            return self.block()
        if t == ("op", ";"):
            self.i += 1
            return lambda s: None
        if t[0] == "kw" and t[1] != "getline":     # a getline statement is an expression
            kw = t[1]
            if kw == "if":
                self.i += 1
                self.take("op", "(")
                cond = self.expr()
                self.take("op", ")")
                self.skip_nl()
                then = self.stmt()
                save = self.i
                self.opt_nl()
                if self.at("kw", "else"):
                    self.i += 1
                    self.skip_nl()
                    other = self.stmt()
                else:
                    self.i = save
                    other = None
                return _if(cond, then, other)
            if kw == "while":
                self.i += 1
                self.take("op", "(")
                cond = self.expr()
                self.take("op", ")")
                self.skip_nl()
                return _while(cond, self.stmt())
            if kw == "do":
                self.i += 1
                self.skip_nl()
                body = self.stmt()
                self.opt_nl()
                self.take("kw", "while")
                self.take("op", "(")
                cond = self.expr()
                self.take("op", ")")
                self.simple_end()
                return _do(body, cond)
            if kw == "for":
                self.i += 1
                self.take("op", "(")
                if self.peek()[0] == "name" and self.peek(1) == ("kw", "in"):
                    var = self.take("name")[1]
                    self.i += 1
                    arr = self.take("name")[1]
                    self.take("op", ")")
                    self.skip_nl()
                    return _for_in(var, arr, self.stmt())
                init = None if self.at("op", ";") else self.expr()
                self.take("op", ";")
                self.skip_nl()
                cond = None if self.at("op", ";") else self.expr()
                self.take("op", ";")
                self.skip_nl()
                incr = None if self.at("op", ")") else self.expr()
                self.take("op", ")")
                self.skip_nl()
                return _for(init, cond, incr, self.stmt())
            if kw in ("print", "printf"):
                self.i += 1
                args = []
                paren = self.at("op", "(")
                if not (self.at("op", ";") or self.at("nl") or self.at("op", "}")):
                    args = self.exprlist(no_gt=True)
                    if paren and len(args) == 1 and isinstance(args[0], tuple):
                        args = list(args[0][1])
                if self.at("op", ">") or self.at("op", ">>") or self.at("op", "|"):
                    raise AwkError("print to a file or command is not emulated")
                args = [a[0] if isinstance(a, tuple) else a for a in args]
                self.simple_end()
                return _print(args) if kw == "print" else _printf(args)
            if kw in ("next", "exit", "break", "continue"):
                self.i += 1
                if kw == "exit" and not (self.at("op", ";") or self.at("nl") or self.at("op", "}")):
                    self.expr()   # the exit status: parsed, not needed for the output
                self.simple_end()
                return {"next": _raise(_Next), "exit": _raise(_Exit), "break": _raise(_Break),
                        "continue": _raise(_Continue)}[kw]
            if kw == "delete":
                self.i += 1
                name = self.take("name")[1]
                if self.at("op", "["):
                    self.i += 1
                    sub = self.subscript()
                    self.simple_end()
                    return lambda s: s.arrays.setdefault(name, {}).pop(sub(s), None)
                self.simple_end()
                return lambda s: s.arrays.__setitem__(name, {})
            raise AwkError(f"{kw} is not emulated")
        e = self.expr()
        self.simple_end()
        return e

    def exprlist(self, no_gt=False):
        items = [self.expr(no_gt)]
        while self.at("op", ","):
            self.i += 1
            self.skip_nl()
            items.append(self.expr(no_gt))
        return items

    def subscript(self):
        parts = self.exprlist()
        self.take("op", "]")
        if len(parts) == 1:
            p = parts[0]
            return lambda s: _key(p(s))
        return lambda s: string(s.vars["SUBSEP"]).join(_key(p(s)) for p in parts)

    # expressions, lowest precedence first
    def expr(self, no_gt=False):
        return self.ternary(no_gt)

    def ternary(self, no_gt):
        start = self.i
        cond = self.or_(no_gt)
        if self.at("op", "?"):
            self.i += 1
            self.skip_nl()
            a = self.ternary(no_gt)
            self.skip_nl()
            self.take("op", ":")
            self.skip_nl()
            b = self.ternary(no_gt)
            return lambda s: a(s) if truth(cond(s)) else b(s)
        t = self.peek()
        if t[0] == "op" and t[1] in ("=", "+=", "-=", "*=", "/=", "%=", "^="):
            self.i = start
            target = self.lvalue()
            op = self.take("op")[1]
            self.skip_nl()
            value = self.ternary(no_gt)
            return _assign(target, op, value)
        return cond

    def lvalue(self):
        if self.at("op", "$"):
            self.i += 1
            idx = self.primary()
            return ("field", idx)
        name = self.take("name")[1]
        if self.at("op", "["):
            self.i += 1
            return ("elem", name, self.subscript())
        return ("var", name)

    def or_(self, no_gt):
        return self.logical(no_gt, "||", self.and_, lambda a, b: lambda s: 1 if truth(a(s)) or truth(b(s)) else 0)

    def and_(self, no_gt):
        return self.logical(no_gt, "&&", self.in_, lambda a, b: lambda s: 1 if truth(a(s)) and truth(b(s)) else 0)

    def logical(self, no_gt, op, operand, combine):
        """``operand (op operand)*``, left to right; a newline may follow ``op``."""
        left = operand(no_gt)
        while self.at("op", op):
            self.i += 1
            self.skip_nl()
            left = combine(left, operand(no_gt))
        return left

    def in_(self, no_gt):
        left = self.match(no_gt)
        while self.at("kw", "in"):
            self.i += 1
            arr = self.take("name")[1]
            left = (lambda k, a: lambda s: 1 if _key(k(s)) in s.arrays.get(a, {}) else 0)(left, arr)
        return left

    def match(self, no_gt):
        left = self.compare(no_gt)
        while self.at("op", "~") or self.at("op", "!~"):
            neg = self.take("op")[1] == "!~"
            if self.at("re"):
                rx = _regex(self.take("re")[1])
                right = lambda s, rx=rx: rx
            else:
                r = self.compare(no_gt)
                right = lambda s, r=r: _regex(string(r(s)))
            left = (lambda a, b, n: lambda s: (0 if b(s).search(string(a(s))) else 1) if n
                    else (1 if b(s).search(string(a(s))) else 0))(left, right, neg)
        return left

    def compare(self, no_gt):
        left = self.concat(no_gt)
        t = self.peek()
        if t[0] == "op" and t[1] in ("<", "<=", "==", "!=", ">=") or (t == ("op", ">") and not no_gt):
            self.i += 1
            right = self.concat(no_gt)
            op = t[1]
            return lambda s: 1 if compare(left(s), right(s), op) else 0
        return left

    def concat(self, no_gt):
        left = self.additive()
        while True:
            t = self.peek()
            if t[0] in ("num", "str", "name", "builtin") or t[0] == "op" and t[1] in ("$", "(", "!", "++", "--") \
                    or t[0] == "re":
                if t[0] == "op" and t[1] == "!" and self.peek(1) == ("op", "="):
                    break
                right = self.additive()
                left = (lambda a, b: lambda s: string(a(s)) + string(b(s)))(left, right)
            else:
                return left

    def additive(self):
        left = self.mul()
        while self.at("op", "+") or self.at("op", "-"):
            op = self.take("op")[1]
            right = self.mul()
            left = (lambda a, b: lambda s: num(a(s)) + num(b(s)))(left, right) if op == "+" else \
                (lambda a, b: lambda s: num(a(s)) - num(b(s)))(left, right)
        return left

    def mul(self):
        left = self.unary()
        while self.at("op", "*") or self.at("op", "/") or self.at("op", "%"):
            op = self.take("op")[1]
            right = self.unary()
            left = _arith(op, left, right)
        return left

    def unary(self):
        if self.at("op", "!"):
            self.i += 1
            e = self.unary()
            return lambda s: 0 if truth(e(s)) else 1
        if self.at("op", "-"):
            self.i += 1
            e = self.unary()
            return lambda s: -num(e(s))
        if self.at("op", "+"):
            self.i += 1
            e = self.unary()
            return lambda s: num(e(s))
        return self.power()

    def power(self):
        base = self.postfix()
        if self.at("op", "^"):
            self.i += 1
            exp = self.unary()
            return _arith("^", base, exp)
        return base

    def postfix(self):
        if self.at("op", "++") or self.at("op", "--"):
            op = self.take("op")[1]
            target = self.lvalue()
            return _incr(target, 1 if op == "++" else -1, prefix=True)
        t = self.peek()
        if t[0] == "name" and self.peek(1)[0] == "op" and self.peek(1)[1] in ("++", "--") or \
                t[0] == "name" and self.peek(1) == ("op", "[") or t == ("op", "$"):
            save = self.i
            target = self.lvalue()
            if self.at("op", "++") or self.at("op", "--"):
                op = self.take("op")[1]
                return _incr(target, 1 if op == "++" else -1, prefix=False)
            self.i = save
        return self.primary()

    def primary(self):
        t = self.peek()
        if t[0] == "num":
            self.i += 1
            v = float(t[1])
            return lambda s: v
        if t[0] == "str":
            self.i += 1
            v = t[1]
            return lambda s: v
        if t[0] == "re":
            self.i += 1
            rx = _regex(t[1])
            return lambda s: 1 if rx.search(string(s.fields[0])) else 0
        if t == ("op", "("):
            self.i += 1
            items = self.exprlist()
            self.take("op", ")")
            if len(items) > 1:
                if self.at("kw", "in"):
                    self.i += 1
                    arr = self.take("name")[1]
                    return lambda s: 1 if "\x1c".join(_key(e(s)) for e in items) in s.arrays.get(arr, {}) else 0
                return ("group", items)   # print (a, b)
            return items[0]
        if t == ("op", "$"):
            self.i += 1
            idx = self.postfix_primary()
            return lambda s: s.get_field(int(num(idx(s))))
        if t[0] == "builtin":
            return self.builtin()
        if t[0] == "name":
            self.i += 1
            name = t[1]
            if self.at("op", "["):
                self.i += 1
                sub = self.subscript()
                return lambda s: s.arrays.setdefault(name, {}).setdefault(sub(s), "")
            if self.at("op", "(") and self.t[self.i - 1][1] == name:
                raise AwkError(f"call of function {name} is not emulated")
            if name == "NF":
                return lambda s: s.vars["NF"]
            return lambda s: s.vars.get(name, "")
        if t == ("kw", "getline"):
            return self.getline()
        raise AwkError(f"unexpected {t[1]!r}")

    def getline(self):
        """``getline [var] [< file]``: the next record of the main input or of a file, into ``$0``
        (and NF, NR) or into ``var``; 1 when read, 0 at the end, -1 when the file cannot be read."""
        self.i += 1
        target = None
        if self.at("op", "$") or (self.at("name") and self.peek(1) != ("op", "(")):
            target = self.lvalue()
        source = None
        if self.at("op", "<"):
            self.i += 1
            source = self.primary()

        def run(s):
            if source is None:
                rec = next(s.main, None)
                if rec is None:
                    return 0
                s.vars["NR"] = num(s.vars["NR"]) + 1
                s.vars["FNR"] = num(s.vars["FNR"]) + 1
            else:
                rec = s.read_line(string(source(s)))
                if rec is None or rec is False:
                    return 0 if rec is None else -1
            s.tick()
            if target is None:
                s.set_record(rec)
            else:
                _set(target, s, StrNum(rec))
            return 1
        return run

    def postfix_primary(self):
        if self.at("op", "++") or self.at("op", "--") or self.at("op", "-"):
            return self.unary()
        return self.primary()

    def builtin(self):
        name = self.take("builtin")[1]
        args = []
        if self.at("op", "("):
            self.i += 1
            if not self.at("op", ")"):
                if name == "split":
                    args.append(self.expr())
                    self.take("op", ",")
                    arr = self.take("name")[1]
                    sep = None
                    if self.at("op", ","):
                        self.i += 1
                        sep = self.expr()
                    self.take("op", ")")
                    return _split_fn(args[0], arr, sep)
                args = self.exprlist()
            self.take("op", ")")
        elif name != "length":
            raise AwkError(f"{name} without arguments")
        return _builtin(name, args)


def _key(v) -> str:
    return string(v) if not isinstance(v, float) or v != int(v) else str(int(v))


def _regex(src: str):
    from .emulate import sed_regex
    try:
        return re.compile(sed_regex(src, True), re.S)
    except re.error as exc:
        raise AwkError(f"regular expression {src!r}: {exc}") from None


def _seq(stmts):
    def run(s):
        for st in stmts:
            s.tick()
            st(s)
    return run


def _if(cond, then, other):
    def run(s):
        if truth(cond(s)):
            then(s)
        elif other is not None:
            other(s)
    return run


def _iteration(body, s) -> bool:
    """Run a loop body once; False when it breaks out of the loop (``continue`` just ends it)."""
    try:
        body(s)
    except _Break:
        return False
    except _Continue:
        pass
    return True


def _while(cond, body):
    def run(s):
        while truth(cond(s)):
            s.tick()
            if not _iteration(body, s):
                break
    return run


def _do(body, cond):
    def run(s):
        while True:
            s.tick()
            if not _iteration(body, s):
                break
            if not truth(cond(s)):
                break
    return run


def _for(init, cond, incr, body):
    def run(s):
        if init is not None:
            init(s)
        while cond is None or truth(cond(s)):
            s.tick()
            if not _iteration(body, s):
                break
            if incr is not None:
                incr(s)
    return run


def _for_in(var, arr, body):
    def run(s):
        for k in list(s.arrays.get(arr, {})):
            s.tick()
            s.vars[var] = StrNum(k)
            if not _iteration(body, s):
                break
    return run


def _raise(exc):
    def run(s):
        raise exc()
    return run


def _print(args):
    def run(s):
        text = string(s.vars["OFS"]).join(_out(a(s), s) for a in args) if args else s.fields[0]
        s.emit(text + string(s.vars["ORS"]))
    return run


def _out(v, s) -> str:
    if isinstance(v, (int, float)) and v != int(v):
        return string(s.vars["OFMT"]) % v if "%" in string(s.vars["OFMT"]) else string(v)
    return string(v)


def _printf(args):
    if not args:
        raise AwkError("printf without a format")

    def run(s):
        s.emit(sprintf(string(args[0](s)), [a(s) for a in args[1:]]))
    return run


def _get(target, s):
    kind = target[0]
    if kind == "var":
        return s.vars.get(target[1], "")
    if kind == "elem":
        return s.arrays.setdefault(target[1], {}).get(target[2](s), "")
    return s.get_field(int(num(target[1](s))))


def _set(target, s, v):
    kind = target[0]
    if kind == "var":
        if target[1] in s.arrays:
            raise AwkError(f"{target[1]} is an array")
        s.vars[target[1]] = v
        if target[1] == "NF":
            n = int(num(v))
            s.fields = (s.fields + [StrNum("")] * n)[:n + 1]
            s.fields[0] = string(s.vars["OFS"]).join(string(f) for f in s.fields[1:])
    elif kind == "elem":
        s.arrays.setdefault(target[1], {})[target[2](s)] = v
    else:
        s.set_field(int(num(target[1](s))), v)


def _assign(target, op, value):
    if op == "=":
        def run(s):
            v = value(s)
            _set(target, s, v)
            return v
        return run
    fn = _arith(op[0], lambda s: _get(target, s), value)

    def run2(s):
        v = fn(s)
        _set(target, s, v)
        return v
    return run2


def _incr(target, d, prefix):
    def run(s):
        old = num(_get(target, s))
        _set(target, s, old + d)
        return old + d if prefix else old
    return run


def _arith(op, a, b):
    def run(s):
        x, y = num(a(s)), num(b(s))
        if op == "*":
            return x * y
        if op == "/":
            if y == 0:
                raise AwkError("division by zero")
            return x / y
        if op == "%":
            if y == 0:
                raise AwkError("division by zero in %")
            return math.fmod(x, y)
        if op == "^":
            if abs(y) > 1024:
                raise AwkError("exponent too large")
            return x ** y
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        raise AwkError(f"operator {op}")
    return run


def _split_fn(src, arr, sep):
    def run(s):
        text = string(src(s))
        fs = string(sep(s)) if sep is not None else string(s.vars["FS"])
        parts = text.split() if fs == " " else ([] if text == "" else text.split(fs) if len(fs) == 1 else
                                                 re.split(fs, text))
        if len(parts) > MAX_FIELDS:
            raise AwkError("split: too many parts")
        s.arrays[arr] = {str(k + 1): StrNum(p) for k, p in enumerate(parts)}
        return len(parts)
    return run


def _builtin(name, args):
    def a(k, s):
        return args[k](s) if k < len(args) else ""

    def run(s):
        if name == "length":
            return len(string(a(0, s) if args else s.fields[0]))
        if name == "substr":
            text = string(a(0, s))
            start = num(a(1, s))
            start_i = int(math.floor(start + 0.5)) if not math.isnan(start) else 1
            if len(args) > 2:
                n = num(a(2, s))
                end = start_i + int(math.floor(n + 0.5))
            else:
                end = len(text) + 1
            lo = max(start_i, 1)
            return text[lo - 1:max(lo - 1, end - 1)]
        if name == "index":
            return string(a(0, s)).find(string(a(1, s))) + 1
        if name == "sprintf":
            return sprintf(string(a(0, s)), [x(s) for x in args[1:]])
        if name == "int":
            return float(math.trunc(num(a(0, s))))
        if name == "tolower":
            return string(a(0, s)).lower()
        if name == "toupper":
            return string(a(0, s)).upper()
        if name in ("xor", "and", "or", "lshift", "rshift"):
            x, y = int(num(a(0, s))), int(num(a(1, s)))
            if name in ("lshift",) and y > 64:
                raise AwkError("shift too large")
            return float({"xor": x ^ y, "and": x & y, "or": x | y, "lshift": x << y, "rshift": x >> y}[name])
        if name == "compl":
            return float(~int(num(a(0, s))) & ((1 << 53) - 1))
        fn = {"sin": math.sin, "cos": math.cos, "exp": math.exp, "log": math.log, "sqrt": math.sqrt}.get(name)
        if fn is not None:
            try:
                return fn(num(a(0, s)))
            except (ValueError, OverflowError):
                return float("nan")
        if name == "atan2":
            return math.atan2(num(a(0, s)), num(a(1, s)))
        raise AwkError(f"{name} is not emulated")
    return run


def run(program: str, data: bytes, variables: dict[str, str], tick: Callable[[], None], max_out: int,
        argv: list[str] | None = None, read_file: Callable[[str], bytes | None] | None = None) -> bytes:
    """Output of ``awk program`` on ``data`` (characters are bytes); ``argv`` fills ARGV/ARGC and
    ``read_file`` serves ``getline < file``."""
    begin, rules, end = Parser(lex(program)).program()
    s = State(tick, max_out)
    for k, v in variables.items():
        s.vars[k] = StrNum(v)
    args = ["awk"] + list(argv or [])
    s.arrays["ARGV"] = {str(k): StrNum(a) for k, a in enumerate(args)}
    s.vars["ARGC"] = len(args)
    if read_file is not None:
        s.read_file = read_file
    text = data.decode("latin-1")

    def records() -> Iterator[str]:
        """The main input's records, split by RS as it is at the first read (after BEGIN set it, or
        at a getline inside BEGIN); the rules and getline take them in turn."""
        rs = string(s.vars["RS"])
        if rs == "\n" or len(rs) == 1:
            out = text.split(rs)
            if out and out[-1] == "":
                out.pop()
        elif rs == "":
            out = [r for r in re.split(r"\n\n+", text.strip("\n")) if r]
        else:
            out = re.split(rs, text)
        yield from out
    s.main = records()
    try:
        for b in begin:
            b(s)
        if rules or end:
            for rec in s.main:
                s.tick()
                s.vars["NR"] = num(s.vars["NR"]) + 1
                s.vars["FNR"] = s.vars["NR"]
                s.set_record(rec)
                try:
                    for pattern, action in rules:
                        if pattern is not None and isinstance(pattern, tuple):
                            raise AwkError("range patterns are not emulated")
                        if pattern is None or truth(pattern(s)):
                            if action is None:
                                s.emit(s.fields[0] + string(s.vars["ORS"]))
                            else:
                                action(s)
                except _Next:
                    continue
    except _Exit:
        pass
    try:
        for e in end:
            e(s)
    except _Exit:
        pass
    return "".join(s.out).encode("latin-1", "replace")
