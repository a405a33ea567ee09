"""Test helpers for plugin authors (a pytest plugin, loaded automatically with provcheck).

The ``checker`` fixture builds real inputs in a temp dir — directory trees, tarballs
(any libarchive format), OCI image layouts with layers and whiteouts, git repositories
with tags — and runs scans in-process or through the CLI::

    def test_my_detector(checker):
        checker.add_plugin(my_plugin)
        release = checker.tarball({"pkg-1.0/configure": "#!/bin/sh\\n"}, name="pkg-1.0.tar.gz")
        result = checker.run(release)
        result.assert_rules(XY101=1)
        result.assert_no_errors()

Values in a ``files`` mapping are ``bytes``/``str`` (a regular file), ``File(data, mode)``,
``Symlink(target)``, ``Hardlink(target)`` or ``Dir()``. Entry-point plugins are not
loaded unless ``checker.autoload = True``; the core loaders and formats always are.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pytest

from .config import InputSpec, build_config
from .engine import ExitCode, Report, run
from .model import Finding, ToolError
from .plugins import PluginManager


@dataclass(frozen=True)
class File:
    data: bytes | str
    mode: int = 0o644


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class Hardlink:
    target: str


@dataclass(frozen=True)
class Dir:
    mode: int = 0o755


FileSpec = "bytes | str | File | Symlink | Hardlink | Dir"


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else data


def tar_bytes(files: Mapping[str, Any], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """An uncompressed tar of ``files``, members in the mapping's order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, value in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if isinstance(value, Symlink):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, value.target, 0o777
                t.addfile(info)
            elif isinstance(value, Hardlink):
                info.type, info.linkname = tarfile.LNKTYPE, value.target
                t.addfile(info)
            elif isinstance(value, Dir):
                info.type, info.mode = tarfile.DIRTYPE, value.mode
                t.addfile(info)
            else:
                f = value if isinstance(value, File) else File(value)
                data = _as_bytes(f.data)
                info.size, info.mode = len(data), f.mode
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how in ("", "none", "tar"):
        return data
    if how in ("gz", "gzip"):
        return gzip.compress(data, mtime=0)
    if how == "xz":
        import lzma
        return lzma.compress(data)
    if how == "bz2":
        import bz2
        return bz2.compress(data)
    if how in ("zst", "zstd"):
        return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout
    raise ValueError(f"unknown compression {how!r}")


@dataclass
class RunResult:
    report: Report

    @property
    def findings(self) -> list[Finding]:
        return self.report.findings

    @property
    def errors(self) -> list[ToolError]:
        return self.report.errors

    @property
    def exit_code(self) -> ExitCode:
        return self.report.exit_code()

    def rules(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.rule_id] = counts.get(f.rule_id, 0) + 1
        return counts

    def assert_rules(self, **expected: int) -> None:
        got = self.rules()
        wrong = {k: (v, got.get(k, 0)) for k, v in expected.items() if got.get(k, 0) != v}
        assert not wrong, f"rule counts (expected, got): {wrong}; all findings: {self._describe()}"

    def only(self, rule_id: str) -> Finding:
        matches = [f for f in self.findings if f.rule_id == rule_id]
        assert len(matches) == 1, f"expected one {rule_id}, got {len(matches)}: {self._describe()}"
        return matches[0]

    def by_rule(self, rule_id: str) -> list[Finding]:
        return [f for f in self.findings if f.rule_id == rule_id]

    def assert_no_errors(self) -> None:
        assert not self.errors, "errors: " + "; ".join(f"{e} {e.detail or ''}" for e in self.errors)

    def _describe(self) -> str:
        return "; ".join(f"{f.rule_id} {f.location.path}: {f.message}" for f in self.findings) or "none"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Checker:
    """Builds inputs under ``base`` and runs provcheck on them."""

    def __init__(self, base: Path):
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.plugins: list[Any] = []
        self.autoload = False
        self._n = 0

    def _path(self, name: str) -> Path:
        path = self.base / name
        if path.exists():
            self._n += 1
            path = self.base / f"{self._n}-{name}"
        return path

    def add_plugin(self, plugin: Any, name: str | None = None) -> None:
        """Register ``plugin`` for in-process runs, under its entry-point name when it has one
        (so ``options={"elf": ...}`` reaches the built-in ``provcheck_elf``)."""
        if name is None:
            from importlib import metadata
            modname = getattr(plugin, "__name__", None)
            name = next((ep.name for ep in metadata.entry_points(group="provcheck") if ep.value == modname), None)
        self.plugins.append((plugin, name))

    # -- inputs ------------------------------------------------------------------------
    def tree(self, files: Mapping[str, Any], name: str = "tree") -> Path:
        root = self._path(name)
        root.mkdir(parents=True)
        for rel, value in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(value, Symlink):
                os.symlink(value.target, path)
            elif isinstance(value, Hardlink):
                os.link(root / value.target, path)
            elif isinstance(value, Dir):
                path.mkdir(exist_ok=True)
                os.chmod(path, value.mode)
            else:
                f = value if isinstance(value, File) else File(value)
                path.write_bytes(_as_bytes(f.data))
                os.chmod(path, f.mode)
        return root

    def tarball(self, files: Mapping[str, Any], name: str = "release.tar.gz", compression: str | None = None) -> Path:
        if compression is None:
            suffix = name.rsplit(".", 1)[-1]
            compression = {"tgz": "gz", "gz": "gz", "xz": "xz", "bz2": "bz2", "zst": "zst"}.get(suffix, "")
        path = self._path(name)
        path.write_bytes(compress(tar_bytes(files), compression))
        return path

    def oci(self, layers: Sequence[Mapping[str, Any]], name: str = "image", compression: str = "gz",
            platform: str = "linux/amd64", tag: str = "latest") -> Path:
        """An OCI image layout with one layer per mapping (whiteouts are ``.wh.NAME`` keys)."""
        root = self._path(name)
        blobs = root / "blobs" / "sha256"
        blobs.mkdir(parents=True)

        def put(data: bytes) -> str:
            digest = hashlib.sha256(data).hexdigest()
            (blobs / digest).write_bytes(data)
            return f"sha256:{digest}"

        layer_descs, diff_ids = [], []
        media = {"gz": "application/vnd.oci.image.layer.v1.tar+gzip",
                 "zst": "application/vnd.oci.image.layer.v1.tar+zstd",
                 "": "application/vnd.oci.image.layer.v1.tar"}
        for files in layers:
            raw = tar_bytes(files)
            diff_ids.append(f"sha256:{hashlib.sha256(raw).hexdigest()}")
            blob = compress(raw, compression)
            layer_descs.append({"mediaType": media.get(compression, media["gz"]), "digest": put(blob),
                                "size": len(blob)})
        os_, arch = platform.split("/")[:2]
        config = json.dumps({"architecture": arch, "os": os_, "config": {"Env": ["PATH=/usr/bin"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids},
                             "history": [{"created_by": f"layer {i}"} for i in range(len(layers))]}).encode()
        config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config),
                       "size": len(config)}
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": config_desc, "layers": layer_descs}).encode()
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                "digest": put(manifest), "size": len(manifest),
                                "platform": {"os": os_, "architecture": arch},
                                "annotations": {"org.opencontainers.image.ref.name": tag}}]}
        (root / "index.json").write_text(json.dumps(index))
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        return root

    def gitrepo(self, commits: Sequence[Mapping[str, Any]] | Mapping[str, Any], name: str = "repo",
                tags: Sequence[str | None] | str | None = None) -> Path:
        """A git repository; each mapping is one commit's changes (``None`` deletes a file).

        ``tags`` names a tag for each commit (or one tag for the last commit)."""
        if isinstance(commits, Mapping):
            commits = [commits]
        if isinstance(tags, str) or tags is None:
            tags = [None] * (len(commits) - 1) + [tags]
        root = self._path(name)
        root.mkdir(parents=True)
        env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
                   GIT_COMMITTER_EMAIL="t@example.org", GIT_AUTHOR_DATE="2024-01-01T00:00:00Z",
                   GIT_COMMITTER_DATE="2024-01-01T00:00:00Z", GIT_CONFIG_NOSYSTEM="1",
                   GIT_CONFIG_GLOBAL=os.devnull)

        def git(*args: str) -> None:
            subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)

        git("init", "-q", "-b", "main")
        for i, (changes, tag) in enumerate(zip(commits, tags)):
            for rel, value in changes.items():
                path = root / rel
                if value is None:
                    git("rm", "-q", "-r", "--", rel)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(value, Symlink):
                    if path.is_symlink() or path.exists():
                        path.unlink()
                    os.symlink(value.target, path)
                else:
                    f = value if isinstance(value, File) else File(value)
                    path.write_bytes(_as_bytes(f.data))
                    os.chmod(path, f.mode)
            git("add", "-A")
            git("commit", "-q", "--allow-empty", "-m", f"commit {i}")
            if tag:
                git("tag", "-a", tag, "-m", tag)
        return root

    # -- running ---------------------------------------------------------------------------
    def plugin_manager(self) -> PluginManager:
        pm = PluginManager()
        pm.load(autoload=self.autoload)
        for plugin, name in self.plugins:
            if not pm.is_registered(plugin) and not (name and pm.get_plugin(name) is not None):
                pm.register(plugin, name=name)
        pm.check_pending()
        return pm

    def run(self, *targets: str | os.PathLike | InputSpec, select: Iterable[str] = (),
            options: Mapping[str, Mapping[str, Any]] | None = None, config: Mapping[str, Any] | None = None,
            **roles: str | os.PathLike) -> RunResult:
        """Scan in-process. ``roles`` add inputs by role, e.g. ``source=repo_path``."""
        specs = [t if isinstance(t, InputSpec) else InputSpec.parse(os.fspath(t)) for t in targets]
        specs += [InputSpec.parse(os.fspath(v), role) for role, v in roles.items()]
        data = dict(config or {})
        data.setdefault("cache-dir", str(self.base / "cache"))
        if select:
            data["select"] = list(select)
        if options:
            data["plugins"] = {k: dict(v) for k, v in options.items()}
        cfg = build_config(data, "test", inputs=specs)
        work = self._path("work")
        work.mkdir()
        return RunResult(run(cfg, self.plugin_manager(), work))

    def run_cli(self, *args: str, cwd: str | os.PathLike | None = None, timeout: float = 600,
                plugins: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                input: str | None = None) -> CliResult:
        """Run ``python -m provcheck ARGS`` in a subprocess, as a user would.

        Every installed plugin loads, as for a user, unless ``plugins`` names the only
        ones to load (modules or entry-point names' modules), besides the core. ``env`` adds
        variables (after ``PROVCHECK_*`` are cleared); ``input`` is standard input."""
        extra = env
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
        env["PROVCHECK_CACHE_DIR"] = str(self.base / "cache")
        env.update(extra or {})
        pre: list[str] = []
        if plugins is not None:
            env["PROVCHECK_DISABLE_PLUGIN_AUTOLOAD"] = "1"
            for name in plugins:
                pre += ["-p", name]
        proc = subprocess.run([sys.executable, "-m", "provcheck", *pre, *map(str, args)], capture_output=True,
                              text=True, cwd=cwd or self.base, env=env, timeout=timeout, input=input)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def checker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Checker:
    """A :class:`Checker` working in a fresh temp dir, with ``PROVCHECK_*`` unset and HOME isolated."""
    for key in list(os.environ):
        if key.startswith("PROVCHECK_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return Checker(tmp_path / "checker")
