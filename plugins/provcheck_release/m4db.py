"""m4 macro-file provenance: serial numbers, content hashes and the known-good database.

The database (``data/m4db.zip``, built by ``tools/harvest_m4.py``) maps a macro file's
base name to the versions published by autoconf, automake, gnulib, autoconf-archive,
libtool, gettext, pkg-config and others. Its ``index.json`` member (deflated: loads in a
few milliseconds) is::

    {"format": "provcheck-m4db/1", "sources": [...],
     "files": {"build-to-host.m4": [{"serial": "3", "sha256": "...", "norm": "...",
                                      "origin": "gnulib_20230209+stable-1"}, ...]}}

``sha256`` is the hash of the exact bytes; ``norm`` the hash of the content with
comment lines, ``dnl`` comments, blank lines and surrounding whitespace removed, so a
copy that only differs in its copyright header or comments still matches. The texts,
for diffs, are one LZMA member per file name (``texts/NAME.json``: sha256 -> text), so a
diff decompresses the versions of one file, not all 30 MB of them.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DB_PATH = Path(__file__).with_name("data") / "m4db.zip"
DB_FORMAT = "provcheck-m4db/1"

_SERIAL = re.compile(rb"^[ \t]*(?:#|dnl)[ \t]*(?:[\w.+~-]+\.m4[ \t]+)?serial[ \t]+([0-9]+(?:\.[0-9]+)*)", re.M)
_DNL_TAIL = re.compile(rb"[ \t]*\bdnl\b.*$")


def serial_of(data: bytes) -> str | None:
    """The declared ``# serial N`` / ``dnl serial N`` of a macro file (first one), or None."""
    m = _SERIAL.search(data[:1 << 16])
    return m.group(1).decode() if m else None


# Build-aux helper scripts the database also knows, versioned by their own stamp lines.
AUX_NAMES = frozenset({"config.guess", "config.sub", "install-sh", "depcomp", "missing", "compile", "ar-lib",
                       "test-driver", "tap-driver.sh", "ltmain.sh", "mkinstalldirs", "ylwrap", "mdate-sh",
                       "texinfo.tex", "config.rpath", "py-compile", "elisp-comp", "gitlog-to-changelog",
                       "git-version-gen", "useless-if-before-free", "vc-list-files", "announce-gen", "gnupload",
                       "ABOUT-NLS"})
_AUX_VERSION = re.compile(rb"""^(?:scriptversion|timestamp|\\def\\texinfoversion\{)=?['"{]?([0-9][0-9.:-]*[0-9])|"""
                          rb"""^(?:VERSION|package_revision)=['"]?([0-9][\w.]*)""", re.M)


# gettext's po/ infrastructure (copied by autopoint/gettextize), keyed ``po/NAME`` in the database:
# the versions come from autopoint's archive of every gettext release's infrastructure.
PO_INFRA = re.compile(r"(?:^|/)po/(Makefile\.in\.in|Rules-[\w-]+|[^/]+\.sin|[^/]+\.sed|[^/]+\.header|"
                      r"Makevars\.template)$")
_GETTEXT_ORIGIN = re.compile(rb"^# Origin: gettext-([0-9][0-9.]*[0-9])", re.M)


def db_name(path: str) -> str:
    """The database key of a release path: ``po/NAME`` for gettext infrastructure, else the base name."""
    m = PO_INFRA.search(path)
    return f"po/{m.group(1)}" if m else posixpath.basename(path)


def gettext_origin(data: bytes) -> str | None:
    """The gettext version a ``po/Makefile.in.in`` names (``# Origin: gettext-0.21``)."""
    m = _GETTEXT_ORIGIN.search(data[:4096])
    return m.group(1).decode() if m else None


def is_aux(name: str) -> bool:
    return name in AUX_NAMES or name.startswith("po/")


def version_of(name: str, data: bytes) -> str | None:
    """The serial of an m4 file, or the scriptversion/timestamp/VERSION of a build-aux script
    (the ``Origin`` gettext version of ``po/Makefile.in.in``; None for the other po/ files,
    whose version is their ``Makefile.in.in``'s)."""
    if name.startswith("po/"):
        return gettext_origin(data) if name == "po/Makefile.in.in" else None
    if not is_aux(name):
        return serial_of(data)
    m = _AUX_VERSION.search(data[:1 << 16])
    if not m:
        return None
    return (m.group(1) or m.group(2)).decode()


def serial_key(serial: str | None) -> tuple[int, ...]:
    if not serial:
        return ()
    return tuple(int(p) for p in re.split(r"[.:-]", serial) if p.isdigit())


def normalise(data: bytes) -> bytes:
    """Content without comment lines, ``dnl`` comments, blank lines and edge whitespace."""
    out = []
    for line in data.replace(b"\r\n", b"\n").split(b"\n"):
        s = line.strip()
        if not s or s.startswith((b"#", b"dnl")):
            continue
        if b"dnl" in s:
            s = _DNL_TAIL.sub(b"", s).strip()
            if not s:
                continue
        out.append(b" ".join(s.split()))
    return b"\n".join(out)


def hashes(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), hashlib.sha256(normalise(data)).hexdigest()


@dataclass(frozen=True)
class M4Verdict:
    """What the database says about one m4 file."""

    status: str            # "exact", "normalised", "serial-mismatch", "serial-inflated", "unknown-serial", "unknown"
    name: str
    serial: str | None
    origin: str | None = None          # matching (or closest) published copy
    max_serial: str | None = None      # highest serial published for this name
    closest_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def write_db(db: dict[str, Any], path: Path) -> None:
    """Write a database whose entries carry their ``text`` (reproducible: sorted members,
    fixed timestamps)."""
    index = {**db, "files": {name: [{k: v for k, v in e.items() if k != "text"} for e in entries]
                             for name, entries in db["files"].items()}}
    stamp = (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("index.json", stamp), json.dumps(index, sort_keys=True, separators=(",", ":")),
                   compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        for name in sorted(db["files"]):
            group = {e["sha256"]: e["text"] for e in db["files"][name] if "text" in e}
            if group:
                z.writestr(zipfile.ZipInfo(f"texts/{name}.json", stamp),
                           json.dumps(group, sort_keys=True, separators=(",", ":")), compress_type=zipfile.ZIP_LZMA)


class M4Database:
    """The index (names, serials, hashes, origins) is loaded at once; the macro texts
    (for diffs) from the zip's ``texts/`` members, one file name at a time."""

    def __init__(self, data: dict[str, Any], archive: zipfile.ZipFile | None = None):
        if data.get("format") != DB_FORMAT:
            raise ValueError(f"not an m4 database ({data.get('format')!r})")
        self.files: dict[str, list[dict[str, Any]]] = data.get("files", {})
        self.sources: list[str] = data.get("sources", [])
        self._by_sha = {e["sha256"]: (name, e) for name, es in self.files.items() for e in es}
        self._by_norm = {e["norm"]: (name, e) for name, es in self.files.items() for e in es}
        self._archive = archive
        self._groups: dict[str, dict[str, str]] = {}
        self._histories: dict[str, Any] | None = None

    @property
    def histories(self) -> dict[str, Any]:
        """The published-history sets (vendored.py: gnulib, autoconf-archive), loaded on first use."""
        if self._histories is None:
            from .vendored import histories
            self._histories = histories()
        return self._histories

    def in_history(self, name: str, data: bytes) -> Any:
        """The first published version (vendored.Published) of these bytes under a path of this
        base name in a project's history, or None."""
        for history in self.histories.values():
            hit = history.match_name(name, data)
            if hit is not None and not hit.code_only:
                return hit
        return None

    @classmethod
    def load(cls, path: Path = DB_PATH) -> "M4Database":
        archive = zipfile.ZipFile(path)  # kept open: texts are read on demand
        return cls(json.loads(archive.read("index.json")), archive)

    def text(self, entry: dict[str, Any]) -> str | None:
        if "text" in entry or self._archive is None:
            return entry.get("text")
        name = self._by_sha.get(entry["sha256"], ("",))[0]
        if name not in self._groups:
            try:
                self._groups[name] = json.loads(self._archive.read(f"texts/{name}.json"))
            except (OSError, KeyError, ValueError, zipfile.BadZipFile):
                self._groups[name] = {}
        return self._groups[name].get(entry["sha256"])

    def __len__(self) -> int:
        return sum(len(v) for v in self.files.values())

    def judge(self, name: str, data: bytes, version: str | None = None) -> M4Verdict:
        """``version``: the version the file belongs to when it carries none itself (gettext's
        po/ files: their ``Makefile.in.in``'s ``Origin``)."""
        sha = hashlib.sha256(data).hexdigest()
        memo = self.__dict__.setdefault("_judged", {})  # the comparison and regeneration ask about the same files
        if (name, sha, version) not in memo:
            memo[(name, sha, version)] = self._judge(name, data, sha, version)
        return memo[(name, sha, version)]

    def _judge(self, name: str, data: bytes, sha: str, version: str | None = None) -> M4Verdict:
        serial = version or version_of(name, data)
        entries = self.files.get(name, [])
        exact = sorted((e for e in entries if e["sha256"] == sha), key=lambda e: e.get("serial") != serial)
        if exact:  # the copy of the file's own version first (gettext's po/ files repeat across versions)
            return M4Verdict("exact", name, serial, origin=exact[0]["origin"])
        hit = self.in_history(name, data)  # a version in gnulib's or autoconf-archive's git history (gnulib
        if hit is not None:                # does not always bump a serial; releases vendor unreleased snapshots)
            return M4Verdict("exact", name, serial, origin=hit.origin())
        norm = hashlib.sha256(normalise(data)).hexdigest()  # only when the exact bytes are not published
        for e in entries:
            if e["norm"] == norm:
                return M4Verdict("normalised", name, serial, origin=e["origin"])
        if sha in self._by_sha or norm in self._by_norm:  # published under another name: renamed copy
            other, e = self._by_sha.get(sha) or self._by_norm[norm]
            return M4Verdict("normalised", name, serial, origin=f"{e['origin']} ({other})")
        history_same = self.history_serial(name, serial)
        history_max = self.history_max_serial(name)
        if not entries and history_max is None:
            return M4Verdict("unknown", name, serial)
        top = max(entries, key=lambda e: serial_key(e.get("serial"))) if entries else None
        max_serial = max((v for v in (top.get("serial") if top else None, history_max) if v), key=serial_key,
                         default=None)
        same = [e for e in entries if serial is not None and e.get("serial") == serial]
        if same:
            return M4Verdict("serial-mismatch", name, serial, origin=same[0]["origin"], max_serial=max_serial,
                             closest_sha256=same[0]["sha256"])
        if history_same is not None:  # a serial a history version declared: known by digest, no text to diff
            return M4Verdict("serial-mismatch", name, serial, origin=history_same.origin(), max_serial=max_serial)
        top_sha = top["sha256"] if top else None
        top_origin = top["origin"] if top else None
        if top is None or (history_max and serial_key(history_max) > serial_key(top.get("serial"))):
            hit = self.history_serial(name, history_max)
            top_origin = hit.origin() if hit is not None else top_origin
        if serial is not None and max_serial is not None and serial_key(serial) > serial_key(max_serial):
            return M4Verdict("serial-inflated", name, serial, origin=top_origin, max_serial=max_serial,
                             closest_sha256=top_sha)
        return M4Verdict("unknown-serial", name, serial, origin=top_origin, max_serial=max_serial,
                         closest_sha256=top_sha)

    def history_serial(self, name: str, serial: str | None) -> Any:
        """The first history version of m4 file ``name`` that declared ``serial`` (vendored.Published)."""
        if serial is None or not name.endswith(".m4"):
            return None
        for history in self.histories.values():
            hit = history.serial(name, serial)
            if hit is not None:
                return hit
        return None

    def history_max_serial(self, name: str) -> str | None:
        if not name.endswith(".m4"):
            return None
        found = [s for h in self.histories.values() if (s := h.max_serial(name))]
        return max(found, key=serial_key) if found else None

    def same_serial(self, name: str, serial: str | None) -> list[dict[str, Any]]:
        return [e for e in self.files.get(name, []) if serial is not None and e.get("serial") == serial]

    def content(self, sha256: str) -> str | None:
        """The text of a published copy when the database carries it (for diffs)."""
        hit = self._by_sha.get(sha256)
        return self.text(hit[1]) if hit else None


@lru_cache(maxsize=4)
def default_db(path: str = str(DB_PATH)) -> M4Database:
    return M4Database.load(Path(path))
