"""Detached OpenPGP signatures, verified with ``gpgv``, and a signer history.

Why gpgv (see docs/plugins/attest.md for the comparison): it is GnuPG's
verification-only tool that Debian's apt runs for every archive signature, it is
maintained with GnuPG, it needs no trust database, and its ``--status-fd`` lines are
a documented machine interface. It never fetches keys. gpgv 2.2 reads only binary
keyrings, so armored keys (``signing-key.asc``) are de-armored here in Python into a
temporary keyring inside the work area; GNUPGHOME points at an empty temp dir so that
no user keyring is ever consulted.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_SIG = 1 << 20
MAX_KEYRING = 16 << 20
GPGV_TIMEOUT = 120

_ARMOR = re.compile(rb"-----BEGIN PGP ([A-Z ]+)-----\r?\n(.*?)-----END PGP \1-----", re.S)


class KeyringError(Exception):
    pass


def dearmor(data: bytes) -> bytes:
    """Binary OpenPGP packets from armored or binary input (several armored blocks allowed)."""
    if b"-----BEGIN PGP" not in data[:4096] and b"-----BEGIN PGP" not in data:
        return data
    out = b""
    for _kind, body in _ARMOR.findall(data):
        lines = body.replace(b"\r", b"").split(b"\n")
        if b"" in lines:  # armor headers end at the first blank line
            idx = lines.index(b"")
            if any(b":" in l for l in lines[:idx]) or idx == 0:
                lines = lines[idx + 1:]
        payload = b"".join(l.strip() for l in lines if l.strip() and not l.startswith(b"="))
        try:
            out += base64.b64decode(payload, validate=False)
        except ValueError as exc:
            raise KeyringError(f"bad armor: {exc}") from None
    if not out:
        raise KeyringError("no PGP armor block found")
    return out


def looks_like_openpgp(data: bytes) -> bool:
    """Armored PGP, or a binary packet whose first byte has the OpenPGP tag bit set."""
    head = data[:64].lstrip()
    return head.startswith(b"-----BEGIN PGP") or (bool(data) and data[0] & 0x80 == 0x80)


DEBIAN_KEY = "debian/upstream/signing-key.asc"
_DEBIAN_TARBALL = re.compile(r"\.debian\.tar\.(?:xz|gz|bz2|zst|lzma)$")


def read_keyring(path: str | os.PathLike) -> tuple[bytes, str]:
    """Key material from a keyring file, or from a Debian ``*.debian.tar.*`` (its
    ``debian/upstream/signing-key.asc``, the key uscan checks orig tarballs with)."""
    p = Path(path)
    if _DEBIAN_TARBALL.search(p.name):
        import libarchive
        from libarchive.exception import ArchiveError
        try:
            with libarchive.file_reader(str(p)) as archive:
                for entry in archive:
                    name = str(entry.pathname or "").lstrip("./")
                    if name in (DEBIAN_KEY, DEBIAN_KEY.replace(".asc", ".pgp")) and entry.isfile:
                        if (entry.size or 0) > MAX_KEYRING:
                            raise KeyringError(f"{name} is larger than {MAX_KEYRING} bytes")
                        return b"".join(entry.get_blocks()), f"{p.name}:{name}"
        except ArchiveError as exc:
            raise KeyringError(f"{p.name}: cannot read: {exc}") from None
        raise KeyringError(f"{p.name} has no {DEBIAN_KEY}")
    with open(p, "rb") as f:
        data = f.read(MAX_KEYRING + 1)
    if len(data) > MAX_KEYRING:
        raise KeyringError(f"{p.name} is larger than {MAX_KEYRING} bytes")
    return data, p.name


@dataclass
class PgpResult:
    status: str                     # good, bad, no-key, expired-sig, revoked, error
    fingerprint: str | None = None  # the signing (sub)key
    primary: str | None = None      # the primary key
    user_id: str | None = None
    created: str | None = None
    key_expired: str | None = None
    detail: str = ""
    status_lines: list[str] = field(default_factory=list)

    def fingerprints(self) -> set[str]:
        return {f for f in (self.fingerprint, self.primary) if f}

    def evidence(self) -> dict[str, Any]:
        d = {"status": self.status, "fingerprint": self.fingerprint, "primary_fingerprint": self.primary,
             "user_id": self.user_id, "signed_at": self.created, "verifier": gpgv_version()}
        if self.key_expired:
            d["key_expired_at"] = self.key_expired
        if self.detail:
            d["detail"] = self.detail
        d["gpgv_status"] = self.status_lines[-12:]
        return {k: v for k, v in d.items() if v is not None}


_VERSION: list[str] = []


def gpgv_version() -> str:
    if not _VERSION:
        try:
            out = subprocess.run(["gpgv", "--version"], capture_output=True, text=True, timeout=30).stdout
            _VERSION.append(out.splitlines()[0] if out else "gpgv")
        except (OSError, subprocess.SubprocessError):
            _VERSION.append("gpgv (not available)")
    return _VERSION[0]


def _iso(ts: str) -> str | None:
    try:
        return dt.datetime.fromtimestamp(int(ts), dt.timezone.utc).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def verify_detached(data_path: str | os.PathLike, signature: bytes, keyring: bytes, work: str | os.PathLike) -> PgpResult:
    """Run gpgv on a detached signature; ``keyring`` may be armored or binary."""
    if shutil.which("gpgv") is None:
        return PgpResult("error", detail="gpgv is not installed (Debian package gpgv)")
    if len(signature) > MAX_SIG:
        return PgpResult("error", detail=f"signature file larger than {MAX_SIG} bytes")
    if len(keyring) > MAX_KEYRING:
        return PgpResult("error", detail=f"keyring larger than {MAX_KEYRING} bytes")
    try:
        binary = dearmor(keyring)
    except KeyringError as exc:
        return PgpResult("error", detail=f"keyring: {exc}")
    tmp = tempfile.mkdtemp(prefix="attest-gpgv-", dir=work)
    try:
        home = os.path.join(tmp, "home")
        os.mkdir(home, 0o700)
        ring = os.path.join(tmp, "keyring.gpg")
        sig = os.path.join(tmp, "signature")
        Path(ring).write_bytes(binary)
        Path(sig).write_bytes(signature)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GNUPGHOME": home, "LC_ALL": "C"}
        try:
            proc = subprocess.run(["gpgv", "--status-fd", "1", "--keyring", ring, "--", sig, os.fspath(data_path)],
                                  capture_output=True, timeout=GPGV_TIMEOUT, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return PgpResult("error", detail=f"gpgv did not finish in {GPGV_TIMEOUT}s")
        return parse_status(proc.stdout.decode("utf-8", "replace"), proc.returncode,
                            proc.stderr.decode("utf-8", "replace"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def parse_status(text: str, rc: int, stderr: str = "") -> PgpResult:
    lines = [l[len("[GNUPG:] "):] for l in text.splitlines() if l.startswith("[GNUPG:] ")]
    res = PgpResult("error", status_lines=lines)
    expired_at = None
    sig_ts = "0"
    sigs = 0
    for line in lines:
        parts = line.split(" ")
        tag = parts[0]
        if tag == "NEWSIG":
            sigs += 1
        elif tag in ("GOODSIG", "EXPKEYSIG", "EXPSIG", "REVKEYSIG", "BADSIG"):
            res.user_id = " ".join(parts[2:]) or None
            res.status = {"GOODSIG": "good", "EXPKEYSIG": "good", "EXPSIG": "expired-sig",
                          "REVKEYSIG": "revoked", "BADSIG": "bad"}[tag]
        elif tag == "VALIDSIG" and len(parts) >= 3:
            res.fingerprint = parts[1].upper()
            res.created = _iso(parts[3]) if len(parts) > 3 else None
            res.primary = parts[10].upper() if len(parts) > 10 else res.fingerprint
            sig_ts = parts[3] if len(parts) > 3 else "0"
        elif tag == "KEYEXPIRED" and len(parts) > 1:
            expired_at = parts[1]
        elif tag == "ERRSIG":
            res.status = "error"
            res.detail = "cannot check the signature"
        elif tag == "NO_PUBKEY":
            res.status = "no-key"
            res.detail = f"key {parts[1] if len(parts) > 1 else '?'} is not in the keyring"
        elif tag == "NODATA":
            res.status = "error"
            res.detail = "no OpenPGP signature found in the signature file"
    if sigs > 1:
        res.detail = (res.detail + "; " if res.detail else "") + f"{sigs} signatures in the file"
    if expired_at:
        res.key_expired = _iso(expired_at)
        if res.status == "good" and res.created and int(sig_ts) > int(expired_at):
            res.status = "bad"
            res.detail = "signature made after the key expired"
    if res.status == "good" and (rc != 0 or not res.fingerprint):
        res.status = "error"
        res.detail = f"gpgv exited {rc}"
    if res.status == "error" and not res.detail:
        res.detail = " ".join(stderr.split())[-300:] or f"gpgv exited {rc}"
    return res


# -- signer history ---------------------------------------------------------------------

_RELEASE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9+._-]*?)[-_](?P<version>\d[A-Za-z0-9.+~]*?)"
                      r"(?:\.orig)?(?:\.(?:tar(?:\.[a-z0-9]+)?|tgz|tbz2?|txz|zip|gem|crate|whl|7z))$")


def project_version(filename: str) -> tuple[str | None, str | None]:
    m = _RELEASE.match(os.path.basename(filename))
    return (m.group("name"), m.group("version")) if m else (None, None)


class HistoryError(Exception):
    pass


def read_history(path: str | os.PathLike) -> dict[str, dict[str, list[str]]]:
    """``{"project": {"version": ["FINGERPRINT", ...]}}``; a missing file is an empty history."""
    p = Path(path)
    if not p.exists():
        return {}
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise HistoryError(f"{path}: cannot read signer history: {exc}") from None
    if not isinstance(doc, dict):
        raise HistoryError(f"{path}: signer history must be a JSON object of projects")
    out: dict[str, dict[str, list[str]]] = {}
    for project, versions in doc.items():
        if not isinstance(versions, dict):
            raise HistoryError(f"{path}: {project!r} must map versions to fingerprints")
        out[str(project)] = {str(v): [str(f).upper().replace(" ", "") for f in ([fp] if isinstance(fp, str) else fp or [])]
                             for v, fp in versions.items()}
    return out


def record(path: str | os.PathLike, project: str, version: str, fingerprint: str) -> None:
    hist = read_history(path)
    fps = hist.setdefault(project, {}).setdefault(version, [])
    if fingerprint not in fps:
        fps.append(fingerprint)
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(hist, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, p)


def known_signers(hist: dict[str, dict[str, list[str]]], project: str, version: str | None) -> dict[str, list[str]]:
    """Earlier releases on record: version -> fingerprints (the current version excluded)."""
    return {v: fps for v, fps in (hist.get(project) or {}).items() if v != version}
