"""Which files a release's own build compiles: the sources its build files name.

Automake ``*_SOURCES`` (and ``nodist_``/``EXTRA_`` variants) in ``Makefile.am`` and
``Makefile.in``, quoted file names in ``meson.build``, and words in ``CMakeLists.txt`` /
``*.cmake``, each resolved against its build file's directory. A release-only source file
named there is built into what users install (PC101 high).
"""

from __future__ import annotations

import posixpath
import re
from typing import Callable, Mapping

_SOURCES = re.compile(r"^([\w@$(){}.-]*_SOURCES)\s*[+:]?=(.*)$")
_QUOTED = re.compile(r"""['"]([^'"\s]+\.[\w+]+)['"]""")
_CMAKE_WORD = re.compile(r"""[\w./${}+-]+\.(?:c|cc|cpp|cxx|h|hh|hpp|hxx|s|S|asm|m|mm|f|f90|rs|go)\b""")
MAX_BUILD_FILE = 4 << 20


def _automake(text: str) -> list[tuple[int, str]]:
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _SOURCES.match(lines[i])
        if not m:
            i += 1
            continue
        start, value = i + 1, m.group(2)
        while value.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            value = value.rstrip()[:-1] + " " + lines[i]
        out += [(start, w) for w in value.split() if not w.startswith("$") and "=" not in w]
        i += 1
    return out


def build_references(files: Mapping[str, Callable[[], bytes]]) -> dict[str, list[str]]:
    """{release path: ["Makefile.am:12", ...]} for every file a build file names as a source."""
    refs: dict[str, list[str]] = {}
    for path, read in files.items():
        name = posixpath.basename(path)
        if name in ("Makefile.am", "Makefile.in"):
            kind = "automake"
        elif name in ("meson.build", "CMakeLists.txt") or name.endswith(".cmake"):
            kind = name
        else:
            continue
        data = read()
        if len(data) > MAX_BUILD_FILE:
            continue
        text = data.decode("utf-8", "replace")
        if kind == "automake":
            words = _automake(text)
        else:
            rx = _QUOTED if kind == "meson.build" else _CMAKE_WORD
            words = [(text.count("\n", 0, m.start()) + 1, m.group(1) if rx is _QUOTED else m.group(0))
                     for m in rx.finditer(text)]
        base = posixpath.dirname(path)
        for line, word in words:
            word = word.replace("${CMAKE_CURRENT_SOURCE_DIR}/", "").replace("$(srcdir)/", "")
            target = posixpath.normpath(posixpath.join(base, word)) if base else posixpath.normpath(word)
            if target.startswith("../"):
                continue
            refs.setdefault(target, []).append(f"{path}:{line}")
    return refs
