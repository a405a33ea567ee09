"""The PC2xx detection: per-file facts (format, entropy, decoding, substitutions), the build and
test scripts that read test data, and the findings. ``provcheck_detect`` runs :class:`Analyzer`."""

from __future__ import annotations

import importlib.util
import posixpath
import re
import sys
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from provcheck import Finding, Severity, ToolError
from provcheck.formats import binary as foreign, elf

from . import entropy, magic, scripts
from .rules import (PC201, PC202, PC203, PC204, PC205, PC206, PC207, PC208, PC209, PC210, PC211, PC212,
                    PC213)



def _on_first_use(name: str) -> Any:
    """The module ``name`` of this package, executed when first used: a warm scan of a root
    filesystem (every file's facts cached) needs neither the decoders nor the emulator."""
    full = f"{__package__}.{name}"
    if full in sys.modules:
        return sys.modules[full]
    spec = importlib.util.find_spec(full)
    if spec is None or spec.loader is None:
        raise ImportError(full)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[full] = module
    spec.loader.exec_module(module)
    return module


dec = _on_first_use("decode")
emulate = _on_first_use("emulate")
pipeline = _on_first_use("pipeline")

HEAD = 8192
TEXT_MAX = 4 << 20
SWAP_ALPHABET = b"\t\n\r -_./\\\"'#:;,+=\x00\xff"
SWAP2_ALPHABET = b"\t\n\r -_./"
SWAP_MAX_BYTES = 1 << 20
MAX_GREPS = 16
MAX_STAGES = 4                 # scripts a shell receives, emulated in turn, per artifact
MAX_LOST_SHOWN = 12            # places where the emulator lost test data, named in the scan's notes
HIDDEN_READER_MAX = 64 << 10  # scripts decoded from test data larger than this are not emulated
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
OPAQUE_DATA = 6.0   # decoded binary data of no known format at or above this entropy counts as opaque


@dataclass(frozen=True)
class Options:
    decode_seconds: float = 5.0
    decode_total_seconds: float = 300.0
    max_decode_bytes: int = 256 << 20
    max_input_bytes: int = 256 << 20
    swap_search: bool = True
    grep_timeout: float = 20.0
    pipelines: bool = True

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> "Options":
        from provcheck import parse_size
        kw: dict[str, Any] = {}
        for key, value in (options or {}).items():
            name = key.replace("-", "_")
            if name not in cls.__dataclass_fields__:
                raise ValueError(f"testdata: unknown option {key!r}")
            if name in ("max_decode_bytes", "max_input_bytes"):
                kw[name] = parse_size(value)
            elif name in ("swap_search", "pipelines"):
                kw[name] = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
            else:
                kw[name] = float(value)
        return cls(**kw)


# -- per-file facts --------------------------------------------------------------------------------

@dataclass
class Info:
    node: Any
    head: bytes
    binary: bool
    fmt: str | None = None
    claim: str | None = None
    profile: entropy.Profile | None = None
    test: bool = False
    result: dec.Result | None = None           # decoding the file as it is
    content: dec.Content | None = None         # what it decodes to (root = the file itself)
    subst: dict | None = None                  # the substitution that made it decode
    text: bytes | None = None                  # whole content of a text file, until references are read
    note: str | None = None
    exec_summary: dict | None = None           # a PE or Mach-O file, as LIEF reads it
    described: str | None = None               # an executable's description, from a cached run

    def describe(self) -> str:
        if self.described is None:
            self.described = _describe_exec(self.head, self.fmt or "", self.exec_summary)
        return self.described

    @property
    def path(self) -> str:
        return self.node.path


@dataclass
class Subst:
    label: str
    table: bytes
    origin: str                     # "tr in m4/x.m4:12" or "single swap"
    swap: tuple[int, int] | None = None


PACKAGE_SUFFIXES = (".deb", ".udeb", ".rpm", ".apk", ".ipk")


def is_rootfs(artifact) -> bool:
    """Images, packages, and directories laid out as a root filesystem. Never a git tree or a
    source archive, whatever directories it holds: those names are the attacker's to choose,
    and a repository with ``usr/`` and ``etc/`` must not switch the source checks off."""
    if artifact.kind == "image":
        return True
    if artifact.kind == "archive":
        return artifact.metadata.get("format") == "deb" or artifact.name.endswith(PACKAGE_SUFFIXES)
    if artifact.kind != "directory":
        return False
    tree = artifact.tree
    if tree.get("DEBIAN") is not None:
        return True
    top = {p.split("/", 1)[0] for p in tree.nodes}
    return "usr" in top and ("etc" in top or "bin" in top or "var" in top)


class Analyzer:
    def __init__(self, scan, artifact, opts: Options, source):
        self.scan = scan
        self.artifact = artifact
        self.tree = artifact.tree
        self.opts = opts
        self.source = source
        self.infos: list[Info] = []
        self.errors = scan.errors
        self.started = time.monotonic()
        self.foreign: foreign.Reader | None = None   # LIEF worker, started at the first PE/Mach-O
        self.results: Any = None  # the engine's per-file result cache (root filesystems), see run()

    def loc(self, node, **kw):
        return node.location(self.artifact.name, **kw)

    # -- pass 1: classify every file ----------------------------------------------------------
    def classify(self, profiles: bool = True) -> None:
        for node in self.tree.files():
            if self.results is not None and not profiles:
                facts = self.results.get(node)
                if facts is not None:  # what the file's content gave on an earlier run: no read
                    if not facts["binary"] or facts["fmt"] not in magic.EXECUTABLES:
                        continue  # a root filesystem's checks look at executables only (data_place_checks)
                    info = Info(node=node, head=b"", binary=facts["binary"], fmt=facts["fmt"],
                                exec_summary=facts["exec"], described=facts["described"])
                    if info.binary:
                        info.claim = magic.claimed_format(node.path)
                    info.test = scripts.is_test_path(node.path)
                    self.infos.append(info)
                    continue
            errors = len(self.errors)
            try:
                with self.tree.open(node) as f:
                    head = f.read(HEAD)
                    binary = magic.is_binary(head)
                    info = Info(node=node, head=head, binary=binary)
                    if not binary and profiles and dec.UU_BEGIN.match(head):
                        info.binary, info.fmt = True, "uu"   # binary data in text clothing
                    elif not binary and profiles and HEAD < node.size <= TEXT_MAX:
                        info.text = head + f.read(TEXT_MAX - len(head))
                    if not binary and profiles and node.size <= TEXT_MAX:
                        kind = self.encoded_payload(info.text or head)
                        if kind:
                            info.binary, info.fmt = True, kind   # base64/hex text holding a payload
                    if binary:
                        info.fmt = magic.identify(head)
                        info.claim = magic.claimed_format(node.path)
                        if profiles:
                            info.profile = entropy.profile_file(f, node.size, head)
                        if info.fmt in ("pe", "macho"):
                            self.read_foreign(info, f)
            except OSError as exc:
                self.errors.append(ToolError(stage="detect", plugin="testdata", artifact=self.artifact.name,
                                             path=node.path, message=f"cannot read: {exc}"))
                continue
            info.test = scripts.is_test_path(node.path)
            self.infos.append(info)
            if self.results is not None and not profiles and len(self.errors) == errors:
                self.results.put(node, {"binary": info.binary, "fmt": info.fmt, "exec": info.exec_summary,
                                        "described": info.describe() if info.fmt in magic.EXECUTABLES else None})

    def read_foreign(self, info: Info, f) -> None:
        """A Windows or macOS executable: its summary through LIEF (in a worker process). A file
        LIEF cannot parse is described so; a LIEF crash or timeout is an error of the scan."""
        if info.node.size > foreign.MAX_INPUT:
            info.exec_summary = {"error": f"larger than {foreign.MAX_INPUT} bytes, not read"}
            return
        if self.foreign is None:
            self.foreign = foreign.Reader()
        f.seek(0)
        try:
            info.exec_summary = self.foreign.read(f.read(), info.fmt)
        except foreign.BinaryError as exc:
            info.exec_summary = {"error": str(exc)}
            if not str(exc).startswith("malformed"):
                self.errors.append(ToolError(stage="detect", plugin="testdata", artifact=self.artifact.name,
                                             path=info.node.path,
                                             message=f"cannot read {info.fmt.upper()} file: {exc}"))
        finally:
            f.seek(len(info.head))

    @staticmethod
    def encoded_payload(data: bytes) -> str | None:
        """base64 or hex when a whole text file is that encoding of an executable, a script, a
        compressed stream or an archive."""
        kind = dec.encoded_kind(data)
        if kind is None:
            return None
        res = dec.decode(kind, data, dec.Budget(max_output=1 << 16, max_total=1 << 16).start())
        if res is None or not res.ok or not res.output:
            return None
        fmt = magic.identify(res.output[:HEAD])
        if fmt in magic.COMPRESSED | magic.ARCHIVES | magic.EXECUTABLES or magic.script_kind(res.output):
            return kind
        return None

    def run(self) -> Iterator[Finding]:
        rootfs = is_rootfs(self.artifact)
        results = getattr(self.scan, "results", None)
        if rootfs and results is not None:
            # the data-place checks judge a file by its content alone (format, description,
            # appended payload); paths and names are applied to the cached facts every run
            self.results = results(__name__.rpartition(".")[0], self.artifact, vars(self.opts), "data-place/1",
                                   _lief_version())
        try:
            self.classify(profiles=not rootfs)
        finally:
            if self.foreign is not None:
                self.foreign.close()
        yield from self.data_place_checks(rootfs)
        if rootfs:
            return
        yield from self.source_checks()

    # -- images, packages and every tree: executables where data belongs -----------------------
    def data_place_checks(self, rootfs: bool) -> Iterator[Finding]:
        for info in self.infos:
            if not info.binary or info.fmt not in magic.EXECUTABLES:
                continue
            path, name = info.path, info.node.name
            ext = magic.extension(name)
            if ext in magic.DATA_EXTS and not _looks_like_library(name):
                yield PC208.finding(
                    location=self.loc(info.node),
                    message=f"{path}: name claims {ext!r} data but the content is {info.fmt.upper()} "
                            f"({info.describe()})",
                    evidence={"sha256": info.node.sha256, "claimed": ext, "actual": info.fmt,
                              "detail": info.describe()},
                    key=info.fmt)
            if rootfs:
                rel = _rootfs_rel(path)
                if rel.startswith("usr/share/"):
                    sub = rel.split("/")[2] if rel.count("/") >= 2 else ""
                    strict = sub in ("doc", "man", "info", "locale", "i18n", "doc-base", "common-licenses")
                    yield PC209.finding(
                        location=self.loc(info.node),
                        message=f"{path}: {info.describe()} "
                                f"under /usr/share/{sub}",
                        severity=Severity.HIGH if strict else Severity.MEDIUM,
                        evidence={"sha256": info.node.sha256, "format": info.fmt, "directory": f"usr/share/{sub}",
                                  "detail": info.describe()},
                        key=info.fmt)
            if info.fmt == "elf":
                f = self.elf_overlay(info)
                if f is not None:
                    yield f
            elif (info.exec_summary or {}).get("overlay"):
                f = self.foreign_overlay(info)
                if f is not None:
                    yield f

    def overlay_facts(self, node: Any, part: str, compute: Any) -> dict | None:
        """What follows the end of an executable, when it looks like a payload (cached by content)."""
        if self.results is not None:
            got = self.results.get(node, part)
            if got is not None:
                return got.get("payload")
        payload = compute(node)
        if self.results is not None:
            self.results.put(node, {"payload": payload}, part)
        return payload

    def _elf_overlay(self, node: Any) -> dict | None:
        with self.tree.open(node) as f:
            end = elf.described_end(f, node.size)
            if end is None or node.size - end < 512:
                return None
            f.seek(end)
            tail = f.read(min(node.size - end, 1 << 20))
            f.seek(max(end, node.size - 64))
            last = f.read(64)
        extra = node.size - end
        if last.endswith(elf.SIGNATURE_MARK) and extra == elf.module_signature_size(last):
            return None  # a kernel module signature, and exactly that: nothing else appended
        payload = _payload(tail)
        if payload is None:
            return None
        fmt, prof, what = payload
        return {"end": end, "extra": extra, "format": fmt, "entropy": prof.to_dict(), "what": what}

    def elf_overlay(self, info: Info) -> Finding | None:
        node = info.node
        o = self.overlay_facts(node, "elf-overlay", self._elf_overlay)
        if o is None:
            return None
        end, extra = o["end"], o["extra"]
        return PC210.finding(
            location=self.loc(node),
            message=f"{node.path}: {extra} bytes of {o['what']} after the end of the ELF file (offset {end})",
            evidence={"sha256": node.sha256, "elf_end": end, "appended_bytes": extra, "appended_format": o["format"],
                      "appended_entropy": o["entropy"]},
            key="overlay")

    def foreign_overlay(self, info: Info) -> Finding | None:
        node, summary = info.node, info.exec_summary or {}
        end, extra = summary["overlay"]["offset"], summary["overlay"]["size"]
        if extra < 512:
            return None

        def tail_payload(node: Any) -> dict | None:
            with self.tree.open(node) as f:
                f.seek(end)
                tail = f.read(min(extra, 1 << 20))
            payload = _payload(tail)
            return None if payload is None else {"format": payload[0], "entropy": payload[1].to_dict(),
                                                 "what": payload[2]}
        o = self.overlay_facts(node, "foreign-overlay", tail_payload)
        if o is None:
            return None
        fmt, prof, what = o["format"], o["entropy"], o["what"]
        return PC213.finding(
            location=self.loc(node),
            message=f"{node.path}: {extra} bytes of {what} after the end of the {foreign.describe(summary)} "
                    f"(offset {end})",
            evidence={"sha256": node.sha256, "end": end, "appended_bytes": extra, "appended_format": fmt,
                      "appended_entropy": prof, "executable": foreign.brief(summary)},
            key="overlay")

    # -- source trees -------------------------------------------------------------------------
    def source_checks(self) -> Iterator[Finding]:
        binaries = [i for i in self.infos if i.binary]
        refs = scripts.References(i.path for i in binaries)     # text fixtures can hide a payload too
        names = set(refs.by_name)
        analyses: list[scripts.ScriptAnalysis] = []
        reader_texts: dict[str, tuple[str, bytes]] = {}
        fixtures: set[str] = set()
        for info in self.infos:
            if info.binary or info.node.size > TEXT_MAX:
                continue
            data = info.head if info.node.size <= HEAD else info.text or self.tree.read(info.node, TEXT_MAX)
            info.text = None
            role = scripts.role(info.path)
            refs.add_text(info.path, data, role)
            lang = pipeline.language(info.path, data[:256])
            if lang is not None:
                reader_texts[info.path] = (lang, data)
            elif pipeline.is_text_fixture(info.path, data):
                fixtures.add(info.path)
            if role == "build":
                analyses.append(scripts.analyze_script(info.path, data, names))
        refs.resolve_globs()

        maps = self.tree_maps(analyses)
        deadline = self.started + self.opts.decode_total_seconds
        skipped = 0
        for info in binaries:
            if time.monotonic() > deadline:
                skipped += 1
                continue
            self.decode_file(info, maps)

        # scripts hidden in test data are build scripts of a kind: read them too
        hidden: list[scripts.ScriptAnalysis] = []
        for info in binaries:
            if info.content is None:
                continue
            leaf, chain = info.content.worst()
            if leaf.kind == "script" and not any(len(c.children) >= 3 for c in chain):   # not a vendored bundle
                data = self.decoded_bytes(info, leaf)
                if data:
                    a = scripts.analyze_script(f"{info.path} (decoded {leaf.format} script)", data, names)
                    a.origin = info  # type: ignore[attr-defined]
                    hidden.append(a)
                    if leaf.format == "shell" and len(data) <= HIDDEN_READER_MAX:   # a reader too
                        reader_texts[a.path] = ("shell", data)
        extra_maps = [m for m in self.tree_maps(hidden) if m.label not in {x.label for x in maps}]
        if extra_maps:
            for info in binaries:
                if info.subst is None and (info.result is None or not info.result.clean) and time.monotonic() < deadline:
                    self.try_substitutions(info, extra_maps, dec.Budget(
                        max_output=self.opts.max_decode_bytes, max_total=self.opts.max_decode_bytes,
                        seconds=self.opts.decode_seconds).start(), swaps=False)
        if skipped:
            self.errors.append(ToolError(
                stage="detect", plugin="testdata", artifact=self.artifact.name,
                message=f"decode budget of {self.opts.decode_total_seconds:g}s spent; {skipped} binary files "
                        f"were classified but not decoded (raise testdata.decode-total-seconds)"))

        readers = self.script_readers(analyses + hidden, binaries)
        yield from self.build_findings(analyses + hidden, readers, binaries)
        yield from self.pipeline_findings(binaries, fixtures, reader_texts, refs, deadline)

        source_diff = self.compare_with_source(binaries, refs)
        for info in binaries:
            yield from self.file_findings(info, refs.of(info.path), readers.get(info.path, []))
        yield from source_diff

    def tree_maps(self, analyses: list[scripts.ScriptAnalysis]) -> list[Subst]:
        seen: dict[bytes, Subst] = {}
        for a in analyses:
            for line, s1, s2, table in a.tr_maps:
                if table not in seen:
                    seen[table] = Subst(label=f"tr {s1!r} {s2!r}", table=table, origin=f"{a.path}:{line}")
                for inverse in (_invert(table),):
                    if inverse is not None and inverse not in seen:
                        seen[inverse] = Subst(label=f"inverse of tr {s1!r} {s2!r}", table=inverse,
                                              origin=f"{a.path}:{line}")
        return list(seen.values())[:32]

    def decoded_bytes(self, info: Info, leaf: dec.Content) -> bytes | None:
        return leaf.data

    def decode_file(self, info: Info, maps: list[Subst]) -> None:
        node = info.node
        kind = info.fmt if info.fmt in dec.DECODABLE else None
        if kind is None and info.fmt is None and info.claim in dec.DECODABLE:
            kind = info.claim
        if node.size > self.opts.max_input_bytes:
            info.note = f"larger than max-input-bytes ({self.opts.max_input_bytes}); not decoded"
            return
        budget = dec.Budget(max_output=self.opts.max_decode_bytes, max_total=self.opts.max_decode_bytes,
                            seconds=self.opts.decode_seconds).start()
        if kind is None and info.fmt not in ("png", "pdf") and not maps and not (
                self.opts.swap_search and info.fmt is None and info.test):
            return
        data = self.tree.read(node)
        if info.fmt in ("png", "pdf"):
            end = dec.container_end(info.fmt, data)
            if end is not None and end < len(data):
                if info.fmt == "png":
                    info.result = dec.Result("png", True, streams=1, trailing=len(data) - end, trailing_at=end)
                self.appended(info, data, end, budget)
            return
        if kind is not None:
            info.result = dec.decode(kind, data, budget)
            if info.result is not None and (info.result.ok or info.result.output or info.result.members):
                info.content = self.content_of(info.result, kind, data, budget)
            res = info.result
            if res is not None and res.ok and res.trailing and res.trailing_at > 0:
                self.appended(info, data, res.trailing_at, budget)
            elif kind == "zip" and res is not None and res.ok:
                end = dec.container_end("zip", data)
                if end is not None and end < len(data):
                    self.appended(info, data, end, budget)
        if info.result is None or not info.result.clean:
            if node.size <= SWAP_MAX_BYTES or maps:
                self.try_substitutions(info, maps, budget, swaps=self.opts.swap_search, data=data)

    def appended(self, info: Info, data: bytes, end: int, budget: dec.Budget) -> None:
        """Data after a valid container's end that decodes to a program joins the file's content."""
        import hashlib
        tail = data[end:]
        if len(tail) < 16:
            return
        child = dec.classify(tail, f"{info.fmt} appended data (offset {end})", budget, 1)
        leaf, _ = child.worst()
        if leaf.kind not in ("executable", "script"):
            return
        if info.content is None:
            info.content = dec.Content(via="file", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                       kind="media", format=info.fmt)
        info.content.children.append(child)

    # -- pipelines: every reader of a test file, emulated -------------------------------------------
    def pipeline_findings(self, binaries: list[Info], fixtures: set[str], reader_texts: dict[str, tuple[str, bytes]],
                          refs: scripts.References, deadline: float) -> Iterator[Finding]:
        candidates = {i.path for i in binaries} | fixtures
        if not candidates or not reader_texts or not self.opts.pipelines:
            return
        names: set[bytes] = set()
        for path in candidates:
            base = posixpath.basename(path).encode("utf-8", "surrogateescape")
            names.add(base)
            stem = base.rsplit(b".", 1)[0]
            if stem != base and len(stem) >= 6:
                names.add(stem)
            parent = posixpath.basename(posixpath.dirname(path)).encode("utf-8", "surrogateescape")
            if len(parent) >= 4 and parent.lower() not in scripts.GENERIC_DIRS:
                names.add(parent)      # "$srcdir/payloads/$name.gz": a file name computed in its own directory
        frozen_names = frozenset(names)
        via_refs = {r.path for i in binaries for r in refs.of(i.path)}
        paths = {n.path for n in self.tree.files()}
        cache: dict[str, bytes | None] = {}

        def read(path: str) -> bytes | None:
            if path not in cache:
                node = self.tree.get(path)
                cache[path] = (self.tree.read(node) if node is not None and node.is_file
                               and node.size <= self.opts.max_input_bytes else None)
            return cache[path]

        seen: set[tuple] = set()
        lost: list[str] = []         # where test data went into something the emulator does not follow
        self._stage_of: dict[str, str] = {}
        queue: list[tuple[str, tuple[str, bytes], dict | None]] = [(r, v, None) for r, v in sorted(reader_texts.items())]
        stages = 0
        while queue:
            reader, (lang, data), env = queue.pop(0)
            staged = " (stage " in reader
            if not staged and reader not in via_refs and not _names_any(data[:TEXT_MAX], frozen_names):
                continue
            if time.monotonic() > deadline:
                self.errors.append(ToolError(stage="detect", plugin="testdata", artifact=self.artifact.name,
                                             path=reader, message="decode budget spent: this reader was not emulated"))
                continue
            here = "" if reader.endswith(")") else posixpath.dirname(reader)   # decoded or staged: runs at the top
            files = pipeline.TreeFiles(paths, read, candidates.__contains__, here)
            budget = emulate.Budget(seconds=self.opts.decode_seconds,
                                    max_bytes=min(self.opts.max_decode_bytes, 64 << 20)).start()
            trace = pipeline.trace_reader(reader, data, lang, files, budget, names=frozen_names, env=env)
            if trace.error:
                self.errors.append(ToolError(stage="detect", plugin="testdata", artifact=self.artifact.name,
                                             path=reader, message=f"pipeline emulation stopped: {trace.error}"))
            lost += [f"{where}: {why}" for where, why in dict.fromkeys(trace.stops)]
            for sink in trace.sinks:
                verdict = self.judge_sink(sink)
                if verdict is None:
                    continue
                severity, content = verdict
                leaf = content.worst()[0] if content is not None else None
                if (sink.kind == "shell" and leaf is not None and leaf.kind in ("script", "text")
                        and stages < MAX_STAGES and len(sink.data.raw) <= HIDDEN_READER_MAX):
                    stages += 1      # the script a shell receives runs in turn: the next stage
                    label = f"{reader.split(' (', 1)[0]} (stage {stages + 1} script)"
                    self._stage_of[label] = sink.where
                    queue.append((label, ("shell", sink.data.raw), sink.env))
                for payload in sorted(sink.data.sources & candidates):
                    key = (payload, sink.kind, content.sha256 if content else sink.where)
                    if key in seen:
                        continue
                    seen.add(key)
                    sev = severity
                    if (content is not None and content.worst()[0].kind == "text" and sink.kind == "toolchain"
                            and not scripts.is_test_path(payload)):
                        sev = Severity.MEDIUM   # a compressed source outside test data, compiled: a build's choice
                    yield self.pipeline_finding(payload, reader, sink, sev, content)
        if lost:
            shown = "; ".join(lost[:MAX_LOST_SHOWN]) + (f"; and {len(lost) - MAX_LOST_SHOWN} more"
                                                         if len(lost) > MAX_LOST_SHOWN else "")
            self.scan.notes.append(f"testdata: {self.artifact.name}: test data not followed by the pipeline "
                                   f"emulator at {len(lost)} place(s): {shown}")

    def judge_sink(self, sink: emulate.Sink) -> tuple[Severity, dec.Content | None] | None:
        data = sink.data
        if not any(not s.command.startswith(pipeline.IDENTITY) for s in data.steps):
            return None            # the file as it is: no decoding happened on the way
        if data.stopped:   # not followed: a shell or loader is worth a look, a generated source much less
            return (Severity.MEDIUM if sink.kind in ("shell", "exec", "preload") else Severity.LOW), None
        if not data.raw:
            return None
        budget = dec.Budget(max_output=self.opts.max_decode_bytes, max_total=self.opts.max_decode_bytes,
                            seconds=self.opts.decode_seconds).start()
        content = dec.classify(data.raw, "pipeline output", budget)
        leaf, _ = content.worst()
        if leaf.kind in ("executable", "script"):
            return Severity.CRITICAL, content
        if leaf.kind == "text" and sink.kind in ("shell", "toolchain", "exec"):
            return Severity.CRITICAL, content   # text a shell runs or a compiler compiles is code
        if sink.kind == "output-file" and leaf.kind in ("text", "empty", "media"):
            return None
        if leaf.kind in ("opaque", "data", "compressed", "archive", "media"):
            return Severity.HIGH, content
        return None

    def pipeline_finding(self, payload: str, reader: str, sink: emulate.Sink, severity: Severity,
                         content: dec.Content | None) -> Finding:
        node = self.tree.get(payload)
        steps = [s.to_dict() for s in sink.data.steps]
        origin = self.tree.get(reader.split(" (", 1)[0]) if " (" in reader else None
        if len(steps) > 48:
            steps = steps[:24] + [{"command": f"... {len(steps) - 48} more steps ...", "where": ""}] + steps[-24:]
        names = ["read" if s.command.startswith("read ") else
                 next((w for w in s.command.split() if not _ASSIGNMENT.match(w)), s.command) for s in sink.data.steps]
        short = " | ".join(n for k, n in enumerate(names) if k == 0 or n != names[k - 1])
        where = sink.data.steps[0].where if sink.data.steps else sink.where
        evidence: dict[str, Any] = {
            "sha256": node.sha256 if node is not None else None, "reader": reader,
            "read_at": where, "sink": sink.to_dict(), "chain": steps,
        }
        if content is not None:
            leaf, _ = content.worst()
            evidence["output"] = content.to_dict()
            what = _leaf_text(leaf) if leaf.kind != "text" else \
                f"text (sha256 {leaf.sha256[:16]}..., {leaf.size} bytes): “{dec.preview(sink.data.raw)}”"
        else:
            evidence["stopped"] = sink.data.stopped
            what = f"data the emulator could not follow ({sink.data.stopped})"
        if origin is not None:
            evidence["reader_decoded_from"] = origin.path
        if reader in getattr(self, "_stage_of", {}):
            evidence["reader_run_by"] = self._stage_of[reader]   # the previous stage piped it to a shell
        state = self.source_state(origin.path if origin is not None else reader)
        if state is not None:
            evidence["in_source"] = {"reader": state, "payload": self.source_state(payload)}
        sink_text = {"shell": "a shell", "toolchain": "the toolchain", "exec": "execution",
                     "preload": "LD_PRELOAD", "output-file": "a build input"}[sink.kind]
        return PC212.finding(
            location=self.loc(node) if node is not None else self.artifact.location(payload),
            message=f"{payload}: {where} reads it, decodes it ({short}) to {what}, and {sink.where} hands "
                    f"that to {sink_text} ({dec.printable(sink.how[:120])})",
            severity=severity, evidence=evidence, key=f"{reader}:{sink.kind}")

    def content_of(self, res: dec.Result, via: str, data: bytes, budget: dec.Budget) -> dec.Content:
        import hashlib
        root = dec.Content(via="file", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                           kind="archive" if via in magic.ARCHIVES else "compressed", format=via, ok=res.clean,
                           note=res.error)
        if res.members:
            for name, body in res.members:
                root.children.append(dec.classify(body, f"{via}:{name}", budget, 1))
        else:
            root.children.append(dec.classify(res.output, via, budget, 1))
        return root

    def try_substitutions(self, info: Info, maps: list[Subst], budget: dec.Budget, swaps: bool,
                          data: bytes | None = None) -> None:
        node = info.node
        if node.size > max(SWAP_MAX_BYTES, self.opts.max_input_bytes if maps else 0):
            return
        candidates = list(maps)
        raw_magic = info.fmt in dec.CHECKED
        if swaps and node.size <= SWAP_MAX_BYTES and (raw_magic or info.fmt is None):
            data = data if data is not None else self.tree.read(node)
            candidates += swap_tables(set(data))
        if not candidates:
            return
        head = info.head[:512]
        for sub in candidates:
            if budget.expired():
                info.note = f"substitution search stopped: {budget.exhausted}"
                return
            kind = magic.identify(head.translate(sub.table))
            if kind not in dec.CHECKED:
                continue
            data = data if data is not None else self.tree.read(node)
            res = dec.decode(kind, data.translate(sub.table), budget)
            if res is not None and res.clean and (res.output or res.members):
                info.subst = {"table": sub.label, "from": sub.origin, "format": kind}
                info.content = self.content_of(res, kind, data.translate(sub.table), budget)
                info.content.via = f"file after {sub.label}"
                return

    # -- who greps what -----------------------------------------------------------------------
    def script_readers(self, analyses: list[scripts.ScriptAnalysis], binaries: list[Info]) -> dict[str, list[dict]]:
        readers: dict[str, list[dict]] = {}
        greps = [(a, s) for a in analyses for s in a.of("content-grep")][:MAX_GREPS]
        if greps:
            files: dict[str, list[str]] = {}
            for info in self.infos:
                files.setdefault(str(self.tree.host_path(info.node)), []).append(info.path)
            for a, sig in greps:
                pattern = sig.pattern or ""
                name = posixpath.basename(a.path)
                if name.startswith(("Makefile", "GNUmakefile", "makefile")) or name.endswith((".am", ".mk")):
                    pattern = pattern.replace("$$", "$")   # make's escape
                matched, error = scripts.run_grep(pattern, sig.flags, files, self.opts.grep_timeout)
                if not matched and not error and "[[" in pattern:   # m4 quoting: [[x]] is [x] after m4
                    matched, _ = scripts.run_grep(pattern.replace("[[", "[").replace("]]", "]"), sig.flags,
                                                  files, self.opts.grep_timeout)
                sig.matched = [m for m in matched if m != a.path]  # type: ignore[attr-defined]
                if error:
                    self.errors.append(ToolError(stage="detect", plugin="testdata", artifact=self.artifact.name,
                                                 path=a.path, message=f"grep pattern at line {sig.line}: {error}"))
                for m in sig.matched:  # type: ignore[attr-defined]
                    readers.setdefault(m, []).append({"script": a.path, "line": sig.line, "how": "content grep",
                                                      "pattern": pattern})
        by_name: dict[str, list[Info]] = {}
        for info in binaries:
            by_name.setdefault(info.node.name, []).append(info)
        for a in analyses:
            for name, line in a.names.items():
                for info in by_name.get(name, []):
                    near = [s for s in a.signals if s.kind in ("decoder", "sink", "tr-map") and abs(s.line - line) <= 3]
                    if near:
                        readers.setdefault(info.path, []).append({"script": a.path, "line": line,
                                                                  "how": "named next to " + near[0].kind})
        return readers

    def build_findings(self, analyses, readers, binaries) -> Iterator[Finding]:
        binary_paths = {i.path for i in binaries}
        for a in analyses:
            greps = a.of("content-grep")
            decoders, sinks, trs = a.of("decoder"), a.of("sink"), a.of("tr-map")
            named = [(n, l) for n, l in a.names.items()
                     if any(s.kind in ("decoder", "sink", "tr-map") and abs(s.line - l) <= 3 for s in a.signals)]
            if not greps and not named:
                continue
            matched = sorted({m for g in greps for m in getattr(g, "matched", [])})
            matched_bin = [m for m in matched if m in binary_paths]
            hidden = getattr(a, "origin", None)
            matched_test = [m for m in matched if scripts.is_test_path(m)]
            if named or matched_bin or greps and (decoders or trs) and sinks:
                severity = Severity.CRITICAL
            elif greps and (matched_test or decoders or trs):
                severity = Severity.MEDIUM
            else:
                severity = Severity.LOW   # e.g. a maintainer target grepping the sources for whitespace
            parts = []
            if greps:
                g = greps[0]
                parts.append(f"greps the tree for {g.pattern!r} (line {g.line})"
                             + (f", selecting {', '.join(matched[:3])}" + (" ..." if len(matched) > 3 else "")
                                if matched else ", which matches nothing here"))
            if named:
                parts.append("names " + ", ".join(n for n, _ in named[:3]) + " next to a decoder/shell pipeline")
            if trs:
                parts.append(f"substitutes bytes with {trs[0].pattern} (line {trs[0].line})")
            if decoders:
                parts.append(f"decodes (line {decoders[0].line})")
            evidence: dict[str, Any] = {
                "signals": [s.to_dict() | ({"matched": s.matched} if hasattr(s, "matched") else {})
                            for s in a.signals if s.kind == "content-grep" or s.kind != "sink" or s.line in
                            {x.line for x in greps + decoders + trs}][:24],
                "matched_files": matched[:50],
            }
            if named:
                evidence["names_test_files"] = [{"name": n, "line": l} for n, l in named]
            if hidden is not None:
                node = hidden.node
                evidence["decoded_from"] = hidden.path
                loc = self.loc(node)
                what = f"the script decoded from {hidden.path}"
            else:
                node = self.tree.get(a.path)
                loc = self.loc(node) if node is not None else self.artifact.location(a.path)
                what = a.path
                state = self.source_state(a.path)
                if state is not None:
                    evidence["in_source"] = state
                    if state != "identical":
                        parts.append("this script is " + ("not in the source tree" if state == "absent"
                                                          else "different in the source tree"))
            yield PC205.finding(location=loc, message=f"{what} " + "; ".join(parts), severity=severity,
                                evidence=evidence,  # keyed by what it does, not where: edits above keep it
                                key=f"{a.path}:{greps[0].pattern or greps[0].text if greps else named[0][0]}")

    # -- per-file findings ------------------------------------------------------------------------
    def file_findings(self, info: Info, refs: list[scripts.Reference], readers: list[dict]) -> Iterator[Finding]:
        node = info.node
        used = [r for r in refs if r.role in ("test", "build", "other")]
        named_by_test = [r for r in used if r.how == "name"]
        bad_word = magic.claims_bad(info.path)
        good_word = magic.claims_good(info.path)
        res = info.result
        base_ev: dict[str, Any] = {"sha256": node.sha256, "size": node.size, "format": info.fmt,
                                   "claimed": info.claim, "entropy": info.profile.to_dict() if info.profile else None,
                                   "referenced_by": [r.to_dict() for r in refs[:10]]}
        if readers:
            base_ev["read_by"] = readers[:10]
        state = self.source_state(info.path)
        if state is not None:
            base_ev["in_source"] = state
        if res is not None:
            base_ev["decode"] = {"format": res.format, "ok": res.ok, "streams": res.streams,
                                 "trailing_bytes": res.trailing, "error": res.error, "truncated": res.truncated}
            if res.unsupported:
                base_ev["decode"]["unsupported"] = True
        if info.subst:
            base_ev["substitution"] = info.subst
        if info.note:
            base_ev["note"] = info.note
        leaf, chain = info.content.worst() if info.content else (None, [])
        if info.content is not None:
            base_ev["decoded"] = info.content.to_dict()
        how = " -> ".join(c.via if i == 0 else c.via for i, c in enumerate(chain[1:])) if chain else ""

        if info.subst and leaf is not None:
            yield PC203.finding(
                location=self.loc(node),
                message=f"{info.path} becomes a valid {info.subst['format']} stream after {info.subst['table']} "
                        f"(from {info.subst['from']}) and decodes to {_leaf_text(leaf)}",
                evidence=base_ev, key=info.subst["table"])
        elif leaf is not None and leaf.kind in ("executable", "script"):
            # a vendored source archive holds scripts among many files; a payload is the one thing inside
            bundle = any(len(c.children) >= 3 for c in chain)
            named_by_test = any(r.how in ("name", "stem") and r.role in ("test", "build") for r in refs)
            if readers:
                sev = Severity.CRITICAL
            elif info.test or bad_word:
                sev = (Severity.CRITICAL if (not used or bad_word and not named_by_test) and not bundle else
                       Severity.MEDIUM if not used else Severity.LOW)
            else:
                sev = Severity.MEDIUM if not used else Severity.LOW
            yield PC201.finding(
                location=self.loc(node),
                message=f"{info.path} decodes ({how}) to {_leaf_text(leaf)}"
                        + ("" if used else "; no test or build file names it")
                        + (f"; named {bad_word!r}" if bad_word else "")
                        + (f"; read by {readers[0]['script']}" if readers else ""),
                severity=sev, evidence=base_ev, key=leaf.sha256)

        elif info.fmt in magic.EXECUTABLES and info.test and (not used or readers):
            detail = _describe_exec(info.head, info.fmt, info.exec_summary)
            yield PC201.finding(
                location=self.loc(node),
                message=f"{info.path} is an {detail} in test data"
                        + (f" read by {readers[0]['script']}" if readers else " that no test or build file names"),
                severity=Severity.CRITICAL if readers else Severity.MEDIUM,
                evidence=base_ev | {"detail": detail}, key=node.sha256 or "raw")

        if bad_word and res is not None and res.clean and res.format in dec.CHECKED and not info.subst:
            yield PC202.finding(
                location=self.loc(node),
                message=f"{info.path} is named {bad_word!r} but is a valid {res.format} file "
                        f"({res.streams} stream{'s' if res.streams != 1 else ''}, checks pass)"
                        + (f" holding {_leaf_text(leaf)}" if leaf is not None and leaf is not info.content else ""),
                evidence=base_ev, key=res.format)

        if res is not None and res.ok and res.trailing and not bad_word and not res.truncated:
            with self.tree.open(node) as f:
                f.seek(res.trailing_at if res.trailing_at >= 0 else max(0, node.size - res.trailing))
                tail = f.read(min(res.trailing, 1 << 20))
            prof = entropy.profile_bytes(tail)
            yield PC206.finding(
                location=self.loc(node),
                message=f"{info.path}: {res.trailing} bytes after the end of a valid {res.format} stream"
                        f" (entropy {prof.mean:.2f} bits/byte"
                        + (f", {magic.identify(tail[:HEAD])} data" if magic.identify(tail[:HEAD]) else "") + ")",
                severity=Severity.HIGH if res.trailing >= 512 and prof.mean >= 7.0 else Severity.MEDIUM,
                evidence=base_ev | {"trailing_entropy": prof.to_dict(), "trailing_format": magic.identify(tail[:HEAD])},
                key=res.format)

        if good_word and not bad_word and res is not None and not res.ok and not res.unsupported and not info.subst:
            yield PC207.finding(
                location=self.loc(node),
                message=f"{info.path} is named {good_word!r} but does not decode as {res.format}: {res.error}",
                evidence=base_ev, key=res.format)

        if info.test and not info.subst and not (leaf is not None and leaf.kind in ("executable", "script")):
            opaque_leaf = (leaf is not None and leaf is not info.content
                           and (leaf.kind == "opaque" or leaf.kind == "data" and (leaf.entropy or 0) >= OPAQUE_DATA))
            opaque_raw = (info.content is None and info.fmt is None and info.profile is not None
                          and node.size >= 1024 and (info.profile.opaque or info.profile.mixed))
            if (opaque_leaf or opaque_raw) and (not used or readers):
                what = (f"decodes ({how}) to {'opaque' if leaf.kind == 'opaque' else 'binary'} data of no known "
                        f"format ({leaf.note})" if opaque_leaf else
                        f"is opaque data of no known format (entropy {info.profile.mean:.2f} bits/byte, "
                        f"{info.profile.high_fraction:.0%} of blocks high)")
                sev = Severity.CRITICAL if readers else Severity.MEDIUM
                yield PC204.finding(
                    location=self.loc(node),
                    message=f"{info.path} {what}; "
                            + (f"selected by {readers[0]['script']} line {readers[0]['line']}" if readers
                               else "no test or build file names it"),
                    severity=sev, evidence=base_ev, key="opaque")

    # -- release vs source -------------------------------------------------------------------------
    def source_state(self, path: str) -> str | None:
        if self.source is None:
            return None
        node = self.tree.get(path)
        other = self.source.tree.get(self._source_path(path))
        if other is None or not other.is_file:
            return "absent"
        return "identical" if node is not None and other.sha256 == node.sha256 else "changed"

    def _source_path(self, path: str) -> str:
        prefix = getattr(self, "_prefix", None)
        if prefix is None:
            tops = {p.split("/", 1)[0] for p in self.tree.nodes if "/" in p}
            stops = {p.split("/", 1)[0] for p in self.source.tree.nodes}
            prefix = ""
            if len(tops) == 1:
                top = next(iter(tops))
                if top not in stops:
                    prefix = top + "/"
            self._prefix = prefix
        return path[len(prefix):] if prefix and path.startswith(prefix) else path

    def compare_with_source(self, binaries: list[Info], refs: scripts.References) -> list[Finding]:
        if self.source is None:
            return []
        out = []
        for info in binaries:
            if not info.test:
                continue
            state = self.source_state(info.path)
            if state in ("changed", "absent"):
                other = self.source.tree.get(self._source_path(info.path))
                out.append(PC211.finding(
                    location=self.loc(info.node),
                    message=f"{info.path}: binary test data " + ("not in the source tree" if state == "absent" else
                                                                f"differs from {self._source_path(info.path)} in the source"),
                    related=(other.location(self.source.name),) if other is not None else (),
                    evidence={"sha256": info.node.sha256, "source_sha256": other.sha256 if other else None,
                              "in_source": state},
                    key="data"))
        readers = {r.path for i in binaries if i.test for r in refs.of(i.path) if r.role == "test"}
        for path in sorted(readers):
            state = self.source_state(path)
            if state == "changed":
                node = self.tree.get(path)
                other = self.source.tree.get(self._source_path(path))
                out.append(PC211.finding(
                    location=self.loc(node), severity=Severity.MEDIUM,
                    message=f"{path}: test script that reads binary test data differs from the source",
                    related=(other.location(self.source.name),) if other is not None else (),
                    evidence={"sha256": node.sha256, "source_sha256": other.sha256 if other else None,
                              "in_source": state},
                    key="script"))
        return out


def swap_tables(present: set[int]) -> list[Subst]:
    """Every swap of two bytes of SWAP_ALPHABET, then every pair of disjoint swaps of
    SWAP2_ALPHABET (a ``tr`` that trades two pairs, like xz's), skipping maps that change nothing."""
    out = []
    singles = [(a, b) for i, a in enumerate(SWAP_ALPHABET) for b in SWAP_ALPHABET[i + 1:]
               if a in present or b in present]
    for a, b in singles:
        t = bytearray(range(256))
        t[a], t[b] = b, a
        out.append(Subst(label=f"swap 0x{a:02x} <-> 0x{b:02x}", table=bytes(t), origin="byte swap search",
                         swap=(a, b)))
    pairs = [(a, b) for i, a in enumerate(SWAP2_ALPHABET) for b in SWAP2_ALPHABET[i + 1:]
             if a in present or b in present]
    for i, (a, b) in enumerate(pairs):
        for c, d in pairs[i + 1:]:
            if len({a, b, c, d}) < 4:
                continue
            t = bytearray(range(256))
            t[a], t[b], t[c], t[d] = b, a, d, c
            out.append(Subst(label=f"swap 0x{a:02x} <-> 0x{b:02x} and 0x{c:02x} <-> 0x{d:02x}", table=bytes(t),
                             origin="byte swap search", swap=(a, b)))
    return out


def _invert(table: bytes) -> bytes | None:
    if sorted(table) != list(range(256)):
        return None
    inv = bytearray(256)
    for i, v in enumerate(table):
        inv[v] = i
    inv = bytes(inv)
    return None if inv == table else inv


def _leaf_text(leaf: dec.Content) -> str:
    if leaf.kind == "executable":
        what = leaf.format.upper() if leaf.format else "binary"
        article = "an" if what[:1] in "AEFHILMNORSX" else "a"
        return f"{article} {what} executable/object (sha256 {leaf.sha256[:16]}..., {leaf.size} bytes)"
    if leaf.kind == "script":
        return f"a {leaf.format} script (sha256 {leaf.sha256[:16]}..., {leaf.size} bytes): “{leaf.preview}”"
    if leaf.kind == "opaque":
        return f"opaque data ({leaf.note}; sha256 {leaf.sha256[:16]}...)"
    return f"{leaf.kind} ({leaf.format or 'unknown format'}, {leaf.size} bytes, sha256 {leaf.sha256[:16]}...)"


def _describe_exec(head: bytes, fmt: str, summary: dict | None = None) -> str:
    if fmt == "elf" and len(head) >= 20:
        return elf.describe(head)
    if summary is not None:
        return foreign.describe(summary)
    return {"pe": "PE executable", "coff": "COFF object", "macho": "Mach-O binary"}.get(fmt, fmt)


def _lief_version() -> str:
    """LIEF reads PE and Mach-O files for the cached facts: its version is one of their inputs."""
    from importlib import metadata
    try:
        return metadata.version("lief")
    except metadata.PackageNotFoundError:
        return "none"


def _looks_like_library(name: str) -> bool:
    import re
    return bool(re.search(r"\.so(?:\.\d+)*$|\.so\.\d", name))


def _rootfs_rel(path: str) -> str:
    return path[len("DEBIAN/"):] if path.startswith("DEBIAN/") else path


def _payload(tail: bytes) -> tuple[str | None, entropy.Profile, str] | None:
    """(format, entropy, description) of bytes appended to an executable when they look like a payload
    (a compressed, archive or executable format, or high entropy); None for anything else."""
    fmt = magic.identify(tail[:HEAD])
    prof = entropy.profile_bytes(tail)
    if not (fmt in magic.COMPRESSED | magic.ARCHIVES | magic.EXECUTABLES or prof.mean >= 7.0):
        return None
    return fmt, prof, f"{fmt} data" if fmt else f"high-entropy data ({prof.mean:.2f} bits/byte)"


_COMPUTED = re.compile(rb"([A-Za-z0-9_][A-Za-z0-9_.+-]{3,})(?=\$)")


def _names_any(text: bytes, names: frozenset[bytes]) -> bool:
    """Whether ``text`` names one of ``names``: a token, a token's stem (``helper.o`` for a
    ``helper.xz`` that a ``%.o: %.xz`` rule makes), or the start of a name a variable completes
    (``chunk$i``)."""
    tokens = set(scripts.TOKEN.findall(text))
    if tokens & names or {t.rsplit(b".", 1)[0] for t in tokens if b"." in t} & names:
        return True
    prefixes = set(_COMPUTED.findall(text))
    return any(n.startswith(p) for p in prefixes for n in names)
