"""Native code in packages (C extensions, ``.node`` addons, wasm): what it is and who loads it."""

from __future__ import annotations

import io
import posixpath
import re
from typing import Any

from provcheck import Severity

from . import BUILT_UNVERIFIED, matches
from ..rules import PC126

MAX_NATIVE = 256 << 20
SOURCE_EXT = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs", ".go", ".zig", ".m", ".mm", ".f90", ".f")


def describe(data: bytes) -> dict[str, Any]:
    """Format facts, never executing anything: ELF through pyelftools, PE/Mach-O/wasm by magic."""
    if data[:4] == b"\x7fELF":
        try:
            from elftools.elf.elffile import ELFFile
            from elftools.elf.dynamic import DynamicSection
            from elftools.elf.sections import SymbolTableSection
            elf = ELFFile(io.BytesIO(data))
            out: dict[str, Any] = {"format": f"ELF{elf.elfclass}", "machine": elf.get_machine_arch(),
                                   "type": elf["e_type"]}
            needed, exports = [], []
            for sec in elf.iter_sections():
                if isinstance(sec, DynamicSection):
                    needed += [t.needed for t in sec.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
                if isinstance(sec, SymbolTableSection) and sec.name == ".dynsym":
                    exports += [s.name for s in sec.iter_symbols()
                                if s["st_shndx"] != "SHN_UNDEF" and s["st_info"]["bind"] == "STB_GLOBAL"
                                and re.match(r"PyInit_|napi_register|node_register|Init_", s.name)]
            out["needed"] = needed[:40]
            out["init_symbols"] = exports[:20]
            return out
        except Exception as exc:  # hostile ELF: a fact, not a traceback
            return {"format": "ELF (unparsable)", "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    if data[:2] == b"MZ":
        return {"format": "PE"}
    if data[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return {"format": "Mach-O"}
    if data[:4] == b"\0asm":
        return {"format": "wasm"}
    return {"format": "unknown"}


def report_binaries(r: Any, globs: list[str]) -> None:
    code = {p: None for p in r.rfiles if p.endswith((".py", ".js", ".cjs", ".mjs"))}
    for path in sorted(r.rfiles):
        v = r.verdict(path)
        if v is None or v.verdict == "identical" or not matches(path, globs):
            continue
        node = r.rfiles[path]
        facts = describe(r.c.release.tree.read(node, MAX_NATIVE)[:MAX_NATIVE])
        module = posixpath.basename(path).split(".", 1)[0]
        importers = []
        for p in code:
            text = r.text_r(p) or ""
            if re.search(rf"\b{re.escape(module)}\b", text) and ("import" in text or "require" in text):
                importers.append(p)
            if len(importers) >= 20:
                break
        stem = module.lstrip("_")
        candidates = sorted(p for p in r.sfiles if p.endswith(SOURCE_EXT) and stem in posixpath.basename(p))[:20]
        if not candidates and any(p.endswith(SOURCE_EXT) for p in r.sfiles):
            candidates = sorted(p for p in r.sfiles if p.endswith(SOURCE_EXT))[:5]
        sev = Severity.INFO if candidates else Severity.MEDIUM
        r.explain(path, BUILT_UNVERIFIED, f"native code ({facts.get('format')}), built from "
                  f"{', '.join(candidates[:3]) or 'no source file found'}", "native")
        r.add(path, PC126.finding(location=r.loc(path), key=f"{path}#native", severity=sev,
                                  evidence={"size": node.size, "sha256": node.sha256, **facts, "imported_by": importers,
                                            "source_candidates": candidates},
                                  message=f"{path}: {facts.get('format')} {facts.get('machine', '')}".rstrip()
                                          + f", {node.size} bytes; imported by {', '.join(importers[:3]) or 'nothing found'}"
                                          + ("" if candidates else "; no source file could have built it")))
