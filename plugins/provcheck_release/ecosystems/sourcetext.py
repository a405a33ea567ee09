"""Every text file of the source, for "does this code appear anywhere in the source?".

The lazy git read (``gitsource``) leaves files only in the tag unread; they are read here
with one ``git cat-file --batch`` (bounded), never checked out or run.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

MAX_CORPUS = 96 << 20
MAX_FILE = 4 << 20
TEXT_EXT = re.compile(r"\.(?:[cm]?[jt]sx?|py|pyi|pyx|pxd|json|coffee|vue|svelte|flow|c|h|cc|cpp|rs|go|html?|"
                      r"md|rst|txt|toml|cfg|ini|ya?ml|sh|in)$", re.I)


def _cat_blobs(repo: str, shas: list[str]) -> list[bytes]:
    """Blob contents, in order, through one ``git cat-file --batch`` (sizes bounded)."""
    if not shas:
        return []
    proc = subprocess.run(["git", "-C", repo, "cat-file", "--batch"], input="".join(s + "\n" for s in shas).encode(),
                          capture_output=True, timeout=300, check=False)
    out, data, pos = [], proc.stdout, 0
    for _ in shas:
        end = data.find(b"\n", pos)
        if end < 0:
            break
        header = data[pos:end].split()
        pos = end + 1
        if len(header) != 3:  # "<sha> missing"
            out.append(b"")
            continue
        size = int(header[2])
        out.append(data[pos:pos + min(size, MAX_FILE)])
        pos += size + 1
    return out


def source_corpus(r: Any) -> str:
    """The source's text files (code, manifests, docs), NUL-separated."""
    parts: list[str] = []
    total = 0
    unread = r.unread
    for path, node in sorted(r.sfiles.items()):
        if path in unread or not node.is_file or node.size > MAX_FILE or not TEXT_EXT.search(path):
            continue
        data = r.c.read_s(path, MAX_FILE)
        total += len(data)
        if total > MAX_CORPUS:
            break
        parts.append(data.decode("utf-8", "replace"))
    repo = r.c.source.metadata.get("repository")
    wanted = [(p, sha) for p, sha in sorted(unread.items()) if TEXT_EXT.search(p)]
    if repo and wanted and total < MAX_CORPUS:
        for data in _cat_blobs(repo, [sha for _, sha in wanted]):
            total += len(data)
            if total > MAX_CORPUS:
                break
            parts.append(data.decode("utf-8", "replace"))
    return "\0".join(parts)


def read_unread(r: Any, path: str) -> bytes:
    """One file the lazy git read only listed."""
    repo = r.c.source.metadata.get("repository")
    sha = r.unread.get(path)
    if not repo or not sha:
        return b""
    return (_cat_blobs(repo, [sha]) or [b""])[0]
