"""From a release's name and version to the git tag it was cut from.

Projects spell tags many ways: ``v5.6.1``, ``5.6.1``, ``xz-5.6.1``, ``R_2_5_0``,
``curl-7_88_1``, ``V_9_2_P1``, ``FILE5_44``, ``SUDO_1_9_13p3``, ``pcre2-10.42``,
``release-1.2``... ``tag_candidates`` generates them in a preferred order;
``find_tag`` picks the first that exists (exact, then case-insensitive).
"""

from __future__ import annotations

import os
import re
from typing import Iterable

_ARCHIVE_SUFFIX = re.compile(r"(?:\.orig)?\.(?:tar(?:\.(?:gz|xz|bz2|zst|lz|lzma|Z))?|tgz|tbz2?|txz|zip)$",
                             re.I)
_NAME_VERSION = re.compile(r"^(?P<name>.+?)[-_](?P<version>v?\d[\w.+~-]*)$")


def split_name_version(text: str) -> tuple[str, str] | None:
    """``xz-5.6.1.tar.gz`` / ``xz-utils_5.4.1.orig.tar.xz`` / ``openssh-9.2p1`` -> (name, version)."""
    base = os.path.basename(text.rstrip("/"))
    if base.endswith(".whl") and base.count("-") >= 4:  # name-version(-build)-python-abi-platform.whl
        name, version = base[:-4].split("-")[:2]
        return name, version
    base = _ARCHIVE_SUFFIX.sub("", base)
    m = _NAME_VERSION.match(base)
    if not m:
        return None
    version = re.sub(r"[+~](?:dfsg|ds|repack|really)[\w.]*$", "", m.group("version"))
    return m.group("name"), version


def names_and_version(texts: Iterable[str]) -> tuple[list[str], str | None]:
    """Project names and the version from a release's top directory and file name (in that
    order; empty texts skipped): the first version found wins."""
    names, version = [], None
    for text in texts:
        nv = split_name_version(text) if text else None
        if nv:
            names.append(nv[0])
            version = version or nv[1]
    return names, version


def _version_spellings(v: str) -> list[str]:
    v = v[1:] if v[:1] in "vV" and v[1:2].isdigit() else v
    under = re.sub(r"[.\-]", "_", v)
    p_split = re.sub(r"(\d)p(\d)", r"\1_p\2", under)
    out = [v, under, under.upper(), p_split, p_split.upper(), v.replace(".", "-"), v.replace(".", "")]
    seen: list[str] = []
    for s in out:
        if s not in seen:
            seen.append(s)
    return seen


def tag_candidates(names: Iterable[str], version: str) -> list[str]:
    names = [n for n in dict.fromkeys(names) if n]
    prefixes = ["v", "", "V", "V_", "R_", "release-", "rel-", "RELEASE_", "ver-", "version-"]
    for n in names:
        short = n.split("-")[0]
        for base in dict.fromkeys([n, short, n.replace("-", ""), n.replace("-", "_")]):
            prefixes += [f"{base}-", f"{base}_", f"{base}-v", base, f"{base.upper()}_", f"{base.upper()}-",
                         base.upper(), f"{base}-release-", f"{base}_v"]
    out: list[str] = []
    for s in _version_spellings(version):
        for p in prefixes:
            tag = p + s
            if tag not in out:
                out.append(tag)
    return out


def find_tag(existing: Iterable[str], names: Iterable[str], version: str) -> tuple[str | None, list[str]]:
    """(the tag, the candidates tried). Exact match first, then case-insensitive."""
    existing = list(existing)
    have = set(existing)
    cands = tag_candidates(names, version)
    for c in cands:
        if c in have:
            return c, cands
    lower = {t.lower(): t for t in existing}
    for c in cands:
        if c.lower() in lower:
            return lower[c.lower()], cands
    return None, cands
