"""Run one fuzz target with atheris (libFuzzer, coverage-guided):

    python tests/fuzz/run.py TARGET SECONDS CORPUS_DIR SEED_DIR [ARTIFACT_DIR]

Exits 0 when the time ran out with no finding; else libFuzzer's code, with the input
that broke the target written to ARTIFACT_DIR (a regression test in tests/fuzz/crashes/).
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["provcheck", "provcheck_sbom"]):
    import targets  # noqa: E402
    import provcheck.formats.binary  # noqa: E402,F401
    import provcheck.formats.elf  # noqa: E402,F401
    import provcheck.formats.archive  # noqa: E402,F401
    import provcheck.unpack.archive  # noqa: E402,F401
    import provcheck.unpack.oci  # noqa: E402,F401
    import provcheck_sbom.formats  # noqa: E402,F401


def main() -> None:
    name, seconds, corpus, seeds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    artifacts = sys.argv[5] if len(sys.argv) > 5 else corpus
    check, make_seeds = targets.TARGETS[name]
    if not any(Path(seeds).iterdir()):
        make_seeds(Path(seeds))
    atheris.Setup([sys.argv[0], f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=3072",
                   "-max_len=262144", f"-artifact_prefix={artifacts}/", "-print_final_stats=1", corpus, seeds],
                  check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
