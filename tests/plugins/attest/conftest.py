"""Fixtures for the attest tests: no network (in-process and in CLI subprocesses), a
local Sigstore instance, real Debian orig tarballs with their upstream signatures,
and OpenPGP keys generated with gpg in a temp GNUPGHOME."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from localsigstore import LocalSigstore  # noqa: E402

ROOT = HERE.parents[2]
DEBSRC = ROOT / ".cache" / "attest" / "debsrc"
XZ_ORIG = "xz-utils_5.4.1.orig.tar.xz"
HELLO_ORIG = "hello_2.10.orig.tar.gz"

_BLOCKER = '''
import socket
def _blocked(*a, **k):
    raise OSError("network disabled in provcheck attest tests")
socket.socket.connect = _blocked
socket.socket.connect_ex = _blocked
socket.create_connection = _blocked
socket.getaddrinfo = _blocked
'''


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path_factory):
    """Sockets fail in this process and in `provcheck` subprocesses (sitecustomize on PYTHONPATH)."""
    def blocked(*a, **k):
        raise OSError("network disabled in provcheck attest tests")
    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(socket.socket, "connect_ex", blocked)
    monkeypatch.setattr(socket, "create_connection", blocked)
    monkeypatch.setattr(socket, "getaddrinfo", blocked)
    site = tmp_path_factory.getbasetemp() / "nonet-site"
    if not (site / "sitecustomize.py").exists():
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(_BLOCKER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))


def _sigstore(name: str, tmp_path_factory) -> LocalSigstore:
    """A local Sigstore instance with its trusted root written out (``root_path``)."""
    ls = LocalSigstore(name)
    root = tmp_path_factory.mktemp(f"trust-{name}") / "trusted_root.json"
    ls.write_trusted_root(root)
    ls.root_path = str(root)
    return ls


@pytest.fixture(scope="session")
def sigstore_local(tmp_path_factory):
    return _sigstore("local", tmp_path_factory)


@pytest.fixture(scope="session")
def sigstore_foreign(tmp_path_factory):
    return _sigstore("foreign", tmp_path_factory)


def _apt_source(*packages: str) -> None:
    DEBSRC.mkdir(parents=True, exist_ok=True)
    import realdata
    proc = realdata.apt_get("source", "--download-only", *packages, cwd=DEBSRC)
    if proc.returncode != 0:
        pytest.fail("apt-get source failed (deb-src must be enabled, see scripts/system-deps.sh): "
                    + proc.stderr[-800:])


@pytest.fixture(scope="session")
def debian_sources():
    """Real orig tarballs with their upstream .asc, and the upstream keys from debian/upstream/."""
    import realdata
    realdata.needs_real_data("debian sources")
    wanted = {XZ_ORIG: "xz-utils=5.4.1-1+deb12u1", HELLO_ORIG: "hello=2.10-3"}
    missing = [pkg for f, pkg in wanted.items() if not (DEBSRC / f).exists() or not (DEBSRC / (f + ".asc")).exists()]
    if missing:
        _apt_source(*missing)
    keys = {}
    for prefix in ("xz-utils_", "hello_"):
        deb = sorted(DEBSRC.glob(f"{prefix}*.debian.tar.*"))
        assert deb, f"no {prefix} debian tarball in {DEBSRC}"
        key = DEBSRC / f"{prefix}signing-key.asc"
        if not key.exists():
            data = subprocess.run(["tar", "-xOf", str(deb[-1]), "debian/upstream/signing-key.asc"],
                                  capture_output=True, check=True).stdout
            key.write_bytes(data)
        keys[prefix.rstrip("_")] = key
    return {"xz": DEBSRC / XZ_ORIG, "xz_asc": DEBSRC / (XZ_ORIG + ".asc"), "xz_key": keys["xz-utils"],
            "hello": DEBSRC / HELLO_ORIG, "hello_asc": DEBSRC / (HELLO_ORIG + ".asc"), "hello_key": keys["hello"]}


class Gpg:
    """gpg in a private GNUPGHOME: generate keys, export, sign detached."""

    def __init__(self, home: Path):
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _run(self, *args: str, input: bytes | None = None) -> bytes:
        env = dict(os.environ, GNUPGHOME=str(self.home))
        return subprocess.run(["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", *args],
                              input=input, capture_output=True, check=True, env=env).stdout

    def new_key(self, uid: str) -> str:
        self._run("--quick-gen-key", uid, "ed25519", "sign", "never")
        out = self._run("--with-colons", "--list-keys", uid).decode()
        return next(l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:"))

    def export(self, *fprs: str) -> bytes:
        return self._run("--armor", "--export", *fprs)

    def sign(self, fpr: str, path: Path) -> Path:
        out = path.with_name(path.name + ".asc")
        self._run("--armor", "--detach-sign", "--local-user", fpr, "--output", str(out), str(path))
        return out

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"], capture_output=True)


@pytest.fixture(scope="session")
def gpg(tmp_path_factory):
    if shutil.which("gpg") is None:
        pytest.fail("gpg is needed to generate test keys (Debian package gnupg)")
    g = Gpg(tmp_path_factory.mktemp("gnupg") / "home")
    yield g
    g.close()


class MainResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr

    def json(self):
        import json
        return json.loads(self.stdout)


@pytest.fixture
def cli(checker, capsys, monkeypatch):
    """``provcheck ARGS`` through ``provcheck.cli.main`` in this process (faster than a
    subprocess; ``checker.run_cli`` is used where the separate process matters)."""
    from provcheck.cli import main

    monkeypatch.chdir(checker.base)

    def run(*args) -> MainResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return MainResult(int(code), out.out, out.err)
    return run
