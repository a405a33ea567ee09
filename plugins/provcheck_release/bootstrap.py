"""Files the tag's own bootstrap script writes, reproduced by running it with the autotools as no-ops.

Before ``autoreconf``, many projects generate sources, automake fragments and test lists from
the tree (strace's ``bootstrap`` runs ``src/xlat/gen.sh``, ``src/generate_mpers_am.sh``,
``tests/gen_tests.sh``, ... and writes ``tests-m32/``). The release ships what it wrote, and
no make rule names it. The script of the tag (``bootstrap``, ``autogen.sh``, ...) runs under
:mod:`provcheck.sandbox` in a copy of the tag whose ``.git`` has the tag's history and tags,
with ``autoreconf``, ``aclocal``, ``automake`` and the other generators replaced by commands
that do nothing (the regeneration chain runs the real ones, at the release's versions), and
what it writes is matched *by content* with the release files that have no verdict yet
(history.run_scripts). A script that stops half-way (a gnulib ``bootstrap`` wants the
network) still explains what it wrote before.

A ``reproduced-unverified`` output of the chain whose every unverified input these runs (or
a release script's, history.script_jobs) reproduced from the tag is ``reproduced``: its inputs
are the tag's, after all.
"""

from __future__ import annotations

from typing import Mapping

from . import docgen
from . import regenerate as rg

SCRIPTS = ("bootstrap", "bootstrap.sh", "autogen.sh", "autogen", "buildconf", "buildconf.sh")
NO_OPS = ("autoreconf", "aclocal", "autoconf", "autoheader", "automake", "autom4te", "libtoolize", "glibtoolize",
          "autopoint", "gettextize", "intltoolize", "gtkdocize", "glib-gettextize", "autoupdate")
SHIMS = ".provcheck-no-ops"


def _shim(name: str) -> str:
    """A no-op that answers ``--version`` as the real tool does (scripts check versions before
    running them: util-linux's ``autogen.sh`` stops without a ``libtoolize`` 2.x), for printf."""
    return (f"#!/bin/sh\\ncase \"$1\" in --version|-V) test -x /usr/bin/{name} && exec /usr/bin/{name} --version; "
            f"echo \"{name} (GNU {name}) 2.99\";; esac\\nexit 0\\n")


def jobs(tag: Mapping[str, bytes]) -> list[docgen.DocJob]:
    """One job per bootstrap script at the top of the tag."""
    shims = "".join(f"printf '{_shim(name)}' > {SHIMS}/{name} && chmod +x {SHIMS}/{name} && " for name in NO_OPS)
    out = []
    for name in SCRIPTS:
        data = tag.get(name)
        if data is None or not data.strip():
            continue
        interpreter = "bash" if data.split(b"\n", 1)[0].rstrip().endswith(b"bash") else "sh"
        out.append(docgen.DocJob(f"{name} of the tag, the autotools as no-ops", "",
                                 f"mkdir -p {SHIMS} && {shims}PATH=\"$PWD/{SHIMS}:$PATH\" {interpreter} ./{name}",
                                 git=True))
    return out


def upgrade(files: dict[str, rg.FileResult], reproduced: Mapping[str, rg.FileResult]) -> None:
    """``reproduced-unverified`` outputs whose every unverified input is in ``reproduced``
    (made from the tag by a script or rule of the tag) become ``reproduced``, in place."""
    for path, fr in list(files.items()):
        if fr.status == rg.UNVERIFIED and fr.unverified_inputs and not fr.risk and all(
                reproduced.get(p) is not None and reproduced[p].status == rg.REPRODUCED for p in fr.unverified_inputs):
            files[path] = rg.FileResult(path, rg.REPRODUCED, toolchain=f"{fr.toolchain}; its release-only inputs "
                                        f"reproduced from the tag ({reproduced[fr.unverified_inputs[0]].toolchain})",
                                        size=fr.size)


__all__ = ["SCRIPTS", "NO_OPS", "jobs", "upgrade"]
