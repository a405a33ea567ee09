"""The release detector: which source to compare with, reading ahead, and the comparison.

Imported on first use (``provcheck_configure`` / ``provcheck_detect``): every provcheck
command imports every installed plugin, so the package itself stays small.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Mapping

import provcheck
from provcheck import InputSpec, ProvcheckError
from provcheck.formats import git as gitmod

from . import knowledge as _knowledge
from .compare import compare, file_map, single_top
from .gitsource import Listing, closer_commit, list_tree, load_git_against
from .m4db import default_db
from .rules import PC109
from .tags import find_tag, names_and_version

STASH_KEY = "provcheck_release.comparisons"


def release_names(artifact: provcheck.Artifact) -> tuple[list[str], str | None]:
    """Project names and the version guessed from the release's top directory and file name."""
    return names_and_version((single_top(artifact.tree), artifact.name))


def _repo_path(source: provcheck.Artifact) -> Path | None:
    if source.kind == "git":
        repo = source.metadata.get("repository")
        return Path(repo) if repo else None
    if source.kind == "directory":
        path = Path(InputSpec.parse(source.source).path) if source.source else None
        if path is not None and source.tree.get(".git") is not None and path.is_dir():
            return path
    return None


def resolve_source(scan: Any, release: provcheck.Artifact, source: provcheck.Artifact,
                   options: Mapping[str, Any]) -> tuple[provcheck.Artifact, list[provcheck.Finding]]:
    """Pick the git tree to compare with: ``ref`` when given, else the release's tag when
    the source is a repository loaded at HEAD (or a work tree)."""
    repo = _repo_path(source)
    ref = options.get("ref")
    explicit = source.kind == "git" and "@" in (source.source or "")
    if repo is None or (explicit and not ref):
        return source, []
    if not ref:
        names, version = release_names(release)
        if version is None:
            return source, [PC109.finding(location=provcheck.Location(artifact=release.name), key="no-version",
                                          severity=provcheck.Severity.LOW,
                                          message=f"no version in the release name {release.name!r}; compared with "
                                                  f"{source.name} as loaded", evidence={})]
        tag, tried = find_tag(gitmod.tags(repo), names, version)
        if tag is None:
            return source, [PC109.finding(
                location=provcheck.Location(artifact=release.name), key="no-tag", severity=provcheck.Severity.LOW,
                message=f"no tag for version {version} in {repo.name} (tried {', '.join(tried[:8])}, ...); "
                        f"compared with {source.name} as loaded", evidence={"tried": tried})]
        ref = tag
    return git_source(scan, release, repo, ref), []


def git_source(scan: Any, release: provcheck.Artifact, repo: Path, ref: str,
               listed: Listing | None = None) -> provcheck.Artifact:
    """The tag's tree, reading from git only the blobs that differ from the release."""
    key = (STASH_KEY, "source", str(repo), ref, release.name)
    if key not in scan.stash:
        files, ids = file_map(release, single_top(release.tree)), {}
        source = load_git_against(repo, ref, files, release.tree, scan.ctx, listed, ids)
        differing = source.metadata["differing"]
        closer = closer_commit(repo, ref, len(differing), files, release.tree, ids) if len(differing) >= 2 else None
        if closer is not None:  # made from another commit than the tag: compared with that one, and said so
            source = load_git_against(repo, closer[0], files, release.tree, scan.ctx, None, ids)
            source.metadata["made_from"] = {"tag": ref, "tag_differing": len(differing), "commit": closer[0],
                                            "differing": closer[1], "differ_from_tag": differing[:50]}
        scan.stash[key] = source
    return scan.stash[key]


def made_from_note(release: provcheck.Artifact, source: provcheck.Artifact) -> list[provcheck.Finding]:
    """PC109 when the release matches a commit near the tag far better than the tag itself."""
    made = source.metadata.get("made_from")
    if not made:
        return []
    return [PC109.finding(
        location=provcheck.Location(artifact=release.name), key="other-commit",
        message=f"the release was made from {made['commit']} ({source.metadata['commit'][:12]}), not from "
                f"{made['tag']}: {made['tag_differing']} files it shares with the tag differ (it lacks the tag's "
                f"changes to them), {made['differing']} with that commit; compared with that commit",
        evidence={**made, "commit_id": source.metadata["commit"]})]


# -- reading ahead --------------------------------------------------------------------------
# `provcheck release` knows its repository and tag before the engine unpacks the release
# (decompression runs in C, off the GIL): the m4 index, the build-system data and the
# tag's file listing are read on a second thread meanwhile. The detector waits for them;
# anything that failed ahead is simply done again (and reported) on the detector's path.
_AHEAD: dict[int, Future] = {}


def _prefetch(options: Mapping[str, Any]) -> Listing | None:
    _knowledge.builtin()
    if not options.get("m4-database"):
        default_db()
    repo, ref = options.get("source-repo"), options.get("ref")
    if repo:
        return list_tree(Path(repo), str(ref or "HEAD"))
    return None


def read_ahead(config: Any, options: Mapping[str, Any]) -> None:
    pool = ThreadPoolExecutor(1, thread_name_prefix="provcheck-release-ahead")
    _AHEAD[id(config)] = pool.submit(_prefetch, options)
    pool.shutdown(wait=False)


def _ahead(scan: Any) -> Listing | None:
    future = _AHEAD.pop(id(scan.config), None)
    try:
        return future.result() if future is not None else None
    except Exception:  # done again on the detector's own path, which reports it properly
        return None


def knowledge_for(scan: Any, options: Mapping[str, Any]) -> _knowledge.Knowledge:
    extra: list[Any] = []
    pm = getattr(getattr(scan, "ctx", None), "pm", None)
    hook = getattr(getattr(pm, "hook", None), "provcheck_release_buildsystems", None)
    if hook is not None:
        for result in hook():
            extra.extend(result or ())
    return _knowledge.load(options, extra)


TOOLCHAIN_UNITS = ("trees/*", "debs/*", "apt/*")  # what the cache's prune may evict: one tree, .deb, suite index


def _caches(scan: Any) -> dict[str, Any]:
    """The regeneration cache (provcheck's one cache, ``--cache-dir``/``$PROVCHECK_CACHE_DIR``; off
    with ``--no-cache``) and the unpacked toolchains' directory in it (``dirs/toolchains``); with
    ``--no-cache``, a directory of this run's work area (removed with it), never the cache's."""
    cache = getattr(scan, "cache", None)
    if cache is not None:
        return {"_cache": cache, "_toolchains": cache.directory("toolchains", units=TOOLCHAIN_UNITS)}
    toolchains = Path(scan.ctx.work_dir) / "toolchains"
    toolchains.mkdir(parents=True, exist_ok=True)
    return {"_cache": None, "_toolchains": toolchains}


def detect(scan: Any, options: Mapping[str, Any]) -> Iterable[provcheck.Finding]:
    """``options``: the plugin's options merged (see the package's ``_options``)."""
    listed = _ahead(scan)
    source = scan.artifact("source")
    repo = options.get("source-repo")  # `provcheck release` passes a git source this way (read lazily)
    try:
        k = knowledge_for(scan, options)
    except _knowledge.KnowledgeError as exc:
        raise ProvcheckError(str(exc)) from None
    db_path = options.get("m4-database")

    def db():
        return default_db(str(db_path)) if db_path else default_db()
    findings: list[provcheck.Finding] = []
    for release in scan.targets:
        if source is None:
            src, notes = git_source(scan, release, Path(repo), str(options.get("ref") or "HEAD"), listed), []
            scan.errors.extend(src.errors)
        else:
            src, notes = resolve_source(scan, release, source, options)
        findings += notes + made_from_note(release, src)
        cmp = compare(release, src, k, db, {**options, "_work_dir": getattr(scan.ctx, "work_dir", None),
                                            **_caches(scan)})
        findings += cmp.findings
        regen = cmp.regeneration or {}
        if regen.get("mode") == "always" and regen.get("status") not in ("done", "skipped"):
            scan.errors.append(provcheck.ToolError(
                stage="detect", plugin="release", artifact=release.name,
                message=f"--regenerate always: regeneration {regen.get('status')}: {regen.get('reason')}"))
        scan.extras.setdefault("release", {})[release.name] = cmp.to_dict()
        scan.stash.setdefault("full-diffs", {})[release.name] = cmp.diffs  # for the HTML report
    return findings
