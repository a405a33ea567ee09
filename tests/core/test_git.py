"""git:PATH@REF inputs, read with ls-tree and cat-file (never git archive)."""

import json
import subprocess

from provcheck.testing import File, Symlink


def test_ref_forms_and_export_ignored_files(checker):
    repo = checker.gitrepo([
        {"README": "v1\n", ".gitattributes": "tests/files/* export-ignore\n", "tests/files/blob.xz": b"\xfd7zXZ\0",
         "run.sh": File("#!/bin/sh\n", 0o755), "link": Symlink("README")},
        {"README": "v2\n", "tests/files/blob.xz": None},
    ], tags=["v1.0", "v2.0"])
    res = checker.run_cli("files", f"git:{repo}@v1.0")
    nodes = {d["path"]: d for d in map(json.loads, res.stdout.splitlines())}
    assert "tests/files/blob.xz" in nodes  # export-ignore does not hide it from us
    assert nodes["run.sh"]["mode"] == "0755"
    assert nodes["link"]["type"] == "symlink" and nodes["link"]["link_target"] == "README"
    result = checker.run(f"git:{repo}@v2.0")
    art = result.report.artifacts[0]
    assert art.tree.read("README") == b"v2\n" and "tests/files/blob.xz" not in art.tree
    assert art.metadata["commit"] == subprocess.run(["git", "-C", str(repo), "rev-parse", "v2.0^{commit}"],
                                                    capture_output=True, text=True).stdout.strip()
    commit1 = subprocess.run(["git", "-C", str(repo), "rev-parse", "v1.0^{commit}"], capture_output=True,
                             text=True).stdout.strip()
    assert checker.run(f"git:{repo}@{commit1[:10]}").report.artifacts[0].tree.read("README") == b"v1\n"
    assert checker.run(f"git:{repo}@main").report.artifacts[0].tree.read("README") == b"v2\n"


def test_bare_clone_and_bad_refs(checker):
    repo = checker.gitrepo({"a.c": "int a;\n"}, tags="v1")
    bare = checker.base / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    assert checker.run(bare).report.artifacts[0].tree.read("a.c") == b"int a;\n"
    res = checker.run_cli("scan", f"git:{repo}@no-such-tag")
    assert res.exit_code == 5 and "no commit, tag or branch named 'no-such-tag'" in res.stdout
    res = checker.run_cli("scan", f"git:{checker.base}")
    assert res.exit_code == 5 and "not a git repository" in res.stdout


def test_replace_refs_and_hostile_config_are_ignored(checker):
    repo = checker.gitrepo({"src.c": "reviewed\n"}, tags="v1")
    git = ["git", "-C", str(repo)]
    evil = subprocess.run([*git, "hash-object", "-w", "--stdin"], input=b"replaced\n", capture_output=True,
                          check=True).stdout.decode().strip()
    orig = subprocess.run([*git, "rev-parse", "v1:src.c"], capture_output=True, text=True).stdout.strip()
    subprocess.run([*git, "replace", orig, evil], check=True)
    marker = checker.base / "fsmonitor-ran"
    subprocess.run([*git, "config", "core.fsmonitor", f"touch {marker}"], check=True)
    assert checker.run(f"git:{repo}@v1").report.artifacts[0].tree.read("src.c") == b"reviewed\n"
    assert not marker.exists()


def test_missing_blobs_are_errors_and_the_rest_is_read(checker):
    repo = checker.gitrepo({"small.txt": "kept\n", "big.bin": b"\0" * 5000}, tags="v1")
    sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "v1:big.bin"], capture_output=True,
                         text=True).stdout.strip()
    (repo / ".git/objects" / sha[:2] / sha[2:]).unlink()  # as in a snapshot without its large files
    result = checker.run(f"git:{repo}@v1")
    tree = result.report.artifacts[0].tree
    assert tree.read("small.txt") == b"kept\n" and "big.bin" not in tree
    [err] = result.errors
    assert err.path == "big.bin" and "missing" in err.message and result.exit_code == 3
