"""Options (``[plugins.elf]``), the shipped defaults, and the checks behind PC301-PC309."""

from __future__ import annotations

import fnmatch
import mmap
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from provcheck import Severity, UsageError

from . import graph as graphmod
from .rules import PC301, PC302, PC303, PC304, PC305, PC306, PC307, PC308, PC309

XZ_SIGNATURE = bytes.fromhex("f30f1efa554889f54c89ce5389fb81e7000000804883ec28488954241848894c2410")
XZ_BAD_VERSIONS = ("5.6.0", "5.6.1")
XZ_PACKAGES = ("liblzma5", "xz-utils", "xz-libs", "xz", "liblzma")

DEFAULT_FORBID = [{
    "name": "sshd-liblzma", "from": "**/sbin/sshd", "to": "liblzma.so.*", "kinds": ["needed", "dlopen"],
    "severity": "medium",
    "reason": "sshd reaches liblzma (the CVE-2024-3094 exposure); expected on Debian 12/Fedora via libsystemd",
}]

DEFAULT_DAEMONS = [
    "**/sbin/sshd", "**/bin/dropbear", "**/sbin/dropbear", "**/sbin/nginx", "**/sbin/apache2", "**/sbin/httpd",
    "**/sbin/named", "**/sbin/dnsmasq", "**/sbin/unbound", "**/sbin/vsftpd", "**/sbin/proftpd",
    "**/sbin/exim4", "**/lib/postfix/sbin/smtpd", "**/sbin/haproxy", "**/sbin/squid", "**/sbin/sendmail",
    "**/lib/systemd/systemd-resolved", "**/lib/systemd/systemd-networkd", "**/sbin/dhcpd", "**/sbin/ntpd",
    "**/sbin/chronyd", "**/sbin/xinetd", "**/sbin/inetd", "**/sbin/rpcbind", "**/sbin/smbd",
]
HARDENING = ("pie", "nx", "relro", "bind-now", "stack-protector", "fortify")
HARDENING_SEVERITY = {"pie": Severity.HIGH, "nx": Severity.HIGH, "relro": Severity.HIGH,
                      "bind-now": Severity.MEDIUM, "stack-protector": Severity.MEDIUM, "fortify": Severity.LOW}

DEFAULT_IFUNC_ALLOW = ["libc.so.6", "libm.so.6", "libmvec.so.1", "ld-linux*.so.*", "ld-musl-*.so.1",
                       "libc.musl-*.so.1"]

DEFAULT_SENSITIVE = {
    "RSA_public_decrypt": ["libcrypto.so.*"], "RSA_verify": ["libcrypto.so.*"],
    "RSA_private_decrypt": ["libcrypto.so.*"], "EVP_PKEY_verify": ["libcrypto.so.*"],
    "EVP_DigestVerify": ["libcrypto.so.*"], "EVP_DigestVerifyFinal": ["libcrypto.so.*"],
    "pam_authenticate": ["libpam.so.*"], "pam_acct_mgmt": ["libpam.so.*"],
    "crypt": ["libcrypt.so.*", "libc.so.*", "libc.musl-*.so.1", "ld-musl-*.so.1"],
    "crypt_r": ["libcrypt.so.*", "libc.so.*"],
    "getspnam": ["libc.so.*", "libc.musl-*.so.1", "ld-musl-*.so.1"],
    "la_version": [], "la_symbind64": [], "la_symbind32": [], "la_objopen": [],
}

WRITABLE_PREFIXES = ("tmp", "var/tmp", "dev/shm", "run/shm", "home", "root", "var/lib/docker/tmp")


@dataclass
class Policy:
    name: str
    src: str
    dst: str
    kinds: tuple[str, ...] = ("needed", "dlopen")
    severity: Severity = Severity.HIGH
    reason: str = ""


@dataclass
class Options:
    forbid: list[Policy] = field(default_factory=list)
    daemons: list[str] = field(default_factory=lambda: list(DEFAULT_DAEMONS))
    require: list[str] = field(default_factory=lambda: list(HARDENING))
    setuid: bool = True
    ifunc_allow: list[str] = field(default_factory=lambda: list(DEFAULT_IFUNC_ALLOW))
    sensitive: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_SENSITIVE.items()})
    cache: bool = True
    max_paths: int = 20
    signature_scan: str = "all"   # "all" ELF files, "lzma" (files named liblzma*), or "off"

    KNOWN = {"forbid", "default-policies", "daemons", "extra-daemons", "require-hardening", "setuid-hardening",
             "ifunc-allow", "extra-ifunc-allow", "sensitive-symbols", "cache", "max-paths",
             "signature-scan"}

    @classmethod
    def parse(cls, options: Mapping[str, Any], extra_policies: Iterable[Mapping[str, Any]] = ()) -> "Options":
        if "cache-dir" in options:
            raise UsageError("[plugins.elf] cache-dir: parse results now live in provcheck's one cache; "
                             "use --cache-dir (or cache-dir in [tool.provcheck]) instead")
        unknown = set(options) - cls.KNOWN
        if unknown:
            raise UsageError(f"[plugins.elf]: unknown option(s) {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(cls.KNOWN))})")
        o = cls()
        raw = list(DEFAULT_FORBID) if _bool(options.get("default-policies", True), "default-policies") else []
        raw += list(extra_policies)
        forbid = options.get("forbid", [])
        if isinstance(forbid, Mapping):
            forbid = [forbid]
        if not isinstance(forbid, list):
            raise UsageError("[plugins.elf] forbid must be a list of tables ([[plugins.elf.forbid]])")
        raw += forbid
        by_name: dict[str, Policy] = {}
        for i, p in enumerate(raw):
            if not isinstance(p, Mapping) or not p.get("from") or not p.get("to"):
                raise UsageError(f"[plugins.elf] forbid entry {p!r} needs 'from' and 'to'")
            kinds = tuple(p.get("kinds", ("needed", "dlopen")))
            if not set(kinds) <= {"needed", "dlopen"}:
                raise UsageError(f"[plugins.elf] forbid kinds must be 'needed'/'dlopen', not {list(kinds)}")
            try:
                sev = Severity.parse(p.get("severity", "high"))
            except ValueError as exc:
                raise UsageError(f"[plugins.elf] forbid {p.get('name', i)}: {exc}") from None
            name = str(p.get("name") or f"policy-{i}")
            by_name[name] = Policy(name, str(p["from"]), str(p["to"]), kinds, sev, str(p.get("reason", "")))
        o.forbid = list(by_name.values())
        o.daemons = _strlist(options.get("daemons", DEFAULT_DAEMONS), "daemons") + \
            _strlist(options.get("extra-daemons", []), "extra-daemons")
        o.require = _strlist(options.get("require-hardening", list(HARDENING)), "require-hardening")
        bad = set(o.require) - set(HARDENING)
        if bad:
            raise UsageError(f"[plugins.elf] require-hardening: unknown {sorted(bad)} (known: {list(HARDENING)})")
        o.setuid = _bool(options.get("setuid-hardening", True), "setuid-hardening")
        o.ifunc_allow = _strlist(options.get("ifunc-allow", DEFAULT_IFUNC_ALLOW), "ifunc-allow") + \
            _strlist(options.get("extra-ifunc-allow", []), "extra-ifunc-allow")
        sens = options.get("sensitive-symbols", {})
        if not isinstance(sens, Mapping):
            raise UsageError("[plugins.elf] sensitive-symbols must be a table: symbol = [owner SONAME globs]")
        for sym, owners in sens.items():
            o.sensitive[str(sym)] = _strlist(owners, f"sensitive-symbols.{sym}")
        o.cache = _bool(options.get("cache", True), "cache")
        try:
            o.max_paths = max(1, int(options.get("max-paths", 20)))
        except (TypeError, ValueError):
            raise UsageError("[plugins.elf] max-paths must be an integer") from None
        o.signature_scan = str(options.get("signature-scan", "all"))
        if o.signature_scan not in ("all", "lzma", "off"):
            raise UsageError("[plugins.elf] signature-scan must be 'all', 'lzma' or 'off'")
        return o


def _strlist(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"[plugins.elf] {what} must be a list of strings")
    return list(value)


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.lower() in ("true", "yes", "1")
    raise UsageError(f"[plugins.elf] {what} must be true or false")


def _names_match(obj: graphmod.Obj, globs: Iterable[str]) -> bool:
    names = obj.names
    return any(fnmatch.fnmatchcase(n, g) for g in globs for n in names)


def hop(g: graphmod.Graph, path: str) -> dict[str, Any]:
    """One hop of a chain as evidence: the file, its SONAME, layer, package and digest."""
    o = g.objects[path]
    return {"path": path, "soname": o.soname, "layer": o.node.layer, "package": o.package, "sha256": o.node.sha256}


# -- the checks ------------------------------------------------------------------------------

def check_forbidden(an: Any, opts: Options) -> Iterator:
    g, name = an.graph, an.artifact.name
    for pol in opts.forbid:
        sources = g.match(pol.src)
        targets = g.match(pol.dst)
        if not sources or not targets:
            continue
        for src in sources:
            paths, truncated = g.paths([src], targets, pol.kinds, limit=opts.max_paths)
            for p in paths:
                chain = [hop(g, src)] + [dict(hop(g, e.dst), needed=e.name, kind=e.kind, via=e.via,
                                                  found_as=e.found_as) for e in p]
                names = [posixpath.basename(src)] + [e.name for e in p]
                kinds = {e.kind for e in p}
                text = " -> ".join(names)
                yield PC301.finding(
                    location=g.objects[src].node.location(name), severity=pol.severity,
                    message=f"{src} reaches {p[-1].dst} through {text} (policy {pol.name}"
                            + (f": {pol.reason}" if pol.reason else "") + ")",
                    key=f"{pol.name}:{src}>" + ">".join(f"{e.kind}:{e.name}" for e in p),
                    related=tuple(g.objects[e.dst].node.location(name) for e in p),
                    evidence={"policy": pol.name, "from": pol.src, "to": pol.dst, "chain": chain,
                              "hops": len(p), "kinds": sorted(kinds), "reason": pol.reason,
                              "more_paths_omitted": truncated})


def check_xz(an: Any, opts: Options) -> Iterator:
    g, tree, name = an.graph, an.artifact.tree, an.artifact.name
    an.deep_many(g.objects)
    for path, obj in sorted(g.objects.items()):
        lzma = any("lzma" in n for n in obj.names)
        if opts.signature_scan == "all" or (opts.signature_scan == "lzma" and lzma):
            d = an.deep(path)
            off = d.get("xz_signature") if d else _find(tree, obj.node, XZ_SIGNATURE, an.errors)
            if off is not None:
                yield PC302.finding(location=obj.node.location(name), key="xz-signature",
                                    message=f"{path} contains the xz backdoor byte signature at offset {off}",
                                    evidence={"offset": off, "signature": XZ_SIGNATURE.hex(),
                                              "package": obj.package, "soname": obj.soname})
        if lzma:
            indicators = []
            for n in sorted(obj.names):
                for v in XZ_BAD_VERSIONS:
                    if re.fullmatch(rf"liblzma\.so\.{re.escape(v)}", n):
                        indicators.append(f"file name {n}")
            for v in XZ_BAD_VERSIONS:
                off = _find_cached(an, obj.node, re.compile(rb"(?<![0-9A-Za-z.])" + re.escape(v.encode()) + rb"\0"))
                if off is not None:
                    indicators.append(f"version string {v!r} at offset {off}")
            if indicators:
                yield PC303.finding(location=obj.node.location(name), key="xz-version",
                                    message=f"{path} is liblzma {', '.join(indicators)} (CVE-2024-3094)",
                                    evidence={"indicators": indicators, "package": obj.package})
    # files a later image layer deleted or replaced still ship in the image's layers
    for node in sorted(tree.hidden, key=lambda n: n.path):
        if not node.is_file or not (node.name.startswith("liblzma") or opts.signature_scan == "all"):
            continue
        if opts.signature_scan == "off":
            break
        try:
            if tree.read(node, 4) != b"\x7fELF":
                continue
        except OSError as exc:
            an.errors.append((node.path, f"hidden file (layer {node.layer}) not scanned for the xz backdoor: "
                                         f"cannot read it: {exc}"))
            continue
        off = _find_cached(an, node, XZ_SIGNATURE)
        if off is not None:
            yield PC302.finding(location=node.location(name), key=f"xz-signature:hidden:{node.layer}",
                                message=f"{node.path} (in layer {node.layer}, hidden by {node.hidden_by}) contains "
                                        f"the xz backdoor byte signature at offset {off}",
                                evidence={"offset": off, "signature": XZ_SIGNATURE.hex(), "hidden_by": node.hidden_by})
    for pkg in XZ_PACKAGES:
        ver = an.packages.versions.get(pkg)
        if ver and re.match(r"^(\d+:)?5\.6\.[01]([^0-9]|$)", ver) and "+really" not in ver:  # 5.6.1+really5.4.5: fixed
            db = an.packages.where.get(pkg, "")
            yield PC303.finding(location=an.artifact.location(db), key=f"package:{pkg}",
                                message=f"package {pkg} {ver} is installed (xz-utils 5.6.0/5.6.1, CVE-2024-3094)",
                                evidence={"package": pkg, "version": ver, "database": db})


def _find_cached(an: Any, node: Any, needle: "bytes | re.Pattern") -> int | None:
    """``_find`` through the parse cache (by content digest and needle): a warm run does not read
    the file again. A file that could not be read is not remembered."""
    from .analysis import MISSING
    cache = an.cache
    label = (needle if isinstance(needle, bytes) else needle.pattern).hex()
    if cache is not None:
        got = cache.found(node, label)
        if got is not MISSING:
            return got
    errors = len(an.errors)
    off = _find(an.artifact.tree, node, needle, an.errors)
    if cache is not None and len(an.errors) == errors:
        cache.put_found(node, label, off)
    return off


def _find(tree: Any, node: Any, needle: "bytes | re.Pattern", errors: list[tuple[str, str]]) -> int | None:
    """Offset of ``needle`` (bytes or a compiled bytes regex) in the file, or None; a file
    that cannot be read is an entry of ``errors`` (it was not searched)."""
    if node.size < 64:
        return None
    try:
        with tree.open(node) as f:
            try:
                fd = f.fileno()
            except (OSError, ValueError):  # a small blob kept in memory by the store
                return _search(f.read(), needle)
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as m:
                return _search(m, needle)
    except (OSError, ValueError) as exc:
        errors.append((node.path, f"not searched for the xz backdoor: cannot read it: {exc}"))
        return None


def _search(buf: Any, needle: "bytes | re.Pattern") -> int | None:
    if isinstance(needle, bytes):
        i = buf.find(needle)
        return None if i < 0 else i
    hit = needle.search(buf)
    return None if hit is None else hit.start()


LIBC_SONAMES = re.compile(r"libc\.so\.\d+|libc\.musl-.*\.so\.1|ld-musl-.*\.so\.1|libc\.so")


def has_libc(g: graphmod.Graph, obj: graphmod.Obj) -> bool:
    """Whether the tree holds a C library for ``obj``'s class and machine: without one it
    is a package or a partial tree, where missing dependencies are expected."""
    key = (obj.info["class"], obj.info["machine"])
    cache = g.__dict__.setdefault("_libc", {})
    if key not in cache:
        cache[key] = any(LIBC_SONAMES.fullmatch(o.soname or "") and (o.info["class"], o.info["machine"]) == key
                         for o in g.objects.values())
    return cache[key]


def check_unresolved(an: Any, opts: Options) -> Iterator:
    g, name = an.graph, an.artifact.name
    for e in g.unresolved():
        obj = g.objects[e.src]
        if not has_libc(g, obj):
            continue  # a package or partial tree: its dependencies live elsewhere
        yield PC304.finding(
            location=obj.node.location(name), key=f"{e.kind}:{e.name}",
            message=f"{e.src} needs {e.name} ({e.kind}), which the loader would not find in this tree",
            evidence={"needed": e.name, "kind": e.kind, "searched": list(e.searched[:40]),
                      "searched_total": len(e.searched), "class": obj.info["class"],
                      "machine": obj.info["machine_name"], "package": obj.package})


def _hardening_targets(an: Any, opts: Options) -> Iterator[tuple[str, str]]:
    g = an.graph
    rx = [graphmod._glob_rx(d) for d in opts.daemons]
    for path, obj in sorted(g.objects.items()):
        if obj.info["type"] not in ("EXEC", "DYN") or (obj.info["type"] == "DYN" and not obj.info.get("interp")):
            continue
        why = None
        if any(r.match(p) for r in rx for p in (path, *obj.aliases)):
            why = "network daemon"
        elif opts.setuid and obj.node.mode & 0o6000:
            why = "setuid" if obj.node.mode & 0o4000 else "setgid"
        if why:
            yield path, why


def hardening(an: Any, path: str) -> dict[str, Any]:
    info = an.graph.objects[path].info
    d = an.deep(path) or {}
    imports = {s.split("@", 1)[0] for s in d.get("imports", ())}
    dynamic = info.get("dynamic") and bool(d)
    out = {"pie": info["pie"], "nx": info["nx"] is True, "relro": info["relro"],
           "bind-now": info["relro"] and info["bind_now"]}
    out["stack-protector"] = ("__stack_chk_fail" in imports or "__stack_chk_guard" in imports) if dynamic else None
    out["fortify"] = any(s.startswith("__") and s.endswith("_chk") and s != "__stack_chk_fail"
                         for s in imports) if dynamic else None
    return out


def check_hardening(an: Any, opts: Options) -> Iterator:
    g, name = an.graph, an.artifact.name
    targets = list(_hardening_targets(an, opts))
    an.deep_many(p for p, _ in targets)
    for path, why in targets:
        props = hardening(an, path)
        missing = [k for k in opts.require if props.get(k) is False]
        if not missing:
            continue
        sev = max(HARDENING_SEVERITY[k] for k in missing)
        obj = g.objects[path]
        yield PC305.finding(location=obj.node.location(name), key=path, severity=sev,
                            message=f"{why} {path} lacks {', '.join(missing)}",
                            evidence={"role": why, "missing": missing, "properties": props,
                                      "mode": f"{obj.node.mode & 0o7777:04o}", "package": obj.package})


def check_rpath(an: Any, opts: Options) -> Iterator:
    g, tree, name = an.graph, an.artifact.tree, an.artifact.name
    for path, obj in sorted(g.objects.items()):
        for tag in ("rpath", "runpath"):
            value = obj.info.get(tag)
            if not value:
                continue
            for entry in value.split(":"):
                problem, sev_rule, expanded = _rpath_problem(tree, obj, path, entry)
                if problem is None:
                    continue
                rule = PC306 if sev_rule == "unsafe" else PC307
                yield rule.finding(location=obj.node.location(name), key=f"{tag}:{entry}",
                                   message=f"{path}: {tag.upper()} entry {entry!r} {problem}",
                                   evidence={"tag": tag.upper(), "value": value, "entry": entry,
                                             "expanded": expanded, "package": obj.package,
                                             "setuid": bool(obj.node.mode & 0o6000)})


def _rpath_problem(tree: Any, obj: graphmod.Obj, path: str, entry: str) -> tuple[str | None, str, str | None]:
    if entry == "":
        return "is empty, so the loader searches the working directory", "unsafe", None
    if not entry.startswith(("/", "$ORIGIN", "${ORIGIN}", "$LIB", "${LIB}", "$PLATFORM", "${PLATFORM}")):
        return "is relative, so it is searched relative to the working directory", "unsafe", None
    loader = graphmod.Loader.__new__(graphmod.Loader)
    loader.tree, loader._real = tree, {}
    exp = loader.expand(entry, posixpath.dirname(path), obj.info["class"], obj.info["machine_name"])
    if exp is None:
        return "cannot be expanded to a directory", "unsafe", None
    top = exp.split("/")
    if any(exp == p or exp.startswith(p + "/") for p in WRITABLE_PREFIXES):
        return f"points into a world-writable or user-controlled place (/{exp})", "unsafe", exp
    # a directory of the tree on the way that others may write (without the sticky bit)
    cur = ""
    for part in top:
        cur = f"{cur}/{part}" if cur else part
        node = tree.resolve(cur)
        if node is None:
            break
        if node.type == "dir" and node.mode & 0o002 and not node.mode & 0o1000:
            return f"points into world-writable directory /{node.path}", "unsafe", exp
    node = tree.resolve(exp)
    if node is None or node.type != "dir":
        return f"names /{exp}, which does not exist in this tree", "missing", exp
    return None, "", exp


def check_ifunc(an: Any, opts: Options) -> Iterator:
    g, name = an.graph, an.artifact.name
    paths = sorted(g.objects)
    an.deep_many(paths)
    for path in paths:
        obj = g.objects[path]
        if _names_match(obj, opts.ifunc_allow):
            continue
        d = an.deep(path)
        if not d or not (d.get("ifunc") or d.get("irelative")):
            continue
        yield PC308.finding(location=obj.node.location(name), key="ifunc",
                            message=f"{path} has GNU IFUNC resolvers ({len(d['ifunc'])} exported IFUNC symbols, "
                                    f"{d['irelative']} IRELATIVE relocations) and is not in ifunc-allow",
                            evidence={"ifunc_symbols": sorted(d["ifunc"])[:50], "irelative": d["irelative"],
                                      "soname": obj.soname, "package": obj.package})


def check_interposition(an: Any, opts: Options) -> Iterator:
    g, tree, name = an.graph, an.artifact.tree, an.artifact.name
    sensitive = opts.sensitive
    # exports named like a sensitive symbol (with or without a version), found by one C-level scan per object
    named = re.compile("(?:" + "|".join(map(re.escape, sensitive)) + r")(?:@|\Z)").match if sensitive else None
    for path in sorted(g.objects):
        obj = g.objects[path]
        d = an.deep(path)
        if not d or named is None:
            continue
        for sym in filter(named, d.get("exports", ())):
            base, _, ver = sym.partition("@")
            owners = sensitive.get(base)
            if owners is None or _names_match(obj, owners):
                continue
            yield PC309.finding(location=obj.node.location(name), key=f"export:{base}",
                                message=f"{path} defines {sym}, a security-sensitive symbol owned by "
                                        f"{', '.join(owners) if owners else 'no library (rtld audit interface)'}",
                                evidence={"symbol": base, "version": ver or None, "owners": owners,
                                          "soname": obj.soname, "package": obj.package})
    for path in sorted(g.objects):
        obj = g.objects[path]
        for kind, lib in obj.info.get("audit") or ():
            yield PC309.finding(location=obj.node.location(name), key=f"{kind}:{lib}",
                                message=f"{path} names {lib} as its rtld audit library (DT_{kind.upper()}): "
                                        f"it sees and can redirect every symbol binding",
                                evidence={"tag": f"DT_{kind.upper()}", "library": lib, "package": obj.package})
    node = tree.resolve("etc/ld.so.preload")
    if node is not None and node.is_file and node.size:
        entries = [w for w in re.split(r"[\s:]+", tree.read(node, 1 << 16).decode("utf-8", "replace")) if w]
        if entries:
            resolved = {e: tree.realpath(e) for e in entries}
            yield PC309.finding(location=node.location(name), key="ld.so.preload",
                                message=f"etc/ld.so.preload preloads {', '.join(entries)} into every process",
                                evidence={"entries": entries, "resolved": resolved})


ALL_CHECKS = (check_forbidden, check_xz, check_unresolved, check_hardening, check_rpath, check_ifunc,
              check_interposition)
