"""A git tree at a ref, read with git itself: ``ls-tree -r -z`` and ``cat-file --batch``.

Not ``git archive``: it applies ``export-ignore`` and ``export-subst`` and so hides
exactly the files a release-vs-source comparison must see. Replace refs and the user's
and system's git config are ignored, so a hostile repository cannot change what is read.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import hookimpl
from ..config import InputSpec
from ..model import InputError, ToolError
from ..vfs import DIR, FILE, SYMLINK, Artifact, Node, Tree

if TYPE_CHECKING:
    from ..engine import LoadContext

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_NO_REPLACE_OBJECTS": "1",
           "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
GIT_OPTS = ["-c", "safe.directory=*", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=" + os.devnull]


def git(repo: str | os.PathLike, *args: str, input: bytes | None = None) -> bytes:
    """Run git on ``repo`` with the safe environment; InputError on failure."""
    import subprocess  # when git runs: not at every start
    env = dict(os.environ, **GIT_ENV)
    try:
        proc = subprocess.run(["git", *GIT_OPTS, "-C", os.fspath(repo), *args], input=input,
                              capture_output=True, env=env, timeout=600)
    except FileNotFoundError:
        raise InputError("git is not installed") from None
    if proc.returncode:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"{repo}: git {args[0]} failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout


def is_repo(path: Path) -> bool:
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def resolve_ref(repo: str | os.PathLike, ref: str | None) -> str:
    return git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
               f"{ref or 'HEAD'}^{{commit}}").decode().strip()


def tags(repo: str | os.PathLike) -> list[str]:
    return git(repo, "tag", "--list").decode("utf-8", "replace").split()


def ls_tree(repo: Path, commit: str) -> list[tuple[str, str, str, str]]:
    """``git ls-tree -r -t`` of ``commit``: (mode, type, object id, path) for every entry."""
    entries = []
    for record in git(repo, "ls-tree", "-r", "-t", "-z", "--full-tree", commit).split(b"\0"):
        if record:
            meta, _, raw_path = record.partition(b"\t")
            mode, otype, sha = meta.decode().split()
            entries.append((mode, otype, sha, raw_path.decode("utf-8", "backslashreplace")))
    return entries


def entry_node(mode: str, otype: str, sha: str, path: str, name: str, errors: list[ToolError]) -> Node:
    """The tree node of one ls-tree entry (content not read); a submodule is an error."""
    if otype == "tree":
        return Node(path=path, type=DIR, mode=0o755)
    if otype == "commit":  # submodule: content lives elsewhere
        errors.append(ToolError(stage="load", artifact=name, path=path,
                                message=f"submodule at {sha[:12]} not read (only this repository's tree is scanned)"))
        return Node(path=path, type="other", mode=0o160000, link_target=sha)
    return Node(path=path, type=SYMLINK if mode == "120000" else FILE, mode=int(mode, 8) & 0o7777 or 0o644)


def read_git_tree(repo: Path, commit: str, name: str, ctx: Any) -> tuple[Tree, list[ToolError]]:
    """The tree at ``commit``; blobs missing from a partial or damaged clone are errors, not fatal."""
    tree = Tree(ctx.store)
    blobs: list[tuple[str, Node]] = []
    errors: list[ToolError] = []
    for mode, otype, sha, path in ls_tree(repo, commit):
        node = tree.nodes[path] = entry_node(mode, otype, sha, path, name, errors)
        if otype == "blob":
            blobs.append((sha, node))
    if len(blobs) > ctx.limits.max_files:
        raise InputError(f"{name}: {len(blobs)} files, more than the limit max-files={ctx.limits.max_files}")
    for node in cat_blobs(repo, blobs, ctx):
        del tree.nodes[node.path]
        errors.append(ToolError(stage="load", artifact=name, path=node.path,
                                message="blob missing from the repository (partial or damaged clone); not scanned"))
    return tree, errors


def cat_blobs(repo: Path, blobs: list[tuple[str, Node]], ctx: "LoadContext") -> list[Node]:
    """Read every blob into the store; returns the nodes whose object is missing."""
    import subprocess
    env = dict(os.environ, **GIT_ENV)
    proc = subprocess.Popen(["git", *GIT_OPTS, "-C", os.fspath(repo), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)

    assert proc.stdin is not None and proc.stdout is not None  # both are PIPEs

    def feed() -> None:
        assert proc.stdin is not None
        try:
            for sha, _ in blobs:
                proc.stdin.write(sha.encode() + b"\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass

    threading.Thread(target=feed, daemon=True).start()
    out = proc.stdout
    total = 0
    missing = []
    try:
        for _sha, node in blobs:
            header = out.readline().split()
            if len(header) == 2 and header[1] == b"missing":
                missing.append(node)
                continue
            if len(header) != 3 or header[1] != b"blob":
                raise InputError(f"{repo}: git cat-file gave no blob for {node.path}")
            size = int(header[2])
            total += size
            if size > ctx.limits.max_file_bytes or total > ctx.limits.max_total_bytes:
                raise InputError(f"{repo}: {node.path}: over the size limits")
            writer = ctx.store.writer()
            remaining = size
            while remaining:
                block = out.read(min(remaining, 1 << 20))
                if not block:
                    writer.abort()
                    raise InputError(f"{repo}: git cat-file output ended inside {node.path}")
                writer.write(block)
                remaining -= len(block)
            out.read(1)  # newline after content
            node.sha256, node.size = writer.commit(), size
            if node.type == SYMLINK:
                node.link_target = ctx.store.read(node.sha256).decode("utf-8", "backslashreplace")
    finally:
        proc.kill()
        proc.wait()
    return missing


@hookimpl(tryfirst=True)
def provcheck_load_input(spec: InputSpec, ctx: Any) -> Artifact | None:
    path = Path(spec.path)
    bare = spec.type is None and path.is_dir() and (path / "HEAD").is_file() and (path / "objects").is_dir()
    if spec.type != "git" and not bare:
        return None
    if not path.is_dir() or not is_repo(path):
        raise InputError(f"{spec.path}: not a git repository")
    try:
        commit = resolve_ref(path, spec.ref)
    except InputError:
        raise InputError(f"{spec.path}: no commit, tag or branch named {spec.ref or 'HEAD'!r}") from None
    label = (path.resolve().name.removesuffix(".git") or "repo") + f"@{spec.ref or 'HEAD'}"
    tree, errors = read_git_tree(path, commit, label, ctx)
    return Artifact(name=label, role=spec.role, kind="git", tree=tree, source=spec.text,
                    metadata={"commit": commit, "ref": spec.ref or "HEAD", "repository": str(path.resolve())},
                    errors=errors)
