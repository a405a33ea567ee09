"""The same fleet scan on a real Dask cluster: scheduler and two workers as separate processes."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
import servers

pytestmark = pytest.mark.slow


@pytest.fixture
def dask_cluster(tmp_path):
    cluster = servers.DaskCluster(tmp_path / "dask", workers=2).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_fleet_scan_on_dask_matches_local(checker, plain_registry, dask_cluster, tmp_path):
    refs = [f"registry://{plain_registry.host}/{r}" for r in ("base:1", "apps/sshd:1", "apps/xz:1")]
    results = {}
    for executor in ("dask", "local"):
        db = tmp_path / f"{executor}.sqlite"
        extra = ["--executor", "dask", "--scheduler", dask_cluster.address] if executor == "dask" else []
        res = checker.run_cli("fleet", "scan", *refs, "--plain-http", "--db", str(db), "--format", "json",
                              "--cache-dir", str(tmp_path / f"cache-{executor}"), *extra)
        assert res.exit_code == 0, res.stdout + res.stderr
        stats = json.loads(res.stdout)["stats"]
        assert stats["images_ok"] == 3 and stats["layers_scanned"] == 3 and stats["cache_hits"] == 0
        con = sqlite3.connect(db)
        results[executor] = (
            sorted(con.execute("SELECT i.repository, c.purl FROM image_components ic JOIN images i ON "
                               "i.id = ic.image_id JOIN components c ON c.id = ic.component_id").fetchall()),
            con.execute("SELECT count(*) FROM edges").fetchone()[0],
            con.execute("SELECT count(*) FROM layer_files").fetchone()[0])
        con.close()
    assert results["dask"] == results["local"]
    assert len(results["dask"][0]) > 100 and results["dask"][1] > 1000
    # the layer tasks ran on the workers, and nothing of the cluster listens beyond loopback
    logs = "".join(p.read_text(errors="replace") for p in (tmp_path / "dask").glob("worker-*.log"))
    assert "Traceback" not in logs
    pids = [c for p in dask_cluster.procs for c in servers.child_pids(p.pid)]
    assert servers.listening_beyond_loopback(pids) == []
    assert os.path.isdir(tmp_path / "cache-dask" / "entries" / "fleet-layers")  # the core cache, shared


def test_dask_scheduler_unreachable_is_a_clear_error(checker, plain_registry, tmp_path):
    port = servers.free_port()
    res = checker.run_cli("fleet", "scan", f"registry://{plain_registry.host}/base:1", "--plain-http",
                          "--db", str(tmp_path / "x.sqlite"), "--executor", "dask", "--scheduler",
                          f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "2", "--cache-dir", str(tmp_path / "c"),
                          timeout=120)
    assert res.exit_code == 5 and "Traceback" not in res.stderr and "cannot reach the Dask scheduler" in res.stderr
    assert f"127.0.0.1:{port}" in res.stdout + res.stderr


def test_registry_and_dask_listen_on_loopback_only(plain_registry, tls_registry):
    assert servers.listening_beyond_loopback([plain_registry.proc.pid, tls_registry.proc.pid]) == []


def test_dask_tasks_carry_no_password_unless_asked(tls_registry, dask_cluster, tmp_path):
    """A password given to the client stays with the client: the workers (no Docker config of
    their own here) cannot pull the private layers until --dask-send-credentials says so."""
    import subprocess
    import sys

    def run(name: str, *extra: str) -> tuple[int, dict]:
        proc = subprocess.run(
            [sys.executable, "-m", "provcheck", "fleet", "scan", f"registry://{tls_registry.host}/base:1",
             "--ca-file", str(tls_registry.ca), "--registry-username", "auditor", "--registry-password-stdin",
             "--executor", "dask", "--scheduler", dask_cluster.address, "--db", str(tmp_path / f"{name}.sqlite"),
             "--cache-dir", str(tmp_path / f"cache-{name}"), "--format", "json", *extra],
            input="s3cret-pass\n", capture_output=True, text=True, timeout=300)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.returncode, json.loads(proc.stdout)

    code, out = run("kept")
    assert code == 3 and out["stats"]["images_failed"] == 1, out["stats"]
    assert "authentication required (401) and no usable credentials" in out["stats"]["errors"][0]["error"]
    code, out = run("sent", "--dask-send-credentials")
    assert code == 0 and out["stats"]["images_ok"] == 1, out["stats"]


def test_without_the_dask_extra_the_executor_says_how_to_get_it(checker, tmp_path):
    """Dask is the optional provcheck[dask]: without it, --executor dask is a usage error
    naming the extra (simulated by a `distributed` that fails to import, as when absent)."""
    stub = tmp_path / "no-dask" / "distributed"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError(\"No module named 'distributed'\")\n")
    res = checker.run_cli("fleet", "scan", "registry://127.0.0.1:9/x:1", "--db", str(tmp_path / "inv.sqlite"),
                          "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9",
                          env={"PYTHONPATH": str(stub.parent)})
    assert res.exit_code == 4, res.stderr
    assert "pip install 'provcheck[dask]'" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "inv.sqlite").exists()
