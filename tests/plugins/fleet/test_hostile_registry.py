"""A registry that lies: crafted catalog, tag lists and manifests from a tiny server on 127.0.0.1."""

from __future__ import annotations

import http.server
import json
import threading

import pytest


class Hostile(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path
        body, headers = self.routes.get(path, (None, {}))
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(200)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def hostile():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    host = f"127.0.0.1:{server.server_address[1]}"
    oci = "application/vnd.oci.image.manifest.v1+json"
    Hostile.routes = {
        "/v2/": ({}, {}),
        "/v2/_catalog?n=1000": ({"repositories": ["good", "../../etc", "UPPER", "evil/list", "evil/big", "loop"]},
                               {"Link": '</v2/_catalog?last=loop&n=1000>; rel="next"'}),
        "/v2/_catalog?last=loop&n=1000": ({"repositories": []}, {}),
        "/v2/good/tags/list?n=1000": ({"tags": ["1", "../x", 7]}, {}),
        "/v2/good/manifests/1": ({"schemaVersion": 2, "mediaType": oci, "layers": [],
                                  "config": {"digest": "sha256:../../../../v2/_catalog", "size": 2}}, {}),
        "/v2/evil/list/tags/list?n=1000": ({"tags": ["1"]}, {}),
        "/v2/evil/list/manifests/1": ([1, 2, 3], {}),
        "/v2/evil/big/tags/list?n=1000": ({"tags": ["1"]}, {}),
        "/v2/evil/big/manifests/1": (b"{" + b" " * (5 << 20) + b"}", {}),
        "/v2/loop/tags/list?n=1000": ({"tags": ["1"]}, {"Link": '</v2/loop/tags/list?n=1000>; rel="next"'}),
    }
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield host
    server.shutdown()
    server.server_close()


def test_hostile_registry_gives_errors_not_tracebacks(checker, hostile, tmp_path):
    res = checker.run_cli("fleet", "scan", f"registry://{hostile}", "--plain-http", "--db", str(tmp_path / "i.sqlite"),
                          "--cache-dir", str(tmp_path / "c"), "--format", "json")
    assert "Traceback" not in res.stderr and "internal error" not in res.stdout + res.stderr
    assert res.exit_code == 3
    errors = {e["image"]: e["error"] for e in res.json()["stats"]["errors"]}
    text = json.dumps(errors)
    assert "'../../etc' is not a valid repository name" in text or "../../etc" in text
    assert any("UPPER" in k for k in errors)
    assert "pagination loops back" in errors[f"{hostile}/loop"]
    assert "is not sha256:<hex>" in errors[f"{hostile}/good:1"]
    assert "not a JSON object" in errors[f"{hostile}/evil/list:1"]
    assert "larger than" in errors[f"{hostile}/evil/big:1"]
    assert any("../x" in k for k in errors)  # a hostile tag name is reported, never requested
