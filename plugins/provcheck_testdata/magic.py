"""What a file really is, from its first bytes, and what its name claims it is.

A small built-in table, on purpose: the formats that matter here are the compressed
streams and archives a payload hides in and the executables it decodes to. The
comparison with python-magic, puremagic and magika that led to this choice is in
``docs/plugins/testdata.md`` (``eval/testdata_magic.py`` repeats it).
"""

from __future__ import annotations

import posixpath
import re
import struct

COMPRESSED = frozenset({"xz", "lzma", "gzip", "bzip2", "zstd", "lz4", "lzip", "compress"})
ARCHIVES = frozenset({"zip", "tar", "7z", "rar", "ar", "deb", "cpio", "rpm"})
EXECUTABLES = frozenset({"elf", "pe", "coff", "macho"})
SCRIPTS = frozenset({"shell", "awk", "perl", "python", "script"})

# (offset, magic, kind); checked in order, so longer/more specific first.
_TABLE: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"\x1f\x8b", "gzip"),
    (0, b"BZh", "bzip2"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"),
    (0, b"\x04\x22\x4d\x18", "lz4"),
    (0, b"LZIP", "lzip"),
    (0, b"\x1f\x9d", "compress"),
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"Rar!\x1a\x07", "rar"),
    (0, b"!<arch>\ndebian-binary", "deb"),
    (0, b"!<arch>\n", "ar"),
    (0, b"070701", "cpio"),
    (0, b"070702", "cpio"),
    (0, b"070707", "cpio"),
    (0, b"\xc7\x71", "cpio"),
    (0, b"\xed\xab\xee\xdb", "rpm"),
    (257, b"ustar", "tar"),
    (0, b"\x7fELF", "elf"),
    (0, b"\xfe\xed\xfa\xce", "macho"),
    (0, b"\xfe\xed\xfa\xcf", "macho"),
    (0, b"\xce\xfa\xed\xfe", "macho"),
    (0, b"\xcf\xfa\xed\xfe", "macho"),
    (0, b"\x00asm", "wasm"),
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"%PDF-", "pdf"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"BM", "bmp?"),
    (0, b"\x00\x00\x01\x00", "ico"),
    (0, b"RIFF", "riff"),
    (0, b"OggS", "ogg"),
    (0, b"fLaC", "flac"),
    (0, b"ID3", "mp3"),
    (0, b"SQLite format 3\x00", "sqlite"),
    (0, b"hsqs", "squashfs"),
    (0, b"\xde\x12\x04\x95", "mo"),
    (0, b"\x95\x04\x12\xde", "mo"),
    (0, b"\x00\x01\x00\x00\x00", "font"),
    (0, b"OTTO", "font"),
    (0, b"wOFF", "font"),
    (0, b"wOF2", "font"),
    (0, b"-----BEGIN ", "pem"),
    (0, b"\x30\x82", "der?"),
    (0, b"\xef\xbb\xbf", "text-bom"),
    (0, b"\xff\xfe", "text-utf16"),
    (0, b"\xfe\xff", "text-utf16"),
)

_COFF_MACHINES = {0x14C: "i386", 0x8664: "x86-64", 0xAA64: "arm64", 0x1C4: "armnt", 0x200: "ia64"}


def _lzma_alone(head: bytes) -> bool:
    """The .lzma (LZMA_Alone) header has no magic; check it as liblzma does."""
    if len(head) < 13 or head[0] > 224:
        return False
    dict_size = struct.unpack_from("<I", head, 1)[0]
    if dict_size != 0xFFFFFFFF:
        if dict_size == 0:
            return False
        top = 1 << (dict_size.bit_length() - 1)
        if dict_size not in (top, top + (top >> 1)):   # 2^n or 2^n + 2^(n-1)
            return False
    size = struct.unpack_from("<Q", head, 5)[0]
    return size == 0xFFFFFFFFFFFFFFFF or size < (1 << 38)


def _coff(head: bytes) -> bool:
    if len(head) < 20:
        return False
    machine, nsections = struct.unpack_from("<HH", head, 0)
    opt_size, flags = struct.unpack_from("<HH", head, 16)
    return machine in _COFF_MACHINES and 0 < nsections <= 96 and opt_size == 0 and flags & 0x2000 == 0


def _pe(head: bytes) -> bool:
    if len(head) < 64 or head[:2] != b"MZ":
        return False
    off = struct.unpack_from("<I", head, 0x3C)[0]
    return off + 4 <= len(head) and head[off:off + 4] == b"PE\x00\x00" or (off > len(head) and off < 1 << 16)


def identify(head: bytes) -> str | None:
    """The format of a file from its first bytes (at least 264 for tar), or None."""
    for off, magic, kind in _TABLE:
        if head.startswith(magic, off):
            if kind == "bmp?":
                if len(head) >= 14 and struct.unpack_from("<I", head, 10)[0] < 1 << 20 and head[6:10] == b"\0\0\0\0":
                    return "bmp"
                continue
            if kind == "der?":
                continue
            return kind
    if head[:4] == b"\xca\xfe\xba\xbe" and len(head) >= 8:   # fat Mach-O, or a Java class
        return "macho" if struct.unpack_from(">I", head, 4)[0] < 32 else "java-class"
    if _pe(head):
        return "pe"
    if _coff(head):
        return "coff"
    if _lzma_alone(head):
        return "lzma"
    if head.startswith(b"#!"):
        return script_kind(head) or "script"
    return None


# -- text and scripts -----------------------------------------------------------------

_CTRL = bytes(range(0, 32)).translate(None, b"\t\n\r\f\b\x1b\x0b")


def is_binary(head: bytes) -> bool:
    """git's rule (a NUL in the first 8000 bytes) plus a control-byte ratio."""
    sample = head[:8000]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    if sample.startswith((b"\xef\xbb\xbf",)):
        return False
    ctrl = len(sample) - len(sample.translate(None, _CTRL))
    if ctrl * 10 > len(sample):
        return True
    try:
        sample.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 4:  # cut inside a multi-byte character
            return False
    high = len(sample) - len(sample.translate(None, bytes(range(128, 256))))
    return high * 10 > len(sample) * 3


_SHELL_WORDS = re.compile(rb"(?m)^\s*(?:if |then\b|fi\b|for \w+ in |do\b|done\b|case |esac\b|export \w|"
                          rb"eval |exec |echo |exit\b|[A-Za-z_]\w*=[\"'`]?\$\(|set -e|\[ )")
_SHELL_PIPES = re.compile(rb"\|\s*(?:/bin/)?(?:ba|da)?sh\b|\$\(|`[^`\n]+`|\b(?:sed|tr|head|tail|grep|xz|awk) ")
_AWK = re.compile(rb"(?s)\bBEGIN\s*\{.*\}|\bawk\s+['\"]")
_PY = re.compile(rb"(?m)^(?:import \w|from \w+ import |def \w+\(.*\):)")
_PERL = re.compile(rb"(?m)^(?:use strict;|my \$\w+)")


def script_kind(data: bytes) -> str | None:
    """shell, awk, perl or python when ``data`` reads like a program of that kind."""
    head = data[:65536]
    first = head.split(b"\n", 1)[0]
    if first.startswith(b"#!"):
        interp = first[2:].strip().split(b" ")
        prog = posixpath.basename(interp[-1] if interp[0].endswith(b"/env") and len(interp) > 1 else interp[0])
        if re.match(rb"^(?:ba|da|k|z|a)?sh$", prog):
            return "shell"
        if b"awk" in prog:
            return "awk"
        if prog.startswith(b"python"):
            return "python"
        if prog.startswith(b"perl"):
            return "perl"
        return "script"
    if is_binary(head):
        return None
    lines = max(1, head.count(b"\n"))
    words = len(_SHELL_WORDS.findall(head))
    shell = words + len(_SHELL_PIPES.findall(head))
    if words >= 2 and shell >= 3 and shell * 4 >= min(lines, 40):
        return "shell"
    if _AWK.search(head) and (b"printf" in head or b"print " in head):
        return "awk"
    if len(_PY.findall(head)) >= 2:
        return "python"
    if len(_PERL.findall(head)) >= 2:
        return "perl"
    return None


# -- what the name claims ----------------------------------------------------------------

EXT_CLAIMS: dict[str, str] = {
    "xz": "xz", "txz": "xz", "lzma": "lzma", "gz": "gzip", "tgz": "gzip", "z": "gzip", "bz2": "bzip2",
    "tbz2": "bzip2", "tbz": "bzip2", "zst": "zstd", "zstd": "zstd", "tzst": "zstd", "lz4": "lz4", "lz": "lzip",
    "zip": "zip", "jar": "zip", "whl": "zip", "apk": "zip", "tar": "tar", "7z": "7z", "rar": "rar",
    "deb": "deb", "a": "ar", "cpio": "cpio", "rpm": "rpm",
    "png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "pdf": "pdf", "tif": "tiff", "tiff": "tiff",
    "bmp": "bmp", "ico": "ico", "wav": "riff", "webp": "riff", "avi": "riff", "ogg": "ogg", "flac": "flac",
    "mp3": "mp3", "sqlite": "sqlite", "db": "sqlite", "mo": "mo", "gmo": "mo", "ttf": "font", "otf": "font",
    "woff": "font", "woff2": "font", "wasm": "wasm", "class": "java-class",
    "o": "elf|coff|macho", "so": "elf", "ko": "elf", "elf": "elf", "obj": "coff|elf", "exe": "pe", "dll": "pe",
    "sys": "pe", "efi": "pe", "dylib": "macho",
}

# Extensions that say "this is data or text, not a program".
DATA_EXTS = frozenset({
    "txt", "md", "rst", "html", "htm", "xml", "json", "yaml", "yml", "toml", "ini", "cfg", "conf", "csv", "svg",
    "css", "png", "jpg", "jpeg", "gif", "bmp", "ico", "tif", "tiff", "webp", "pdf", "ps", "eps", "mo", "gmo",
    "po", "pot", "mp3", "wav", "ogg", "flac", "avi", "mp4", "ttf", "otf", "woff", "woff2", "gz", "xz", "bz2",
    "zst", "lz4", "lzma", "lz", "zip", "tar", "tgz", "dat", "man", "info", "tex", "doc", "docx", "odt", "rtf",
    "page", "1", "2", "3", "4", "5", "6", "7", "8", "pem", "crt", "der", "key", "pub", "sig", "asc",
    "license", "changelog", "copyright", "sqlite", "db", "ucd", "dic", "aff", "hyph", "pat", "kbd", "map",
})

BAD_WORDS = frozenset({"bad", "corrupt", "corrupted", "invalid", "broken", "damaged", "truncated",
                       "malformed", "garbage", "bogus"})
GOOD_WORDS = frozenset({"good", "valid", "ok", "correct"})


def extension(name: str) -> str:
    base = posixpath.basename(name).lower()
    return base.rsplit(".", 1)[-1] if "." in base.lstrip(".") else ""


def claimed_format(name: str) -> str | None:
    """What the extension says the content is (``a|b`` for alternatives), or None."""
    return EXT_CLAIMS.get(extension(name))


def matches_claim(claim: str | None, kind: str | None) -> bool:
    if claim is None or kind is None:
        return True
    if kind == "deb" and "ar" in claim.split("|"):
        return True
    return kind in claim.split("|")


def name_words(path: str) -> set[str]:
    """Lower-case words of the file name and its parent directory."""
    parts = path.lower().split("/")[-2:]
    return {w for p in parts for w in re.split(r"[^a-z]+", p) if w}


def claims_bad(path: str) -> str | None:
    hit = sorted(name_words(path) & BAD_WORDS)
    return hit[0] if hit else None


def claims_good(path: str) -> str | None:
    words = set(re.split(r"[^a-z]+", posixpath.basename(path).lower()))
    hit = sorted(words & GOOD_WORDS)
    return hit[0] if hit else None
