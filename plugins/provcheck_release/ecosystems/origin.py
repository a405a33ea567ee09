"""Where a package says it comes from: repository and tag/commit from its own metadata.

``PKG-INFO``/``METADATA`` (``Project-URL``, ``Home-page``) and ``package.json``
(``repository``, the publish-time ``gitHead``). Read from the archive without unpacking it;
nothing is fetched.
"""

from __future__ import annotations

import json
import os
import re
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

MAX_META = 1 << 20
_FORGE = re.compile(r"https?://(?:www\.)?(?:github\.com|gitlab\.com|codeberg\.org|bitbucket\.org|git\.sr\.ht|"
                    r"salsa\.debian\.org)/[^/\s#?]+/[^/\s#?]+", re.I)
_SOURCE_LABELS = ("source", "source code", "repository", "code", "github", "gitlab", "git", "homepage", "home")


def normalise_repo(url: str) -> str:
    """``git+https://github.com/o/r.git``, ``github:o/r``, ``o/r``, ``git@github.com:o/r`` ->
    ``https://github.com/o/r`` (lower-cased host and path), '' when not a repository."""
    u = (url or "").strip()
    if not u:
        return ""
    m = re.fullmatch(r"(github|gitlab|bitbucket):([\w.-]+/[\w.-]+)", u)
    if m:
        u = f"https://{m.group(1)}.{'org' if m.group(1) == 'bitbucket' else 'com'}/{m.group(2)}"
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", u):
        u = f"https://github.com/{u}"
    u = re.sub(r"^git\+", "", u)
    u = re.sub(r"^(?:ssh://)?git@([^:/]+)[:/]", r"https://\1/", u)
    u = re.sub(r"^git://", "https://", u)
    m = _FORGE.match(u)
    if not m:
        return ""
    return m.group(0).lower().removesuffix(".git").replace("://www.", "://")


def read_members(path: Path, wanted: Any) -> dict[str, bytes]:
    """Members of an archive whose name ``wanted(name)`` accepts (bounded, never extracted)."""
    import libarchive
    out: dict[str, bytes] = {}
    with libarchive.file_reader(os.fspath(path)) as archive:
        for entry in archive:
            name = (entry.pathname or "").lstrip("./")
            if entry.isfile and wanted(name) and entry.size is not None and entry.size <= MAX_META:
                out[name] = b"".join(entry.get_blocks())
    return out


def describe(path: Path) -> dict[str, Any]:
    """{ecosystem, name, version, repository, commit, urls} from the artifact's metadata."""
    def wanted(name: str) -> bool:
        parts = name.split("/")
        return (name.endswith(".dist-info/METADATA") and len(parts) == 2) or \
            (parts[-1] == "PKG-INFO" and len(parts) <= 2) or (name == "package/package.json") or \
            (parts[-1] == "package.json" and len(parts) == 2)
    try:
        members = read_members(path, wanted) if not path.is_dir() else {}
    except Exception as exc:  # unreadable: said, never a traceback
        return {"error": f"{path.name}: cannot read: {exc}"}
    for name, data in sorted(members.items(), key=lambda kv: kv[0].count("/")):
        text = data.decode("utf-8", "replace")
        if name.endswith("package.json"):
            try:
                doc = json.loads(text)
            except ValueError:
                continue
            if not isinstance(doc, dict):
                continue
            repo = doc.get("repository")
            url = repo.get("url") if isinstance(repo, dict) else repo if isinstance(repo, str) else ""
            directory = repo.get("directory") if isinstance(repo, dict) else None
            return {"ecosystem": "npm", "name": doc.get("name"), "version": doc.get("version"),
                    "repository": normalise_repo(str(url or "")), "repository_as_written": url,
                    "directory": directory, "commit": doc.get("gitHead")}
        msg = HeaderParser().parsestr(text)
        urls = [u.split(",", 1) for u in msg.get_all("Project-URL") or [] if "," in u]
        ranked = sorted(urls, key=lambda lu: next((i for i, lab in enumerate(_SOURCE_LABELS)
                                                   if lu[0].strip().lower() == lab), 99))
        candidates = [u.strip() for _, u in ranked] + [msg.get("Home-page") or ""]
        repo = next((normalise_repo(u) for u in candidates if normalise_repo(u)), "")
        return {"ecosystem": "python", "name": msg.get("Name"), "version": msg.get("Version"),
                "repository": repo, "urls": {lab.strip(): u.strip() for lab, u in urls}, "commit": None}
    return {}


def hint(path: Path) -> str:
    """The sentence ``provcheck release`` prints when no ``--source`` is given."""
    from ..tags import tag_candidates
    meta = describe(path)
    if meta.get("error"):
        return meta["error"]
    if not meta.get("name"):
        return f"{path.name}: no package metadata (PKG-INFO, METADATA, package.json) names its repository"
    name, version = str(meta.get("name")), str(meta.get("version") or "")
    where = meta.get("repository") or "no repository URL in its metadata"
    bits = [f"{path.name} is {name} {version}; it names {where}"]
    if meta.get("directory"):
        bits.append(f"(directory {meta['directory']})")
    short = name.rsplit("/", 1)[-1]
    tags = [t for t in tag_candidates([short], version)][:4] if version else []
    if meta.get("commit"):
        bits.append(f"published from commit {meta['commit']}")
    if tags:
        bits.append(f"tag tried first: {', '.join(tags)}")
    return "; ".join(bits)
