"""How well ``acversions`` tells another autoconf's code at its spot from the same code elsewhere.

The test project (tests/plugins/release/autotools_project.py) is ``make dist``-ed with the
system's autoconf; its ``configure`` is then regenerated, in the sandbox, with each other
autoconf version named on the command line (Debian builds, downloaded into the toolchain
cache). For every change between the two scripts:

- *at its spot*: the system's ``configure`` with that one change of the other version spliced
  in (what a backport patch makes): how many of the resulting hunks ``acversions`` explains;
- *the whole other output* against the system's: how many hunks it explains;
- *moved*: the other version's lines of that change inserted 300 to 3000 lines away instead
  (what an attacker copying published code to another place makes): how many it explains
  (it should be none).

    python eval/acversions_splices.py 2.72 2.69
"""

from __future__ import annotations

import difflib
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "plugins" / "release"))

import autotools_project as ap  # noqa: E402

from provcheck import sandbox  # noqa: E402
from provcheck_release import acversions, toolchain  # noqa: E402


def configure_with(release: dict[str, bytes], base: Path, version: str) -> list[str]:
    build = toolchain.flavours("autoconf", version)[0]
    tree = base / version
    for path, data in release.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
    binds, env = toolchain.combine([build])
    res = sandbox.run(["autoconf", "-f"], workdir=tree, binds=binds, env={**env, "LC_ALL": "C", "TZ": "UTC"})
    if res.returncode != 0:
        raise SystemExit(f"autoconf {version} failed: {res.stderr.decode()[-500:]}")
    return (tree / "configure").read_bytes().decode("latin-1").split("\n")


def explained(ours: list[str], release: list[str], spot: "acversions._Spots") -> tuple[int, int]:
    groups = acversions._groups(ours, release)
    return sum(1 for c in groups.values() if spot.find(c, release) is not None), len(groups)


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="acversions-splices-"))
    release = ap.make_dist(base)
    ours = release["configure"].decode("latin-1").split("\n")
    rng = random.Random(1)
    for version in sys.argv[1:]:
        theirs = configure_with(release, base, version)
        spot = acversions._Spots(ours, theirs)
        ops = [op for op in difflib.SequenceMatcher(None, ours, theirs, autojunk=False).get_opcodes() if op[0] != "equal"]
        at_spot = moved = (0, 0)
        for _, i1, i2, j1, j2 in ops:
            ok, n = explained(ours, ours[:i1] + theirs[j1:j2] + ours[i2:], spot)
            at_spot = (at_spot[0] + ok, at_spot[1] + n)
            if j2 > j1:
                far = (i1 + rng.randint(300, 3000)) % len(ours)
                ok, n = explained(ours, ours[:far] + theirs[j1:j2] + ours[far:], spot)
                moved = (moved[0] + ok, moved[1] + n)
        whole = explained(ours, theirs, spot)
        print(f"autoconf {version} vs the system's: at its spot {at_spot[0]} of {at_spot[1]} hunks explained; "
              f"whole output {whole[0]} of {whole[1]}; moved {moved[0]} of {moved[1]}")


if __name__ == "__main__":
    main()
