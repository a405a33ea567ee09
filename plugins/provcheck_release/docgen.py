"""Documentation a release's own rules generate, reproduced offline in the sandbox.

Man pages rendered to text, PDF or HTML, ``.info`` manuals, a ``ChangeLog`` written from
``git log``: files no autotools step writes, but that a rule *of the tag* names with its
generator. Each job runs that rule's own recipe over the tag's files under
:mod:`provcheck.sandbox` (no network, read-only system) and every file it writes that the
release ships is compared byte for byte with it:

- ``dist-hook`` rules of the tag's ``Makefile.am`` (xz: ``git log --stat`` into
  ``ChangeLog``, ``groff``/``ps2pdf`` man pages), run with ``make`` and the Makefile.am's own
  variables, ``distdir`` pointing into the work tree. A rule that reads git history gets the
  tag's history: a ``.git`` whose objects are the source repository's (bound read-only) and
  whose ``HEAD`` is the tag's commit;
- rules of the tag's hand-written ``Makefile.in`` whose recipe formats manual pages through
  a configure-chosen formatter (openssh's ``catman-do`` with ``$(MANFMT)``): run with each
  formatter configure can choose (``mandoc``, ``nroff -mandoc``); the operating-system name
  mandoc prints in the page footer is read from the release's page (a host stamp);
- documentation scripts of the tag (a shell script under ``doc/``/``docs/``/``man/`` that
  names a formatter: libarchive's ``doc/update.sh`` with ``mdoc2man.awk``/``mdoc2wiki.awk``,
  ``nroff``, ``groff``);
- ``info_TEXINFOS`` of the tag's ``Makefile.am``: ``makeinfo`` of the tag's manual (automake's
  rule), with the release's ``version.texi`` when it holds nothing but ``@set`` lines.

The generator versions matter: an output naming a generator version (``produced by makeinfo
version 6.8``, ``groff version 1.22.4``, ``GPL Ghostscript 10.00.0``) different from the one
the regeneration names is ``not-reproducible`` with both versions, never compared. PDFs are
compared with their creation dates, document ids and cross-reference offsets blanked
(:func:`pdf_normalise`); text with the regeneration's stamp classification.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from . import regenerate as rg
from . import risk

WORK_GIT = "/provcheck-git-objects"          # where the source repository's objects appear in the sandbox
DIST_DIR = ".provcheck-dist"                 # distdir of a dist-hook run (inside the work tree)
MAX_TREE = 256 << 20                         # bytes of tag files one job materialises
FORMATTERS = re.compile(r"\b(?:groff|nroff|troff|mandoc|makeinfo|texi2any|ps2pdf|po4a|pod2man|mdoc2man|git log)\b")
DOC_DIRS = re.compile(r"(?:^|/)(?:doc|docs|man|manual)/[^/]+\.sh$")
FORMATTER_CONFIG = ("/etc/groff",)
# generator version stamps inside outputs: a regeneration naming another version is not comparable
VERSION_STAMPS = (("makeinfo", re.compile(rb"produced by makeinfo version ([0-9][\w.]*)")),
                  ("groff", re.compile(rb"groff version ([0-9][\w.]*)")),
                  ("Ghostscript", re.compile(rb"GPL Ghostscript ([0-9][\w.]*)")),
                  ("texi2any", re.compile(rb"texi2any ([0-9][\w.]*)")),
                  ("po4a", re.compile(rb"po4a ([0-9][\w.]*)")))
DOC_OUTPUT = re.compile(r"(?:\.(?:txt|html?|pdf|ps|info(?:-\d+)?|wiki|pot?|[0-9]|[1-9][a-z]*)|(?:^|/)ChangeLog)$")
# what a job's outputs may be: docs, and the Makefiles a documentation script writes for its formatters
JOB_OUTPUT = re.compile(DOC_OUTPUT.pattern + r"|(?:^|/)(?:doc|docs|man|manual)/(?:[^/]+/)*Makefile$")


@dataclass
class DocJob:
    name: str                    # what runs, e.g. "dist-hook (Makefile.am:81)"
    directory: str               # where it runs, relative to the top of the tree
    script: str                  # shell commands, run by /bin/sh in ``directory``
    git: bool = False            # needs the tag's git history
    extra: dict[str, bytes] = field(default_factory=dict)   # release files admitted as inputs (stamps only)
    alternatives: list[str] = field(default_factory=list)   # other scripts for the same outputs (formatters)


@dataclass
class DocResult:
    files: dict[str, rg.FileResult] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)


# -- finding the jobs ------------------------------------------------------------------------------

def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for n, raw in enumerate(text.split("\n"), 1):
        if out and out[-1][1].endswith("\\"):
            out[-1] = (out[-1][0], out[-1][1] + "\n" + raw)
        else:
            out.append((n, raw))
    return out


def _variables(lines: list[tuple[int, str]]) -> list[str]:
    """The simple variable assignments of a makefile (whole logical lines, outside recipes)."""
    return [line for _, line in lines if not line.startswith("\t") and
            re.match(r"^[A-Za-z_][\w.]*\s*[:+]?=", line) and not line.lstrip().startswith("#")]


def _rule(lines: list[tuple[int, str]], target: str) -> tuple[int, list[str]] | None:
    for i, (n, line) in enumerate(lines):
        if re.match(rf"^{re.escape(target)}\s*:(?!=)", line):
            recipe = []
            for _, follow in lines[i + 1:]:
                if not follow.startswith("\t"):
                    if follow.strip() and not follow.lstrip().startswith("#"):
                        break
                    continue
                recipe.append(follow)
            return (n, recipe) if recipe else None
    return None


def _makefile(variables: list[str], defaults: Mapping[str, str], target: str, recipe: list[str]) -> str:
    own = {re.match(r"^([A-Za-z_][\w.]*)", v).group(1) for v in variables}  # type: ignore[union-attr]
    head = [f"{k} = {v}" for k, v in defaults.items() if k not in own or k in ("srcdir", "top_srcdir", "distdir",
                                                                                "top_builddir", "builddir")]
    body = [v for v in variables if re.match(r"^([A-Za-z_][\w.]*)", v).group(1) not in  # type: ignore[union-attr]
            ("srcdir", "top_srcdir", "distdir", "top_distdir", "builddir", "top_builddir")]
    return "\n".join(["SHELL = /bin/sh", *head, *body, "", f"{target}:", *recipe, ""])


def plan(tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]], version: str) -> list[DocJob]:
    """The documentation jobs the tag's own rules and scripts name (``tag``: the tag's files)."""
    jobs: list[DocJob] = []
    defaults = {"srcdir": ".", "top_srcdir": ".", "builddir": ".", "top_builddir": ".", "MKDIR_P": "mkdir -p",
                "VERSION": version, "PACKAGE_VERSION": version, "AWK": "awk", "SED": "sed", "GREP": "grep"}
    for path in sorted(tag):
        d, base = posixpath.dirname(path), posixpath.basename(path)
        text = tag[path].decode("utf-8", "replace")
        if base == "Makefile.am":
            lines = _logical_lines(text)
            hook = _rule(lines, "dist-hook")
            top = "/".join([".."] * len(d.split("/"))) if d else "."
            if hook is not None and FORMATTERS.search("\n".join(hook[1])):
                mk = _makefile(_variables(lines), {**defaults, "distdir": DIST_DIR, "top_distdir": DIST_DIR,
                                                   "top_srcdir": top, "top_builddir": top},
                               "dist-hook", hook[1])
                jobs.append(DocJob(f"dist-hook ({path}:{hook[0]})", d,
                                   _write(".provcheck-docs.mk", mk) + f"mkdir -p {DIST_DIR} && "
                                   "make -i -f .provcheck-docs.mk dist-hook",
                                   git="git " in "\n".join(hook[1])))
            info = re.search(r"^info_TEXINFOS\s*=\s*(.+)$", text, re.M)
            for texi in (info.group(1).split() if info else []):
                job = _info_job(d, texi, tag, release)
                if job is not None:
                    jobs.append(job)
        elif base == "Makefile.in" and posixpath.join(d, "Makefile.am") not in tag:
            lines = _logical_lines(text)
            for n, line in lines:
                m = re.match(r"^([\w.-]+)\s*:(?!=)", line)
                if not m or line.startswith("\t"):
                    continue
                rule = _rule(lines, m.group(1))
                if rule is None or "$(MANFMT)" not in "\n".join(rule[1]):
                    continue
                variables = [v.replace("@srcdir@", ".").replace("@top_srcdir@", ".") for v in _variables(lines)
                             if not re.match(r"(?:MANFMT|SHELL|VPATH)\s*[:+]?=", v)]
                scripts = []
                for fmt in _formatters(rule[1], variables, release, d):
                    mk = _makefile([*variables, f"MANFMT = {fmt}"], defaults, m.group(1), rule[1])
                    scripts.append(_write(".provcheck-docs.mk", mk) + f"make -i -f .provcheck-docs.mk {m.group(1)}")
                if scripts:
                    jobs.append(DocJob(f"{m.group(1)} ({path}:{n}) with $(MANFMT)", d, scripts[0],
                                       alternatives=scripts[1:]))
        elif DOC_DIRS.search(path) and FORMATTERS.search(text) and re.search(r">>?\s*Makefile\b", text):
            jobs.append(DocJob(f"documentation script {path}", d, f"sh ./{base}"))
    jobs += _rule_jobs(tag, release, defaults)
    named = {j.name.split(" ", 2)[-1] for j in jobs}
    for script, where in _scripts_run_by_rules(tag).items():
        data = tag.get(script)
        if data is not None and script not in named and FORMATTERS.search(data.decode("utf-8", "replace")):
            d, base = posixpath.dirname(script), posixpath.basename(script)
            jobs.append(DocJob(f"script {script} (run by {where})", d, f"sh ./{base}"))
    return jobs


SUBSTITUTIONS = {"@PERL@": "perl", "@SED@": "sed", "@AWK@": "awk", "@GREP@": "grep", "@NROFF@": "nroff",
                 "@SHELL@": "/bin/sh", "@MKDIR_P@": "mkdir -p"}


def _rule_jobs(tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]],
               defaults: Mapping[str, str]) -> list[DocJob]:
    """A rule of the tag's ``Makefile.am`` that writes a release doc from the tag's inputs
    (maketargets.py: curl's ``libcurl-symbols.3: ... perl mksymbolsmanpage.pl``): its recipe,
    run where the Makefile.am is, with the file's variables and includes."""
    from .maketargets import rule_targets
    found = rule_targets({p: (lambda p=p: tag[p]) for p in tag if posixpath.basename(p) == "Makefile.am"}, tag.keys())
    wanted: dict[str, list[str]] = {}
    for target, rt in sorted(found.items()):
        if target in release and DOC_OUTPUT.search(target) and tag.get(target) != release[target]():
            wanted.setdefault(rt.where, []).append(target)
    jobs = []
    for where, targets in sorted(wanted.items()):
        mk_path, _, number = where.rpartition(":")
        d = posixpath.dirname(mk_path)
        lines = _logical_lines(tag[mk_path].decode("utf-8", "replace"))
        at = next((i for i, (n, _) in enumerate(lines) if str(n) == number), None)
        if at is None:
            continue
        m = re.match(r"^([^:#=]+?)\s*::?(?!=)\s*(.*)$", lines[at][1])
        recipe = []
        for _, follow in lines[at + 1:]:
            if not follow.startswith("\t"):
                break
            recipe.append(follow)
        if m is None or not recipe:
            continue
        first = (m.group(2).split() or [""])[0]
        recipe = [r.replace("$@", m.group(1).strip()).replace("$<", first) for r in recipe]
        top = "/".join([".."] * len(d.split("/"))) if d else "."
        local = {**defaults, "top_srcdir": top, "top_builddir": top, "abs_builddir": "$(CURDIR)",
                 "abs_srcdir": "$(CURDIR)"}
        text = tag[mk_path].decode("utf-8", "replace")
        includes = [x for x in text.split("\n") if re.match(r"^-?include\s+[\w./$()-]+\s*$", x)]
        mk = _makefile(_variables(lines), local, "provcheck-doc-target", recipe)
        mk = "\n".join(includes) + "\n" + mk
        for key, value in SUBSTITUTIONS.items():
            mk = mk.replace(key, value)
        jobs.append(DocJob(f"rule {where} ({', '.join(targets[:3])})", d,
                           _write(".provcheck-docs.mk", mk) + "make -i -f .provcheck-docs.mk provcheck-doc-target"))
    return jobs


_SH_IN_DIR = re.compile(r"""cd\s+["']?\$[({]srcdir[)}]/([\w./-]+?)["']?\s*&&\s*(?:\$\(SHELL\)|sh)\s+(?:\./)?([\w.-]+)""")


def _scripts_run_by_rules(tag: Mapping[str, bytes]) -> dict[str, str]:
    """Shell scripts of the tag that a recipe of the tag's ``Makefile.am`` runs
    (``cd "$(srcdir)/po4a" && sh update-po``): {script path: "Makefile.am:line"}."""
    out: dict[str, str] = {}
    for path in sorted(p for p in tag if posixpath.basename(p) == "Makefile.am"):
        d = posixpath.dirname(path)
        for n, line in enumerate(tag[path].decode("utf-8", "replace").split("\n"), 1):
            if not line.startswith("\t"):
                continue
            for sub, script in _SH_IN_DIR.findall(line):
                target = posixpath.normpath(posixpath.join(d, sub, script))
                if not target.startswith("..") and target in tag:
                    out.setdefault(target, f"{path}:{n}")
    return out


def _write(name: str, text: str) -> str:
    """Shell that writes ``text`` to ``name`` (a here-document with a delimiter the text lacks)."""
    tag = "PROVCHECK_EOF"
    while tag in text:
        tag += "_"
    return f"cat > {name} <<'{tag}'\n{text}\n{tag}\n"


_FOOTER = re.compile(rb"\n([A-Za-z][\w .+-]{0,40}?)\s{2,}[A-Z][a-z]+ \d{1,2}, \d{4}\s{2,}\1\s*\n?$")


def _formatters(recipe: list[str], variables: list[str], release: Mapping[str, Callable[[], bytes]],
                d: str) -> list[str]:
    """The commands configure may put in ``$(MANFMT)``: mandoc (with the operating-system name its
    footer shows in the release's pages) and nroff."""
    out = []
    systems: set[bytes] = set()
    for p in sorted(release):
        if posixpath.dirname(p) == d and p.endswith(".0"):
            m = _FOOTER.search(release[p]()[-400:])
            if m:
                systems.add(m.group(1))
            if len(systems) > 1:
                break
    if len(systems) == 1 and shutil.which("mandoc"):
        name = next(iter(systems)).decode("ascii", "replace")
        if re.fullmatch(r"[\w .+-]+", name):
            out.append(f"mandoc '-Ios={name}'")
    if shutil.which("mandoc"):
        out.append("mandoc")
    out.append("nroff -mandoc")
    return out


_SET_LINE = re.compile(rb"^@set [A-Z-]+ [^\n@]*$")


def _info_job(directory: str, rel: str, tag: Mapping[str, bytes],
              release: Mapping[str, Callable[[], bytes]]) -> DocJob | None:
    """automake's rule, run where its Makefile.am is: ``makeinfo -I DIR -o STEM.info REL`` (the
    Info file names the input as given)."""
    texi = posixpath.normpath(posixpath.join(directory, rel))
    if texi not in tag or ".." in rel.split("/") or not re.fullmatch(r"[\w./+-]+", rel):
        return None
    d = posixpath.dirname(texi)
    stem = rel.rsplit(".", 1)[0]
    extra = {}
    vt = posixpath.join(d, "version.texi") if d else "version.texi"
    if vt not in tag and vt in release:
        data = release[vt]()
        lines = [x for x in data.split(b"\n") if x.strip()]
        if not lines or not all(_SET_LINE.match(x) for x in lines) or len(lines) > 8:
            return None  # only @set stamps may come from the release
        extra[vt] = data
    return DocJob(f"makeinfo of {texi} (automake's info_TEXINFOS rule)", directory,
                  f"makeinfo --no-split -I {posixpath.dirname(rel) or '.'} -o {stem}.info {rel}", extra=extra)


# -- running ----------------------------------------------------------------------------------------

def _git_dir(repo: str | None) -> Path | None:
    """The source repository's git directory, when it has the full history."""
    if not repo:
        return None
    try:
        out = subprocess.run(["git", "-C", repo, "rev-parse", "--absolute-git-dir"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    git = Path(out.stdout.strip())
    return None if (git / "shallow").exists() or not (git / "objects").is_dir() else git


def _fake_git(root: Path, commit: str) -> None:
    """A ``.git`` at the tag's commit whose objects are the repository's, bound read-only."""
    git = root / ".git"
    for d in ("objects/info", "refs/heads", "refs/tags"):
        (git / d).mkdir(parents=True, exist_ok=True)
    (git / "HEAD").write_text(commit + "\n")
    (git / "config").write_text("[core]\n\trepositoryformatversion = 0\n\tbare = false\n")
    (git / "objects/info/alternates").write_text(WORK_GIT + "\n")


def _tool_stamps(data: bytes) -> dict[str, str]:
    head = data[:4096] + data[-8192:] if len(data) > 12288 else data
    return {tool: m.group(1).decode("latin-1") for tool, rx in VERSION_STAMPS for m in [rx.search(head)] if m}


def pdf_normalise(data: bytes) -> bytes:
    """A PDF without what changes from run to run: creation/modification dates, document ids,
    stream lengths of the metadata and the cross-reference offsets that follow from them.
    The page content streams are compared as they are."""
    data = re.sub(rb"\(D:[0-9]{4,14}(?:Z|[+-])?[0-9']*\)", b"(D:)", data)
    data = re.sub(rb"<xmp:(\w*Date)>[^<]*</xmp:\1>", rb"<xmp:\1></xmp:\1>", data)
    data = re.sub(rb"uuid:[0-9a-f-]+", b"uuid:", data)
    data = re.sub(rb"/ID ?\[ ?<[0-9A-Fa-f]+> ?<[0-9A-Fa-f]+> ?\]", b"/ID[]", data)
    data = re.sub(rb"/Length \d+", b"/Length", data)
    data = re.sub(rb"\nxref\n.*?\ntrailer", b"\nxref trailer", data, flags=re.S)
    return re.sub(rb"startxref\s+\d+", b"startxref", data)


def judge(path: str, regenerated: bytes, release: bytes, job: str, known: list[rg.KnownDifference]) -> rg.FileResult:
    """The reproduction verdict of one documentation file."""
    size = len(release)
    if regenerated == release:
        return rg.FileResult(path, rg.REPRODUCED, toolchain=job, size=size)
    mine, theirs = _tool_stamps(regenerated), _tool_stamps(release)
    other = {t: (v, mine[t]) for t, v in theirs.items() if t in mine and mine[t] != v}
    if other:
        return rg.FileResult(path, rg.NOT_REPRODUCIBLE, toolchain=job, size=size, reason="made with " + ", ".join(
            f"{t} {v}, this system has {m}" for t, (v, m) in sorted(other.items())))
    if path.endswith(".pdf") or release[:5] == b"%PDF-":
        if pdf_normalise(regenerated) == pdf_normalise(release):
            return rg.FileResult(path, rg.REPRODUCED, toolchain=job, size=size,
                                 reason="identical but for dates, document ids and offsets")
        regenerated, release = _pdf_text(regenerated), _pdf_text(release)
    hunks = rg.compare_output(path, regenerated, release, known)
    status = rg.DIFFERS if any(h.kind == "unexplained" for h in hunks) else rg.REPRODUCED
    fr = rg.FileResult(path, status, toolchain=job, size=size, hunks=hunks)
    if status == rg.DIFFERS:
        added = "\n".join(t for h in fr.unexplained() for _, t in h.added)
        fr.risk = [h.to_dict() for h in risk.analyse(added.encode("latin-1", "replace"))[:20]]
    return fr


def _pdf_text(data: bytes) -> bytes:
    """A PDF's normalised bytes as lines (compressed streams stay opaque): what a diff can show."""
    return b"\n".join(x[:200] for x in pdf_normalise(data).split(b"\n"))


def run(jobs: list[DocJob], tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]],
        known: list[rg.KnownDifference], *, repo: str | None = None, commit: str = "",
        work_dir: Path | None = None, limits: Any = None, skip: set[str] | frozenset[str] = frozenset()) -> DocResult:
    """Run every job in its own sandboxed copy of the tag and judge the release files each writes
    (files of the tag, and ``skip``, are left out: they have their verdicts)."""
    from provcheck import sandbox
    out = DocResult()
    if not jobs:
        return out
    why = sandbox.unavailable_reason()
    git = _git_dir(repo) if any(j.git for j in jobs) else None
    for job in jobs:
        if why is not None:
            out.steps.append({"step": job.name, "skipped": f"sandbox unavailable: {why}"})
            continue
        if job.git and (git is None or not re.fullmatch(r"[0-9a-f]{40}", commit)):
            out.steps.append({"step": job.name, "skipped": "needs the tag's git history: no repository with the "
                                                           "full history (a shallow clone, or no --source repository)"})
            continue
        best: dict[str, rg.FileResult] | None = None
        for script in [job.script, *job.alternatives]:
            produced, record = _run_one(job, script, tag, git, commit, work_dir, limits)
            out.steps.append(record)
            results = {}
            for p, data in produced.items():
                if p not in release or p in skip or not JOB_OUTPUT.search(p):
                    continue
                rel = release[p]()
                if tag.get(p) != rel:  # a file identical to the tag's is verified by the tag
                    results[p] = judge(p, data, rel, job.name, known)
            good = sum(1 for r in results.values() if r.status == rg.REPRODUCED)
            if best is None or good > sum(1 for r in best.values() if r.status == rg.REPRODUCED):
                best = results
            if results and good == len(results):
                break
        for p, r in (best or {}).items():
            out.files.setdefault(p, r)
    return out


def _run_one(job: DocJob, script: str, tag: Mapping[str, bytes], git: Path | None, commit: str,
             work_dir: Path | None, limits: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    from provcheck import sandbox
    base = Path(tempfile.mkdtemp(prefix="docgen-", dir=work_dir))
    root = base / "build"
    try:
        root.mkdir()
        files = {**tag, **job.extra}
        total = 0
        for path, data in files.items():
            total += len(data)
            if total > MAX_TREE:
                break
            target = root / path
            if not target.resolve().is_relative_to(root.resolve()):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        # the formatters' own configuration is part of the toolchain (Debian's groff man.local: no SGR escapes)
        binds: list[tuple[Path, str]] = [(Path(c), c) for c in FORMATTER_CONFIG if Path(c).is_dir()]
        env = {"SOURCE_DATE_EPOCH": rg.SOURCE_DATE_EPOCH, "TZ": "UTC", "LC_ALL": "C.UTF-8", "GIT_PAGER": "cat",
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory",
               "GIT_CONFIG_VALUE_0": "*"}
        if job.git and git is not None:
            _fake_git(root, commit)
            binds.append((git / "objects", WORK_GIT))
        cwd = root / job.directory if job.directory else root
        cwd.mkdir(parents=True, exist_ok=True)
        rel = job.directory or "."
        res = sandbox.run(["/bin/sh", "-c", f"cd {_quote(rel)} && {script}"], workdir=root, binds=binds, env=env,
                          limits=limits or sandbox.SandboxLimits(seconds=300.0))
        record = {"step": job.name, "returncode": res.returncode, "killed": res.killed,
                  "seconds": round(res.seconds, 3), "stderr": rg._tail(res.stderr, 1000)}
        produced: dict[str, bytes] = {}
        for dirpath, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if not (dirpath == str(root) and x == ".git")]
            for n in names:
                p = Path(dirpath) / n
                if p.is_symlink() or not p.is_file():
                    continue
                r = p.relative_to(root).as_posix()
                if f"/{DIST_DIR}/" in f"/{r}":  # a dist-hook's distdir is the top of the release
                    head, _, tail = f"/{r}".partition(f"/{DIST_DIR}/")
                    r = posixpath.join(head.strip("/"), tail) if head.strip("/") else tail
                data = p.read_bytes()
                if files.get(r) != data:
                    produced[r] = data
        return produced, record
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def digest() -> str:
    """This module's code, for the result cache key."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def is_doc(path: str) -> bool:
    """Documentation the build never executes (its differences are graded as prose)."""
    return bool(DOC_OUTPUT.search(path)) and not path.endswith((".sh", ".py", ".pl"))


__all__ = ["DocJob", "DocResult", "plan", "run", "judge", "pdf_normalise", "is_doc", "digest"]
