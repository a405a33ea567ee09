"""A git tag read only as far as the comparison needs it.

The core git loader copies every blob of the tree into the blob store. Comparing with a
release, most files are identical: their git blob id (sha1 of ``blob SIZE\\0DATA``) can be
computed from the release's copy and checked against ``git ls-tree``, so only the blobs
that differ (or that the release lacks) are read with ``git cat-file --batch``. The result
is an ordinary :class:`provcheck.Artifact` whose identical files share the release's blobs;
files only in the tag are listed but not read (no content, their git blob id in
``metadata["unread_blobs"]``), except ``.gitattributes``.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from pathlib import Path
from typing import Any, Iterator

from provcheck import Artifact, InputError, Node, ToolError, Tree
from provcheck.formats import git as gitmod
from provcheck import FILE, SYMLINK

from .compare import project_subdir
from .ecosystems import onto_source


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def git_blob_id_of(tree: Tree, node: Node) -> str:
    """The git blob id of a stored file, hashed in 1 MiB blocks (release members can be big)."""
    h = hashlib.sha1(b"blob %d\0" % node.size)
    with tree.open(node) as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


Listing = tuple[str, list[tuple[str, str, str, str]]]  # (commit, git ls-tree entries)


def list_tree(repo: Path, ref: str) -> Listing:
    """(commit, ``git ls-tree`` entries) of ``ref``: what the comparison reads first, and
    what the plugin starts reading while the engine still unpacks the release."""
    try:
        commit = gitmod.resolve_ref(repo, ref)
    except InputError:
        raise InputError(f"{repo}: no commit, tag or branch named {ref!r}") from None
    return commit, gitmod.ls_tree(repo, commit)


def _pairs(entries: list[tuple[str, str, str, str]], release_files: dict[str, Node]) -> Iterator[
        tuple[str, str, str, str, Node | None]]:
    """Each ``ls-tree`` entry with the release file at its path (None when the release lacks it)."""
    blobs = [path for _, otype, _, path in entries if otype == "blob"]
    release_files = onto_source(release_files, blobs)
    sub = project_subdir(set(release_files), set(blobs))
    cut = len(sub) + 1 if sub else 0
    for mode, otype, sha, path in entries:
        r = release_files.get(path[cut:]) if not sub or path.startswith(sub + "/") else None
        yield mode, otype, sha, path, r


def _same(otype_file: bool, sha: str, r: Node, release_tree: Tree, ids: dict[str | None, str]) -> bool:
    """Whether the release file ``r`` is the blob ``sha`` (a file, or a symlink's target)."""
    if not otype_file:
        return r.type == SYMLINK and git_blob_id((r.link_target or "").encode("utf-8", "surrogateescape")) == sha
    if not r.is_file:
        return False
    blob_id = ids.get(r.sha256)
    if blob_id is None:
        blob_id = ids[r.sha256] = git_blob_id_of(release_tree, r)
    return blob_id == sha


def load_git_against(repo: Path, ref: str, release_files: dict[str, Node], release_tree: Tree,
                     ctx: Any, listed: Listing | None = None, ids: dict[str | None, str] | None = None) -> Artifact:
    """The tree of ``repo`` at ``ref``; files identical to ``release_files`` (paths already
    relative to the release's top directory) are not read from git. ``listed`` is
    :func:`list_tree`'s result when it was read ahead; ``ids``: release files' git blob ids by
    sha256, kept across calls. ``metadata["differing"]``: the paths both have that differ."""
    commit, entries = listed or list_tree(repo, ref)
    name = (repo.resolve().name.removesuffix(".git") or "repo")
    if name == "repo" and repo.resolve().parent.name:  # a mirror layout: owner+name/repo
        name = repo.resolve().parent.name.split("+")[-1]
    label = f"{name}@{ref}"
    tree = Tree(ctx.store)
    need: list[tuple[str, Node]] = []
    unread: dict[str, str] = {}
    ids = {} if ids is None else ids
    errors: list[ToolError] = []
    differing: list[str] = []
    for mode, otype, sha, path, r in _pairs(entries, release_files):
        node = tree.nodes[path] = gitmod.entry_node(mode, otype, sha, path, label, errors)
        if otype != "blob":
            continue
        if r is None and posixpath.basename(path) != ".gitattributes":
            unread[path] = sha  # only in the source: its path decides the verdict, its content nothing
            continue
        if r is not None and node.type in (FILE, SYMLINK) and _same(node.type == FILE, sha, r, release_tree, ids):
            if node.type == SYMLINK:
                node.link_target = r.link_target
                node.sha256 = hashlib.sha256((r.link_target or "").encode("utf-8", "surrogateescape")).hexdigest()
            else:
                node.sha256, node.size = r.sha256, r.size
            continue
        if r is not None:
            differing.append(path)
        need.append((sha, node))
    if len(tree.nodes) > ctx.limits.max_files:
        raise InputError(f"{label}: {len(tree.nodes)} entries, more than the limit max-files={ctx.limits.max_files}")
    for node in gitmod.cat_blobs(repo, need, ctx) if need else ():  # the blobs that differ, into the store
        del tree.nodes[node.path]
        errors.append(ToolError(stage="load", artifact=label, path=node.path,
                                message="blob missing from the repository (partial or damaged clone); not compared"))
    return Artifact(name=label, role="source", kind="git", tree=tree, source=f"git:{os.fspath(repo)}@{ref}",
                    metadata={"commit": commit, "ref": ref, "repository": str(repo.resolve()),
                              "blobs_read": len(need), "unread_blobs": unread, "differing": differing},
                    errors=errors)


# where else a release may have been made from: the tag's first-parent ancestors, a merge's other
# parent (libconfig 1.5's tag is a merge made after the release, which equals the merge's first parent)
NEARBY = ("~1", "^2", "~2", "~3", "~4", "~5", "~6", "~7", "~8")


def closer_commit(repo: Path, ref: str, differing: int, release_files: dict[str, Node], release_tree: Tree,
                  ids: dict[str | None, str]) -> tuple[str, int] | None:
    """A commit near ``ref`` (:data:`NEARBY`, as ``REF~N``/``REF^2``) whose files the release
    matches far better: at most half as many shared files differ, and two fewer at least; the
    first of the fewest. None when ``ref`` is as good (or no such commit exists)."""
    best: tuple[str, int] | None = None
    for suffix in NEARBY:
        try:
            listed = list_tree(repo, ref + suffix)
        except InputError:
            continue
        count = sum(1 for mode, otype, sha, path, r in _pairs(listed[1], release_files)
                    if otype == "blob" and r is not None
                    and not (mode in ("100644", "100755", "120000")
                             and _same(mode != "120000", sha, r, release_tree, ids)))
        if count * 2 <= differing and count <= differing - 2 and (best is None or count < best[1]):
            best = (ref + suffix, count)
    return best
