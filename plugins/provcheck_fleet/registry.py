"""A small OCI distribution client on httpx: references, auth, TLS, retries, verified blobs.

Why httpx and not ``oras`` (see docs/plugins/fleet.md): oras-py never verifies digests,
has no referrers support, reads only ``~/.docker/config.json`` and stalls on a Basic
challenge with its default backend. Here every manifest and blob is hashed while it
streams and checked against its digest before anyone uses it; declared sizes and
Content-Length are never trusted (a body longer than the descriptor says is cut off
and fails); partial blob downloads resume with ``Range``; transient errors (connection
failures, 429, 5xx) are retried with bounded exponential backoff.

Credentials are never sent over plain HTTP unless the user asked for both plain HTTP
(``--plain-http``) and clear-text credentials (``--allow-cleartext-auth``).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urljoin, urlparse

import httpx

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = (MANIFEST_TYPES[0], MANIFEST_TYPES[2])
MAX_MANIFEST = 4 << 20
MAX_RESPONSE = 16 << 20  # catalogs, tag lists, referrers, tokens
MAX_LIST_PAGES = 10_000
TRANSIENT = {408, 425, 429, 500, 502, 503, 504}
DIGEST_RX = re.compile(r"sha256:[0-9a-f]{64}")
TAG_RX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


class RegistryError(Exception):
    """A registry operation failed for good (after retries); the message names what and why."""


class DigestMismatch(RegistryError):
    pass


class AuthError(RegistryError):
    pass


# -- references -------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Reference:
    """``HOST[:PORT]/REPO[:TAG|@DIGEST]``; ``repository`` empty means the whole catalog."""

    registry: str
    repository: str = ""
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Reference":
        s = text.strip()
        for prefix in ("registry://", "docker://", "oci://"):
            if s.startswith(prefix):
                s = s[len(prefix):]
        s = s.rstrip("/")
        if not s:
            raise ValueError("empty registry reference")
        host, _, rest = s.partition("/")
        if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9a-fA-F:]+\](:\d{1,5})?", host):
            raise ValueError(f"{text!r}: {host!r} is not a registry host[:port]")
        if not rest:
            return cls(registry=host)
        digest = tag = None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not DIGEST_RX.fullmatch(digest):
                raise ValueError(f"{text!r}: {digest!r} is not a sha256 digest")
        last = rest.rsplit("/", 1)[-1]
        if ":" in last:
            rest, tag = rest.rsplit(":", 1)
            if not TAG_RX.fullmatch(tag):
                raise ValueError(f"{text!r}: {tag!r} is not a valid tag")
        if not re.fullmatch(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", rest):
            raise ValueError(f"{text!r}: {rest!r} is not a valid repository name")
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry=host, repository=rest, tag=tag, digest=digest)

    @property
    def ref(self) -> str:
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> "Reference":
        return Reference(self.registry, self.repository, self.tag, digest)

    def __str__(self) -> str:
        s = f"{self.registry}/{self.repository}" if self.repository else self.registry
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


# -- options and credentials --------------------------------------------------------------------

@dataclass(frozen=True)
class RegistryOptions:
    """Everything a client needs; picklable so that workers can build their own client."""

    plain_http: bool = False
    allow_cleartext_auth: bool = False
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    username: str | None = None
    password: str | None = None
    docker_config: str | None = None  # a config.json path; default $DOCKER_CONFIG or ~/.docker
    timeout: float = 30.0
    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 4.0
    max_blob_bytes: int = 16 << 30

    def credentials_for(self, host: str) -> tuple[str, str] | None:
        if self.username is not None:
            return self.username, self.password or ""
        return docker_credentials(host, self.docker_config)


def docker_config_path(explicit: str | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("DOCKER_CONFIG")
    if env:
        return Path(env) / "config.json"
    return Path.home() / ".docker" / "config.json"


def docker_credentials(host: str, explicit: str | None = None) -> tuple[str, str] | None:
    """(user, password) for ``host`` from Docker's config.json ``auths`` (inline entries only)."""
    path = docker_config_path(explicit)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    auths = data.get("auths") if isinstance(data, dict) else None
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        k = str(key)
        k = k.split("://", 1)[-1].split("/", 1)[0]
        if k != host or not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, pw = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
                return user, pw
            except (ValueError, UnicodeDecodeError):
                return None
        if entry.get("username"):
            return str(entry["username"]), str(entry.get("password", ""))
    return None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'([A-Za-z_]+)="([^"]*)"', rest)}
    return scheme.lower(), params


# -- the client ----------------------------------------------------------------------------------

@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    resumed: int = 0


class _TLSOnFirstUse(httpx.BaseTransport):
    """httpx's transport for HTTPS, with the options' CA (or none with ``insecure_skip_verify``),
    made when the first HTTPS request is sent."""

    def __init__(self, options: "RegistryOptions"):
        self.options = options
        self._transport: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def _get(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._transport is None:
                o = self.options
                if o.insecure_skip_verify:
                    verify: Any = False
                else:
                    verify = ssl.create_default_context(cafile=o.ca_file) if o.ca_file else True
                self._transport = httpx.HTTPTransport(verify=verify)
            return self._transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._get().handle_request(request)

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()


class RegistryClient:
    """One client per process (thread-safe); talk to any number of registries."""

    def __init__(self, options: RegistryOptions | None = None):
        self.options = options or RegistryOptions()
        o = self.options
        # TLS through a transport made on first use (loading the CA store takes 0.05-0.3 s, which a
        # plain-HTTP registry never needs); plain HTTP URLs through a transport without TLS
        self.http = httpx.Client(transport=_TLSOnFirstUse(o), mounts={"http://": httpx.HTTPTransport(verify=False)},
                                 timeout=httpx.Timeout(o.timeout, connect=min(o.timeout, 10.0)),
                                 follow_redirects=False, trust_env=False,
                                 headers={"User-Agent": "provcheck-fleet"})
        self._auth: dict[tuple[str, str], str] = {}   # (host, scope) -> Authorization header
        self._lock = threading.Lock()
        self.stats = Stats()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------
    def base(self, host: str) -> str:
        return f"{'http' if self.options.plain_http else 'https'}://{host}"

    def _send(self, method: str, url: str, *, scope: str, stream: bool = False,
              headers: dict[str, str] | None = None, follow: int = 5) -> httpx.Response:
        """One request with auth, redirects and bounded retries. The caller closes streams."""
        host = urlparse(url).netloc
        o = self.options
        last: str = ""
        for attempt in range(o.attempts):
            if attempt:
                with self._lock:
                    self.stats.retries += 1
                time.sleep(min(o.max_backoff, o.backoff * (2 ** (attempt - 1))))
            hdrs = dict(headers or {})
            auth = self._auth.get((host, scope))
            if auth and urlparse(url).netloc == host:
                hdrs["Authorization"] = auth
            try:
                resp = self._follow(method, url, hdrs, stream, follow)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            except ssl.SSLError as exc:
                raise RegistryError(f"TLS error talking to {host}: {exc}") from None
            if resp.status_code == 401:
                header = resp.headers.get("www-authenticate", "")
                resp.close()
                if auth is not None and not header:
                    raise AuthError(f"{host}: credentials rejected (401)")
                if not self._authenticate(host, scope, header, rejected=auth is not None):
                    raise AuthError(f"{host}: authentication required (401) and no usable credentials "
                                    f"(docker config.json, --username/--password)")
                try:
                    resp = self._follow(method, url, {**hdrs, "Authorization": self._auth[(host, scope)]},
                                        stream, follow)
                except (httpx.TransportError, httpx.TimeoutException) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                    continue
                if resp.status_code == 401:
                    resp.close()
                    with self._lock:
                        self._auth.pop((host, scope), None)
                    if self.options.credentials_for(host) is None:
                        raise AuthError(f"{host}: not authorized for {scope or 'access'} without credentials (401)")
                    raise AuthError(f"{host}: credentials rejected (401)")
            if resp.status_code in TRANSIENT:
                last = f"HTTP {resp.status_code}"
                retry_after = resp.headers.get("retry-after", "")
                resp.close()
                if retry_after.isdigit():
                    time.sleep(min(float(retry_after), o.max_backoff))
                continue
            return resp
        raise RegistryError(f"{method} {url}: giving up after {o.attempts} attempts ({last})")

    def _follow(self, method: str, url: str, headers: dict[str, str], stream: bool, follow: int) -> httpx.Response:
        origin = urlparse(url).netloc
        for _ in range(follow + 1):
            with self._lock:
                self.stats.requests += 1
            req = self.http.build_request(method, url, headers=headers)
            resp = self.http.send(req, stream=True)
            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("location"):
                resp.close()
                url = urljoin(url, resp.headers["location"])
                if urlparse(url).netloc != origin:  # blob storage elsewhere: never forward credentials
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                if urlparse(url).scheme == "http" and not self.options.plain_http:
                    raise RegistryError(f"redirect to plain HTTP ({url}) refused; use --plain-http to allow it")
                continue
            if not stream:  # a registry's JSON answer, read with a cap: never trust its size
                try:
                    body = bytearray()
                    for chunk in resp.iter_bytes():
                        body += chunk
                        if len(body) > MAX_RESPONSE:
                            raise RegistryError(f"{url}: answer larger than {MAX_RESPONSE} bytes; refused")
                    resp._content = bytes(body)  # what httpx's own read() would set
                finally:
                    resp.close()
            return resp
        raise RegistryError(f"{url}: too many redirects")

    def _cleartext_ok(self, url: str) -> bool:
        return urlparse(url).scheme == "https" or (self.options.plain_http and self.options.allow_cleartext_auth)

    def _authenticate(self, host: str, scope: str, header: str, rejected: bool) -> bool:
        scheme, params = _challenge(header)
        creds = self.options.credentials_for(host)
        if rejected and scheme == "basic":
            raise AuthError(f"{host}: credentials rejected (401)")
        if scheme == "basic":
            if creds is None:
                return False
            if not self._cleartext_ok(self.base(host)):
                raise AuthError(f"{host}: refusing to send credentials over plain HTTP "
                                f"(add --allow-cleartext-auth if you really mean it)")
            token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            with self._lock:
                self._auth[(host, scope)] = f"Basic {token}"
            return True
        if scheme == "bearer":
            realm = params.get("realm")
            if not realm:
                return False
            if not self._cleartext_ok(realm):
                raise AuthError(f"{host}: token service {realm} is plain HTTP; refusing to use it "
                                f"(add --allow-cleartext-auth if you really mean it)")
            query = {"service": params.get("service", "")} if params.get("service") else {}
            query["scope"] = params.get("scope") or scope
            headers = {}
            if creds is not None:
                headers["Authorization"] = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            try:
                resp = self.http.get(realm, params=query, headers=headers)
            except httpx.HTTPError as exc:
                raise AuthError(f"{host}: token service {realm} failed: {exc}") from None
            if resp.status_code in (401, 403):
                raise AuthError(f"{host}: token service refused the credentials ({resp.status_code})")
            try:
                body = resp.json()
                token = body.get("token") or body.get("access_token")
            except ValueError:
                token = None
            if resp.status_code != 200 or not token:
                raise AuthError(f"{host}: token service {realm} answered {resp.status_code} without a token")
            with self._lock:
                self._auth[(host, scope)] = f"Bearer {token}"
            return True
        return False

    # -- API -----------------------------------------------------------------------------
    def ping(self, host: str) -> None:
        resp = self._send("GET", f"{self.base(host)}/v2/", scope="")
        if resp.status_code != 200:
            raise RegistryError(f"{host}: /v2/ answered HTTP {resp.status_code}; not an OCI registry?")

    def _list(self, host: str, path: str, key: str, scope: str) -> list[str]:
        out: list[str] = []
        url = f"{self.base(host)}{path}"
        seen: set[str] = set()
        for _ in range(MAX_LIST_PAGES):
            if url in seen:
                raise RegistryError(f"{host}{path}: pagination loops back to {url}")
            seen.add(url)
            resp = self._send("GET", url, scope=scope, headers={"Accept": "application/json"})
            if resp.status_code != 200:
                raise RegistryError(f"GET {url}: HTTP {resp.status_code}")
            try:
                items = (resp.json() or {}).get(key) or []
            except ValueError:
                raise RegistryError(f"GET {url}: not JSON") from None
            out += [str(x) for x in items if isinstance(x, str)]
            m = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', resp.headers.get("link", ""))
            if not m:
                return out
            nxt = urljoin(url, m.group(1))
            if urlparse(nxt).netloc != host:
                raise RegistryError(f"GET {url}: pagination link leaves the registry ({nxt})")
            url = nxt
        raise RegistryError(f"{host}{path}: more than {MAX_LIST_PAGES} pages")

    def catalog(self, host: str) -> list[str]:
        return self._list(host, "/v2/_catalog?n=1000", "repositories", "registry:catalog:*")

    def tags(self, host: str, repository: str) -> list[str]:
        return self._list(host, f"/v2/{repository}/tags/list?n=1000", "tags", f"repository:{repository}:pull")

    def manifest(self, ref: Reference, reference: str | None = None,
                 accept: tuple[str, ...] = MANIFEST_TYPES) -> tuple[str, str, dict[str, Any], bytes] | None:
        """(digest, media type, parsed JSON, raw bytes) of a manifest, verified; None on 404."""
        reference = reference or ref.ref
        if not (DIGEST_RX.fullmatch(reference) or TAG_RX.fullmatch(reference)):
            raise RegistryError(f"{ref.registry}/{ref.repository}: {reference!r} is neither a tag nor a sha256 digest")
        url = f"{self.base(ref.registry)}/v2/{ref.repository}/manifests/{reference}"
        resp = self._send("GET", url, scope=f"repository:{ref.repository}:pull", stream=True,
                          headers={"Accept": ", ".join(accept)})
        try:
            if resp.status_code == 404:
                return None
            if resp.status_code != 200:
                raise RegistryError(f"{ref.registry}/{ref.repository}:{reference}: manifest answered HTTP {resp.status_code}")
            raw = bytearray()
            for chunk in resp.iter_bytes():
                raw += chunk
                if len(raw) > MAX_MANIFEST:
                    raise RegistryError(f"{ref}: manifest larger than {MAX_MANIFEST} bytes")
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise RegistryError(f"{ref}: manifest download failed: {exc}") from None
        finally:
            resp.close()
        data = bytes(raw)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if DIGEST_RX.fullmatch(reference) and digest != reference:
            raise DigestMismatch(f"{ref.registry}/{ref.repository}: manifest {reference} hashes to {digest}")
        header = resp.headers.get("docker-content-digest")
        if header and DIGEST_RX.fullmatch(header) and header != digest:
            raise DigestMismatch(f"{ref.registry}/{ref.repository}:{reference}: manifest hashes to {digest}, "
                                 f"registry says {header}")
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{ref}: manifest is not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise RegistryError(f"{ref}: manifest is not a JSON object")
        media = doc.get("mediaType") or resp.headers.get("content-type", "").split(";")[0]
        return digest, media, doc, data

    def blob_bytes(self, ref: Reference, digest: str, limit: int = MAX_MANIFEST) -> bytes:
        """A small blob (config, SBOM) in memory, verified."""
        if not DIGEST_RX.fullmatch(str(digest)):
            raise RegistryError(f"{ref.registry}/{ref.repository}: blob digest {digest!r} is not sha256:<hex>")
        url = f"{self.base(ref.registry)}/v2/{ref.repository}/blobs/{digest}"
        last = ""
        for _ in range(self.options.attempts):
            resp = self._send("GET", url, scope=f"repository:{ref.repository}:pull", stream=True)
            try:
                if resp.status_code != 200:
                    raise RegistryError(f"{ref.registry}/{ref.repository}: blob {digest} answered HTTP {resp.status_code}")
                h, buf = hashlib.sha256(), bytearray()
                for chunk in resp.iter_bytes():
                    buf += chunk
                    h.update(chunk)
                    if len(buf) > limit:
                        raise RegistryError(f"{ref}: blob {digest} larger than {limit} bytes")
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                resp.close()
            actual = "sha256:" + h.hexdigest()
            if actual != digest:
                raise DigestMismatch(f"{ref.registry}/{ref.repository}: blob {digest} hashes to {actual} "
                                     f"({len(buf)} bytes)")
            with self._lock:
                self.stats.bytes += len(buf)
            return bytes(buf)
        raise RegistryError(f"{ref}: blob {digest}: download failed ({last})")

    def fetch_blob(self, ref: Reference, desc: dict[str, Any], dest: Path, partial_dir: Path) -> Path:
        """Download a blob to ``dest`` (atomically, after verification), resuming a partial file.

        The partial file survives interruptions and transient failures; a completed
        download whose content does not hash to the digest is deleted and raises."""
        digest = str(desc.get("digest", ""))
        if not DIGEST_RX.fullmatch(digest):
            raise RegistryError(f"{ref}: layer digest {digest!r} is not sha256:<hex>")
        declared = desc.get("size") if isinstance(desc.get("size"), int) else None
        cap = min(self.options.max_blob_bytes, declared if declared is not None else self.options.max_blob_bytes)
        partial_dir.mkdir(parents=True, exist_ok=True)
        with open(partial_dir / f"{digest[7:]}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one downloader per blob; the others reuse its result
            if dest.exists():
                return dest
            return self._fetch_blob(ref, digest, declared, cap, dest, partial_dir / f"{digest[7:]}.part")

    def _fetch_blob(self, ref: Reference, digest: str, declared: int | None, cap: int, dest: Path,
                    part: Path) -> Path:
        url = f"{self.base(ref.registry)}/v2/{ref.repository}/blobs/{digest}"
        last = ""
        for attempt in range(self.options.attempts):
            have = part.stat().st_size if part.exists() else 0
            if have > cap:
                part.unlink()
                have = 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            resp = self._send("GET", url, scope=f"repository:{ref.repository}:pull", stream=True, headers=headers)
            try:
                if resp.status_code == 206 and have:
                    mode = "ab"
                    with self._lock:
                        self.stats.resumed += 1
                elif resp.status_code == 200:
                    mode, have = "wb", 0
                elif resp.status_code == 416 and have:
                    mode = None  # already complete on our side
                else:
                    raise RegistryError(f"{ref.registry}/{ref.repository}: blob {digest} answered HTTP {resp.status_code}")
                if mode:
                    with open(part, mode) as f:
                        written = have
                        for chunk in resp.iter_bytes():
                            if written + len(chunk) > cap:
                                f.write(chunk[:cap + 1 - written])
                                written = cap + 1
                                break
                            f.write(chunk)
                            written += len(chunk)
                        with self._lock:
                            self.stats.bytes += written - have
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                last = f"{type(exc).__name__}: {exc}"
                time.sleep(min(self.options.max_backoff, self.options.backoff * (2 ** attempt)))
                continue
            finally:
                resp.close()
            h, size = hashlib.sha256(), 0
            with open(part, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
                    size += len(block)
            actual = "sha256:" + h.hexdigest()
            if actual == digest and (declared is None or size == declared):
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part, dest)
                return dest
            if declared is not None and size < declared and actual != digest:
                last = f"truncated: got {size} of {declared} bytes"
                time.sleep(min(self.options.max_backoff, self.options.backoff * (2 ** attempt)))
                continue  # resume from where it stopped
            part.unlink(missing_ok=True)
            why = (f"is {size} bytes, descriptor says {declared}" if declared is not None and size != declared
                   else f"hashes to {actual}")
            raise DigestMismatch(f"{ref.registry}/{ref.repository}: blob {digest} {why}")
        part.unlink(missing_ok=True)
        raise RegistryError(f"{ref.registry}/{ref.repository}: blob {digest}: download failed after "
                            f"{self.options.attempts} attempts ({last})")

    def referrers(self, ref: Reference, digest: str,
                  fallback_exists: bool | None = None) -> tuple[list[dict[str, Any]], str]:
        """Descriptors that refer to ``digest``: the OCI 1.1 referrers API, else the fallback
        tag ``sha256-<hex>``. Returns (descriptors, how)."""
        url = f"{self.base(ref.registry)}/v2/{ref.repository}/referrers/{digest}"
        resp = self._send("GET", url, scope=f"repository:{ref.repository}:pull",
                          headers={"Accept": "application/vnd.oci.image.index.v1+json"})
        if resp.status_code == 200 and "json" in resp.headers.get("content-type", "json"):
            try:
                doc = resp.json()
                return [m for m in doc.get("manifests") or [] if isinstance(m, dict)], "referrers-api"
            except ValueError:
                pass
        if fallback_exists is False:
            return [], "none"
        got = self.manifest(ref, digest.replace(":", "-"), accept=(INDEX_TYPES[0],))
        if got is None:
            return [], "none"
        return [m for m in got[2].get("manifests") or [] if isinstance(m, dict)], "referrers-tag"

    def close_quietly(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def iter_platform_manifests(index: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for m in index.get("manifests") or []:
        if not isinstance(m, dict):
            continue
        plat = m.get("platform") or {}
        if m.get("artifactType") or plat.get("os") == "unknown":
            continue  # attestation manifests (buildx) and artifacts
        yield m


def platform_str(p: dict[str, Any] | None) -> str:
    if not p:
        return ""
    return "/".join(str(x) for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x)
