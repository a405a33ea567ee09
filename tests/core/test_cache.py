"""The persistent cache: verified entries, atomic writes, LRU bound, shared by processes; warm == cold."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from provcheck import Cache
from provcheck.testing import File, Symlink

BASE = {"etc/os-release": "ID=debian\n", "usr/bin/su": File(b"#!/bin/sh\nexec true\n", 0o4755),
        "usr/lib/big.bin": File(os.urandom(300 << 10)), "usr/lib/libx.so.1": "x1", "bin": Symlink("usr/bin")}
TOP = {"usr/lib/.wh.libx.so.1": "", "etc/os-release": "ID=debian\nVERSION=12\n", "opt/app/c": "c"}


def _entries(root):
    return sorted(p for p in (root / "entries").rglob("*") if p.is_file())


def _scan(checker, image, cache, *extra):
    res = checker.run_cli("scan", "--format", "json", "--cache-dir", str(cache), *extra, str(image))
    assert res.exit_code in (0, 1), res.stdout[-2000:]
    return json.loads(res.stdout)


def _same(a, b):
    for key in ("findings", "errors", "artifacts", "summary"):
        assert a[key] == b[key], key


def test_entries_are_verified_and_damaged_ones_dropped(tmp_path):
    cache = Cache(tmp_path / "c")
    cache.put("ns", "k1", b"payload one", "v1")
    assert cache.get("ns", "k1", "v1") == b"payload one"
    assert cache.get("ns", "k1", "v2") is None  # another version: a miss, not an error
    (path,) = _entries(tmp_path / "c")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"payload one", b"payload 0ne"))  # poisoned: same size, other bytes
    assert cache.get("ns", "k1", "v1") is None and not path.exists()
    cache.put("ns", "k1", b"payload one", "v1")
    path.write_bytes(data[:-3])  # truncated
    assert cache.get("ns", "k1", "v1") is None and not path.exists()
    assert len(cache.dropped) == 2 and all("dropped" in d for d in cache.dropped)


def test_lru_bound_and_the_cache_command(checker, tmp_path):
    root = tmp_path / "c"
    cache = Cache(root)
    for name in ("old", "mid", "new"):
        cache.put("ns", name, bytes(1000), "")
    now = time.time()
    for age, name in ((300, "old"), (200, "mid"), (100, "new")):
        path = cache._path("ns", name)
        os.utime(path, (now - age, now - age))
    assert cache.get("ns", "old") is not None  # a read makes it the most recent
    res = checker.run_cli("cache", "prune", "--max-size", "2500", "--cache-dir", str(root))
    assert res.exit_code == 0, res.stderr
    assert cache.get("ns", "mid") is None and cache.get("ns", "old") and cache.get("ns", "new")
    info = json.loads(checker.run_cli("cache", "info", "--format", "json", "--cache-dir", str(root)).stdout)
    assert info["namespaces"] == {"ns": {"entries": 2, "bytes": info["bytes"]}} and info["entries"] == 2
    assert checker.run_cli("cache", "clear", "--cache-dir", str(root)).exit_code == 0
    assert not _entries(root)
    assert checker.run_cli("cache", "info", "--no-cache").exit_code == 4


def test_a_killed_writer_leaves_nothing_readable(tmp_path):
    root = tmp_path / "c"
    code = ("import sys; from provcheck import Cache; "
            "Cache(sys.argv[1]).put('ns', 'big', b'x' * (1 << 30))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(root)])
    try:
        deadline = time.time() + 60
        while not list(root.rglob(".tmp-*")) and time.time() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    tmp = list(root.rglob(".tmp-*"))
    assert tmp, "the writer was killed before it started writing"
    cache = Cache(root)
    assert cache.get("ns", "big") is None  # only the temp file exists
    # an entry cut short on disk (a crash on a filesystem without atomic rename) is caught too
    cache.put("ns", "small", b"y" * 5000)
    path = cache._path("ns", "small")
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    assert cache.get("ns", "small") is None
    cache.put("ns", "small", b"y" * 5000)  # rebuilt
    assert cache.get("ns", "small") == b"y" * 5000
    removed, _ = cache.prune()
    assert removed == len(tmp) and not list(root.rglob(".tmp-*"))


def test_warm_image_scan_equals_cold_and_survives_a_poisoned_layer(checker, tmp_path):
    image = checker.oci([BASE, TOP])
    cache = tmp_path / "cache"
    cold = _scan(checker, image, cache)
    assert any(f["rule_id"] == "PC904" for f in cold["findings"])  # a layer finding, kept in the entry
    layer_entries = [p for p in (cache / "entries" / "image-layers").rglob("*") if p.is_file()]
    assert len(layer_entries) == 2
    warm = _scan(checker, image, cache)
    _same(cold, warm)
    files = [checker.run_cli("files", "--cache-dir", str(cache), str(image)).stdout for _ in range(2)]
    cold_files = checker.run_cli("files", "--no-cache", str(image)).stdout
    assert files[0] == files[1] == cold_files and "usr/lib/big.bin" in cold_files
    # a poisoned entry: dropped, said so, rebuilt; the report does not change
    victim = max(layer_entries, key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    victim.write_bytes(bytes(data))
    again = _scan(checker, image, cache)
    _same(cold, again)
    assert any("dropped" in n for n in again.get("notes", []))
    assert _scan(checker, image, cache).get("notes") is None  # rebuilt and verified


def test_a_tampered_layer_blob_is_caught_on_a_warm_run(checker, tmp_path):
    image = checker.oci([BASE, TOP])
    cache = tmp_path / "cache"
    _scan(checker, image, cache)
    manifest = json.loads((image / "index.json").read_text())["manifests"][0]["digest"].split(":")[1]
    layer = json.loads((image / "blobs/sha256" / manifest).read_text())["layers"][1]["digest"].split(":")[1]
    blob = image / "blobs/sha256" / layer
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    res = checker.run_cli("scan", "--format", "json", "--cache-dir", str(cache), str(image))
    assert any(f["rule_id"] == "PC907" for f in json.loads(res.stdout)["findings"])


def test_no_cache_writes_nothing(checker, tmp_path):
    image = checker.oci([BASE])
    _scan(checker, image, tmp_path / "cache", "--no-cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_processes_share_the_cache_on_a_real_image(checker, tmp_path):
    import realdata
    image = realdata.image([["libc6", "bash", "coreutils"], ["openssh-server"]], "sshd")
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
    cmd = [sys.executable, "-m", "provcheck", "scan", "--format", "json", "--cache-dir", str(cache), str(image)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
             for _ in range(2)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode in (0, 1), err
        reports.append(json.loads(out))
    third = _scan(checker, image, cache)
    for r in reports[1:] + [third]:
        _same(reports[0], r)
    assert third["stats"]["seconds"]["load"] < min(r["stats"]["seconds"]["load"] for r in reports)
    assert not list(cache.rglob(".tmp-*"))
    info = json.loads(checker.run_cli("cache", "info", "--format", "json", "--cache-dir", str(cache)).stdout)
    assert info["namespaces"]["image-layers"]["entries"] == 2
