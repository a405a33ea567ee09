"""A POSIX shell parser for the emulator: words stay raw (quotes, ``$VAR``, ``$(...)`` kept) and are
expanded when a command runs, so a value assigned earlier in the script is used.

``parse(text, first_line)`` returns a :class:`Seq`; a construct it cannot parse becomes an
:class:`Unsupported` node (the rest of the text is still parsed). The one exception is
RecursionError, for nesting deeper than Python's stack: the pipeline reports it as an error.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

# -- nodes -------------------------------------------------------------------------------------


@dataclass
class Simple:
    words: list[str]
    assigns: list[tuple[str, str]] = field(default_factory=list)
    redirs: list[tuple[str, int, str]] = field(default_factory=list)   # op, fd, target word
    line: int = 0

    def text(self) -> str:
        parts = [f"{k}={v}" for k, v in self.assigns] + self.words
        parts += [f"{'' if fd in (0, 1) else fd}{op}{t}" for op, fd, t in self.redirs]
        return " ".join(parts)


@dataclass
class Pipeline:
    cmds: list
    line: int = 0


@dataclass
class AndOr:
    items: list          # [(op, node)], first op ""


@dataclass
class Seq:
    items: list


@dataclass
class Group:
    body: Seq
    redirs: list = field(default_factory=list)
    line: int = 0


@dataclass
class For:
    var: str
    words: list[str] | None
    body: Seq
    line: int = 0
    redirs: list = field(default_factory=list)


@dataclass
class If:
    branches: list       # [(cond Seq, body Seq)]
    orelse: Seq | None
    line: int = 0
    redirs: list = field(default_factory=list)


@dataclass
class Case:                # which arm runs is decided at run time
    word: str
    arms: list           # [(patterns, body Seq)]
    line: int = 0
    redirs: list = field(default_factory=list)


@dataclass
class Loop:                # while / until: its condition is decided at run time
    cond: Seq
    body: Seq
    line: int = 0
    redirs: list = field(default_factory=list)


@dataclass
class Func:
    name: str
    body: object
    line: int = 0


@dataclass
class Unsupported:
    what: str
    line: int = 0


# -- lexer -------------------------------------------------------------------------------------

_OPS = ("&&", "||", ";;", ">>", "<<<", "<<-", "<<", ">&", "<&", ">|", "&>", "|", ";", "&", "(", ")", "<", ">")


@dataclass
class Tok:
    kind: str     # word, op, nl
    value: str
    line: int
    fd: int | None = None


class LexError(Exception):
    pass


def _skip_balanced(s: str, i: int, open_: str, close: str) -> int:
    """Index just past the ``close`` matching the ``open_`` before ``i`` (quote-aware)."""
    depth = 1
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            i = _skip_quoted(s, i, "single quote")
            continue
        if c == '"':
            i = _skip_dquote(s, i + 1)
            continue
        if c == "`":
            i = _skip_quoted(s, i, "backquote")
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise LexError(f"unterminated {open_}")


def _skip_dquote(s: str, i: int) -> int:
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "$" and s.startswith("$(", i):
            i = _skip_balanced(s, i + 2, "(", ")")
            continue
        if c == "`":
            i = _skip_quoted(s, i, "backquote")
            continue
        i += 1
    raise LexError("unterminated double quote")


def _skip_quoted(s: str, i: int, what: str) -> int:
    """Index just past the quote closing the one at ``i`` (a single quote or a backquote: no escapes)."""
    j = s.find(s[i], i + 1)
    if j < 0:
        raise LexError(f"unterminated {what}")
    return j + 1


_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")     # name=value, and bash's name+=value (matched from the start)


def lex(text: str, line: int = 1) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r":
            i += 1
            continue
        if c == "\\" and text.startswith("\\\n", i):
            i += 2
            line += 1
            continue
        if c == "\n":
            toks.append(Tok("nl", "\n", line))
            line += 1
            i += 1
            continue
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "<>" and text.startswith("(", i + 1):    # process substitution: a word
            j = _skip_balanced(text, i + 2, "(", ")")
            toks.append(Tok("word", text[i:j], line))
            line += text.count("\n", i, j)
            i = j
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            toks.append(Tok("op", op, line))
            i += len(op)
            if op in ("<<", "<<-"):     # here-document: the body is data, kept as the target word
                m = re.match(r"[ \t]*(['\"]?)([A-Za-z_0-9]+)\1", text[i:])
                if not m:
                    raise LexError("here-document without a delimiter")
                delim = m.group(2)
                nl = text.find("\n", i)
                if nl < 0:
                    raise LexError("here-document without a body")
                rest_of_line = text[i + m.end():nl]
                end = re.compile(r"(?m)^[\t]*" + re.escape(delim) + r"[ \t]*$").search(text, nl + 1)
                body = text[nl + 1:end.start() if end else n]
                if m.group(1):      # a quoted delimiter: the body is literal
                    toks.append(Tok("word", "'" + body.replace("'", "'\\''") + "'", line))
                else:               # otherwise it is expanded like a double-quoted word
                    toks.append(Tok("word", '"' + re.sub(r'(?<!\\)"', '\\"', body) + '"', line))
                line += body.count("\n")
                text = text[:i] + rest_of_line + "\n" + (text[end.end():] if end else "")
                n = len(text)
            continue
        # a word
        start = i
        while i < n:
            c = text[i]
            if c == "(" and _ASSIGN.fullmatch(text, start, i):    # name=( ... ): one word
                j = _skip_balanced(text, i + 1, "(", ")")
                line += text.count("\n", i, j)
                i = j
                continue
            if c in " \t\r\n|&;()<>":
                break
            if c == "\\":
                i += 2
                continue
            if c == "'":
                j = _skip_quoted(text, i, "single quote")
                line += text.count("\n", i, j)
                i = j
                continue
            if c == '"':
                j = _skip_dquote(text, i + 1)
                line += text.count("\n", i, j)
                i = j
                continue
            if c == "`":
                i = _skip_quoted(text, i, "backquote")
                continue
            if c == "$" and i + 1 < n and text[i + 1] in "({":
                j = _skip_balanced(text, i + 2, text[i + 1], ")" if text[i + 1] == "(" else "}")
                line += text.count("\n", i, j)
                i = j
                continue
            i += 1
        word = text[start:i]
        if word.isdigit() and i < n and text[i] in "<>":
            op = next(o for o in _OPS if text.startswith(o, i))
            toks.append(Tok("op", op, line, fd=int(word)))
            i += len(op)
            continue
        toks.append(Tok("word", word, line))
    return toks


# -- parser ------------------------------------------------------------------------------------

_REDIR = frozenset({"<", ">", ">>", ">|", "<&", ">&", "&>", "<<", "<<-", "<<<"})
_END_WORDS = frozenset({"then", "else", "elif", "fi", "do", "done", "esac", "}"})


class ParseError(Exception):
    pass


class _Parser:
    def __init__(self, toks: list[Tok]):
        self.toks = toks
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self) -> Tok:
        t = self.peek()
        if t is None:
            raise ParseError("unexpected end")
        self.i += 1
        return t

    def skip_nl(self) -> None:
        while (t := self.peek()) is not None and (t.kind == "nl" or t.kind == "op" and t.value == ";"):
            self.i += 1

    def at_word(self, *words: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "word" and t.value in words

    def expect_word(self, word: str) -> None:
        t = self.next()
        if t.kind != "word" or t.value != word:
            raise ParseError(f"expected {word!r} at line {t.line}, got {t.value!r}")

    def seq(self, top: bool = False) -> Seq:
        items = []
        while True:
            self.skip_nl()
            t = self.peek()
            if t is None or (t.kind == "op" and t.value in (")", ";;")) or (t.kind == "word" and t.value in _END_WORDS):
                break
            if top:
                start = self.i
                try:
                    items.append(self.and_or())
                except (ParseError, LexError) as exc:
                    line = self.toks[start].line
                    items.append(Unsupported(f"cannot parse: {exc}", line))
                    self.i = start + 1
                    while (t := self.peek()) is not None and t.kind != "nl":
                        self.i += 1
            else:
                items.append(self.and_or())
            t = self.peek()
            if t is not None and t.kind == "op" and t.value in (";", "&"):
                self.i += 1
        return Seq(items)

    def and_or(self):
        items = [("", self.pipeline())]
        while (t := self.peek()) is not None and t.kind == "op" and t.value in ("&&", "||"):
            self.i += 1
            while (u := self.peek()) is not None and u.kind == "nl":
                self.i += 1
            items.append((t.value, self.pipeline()))
        return items[0][1] if len(items) == 1 else AndOr(items)

    def pipeline(self):
        line = self.peek().line if self.peek() else 0
        if self.at_word("!"):
            self.i += 1
        cmds = [self.command()]
        while (t := self.peek()) is not None and t.kind == "op" and t.value == "|":
            self.i += 1
            while (u := self.peek()) is not None and u.kind == "nl":
                self.i += 1
            cmds.append(self.command())
        return cmds[0] if len(cmds) == 1 else Pipeline(cmds, line)

    def redirs(self) -> list:
        out = []
        while (t := self.peek()) is not None and t.kind == "op" and t.value in _REDIR:
            self.i += 1
            target = self.next()
            if target.kind != "word":
                raise ParseError(f"redirection without a target at line {t.line}")
            fd = t.fd if t.fd is not None else (0 if t.value.startswith("<") else 1)
            out.append((t.value, fd, target.value))
        return out

    def command(self):
        t = self.peek()
        if t is None:
            raise ParseError("missing command")
        line = t.line
        if t.kind == "op" and t.value == "(":
            self.i += 1
            body = self.seq()
            if not (self.peek() and self.peek().value == ")"):
                raise ParseError(f"unclosed ( at line {line}")
            self.i += 1
            return Group(body, self.redirs(), line)
        if t.kind != "word":
            raise ParseError(f"unexpected {t.value!r} at line {line}")
        if t.value == "{":
            self.i += 1
            body = self.seq()
            self.expect_word("}")
            return Group(body, self.redirs(), line)
        if t.value == "for":
            self.i += 1
            var = self.next().value
            words = None
            self.skip_nl_only()
            if self.at_word("in"):
                self.i += 1
                words = []
                while (u := self.peek()) is not None and u.kind == "word":
                    words.append(u.value)
                    self.i += 1
            self.skip_nl()
            self.expect_word("do")
            body = self.seq()
            self.expect_word("done")
            return For(var, words, body, line, self.redirs())
        if t.value == "if":
            self.i += 1
            branches = []
            cond = self.seq()
            self.expect_word("then")
            branches.append((cond, self.seq()))
            orelse = None
            while True:
                if self.at_word("elif"):
                    self.i += 1
                    cond = self.seq()
                    self.expect_word("then")
                    branches.append((cond, self.seq()))
                elif self.at_word("else"):
                    self.i += 1
                    orelse = self.seq()
                else:
                    break
            self.expect_word("fi")
            return If(branches, orelse, line, self.redirs())
        if t.value in ("while", "until"):
            self.i += 1
            cond = self.seq()
            self.expect_word("do")
            body = self.seq()
            self.expect_word("done")
            return Loop(cond, body, line, self.redirs())
        if t.value == "case":
            self.i += 1
            word = self.next().value
            self.skip_nl_only()
            self.expect_word("in")
            arms = []
            while True:
                self.skip_nl()
                if self.at_word("esac"):
                    self.i += 1
                    break
                if self.peek() is not None and self.peek().value == "(":
                    self.i += 1
                patterns = [self.next().value]
                while (u := self.peek()) is not None and u.kind == "op" and u.value == "|":
                    self.i += 1
                    patterns.append(self.next().value)
                if not (self.peek() and self.peek().value == ")"):
                    raise ParseError(f"case pattern without ')' at line {line}")
                self.i += 1
                arms.append((patterns, self.seq()))
                if self.peek() is not None and self.peek().value == ";;":
                    self.i += 1
            return Case(word, arms, line, self.redirs())
        # function definition: name () { ... }
        if (self.i + 2 < len(self.toks) and self.toks[self.i + 1].value == "(" and
                self.toks[self.i + 2].value == ")" and re.match(r"^[A-Za-z_][\w.-]*$", t.value)):
            self.i += 3
            self.skip_nl()
            return Func(t.value, self.command(), line)
        return self.simple()

    def skip_nl_only(self) -> None:
        while (t := self.peek()) is not None and t.kind == "nl":
            self.i += 1

    def simple(self) -> Simple:
        cmd = Simple([], line=self.peek().line)
        while (t := self.peek()) is not None:
            if t.kind == "op" and t.value in _REDIR:
                cmd.redirs.extend(self.redirs())
                continue
            if t.kind != "word":
                break
            if not cmd.words and _ASSIGN.match(t.value):
                k, v = t.value.split("=", 1)
                cmd.assigns.append((k, v))
            else:
                cmd.words.append(t.value)
            self.i += 1
        if not cmd.words and not cmd.assigns and not cmd.redirs:
            t = self.peek()
            raise ParseError(f"unexpected {t.value if t else 'end'!r} at line {cmd.line}")
        return cmd


@functools.lru_cache(maxsize=2048)
def parse(text: str, line: int = 1) -> Seq:
    """The commands of a shell text; what cannot be lexed or parsed is an Unsupported item.
    Cached: ``eval`` and ``$(...)`` in a loop parse the same text again (nodes are never changed)."""
    try:
        toks = lex(text, line)
    except LexError as exc:
        # lex line by line so one bad line does not hide the rest
        items: list = []
        for n, ln in enumerate(text.split("\n"), line):
            try:
                items.extend(_Parser(lex(ln, n)).seq(top=True).items)
            except LexError as exc2:
                items.append(Unsupported(f"cannot lex: {exc2}", n))
        if not items:
            items.append(Unsupported(f"cannot lex: {exc}", line))
        return Seq(items)
    p = _Parser(toks)
    out = p.seq(top=True)
    while p.peek() is not None:     # a stray closing word: skip it and go on
        t = p.next()
        out.items.append(Unsupported(f"unexpected {t.value!r}", t.line))
        out.items.extend(p.seq(top=True).items)
    return out
