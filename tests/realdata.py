"""Real Debian data for tests and benchmarks, downloaded once and cached under ``.cache/``.

* ``apt_closure(["openssh-server"])`` — the package and everything it depends on;
* ``download(packages)`` — ``apt-get download`` into ``.cache/debs`` (real .deb files);
* ``rootfs(packages, name)`` — the packages' files unpacked with ``dpkg-deb --fsys-tarfile | tar -x``
  (nothing from a package runs), plus a real ``var/lib/dpkg/status``, ``info/*.list`` and
  ``info/*.md5sums`` built from the packages' own control data;
* ``image(layers, name)`` — an OCI image layout, one gzip layer per package group, each
  layer holding those packages' files and the dpkg database as of that layer.

Everything is keyed by the package list, so a second run costs nothing.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("PROVCHECK_TEST_CACHE", ROOT / ".cache"))


OFFLINE = "PROVCHECK_TESTS_OFFLINE"  # set by `make test-fast`


def needs_real_data(what: str) -> None:
    """Every use of the real-data cache passes here. ``make test-fast`` sets
    PROVCHECK_TESTS_OFFLINE=1: a test that needs real data (a download on a fresh machine)
    and is not marked slow then fails, so the marker stays honest."""
    if os.environ.get(OFFLINE):
        import pytest
        pytest.fail(f"{what}: real data (downloaded once, cached under .cache/) in a fast run; "
                    f"mark the test @pytest.mark.slow", pytrace=False)


@contextmanager
def _locked(name: str) -> Iterator[None]:
    needs_real_data(name)
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def apt_get(*args: str, cwd: Path | None = None, attempts: int = 3) -> subprocess.CompletedProcess:
    """``apt-get ARGS`` with bounded retries: a failure refreshes the package lists and waits
    (5 s, then 15 s) before the next try, so a passing mirror hiccup does not fail CI."""
    needs_real_data(f"apt-get {args[0] if args else ''}")
    delays = [5, 15]
    for attempt in range(attempts):
        proc = subprocess.run(["apt-get", *args], cwd=cwd, capture_output=True, text=True, timeout=900)
        if proc.returncode == 0 or attempt == attempts - 1:
            return proc
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=900)
        time.sleep(delays[min(attempt, len(delays) - 1)])
    return proc


def _apt(*args: str, cwd: Path | None = None) -> str:
    proc = apt_get(*args, cwd=cwd)
    if proc.returncode:
        raise RuntimeError(f"apt-get {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def apt_closure(packages: Sequence[str]) -> list[str]:
    """The packages and their recursive Depends/PreDepends, real names only."""
    needs_real_data("apt-cache depends")
    out = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                          "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages],
                         capture_output=True, text=True)
    if out.returncode or not out.stdout.strip():
        subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True)
        out = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                              "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages],
                             capture_output=True, text=True, check=True)
    names = {line.strip() for line in out.stdout.splitlines() if line and not line[0].isspace()}
    return sorted(n for n in names if not n.startswith("<") and ":" not in n)


def download(packages: Iterable[str]) -> dict[str, Path]:
    """``apt-get download`` each package (cached); returns name -> .deb path."""
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    wanted = sorted(set(packages))
    with _locked("debs"):
        have = {p.name.split("_")[0]: p for p in debs.glob("*.deb")}
        missing = [p for p in wanted if p not in have]
        if missing:
            _apt("download", "-qq", *missing, cwd=debs)
            have = {p.name.split("_")[0]: p for p in debs.glob("*.deb")}
    return {p: have[p] for p in wanted}


def wheel(requirement: str, platform: str, python_version: str = "3.11") -> Path:
    """A binary wheel for another platform (``pip download --platform``), cached; e.g. the
    macOS wheel of a package with a C extension, for real Mach-O files."""
    dest = CACHE / "wheels" / f"{platform}-{_key(requirement, python_version)}"

    def build(d: Path) -> str:
        d.mkdir(parents=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--platform", platform, "--python-version", python_version, "-d", str(d), requirement],
                       check=True, capture_output=True)
        return requirement
    build_once(dest, f"wheel-{dest.name}", build)
    (found,) = dest.glob("*.whl")
    return found


def _unpack_deb(deb: Path, dest: Path) -> None:
    """The package's files into ``dest``, writing through merged-usr links as dpkg does."""
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "--keep-directory-symlink", "--no-same-owner", "-C", str(dest)], input=data,
                   check=True, capture_output=True)


def _control(deb: Path) -> tuple[str, dict[str, bytes]]:
    """The package's control paragraph and its control files (md5sums, ...)."""
    raw = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True).stdout
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        for m in t.getmembers():
            if m.isfile():
                files[m.name.lstrip("./")] = t.extractfile(m).read()
    return files.pop("control").decode().strip(), files


def _file_list(deb: Path) -> list[str]:
    raw = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        return ["/" + m.name.lstrip("./") if m.name not in (".", "./") else "/." for m in t.getmembers()]


def _dpkg_db(debs: dict[str, Path], dest: Path, status_before: str = "") -> str:
    """Write var/lib/dpkg/{status,info/*} for ``debs`` into ``dest``; returns the status text."""
    info = dest / "var/lib/dpkg/info"
    info.mkdir(parents=True, exist_ok=True)
    paragraphs = [p for p in status_before.split("\n\n") if p.strip()]
    for name, deb in sorted(debs.items()):
        control, files = _control(deb)
        lines = control.splitlines()
        lines.insert(1, "Status: install ok installed")
        paragraphs.append("\n".join(lines))
        arch = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("Architecture:")), "all")
        multi = "Multi-Arch: same" in control
        stem = f"{name}:{arch}" if multi else name
        (info / f"{stem}.list").write_text("\n".join(_file_list(deb)) + "\n")
        if "md5sums" in files:
            (info / f"{stem}.md5sums").write_bytes(files["md5sums"])
    status = "\n\n".join(paragraphs) + "\n"
    (dest / "var/lib/dpkg/status").write_text(status)
    return status


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _merged_usr(dest: Path) -> None:
    for d in ("bin", "sbin", "lib", "lib64"):
        if not (dest / d).exists() and not (dest / d).is_symlink():
            (dest / "usr" / d).mkdir(parents=True, exist_ok=True)
            os.symlink(f"usr/{d}", dest / d)


def complete(dest: Path) -> Path:
    """The marker written once ``dest`` is fully built."""
    return dest.parent / f"{dest.name}.complete"


def build_once(dest: Path, lock: str, build: Callable[[Path], str]) -> Path:
    """``dest``, built by ``build(dest)`` (returning its marker's text) unless a complete one
    is cached; parallel test workers wait on ``lock``, a half-built one is built again."""
    with _locked(lock):
        if not complete(dest).exists():
            shutil.rmtree(dest, ignore_errors=True)
            complete(dest).write_text(build(dest))
    return dest


def rootfs(packages: Sequence[str], name: str, closure: bool = True) -> Path:
    """A root filesystem holding ``packages`` (and their dependencies), cached."""
    names = apt_closure(packages) if closure else sorted(packages)

    def build(dest: Path) -> str:
        debs = download(names)
        dest.mkdir(parents=True)
        _merged_usr(dest)
        for deb in debs.values():
            _unpack_deb(deb, dest)
        _dpkg_db(debs, dest)
        return "\n".join(names)
    return build_once(CACHE / "rootfs" / f"{name}-{_key(names)}", f"rootfs-{name}", build)


def _layer_tar(src: Path, skip: set[str] = frozenset()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src).as_posix()
            if rel in skip:
                continue
            info = t.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.isreg():
                with open(path, "rb") as f:
                    t.addfile(info, f)
            else:
                t.addfile(info)
    return buf.getvalue()


def image(layers: Sequence[Sequence[str]], name: str) -> Path:
    """An OCI image layout: layer i holds the files of ``layers[i]``'s packages (with
    dependencies not already in a lower layer) and the dpkg database as of that layer."""
    plan: list[list[str]] = []
    seen: set[str] = set()
    for group in layers:
        names = [n for n in apt_closure(group) if n not in seen]
        seen.update(names)
        plan.append(names)

    def build(root: Path) -> str:
        blobs = root / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        status = ""
        descs, diff_ids, history = [], [], []
        work = CACHE / "tmp" / f"{name}-build"
        for i, names in enumerate(plan):
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            _merged_usr(work)  # dpkg writes through the merged-usr links, as in a real build
            debs = download(names)
            for deb in debs.values():
                _unpack_deb(deb, work)
            status = _dpkg_db(debs, work, status)
            raw = _layer_tar(work, set() if i == 0 else {"bin", "sbin", "lib", "lib64"})
            diff_ids.append(f"sha256:{hashlib.sha256(raw).hexdigest()}")
            descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                          **put_blob(root, gzip.compress(raw, compresslevel=6, mtime=0))})
            history.append({"created_by": "install " + " ".join(names[:8]) + (" ..." if len(names) > 8 else "")})
        shutil.rmtree(work, ignore_errors=True)
        finish_layout(root, descs, diff_ids, history)
        return "\n".join(" ".join(p) for p in plan)
    return build_once(CACHE / "images" / f"{name}-{_key(plan)}", f"image-{name}", build)


def put_blob(root: Path, data: bytes) -> dict:
    """Store ``data`` in the layout's blobs; its descriptor's digest and size."""
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def finish_layout(root: Path, layers: list[dict], diff_ids: list[str], history: list[dict],
                  labels: dict[str, str] | None = None) -> None:
    """Config, manifest, ``index.json`` and ``oci-layout`` of a linux/amd64 image whose layer
    blobs are already in ``root/blobs/sha256``."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/usr/sbin:/usr/bin"], **({"Labels": labels} if labels else {})},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      **put_blob(root, config)},
                           "layers": layers}).encode()
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **put_blob(root, manifest),
                            "platform": {"os": "linux", "architecture": "amd64"},
                            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
