"""Faithful, harmless reconstructions of the xz-utils 5.6.x test-data payload mechanics.

* ``bad-3-corrupt_lzma2.xz``: three xz streams; the first and last hold the marker lines
  ``####Hello####`` / ``####World####`` as stored LZMA2 chunks (so a content grep finds
  the file), the middle one is a shell script whose compressed bytes were scrambled with
  ``tr "\\t \\-_" " \\t_\\-"`` so no decoder accepts the file until the same map is applied.
* ``good-large_compressed.lzma``: an LZMA_Alone stream whose content is random filler
  around an x86-64 object file (compiled here with gcc) that was xz-compressed and then
  encrypted with RC4, as the real file hid liblzma_la-crc64-fast.o.
* ``m4/build-to-host.m4``: a macro that finds the first file by content with
  ``grep -aErls``, un-scrambles it with ``tr`` and pipes ``xz -d`` into a shell.

Nothing here is ever executed; the "scripts" only echo.
"""

from __future__ import annotations

import lzma
import random
import shutil
import subprocess
from pathlib import Path

import pytest

TR_MAP = bytes.maketrans(b"\t -_", b" \t_-")

STAGE1 = b"""#!/bin/sh
# harmless stand-in for the stage-1 script: it only reads test data and echoes
[ ! $(uname) = "Linux" ] && exit 0
eval `grep ^srcdir= config.status`
export i="((head -c +1024 >/dev/null) && head -c +2048)"
xz -dc $srcdir/tests/files/good-large_compressed.lzma | eval $i | tail -c +31233 | tr "\\114-\\321\\322-\\377\\35-\\47\\14-\\34\\0-\\13\\50-\\113" "\\0-\\377" | xz -F raw --lzma1 -dc > /dev/null
echo "stage 1 would run here"
"""

BUILD_TO_HOST_M4 = r"""# build-to-host.m4 serial 30
dnl Copyright (C) 2023-2024 Free Software Foundation, Inc.
AC_DEFUN([gl_BUILD_TO_HOST],
[
  AC_REQUIRE([AC_CANONICAL_BUILD])
  if test "x$gl_am_configmake" != "x"; then
    gl_[$1]_config='sed \"r\n\" $gl_am_configmake | eval $gl_path_map | $gl_[$1]_prefix -d 2>/dev/null'
  else
    gl_[$1]_config=''
  fi
  AC_CONFIG_COMMANDS_PRE([
    eval $gl_config_gt | $SHELL 2>/dev/null
  ])
])

AC_DEFUN([gl_BUILD_TO_HOST_INIT],
[
  gl_am_configmake=`grep -aErls "#{4}[[:alnum:]]{5}#{4}$" $srcdir/ 2>/dev/null`
  if test -n "$gl_am_configmake"; then
    HAVE_PKG_CONFIGMAKE=1
  else
    HAVE_PKG_CONFIGMAKE=0
  fi
  gl_path_map='tr "\t \-_" " \t_\-"'
  gl_[$1]_prefix=`echo $gl_am_configmake | sed "s/.*\.//g"`
])
"""


def rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def scrambled_xz(payload: bytes) -> bytes:
    """Hello stream + tr-scrambled payload stream + World stream (marker streams tr-invariant)."""
    hello = lzma.compress(b"####Hello####\n", check=lzma.CHECK_CRC64)
    world = lzma.compress(b"####World####\n", check=lzma.CHECK_CRC64)
    assert not any(b in hello + world for b in b"\t -_")
    middle = lzma.compress(payload, check=lzma.CHECK_CRC64)
    scrambled = middle.translate(TR_MAP)
    assert scrambled != middle, "the map must change the stream, or the fixture proves nothing"
    return hello + scrambled + world


@pytest.fixture(scope="session")
def object_file(tmp_path_factory) -> bytes:
    """A tiny x86-64 relocatable object, compiled here with the real gcc."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc is required (scripts/system-deps.sh installs it)"
    d = tmp_path_factory.mktemp("obj")
    (d / "crc64_fast.c").write_text("int crc64_resolve(int x) { return x * 2654435761u; }\n"
                                    "const char *note(void) { return \"harmless test object\"; }\n")
    subprocess.run([gcc, "-c", "-O2", "-o", str(d / "crc64_fast.o"), str(d / "crc64_fast.c")], check=True)
    return (d / "crc64_fast.o").read_bytes()


@pytest.fixture(scope="session")
def xz_payload_files(object_file) -> dict[str, bytes]:
    rng = random.Random(20240329)
    filler = lambda n: bytes(rng.getrandbits(8) for _ in range(n))  # noqa: E731
    encrypted = rc4(b"\x00harmless-key", lzma.compress(object_file))
    inner = filler(31232) + encrypted + filler(16384)
    large = lzma.compress(inner, format=lzma.FORMAT_ALONE)
    return {
        "tests/files/bad-3-corrupt_lzma2.xz": scrambled_xz(STAGE1),
        "tests/files/good-large_compressed.lzma": large,
    }


@pytest.fixture(scope="session")
def honest_files() -> dict[str, bytes | str]:
    """What an honest compression library carries: good files, truly bad files, tests naming them."""
    rng = random.Random(7)
    text = b"Lorem ipsum dolor sit amet, consectetur adipisici elit.\n" * 40
    good = lzma.compress(text)
    truncated = good[:len(good) // 2]
    flipped = bytearray(lzma.compress(text + b"x"))
    flipped[len(flipped) // 2] ^= 0x10
    noise = bytes(rng.getrandbits(8) for _ in range(8192))
    return {
        "tests/files/good-1-text.xz": good,
        "tests/files/good-2-noise.xz": lzma.compress(noise),
        "tests/files/bad-1-truncated.xz": truncated,
        "tests/files/bad-1-lzma2-flipped.xz": bytes(flipped),
        "tests/files/random-8k.bin": noise,
        "tests/test_files.sh": "#!/bin/sh\nfor X in \"$srcdir\"/files/good-*.xz; do xz -t \"$X\" || exit 1; done\n"
                               "for X in \"$srcdir\"/files/bad-*.xz; do xz -t \"$X\" && exit 1; done\nexit 0\n",
        "tests/test_random.c": '#include <stdio.h>\nint main(void) { FILE *f = fopen("files/random-8k.bin", "rb");'
                               ' return f == NULL; }\n',
        "tests/Makefile.am": "EXTRA_DIST = files test_files.sh\nTESTS = test_files.sh test_random\n",
        "configure.ac": "AC_INIT([demo], [1.0])\nAM_INIT_AUTOMAKE\nAC_PROG_CC\n"
                        "AC_CONFIG_FILES([Makefile tests/Makefile])\nAC_OUTPUT\n",
        "Makefile.am": "SUBDIRS = src tests\nEXTRA_DIST = README\n",
        "README": "demo: a compression library\n",
        "src/main.c": "int main(void) { return 0; }\n",
    }


@pytest.fixture(scope="session")
def build_to_host_m4() -> str:
    return BUILD_TO_HOST_M4


@pytest.fixture(scope="session")
def stage1_script() -> bytes:
    return STAGE1


@pytest.fixture(scope="session")
def sshd_rootfs() -> Path:
    """openssh-server and its dependency closure, unpacked from real Debian packages (cached)."""
    import realdata
    return realdata.rootfs(["openssh-server"], "sshd")


@pytest.fixture(scope="session")
def xz_orig_tarball() -> Path:
    """Debian's xz-utils 5.4.1 orig tarball: a real, clean autotools release with a binary test corpus."""
    import realdata
    dest = realdata.CACHE / "testdata-src"
    with realdata._locked("testdata-src"):
        found = sorted(dest.glob("xz-utils_5.4.1.orig.tar.*"))
        if not found:
            dest.mkdir(parents=True, exist_ok=True)
            proc = realdata.apt_get("source", "--download-only", "xz-utils=5.4.1-1+deb12u2", cwd=dest, attempts=1)
            if proc.returncode:  # that revision gone from the archive: take the current bookworm one
                realdata.apt_get("source", "--download-only", "xz-utils", cwd=dest)
            found = sorted(dest.glob("xz-utils_*.orig.tar.*"))
    assert found, "apt-get source gave no xz-utils orig tarball"
    return found[0]
