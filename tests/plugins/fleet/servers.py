"""Real servers for the fleet tests, all on 127.0.0.1 with random ports.

* ``Registry``: Debian's ``docker-registry`` (CNCF distribution), plain or TLS with a
  certificate generated here and htpasswd (bcrypt) authentication;
* ``push``: ``skopeo copy`` of an OCI layout into it;
* ``attach_sbom``: a cosign-style ``sha256-<hex>.sbom`` artifact (plain distribution API);
* ``FaultProxy``: a tiny HTTP proxy in front of the registry that answers 500, truncates
  or corrupts chosen blobs (to test retries, resume and digest checks);
* ``DaskCluster``: ``dask scheduler`` and ``dask worker`` processes (loopback only).
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def make_cert(directory: Path, key_dir: Path) -> tuple[Path, Path]:
    """A self-signed CA certificate for 127.0.0.1; the key stays out of ``directory`` (skopeo
    reads every ``*.key`` in a cert dir as a client key)."""
    directory.mkdir(parents=True, exist_ok=True)
    key_dir.mkdir(parents=True, exist_ok=True)
    crt, key = directory / "ca.crt", key_dir / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt, key


class Registry:
    def __init__(self, root: Path, tls: bool = False, user: str | None = None, password: str | None = None,
                 token: bool = False, anonymous_pull: bool = False):
        self.root = root
        self.tls, self.user, self.password = tls or token, user, password
        self.token, self.anonymous_pull = token, anonymous_pull
        self.token_server: TokenServer | None = None
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.certs = root / "certs"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Registry":
        self.root.mkdir(parents=True, exist_ok=True)
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true", "storage:",
                 "  filesystem:", f"    rootdirectory: {self.root / 'data'}", "  delete:", "    enabled: true",
                 "http:", f"  addr: 127.0.0.1:{self.port}", f"  secret: {secrets.token_hex(16)}"]
        if self.tls:
            crt, key = make_cert(self.certs, self.root / "keys")
            lines += ["  tls:", f"    certificate: {crt}", f"    key: {key}"]
        if self.token:
            self.token_server = TokenServer(self.certs / "ca.crt", self.root / "keys" / "server.key", self.user or "",
                                            self.password or "", anonymous_pull=self.anonymous_pull).start()
            lines += ["auth:", "  token:", f"    realm: {self.token_server.realm}", "    service: provcheck-test",
                      "    issuer: provcheck-test-issuer", f"    rootcertbundle: {self.certs / 'ca.crt'}"]
        elif self.user:
            htpasswd = self.root / "htpasswd"
            out = subprocess.run(["htpasswd", "-Bbn", self.user, self.password or ""], check=True,
                                 capture_output=True, text=True).stdout
            htpasswd.write_text(out)
            lines += ["auth:", "  htpasswd:", "    realm: provcheck-test", f"    path: {htpasswd}"]
        cfg = self.root / "config.yml"
        cfg.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.root / "registry.log", "wb"))
        wait_port(self.port, self.proc)
        return self

    def stop(self) -> None:
        if self.token_server is not None:
            self.token_server.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def ca(self) -> Path:
        return self.certs / "ca.crt"

    def client(self) -> httpx.Client:
        auth = (self.user, self.password) if self.user else None
        return httpx.Client(base_url=f"{'https' if self.tls else 'http'}://{self.host}", auth=auth,
                            verify=str(self.ca) if self.tls else True, timeout=30)

    def push(self, layout: Path, repo_tag: str, all_platforms: bool = False) -> None:
        args = ["skopeo", "copy", "--quiet", "--retry-times", "2"] + (["--all"] if all_platforms else [])
        if self.tls:
            args += ["--dest-cert-dir", str(self.certs)]
        else:
            args += ["--dest-tls-verify=false"]
        if self.user:
            args += ["--dest-creds", f"{self.user}:{self.password}"]
        env = dict(os.environ, HOME=str(self.root))  # no user's registries.conf/auth file
        subprocess.run(args + [f"oci:{layout}:latest", f"docker://{self.host}/{repo_tag}"], check=True,
                       capture_output=True, env=env)

    def manifest_digest(self, repo: str, tag: str) -> str:
        with self.client() as c:
            r = c.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
            r.raise_for_status()
            return "sha256:" + hashlib.sha256(r.content).hexdigest()

    def put_blob(self, c: httpx.Client, repo: str, data: bytes) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = c.post(f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        loc = r.headers["location"]
        r = c.put(loc + ("&" if "?" in loc else "?") + f"digest={digest}", content=data,
                  headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        return {"digest": digest, "size": len(data)}

    def put_manifest(self, c: httpx.Client, repo: str, ref: str, manifest: dict[str, Any]) -> str:
        raw = json.dumps(manifest).encode()
        r = c.put(f"/v2/{repo}/manifests/{ref}", content=raw, headers={"Content-Type": manifest["mediaType"]})
        assert r.status_code == 201, r.text
        return "sha256:" + hashlib.sha256(raw).hexdigest()

    def attach_sbom(self, repo: str, tag: str, sbom: dict[str, Any] | bytes, media: str = "application/spdx+json",
                    style: str = "cosign") -> str:
        """Attach an SBOM (a document, or raw bytes) the way cosign (``sha256-<hex>.sbom`` tag)
        or ORAS/OCI 1.1 (referrers fallback tag ``sha256-<hex>`` holding an index) do."""
        subject = self.manifest_digest(repo, tag)
        data = sbom if isinstance(sbom, bytes) else json.dumps(sbom).encode()
        with self.client() as c:
            layer = dict(self.put_blob(c, repo, data), mediaType=media)
            cfg = dict(self.put_blob(c, repo, b"{}"), mediaType="application/vnd.oci.empty.v1+json")
            man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg,
                   "layers": [layer]}
            if style == "cosign":
                return self.put_manifest(c, repo, f"{subject.replace(':', '-')}.sbom", man)
            man["artifactType"] = media
            man["subject"] = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject,
                              "size": 0}
            raw = json.dumps(man).encode()
            dig = self.put_manifest(c, repo, "sha256-" + hashlib.sha256(raw).hexdigest(), man)
            index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                     "manifests": [{"mediaType": man["mediaType"], "digest": dig, "size": len(raw),
                                    "artifactType": media}]}
            self.put_manifest(c, repo, subject.replace(":", "-"), index)
            return dig


class TokenServer:
    """A Docker-style token service (``GET /token?service=&scope=``) over TLS: checks Basic
    credentials (anonymous pulls allowed when ``anonymous_pull``), answers an RS256 JWT with
    the certificate chain in ``x5c``, as the registry's ``auth.token`` expects."""

    def __init__(self, cert: Path, key: Path, user: str, password: str, service: str = "provcheck-test",
                 anonymous_pull: bool = False):
        import ssl
        self.cert, self.key, self.user, self.password = cert, key, user, password
        self.service, self.anonymous_pull = service, anonymous_pull
        self.issued: list[tuple[str | None, str]] = []  # (user, scope)
        ts = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                ts.handle(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.realm = f"https://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "TokenServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _jwt(self, subject: str, access: list[dict[str, Any]]) -> str:
        import base64 as b64
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        def enc(raw: bytes) -> str:
            return b64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        key = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT",
                  "x5c": [b64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": "provcheck-test-issuer", "sub": subject, "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        signing = enc(json.dumps(header).encode()) + "." + enc(json.dumps(claims).encode())
        sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing + "." + enc(sig)

    def handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        import base64 as b64
        from urllib.parse import parse_qs, urlparse
        q = parse_qs(urlparse(h.path).query)
        user = None
        auth = h.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            u, _, p = b64.b64decode(auth[6:]).decode().partition(":")
            if (u, p) != (self.user, self.password):
                h.send_response(401)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            user = u
        access = []
        for scope in q.get("scope", []):
            typ, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            allowed = [a for a in actions.split(",") if user or (self.anonymous_pull and a == "pull"
                                                                   and typ == "repository")]
            if allowed:
                access.append({"type": typ, "name": name, "actions": allowed})
            self.issued.append((user, scope))
        body = json.dumps({"token": self._jwt(user or "", access)}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


class FaultProxy:
    """HTTP proxy to a plain registry; ``faults`` maps a digest (or "*") to an action:
    ``("500", n)`` first n requests answer 500; ``("truncate", n)`` first n bodies are cut
    in half; ``("corrupt", None)`` every body has a flipped byte; ``("delay", s)`` every
    answer waits s seconds."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.faults: dict[str, tuple[str, int | None]] = {}
        self.counts: dict[str, int] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, path, range)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            def do_HEAD(self) -> None:
                proxy.handle(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "FaultProxy":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _fault(self, path: str) -> tuple[str, int | None] | None:
        for key, fault in self.faults.items():
            if key != "*" and key in path or key == "*" and "/blobs/" in path:
                n = self.counts.get(key, 0)
                self.counts[key] = n + 1
                kind, times = fault
                if kind == "delay" or times is None or n < times:
                    return fault
        return None

    def handle(self, h: http.server.BaseHTTPRequestHandler) -> None:
        self.requests.append((h.command, h.path, h.headers.get("Range", "")))
        fault = self._fault(h.path)
        if fault and fault[0] == "delay":
            time.sleep(fault[1] or 0)
        if fault and fault[0] == "500":
            body = b'{"errors":[{"code":"UNKNOWN","message":"injected"}]}'
            h.send_response(500)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        headers = {k: v for k, v in h.headers.items() if k.lower() in ("accept", "range", "authorization")}
        conn.request(h.command, h.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        if resp.status in (301, 302, 307):
            pass
        if fault and fault[0] == "truncate" and resp.status in (200, 206) and len(body) > 2:
            declared = len(body)
            body = body[: declared // 2]
            h.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                    h.send_header(k, v)
            h.send_header("Content-Length", str(declared))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(body)
            h.wfile.flush()
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault and fault[0] == "corrupt" and resp.status == 200 and body:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


class DaskCluster:
    """A real scheduler and workers as separate processes, loopback only."""

    def __init__(self, root: Path, workers: int = 2):
        self.root, self.n = root, workers
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []

    def start(self) -> "DaskCluster":
        self.root.mkdir(parents=True, exist_ok=True)
        bindir = Path(sys.executable).parent
        dask = str(bindir / "dask") if (bindir / "dask").exists() else shutil.which("dask")
        env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
        log = open(self.root / "scheduler.log", "wb")
        self.procs.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                            "--dashboard-address", "127.0.0.1:0", "--no-show"],
                                           stdout=log, stderr=log, env=env, cwd=self.root))
        wait_port(self.port, self.procs[0])
        for i in range(self.n):
            wlog = open(self.root / f"worker-{i}.log", "wb")
            self.procs.append(subprocess.Popen([dask, "worker", self.address, "--host", "127.0.0.1",
                                                "--dashboard-address", "127.0.0.1:0", "--nthreads", "1",
                                                "--nworkers", "1", "--local-directory", str(self.root / f"w{i}"),
                                                "--name", f"w{i}"],
                                               stdout=wlog, stderr=wlog, env=env, cwd=self.root))
        from distributed import Client
        with Client(self.address, timeout="20s") as c:
            c.wait_for_workers(self.n, timeout=60)
        return self

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def listening_beyond_loopback(pids: list[int]) -> list[str]:
    """Lines of ``ss -ltnp`` for sockets of ``pids`` (and their children) not bound to 127.0.0.1."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    bad = []
    for line in out.splitlines():
        if not any(f"pid={p}," in line for p in pids):
            continue
        local = line.split()[3]
        if not local.startswith("127.0.0.1:") and not local.startswith("[::1]:"):
            bad.append(line)
    return bad


def child_pids(pid: int) -> list[int]:
    out = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for k in kids:
        out += child_pids(int(k))
    return out


