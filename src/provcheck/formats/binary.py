"""Windows (PE) and macOS (Mach-O, thin or fat) executables, read with LIEF in a worker process.

LIEF is native code reading hostile bytes, so it never runs in the scanning process: one
worker per :class:`Reader` (started on first use, about 0.3 s to import LIEF), with an
address-space limit, fed one file at a time over a pipe. A crash, a timeout or the memory
limit costs only that file: :meth:`Reader.read` raises :class:`BinaryError` with the
reason and the next call starts a fresh worker. (A mutation run of 12,600 inputs against
LIEF 1.0 crashed it none; see docs/formats.md. The isolation is for the input that will.)

The summary is a JSON-able dict:

* PE: ``machine``, ``kind`` (executable / dll), ``subsystem``, ``imports`` (DLL and up to
  64 function names each), ``sections``, ``signatures`` (Authenticode signers and whether
  the signed digest matches the file), and ``end``: where the sections and the
  certificate table end;
* Mach-O: ``slices`` (a thin file has one): CPU, file type, libraries (LC_LOAD_DYLIB...),
  imported symbols, code signature, and each slice's ``end`` (its last segment or code
  signature); ``end`` of the whole file is the end of its last slice;
* both: ``overlay``: ``{"offset", "size"}`` of the bytes past ``end``, or None.
"""

from __future__ import annotations

import json
import os
import selectors
import struct
import subprocess
import sys
from typing import Any, cast

MAX_INPUT = 256 << 20           # larger files are not handed to LIEF
MEMORY_LIMIT = 2 << 30          # address space of the worker
TIMEOUT = 30.0                  # seconds per file
MAX_NAMES = 64                  # imported names kept per library

MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
FAT_MAGICS = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")


Summary = dict[str, object]   # decoded from the worker's JSON; the fields are in the module docstring


class BinaryError(Exception):
    """The file could not be read as PE or Mach-O; the message says why."""


def kind(head: bytes) -> str | None:
    """"pe" or "macho" from a file's first bytes (at least 64), else None. A fat header with
    more than 30 slices is a Java class file (same magic), as file(1) decides."""
    if head[:4] in MACHO_MAGICS:
        return "macho"
    if head[:4] in FAT_MAGICS and len(head) >= 8:
        return "macho" if struct.unpack_from(">I", head, 4)[0] < 30 else None
    if head[:2] == b"MZ" and len(head) >= 64:
        off = struct.unpack_from("<I", head, 0x3C)[0]
        if off + 4 <= len(head):
            return "pe" if head[off:off + 4] == b"PE\0\0" else None
        return "pe" if off < 1 << 16 else None
    return None


class Reader:
    """A LIEF worker process. ``read(data)`` returns the summary of one file's bytes."""

    def __init__(self, timeout: float = TIMEOUT, memory: int = MEMORY_LIMIT):
        self.timeout = timeout
        self.memory = memory
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            proc, self.proc = self.proc, None
            try:
                proc.stdin.close()  # type: ignore[union-attr]
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]

    def _start(self) -> subprocess.Popen:
        if self.proc is None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "provcheck.formats.binary", str(self.memory)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        return self.proc

    def _fail(self, why: str) -> BinaryError:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            rc = proc.wait()
            proc.stdout.close()  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
            if why == "crashed" and rc:
                why = f"crashed (signal {-rc})" if rc < 0 else f"crashed (exit status {rc})"
        return BinaryError(f"LIEF {why}; the file was not read")

    def read(self, data: bytes, fmt: str) -> Summary:
        """Summary of ``data`` (a PE or Mach-O file, ``fmt`` as :func:`kind` says)."""
        if len(data) > MAX_INPUT:
            raise BinaryError(f"{len(data)} bytes is more than the {MAX_INPUT} handed to LIEF")
        proc = self._start()
        try:
            proc.stdin.write(json.dumps({"format": fmt, "size": len(data)}).encode() + b"\n" + data)  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            raise self._fail("crashed") from None
        line = self._readline(proc)
        try:
            reply = json.loads(line)
        except ValueError:
            raise self._fail("answered garbage") from None
        if "error" in reply:
            raise BinaryError(str(reply["error"]))
        summary: dict[str, Any] = reply["summary"]
        end = min(int(summary["end"]), len(data))
        summary["overlay"] = {"offset": end, "size": len(data) - end} if end < len(data) else None
        summary["size"] = len(data)
        return summary

    def _readline(self, proc: subprocess.Popen) -> bytes:
        fd = proc.stdout.fileno()  # type: ignore[union-attr]
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while not buf.endswith(b"\n"):
                if not sel.select(self.timeout):
                    raise self._fail(f"did not finish in {self.timeout:.0f} s")
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise self._fail("crashed")
                buf += chunk
        return buf


def read(data: bytes, fmt: str, timeout: float = TIMEOUT) -> Summary:
    """One file, one worker (for many files keep a :class:`Reader`)."""
    with Reader(timeout) as r:
        return r.read(data, fmt)


def _names(items: list[str], limit: int = 3) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def describe(summary: Summary) -> str:
    """One line for a message: "PE AMD64 executable (WINDOWS_CUI) importing KERNEL32.dll, ...; unsigned"."""
    d = cast("dict[str, Any]", summary)
    if "error" in d:
        return f"file LIEF cannot read ({d['error']})"
    if d.get("format") == "pe":
        imports = [i["library"] for i in d["imports"]]
        signed = "unsigned" if not d["signatures"] else \
            f"Authenticode-signed ({d['signatures'][0]['verification']})"
        return (f"PE {d['machine']} {d['kind']} ({d['subsystem']})"
                + (f" importing {_names(imports)}" if imports else " with no imports") + f"; {signed}")
    slices = d.get("slices") or []
    cpus = "+".join(s["cpu"] for s in slices)
    types = sorted({s["type"].lower() for s in slices})
    libs = sorted({lib for s in slices for lib in s["libraries"]})
    signed_slices = [s["cpu"] for s in slices if s["code_signature"]]
    return (f"Mach-O {cpus} {'/'.join(types)}" + (f" linking {_names(libs)}" if libs else "")
            + (f"; code signature in {', '.join(signed_slices)}" if signed_slices else "; no code signature"))


def brief(summary: Summary) -> Summary:
    """The summary without long lists, for a finding's evidence."""
    d = cast("dict[str, Any]", summary)
    if d.get("format") == "pe":
        return {"format": "pe", "machine": d["machine"], "kind": d["kind"],
                "imports": [i["library"] for i in d["imports"]], "signatures": d["signatures"],
                "end": d["end"], "size": d.get("size")}
    return {"format": d.get("format"), "end": d.get("end"), "size": d.get("size"),
            "slices": [{k: s[k] for k in ("cpu", "type", "libraries", "code_signature", "end")}
                       for s in d.get("slices") or []]}


# -- the worker (runs in its own process) ------------------------------------------------

def _pe(b: Any, size: int) -> dict[str, Any]:
    import lief
    end = int(b.sizeof_headers)
    sections = []
    for s in b.sections:
        off, length = int(s.offset), int(s.size)
        sections.append({"name": s.name, "offset": off, "size": length})
        if length and off + length <= size:
            end = max(end, off + length)
    cert = b.data_directory(lief.PE.DataDirectory.TYPES.CERTIFICATE_TABLE)
    if cert is not None and cert.size and cert.rva + cert.size <= size:   # a file offset, for this one
        end = max(end, int(cert.rva) + int(cert.size))
    signatures = []
    if b.has_signatures:
        verified = b.verify_signature()
        for sig in b.signatures:
            signatures.append({"signers": [{"issuer": str(si.issuer), "serial": bytes(si.serial_number).hex()}
                                           for si in sig.signers],
                               "verification": str(verified).split(".")[-1]})
    return {"format": "pe", "machine": str(b.header.machine).split(".")[-1],
            "kind": "dll" if b.header.has_characteristic(lief.PE.Header.CHARACTERISTICS.DLL) else "executable",
            "subsystem": str(b.optional_header.subsystem).split(".")[-1],
            "imports": [{"library": imp.name, "functions": [e.name if e.name else f"#{e.ordinal}"
                                                            for e in list(imp.entries)[:MAX_NAMES]],
                         "count": len(imp.entries)} for imp in b.imports],
            "sections": sections, "signatures": signatures, "end": end}


def _macho_slice(b: Any, size: int) -> dict[str, Any]:
    end = 0
    for seg in b.segments:
        off, length = int(seg.file_offset), int(seg.file_size)
        if off + length <= size:
            end = max(end, off + length)
    sig = None
    if b.has_code_signature:
        cs = b.code_signature
        sig = {"offset": int(cs.data_offset), "size": int(cs.data_size)}
        if cs.data_offset + cs.data_size <= size:
            end = max(end, int(cs.data_offset) + int(cs.data_size))
    imports = [s.name for s in b.imported_symbols]
    return {"cpu": str(b.header.cpu_type).split(".")[-1], "type": str(b.header.file_type).split(".")[-1],
            "libraries": [lib.name for lib in b.libraries], "imports": imports[:MAX_NAMES * 4],
            "import_count": len(imports), "code_signature": sig, "end": end}


def _macho(fat: Any, data: bytes) -> dict[str, Any]:
    slices = []
    end = 0
    if data[:4] in FAT_MAGICS:
        wide = data[:4] == b"\xca\xfe\xba\xbf"
        count = struct.unpack_from(">I", data, 4)[0]
        entry = struct.Struct(">iiQQI4x" if wide else ">iiIII")
        ranges = []
        for i in range(count):
            pos = 8 + i * entry.size
            if pos + entry.size > len(data):
                raise ValueError("fat header runs past the end of the file")
            _cpu, _sub, off, length, _align = entry.unpack_from(data, pos)
            ranges.append((off, length))
        end = max((off + length for off, length in ranges if off + length <= len(data)), default=8)
        sizes = dict(ranges)
        for b in fat:   # the slices LIEF could read, matched to the header by their offset
            off = int(b.fat_offset)
            s = _macho_slice(b, sizes.get(off, len(data) - off))
            s["offset"], s["slice_size"] = off, sizes.get(off)
            slices.append(s)
    else:
        for b in fat:
            s = _macho_slice(b, len(data))
            end = max(end, s["end"])
            slices.append(s)
    return {"format": "macho", "slices": slices, "end": end}


def _serve(memory: int) -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    import lief
    lief.logging.disable()
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        line = inp.readline()
        if not line:
            return
        req = json.loads(line)
        data = inp.read(req["size"])
        reply: dict[str, object]
        try:
            if req["format"] == "pe":
                b = lief.PE.parse(data)
                if b is None:
                    raise ValueError("LIEF cannot parse it as PE")
                reply = {"summary": _pe(b, len(data))}
            else:
                fat = lief.MachO.parse(data)
                if fat is None or not fat.size:
                    raise ValueError("LIEF cannot parse it as Mach-O")
                reply = {"summary": _macho(fat, data)}
        except MemoryError:
            reply = {"error": f"reading it needs more than {memory >> 20} MiB"}
        except Exception as exc:  # LIEF raises many kinds; each is a reason, not a crash
            reply = {"error": f"malformed: {type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply, default=str).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else MEMORY_LIMIT)
