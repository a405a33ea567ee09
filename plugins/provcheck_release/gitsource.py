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
from typing import Any

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


def load_git_against(repo: Path, ref: str, release_files: dict[str, Node], release_tree: Tree,
                     ctx: Any, listed: Listing | None = None) -> Artifact:
    """The tree of ``repo`` at ``ref``; files identical to ``release_files`` (paths already
    relative to the release's top directory) are not read from git. ``listed`` is
    :func:`list_tree`'s result when it was read ahead."""
    commit, entries = listed or list_tree(repo, ref)
    name = (repo.resolve().name.removesuffix(".git") or "repo")
    if name == "repo" and repo.resolve().parent.name:  # a mirror layout: owner+name/repo
        name = repo.resolve().parent.name.split("+")[-1]
    label = f"{name}@{ref}"
    tree = Tree(ctx.store)
    need: list[tuple[str, Node]] = []
    unread: dict[str, str] = {}
    ids: dict[str, str] = {}
    errors: list[ToolError] = []
    release_files = onto_source(release_files, [path for _, otype, _, path in entries if otype == "blob"])
    sub = project_subdir(set(release_files), {path for _, otype, _, path in entries if otype == "blob"})
    cut = len(sub) + 1 if sub else 0
    for mode, otype, sha, path in entries:
        node = tree.nodes[path] = gitmod.entry_node(mode, otype, sha, path, label, errors)
        if otype != "blob":
            continue
        r = release_files.get(path[cut:]) if not sub or path.startswith(sub + "/") else None
        if r is None and posixpath.basename(path) != ".gitattributes":
            unread[path] = sha  # only in the source: its path decides the verdict, its content nothing
            continue
        if r is not None:
            if node.type == SYMLINK and r.type == SYMLINK:
                if git_blob_id((r.link_target or "").encode("utf-8", "surrogateescape")) == sha:
                    node.link_target = r.link_target
                    node.sha256 = hashlib.sha256((r.link_target or "").encode("utf-8", "surrogateescape")).hexdigest()
                    continue
            elif node.type == FILE and r.is_file:
                blob_id = ids.get(r.sha256)
                if blob_id is None:
                    blob_id = ids[r.sha256] = git_blob_id_of(release_tree, r)
                if blob_id == sha:
                    node.sha256, node.size = r.sha256, r.size
                    continue
        need.append((sha, node))
    if len(tree.nodes) > ctx.limits.max_files:
        raise InputError(f"{label}: {len(tree.nodes)} entries, more than the limit max-files={ctx.limits.max_files}")
    for node in gitmod.cat_blobs(repo, need, ctx) if need else ():  # the blobs that differ, into the store
        del tree.nodes[node.path]
        errors.append(ToolError(stage="load", artifact=label, path=node.path,
                                message="blob missing from the repository (partial or damaged clone); not compared"))
    return Artifact(name=label, role="source", kind="git", tree=tree, source=f"git:{os.fspath(repo)}@{ref}",
                    metadata={"commit": commit, "ref": ref, "repository": str(repo.resolve()),
                              "blobs_read": len(need), "unread_blobs": unread}, errors=errors)
