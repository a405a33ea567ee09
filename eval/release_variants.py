"""Attack variants of real releases: does `provcheck release` catch each kind of tampering?

For each chosen case of eval/release_eval.py (a clean real release whose regeneration is
complete), the script writes variants of its orig tarball, each a different class of
tampering deliberately unlike xz's idioms (one file changed unless the class needs more),
re-packs them with the same layout and name, and runs, as a user does,

    provcheck release VARIANT --source REPO [--ref TAG] --format json

Each variant is judged on the file it changed:

- caught: a high or critical finding whose location is exactly that file and whose
  evidence holds the injected / changed / deleted line (for a binary or new file: the
  finding alone);
- weak: a finding on that file, but lower severity or without the line;
- missed: no finding on that file.

The untouched tarball is run first: it must have no high or critical finding.

    python eval/release_variants.py --repos DIR [--only xz-utils,popt] [--classes a,b]
                                    [--json out.json] [--keep DIR]

``DIR`` holds the upstream repositories (the layout of eval/release_eval.py). Results go to
stdout as Markdown tables (for docs/eval/release-regeneration.md) and, with ``--json``, as data.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import posixpath
import re
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from release_eval import CASES, Case, find_repo, orig, provcheck, strings  # noqa: E402

# Clean releases whose regeneration is complete (docs/eval/release-regeneration.md), chosen to
# differ in generators: gettext + libtool + po4a docs (xz-utils), gettext + Fedora libtool (popt),
# plain automake + libtool 2.4.7 (pkgconf), autoconf 2.69/automake 1.16.3 from bullseye (libogg),
# autoconf without automake + gettext catalogs (e2fsprogs), libtool 2.4.7 + non-recursive
# automake (libnl3).
DEFAULT_RELEASES = ["xz-utils", "popt", "pkgconf", "libogg", "e2fsprogs", "libnl3"]
SERIOUS = {"high", "critical"}


@dataclass
class Release:
    """An orig tarball read into memory, with what the untouched run said about its files."""
    case: Case
    tarball: Path
    top: str
    members: list[tarfile.TarInfo]
    files: dict[str, bytes]                      # regular files by path below the top directory
    tag_files: set[str]
    report: dict[str, dict[str, Any]] = field(default_factory=dict)   # release.files by path

    def status(self, path: str) -> str | None:
        return ((self.report.get(path) or {}).get("reproduction") or {}).get("status")

    def verdict(self, path: str) -> str | None:
        return (self.report.get(path) or {}).get("verdict")

    def reproduced(self, path: str) -> bool:
        return self.status(path) == "reproduced"


@dataclass
class Variant:
    klass: str
    target: str                                  # the file judged
    what: str                                    # one line for the table
    changes: dict[str, bytes]                    # path below top -> new content (new paths are added)
    lines: list[str]                             # lines the evidence must hold (empty: the finding alone)


# ---------------------------------------------------------------- reading and writing tarballs

def read_release(tarball: Path) -> tuple[str, list[tarfile.TarInfo], dict[str, bytes]]:
    members: list[tarfile.TarInfo] = []
    files: dict[str, bytes] = {}
    top = ""
    with tarfile.open(tarball) as tar:
        for m in tar:
            members.append(m)
            name = m.name.lstrip("./")
            head, _, rest = name.partition("/")
            top = top or head
            if m.isfile() and rest:
                f = tar.extractfile(m)
                files[rest] = f.read() if f else b""
    return top, members, files


def write_variant(rel: Release, changes: dict[str, bytes], out: Path) -> None:
    """The release re-packed with the same members, order, metadata and compression, with
    ``changes`` applied (a path not in the release is added after the first file of its directory)."""
    mode = {".xz": "w:xz", ".gz": "w:gz", ".bz2": "w:bz2", ".tgz": "w:gz"}.get(rel.tarball.suffix, "w")
    kwargs: dict[str, Any] = {"preset": 1} if mode == "w:xz" else {"compresslevel": 6} if mode != "w" else {}
    new = {p: c for p, c in changes.items() if p not in rel.files}
    template = next(m for m in rel.members if m.isfile())
    with tarfile.open(rel.tarball) as src, tarfile.open(out, mode, format=tarfile.PAX_FORMAT, **kwargs) as dst:
        for m in src:
            rest = m.name.lstrip("./").partition("/")[2]
            if m.isfile():
                data = changes.get(rest, rel.files.get(rest, b""))
                info = _copy_info(m)
                info.size = len(data)
                dst.addfile(info, io.BytesIO(data))
            else:
                dst.addfile(m)
            if m.isfile():
                for path in [p for p in new if posixpath.dirname(p) == posixpath.dirname(rest)]:
                    _add_new(dst, template, m.name.partition("/")[0], path, new.pop(path))
        for path, data in new.items():
            _add_new(dst, template, rel.top, path, data)


def _copy_info(m: tarfile.TarInfo) -> tarfile.TarInfo:
    info = tarfile.TarInfo(m.name)
    for attr in ("mode", "mtime", "uid", "gid", "uname", "gname", "type"):
        setattr(info, attr, getattr(m, attr))
    return info


def _add_new(dst: tarfile.TarFile, template: tarfile.TarInfo, top: str, path: str, data: bytes) -> None:
    info = _copy_info(template)
    info.name, info.size, info.mode = f"{top}/{path}", len(data), 0o644
    dst.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------- text helpers

def text_lines(data: bytes) -> list[str]:
    return data.decode("latin-1").splitlines(keepends=True)


def joined(lines: list[str]) -> bytes:
    return "".join(lines).encode("latin-1")


def nearest(candidates: list[int], total: int, where: float) -> int | None:
    return min(candidates, key=lambda i: abs(i - where * total)) if candidates else None


HEREDOC = re.compile(r"<<-?\s*\\?['\"]?(\w+)['\"]?\s*$")


def top_level_fi(lines: list[str]) -> list[int]:
    """Indices of `fi` lines at column 0 of a shell script, outside here-documents."""
    out, delim = [], None
    for i, line in enumerate(lines):
        if delim:
            if line.strip() == delim:
                delim = None
            continue
        m = HEREDOC.search(line.rstrip("\n"))
        if m:
            delim = m.group(1)
        elif line == "fi\n" and i + 1 < len(lines) and not lines[i + 1].startswith((" ", "\t", "else", "elif")):
            out.append(i)
    return out


def first_existing(rel: Release, *names: str) -> str | None:
    return next((n for n in names if n in rel.files), None)


def by_basename(rel: Release, base: str) -> list[str]:
    return sorted((p for p in rel.files if posixpath.basename(p) == base), key=lambda p: (p.count("/"), p))


def reproduced_makefile_ins(rel: Release) -> list[str]:
    return [p for p in by_basename(rel, "Makefile.in") if rel.reproduced(p)
            and rel.files[p].startswith(b"# Makefile.in generated by automake")]


# ---------------------------------------------------------------- the classes

def configure_inject(rel: Release) -> Variant | None:
    if not rel.reproduced("configure"):
        return None
    lines = text_lines(rel.files["configure"])
    i = nearest(top_level_fi(lines), len(lines), 0.55)
    if i is None:
        return None
    new = ['if test -d "$srcdir/tests"; then\n', '  LDFLAGS="$LDFLAGS -Wl,-z,lazy"\n', "fi\n"]
    lines[i + 1:i + 1] = new
    return Variant("configure-inject", "configure", f"3 shell lines after configure line {i + 1}",
                   {"configure": joined(lines)}, [s.strip() for s in new[:2]])


def configure_encoded(rel: Release) -> Variant | None:
    if not rel.reproduced("configure"):
        return None
    lines = text_lines(rel.files["configure"])
    i = nearest(top_level_fi(lines), len(lines), 0.35)
    if i is None:
        return None
    octal = "".join(f"\\{ord(c):03o}" for c in "LDFLAGS")
    b64 = base64.b64encode(b"-Wl,-z,execstack").decode()
    new = [f"as_ld_var=`printf '{octal}'`\n", f"as_ld_opt=`echo {b64} | base64 -d 2>/dev/null`\n",
           'eval "$as_ld_var=\\"\\$$as_ld_var $as_ld_opt\\""\n']
    lines[i + 1:i + 1] = new
    return Variant("configure-encoded", "configure", f"octal + base64 pieces and eval after configure line {i + 1}",
                   {"configure": joined(lines)}, [s.strip() for s in new])


def configure_known_line(rel: Release) -> Variant | None:
    """One line inserted late in configure that resets the preprocessor flags to a value saved
    earlier, dropping whatever the checks in between added (`-D_FORTIFY_SOURCE`, include paths).
    The line is one that autoconf writes elsewhere in its large-file check."""
    if not rel.reproduced("configure"):
        return None
    lines = text_lines(rel.files["configure"])
    i = nearest(top_level_fi(lines), len(lines), 0.75)
    if i is None:
        return None
    new = 'CPPFLAGS="$ac_save_CPPFLAGS"\n'
    lines.insert(i + 1, new)
    return Variant("configure-known-line", "configure", f"`{new.strip()}` after configure line {i + 1}",
                   {"configure": joined(lines)}, [new.strip()])


def configure_edit(rel: Release) -> Variant | None:
    if not rel.reproduced("configure"):
        return None
    lines = text_lines(rel.files["configure"])
    i = next((k for k, line in enumerate(lines) if line.strip() == 'CFLAGS="-g -O2"'), None)
    if i is None:
        return None
    lines[i] = lines[i].replace('"-g -O2"', '"-g -O2 -fno-stack-protector"')
    return Variant("configure-edit", "configure", f"configure line {i + 1}: CFLAGS default gains -fno-stack-protector",
                   {"configure": joined(lines)}, [lines[i].strip()])


def configure_number(rel: Release) -> Variant | None:
    """Only digits changed: config.status's private directory made with umask 000 instead of
    077 (world-writable, so another user can swap the files configure writes there)."""
    if not rel.reproduced("configure"):
        return None
    lines = text_lines(rel.files["configure"])
    hits = [k for k, line in enumerate(lines) if "(umask 077 && m" in line]
    if not hits:
        return None
    for k in hits:
        lines[k] = lines[k].replace("umask 077", "umask 000")
    return Variant("configure-number", "configure", f"configure lines {', '.join(str(k + 1) for k in hits)}: "
                   "umask 077 -> 000", {"configure": joined(lines)}, [lines[k].strip() for k in hits])


DEFINE_LINE = re.compile(r'^\s*(?:printf "%s\\n" |\$as_echo )"#define (HAVE_\w+) 1" >>confdefs\.h$')


def configure_delete(rel: Release) -> Variant | None:
    """A feature check's result removed: the `#define HAVE_X 1` line of a check's `then :`
    branch (the script stays valid)."""
    if not rel.reproduced("configure"):
        return None
    lines = text_lines(rel.files["configure"])
    cands = [k for k, line in enumerate(lines) if (DEFINE_LINE.match(line.rstrip("\n"))
             and lines[k - 1].rstrip().endswith("then :")) or (re.match(r"#define HAVE_\w+ 1$", line.rstrip("\n"))
                                                                and lines[k - 1].strip() == "cat >>confdefs.h <<_ACEOF")]
    i = nearest(cands, len(lines), 0.5)
    if i is None:
        return None
    gone = lines.pop(i)
    return Variant("configure-delete", "configure", f"configure line {i + 1} deleted ({gone.strip()[:60]})",
                   {"configure": joined(lines)}, [gone.strip()])


def makefile_recipe(rel: Release) -> Variant | None:
    for path in reproduced_makefile_ins(rel):
        lines = text_lines(rel.files[path])
        i = next((k for k, line in enumerate(lines) if line.startswith("install-exec-am:")), None)
        if i is not None:
            new = "\t@chmod -R g+w $(DESTDIR)$(libdir) 2>/dev/null || :\n"
            lines.insert(i + 1, new)
            return Variant("makefile-recipe", path, f"recipe line in install-exec-am of {path}",
                           {path: joined(lines)}, [new.strip()])
    return None


ASSIGNMENTS = [(re.compile(r"^\w+_LDFLAGS = \S"), " -Wl,-z,norelro"),
               (re.compile(r"^AM_CPPFLAGS = \S"), " -DNDEBUG"),
               (re.compile(r"^AM_CFLAGS = \S"), " -fno-strict-overflow"),
               (re.compile(r"^LIBS = @LIBS@"), " -ldl")]


def makefile_variable(rel: Release) -> Variant | None:
    for rx, extra in ASSIGNMENTS:
        for path in reproduced_makefile_ins(rel):
            lines = text_lines(rel.files[path])
            i = next((k for k, line in enumerate(lines) if rx.match(line)), None)
            if i is None:
                continue
            body = lines[i].rstrip("\n")
            lines[i] = (body[:-2] + extra + " \\" if body.endswith(" \\") else body + extra) + "\n"
            return Variant("makefile-variable", path, f"{path}: `{extra.strip()}` added to {body.split(' =')[0]}",
                           {path: joined(lines)}, [lines[i].strip().removesuffix("\\").strip()])
    return None


def makefile_number(rel: Release) -> Variant | None:
    """Only digits changed in a variable: the mode of installed data files 644 -> 666."""
    for path in reproduced_makefile_ins(rel):
        lines = text_lines(rel.files[path])
        i = next((k for k, line in enumerate(lines) if line.startswith("install_sh_DATA = ")
                  and line.rstrip().endswith("-m 644")), None)
        if i is not None:
            lines[i] = lines[i].replace("-m 644", "-m 666")
            return Variant("makefile-number", path, f"{path}:{i + 1}: install_sh_DATA mode 644 -> 666",
                           {path: joined(lines)}, [lines[i].strip()])
    return None


def makefile_substitution(rel: Release) -> Variant | None:
    """One configure substitution swapped for another: the compiler flags configure found
    (the distribution's hardening flags) replaced by the preprocessor flags."""
    for path in reproduced_makefile_ins(rel):
        lines = text_lines(rel.files[path])
        i = next((k for k, line in enumerate(lines) if line == "CFLAGS = @CFLAGS@\n"), None)
        if i is not None:
            lines[i] = "CFLAGS = @CPPFLAGS@\n"
            return Variant("makefile-substitution", path, f"{path}:{i + 1}: CFLAGS = @CFLAGS@ -> @CPPFLAGS@",
                           {path: joined(lines)}, [lines[i].strip()])
    return None


def ltmain_edit(rel: Release) -> Variant | None:
    for path in by_basename(rel, "ltmain.sh"):
        lines = text_lines(rel.files[path])
        cands = [k for k, line in enumerate(lines) if line.strip() == 'func_append compile_command " $arg"']
        if cands:
            i = cands[len(cands) // 2]
            indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
            new = f'{indent}func_append finalize_command " -Wl,-z,lazy"\n'
            lines.insert(i + 1, new)
            return Variant("ltmain-edit", path, f"{path}: a link flag appended in func_mode_link (line {i + 2})",
                           {path: joined(lines)}, [new.strip()])
    return None


def aux_edit(rel: Release) -> Variant | None:
    for path in by_basename(rel, "install-sh"):
        lines = text_lines(rel.files[path])
        i = next((k for k, line in enumerate(lines) if line == "mode=0755\n"), None)
        if i is not None:
            lines[i] = "mode=4755\n"
            return Variant("aux-edit", path, f"{path}: default mode 0755 -> 4755 (setuid)", {path: joined(lines)},
                           ["mode=4755"])
    return None


def aux_version_bump(rel: Release) -> Variant | None:
    """The setuid edit of aux-edit, with the script's version stamp moved on by one, so that
    no published copy has its version."""
    v = aux_edit(rel)
    if v is None:
        return None
    text = v.changes[v.target].decode("latin-1")
    m = re.search(r"(?m)^scriptversion=(\S+?)\.(\d+)(;.*)?$", text)
    if m is None:
        return None
    bumped = f"{m.group(1)}.{int(m.group(2)) + 1:02d}"
    text = text[:m.start(1)] + bumped + text[m.end(2):]
    return Variant("aux-version-bump", v.target, v.what + f", scriptversion -> {bumped}",
                   {v.target: text.encode("latin-1")}, v.lines)


M4_PREFERRED = ["visibility.m4", "lib-link.m4", "gettext.m4", "iconv.m4", "libtool.m4", "pkg.m4", "ax_pthread.m4"]
ASSIGN_IN_M4 = re.compile(r"^(\s+)[A-Za-z_]+=\S.*[^\\\[,(]$")


def m4_serial(rel: Release) -> Variant | None:
    """A vendored macro file (release-only, with a serial) edited, its serial unchanged."""
    vendored = [p for p in rel.files if p.endswith(".m4") and posixpath.basename(p) != "aclocal.m4"
                and p not in rel.tag_files and re.search(rb"(?m)^#.*serial \d+", rel.files[p][:4096])]
    vendored.sort(key=lambda p: (M4_PREFERRED.index(posixpath.basename(p)) if posixpath.basename(p) in M4_PREFERRED
                                 else len(M4_PREFERRED), p))
    for path in vendored:
        lines = text_lines(rel.files[path])
        start = next((k for k, line in enumerate(lines) if line.startswith("AC_DEFUN")), len(lines))
        i = next((k for k in range(start, len(lines)) if ASSIGN_IN_M4.match(lines[k].rstrip("\n"))), None)
        if i is None:
            continue
        indent = ASSIGN_IN_M4.match(lines[i].rstrip("\n")).group(1)  # type: ignore[union-attr]
        new = f'{indent}LDFLAGS="$LDFLAGS -Wl,-z,lazy"\n'
        lines.insert(i + 1, new)
        return Variant("m4-serial", path, f"{path}: a shell line in a macro body, serial unchanged (line {i + 2})",
                       {path: joined(lines)}, [new.strip()])
    return None


def m4_serial_bump(rel: Release) -> Variant | None:
    """The m4-serial edit with the file's serial moved on by one (a version no one published)."""
    v = m4_serial(rel)
    if v is None:
        return None
    text = v.changes[v.target].decode("latin-1")
    m = re.search(r"(?m)^(#.*serial )(\d+)", text)
    if m is None:
        return None
    text = text[:m.start(2)] + str(int(m.group(2)) + 1) + text[m.end(2):]
    return Variant("m4-serial-bump", v.target, v.what.replace("serial unchanged", f"serial {m.group(2)} -> "
                   f"{int(m.group(2)) + 1}"), {v.target: text.encode("latin-1")}, v.lines)


def aclocal_edit(rel: Release) -> Variant | None:
    if not rel.reproduced("aclocal.m4"):
        return None
    lines = text_lines(rel.files["aclocal.m4"])
    i = next((k for k, line in enumerate(lines) if line.startswith('if test x"${install_sh+set}" != xset; then')),
             None)
    if i is None:
        return None
    new = '  INSTALL_STRIP_PROGRAM="\\${SHELL} $am_aux_dir/install-sh -c -m 4755"\n'
    lines.insert(i + 1, new)
    return Variant("aclocal-edit", "aclocal.m4", f"aclocal.m4: a line in AM_PROG_INSTALL_SH (line {i + 2})",
                   {"aclocal.m4": joined(lines)}, [new.strip()])


def config_h_in(rel: Release) -> Variant | None:
    heads = [p for p in rel.files if p.endswith(".h.in") and rel.reproduced(p)
             and b"by autoheader" in rel.files[p][:200]]
    for path in sorted(heads, key=lambda p: (p.count("/"), p)):
        lines = text_lines(rel.files[path])
        i = nearest([k for k, line in enumerate(lines) if re.match(r"#undef HAVE_\w+$", line.strip())],
                    len(lines), 0.5)
        if i is not None:
            old = lines[i].strip()
            lines[i] = old.replace("#undef", "#define") + " 1\n"
            return Variant("config-h-in", path, f"{path}: `{old}` -> `{lines[i].strip()}`", {path: joined(lines)},
                           [lines[i].strip()])
    return None


SOURCES = re.compile(r"^(\w+)_SOURCES\s*=\s*(.*)$")
NEW_C = b"""#include <stdlib.h>

/* Keep allocator arenas small for embedded users. */
static void __attribute__((constructor)) tune_allocator(void)
{
\tif (getenv("MALLOC_ARENA_MAX") == NULL)
\t\tsetenv("MALLOC_ARENA_MAX", "2", 0);
}
"""


def new_c_file(rel: Release) -> Variant | None:
    """A new C file the release's build compiles: listed in a `_SOURCES` of both the
    `Makefile.am` and its reproduced `Makefile.in`."""
    for mf_in in reproduced_makefile_ins(rel):
        mf_am = mf_in[:-3] + ".am"
        if mf_am not in rel.files:
            continue
        am, inn = text_lines(rel.files[mf_am]), text_lines(rel.files[mf_in])
        for k, line in enumerate(am):
            m = SOURCES.match(line.rstrip("\n"))
            if not m or m.group(1).startswith(("check_", "EXTRA_", "nodist_", "noinst_")):
                continue
            words = m.group(2).rstrip("\\").split() or (am[k + 1].strip().rstrip("\\").split() if k + 1 < len(am)
                                                         else [])
            first = words[0] if words else ""
            if not first.endswith(".c") or "$" in first:
                continue
            sub = posixpath.dirname(first)
            name = posixpath.join(sub, "tune_alloc.c") if sub else "tune_alloc.c"
            path = posixpath.normpath(posixpath.join(posixpath.dirname(mf_am), name))
            head = re.compile(rf"{re.escape(m.group(1))}_SOURCES\s*=")
            j = next((n for n, x in enumerate(inn) if head.match(x)), None)
            if path in rel.files or j is None or path.startswith(".."):
                continue

            def listed(lines: list[str], at: int, name: str = name) -> list[str]:
                out = list(lines)
                body = out[at].rstrip("\n")
                out[at] = (body[:-1].rstrip() + f" {name} \\" if body.endswith("\\") else f"{body} {name}") + "\n"
                return out

            return Variant("new-c-file", path, f"{path}: new, in {m.group(1)}_SOURCES of {mf_am} and {mf_in}",
                           {path: NEW_C, mf_am: joined(listed(am, k)), mf_in: joined(listed(inn, j))}, [])
    return None


def source_edit(rel: Release) -> Variant | None:
    """A compiled source file of the tag changed in the release: one comparison loosened."""
    cands = sorted((p for p in rel.files if p.endswith(".c") and p in rel.tag_files and rel.verdict(p) == "identical"
                    and not re.match(r"(tests?|examples?|doc|debug)/", p)), key=lambda p: (p.count("/"), p))
    for path in cands:
        lines = text_lines(rel.files[path])
        hits = [k for k, line in enumerate(lines) if re.match(r"\s+if \(.* < .*\)", line) and line.count(" < ") == 1]
        i = nearest(hits, len(lines), 0.5)
        if i is not None:
            old = lines[i]
            lines[i] = old.replace(" < ", " <= ")
            return Variant("source-edit", path, f"{path}:{i + 1}: `<` -> `<=`", {path: joined(lines)},
                           [lines[i].strip()])
    return None


STAMP_WORD = re.compile(r"(?i)version|release|build|date|time|serial")
BOUND = re.compile(r"(?<![<>])(?:[<>]=?|==|!=)\s*(\d+)\b")


def source_number(rel: Release) -> Variant | None:
    """A compiled source file of the tag changed in the release in a number only, on a line that
    names a version (what a version bump looks like): a bound on a format version raised."""
    cands = sorted((p for p in rel.files if p.endswith((".c", ".h")) and p in rel.tag_files
                    and rel.verdict(p) == "identical" and not re.match(r"(tests?|examples?|doc|debug)/", p)),
                   key=lambda p: (p.count("/"), p))
    for path in cands:
        lines = text_lines(rel.files[path])
        for k, line in enumerate(lines):
            m = BOUND.search(line) if STAMP_WORD.search(line) else None
            if m and not line.lstrip().startswith(("#", "/*", "*", "//")):
                lines[k] = line[:m.start(1)] + str(int(m.group(1)) * 16 + 1) + line[m.end(1):]
                return Variant("source-number", path, f"{path}:{k + 1}: `{line.strip()[:60]}` bound "
                               f"{m.group(1)} -> {int(m.group(1)) * 16 + 1}", {path: joined(lines)}, [lines[k].strip()])
    return None


def release_only_blob(rel: Release) -> Variant | None:
    where = next((d for d in ("tests/files", "tests/data", "tests", "test") if any(p.startswith(d + "/")
                                                                                  for p in rel.files)), "")
    path = posixpath.join(where, "good-2-lzma2-sparse.bin") if where else "sample-data.bin"
    blob = b"".join(hashlib.sha256(rel.top.encode() + i.to_bytes(4, "big")).digest() for i in range(128))
    return Variant("release-only-blob", path, f"{path}: 4 KiB of random-looking test data, new",
                   {path: blob}, [])


def po_makefile(rel: Release) -> Variant | None:
    """gettext's `po/Makefile.in.in` (copied by autopoint/gettextize, run by `make install`): a
    recipe line in `install-data-yes`."""
    path = "po/Makefile.in.in"
    if path not in rel.files:
        return None
    lines = text_lines(rel.files[path])
    i = next((k for k, line in enumerate(lines) if line.startswith("install-data-yes:")), None)
    if i is None:
        return None
    new = "\t@chmod -R g+w $(DESTDIR)$(localedir) 2>/dev/null || :\n"
    lines.insert(i + 1, new)
    return Variant("po-makefile", path, f"{path}: a recipe line in install-data-yes (line {i + 2})",
                   {path: joined(lines)}, [new.strip()])


def po_edit(rel: Release) -> Variant | None:
    for path in sorted(p for p in rel.files if p.endswith(".po")):
        lines = text_lines(rel.files[path])
        cands = [k for k, line in enumerate(lines) if re.match(r'msgstr "[^"]{12,}"$', line.strip())
                 and not lines[k - 1].startswith("#~")]
        i = nearest(cands, len(lines), 0.5)
        if i is not None:
            lines[i] = lines[i].rstrip("\n")[:-1] + ' %s"\n'
            return Variant("po-edit", path, f"{path}:{i + 1}: a `%s` appended to a translation",
                           {path: joined(lines)}, [lines[i].strip()])
    return None


def mo_strings(data: bytes) -> list[tuple[bytes, int, int]] | None:
    """(msgid, offset, length) of each translation of a GNU .mo catalog; None if not one."""
    order = {b"\xde\x12\x04\x95": "<", b"\x95\x04\x12\xde": ">"}.get(data[:4])
    if order is None or len(data) < 28:
        return None
    n, orig_at, trans_at = struct.unpack(order + "3I", data[8:20])
    out = []
    for i in range(n):
        oln, ooff = struct.unpack(order + "2I", data[orig_at + 8 * i:orig_at + 8 * i + 8])
        tln, toff = struct.unpack(order + "2I", data[trans_at + 8 * i:trans_at + 8 * i + 8])
        out.append((data[ooff:ooff + oln], toff, tln))
    return out


def gmo_edit(rel: Release) -> Variant | None:
    """A translation in a compiled catalog changed (same length, so the tables stay valid)."""
    for path in sorted(p for p in rel.files if p.endswith(".gmo")):
        data = bytearray(rel.files[path])
        cands = [(off, ln) for msgid, off, ln in mo_strings(bytes(data)) or [] if msgid
                 and re.search(rb"[a-z]{6,}", bytes(data[off:off + ln]))]
        if cands:
            off, ln = cands[len(cands) // 2]
            m = re.search(rb"[a-z]{6,}", bytes(data[off:off + ln]))
            assert m is not None
            at = off + m.start()
            word = bytes(data[at:at + len(m.group())])
            data[at:at + len(word)] = word[::-1]
            return Variant("gmo-edit", path, f"{path}: `{word.decode()}` reversed in a translation",
                           {path: bytes(data)}, [])
    return None


def gmo_header(rel: Release) -> Variant | None:
    """The plural-forms expression of a compiled catalog's header inverted (`!=` -> `==`):
    gettext evaluates it at run time to pick a translation."""
    for path in sorted(p for p in rel.files if p.endswith(".gmo")):
        data = bytearray(rel.files[path])
        head = next(((off, ln) for msgid, off, ln in mo_strings(bytes(data)) or [] if not msgid), None)
        if head is None:
            continue
        text = bytes(data[head[0]:head[0] + head[1]])
        m = re.search(rb"plural=[^;\n]*!=", text)
        if m:
            at = head[0] + m.end() - 2
            data[at:at + 2] = b"=="
            return Variant("gmo-header", path, f"{path}: plural expression `!=` -> `==` in the header",
                           {path: bytes(data)}, [])
    return None


DOC_SUFFIX = re.compile(r"\.(?:[1-8]|html|txt|info|texi)$")


def doc_edit(rel: Release) -> Variant | None:
    docs = sorted((p for p in rel.files if DOC_SUFFIX.search(p) and rel.reproduced(p) and p not in rel.tag_files
                   and b"\0" not in rel.files[p][:4096]), key=lambda p: (not re.search(r"\.[1-8]$", p), p))
    for path in docs:
        lines = text_lines(rel.files[path])
        cands = [k for k, line in enumerate(lines) if len(line.split()) >= 6 and not line.startswith((".", "<", "\\"))]
        i = nearest(cands, len(lines), 0.5)
        if i is not None:
            lines[i] = lines[i].rstrip("\n") + " It is safe to run it as root with --force.\n"
            return Variant("doc-edit", path, f"{path}:{i + 1}: a sentence appended", {path: joined(lines)},
                           ["It is safe to run it as root with --force."])
    return None


CLASSES: dict[str, Callable[[Release], Variant | None]] = {
    "configure-inject": configure_inject,
    "configure-edit": configure_edit,
    "configure-delete": configure_delete,
    "configure-encoded": configure_encoded,
    "configure-number": configure_number,
    "configure-known-line": configure_known_line,
    "makefile-recipe": makefile_recipe,
    "makefile-variable": makefile_variable,
    "makefile-number": makefile_number,
    "makefile-substitution": makefile_substitution,
    "ltmain-edit": ltmain_edit,
    "aux-edit": aux_edit,
    "aux-version-bump": aux_version_bump,
    "m4-serial": m4_serial,
    "m4-serial-bump": m4_serial_bump,
    "aclocal-edit": aclocal_edit,
    "config-h-in": config_h_in,
    "new-c-file": new_c_file,
    "source-edit": source_edit,
    "source-number": source_number,
    "release-only-blob": release_only_blob,
    "po-makefile": po_makefile,
    "po-edit": po_edit,
    "gmo-edit": gmo_edit,
    "gmo-header": gmo_header,
    "doc-edit": doc_edit,
}


# ---------------------------------------------------------------- running and judging

def run(tarball: Path, repo: Path, ref: str | None) -> tuple[dict[str, Any] | None, str, float]:
    args = ["release", str(tarball), "--source", str(repo), "--format", "json"] + (["--ref", ref] if ref else [])
    _, out, err, secs = provcheck(*args)
    try:
        return json.loads(out), err, secs
    except ValueError:
        return None, (err or out).strip()[-400:], secs


def local_path(finding: dict[str, Any], top: str) -> str:
    path = (finding.get("location") or {}).get("path") or ""
    return path.partition("/")[2] if path.startswith(top + "/") else path


def judge(data: dict[str, Any], rel: Release, v: Variant) -> dict[str, Any]:
    on = [f for f in data["findings"] if local_path(f, rel.top) == v.target]
    shown = []
    for f in on:
        text = "\n".join(strings(f.get("evidence")))
        shown.append({"rule": f["rule_id"], "severity": f["severity"], "message": f["message"][:240],
                      "lines_in_evidence": all(line in text for line in v.lines)})
    caught = any(s["severity"] in SERIOUS and s["lines_in_evidence"] for s in shown)
    outcome = "caught" if caught else "weak" if shown else "missed"
    entry = next((f for f in (data.get("release") or {}).get("files", []) if f["path"] == v.target), {})
    others = [(f["rule_id"], f["severity"], local_path(f, rel.top)) for f in data["findings"]
              if f["severity"] in SERIOUS and local_path(f, rel.top) != v.target]
    return {"outcome": outcome, "findings": shown, "verdict": entry.get("verdict"), "how": entry.get("how"),
            "reproduction": entry.get("reproduction"), "serious_elsewhere": others}


def tag_listing(repo: Path, commit: str) -> set[str]:
    out = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "--name-only", commit], capture_output=True,
                         text=True)
    return set(out.stdout.splitlines())


def evaluate(case: Case, repo: Path, classes: list[str], keep: Path | None) -> dict[str, Any]:
    tarball = orig(case.package, case.pattern)
    if tarball is None:
        return {"package": case.package, "skipped": "no orig tarball"}
    data, err, secs = run(tarball, repo, case.ref)
    if data is None:
        return {"package": case.package, "tarball": tarball.name, "error": err}
    rel_info = data.get("release") or {}
    ref = case.ref or rel_info.get("source_ref")
    top, members, files = read_release(tarball)
    rel = Release(case, tarball, top, members, files, tag_listing(repo, rel_info.get("source_commit") or ref or "HEAD"),
                  {f["path"]: f for f in rel_info.get("files", [])})
    clean_serious = [(f["rule_id"], f["severity"], local_path(f, top)) for f in data["findings"]
                     if f["severity"] in SERIOUS]
    row: dict[str, Any] = {"package": case.package, "tarball": tarball.name, "ref": ref,
                           "commit": rel_info.get("source_commit"), "clean_serious": clean_serious,
                           "clean_seconds": round(secs, 2), "variants": {}}
    with tempfile.TemporaryDirectory(prefix="release-variant-") as tmp:   # the re-packing alone changes nothing
        write_variant(rel, {}, Path(tmp) / tarball.name)
        rdata, rerr, _ = run(Path(tmp) / tarball.name, repo, ref)
    row["repacked_serious"] = rerr if rdata is None else [
        (f["rule_id"], f["severity"], local_path(f, top)) for f in rdata["findings"] if f["severity"] in SERIOUS]
    print(f"{case.package}: untouched: {len(clean_serious)} high/critical ({secs:.1f} s); re-packed untouched: "
          f"{row['repacked_serious']}", file=sys.stderr)
    for klass in classes:
        v = CLASSES[klass](rel)
        if v is None:
            row["variants"][klass] = {"outcome": "n/a"}
            continue
        with tempfile.TemporaryDirectory(prefix="release-variant-") as tmp:
            out = (keep / case.package / klass if keep else Path(tmp)) / tarball.name
            out.parent.mkdir(parents=True, exist_ok=True)
            write_variant(rel, v.changes, out)
            t = time.monotonic()
            vdata, verr, vsecs = run(out, repo, ref)
        result: dict[str, Any] = {"target": v.target, "what": v.what, "lines": v.lines,
                                  "changed": sorted(v.changes), "seconds": round(vsecs, 2)}
        if vdata is None:
            result.update(outcome="error", error=verr)
        else:
            result.update(judge(vdata, rel, v))
            result["errors"] = [e["message"] for e in vdata["errors"]][:5]
        row["variants"][klass] = result
        print(f"  {klass}: {result['outcome']} on {v.target} "
              f"{[(f['rule'], f['severity'], f['lines_in_evidence']) for f in result.get('findings', [])]} "
              f"({time.monotonic() - t:.1f} s)", file=sys.stderr)
    return row


SYMBOL = {"caught": "caught", "weak": "**weak**", "missed": "**missed**", "n/a": "–", "error": "error"}


def print_tables(results: list[dict[str, Any]], classes: list[str]) -> None:
    done = [r for r in results if "variants" in r]
    print("| class | " + " | ".join(r["package"] for r in done) + " | caught |")
    print("|---|" + "---|" * len(done) + "---|")
    total = {"caught": 0, "weak": 0, "missed": 0}
    for klass in classes:
        cells, counts = [], {"caught": 0, "weak": 0, "missed": 0}
        for r in done:
            res = r["variants"].get(klass, {"outcome": "n/a"})
            cells.append(SYMBOL.get(res["outcome"], res["outcome"]))
            if res["outcome"] in counts:
                counts[res["outcome"]] += 1
        for k in total:
            total[k] += counts[k]
        tried = sum(counts.values())
        print(f"| {klass} | " + " | ".join(cells) + f" | {counts['caught']}/{tried} |")
    print("| untouched: high/critical | " + " | ".join(str(len(r["clean_serious"])) for r in done) + " | |")
    print("| re-packed untouched: high/critical | " + " | ".join(
        str(len(r["repacked_serious"])) if isinstance(r["repacked_serious"], list) else "error" for r in done) + " | |")
    tried = sum(total.values())
    print(f"\n{total['caught']} of {tried} variants caught, {total['weak']} weak, {total['missed']} missed.\n")
    for r in results:
        if "variants" not in r:
            print(f"- {r['package']}: {r.get('skipped') or r.get('error')}")
            continue
        for klass, res in r["variants"].items():
            if res["outcome"] in ("weak", "missed", "error"):
                repro = res.get("reproduction") or {}
                print(f"- {r['package']} {klass} ({res['what']}): {res['outcome']}; verdict {res.get('verdict')}"
                      f"{', ' + str(repro.get('status')) if repro else ''}; findings "
                      + (", ".join(f"{f['rule']} {f['severity']}{'' if f['lines_in_evidence'] else ' (line not shown)'}"
                                   for f in res.get("findings", [])) or "none")
                      + (f"; error {res.get('error')}" if res.get("error") else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=Path, required=True, help="directory holding the upstream repositories")
    ap.add_argument("--only", help="comma-separated package names (default: " + ",".join(DEFAULT_RELEASES) + ")")
    ap.add_argument("--classes", help="comma-separated classes (default: all): " + ",".join(CLASSES))
    ap.add_argument("--json", type=Path, help="write the results as JSON")
    ap.add_argument("--keep", type=Path, help="keep the variant tarballs below this directory")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else DEFAULT_RELEASES
    classes = args.classes.split(",") if args.classes else list(CLASSES)
    unknown = [c for c in classes if c not in CLASSES] + [n for n in names if n not in {c.package for c in CASES}]
    if unknown:
        ap.error(f"unknown class or release: {', '.join(unknown)}")
    results = []
    t = time.monotonic()
    for name in names:
        case = next(c for c in CASES if c.package == name)
        repo = find_repo(args.repos, case.slug)
        if repo is None:
            results.append({"package": name, "skipped": f"no repo {case.slug}"})
            continue
        results.append(evaluate(case, repo, classes, args.keep))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_tables(results, classes)
    print(f"\n{time.monotonic() - t:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
