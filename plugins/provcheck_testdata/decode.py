"""Decode compressed streams and archives fully, within a byte and time budget.

Nothing here writes to disk or runs anything from the input; ``lzip`` (the only
external decoder) reads the stream on stdin and its output is cut at the budget.
"""

from __future__ import annotations

import binascii
import bz2
import re
import hashlib
import io
import lzma
import struct
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

from . import entropy, magic

MEMLIMIT = 256 << 20   # decoder memory (dictionary) per stream; a header asking for more fails the decode
DECODABLE = frozenset({"xz", "lzma", "gzip", "bzip2", "zstd", "lz4", "lzip", "zip", "tar", "uu", "base64", "hex"})
# formats whose streams carry an integrity check: a clean decode of these is not luck
CHECKED = frozenset({"xz", "gzip", "bzip2", "zstd", "lzip", "zip"})


@dataclass
class Budget:
    """Per-file limits for decoding: output bytes per stream, total bytes, time, depth."""

    max_output: int = 64 << 20
    max_total: int = 256 << 20
    seconds: float = 5.0
    max_depth: int = 4
    max_members: int = 64
    used: int = 0
    deadline: float = 0.0
    exhausted: str | None = None

    def start(self) -> "Budget":
        self.deadline = time.monotonic() + self.seconds
        self.used = 0
        self.exhausted = None
        return self

    def room(self) -> int:
        return max(0, min(self.max_output, self.max_total - self.used))

    def expired(self) -> bool:
        if time.monotonic() > self.deadline:
            self.exhausted = self.exhausted or f"time budget of {self.seconds:g}s"
            return True
        return False


@dataclass
class Result:
    """One decoding step: ``ok`` means every stream ended cleanly and passed its checks."""

    format: str
    ok: bool
    output: bytes = b""
    members: list[tuple[str, bytes]] = field(default_factory=list)
    streams: int = 0
    trailing: int = 0          # bytes after the last valid stream that are not padding
    trailing_at: int = -1      # where they start in the decoded input
    error: str | None = None
    truncated: bool = False    # stopped at the budget: ok says nothing about the rest

    @property
    def clean(self) -> bool:
        return self.ok and not self.trailing and not self.truncated

    @property
    def unsupported(self) -> bool:
        """Failed because our decoder lacks a feature (a newer filter), not because the data is bad."""
        return not self.ok and bool(self.error) and "unsupported" in self.error.lower()


def decode(kind: str, data: bytes, budget: Budget) -> Result | None:
    """Decode ``data`` as ``kind``; None when we have no decoder for it."""
    fn = _DECODERS.get(kind)
    if fn is None:
        return None
    try:
        res = fn(data, budget)
    except _NoDecoder:
        return None
    except MemoryError:
        return Result(kind, False, error="out of memory")
    except Exception as exc:  # a decoder library raising on hostile input is a failed decode
        return Result(kind, False, error=f"{type(exc).__name__}: {exc}"[:300])
    budget.used += len(res.output) + sum(len(m) for _, m in res.members)
    if res.error:
        res.error = printable(" ".join(res.error.split()))
    return res


MAX_STREAMS = 4096  # concatenated streams/members decoded from one file


def _loop(make: Callable[[], Any], fmt: str, magic_bytes: bytes, data: bytes, budget: Budget,
          errors: tuple[type[BaseException], ...], padding: bool = False) -> Result:
    out = bytearray()
    rest = data
    streams = 0
    limit = budget.room()
    while True:
        if budget.expired() or streams >= MAX_STREAMS:  # thousands of empty streams must not loop for hours
            return Result(fmt, True, bytes(out), streams=streams, truncated=True)
        d = make()
        try:
            out += d.decompress(rest, max_length=max(1, limit - len(out)))
            while not d.eof and not d.needs_input and len(out) < limit:
                if budget.expired():
                    return Result(fmt, True, bytes(out), streams=streams, truncated=True)
                out += d.decompress(b"", max_length=limit - len(out))
        except errors as exc:
            return Result(fmt, False, bytes(out), streams=streams, error=str(exc) or type(exc).__name__)
        if not d.eof:
            if len(out) >= limit:
                return Result(fmt, True, bytes(out), streams=streams, truncated=True)
            return Result(fmt, False, bytes(out), streams=streams, error="stream ends early")
        streams += 1
        rest = d.unused_data
        if padding:
            stripped = rest.lstrip(b"\x00")
            pad = len(rest) - len(stripped)
            if pad % 4 == 0:
                rest = stripped
        if not rest:
            return Result(fmt, True, bytes(out), streams=streams)
        if not rest.startswith(magic_bytes):
            return Result(fmt, True, bytes(out), streams=streams, trailing=len(rest), trailing_at=len(data) - len(rest))


def _xz(data: bytes, budget: Budget) -> Result:
    return _loop(lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=MEMLIMIT), "xz", b"\xfd7zXZ\x00", data, budget,
                 (lzma.LZMAError, EOFError), padding=True)


def _lzma(data: bytes, budget: Budget) -> Result:
    # one stream; the next bytes can be anything, so no multi-stream loop
    res = _loop(lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE, memlimit=MEMLIMIT), "lzma", b"\x00NOMAGIC",
                data, budget, (lzma.LZMAError, EOFError))
    return res


def _bzip2(data: bytes, budget: Budget) -> Result:
    return _loop(bz2.BZ2Decompressor, "bzip2", b"BZh", data, budget, (OSError, EOFError, ValueError))


def _lz4(data: bytes, budget: Budget) -> Result:
    import lz4.frame
    return _loop(lz4.frame.LZ4FrameDecompressor, "lz4", b"\x04\x22\x4d\x18", data, budget,
                 (RuntimeError, EOFError, ValueError))


def _gzip(data: bytes, budget: Budget) -> Result:
    out = bytearray()
    rest = data
    members = 0
    limit = budget.room()
    while True:
        if budget.expired() or members >= MAX_STREAMS:
            return Result("gzip", True, bytes(out), streams=members, truncated=True)
        d = zlib.decompressobj(31)
        try:
            out += d.decompress(rest, max(1, limit - len(out)))
            while not d.eof and d.unconsumed_tail and len(out) < limit:
                if budget.expired():
                    return Result("gzip", True, bytes(out), streams=members, truncated=True)
                out += d.decompress(d.unconsumed_tail, limit - len(out))
        except zlib.error as exc:
            return Result("gzip", False, bytes(out), streams=members, error=str(exc))
        if not d.eof:
            if len(out) >= limit:
                return Result("gzip", True, bytes(out), streams=members, truncated=True)
            return Result("gzip", False, bytes(out), streams=members, error="stream ends early")
        members += 1
        rest = d.unused_data
        if not rest:
            return Result("gzip", True, bytes(out), streams=members)
        if not rest.startswith(b"\x1f\x8b"):
            tail = rest.rstrip(b"\x00")   # tar-style zero padding after gzip is common and harmless
            return Result("gzip", True, bytes(out), streams=members, trailing=len(tail), trailing_at=len(data) - len(rest))


def _zstd(data: bytes, budget: Budget) -> Result:
    import zstandard
    out = bytearray()
    rest = memoryview(data)
    frames = 0
    limit = budget.room()
    dctx = zstandard.ZstdDecompressor(max_window_size=1 << 27)
    while len(rest):
        if budget.expired() or frames >= MAX_STREAMS:
            return Result("zstd", True, bytes(out), streams=frames, truncated=True)
        if len(rest) >= 8 and rest[1:4] == b"\x2a\x4d\x18" and 0x50 <= rest[0] <= 0x5F:  # skippable frame
            size = int.from_bytes(rest[4:8], "little")
            if 8 + size > len(rest):
                return Result("zstd", False, bytes(out), streams=frames, error="skippable frame ends early")
            rest = rest[8 + size:]
            frames += 1
            continue
        if rest[:4] != b"\x28\xb5\x2f\xfd":
            return Result("zstd", frames > 0, bytes(out), streams=frames, trailing=len(rest), trailing_at=len(data) - len(rest),
                          error=None if frames else "not a zstd frame")
        d = dctx.decompressobj()
        pos = 0
        try:
            while not d.eof and pos < len(rest):
                out += d.decompress(bytes(rest[pos:pos + 512]))
                pos += 512
                if len(out) > limit:
                    return Result("zstd", True, bytes(out[:limit]), streams=frames, truncated=True)
                if budget.expired():
                    return Result("zstd", True, bytes(out), streams=frames, truncated=True)
        except zstandard.ZstdError as exc:
            return Result("zstd", False, bytes(out), streams=frames, error=str(exc))
        if not d.eof:
            return Result("zstd", False, bytes(out), streams=frames, error="frame ends early")
        frames += 1
        unused = d.unused_data
        rest = memoryview(unused + bytes(rest[pos:])) if unused or pos < len(rest) else memoryview(b"")
    return Result("zstd", True, bytes(out), streams=frames)


_LZIP_MAGIC = b"LZIP"


def _lzip(data: bytes, budget: Budget) -> Result:
    """lzip members (version 0 and 1) with liblzma's raw LZMA1 decoder: no process per
    attempt (the substitution search may try hundreds of tables on one file). Trailing data
    is ignored unless it looks like a corrupt header, as lzip >= 1.20 does."""
    out = bytearray()
    limit = budget.room()
    pos = members = 0
    while True:
        if budget.expired() or members >= MAX_STREAMS:
            return Result("lzip", True, bytes(out), streams=members, truncated=True)
        head = data[pos:pos + 6]
        if members and (not head.startswith(_LZIP_MAGIC) or len(head) < 6):  # after a member: trailing data?
            if len(head) < 6:   # a truncated header when it begins like one
                corrupt = bool(head) and head[:4] == _LZIP_MAGIC[:len(head[:4])]
            else:               # a corrupt header when 2 or 3 of the magic bytes match
                corrupt = 1 < sum(a == b for a, b in zip(head[:4], _LZIP_MAGIC)) < 4
            if corrupt:
                return Result("lzip", False, bytes(out), streams=members, error="corrupt header in multimember file")
            return Result("lzip", True, bytes(out), streams=members)
        if not head.startswith(_LZIP_MAGIC) or len(head) < 6:
            return Result("lzip", False, bytes(out), streams=members, error="bad magic number or truncated header")
        version, coded = head[4], head[5]
        if version > 1:
            raise _NoDecoder(f"version {version} member format not supported")
        dict_size = 1 << (coded & 0x1F)
        dict_size -= (dict_size // 16) * (coded >> 5)
        if not 4096 <= dict_size <= 512 << 20 or (version == 0 and coded >> 5):
            return Result("lzip", False, bytes(out), streams=members, error="invalid dictionary size in member header")
        d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": dict_size,
                                                             "lc": 3, "lp": 0, "pb": 2}])
        member = bytearray()
        try:
            member += d.decompress(data[pos + 6:], max_length=max(1, limit - len(out)))
            while not d.eof and not d.needs_input and len(out) + len(member) < limit and not budget.expired():
                member += d.decompress(b"", max_length=limit - len(out) - len(member))
        except lzma.LZMAError as exc:
            return Result("lzip", False, bytes(out + member), streams=members, error=str(exc))
        if not d.eof:
            if len(out) + len(member) >= limit or budget.expired():
                return Result("lzip", True, bytes(out + member), streams=members, truncated=True)
            return Result("lzip", False, bytes(out + member), streams=members, error="member ends early")
        rest = d.unused_data
        trailer = 20 if version == 1 else 12
        if len(rest) < trailer:
            return Result("lzip", False, bytes(out + member), streams=members, error="truncated member trailer")
        crc, size = struct.unpack_from("<IQ", rest)
        end = len(data) - len(rest) + trailer
        if crc != zlib.crc32(member) or size != len(member) or (
                version == 1 and struct.unpack_from("<Q", rest, 12)[0] != end - pos):
            return Result("lzip", False, bytes(out + member), streams=members,
                          error="member trailer does not match (CRC, data size or member size)")
        out += member
        members += 1
        pos = end


class _NoDecoder(Exception):
    pass


def _zip(data: bytes, budget: Budget) -> Result:
    members: list[tuple[str, bytes]] = []
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        return Result("zip", False, error=str(exc))
    infos = [i for i in zf.infolist() if not i.is_dir()]
    error = None
    for info in infos[:budget.max_members]:
        if info.flag_bits & 0x1:
            error = f"{info.filename}: encrypted member"
            continue
        limit = budget.room() - sum(len(m) for _, m in members)
        if limit <= 0 or budget.expired():
            return Result("zip", True, members=members, streams=len(members), truncated=True, error=error)
        try:
            with zf.open(info) as f:
                body = f.read(limit + 1)
                if len(body) > limit:
                    members.append((info.filename, body[:limit]))
                    return Result("zip", True, members=members, streams=len(members), truncated=True)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error,
                lzma.LZMAError, ValueError) as exc:
            return Result("zip", False, members=members, streams=len(members), error=f"{info.filename}: {exc}")
        members.append((info.filename, body))
    return Result("zip", error is None, members=members, streams=len(members), error=error,
                  truncated=len(infos) > budget.max_members)


def _tar(data: bytes, budget: Budget) -> Result:
    members: list[tuple[str, bytes]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            for count, info in enumerate(tf):
                if count >= budget.max_members * 4:
                    return Result("tar", True, members=members, streams=len(members), truncated=True)
                if not info.isreg() or info.issparse():   # sparse members: holes are not content
                    continue
                if budget.expired():
                    return Result("tar", True, members=members, streams=len(members), truncated=True)
                if len(members) >= budget.max_members:
                    return Result("tar", True, members=members, streams=len(members), truncated=True)
                f = tf.extractfile(info)
                limit = budget.room() - sum(len(m) for _, m in members)
                body = f.read(max(0, limit) + 1) if f else b""
                if len(body) > limit:
                    return Result("tar", True, members=members + [(info.name, body[:limit])],
                                  streams=len(members) + 1, truncated=True)
                members.append((info.name, body))
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        return Result("tar", False, members=members, streams=len(members), error=str(exc))
    return Result("tar", True, members=members, streams=len(members))


UU_BEGIN = re.compile(rb"\Abegin(-base64)? [0-7]{3,4} [^\r\n]+\r?\n")


def _uu(data: bytes, budget: Budget) -> Result:
    """uuencode (and ``begin-base64``) text, as libarchive's test corpus stores its archives."""
    m = UU_BEGIN.match(data)
    if not m:
        return Result("uu", False, error="no begin line")
    b64 = m.group(1) is not None
    out = bytearray()
    limit = budget.room()
    for line in data[m.end():].splitlines():
        line = line.rstrip(b"\r ")
        if b64:
            if line == b"====":
                return Result("uu", True, bytes(out), streams=1)
            try:
                out += binascii.a2b_base64(line)
            except binascii.Error as exc:
                return Result("uu", False, bytes(out), error=str(exc))
        else:
            if line == b"end":
                return Result("uu", True, bytes(out), streams=1)
            if not line or line == b"`":
                continue
            n = (line[0] - 32) & 63
            try:
                out += binascii.a2b_uu(line[:(n * 4 + 5) // 3 + 1])[:n]
            except binascii.Error as exc:
                return Result("uu", False, bytes(out), error=str(exc))
        if len(out) > limit:
            return Result("uu", True, bytes(out[:limit]), truncated=True)
    return Result("uu", False, bytes(out), error="no end line")


_B64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s]+")
_HEX_TEXT = re.compile(rb"[0-9a-fA-F\s]+")
ENCODED_MIN = 64   # shorter text is not worth a look


def encoded_kind(data: bytes) -> str | None:
    """"hex" or "base64" when a whole text file is nothing but that encoding (hex first: a hex
    dump is valid base64 alphabet too)."""
    if len(data) < ENCODED_MIN:
        return None
    if not _B64_TEXT.fullmatch(data):   # linear: one character class, no backtracking
        return None
    compact = re.sub(rb"\s", b"", data)
    if _HEX_TEXT.fullmatch(data) and len(compact) % 2 == 0:
        return "hex"
    body = compact.rstrip(b"=")
    if (len(compact) % 4 == 0 and len(compact) - len(body) <= 2 and b"=" not in body
            and re.search(rb"[a-z]", body) and re.search(rb"[A-Z]", body)):
        return "base64"
    return None


def _base64(data: bytes, budget: Budget) -> Result:
    try:
        out = binascii.a2b_base64(re.sub(rb"\s", b"", data), strict_mode=True)
    except (binascii.Error, TypeError) as exc:
        return Result("base64", False, error=str(exc))
    return Result("base64", True, out[:budget.room()], streams=1, truncated=len(out) > budget.room())


def _hex(data: bytes, budget: Budget) -> Result:
    try:
        out = binascii.unhexlify(re.sub(rb"\s", b"", data))
    except (binascii.Error, ValueError) as exc:
        return Result("hex", False, error=str(exc))
    return Result("hex", True, out[:budget.room()], streams=1, truncated=len(out) > budget.room())


_DECODERS: dict[str, Callable[[bytes, Budget], Result]] = {
    "xz": _xz, "lzma": _lzma, "gzip": _gzip, "bzip2": _bzip2, "zstd": _zstd, "lz4": _lz4, "lzip": _lzip,
    "zip": _zip, "tar": _tar, "uu": _uu, "base64": _base64, "hex": _hex,
}


def container_end(fmt: str | None, data: bytes) -> int | None:
    """Where a valid PNG, ZIP or PDF ends (what follows is appended data), or None."""
    if fmt == "png":
        return png_end(data)
    if fmt == "zip":
        at = data.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(data):
            return None
        return at + 22 + int.from_bytes(data[at + 20:at + 22], "little")
    if fmt == "pdf":
        at = data.rfind(b"%%EOF")
        if at < 0:
            return None
        end = at + 5
        while end < len(data) and data[end] in b"\r\n \t\x00":
            end += 1
        return end
    return None


def png_end(data: bytes) -> int | None:
    """Offset just past a PNG's IEND chunk (walking the chunk lengths), or None if malformed."""
    import struct
    pos = 8
    while pos + 12 <= len(data):
        length, ctype = struct.unpack_from(">I4s", data, pos)
        pos += 12 + length
        if ctype == b"IEND":
            return pos if pos <= len(data) else None
        if length > len(data):
            return None
    return None


# -- what decoded content is -------------------------------------------------------------------

RANK = {"executable": 5, "script": 4, "opaque": 3, "archive": 2, "compressed": 2, "data": 1, "text": 0,
        "empty": 0, "media": 0}


@dataclass
class Content:
    """What a decoded payload is, and what it contains in turn (``children``)."""

    via: str                    # "xz", "zip:member/name", ...
    size: int
    sha256: str
    kind: str                   # executable, script, opaque, archive, compressed, text, data, empty
    format: str | None = None   # elf, shell, xz, ...
    ok: bool = True
    note: str | None = None
    preview: str | None = None
    children: list["Content"] = field(default_factory=list)
    data: bytes | None = field(default=None, repr=False)   # kept for scripts only (to read them)
    entropy: float | None = None                           # mean bits/byte, for unknown binary data

    def worst(self) -> tuple["Content", list["Content"]]:
        """The most alarming leaf and the chain of steps to it."""
        if not self.children:
            return self, [self]
        best: tuple[Content, list[Content]] | None = None
        for child in self.children:
            leaf, path = child.worst()
            if best is None or RANK.get(leaf.kind, 0) > RANK.get(best[0].kind, 0):
                best = (leaf, [self] + path)
        assert best is not None
        return best

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"via": self.via, "size": self.size, "sha256": self.sha256, "kind": self.kind}
        if self.format:
            d["format"] = self.format
        if not self.ok:
            d["ok"] = False
        if self.note:
            d["note"] = self.note
        if self.preview:
            d["preview"] = self.preview
        if self.children:
            d["children"] = [c.to_dict() for c in self.children[:16]]
        return d


def printable(text: str) -> str:
    """Control characters (terminal escapes among them) as backslash escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in text)


def preview(data: bytes, lines: int = 3, width: int = 120) -> str:
    text = data[:2048].decode("utf-8", "backslashreplace")
    out = [printable(ln[:width]) for ln in text.splitlines() if ln.strip()][:lines]
    return " | ".join(out)


def classify(data: bytes, via: str, budget: Budget, depth: int = 0) -> Content:
    """Classify decoded bytes, decoding further layers while the budget lasts."""
    c = Content(via=via, size=len(data), sha256=hashlib.sha256(data).hexdigest(), kind="data")
    if not data:
        c.kind = "empty"
        return c
    head = data[:8192]
    fmt = magic.identify(head)
    c.format = fmt
    if fmt in magic.EXECUTABLES:
        c.kind = "executable"
        return c
    if fmt in magic.SCRIPTS or (fmt is None and not magic.is_binary(head)):
        sk = magic.script_kind(data)
        if sk:
            c.kind, c.format, c.preview = "script", sk, preview(data)
            c.data = data if len(data) <= 4 << 20 else None
            return c
        if fmt is None:
            c.kind = "text"
            return c
    if fmt in DECODABLE:
        c.kind = "archive" if fmt in magic.ARCHIVES else "compressed"
        if depth >= budget.max_depth:
            c.note = "nesting deeper than the decode depth limit"
            return c
        if budget.expired() or budget.room() <= 0:
            c.note = f"not decoded: {budget.exhausted or 'byte budget spent'}"
            return c
        res = decode(fmt, data, budget)
        if res is None:
            return c
        c.ok = res.clean
        if res.error:
            c.note = res.error[:200]
        if res.members:
            for name, body in res.members:
                c.children.append(classify(body, f"{fmt}:{name}", budget, depth + 1))
        elif res.output or res.ok:
            c.children.append(classify(res.output, fmt, budget, depth + 1))
        return c
    if fmt in magic.COMPRESSED or fmt in magic.ARCHIVES:
        c.kind = "archive" if fmt in magic.ARCHIVES else "compressed"
        return c
    if fmt is not None:
        c.kind = "media" if fmt not in ("wasm", "java-class") else "executable"
        return c
    if len(data) >= 256:
        prof = entropy.profile_bytes(data)
        c.note = f"entropy {prof.mean:.2f} bits/byte, {prof.high_fraction:.0%} of blocks high"
        c.entropy = round(prof.mean, 3)
        if prof.opaque or prof.mixed and len(data) >= 4 * entropy.BLOCK:
            c.kind = "opaque"
    return c
