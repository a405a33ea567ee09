"""Regeneration inside the comparison: run it, give every generated file its reproduction
verdict, raise PC110 on the lines no input produced, and count the verified bytes.

The comparison (compare.py) calls :meth:`Reproduction.start` before it walks the files
(the generators run in a sandbox on another thread meanwhile) and
:meth:`Reproduction.apply` once every file has its verdict.
"""

from __future__ import annotations

import concurrent.futures
import posixpath
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provcheck import Location, Severity

from . import bootstrap, docgen, history, parsers, tagrepo, translations
from . import regenerate as rg
from .m4db import M4Verdict, db_name, is_aux
from .rules import PC110

if TYPE_CHECKING:
    from .compare import Comparer

GENERATED_VERDICTS = ("generated", "regenerated", "generated-mismatch", "generated-unverified")


def mode_of(options: dict[str, Any]) -> str:
    mode = str(options.get("regenerate") or "auto").lower()
    if mode not in rg.MODES:
        from provcheck import UsageError
        raise UsageError(f"release.regenerate: {mode!r} is not one of {', '.join(rg.MODES)}")
    return mode


class Reproduction:
    def __init__(self, comparer: "Comparer"):
        self.c = comparer
        self.mode = mode_of(comparer.options)
        self.future: concurrent.futures.Future | None = None
        self.result: rg.Regeneration | None = None

    # -- running ------------------------------------------------------------------------------
    def start(self) -> None:
        c = self.c
        if self.mode == "never" or c.source.kind == "archive":  # a known-good copy of the release: no tag to build from
            return
        if rg.configure_ac(c.rfiles) is None and rg.configure_ac(c.sfiles) is None:
            return
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="provcheck-reproduce")
        self.future = pool.submit(self._run)
        pool.shutdown(wait=False)

    def _run(self) -> rg.Regeneration | None:
        """The regeneration, or the remembered result of the same release, tag, knowledge and options."""
        import time
        started = time.monotonic()
        c = self.c
        opts = c.options
        known = rg.known_differences(c.k.systems.values())
        cache = rg.Cache(opts.get("_cache"))
        key = self._result_key(known)
        hit = cache.get(key, "results")
        if hit is not None:
            try:
                result = rg.Regeneration.from_dict(hit)
                result.cached, result.seconds = True, time.monotonic() - started
                return result
            except (KeyError, TypeError, ValueError):
                pass  # an old or damaged entry: regenerate
        result = self._regenerate(known)
        if result is not None and result.status == "done" and not any(s.get("killed") for s in result.steps):
            cache.put(key, result.to_json(), {}, "results")
        return result

    def _result_key(self, known: list[rg.KnownDifference]) -> str:
        """Everything the result depends on, known without reading a file: the release's and the
        tag's file hashes (the engine's sha256, or the git blob id of files only in the tag), the
        m4 database, the knowledge, the options and the chain version."""
        import hashlib
        import os
        from .m4db import DB_PATH
        c = self.c
        unread = c.source.metadata.get("unread_blobs") or {}
        h = hashlib.sha256(f"provcheck-regenerate-result/{rg.code_digest()}\0".encode())
        for side, files in (("r", c.rfiles), ("s", c.sfiles)):
            for path in sorted(files):
                node = files[path]
                h.update(f"{side}\0{path}\0{node.sha256 or unread.get(node.path, '')}\0{node.type}\0"
                         .encode("utf-8", "surrogateescape"))
        # the m4 database, and the system's packages (its toolchain is one of the flavours)
        from .vendored import HISTORY_DIR  # the published-history sets decide which inputs are published too
        for path in (Path(str(c.options.get("m4-database") or DB_PATH)), Path("/var/lib/dpkg/status"),
                     *sorted(HISTORY_DIR.glob("*.zip"))):
            try:
                st = os.stat(path)
                h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
            except OSError:
                pass
        h.update(rg._known_digest(known).encode())   # (docgen's code is in rg.code_digest: every module)
        h.update(str(c.source.metadata.get("commit") or "").encode())
        h.update(repr([(g.system, g.paths) for g in c.k.generated]).encode())
        h.update(repr(sorted((k, str(v)) for k, v in c.options.items() if k.startswith("regenerate"))).encode())
        return h.hexdigest()

    def _regenerate(self, known: list[rg.KnownDifference]) -> rg.Regeneration | None:
        c = self.c
        trees = rg.Trees(release={p: self._reader_r(p) for p, n in c.rfiles.items() if n.is_file},
                         source=self._source_readers(), recognised=self._recognised, db=c.db, closest=self._closest,
                         commit=str(c.source.metadata.get("commit") or ""),
                         git=tagrepo.git_dir(c.source.metadata.get("repository")))
        opts = c.options
        work = opts.get("_work_dir")
        toolchains = opts.get("_toolchains")
        options = rg.Options(mode=self.mode, work_dir=Path(work) if work else None,
                             cache=rg.Cache(opts.get("_cache")),
                             toolchain_cache=Path(toolchains) if toolchains else None,
                             limits=_limits(opts),
                             download=str(opts.get("regenerate-download", "true")).lower() not in ("0", "false", "no"),
                             other_versions=str(opts.get("regenerate-other-versions", "true")).lower()
                             not in ("0", "false", "no"))
        result = rg.regenerate(trees, options, known)
        if result is not None:
            self._documentation(result, trees, options, known)
        return result

    def _documentation(self, result: rg.Regeneration, trees: rg.Trees, options: rg.Options,
                       known: list[rg.KnownDifference]) -> None:
        """Docs the tag's own rules generate (docgen.py): their verdicts join the regeneration's."""
        tag = {p: d for p, read in trees.source.items() if (d := read()) is not None}
        c = self.c  # the tag's own files the comparison did not read (scripts, headers only in git) too
        unread = c.source.metadata.get("unread_blobs") or {}
        missing = {p: unread[n.path] for p, n in c.sfiles.items() if p not in tag and n.path in unread}
        if missing:
            tag.update(_git_blobs(c.source.metadata.get("repository"), missing))
        conf = trees.release["configure"]() if "configure" in trees.release else b""
        m = re.search(rb"^PACKAGE_VERSION='([^'\n]*)'", conf, re.M)
        repo = c.source.metadata.get("repository")
        # release scripts' git log pipelines, then the bootstrap script: what each writes, matched by content
        # (first: what they reproduce, po/POTFILES.in say, is a trusted input of the rule jobs)
        left = {p: n.size or 0 for p, n in c.rfiles.items() if n.is_file and p not in result.files}
        scripted, script_steps = history.run_scripts(history.script_jobs(tag) + bootstrap.jobs(tag), tag,
                                                     trees.release, left, repo, trees.commit, options.work_dir,
                                                     options.limits)
        result.files.update(scripted)
        jobs = (docgen.plan(tag, trees.release, m.group(1).decode("latin-1") if m else "")
                + translations.jobs(tag, trees.release) + parsers.jobs(tag, trees.release))
        docs = docgen.run(jobs, tag, trees.release, known, repo=repo, commit=trees.commit, work_dir=options.work_dir,
                          limits=options.limits, skip={p for p, fr in result.files.items() if fr.reason != rg.NOT_WRITTEN},
                          reproduced={p for p, fr in result.files.items() if fr.status == rg.REPRODUCED} |
                          {i.path for i in result.inputs if i.origin == "published"} |
                          {v.path for v in c.cmp.verdicts if (self._copied(v) or {}).get("status") == rg.REPRODUCED},
                          stand_ins={i.path for i in result.inputs if i.origin == "stand-in"},
                          make_seconds=_make_seconds(c.options), builds=_builds(options))
        result.files.update(docs.files)
        found = history.candidates(trees.release, tag, set(result.files), head=lambda p: c.read_r(p, 256))
        logs, log_steps = history.reproduce(found, repo, trees.commit, options.work_dir, options.limits)
        result.files.update(logs)
        # what the jobs reproduced from the tag (scripts, rules, update-po) verifies the outputs made from it
        bootstrap.upgrade(result.files, {**docs.files, **logs, **scripted})
        result.steps += [{"step": f"docs: {s['step']}", "argv": [], "returncode": s.get("returncode"),
                          "killed": s.get("killed"), "seconds": s.get("seconds", 0.0),
                          "stderr": s.get("stderr") or s.get("skipped", "")}
                         for s in script_steps + docs.steps + log_steps]

    def _reader_r(self, path: str):
        return lambda: self.c.read_r(path, None)

    def _source_readers(self) -> dict[str, Any]:
        c = self.c
        unread = c.source.metadata.get("unread_blobs") or {}
        out: dict[str, Any] = {}
        wanted: dict[str, str] = {}
        for path, node in c.sfiles.items():
            if node.path in unread:
                if re.search(r"(?:\.m4|\.am|\.ac|\.in|\.mk|\.po)$", path):
                    wanted[path] = unread[node.path]
                continue
            if node.is_file:
                out[path] = (lambda p=path: c.read_s(p, None))
        if wanted:  # files only in the tag that a generator may read: from git, once
            blobs = _git_blobs(c.source.metadata.get("repository"), wanted)
            for path, data in blobs.items():
                out[path] = (lambda d=data: d)
        return out

    def _recognised(self, path: str) -> bool:
        """Named like a file some build system adds (it only ever enters as an empty stand-in)."""
        return bool(self.c.k.candidates(path))

    def _closest(self, name: str, data: bytes) -> tuple[str | None, str | None]:
        db = self.c.db
        mv = db.judge(name, data)
        if mv.status == "unknown":
            return None, None
        mv = self.c.closest(M4Verdict(mv.status, mv.name, mv.serial, mv.origin, mv.max_serial, mv.closest_sha256),
                            data)
        if not mv.closest_sha256:
            return None, None
        return db.content(mv.closest_sha256), mv.origin

    # -- applying -------------------------------------------------------------------------------
    def apply(self) -> None:
        c = self.c
        if self.future is not None:
            try:
                self.result = self.future.result()
            except Exception as exc:  # a bug or an unexpected tool failure: a reason, never silence
                self.result = rg.Regeneration(self.mode, status="failed", reason=f"regeneration failed: {exc!r}")
        r = self.result
        by_path = {v.path: v for v in c.cmp.verdicts}
        not_reproducible: list[dict[str, Any]] = []
        if r is not None:
            for path, fr in r.files.items():
                v = by_path.get(path)
                if v is None:
                    continue
                v.reproduction = fr.to_dict()
                if fr.status == rg.DIFFERS or (fr.status == rg.UNVERIFIED and fr.risk):
                    self._differs(fr, v)
                elif fr.status == rg.NOT_REPRODUCIBLE:
                    not_reproducible.append({"path": path, "reason": fr.reason})
                elif fr.status == rg.REPRODUCED and v.verdict == "unexplained" and fr.toolchain:
                    self._explained(v, fr)
        for v in c.cmp.verdicts:  # copied files (m4, build-aux): the published copy is their reproduction
            if v.reproduction is None:
                v.reproduction = self._copied(v)
        c.cmp.regeneration = self.summary(r)
        if r is not None and (not_reproducible or r.status in ("unavailable", "failed")):
            killed = [s for s in r.steps if s.get("killed")]
            sev = Severity.MEDIUM if killed else Severity.INFO
            msg = (f"{len(not_reproducible)} generated files could not be reproduced: {r.reason or not_reproducible[0]['reason']}"
                   if not_reproducible else f"regeneration {r.status}: {r.reason}")
            if killed:
                msg = f"a generator was stopped by the sandbox ({killed[0]['step']}: {killed[0]['killed']}); " + msg
            c.cmp.findings.append(PC110.finding(
                location=Location(artifact=c.release.name), key="not-reproducible", severity=sev, message=msg[:400],
                evidence={"files": not_reproducible[:200], "status": r.status, "reason": r.reason,
                          "steps": r.steps, "toolchains": r.toolchains}))

    def _explained(self, v: Any, fr: rg.FileResult) -> None:
        """A release-only file no knowledge explained, reproduced byte for byte from trusted inputs
        (the Makefiles libarchive's doc/update.sh writes; libnl3's autoheader template
        ``lib/defs.h.in``): generated, its PC101 withdrawn."""
        c = self.c
        c.cmp.findings[:] = [f for f in c.cmp.findings if not (f.rule_id == "PC101" and f.key == v.path)]
        v.verdict, v.how, v.rule, v.severity = "generated", f"reproduced by {fr.toolchain}", None, None
        v.system = "docs" if docgen.is_doc(v.path) or v.path.endswith("/Makefile") else "autotools"

    def _differs(self, fr: rg.FileResult, v: Any) -> None:
        c, r = self.c, self.result
        assert r is not None
        bad = fr.unexplained() if fr.status == rg.DIFFERS else fr.hunks
        flat = [(n, t) for h in bad for n, t in h.added]   # the order the risk analysis numbered its lines in
        risks = [{**x, "added_index": x["line"], "line": flat[x["line"] - 1][0]} if 0 < x.get("line", 0) <= len(flat)
                 else x for x in fr.risk]
        risky_lines = {x["line"] for x in risks}
        bad = sorted(bad, key=lambda h: not any(n in risky_lines for n, _ in h.added))  # risky hunks first
        added = sorted(flat, key=lambda a: a[0] not in risky_lines)                  # and risky lines
        removed = sum(len(h.removed) for h in bad)
        lines = (min(h.release_lines[0] for h in bad), max(h.release_lines[1] for h in bad))
        diff = "\n".join(h.text for h in bad[:rg.HUNKS_SHOWN])
        first = next((a for a in added if a[1].strip()), added[0] if added else None)
        what = (f"{len(added)} lines no input produced" + (f" and {removed} generated lines missing" if removed else "")
                if added else f"{removed} generated lines missing")
        if fr.status == rg.UNVERIFIED:  # reproduced only with unverified inputs, and what they add is risky
            what = (f"{len(added)} lines only unverified inputs ({', '.join(fr.unverified_inputs[:4])}) produce; "
                    "with their nearest published copies they are not there")
        sev = Severity.CRITICAL if fr.risk else Severity.HIGH
        if fr.path.endswith(CATALOGS):  # what the program prints: a changed format directive is its code
            sev = Severity.CRITICAL if fr.risk or _format_changed(added) else Severity.HIGH
        elif docgen.is_prose(fr.path, c.read_r(fr.path, 64)):  # read, never run by the build: risky lines are high
            sev = Severity.HIGH if fr.risk else Severity.MEDIUM
        ev = {"diff": diff[:12000], "hunks": [h.to_dict() for h in bad[:rg.HUNKS_SHOWN]],
              "unexplained_hunks": len(bad), "explained_hunks": [h.to_dict() for h in fr.hunks if h.kind != "unexplained"][:8],
              "added_lines": [[n, t[:300]] for n, t in added[:50]], "toolchain": fr.toolchain,
              "inputs": r.to_dict()["inputs"], "substituted": [i.path for i in r.inputs if i.origin == "substituted"],
              "unverified_inputs": fr.unverified_inputs}
        if fr.risk:
            ev["added_risk"] = risks
        c.add(PC110.finding(
            location=c.loc(fr.path, lines=lines), key=fr.path, severity=sev, evidence=ev,
            message=f"{fr.path} differs from its regeneration ({fr.toolchain}): {what}"
                    + (f" (line {first[0]}: {first[1].strip()[:100]})" if first else "")
                    + (f"; risky: {', '.join(sorted({h['indicator'] for h in fr.risk}))}" if fr.risk else "")), v)

    def _copied(self, v: Any) -> dict[str, Any] | None:
        name = posixpath.basename(v.path)
        if v.verdict not in GENERATED_VERDICTS:
            return None
        m4, aux = v.system == "m4" or name.endswith(".m4"), is_aux(name)
        if not (m4 or aux or is_aux(db_name(v.path))):
            return None
        if "every difference is a known flavour" in v.how:  # a published copy with published patches (flavours.py)
            return {"status": rg.REPRODUCED, "reason": v.how.split(": every difference is ", 1)[1]}
        if v.verdict == "generated-mismatch":
            return {"status": rg.DIFFERS, "reason": "differs from the published copy of its name and version"}
        if v.verdict == "generated-unverified" or "not in the database" in v.how:
            return {"status": rg.NOT_REPRODUCIBLE, "unobtainable": True, "reason": "no published copy of this version" + (
                f" ({v.how.rsplit('; ', 1)[-1]}: no gettext release in autopoint's archive has this copy)"
                if db_name(v.path).startswith("po/") else "")}
        if "database:" in v.how:
            return {"status": rg.REPRODUCED, "reason": v.how.split("database:", 1)[1].strip()}
        return None

    def summary(self, r: rg.Regeneration | None) -> dict[str, Any]:
        c = self.c
        counts = {rg.REPRODUCED: 0, rg.DIFFERS: 0, rg.UNVERIFIED: 0, rg.NOT_REPRODUCIBLE: 0}
        generated = verified = scope = unobtainable = 0
        for v in c.cmp.verdicts:
            node = c.rfiles.get(v.path)
            if node is None or (v.verdict not in GENERATED_VERDICTS and v.reproduction is None):
                continue
            size = node.size or 0
            generated += size
            if v.reproduction is not None:
                scope += size
                counts[v.reproduction["status"]] += 1
                unobtainable += size if v.reproduction.get("unobtainable") else 0
                if v.reproduction["status"] == rg.REPRODUCED:
                    verified += size
                elif v.reproduction["status"] == rg.UNVERIFIED:  # what the trusted alternatives also produce
                    verified += max(0, size - int(v.reproduction.get("unverified_bytes", size)))
        out: dict[str, Any] = r.to_dict() if r is not None else {
            "mode": self.mode, "status": "skipped",
            "reason": "--regenerate never" if self.mode == "never" else
                      "compared with another copy of the release" if c.source.kind == "archive" else
                      "no configure.ac: nothing to regenerate"}
        out.update({"counts": counts, "generated_bytes": generated, "verified_bytes": verified,
                    "verified_fraction": round(verified / generated, 4) if generated else None,
                    "regenerable_bytes": scope,
                    "regenerable_verified_fraction": round(verified / scope, 4) if scope else None,
                    # the target's denominator: generated bytes whose generator, of the version they name, can be had
                    "obtainable_bytes": generated - unobtainable,
                    "obtainable_verified_fraction": round(verified / (generated - unobtainable), 4)
                    if generated > unobtainable else None})
        return out


def _builds(options: rg.Options) -> docgen.Builds:
    """Other published builds of a generator a job ran (docgen.OTHER_BUILDS): those of ``version``,
    else one of each other version of its series (``3.7.5`` for ``3.7.6``) the Debian archive
    serves; never the system's (already run)."""
    from . import toolchain
    from .acversions import published_versions

    def of(chain: Any) -> docgen.Build:
        binds, env = toolchain.combine([chain])
        return docgen.Build(f"{chain.tool} {chain.version} ({chain.flavour})", chain.version, binds, env)

    def builds(tool: str, version: str) -> list[docgen.Build]:
        def flavours(v: str) -> list[Any]:
            try:
                return [t for t in toolchain.flavours(tool, v, cache_dir=options.toolchain_cache,
                                                      download=options.download) if t.flavour != "system"]
            except Exception:  # none of that version, or a download or unpack failure: not compared
                return []
        exact = flavours(version)
        if exact:
            return [of(t) for t in exact]
        series = version.rsplit(".", 1)[0] + "."
        near = [v for v in published_versions(options.toolchain_cache, options.download, tool)
                if v.startswith(series) and v != version]
        return [of(found[0]) for v in near if (found := flavours(v))]
    return builds


CATALOGS = (".po", ".gmo", ".mo")
# a printf directive (gettext's c-format): what ``msgfmt --check-format`` compares between msgid and msgstr
_PRINTF = re.compile(r"%(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGaAcspn]")


def _format_changed(added: list[tuple[int, str]]) -> bool:
    """Whether an added catalog line (a rendered ``.gmo`` pair, ``msgid ... msgstr ...``) gives a
    message other printf directives than its ``msgid`` has (``%s`` become ``%n``): a
    translation that makes the program's formatting call read or write other arguments."""
    for _, line in added:
        msgid, sep, msgstr = line.partition(" msgstr ")
        if sep and sorted(m.lstrip("%0123456789$") for m in _PRINTF.findall(msgid)) != \
                sorted(m.lstrip("%0123456789$") for m in _PRINTF.findall(msgstr)):
            return True
    return False


def _make_seconds(opts: dict[str, Any]) -> float | None:
    """``release.regenerate-make-seconds``: the make jobs' wall-clock budget (default 300; 0: none)."""
    from provcheck import UsageError
    try:
        seconds = float(opts.get("regenerate-make-seconds", 300))
    except (TypeError, ValueError):
        raise UsageError("release.regenerate-make-seconds must be a number") from None
    return seconds or None


def _limits(opts: dict[str, Any]) -> Any:
    """``release.regenerate-timeout`` (seconds per generator run) and ``regenerate-memory`` (MiB)."""
    if not (opts.get("regenerate-timeout") or opts.get("regenerate-memory")):
        return None
    from provcheck import UsageError, sandbox
    try:
        seconds = float(opts.get("regenerate-timeout") or 300)
        memory = int(opts.get("regenerate-memory") or 2048) << 20
    except (TypeError, ValueError):
        raise UsageError("release.regenerate-timeout / regenerate-memory must be numbers") from None
    return sandbox.SandboxLimits(seconds=seconds, memory_bytes=memory)


def _git_blobs(repo: str | None, wanted: dict[str, str]) -> dict[str, bytes]:
    """Blobs by path from ``git cat-file --batch`` (files of the tag the release lacks)."""
    if not repo:
        return {}
    import subprocess
    ids = list(wanted.items())[:5000]
    try:
        proc = subprocess.run(["git", "-C", repo, "cat-file", "--batch"], input="".join(f"{b}\n" for _, b in ids).encode(),
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    out: dict[str, bytes] = {}
    data, pos = proc.stdout, 0
    for path, _blob in ids:
        end = data.find(b"\n", pos)
        if end < 0:
            break
        header = data[pos:end].split()
        pos = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue
        size = int(header[2])
        if size <= rg.MAX_INPUT:
            out[path] = data[pos:pos + size]
        pos += size + 1
    return out
