"""provcheck_testdata: hidden payloads in test data (rules PC201-PC212).

For every binary file of a source tree (git tree, release tarball, directory) it gathers
the real format (magic) against the name's claim, the entropy profile, whether and how it
decodes (fully, within a budget; after ``tr``-style substitutions too), what the decoded
content is, which test or build scripts name it, and which build scripts grep, decode or
execute test data, and emulates every reader of a test file to see what its pipeline
hands to a shell, the toolchain or the loader (PC212). Images and packages get the data-directory checks (PC208-PC210).

Options (``[tool.provcheck.plugins.testdata]`` or ``--set testdata.KEY=VALUE``):
``decode-seconds`` (per file, 5), ``decode-total-seconds`` (per artifact, 300),
``max-decode-bytes`` (per file, 256 MiB), ``max-input-bytes`` (larger files are classified
but not decoded, 256 MiB), ``swap-search`` (true), ``grep-timeout`` (20), ``pipelines`` (true: emulate the
readers of test files, PC212).
"""

from __future__ import annotations

from typing import Any

from provcheck import hookimpl

from .rules import RULES

# Every provcheck command imports every plugin at start-up: the detection code (.analysis and the
# decoders and readers it uses) is imported when a scan runs.


@hookimpl
def provcheck_register_rules():
    return RULES


@hookimpl
def provcheck_detect(scan, options):
    from .analysis import Analyzer, Options
    opts = Options.parse(options)
    source = scan.artifact("source")
    for artifact in scan.artifacts:
        if artifact.role == "source" and len(scan.artifacts) > 1:
            continue
        yield from Analyzer(scan, artifact, opts, source if source is not artifact else None).run()


_ANALYSIS_NAMES = frozenset({"Analyzer", "Options", "Info", "Subst", "is_rootfs", "swap_tables", "HEAD", "TEXT_MAX",
                             "SWAP_ALPHABET", "SWAP2_ALPHABET", "SWAP_MAX_BYTES", "MAX_GREPS", "OPAQUE_DATA",
                             "PACKAGE_SUFFIXES"})


def __getattr__(name: str) -> Any:
    """The names this package used to define (Analyzer, Options, HEAD, ...), imported on first use."""
    if name in _ANALYSIS_NAMES:
        from . import analysis
        return getattr(analysis, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
