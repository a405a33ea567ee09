"""Real small packages for the ecosystem tests: a setuptools and a hatchling project built
into sdist and wheel with ``python -m build`` (offline, no isolation), an npm package packed
with ``npm pack``; and the helpers that rewrite those artifacts as an attacker would."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org", GIT_AUTHOR_DATE="2024-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2024-01-01T00:00:00Z", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)

SETUPTOOLS_PROJECT = {
    "pyproject.toml": """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "pcdemo"
version = "1.2.0"
description = "demo"
dependencies = ["packaging>=20"]

[project.scripts]
pcdemo = "pcdemo.cli:main"

[project.urls]
Source = "https://github.com/example/pcdemo"

[tool.setuptools.packages.find]
where = ["src"]
""",
    "src/pcdemo/__init__.py": '"""pcdemo."""\nfrom .util import shout\n\n__all__ = ["shout"]\n',
    "src/pcdemo/util.py": 'def shout(text):\n    return text.upper() + "!"\n',
    "src/pcdemo/cli.py": 'import sys\n\nfrom .util import shout\n\n\ndef main():\n    print(shout(" ".join(sys.argv[1:])))\n',
    "README.md": "# pcdemo\n",
    "tests/test_util.py": "from pcdemo import shout\n\n\ndef test_shout():\n    assert shout('a') == 'A!'\n",
    ".gitignore": "build/\ndist/\n*.egg-info/\n",
    ".github/workflows/ci.yml": "on: push\n",
}

HATCH_PROJECT = {
    "pyproject.toml": """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "hatchdemo"
version = "0.3.1"
description = "demo"

[project.urls]
Repository = "https://github.com/example/hatchdemo"

[tool.hatch.build.targets.wheel]
packages = ["hatchdemo"]
""",
    "hatchdemo/__init__.py": 'from .core import add\n',
    "hatchdemo/core.py": 'def add(a, b):\n    return a + b\n',
    "README.md": "# hatchdemo\n",
    "LICENSE.txt": "MIT\n",
}

NPM_PACKAGE = {
    "package.json": """{
  "name": "npmdemo",
  "version": "2.0.0",
  "description": "demo",
  "main": "dist/index.js",
  "bin": {"npmdemo": "bin/cli.js"},
  "files": ["dist", "bin", "lib"],
  "scripts": {"build": "tsc", "test": "node test/test.js"},
  "repository": {"type": "git", "url": "git+https://github.com/example/npmdemo.git"},
  "dependencies": {"ms": "^2.1.3"},
  "license": "MIT"
}
""",
    "src/index.ts": 'import { greet } from "../lib/util";\n\nexport function hello(name: string): string {\n'
                    '  return greet(name) + "!";\n}\n\nexport const LABEL = "npmdemo";\n',
    "lib/util.js": "'use strict';\nconst ms = require('ms');\n\nfunction greet(name) {\n"
                   "  return 'hello ' + name + ' after ' + ms(1000);\n}\n\nmodule.exports = { greet };\n",
    "bin/cli.js": "#!/usr/bin/env node\n'use strict';\nconst { hello } = require('../dist/index.js');\n"
                  "console.log(hello(process.argv[2] || 'world'));\n",
    "test/test.js": "require('assert').ok(true);\n",
    ".gitignore": "dist/\nnode_modules/\n",
}
# what `tsc` writes for src/index.ts (the build runs before `npm pack`; dist/ is not in git)
NPM_BUILT = {"dist/index.js": """"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.LABEL = void 0;
exports.hello = hello;
const util_1 = require("../lib/util");
function hello(name) {
    return (0, util_1.greet)(name) + "!";
}
exports.LABEL = "npmdemo";
"""}


def git_project(root: Path, files: dict[str, str], tag: str) -> Path:
    root.mkdir(parents=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "release"], ["tag", tag]):
        subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=GIT_ENV)
    return root


def build_python(project: Path, out: Path) -> tuple[Path, Path]:
    """(sdist, wheel) built from a copy of the project (the build writes egg-info/build dirs)."""
    work = out / f"{project.name}-build"
    shutil.copytree(project, work, ignore=shutil.ignore_patterns(".git"))
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(work)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return next(out.glob("*.tar.gz")), next(out.glob("*.whl"))


def npm_pack(project: Path, out: Path, built: dict[str, str]) -> Path:
    work = out / "npm-build"
    shutil.copytree(project, work, ignore=shutil.ignore_patterns(".git"))
    for rel, text in built.items():  # the build step
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    env = dict(os.environ, npm_config_cache=str(out / "npm-cache"), npm_config_offline="true",
               npm_config_update_notifier="false", npm_config_audit="false", npm_config_fund="false")
    proc = subprocess.run(["npm", "pack", "--pack-destination", str(out)], cwd=work, capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out / proc.stdout.strip().splitlines()[-1]


def _record_line(name: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


def rewrite_wheel(src: Path, dst: Path, changes: dict[str, bytes | None], fix_record: bool = True) -> Path:
    """The wheel with members changed/added/removed; RECORD rewritten to match unless told not to."""
    with zipfile.ZipFile(src) as z:
        members = {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}
    for name, data in changes.items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    record = next(n for n in members if n.endswith(".dist-info/RECORD"))
    if fix_record:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        for name, data in members.items():
            w.writerow([record, "", ""] if name == record else _record_line(name, data))
        members[record] = buf.getvalue().encode()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return dst


def rewrite_tar(src: Path, dst: Path, changes: dict[str, bytes | None]) -> Path:
    """A .tar.gz/.tgz with members (named with their top directory) changed, added or removed."""
    with tarfile.open(src) as t:
        members = {m.name: (m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()}
    with tarfile.open(dst, "w:gz") as out:
        for name, (m, data) in members.items():
            if name in changes:
                data = changes[name]
                if data is None:
                    continue
                m.size = len(data)
            out.addfile(m, io.BytesIO(data) if data is not None else None)
        for name, data in changes.items():
            if name not in members and data is not None:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, 499162500
                out.addfile(info, io.BytesIO(data))
    return dst


def member(path: Path, name: str) -> bytes:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            return z.read(name)
    with tarfile.open(path) as t:
        return t.extractfile(name).read()


def read_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return z.namelist()
