"""Version ordering per ecosystem and OSV advisory matching.

* ``version_compare(ecosystem, a, b)`` -> -1/0/1 with the ecosystem's own rules: dpkg
  (epoch, upstream, revision, ``~`` sorts before everything), rpm (``rpmvercmp`` with
  ``~`` and ``^``, epoch:version-release), apk (``1.2.3a_rc1_p2-r3``), PyPI (PEP 440
  through ``packaging`` when installed), and a generic numeric/alpha segment order for
  anything else (semver-ish).
* ``affected(osv_record, component)`` -> bool and ``match(...)`` -> the range that
  matched, with OSV's ``introduced``/``fixed``/``last_affected``/``limit`` events and
  its explicit ``versions`` list.

``ecosystem`` is a purl type (``deb``, ``rpm``, ``apk``, ``pypi``, ``generic``) or an OSV
ecosystem name (``Debian:12``, ``Alpine:v3.19``, ``Red Hat``, ``PyPI``, ...).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from packageurl import PackageURL

if TYPE_CHECKING:
    from .inventory import Component

# OSV ecosystem (before ":release") -> purl type
ECOSYSTEMS = {
    "debian": "deb", "ubuntu": "deb",
    "alpine": "apk", "wolfi": "apk", "chainguard": "apk",
    "red hat": "rpm", "redhat": "rpm", "rocky linux": "rpm", "almalinux": "rpm", "suse": "rpm",
    "opensuse": "rpm", "mageia": "rpm", "fedora": "rpm", "openeuler": "rpm", "azure linux": "rpm",
    "pypi": "pypi", "npm": "npm", "go": "golang", "crates.io": "cargo", "maven": "maven",
    "rubygems": "gem", "nuget": "nuget", "packagist": "composer",
}


def purl_type(ecosystem: str) -> str:
    """The purl type for an OSV ecosystem name or a purl type."""
    e = (ecosystem or "").split(":", 1)[0].strip().lower()
    return ECOSYSTEMS.get(e, e or "generic")


def _num(digits: str) -> tuple[int, str]:
    """A sort key for a run of digits of any length (``int()`` refuses more than 4300 digits)."""
    digits = digits.lstrip("0")
    return len(digits), digits


# -- dpkg -------------------------------------------------------------------------------------

def _deb_split(v: str) -> tuple[tuple[int, str], str, str]:
    v = v.strip()
    epoch = _num("0")
    if ":" in v:
        e, v = v.split(":", 1)
        epoch = _num(e) if e.isdigit() else _num("0")
    if "-" in v:
        up, rev = v.rsplit("-", 1)
    else:
        up, rev = v, ""
    return epoch, up, rev


def _deb_order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _deb_verrevcmp(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _deb_order(a[i]) if i < len(a) else 0
            bc = _deb_order(b[j]) if j < len(b) else 0
            if ac != bc:
                return -1 if ac < bc else 1
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return -1 if first_diff < 0 else 1
    return 0


def deb_compare(a: str, b: str) -> int:
    ea, ua, ra = _deb_split(a)
    eb, ub, rb = _deb_split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _deb_verrevcmp(ua, ub) or _deb_verrevcmp(ra, rb)


# -- rpm --------------------------------------------------------------------------------------

_RPM_SEG = re.compile(r"(~|\^|[0-9]+|[a-zA-Z]+)")


def rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    sa = _RPM_SEG.findall(a)
    sb = _RPM_SEG.findall(b)
    i = 0
    while True:
        x = sa[i] if i < len(sa) else None
        y = sb[i] if i < len(sb) else None
        if x == "~" or y == "~":
            if x != y:
                return -1 if x == "~" else 1
        elif x == "^" or y == "^":
            if x != y:
                if x is None:
                    return -1
                if y is None:
                    return 1
                return 1 if x == "^" else -1
        elif x is None or y is None:
            if x is None and y is None:
                return 0
            return -1 if x is None else 1
        else:
            xd, yd = x.isdigit(), y.isdigit()
            if xd != yd:
                return 1 if xd else -1
            if xd:
                xi, yi = _num(x), _num(y)
                if xi != yi:
                    return -1 if xi < yi else 1
            elif x != y:
                return -1 if x < y else 1
        i += 1


def _rpm_split(v: str) -> tuple[tuple[int, str], str, str]:
    epoch = _num("0")
    if ":" in v:
        e, v = v.split(":", 1)
        epoch = _num(e) if e.isdigit() else _num("0")
    ver, _, rel = v.partition("-")
    return epoch, ver, rel


def rpm_compare(a: str, b: str) -> int:
    ea, va, ra = _rpm_split(a)
    eb, vb, rb = _rpm_split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    c = rpmvercmp(va, vb)
    if c or not ra or not rb:
        return c
    return rpmvercmp(ra, rb)


# -- apk --------------------------------------------------------------------------------------

_APK_SUFFIX = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1, "cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5}
_APK_RX = re.compile(r"^(\d+(?:\.\d+)*)([a-z]?)((?:_[a-z]+\d*)*)(?:-r(\d+))?$")


def _apk_key(v: str) -> tuple | None:
    m = _APK_RX.match(v.strip())
    if not m:
        return None
    nums = [_num(x) for x in m.group(1).split(".")]
    letter = m.group(2)
    sufs = []
    for s in re.findall(r"_([a-z]+)(\d*)", m.group(3)):
        sufs.append((_APK_SUFFIX.get(s[0], 0), _num(s[1])))
    return nums, letter, sufs, _num(m.group(4) or "")


def apk_compare(a: str, b: str) -> int:
    ka, kb = _apk_key(a), _apk_key(b)
    if ka is None or kb is None:
        return generic_compare(a, b)
    na, nb = ka[0], kb[0]
    for x, y in zip(na, nb):
        if x != y:
            return -1 if x < y else 1
    if len(na) != len(nb):
        return -1 if len(na) < len(nb) else 1
    if ka[1] != kb[1]:
        return -1 if ka[1] < kb[1] else 1
    sa, sb = ka[2], kb[2]
    for x, y in zip(sa, sb):
        if x != y:
            return -1 if x < y else 1
    if len(sa) != len(sb):  # a missing suffix is a release: above _rc, below _p
        nxt = (sa[len(sb)] if len(sa) > len(sb) else sb[len(sa)])[0]
        longer_is_a = len(sa) > len(sb)
        return (1 if nxt > 0 else -1) * (1 if longer_is_a else -1)
    if ka[3] != kb[3]:
        return -1 if ka[3] < kb[3] else 1
    return 0


# -- generic / PyPI ---------------------------------------------------------------------------

def generic_compare(a: str, b: str) -> int:
    """Numeric runs numerically, letter runs lexically, a pre-release (``-rc1``) below the release."""
    def split(v: str) -> tuple[list, str]:
        v = v.strip().lstrip("vV")
        main, _, pre = v.partition("-")
        return re.findall(r"\d+|[A-Za-z]+", main), pre
    (ma, pa), (mb, pb) = split(a), split(b)
    for x, y in zip(ma, mb):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if _num(x) < _num(y) else 1
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        return -1 if x < y else 1
    if len(ma) != len(mb):
        return -1 if len(ma) < len(mb) else 1
    if pa == pb:
        return 0
    if not pa or not pb:
        return 1 if not pa else -1
    return generic_compare(pa.replace("-", "."), pb.replace("-", "."))


def pypi_compare(a: str, b: str) -> int:
    try:
        from packaging.version import Version
        try:
            va, vb = Version(a), Version(b)
            return (va > vb) - (va < vb)
        except ValueError:   # InvalidVersion, or a number too long for int()
            pass
    except ImportError:
        pass
    return generic_compare(a, b)


_COMPARE = {"deb": deb_compare, "rpm": rpm_compare, "apk": apk_compare, "pypi": pypi_compare}


def version_compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, equal to, or after ``b`` in ``ecosystem``."""
    return _COMPARE.get(purl_type(ecosystem), generic_compare)(a, b)


def same_version(ecosystem: str, a: str, b: str) -> bool:
    return version_compare(ecosystem, a, b) == 0


# -- OSV ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Match:
    """Why a component is affected: the advisory, the OSV ``affected`` entry and the range."""

    advisory_id: str
    aliases: tuple[str, ...]
    summary: str
    package: str
    ecosystem: str
    introduced: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    exact: bool = False  # matched the explicit ``versions`` list
    severity: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, (), "", False)} | {"exact": self.exact}


def _list(value: Any) -> list | tuple:
    """A record's array, or nothing when a hostile record has something else there."""
    return value if isinstance(value, (list, tuple)) else ()


def _name_matches(pkg: Mapping[str, Any], component: Any, ptype: str) -> bool:
    names = {pkg["name"]} if isinstance(pkg.get("name"), str) else set()
    if isinstance(pkg.get("purl"), str):
        try:
            p = PackageURL.from_string(pkg["purl"])
            names.add(p.name)
            ptype = p.type
        except ValueError:
            pass
    if ptype != component.type:
        return False
    if component.type == "pypi":
        norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()  # noqa: E731
        return norm(component.name) in {norm(n) for n in names}
    return component.name in names or (component.source is not None and component.source in names)


DISTRO_ECOSYSTEMS = {"debian", "ubuntu", "alpine", "wolfi", "chainguard", "rocky linux", "almalinux",
                     "red hat", "suse", "opensuse", "mageia", "photon os", "azure linux"}


def _same_distribution(ecosystem: str, component: Any) -> bool:
    """``Debian:12`` covers packages of Debian 12 only, ``Ubuntu`` none of Debian's: compared
    with the purl's namespace and ``distro`` qualifier when the component has them."""
    base, _, release = ecosystem.partition(":")
    if base.lower() not in DISTRO_ECOSYSTEMS:
        return True
    try:
        purl = PackageURL.from_string(component.purl)
    except (ValueError, TypeError):
        return True
    namespace = (purl.namespace or "").lower()
    if namespace and base.lower().split()[0] not in namespace and namespace not in base.lower():
        return False
    distro = str((purl.qualifiers or {}).get("distro") or "")
    release = release.split(":")[0].lower().removeprefix("v")
    if not release or not distro:
        return True
    have = distro.lower().rpartition("-")[2].removeprefix("v")
    return have == release or have.startswith(release + ".")


def _in_range(ecosystem: str, version: str, events: list[Mapping[str, Any]]) -> tuple[bool, dict[str, str]]:
    """OSV range evaluation: walk the events in version order."""
    def key_of(ev: Mapping[str, Any]) -> str:
        for k in ("introduced", "fixed", "last_affected", "limit"):
            if k in ev:
                return k
        return ""
    evs = [(key_of(e), str(e[key_of(e)])) for e in events if key_of(e)]
    cmp = lambda a, b: version_compare(ecosystem, a, b)  # noqa: E731
    affected, cur = False, {}
    limit_ok = True
    for kind, v in evs:
        if kind == "limit" and v != "*" and cmp(version, v) >= 0:
            limit_ok = False
    # introduced events open ranges; the nearest following fixed/last_affected closes them
    opens = sorted((v for k, v in evs if k == "introduced"), key=_cmp_key(cmp))
    closes = sorted(((k, v) for k, v in evs if k in ("fixed", "last_affected")), key=lambda kv: _cmp_key(cmp)(kv[1]))
    for intro in opens:
        if intro != "0" and cmp(version, intro) < 0:
            continue
        close = next(((k, v) for k, v in closes if intro == "0" or cmp(v, intro) >= 0), None)
        if close is None:
            affected, cur = True, {"introduced": intro}
        elif close[0] == "fixed" and cmp(version, close[1]) < 0:
            affected, cur = True, {"introduced": intro, "fixed": close[1]}
        elif close[0] == "last_affected" and cmp(version, close[1]) <= 0:
            affected, cur = True, {"introduced": intro, "last_affected": close[1]}
        if affected:
            break
    return affected and limit_ok, cur


def _cmp_key(cmp):
    import functools
    return functools.cmp_to_key(lambda a, b: -1 if a == "0" and b != "0" else 1 if b == "0" and a != "0" else cmp(a, b))


def match(osv: Mapping[str, Any], component: Component) -> Match | None:
    """The first ``affected`` entry of ``osv`` that covers ``component``, or None."""
    if not isinstance(osv, Mapping):
        return None
    for entry in _list(osv.get("affected")):
        if not isinstance(entry, Mapping):
            continue
        pkg = entry.get("package") or {}
        if not isinstance(pkg, Mapping):
            continue
        eco = str(pkg.get("ecosystem") or "")
        ptype = purl_type(eco) if eco else "generic"
        if not _name_matches(pkg, component, ptype) or not _same_distribution(eco, component):
            continue
        common = dict(advisory_id=str(osv.get("id", "")), aliases=tuple(str(a) for a in _list(osv.get("aliases"))),
                      summary=str(osv.get("summary") or ""), package=str(pkg.get("name") or pkg.get("purl")),
                      ecosystem=eco or component.type, severity=_severity(osv, entry))
        versions = [str(v) for v in _list(entry.get("versions"))]
        exact = any(same_version(component.type, component.version, v) for v in versions)
        for rng in _list(entry.get("ranges")):
            if not isinstance(rng, Mapping) or rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            ok, info = _in_range(component.type, component.version, [e for e in _list(rng.get("events"))
                                                                      if isinstance(e, Mapping)])
            if ok:
                return Match(**common, **info, exact=exact)  # type: ignore[arg-type]
        if exact:
            return Match(**common, exact=True)  # type: ignore[arg-type]
    return None


def affected(osv_record: Mapping[str, Any], component: Component) -> bool:
    """True when ``component`` (an ``inventory.Component``) is in the record's affected ranges."""
    return match(osv_record, component) is not None


def _severity(osv: Mapping[str, Any], entry: Mapping[str, Any]) -> str | None:
    for src in (entry.get("ecosystem_specific") or {}, entry.get("database_specific") or {},
                osv.get("database_specific") or {}):
        if isinstance(src, Mapping) and isinstance(src.get("severity"), str):
            word = src["severity"].strip().lower()
            return {"moderate": "medium", "important": "high", "negligible": "low", "unimportant": "low"}.get(word, word)
    for sev in _list(osv.get("severity")):
        if isinstance(sev, Mapping) and str(sev.get("type", "")).startswith("CVSS"):
            score = _cvss_base(str(sev.get("score", "")))
            if score is not None:
                return "critical" if score >= 9 else "high" if score >= 7 else "medium" if score >= 4 else "low"
    return None


def _cvss_base(vector: str) -> float | None:
    """CVSS v3 base score from a vector string (enough to rank)."""
    m = dict(p.split(":", 1) for p in vector.split("/")[1:] if ":" in p)
    try:
        av = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}[m["AV"]]
        ac = {"L": 0.77, "H": 0.44}[m["AC"]]
        ui = {"N": 0.85, "R": 0.62}[m["UI"]]
        scope = m["S"]
        pr = {"N": 0.85, "L": 0.62 if scope == "U" else 0.68, "H": 0.27 if scope == "U" else 0.5}[m["PR"]]
        c, i, a = ({"H": 0.56, "L": 0.22, "N": 0}[m[k]] for k in ("C", "I", "A"))
    except KeyError:
        return None
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    impact = 6.42 * iss if scope == "U" else 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    if impact <= 0:
        return 0.0
    expl = 8.22 * av * ac * pr * ui
    raw = min(impact + expl, 10) if scope == "U" else min(1.08 * (impact + expl), 10)
    import math
    return math.ceil(raw * 10 - 1e-9) / 10


def load(paths: Iterable[str | os.PathLike], errors: list[str] | None = None) -> list[dict[str, Any]]:
    """OSV records from files or directories (``*.json`` recursively; a file may hold a list)."""
    out: list[dict[str, Any]] = []
    errs = [] if errors is None else errors
    for base in paths:
        base = Path(base)
        files = sorted(base.rglob("*.json")) if base.is_dir() else [base]
        if not base.exists():
            errs.append(f"{base}: no such file or directory")
            continue
        for f in files:
            try:
                if f.stat().st_size > 64 << 20:
                    errs.append(f"{f}: larger than 64 MiB; skipped")
                    continue
                doc = json.loads(f.read_bytes())
            except (OSError, ValueError, RecursionError) as exc:   # RecursionError: nested too deeply
                errs.append(f"{f}: not an OSV JSON record ({exc})")
                continue
            for rec in doc if isinstance(doc, list) else [doc]:
                if isinstance(rec, dict) and rec.get("id") and isinstance(rec.get("affected"), list):
                    out.append(rec)
                else:
                    errs.append(f"{f}: not an OSV record (needs id and affected)")
    return out
