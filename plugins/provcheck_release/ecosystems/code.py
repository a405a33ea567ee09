"""What code only in the artifact can do: capabilities, new endpoints, code absent from the source.

Used on: files that run at install (PC120), lines an artifact adds to a Python/JavaScript
file (PC125), and built bundles (PC124, from ``npm``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Iterable

from provcheck import Severity

from ..rules import PC120, PC125

CODE_FILE = re.compile(r"\.(?:py|pyw|pyi|[cm]?js|jsx|[cm]?ts|tsx|sh|bash|bat|cmd|ps1)$")
WINDOW = 12               # capabilities this close (lines / chunks) count as used together
URL = re.compile(r"""\b(?:https?|wss?|ftp)://([A-Za-z0-9.-]+)(?::\d+)?[^\s'"`<>)]*""")
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{2,5})?(?![\d.])")
HOSTPORT = re.compile(r"""["']([a-z0-9-]+(?:\.[a-z0-9-]+)+):\d{2,5}["']""")
BENIGN_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "example.com", "www.w3.org", "w3.org"}
IDENT = re.compile(r"[A-Za-z_$][\w$]{3,}")
STRING_ANY = re.compile(r"""(["'`])((?:\\.|(?!\1)[^\\\n]){1,2000})\1""")
MANGLE = re.compile(r"\$+\d*|_\d+\b")  # rollup's name$1 / require$$0, tsc's util_1
# names a compiler, bundler or runtime brings (never "novel")
RUNTIME = set("""Object defineProperty prototype exports module require __esModule Symbol iterator Promise undefined
function return typeof instanceof arguments default value enumerable configurable writable length this null true
false const void while break continue switch case throw catch finally async await yield static super class extends
import export from call apply bind push slice concat indexOf hasOwnProperty toString create assign keys values
entries getOwnPropertyNames getOwnPropertySymbols getOwnPropertyDescriptor freeze Array isArray Error TypeError
RangeError String Number Boolean Math JSON stringify parse window self global globalThis console process document
__awaiter __generator __extends __assign __rest __decorate __importDefault __importStar __exportStar __values
__read __spread __spreadArray __createBinding __setModuleDefault __webpack_require__ __webpack_exports__
__webpack_modules__ _interopRequireDefault _interopRequireWildcard _classCallCheck _createClass _defineProperty
_inherits _possibleConstructorReturn _getPrototypeOf _typeof _slicedToArray _toConsumableArray use strict
else then next done sent trys label ops resolve reject constructor get set key writable Reflect Map Set WeakMap
WeakSet""".split())


@dataclass
class Hit:
    capability: str
    position: int   # line (1-based) or chunk index
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"capability": self.capability, "line": self.position, "text": self.text[:200]}


COMMENT = re.compile(r"\s*(?://|/\*|\*|#(?!!)|<!--)")


def is_comment(line: str) -> bool:
    return COMMENT.match(line) is not None


def capability_hits(lines: Iterable[tuple[int, str]], caps: list[Any]) -> list[Hit]:
    out = []
    for pos, line in lines:
        if is_comment(line):
            continue
        if len(line) > 20000:
            line = line[:20000]
        for cap in caps:
            if any(rx.search(line) for rx in cap.patterns):
                out.append(Hit(cap.name, pos, line.strip()))
    return out


def new_endpoints(lines: Iterable[tuple[int, str]], corpus: str) -> list[Hit]:
    """URLs, IP addresses and host:port literals whose host appears in no source file
    (``corpus``: the source's text, lower-cased)."""
    out, seen = [], set()
    for pos, line in lines:
        if is_comment(line):
            continue
        literals = " ".join(m.group(2) for m in STRING_ANY.finditer(line))  # endpoints in code, not in comments
        hosts = [m.group(1) for m in URL.finditer(literals)]
        hosts += [m.group(0).split(":")[0] for m in IPV4.finditer(literals)]
        hosts += [m.group(1) for m in HOSTPORT.finditer(line)]
        for host in hosts:
            h = host.lower().strip(".")
            if not h or h in BENIGN_HOSTS or h in seen or h.endswith(".example.com"):
                continue
            seen.add(h)
            if h not in corpus:
                out.append(Hit("new-endpoint", pos, line.strip()))
    return out


def grade(hits: list[Hit]) -> Severity | None:
    """Two capabilities within WINDOW (a new endpoint counts as one) -> critical; one -> high."""
    if not hits:
        return None
    ordered = sorted(hits, key=lambda h: h.position)
    for i, h in enumerate(ordered):
        near = {h.capability}
        for x in ordered[i + 1:]:
            if x.position - h.position > WINDOW:
                break
            near.add(x.capability)
        if len(near) >= 2:
            return Severity.CRITICAL
    return Severity.HIGH


def added_lines(old: str | None, new: str) -> list[tuple[int, str]]:
    """(line number in ``new``, text) of the lines ``new`` adds to ``old`` (all, without ``old``)."""
    b = new.splitlines()
    if old is None:
        return list(enumerate(b, 1))
    a = old.splitlines()
    if len(a) + len(b) > 40000:  # too big for difflib: lines not in old at all
        have = set(a)
        return [(i, line) for i, line in enumerate(b, 1) if line not in have]
    sm = difflib.SequenceMatcher(None, a, b, autojunk=len(a) + len(b) > 4000)
    return [(j + 1, b[j]) for op, _i1, _i2, j1, j2 in sm.get_opcodes() if op in ("insert", "replace")
            for j in range(j1, j2)]


def judge_lines(r: Any, lines: list[tuple[int, str]]) -> tuple[list[Hit], Severity | None]:
    hits = capability_hits(lines, r.data.capabilities)
    if lines:
        hits += new_endpoints(lines, r.corpus_lower())
    return hits, grade(hits)


def _summary(hits: list[Hit]) -> str:
    caps = sorted({h.capability for h in hits})
    first = min(hits, key=lambda h: h.position)
    return f"{', '.join(caps)} (line {first.position}: {first.text[:100]})"


# -- install-time code (PC120) -----------------------------------------------------------------

def review_install_time(r: Any) -> None:
    """Every file that runs at install and is not identical to the tag."""
    for path, why in sorted(r.install_time.items()):
        v = r.verdict(path)
        if v is None or v.verdict in ("identical", "only-in-source") or getattr(v, "_install_ok", False):
            continue
        if v.verdict == "built-unverified" and path in r.analysed:  # a built install script: judged as a bundle
            continue
        text = r.text_r(path)
        old = r.text_s(path) if path in r.sfiles else None
        lines = added_lines(old, text) if text is not None else []
        hits, _ = judge_lines(r, lines)
        generic = next((f for f in r.generic_findings(path) if f.rule_id in ("PC101", "PC102", "PC103")), None)
        ev: dict[str, Any] = {"runs": why, "verdict": v.verdict, "in_source": path in r.sfiles}
        if generic is not None and generic.evidence.get("diff"):
            ev["diff"] = generic.evidence["diff"]
        elif text is not None and old is None:
            ev["content_head"] = "\n".join(text.splitlines()[:40])[:4000]
        if hits:
            ev["capabilities"] = [h.to_dict() for h in hits[:30]]
        state = "only in the artifact" if path not in r.sfiles else "differs from the tag"
        r.add(path, PC120.finding(location=r.loc(path), key=f"{path}#install", evidence=ev,
                                  message=f"{path} runs at install ({why}) and {state}"
                                          + (f": {_summary(hits)}" if hits else "")))


# -- added code (PC125) -------------------------------------------------------------------------

def review_added_code(r: Any) -> None:
    """Modified and release-only code files (not install-time, not built output): what the
    added lines can do."""
    for path, v in sorted(r.verdicts.items()):
        if v.verdict not in ("modified", "unexplained", "generated-mismatch") or path in r.install_time \
                or path in r.analysed:
            continue
        if not CODE_FILE.search(path) and not (r.rfiles.get(path) and r.rfiles[path].mode & 0o111):
            continue
        text = r.text_r(path)
        if text is None:
            continue
        old = r.text_s(path) if path in r.sfiles else None
        lines = added_lines(old, text)
        hits, sev = judge_lines(r, lines)
        if sev is None:
            continue
        r.add(path, PC125.finding(location=r.loc(path, lines=(min(h.position for h in hits),
                                                             max(h.position for h in hits))),
                                  key=f"{path}#capability", severity=sev,
                                  evidence={"capabilities": [h.to_dict() for h in hits[:30]],
                                            "added_lines": len(lines), "in_source": path in r.sfiles},
                                  message=f"code {'added to' if old is not None else 'only in the artifact:'} "
                                          f"{path}: {_summary(hits)}"))


# -- bundles (facts for PC124) ---------------------------------------------------------------------

def chunks(text: str) -> list[tuple[int, str]]:
    """Lines; very long (minified) lines cut at statement ends into pieces of ~300 chars."""
    out: list[tuple[int, str]] = []
    n = 0
    for line in text.splitlines():
        if len(line) <= 400:
            n += 1
            out.append((n, line))
            continue
        start = 0
        while start < len(line):
            end = line.find(";", start + 300)
            end = len(line) if end < 0 else end + 1
            n += 1
            out.append((n, line[start:end]))
            start = end
    return out


def novel_chunks(text: str, corpus_tokens: set[str]) -> tuple[list[tuple[int, str]], list[str]]:
    """Chunks holding identifiers or string literals that appear in no source file."""
    novel, tokens = [], []
    for pos, chunk in chunks(text):
        if is_comment(chunk):
            continue
        new = [part for t in IDENT.findall(chunk) for part in MANGLE.split(t)
               if len(part) >= 4 and part not in corpus_tokens and part not in RUNTIME]
        if new:
            novel.append((pos, chunk))
            tokens.extend(new)
    return novel, tokens


REGION_GAP = 3      # novel chunks this close belong to one region
REGION_MAX = 60     # a longer novel region is inlined library code (a bundled dependency), not an insertion


def regions(novel: list[tuple[int, str]]) -> list[tuple[int, int]]:
    """(first, last) chunk positions of runs of novel chunks."""
    out: list[list[int]] = []
    for pos, _ in novel:
        if out and pos - out[-1][1] <= REGION_GAP:
            out[-1][1] = pos
        else:
            out.append([pos, pos])
    return [(a, b) for a, b in out]


def split_inserted(novel: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], list[tuple[int, int]]]:
    """The novel chunks of short regions (insertions into code built from the source) and the
    long regions (inlined libraries), which novelty cannot judge."""
    long = [(a, b) for a, b in regions(novel) if b - a + 1 > REGION_MAX]
    inserted = [(p, c) for p, c in novel if not any(a <= p <= b for a, b in long)]
    return inserted, long


def obfuscation(text: str) -> list[str]:
    signals = []
    if re.search(r"\b_0x[0-9a-f]{4,}\b", text):
        signals.append("_0x-style identifiers (javascript-obfuscator)")
    if len(re.findall(r"(?:\\x[0-9a-fA-F]{2}){8}", text)) > 5:
        signals.append("hex-escaped strings")
    if re.search(r"""["'][A-Za-z0-9+/]{1000,}={0,2}["']""", text):
        signals.append("long base64 literal")
    if re.search(r"\beval\s*\(\s*(?:atob|unescape|Buffer\.from|String\.fromCharCode)", text):
        signals.append("eval of decoded data")
    return signals
