"""The persistent cache: verified entries, atomic writes, LRU bound, shared by processes; warm == cold."""

import json
import os
import signal
import struct
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


def test_an_entry_of_parts_verifies_its_head_on_open_and_each_part_on_read(tmp_path):
    import hashlib
    cache = Cache(tmp_path / "c")
    one, two = b"first part " * 10, b"second part " * 10
    sha = [hashlib.sha256(p).hexdigest() for p in (one, two)]
    cache.put_parts("ns", "k", b"the head", [one, two], "v1")
    (path,) = _entries(tmp_path / "c")
    data = path.read_bytes()
    assert cache.open_parts("ns", "k", "v2") is None and path.exists()  # another version: a miss
    parts = cache.open_parts("ns", "k", "v1")
    assert parts.head == b"the head" and parts.read(len(one), len(two), sha[1]) == two
    assert parts.read(0, len(one), sha[1]) is None  # not the bytes that digest names: the entry is dropped
    assert not path.exists() and len(cache.dropped) == 1
    assert parts.read(0, len(one), sha[0]) == one  # each part is still verified on its own
    parts.close()
    path.write_bytes(data.replace(b"second part", b"second p4rt", 1))  # a part changed on disk
    parts = cache.open_parts("ns", "k", "v1")
    assert parts.read(0, len(one), sha[0]) == one and path.exists()
    assert parts.read(len(one), len(two), sha[1]) is None and not path.exists()
    parts.close()
    for damaged in (data[:-1], data.replace(b"the head", b"the hea_")):  # truncated; head changed
        path.write_bytes(damaged)
        assert cache.open_parts("ns", "k", "v1") is None and not path.exists()
    assert len(cache.dropped) == 4


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


DPKG = {"var/lib/dpkg/status": "".join(f"Package: pkg{i}\nStatus: install ok installed\nVersion: 1.{i}\n"
                                       f"Architecture: amd64\nDescription: package number {i}\n\n" for i in range(40)),
        "var/lib/dpkg/info/pkg1:amd64.list": "/.\n/usr\n/usr/share\n/usr/share/doc/notes.txt\n",
        "usr/share/doc/notes.txt": "plain notes, never read again once judged\n" * 40,
        "etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
                          'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
                          'HOME_URL="https://www.debian.org/"\n'}


def _layer_parts(cache):
    """{path: (entry file, absolute offset, size)} of every kept content stored as a part."""
    out = {}
    for entry in (cache / "entries" / "image-layers").glob("*/*"):
        data = entry.read_bytes()
        header_line = data[:data.index(b"\n") + 1]
        head_size = json.loads(header_line)["head"]
        (n,) = struct.unpack(">Q", data[len(header_line):len(header_line) + 8])
        index = json.loads(data[len(header_line) + 8:len(header_line) + 8 + n])
        body = len(header_line) + head_size
        for item in index["items"]:
            if item[5] in index["kept"]:
                off, size = index["kept"][item[5]]
                out[item[1]] = (entry, body + off, size)
    return out


def _flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x20]))


def test_kept_contents_are_verified_when_read_not_at_load(checker, tmp_path):
    """A warm run verifies a kept content (a part of the layer's entry) when it reads it: a
    damaged part it does not read changes nothing; one it reads (os-release, for the SBOM's
    distro) is caught, the entry dropped, said so, decompressed from the layer and rebuilt in
    the same run."""
    image = checker.oci([BASE, DPKG])
    cache = tmp_path / "cache"
    cold = _scan(checker, image, cache)
    assert cold["artifacts"][0]["files"] >= 7 and not cold.get("notes")
    parts = _layer_parts(cache)
    assert {"etc/os-release", "var/lib/dpkg/status", "usr/share/doc/notes.txt"} <= set(parts)
    # a part the warm run does not read (its detector results are cached): not even opened
    entry, offset, size = parts["usr/share/doc/notes.txt"]
    _flip(entry, offset + size // 2)
    warm = _scan(checker, image, cache)
    _same(cold, warm)
    assert not warm.get("notes") and entry.exists()
    # when a run does need it (another option: the detector reads every file again), it is caught
    option = ("--set", "testdata.swap-search=false")
    again = _scan(checker, image, cache, *option)
    _same(_scan(checker, image, tmp_path / "other", "--no-cache", *option), again)
    assert [n for n in again.get("notes", []) if "part's sha256" in n and "dropped" in n], again.get("notes")
    # rebuilt in that run: whole again, and a part every warm run reads is caught the same way
    parts = _layer_parts(cache)
    entry, offset, size = parts["etc/os-release"]
    assert _scan(checker, image, cache).get("notes") is None
    _flip(entry, offset + size // 2)
    damaged = _scan(checker, image, cache)
    _same(cold, damaged)
    assert [n for n in damaged.get("notes", []) if "part's sha256" in n], damaged.get("notes")
    third = _scan(checker, image, cache)
    _same(cold, third)
    assert third.get("notes") is None  # rebuilt, verified


def test_prune_evicts_directory_units_least_recently_used_never_in_use(checker, tmp_path):
    """``cache prune`` evicts the units an area's owner declares (one unpacked toolchain), with
    the entries, oldest use first; a unit whose lock is held or that was used within the grace
    period stays, and an area without units is only counted (``cache info`` says which is which)."""
    import fcntl
    root = tmp_path / "cache"
    cache = Cache(root)
    area = cache.directory("toolchains", units=("trees/*", "debs/*"))
    cache.directory("other")
    now = time.time()
    for name, age in (("busy", 9000), ("old", 7200), ("mid", 3600), ("new", 1800), ("fresh", 0)):
        bindir = area / "trees" / name / "tree" / "usr" / "bin"
        bindir.mkdir(parents=True)
        (bindir / "tool").write_bytes(b"x" * 1000)
        bindir.chmod(0o555)  # unpacked packages have read-only directories
        (area / "trees" / f"{name}.lock").touch()
        os.utime(area / "trees" / name, (now - age, now - age))
    outside = tmp_path / "outside"  # a symlinked directory in the area: never followed out of it
    (outside / "precious").mkdir(parents=True)
    (outside / "precious" / "data").write_bytes(b"y" * 5000)
    os.utime(outside / "precious", (now - 99999, now - 99999))
    (area / "debs").symlink_to(outside)
    (area / "apt" / "bookworm").mkdir(parents=True)
    (area / "apt" / "bookworm" / "index.json").write_bytes(b"{}" * 500)  # not a declared unit
    cache.put("ns", "entry", bytes(1000))
    os.utime(cache._path("ns", "entry"), (now - 5000, now - 5000))
    info = json.loads(checker.run_cli("cache", "info", "--format", "json", "--cache-dir", str(root)).stdout)
    total = info["bytes"] + sum(d["bytes"] for d in info["directories"].values())
    assert info["directories"]["toolchains"]["evicted"] == ["debs/*", "trees/*"]
    text = checker.run_cli("cache", "info", "--cache-dir", str(root)).stdout
    assert "prune evicts debs/*, trees/* by last use" in text and "dirs/other" in text and "not evicted" in text
    with open(area / "trees" / "busy.lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a run is using it
        res = checker.run_cli("cache", "prune", "--max-size", str(total - 2000), "--cache-dir", str(root))
        assert res.exit_code == 0, res.stderr
        assert sorted(p.name for p in (area / "trees").iterdir() if not p.name.endswith(".lock")) == \
            ["busy", "fresh", "mid", "new"]  # the oldest free unit went, then the entry: enough
        assert cache.get("ns", "entry") is None and "removed 2 entries and directory units" in res.stdout
        checker.run_cli("cache", "prune", "--max-size", "0", "--cache-dir", str(root))
        assert sorted(p.name for p in (area / "trees").iterdir() if not p.name.endswith(".lock")) == \
            ["busy", "fresh"]  # in use, and used within the grace period
    assert (area / "apt" / "bookworm" / "index.json").exists() and not list(area.rglob(".trash-*"))
    assert (outside / "precious" / "data").exists()
    checker.run_cli("cache", "prune", "--max-size", "0", "--cache-dir", str(root))
    assert sorted(p.name for p in (area / "trees").iterdir() if not p.name.endswith(".lock")) == ["fresh"]
