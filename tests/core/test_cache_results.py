"""Detector results in the one cache (issue 13): a warm scan of a real image gives exactly the
cold report without reading file contents again; damaged result entries are dropped and
rebuilt; options and plugin code invalidate; no plugin keeps a cache of its own."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

import realdata

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def image():
    return realdata.image([["libc6", "bash", "coreutils"], ["openssh-server"]], "sshd")


@pytest.fixture(scope="module")
def cold_run(image, tmp_path_factory):
    """One cold scan of the image: (its report, its cache), copied by each test."""
    from provcheck.testing import Checker
    base = tmp_path_factory.mktemp("cold")
    checker = Checker(base / "checker")
    report = _scan(checker, image, base / "cache", env={"HOME": str(base)})
    return report, base / "cache"


@pytest.fixture
def cold(cold_run, tmp_path):
    report, template = cold_run
    shutil.copytree(template, tmp_path / "cache")
    return report, tmp_path / "cache"


def _scan(checker, target, cache, *extra, plugins=None, env=None):
    res = checker.run_cli("scan", "--format", "json", "--cache-dir", str(cache), *extra, str(target),
                          plugins=plugins, env=env)
    assert res.exit_code in (0, 1), res.stderr[-2000:]
    return json.loads(res.stdout)


def _same(a, b):
    for key in ("findings", "errors", "artifacts", "summary"):
        if key == "findings":
            for x, y in zip(a[key], b[key]):
                assert x == y, {k: (x.get(k), y.get(k)) for k in set(x) | set(y) if x.get(k) != y.get(k)}
        assert a[key] == b[key], key


def _results(report, plugin):
    return report["stats"].get("cached_results", {}).get(plugin, {"hits": 0, "misses": 0})


def _entries(cache, namespace):
    return [p for p in (cache / "entries" / namespace).rglob("*") if p.is_file()]


@pytest.mark.slow
def test_warm_scan_of_a_real_image_is_the_cold_report_without_reading_contents(checker, image, cold, monkeypatch,
                                                                               capsys):
    cold, cache = cold
    assert cold["findings"] and all(f["fingerprint"] for f in cold["findings"])
    for plugin in ("testdata", "sbom"):
        assert _results(cold, plugin)["misses"] > 1000, plugin  # every file judged, then kept
    # the warm run in-process, counting how often a layer is decompressed again for content
    from provcheck.cli import main
    from provcheck.unpack.oci import ImageLoader
    refills = []
    real_refill = ImageLoader._refill
    monkeypatch.setattr(ImageLoader, "_refill", lambda self, *a: refills.append(a) or real_refill(self, *a))
    for key in [k for k in os.environ if k.startswith("PROVCHECK_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(checker.base)  # as the cold run: no config file of this checkout
    main(["scan", "--format", "json", "--cache-dir", str(cache), str(image)])
    warm = json.loads(capsys.readouterr().out)
    _same(cold, warm)  # same findings (fingerprints, hashes, evidence), errors, artifacts
    for plugin in ("testdata", "sbom"):
        assert _results(warm, plugin) == {"hits": _results(cold, plugin)["misses"] + _results(cold, plugin)["hits"],
                                          "misses": 0}
    assert refills == [], "a warm scan decompressed a layer again"
    spaces = json.loads(checker.run_cli("cache", "info", "--format", "json", "--cache-dir", str(cache)).stdout)
    assert {"image-layers", "results-elf-parse", "results-detect-testdata", "results-detect-sbom"} \
        <= set(spaces["namespaces"])
    # one entry per layer and computation, not one per file
    assert spaces["namespaces"]["results-detect-testdata"]["entries"] == 2


@pytest.mark.slow
def test_a_damaged_result_entry_is_dropped_and_rebuilt(checker, image, cold):
    cold, cache = cold
    poisoned = max(_entries(cache, "results-detect-testdata"), key=lambda p: p.stat().st_size)
    data = bytearray(poisoned.read_bytes())
    i = data.index(b'"binary":false', len(data) // 2)
    data[i + 10:i + 15] = b"true "  # a verdict flipped on disk, same size
    poisoned.write_bytes(bytes(data))
    truncated = max(_entries(cache, "results-detect-sbom"), key=lambda p: p.stat().st_size)
    with open(truncated, "r+b") as f:
        f.truncate(truncated.stat().st_size // 2)
    again = _scan(checker, image, cache)
    _same(cold, again)
    assert sum("dropped" in n for n in again.get("notes", [])) == 2, again.get("notes")
    assert _results(again, "testdata")["misses"] > 0 and _results(again, "sbom")["misses"] > 0
    third = _scan(checker, image, cache)
    assert third.get("notes") is None  # rebuilt, verified
    assert _results(third, "testdata")["misses"] == 0 == _results(third, "sbom")["misses"]
    _same(cold, third)


@pytest.mark.slow
def test_an_option_change_recomputes(checker, image, cold):
    cold, cache = cold
    changed = _scan(checker, image, cache, "--set", "testdata.decode-seconds=7")
    assert _results(changed, "testdata")["misses"] == _results(cold, "testdata")["misses"] > 0
    assert _results(changed, "sbom")["misses"] == 0  # sbom's digests depend on no option
    _same(cold, changed)
    assert _results(_scan(checker, image, cache, "--set", "testdata.decode-seconds=7"), "testdata")["misses"] == 0


PLUGIN = '''
import provcheck

VERSION = {version!r}
RULE = provcheck.Rule(id="PCX01", name="starts-with-magic", summary="a file starts with MAGIC",
                      severity=provcheck.Severity.LOW, doc="")


@provcheck.hookimpl
def provcheck_register_rules():
    return [RULE]


@provcheck.hookimpl
def provcheck_detect(scan, options):
    for artifact in scan.artifacts:
        results = scan.results(__name__, artifact, options)
        for node in artifact.tree.files():
            verdict = results.get(node)
            if verdict is None:
                verdict = {{"magic": artifact.tree.read(node, 5) == options.get("magic", "MAGIC").encode()}}
                results.put(node, verdict)
            if verdict["magic"]:
                yield RULE.finding(location=node.location(artifact.name), message=f"{{node.path}} starts with it")
'''


def test_a_plugin_opts_in_and_its_code_or_options_invalidate(checker, tmp_path):
    tree = checker.tree({"a.bin": "MAGIC one", "b.bin": "MAGIC one", "c.txt": "other", "d/e": "MAGIC two"})
    lib, cache = tmp_path / "lib", tmp_path / "cache"
    lib.mkdir()
    source = lib / "magicplug.py"

    def scan(version, *extra):
        source.write_text(PLUGIN.format(version=version))
        shutil.rmtree(lib / "__pycache__", ignore_errors=True)
        return _scan(checker, tree, cache, *extra, plugins=["magicplug"], env={"PYTHONPATH": str(lib)})

    def paths(report):
        return sorted(f["location"]["path"] for f in report["findings"] if f["rule_id"] == "PCX01")

    cold = scan("1")
    assert paths(cold) == ["a.bin", "b.bin", "d/e"]
    assert _results(cold, "magicplug") == {"hits": 1, "misses": 3}  # a.bin and b.bin: one content
    warm = scan("1")
    assert _results(warm, "magicplug") == {"hits": 4, "misses": 0}
    _same(cold, warm)
    assert _results(scan("2"), "magicplug")["misses"] == 3  # new code: nothing old is served
    other = scan("2", "--set", "magicplug.magic=other")
    assert _results(other, "magicplug")["misses"] == 3 and paths(other) == ["c.txt"]
    (tree / "c.txt").write_text("MAGIC now")  # a changed file is a new content digest
    changed = scan("2")
    assert paths(changed) == ["a.bin", "b.bin", "c.txt", "d/e"] and _results(changed, "magicplug")["misses"] == 1


@pytest.mark.slow
def test_no_plugin_keeps_a_cache_of_its_own(checker, image, cold, tmp_path):
    """scan, linkage and release (with a real regeneration when the sandbox runs here) write only
    entries of provcheck.Cache, plus the documented toolchain directory; clear removes all."""
    _, cache = cold  # what a scan wrote
    res = checker.run_cli("linkage", str(image), "--from", "sshd", "--to", "liblzma", "--cache-dir", str(cache))
    assert res.exit_code == 0, res.stderr
    from provcheck import sandbox
    regenerated = sandbox.unavailable_reason() is None and shutil.which("autoreconf") is not None
    if regenerated:
        sys.path.insert(0, str(HERE.parent / "plugins" / "release"))
        import autotools_project as ap
        release = ap.make_dist(tmp_path / "project")
        repo = checker.gitrepo({k: v.encode() for k, v in ap.TAG_FILES.items()}, name="hello", tags="v1.0")
        tarball = checker.base / "hello-1.0.tar.gz"
        tarball.write_bytes(ap.tarball_bytes(release))
        for _ in range(2):
            res = checker.run_cli("release", str(tarball), "--source", str(repo), "--format", "json",
                                  "--cache-dir", str(cache), "--set", "release.regenerate-download=false",
                                  plugins=["provcheck_release"])
            assert res.stdout, res.stderr[-2000:]
        regen = json.loads(res.stdout)["release"]["regeneration"]
        assert regen["status"] == "done" and regen["cached"] is True, regen
    assert sorted(p.name for p in cache.iterdir()) <= ["dirs", "entries", "lock"]
    if (cache / "dirs").exists():
        assert [p.name for p in (cache / "dirs").iterdir()] == ["toolchains"]
    spaces = {p.name for p in (cache / "entries").iterdir()}
    assert {"image-layers", "results-elf-parse", "results-detect-testdata"} <= spaces
    if regenerated:
        assert {"release-runs", "release-results", "release-outputs"} <= spaces
    info = json.loads(checker.run_cli("cache", "info", "--format", "json", "--cache-dir", str(cache)).stdout)
    if regenerated:
        assert "toolchains" in info["directories"]
    assert checker.run_cli("cache", "clear", "--cache-dir", str(cache)).exit_code == 0
    assert sorted(p.name for p in cache.iterdir()) == ["lock"]


def test_a_plugin_loaded_by_module_name_finds_its_results(checker, tmp_path):
    """``-p provcheck_testdata`` registers the plugin under its module's name, not "testdata"."""
    root = checker.tree({"usr/bin/true": "x", "etc/os-release": "ID=debian\n", "usr/share/doc/a.txt": "a"})
    reports = [_scan(checker, root, tmp_path / "cache", plugins=["provcheck_testdata"]) for _ in range(2)]
    assert reports[0]["errors"] == [] and _results(reports[0], "provcheck_testdata")["misses"] == 3
    assert _results(reports[1], "provcheck_testdata") == {"hits": 3, "misses": 0}


def test_a_cache_directory_is_listed_and_cleared(checker, tmp_path):
    from provcheck import Cache
    root = tmp_path / "cache"
    tree = Cache(root).directory("toolchains") / "trees" / "abc"
    (tree / "usr" / "bin").mkdir(parents=True)
    (tree / "usr" / "bin" / "autoconf").write_bytes(b"#!/bin/sh\n" * 100)
    (tree / "usr" / "bin").chmod(0o555)  # unpacked packages have read-only directories
    with pytest.raises(ValueError):
        Cache(root).directory("../escape")
    info = json.loads(checker.run_cli("cache", "info", "--format", "json", "--cache-dir", str(root)).stdout)
    assert info["directories"] == {"toolchains": {"files": 1, "bytes": 1000, "evicted": []}}
    text = checker.run_cli("cache", "info", "--cache-dir", str(root)).stdout
    assert "dirs/toolchains" in text and "1000 bytes" in text
    assert checker.run_cli("cache", "clear", "--cache-dir", str(root)).exit_code == 0
    assert sorted(p.name for p in root.iterdir()) == ["lock"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("autoreconf") is None, reason="autoreconf is not installed")
def test_no_cache_resolves_toolchains_in_the_runs_work_area(checker, tmp_path, monkeypatch, capsys):
    """``release --no-cache`` with a real regeneration: the toolchains are looked up and unpacked
    in the run's own work area (removed with it), never in the persistent cache."""
    from provcheck import sandbox
    if sandbox.unavailable_reason() is not None:
        pytest.skip(sandbox.unavailable_reason())
    sys.path.insert(0, str(HERE.parent / "plugins" / "release"))
    import autotools_project as ap
    from provcheck.cli import main
    from provcheck_release import toolchain
    release = ap.make_dist(tmp_path / "project")
    repo = checker.gitrepo({k: v.encode() for k, v in ap.TAG_FILES.items()}, name="hello", tags="v1.0")
    tarball = checker.base / "hello-1.0.tar.gz"
    tarball.write_bytes(ap.tarball_bytes(release))
    persistent = tmp_path / "persistent"
    for key in [k for k in os.environ if k.startswith("PROVCHECK_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PROVCHECK_CACHE_DIR", str(persistent))
    monkeypatch.chdir(checker.base)
    where = []
    real = toolchain.flavours
    monkeypatch.setattr(toolchain, "flavours", lambda *a, **kw: where.append(kw.get("cache_dir")) or real(*a, **kw))
    main(["release", str(tarball), "--source", str(repo), "--format", "json", "--no-cache",
          "--set", "release.regenerate-download=false"])
    regen = json.loads(capsys.readouterr().out)["release"]["regeneration"]
    assert regen["status"] == "done" and regen["toolchains"], regen
    assert where and all(d is not None and d.name == "toolchains" and persistent not in d.parents for d in where)
    assert not any(d.exists() for d in where)  # removed with the work area
    assert not persistent.exists()
