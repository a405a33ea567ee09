"""A directory or root filesystem, read without following any symlink.

The walk only lists (``lstat``): names, types, sizes, modes, link targets. A file's
content is hashed when something asks for it (``LazyNode``), once, from the descriptor
its content is then read from; see ``vfs.HostFile``."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from .. import hookimpl
from ..config import InputSpec
from ..engine_rules import PC903, PC904
from ..model import InputError, ToolError
from ..vfs import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SOCKET, SYMLINK, Artifact, HostFile, LazyNode, Node, Tree

_SPECIAL = {stat.S_IFCHR: CHAR, stat.S_IFBLK: BLOCK, stat.S_IFIFO: FIFO, stat.S_IFSOCK: SOCKET}


def _reporter(errors: list[ToolError], name: str, rel: str):
    return lambda why: errors.append(ToolError(stage="load", artifact=name, path=rel, message=why))


def read_directory(root: Path, name: str, ctx: Any) -> tuple[Tree, list, list[ToolError]]:
    tree = Tree(ctx.store)
    findings: list = []
    errors: list[ToolError] = []
    inodes: dict[tuple[int, int], str] = {}
    budget_files = 0
    stack = [("", os.fspath(root))]
    while stack:
        rel_dir, host_dir = stack.pop()
        try:
            entries = sorted(os.scandir(host_dir), key=lambda e: e.name)
        except OSError as exc:
            errors.append(ToolError(stage="load", artifact=name, path=rel_dir or ".", message=f"cannot list: {exc.strerror}"))
            continue
        for e in entries:
            rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
            budget_files += 1
            if budget_files > ctx.limits.max_files:
                errors.append(ToolError(stage="load", artifact=name, path=rel,
                                        message=f"more than {ctx.limits.max_files} entries (limit max-files); rest not read"))
                return tree, findings, errors
            try:
                st = e.stat(follow_symlinks=False)
            except OSError as exc:
                errors.append(ToolError(stage="load", artifact=name, path=rel, message=f"cannot stat: {exc.strerror}"))
                continue
            node = Node(path=rel, type=FILE, mode=st.st_mode, uid=st.st_uid, gid=st.st_gid, mtime=int(st.st_mtime))
            fmt = stat.S_IFMT(st.st_mode)
            if fmt == stat.S_IFLNK:
                node.type, node.link_target = SYMLINK, os.readlink(e.path)
            elif fmt == stat.S_IFDIR:
                node.type = DIR
                stack.append((rel, e.path))
            elif fmt == stat.S_IFREG:
                key = (st.st_dev, st.st_ino)
                limit = ctx.limits.max_file_bytes
                if st.st_size > limit:
                    errors.append(ToolError(stage="load", artifact=name, path=rel,
                                            message=f"cannot read: more than {limit} bytes"))
                    continue
                first = tree.nodes.get(inodes.get(key, "")) if st.st_nlink > 1 else None
                if isinstance(first, LazyNode):
                    node = LazyNode(path=rel, type=HARDLINK, mode=st.st_mode, uid=st.st_uid, gid=st.st_gid,
                                    mtime=int(st.st_mtime), link_target=first.path, size=first.size)
                    node.content = first.content
                else:
                    node = LazyNode(path=rel, type=FILE, mode=st.st_mode, uid=st.st_uid, gid=st.st_gid,
                                    mtime=int(st.st_mtime), size=st.st_size)
                    node.content = HostFile(e.path, st, ctx.store, limit, _reporter(errors, name, rel))
                    inodes[key] = rel
                if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                    findings.append(PC904.finding(location=node.location(name), key=rel,
                                                  message=f"setuid/setgid file {rel!r} (mode {st.st_mode & 0o7777:04o})",
                                                  evidence={"mode": f"{st.st_mode & 0o7777:04o}", "uid": st.st_uid}))
            else:
                node.type = _SPECIAL.get(fmt, "other")
                findings.append(PC903.finding(location=node.location(name), key=rel,
                                              message=f"{node.type} special file {rel!r} (recorded, no content)",
                                              evidence={"type": node.type}))
            tree.nodes[rel] = node
    return tree, findings, errors


@hookimpl(trylast=True)
def provcheck_load_input(spec: InputSpec, ctx: Any) -> Artifact | None:
    if spec.type not in (None, "dir", "rootfs"):
        return None
    root = Path(spec.path)
    if not root.is_dir():
        if spec.type is not None:
            raise InputError(f"{spec.path}: not a directory")
        return None
    tree, findings, errors = read_directory(root, root.resolve().name or "/", ctx)
    return Artifact(name=root.resolve().name or "/", role=spec.role, kind="directory", tree=tree,
                    source=spec.text, findings=findings, errors=errors)
