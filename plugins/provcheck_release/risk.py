"""Build-script risk analysis: constructs a build script has no business containing.

Each indicator is a line-level pattern with a strength. The xz 5.6.x trigger needed all
of: a content grep over the source tree (to find the disguised test file), a `tr`
substitution that swaps characters, an `eval` of an assembled pipeline, and an
`AC_CONFIG_COMMANDS` that runs it from config.status. A clean `configure` has none of
these; it does have thousands of harmless `eval`s, so plain `eval` is not an indicator.
"""

from __future__ import annotations

import bisect
import time
import re
from dataclasses import dataclass
from typing import Any

from provcheck import Severity

STRONG, WEAK = "strong", "weak"

_SRCDIR = r"""["']?\$(?:\{|\()?(?:top_|ac_|abs_|abs_top_|ac_top_)?srcdir(?:\}|\))?"""
_DECOMP = r"(?:\bxz\b|\bunxz\b|\bxzcat\b|\blzma\b|\bunlzma\b|\blzcat\b|\bgzip\b|\bgunzip\b|\bzcat\b|\bbzip2\b|" \
          r"\bbunzip2\b|\bbzcat\b|\bzstd\b|\bunzstd\b|\bzstdcat\b|\blzip\b|\bbase64\b|\buudecode\b|\bopenssl\s+enc\b)"
_SHELL_SINK = r"\|\s*(?:eval\b|(?:/bin/|/usr/bin/)?(?:ba|da|z|k)?sh\b(?!\S*\.)|\$\{?(?:SHELL|CONFIG_SHELL)\}?)"
_TESTDATA = r"(?:^|[\s/'\"=$({])(?:tests?|testdata|test-data|testsuite|test_data|fixtures?)/[^\s'\"`;|).]*" \
            r"(?:\.[^\s'\"`;|).]+)*?" \
            r"\.(?:xz|lzma|lz|gz|bz2|zst|z|Z|7z|zip|bin|dat|raw|lz4|br|tar)(?![\w.])"
_READERS = r"(?:^|[\s|;&(`])(?:cat|sed|awk|gawk|head|tail|dd|tr|xz|unxz|xzcat|gzip|gunzip|zcat|bzcat|bunzip2|zstd|" \
           r"grep|od|xxd|base64|uudecode|cut|strings)\s|\s<\s*\S"

INDICATORS: list[tuple[str, str, re.Pattern, str]] = [
    ("grep-source-tree", STRONG,
     re.compile(r"\bgrep\b[^|;\n`]{0,256}?\s-[a-zA-Z]*[rR][a-zA-Z]*\b[^|;\n`]{0,256}?" + _SRCDIR),
     "searches the whole source tree by content (grep -r over $srcdir), as the xz trigger did to find its payload"),
    ("decompress-to-shell", STRONG,
     re.compile(_DECOMP + r"[^\n]*?(?:\s-[a-zA-Z]*d|\s--decompress|\s--decode|\s-D\b|cat\b)[^\n]*?" + _SHELL_SINK),
     "pipes decompressed or decoded data into a shell or eval"),
    ("eval-pipeline", WEAK,
     re.compile(r"(?<!\|)\|\s*eval\s+[\"']?\$\{?\w+|\beval\s+[\"']?\$\{?\w+\}?[\"']?\s*\|(?!\|)\s*(?:\$\{?\w+|\w+\s+-d)"),
     "evaluates an assembled command string inside a pipeline"),
    ("pipe-to-shell", STRONG,
     re.compile(r"(?:\$\{?\w+\}?|`[^`]*`|\$\([^)]*\))[^\n|]*" + r"\|\s*(?:(?:/bin/|/usr/bin/)?(?:ba)?sh|\$\{?SHELL\}?)\s*"
                r"(?:2>\s*/dev/null|$|[;)&\]'\"])"),
     "pipes the output of an assembled command or variable into a shell"),
    ("test-data-read", STRONG,
     re.compile(_TESTDATA),
     "a build script reads a compressed or binary test data file"),
    ("config-commands-exec", STRONG, re.compile(r"AC_CONFIG_COMMANDS(?:_PRE|_POST)?\s*\("),
     "AC_CONFIG_COMMANDS whose commands run eval or a shell on computed content"),
    ("tr-substitution", WEAK, re.compile(r"\btr\b"),
     "tr with a substitution map that swaps characters (a permutation, not a case or charset conversion)"),
    ("byte-slicing", WEAK,
     re.compile(r"\bhead\s+(?:-[a-zA-Z]*\s+)*-c\s*\+?\d|\btail\s+(?:-[a-zA-Z]*\s+)*-c\s*\+?\d|"
                r"\bdd\b[^\n]*\b(?:skip|seek|count|bs|ibs)=\d"),
     "cuts fixed byte ranges out of a file (head -c / tail -c / dd skip=)"),
    ("distro-build-gate", WEAK,
     re.compile(r"debian/rules|\$\{?RPM_ARCH\b|\$\{?RPM_BUILD_ROOT\b|\bdpkg-buildpackage\b|\$\{?DEB_BUILD_"),
     "behaves differently when built by a distribution (debian/rules, $RPM_ARCH)"),
]

_SINK_HINT = re.compile(r"\|\s*(?:eval|(?:/bin/|/usr/bin/)?(?:ba|da|z|k)?sh\b|\$\{?(?:SHELL|CONFIG_SHELL))")

# Lines that no generator produced (PC110's unexplained hunks) have no legitimate origin at all, so
# anything in them that fetches, decodes into execution or rewrites the build is a risk too; these
# are too common in whole clean scripts to count there.
UNEXPLAINED: list[tuple[str, str, re.Pattern, str]] = [
    ("network-fetch", STRONG, re.compile(r"(?:^|[\s;&|(`\"'])(?:curl|wget|nc|ncat|socat|telnet|ftp|tftp)\s|"
                                         r"/dev/(?:tcp|udp)/"),
     "fetches from the network"),
    ("literal-pipe-to-shell", STRONG,
     re.compile(r"\|\s*(?:(?:/bin/|/usr/bin/)?(?:ba|da|k|z)?sh|\$\{?(?:SHELL|CONFIG_SHELL)\}?)\b(?![.\w/-])"),
     "pipes text into a shell"),
    ("eval-of-output", STRONG, re.compile(r"\beval\s+[\"']?(?:\$\(|`)|\bsource\s+<\(|\.\s+<\("),
     "evaluates the output of a command"),
    ("decode", STRONG, re.compile(r"\bbase(?:64|32)\s+(?:-\w*d|--decode)|\bxxd\s+(?:-\w+\s+)*-r|\bopenssl\s+(?:enc|base64)\b|"
                                  r"\buudecode\b|\bprintf\s+[\"']?(?:%b|\\x[0-9a-fA-F])|\bb64decode\b"),
     "decodes encoded data"),
    ("writes-build-input", STRONG,
     re.compile(r">>?\s*[\"']?(?!\$\{?(?:ac_)?tmp|conf|\$\{?ac_file|\$\{?CONFIG_)[^\s\"';|&>]+"
                r"\.(?:c|h|cc|cpp|S|s|o|lo|a|so|la|m4|am)[\"']?(?![.\w])|\bsed\s+(?:-\w+\s+)*-i\b"),
     "writes or edits a source, object or build file"),
    ("make-executable", STRONG, re.compile(r"\bchmod\s+(?:-\w+\s+)*(?:[ugoa]*\+[rw]*x|[0-7]*[1357][0-7]?\b)"),
     "makes a file executable"),
    ("preload", STRONG, re.compile(r"\bLD_PRELOAD\b|\bLD_LIBRARY_PATH\s*=|/etc/ld\.so\.preload"),
     "changes what the dynamic loader loads"),
    ("runs-outside-file", STRONG,
     re.compile(r"(?:^|[;&|{(`]|\b(?:then|do|else)\b)\s*(?:\.|source|(?:ba|da|k|z)?sh|exec)\s+[\"']?"
                r"(?:\$\{?(?!(?:ac_|top_|abs_|)(?:srcdir|builddir)\b|(?:CONFIG_)?SHELL\b|0\b)\w|/tmp/|/var/tmp/|/dev/shm/|~/)"),
     "sources or runs a file outside the source tree, or one a variable names"),
]
UNEXPLAINED_PREFILTER: dict[str, tuple[str | re.Pattern, ...]] = {
    "network-fetch": ("curl", "wget", "nc ", "ncat", "socat", "telnet", "ftp", "/dev/tcp", "/dev/udp"),
    "literal-pipe-to-shell": (_SINK_HINT,),
    "eval-of-output": ("eval", "<("),
    "decode": ("base64", "base32", "xxd", "openssl", "uudecode", "printf", "b64decode"),
    "writes-build-input": (">", "sed "),
    "make-executable": ("chmod",),
    "preload": ("LD_PRELOAD", "LD_LIBRARY_PATH", "ld.so.preload"),
    "runs-outside-file": (re.compile(r"(?:^|[;&|{(`\s])(?:\.|source|(?:ba|da|k|z)?sh|exec)\s+[\"']?[$/~]"),),
}

_READERS_RX = re.compile(_READERS)
_NEWLINE = re.compile("\n")

# What a line must hold for an indicator's regex to be worth running on it: literals (found
# with str.find, several times faster than a regex alternation) or one regex pass.
PREFILTER: dict[str, tuple[str | re.Pattern, ...]] = {
    "grep-source-tree": ("grep",), "eval-pipeline": ("eval",),
    "decompress-to-shell": (_SINK_HINT,), "pipe-to-shell": (_SINK_HINT,),  # a pipe into a shell, not every "|"
    "test-data-read": (re.compile(r"test(?:s|data|-data|suite|_data)?/"), "fixture"),
    "config-commands-exec": ("AC_CONFIG_COMMANDS",), "tr-substitution": ("tr ",),
    "byte-slicing": ("head", "tail", "dd "),
    "distro-build-gate": ("debian/rules", "RPM_", "dpkg-buildpackage", "DEB_BUILD_"),
}

_TR_ARGS = re.compile(r"""\btr\s+(?:-[a-zA-Z]+\s+)*(?P<q1>["'])(?P<a>(?:\\.|(?!(?P=q1)).)*)(?P=q1)\s+"""
                      r"""(?P<q2>["'])(?P<b>(?:\\.|(?!(?P=q2)).)*)(?P=q2)""")
_ESC = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\", "-": "-", "'": "'", '"': '"', " ": " ", "v": "\v", "f": "\f"}


def expand_tr_set(s: str) -> str:
    chars: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            m = re.match(r"[0-7]{1,3}", s[i + 1:])
            if m:
                chars.append(chr(int(m.group(0), 8)))
                i += 1 + len(m.group(0))
                continue
            chars.append(_ESC.get(nxt, nxt))
            i += 2
            continue
        if c == "[" and s.startswith("[:", i):
            end = s.find(":]", i)
            if end > 0:
                chars.append(s[i:end + 2])
                i = end + 2
                continue
        if i + 2 < len(s) and s[i + 1] == "-" and c != "\\":
            lo, hi = ord(c), ord(s[i + 2])
            if lo <= hi and hi - lo < 256:
                chars.extend(chr(x) for x in range(lo, hi + 1))
                i += 3
                continue
        chars.append(c)
        i += 1
    return "".join(chars)


def tr_is_permutation(line: str) -> tuple[str, str] | None:
    for m in _TR_ARGS.finditer(line):
        a, b = expand_tr_set(m.group("a")), expand_tr_set(m.group("b"))
        if len(a) >= 2 and a != b and sorted(a) == sorted(b):
            if a.lower() == b.lower() or a.swapcase() == b:
                continue
            return m.group("a"), m.group("b")
    return None


def _config_commands_runs(text: str, start: int) -> bool:
    depth, i = 0, start
    end = min(len(text), start + 4000)
    while i < end:
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                break
        i += 1
    body = text[start:i]
    return bool(re.search(r"\beval\b|" + _SHELL_SINK + "|" + _DECOMP + r"[^\n]*\s-[a-zA-Z]*d", body))


@dataclass
class Hit:
    indicator: str
    strength: str
    line: int
    text: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"indicator": self.indicator, "strength": self.strength, "line": self.line, "text": self.text,
                "why": self.why}


ANALYSIS_SECONDS = 5.0  # a build file crafted to be slow to match stops here, and says so


def _lines_with(keywords: tuple[str | re.Pattern, ...], text: str, starts: list[int]) -> list[int]:
    """Indexes of the lines holding a keyword (a literal or a regex match), each once, in order."""
    found: set[int] = set()
    end = len(text)
    for lit in keywords:
        pos = 0
        while True:
            if isinstance(lit, str):
                at = text.find(lit, pos)
            else:
                m = lit.search(text, pos)
                at = m.start() if m is not None else -1
            if at < 0:
                break
            idx = bisect.bisect_right(starts, at) - 1
            found.add(idx)
            pos = starts[idx + 1] if idx + 1 < len(starts) else end + 1
    return sorted(found)


# What a distribution's or a git snapshot's patch of a published libtool/gettext file may do
# (libtool writes C wrappers and makes them executable), unlike lines no input explains at all.
IN_PATCHED_COPIES = ("network-fetch", "literal-pipe-to-shell", "eval-of-output", "decode", "preload",
                     "runs-outside-file")


def analyse(data: bytes, max_bytes: int = 8 << 20, seconds: float = ANALYSIS_SECONDS,
            unexplained: bool | tuple[str, ...] = False) -> list[Hit]:
    """Risky constructs in a build script, with 1-based line numbers. ``unexplained`` judges lines
    no generator produced by the :data:`UNEXPLAINED` indicators too (``True``: all of them; a
    tuple: those named, e.g. :data:`IN_PATCHED_COPIES` for a diff against a published copy)."""
    deadline = time.monotonic() + seconds
    text = data[:max_bytes].decode("latin-1")
    starts = [0]
    for m in _NEWLINE.finditer(text):
        starts.append(m.end())
    lines = text.split("\n")
    hits: list[Hit] = []
    lines_with: dict[tuple[str | re.Pattern, ...], list[int]] = {}
    extra = [i for i in UNEXPLAINED if unexplained is True or (unexplained and i[0] in unexplained)]
    for name, strength, rx, why in INDICATORS + extra:
        kw = PREFILTER.get(name) or UNEXPLAINED_PREFILTER[name]
        if kw not in lines_with:
            lines_with[kw] = _lines_with(kw, text, starts)
        for idx in lines_with[kw]:
            if time.monotonic() > deadline:
                hits.append(Hit("analysis-budget", WEAK, idx + 1, "",
                                f"risk analysis stopped after {seconds:g} s at this line: the file is built to be "
                                "slow to analyse, and the rest was not checked"))
                hits.sort(key=lambda h: (h.line, h.indicator))
                return hits
            line = lines[idx]
            if len(line) > 4000:
                continue
            stripped = line.lstrip()
            if stripped.startswith("dnl ") or stripped == "dnl":
                continue
            if name == "test-data-read" and not _READERS_RX.search(line):
                continue
            if not rx.search(line):
                continue
            reason = why
            if name == "tr-substitution":
                perm = tr_is_permutation(line)
                if not perm:
                    continue
                reason = f"{why}: {perm[0]!r} -> {perm[1]!r}"
            elif name == "config-commands-exec":
                if not _config_commands_runs(text, starts[idx] + line.index("AC_CONFIG_COMMANDS")):
                    continue
            elif stripped.startswith("#"):
                continue
            hits.append(Hit(name, strength, idx + 1, line.strip()[:300], reason))
    hits.sort(key=lambda h: (h.line, h.indicator))
    return hits


def grade(hits: list[Hit]) -> Severity | None:
    """Severity of a set of indicators in one file: combinations are what matter."""
    strong = {h.indicator for h in hits if h.strength == STRONG}
    weak = {h.indicator for h in hits if h.strength == WEAK}
    if len(strong) >= 2 or (strong and weak):
        return Severity.CRITICAL
    if strong:
        return Severity.HIGH
    if len(weak) >= 2:
        return Severity.MEDIUM
    if weak:
        return Severity.LOW
    return None


BUILD_NAMES = re.compile(r"(?:^|/)(?:configure|configure\.ac|configure\.in|aclocal\.m4|acinclude\.m4|"
                         r"Makefile(?:\.in|\.am|\.in\.in)?|GNUmakefile|CMakeLists\.txt|meson\.build|meson_options\.txt|"
                         r"meson\.options|bootstrap|autogen\.sh|config\.status|libtool|ltmain\.sh|config\.guess|"
                         r"config\.sub|install-sh|depcomp|missing|compile|ar-lib|test-driver|setup\.py|build\.rs|"
                         r"SConstruct|SConscript|BUILD|BUILD\.bazel|WORKSPACE|Rakefile|build\.gradle|pom\.xml)$|"
                         r"\.(?:m4|sh|bash|am|mk|mak|cmake|ac|in|pl|py|awk|sed|sin)$")


def is_build_file(path: str, head: bytes = b"") -> bool:
    if BUILD_NAMES.search(path):
        return not path.endswith((".h.in", ".po", ".pot")) and not re.search(r"\.(?:[1-9]|html|txt|md)\.in$", path)
    return head.startswith(b"#!")
