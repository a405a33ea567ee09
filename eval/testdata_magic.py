#!/usr/bin/env python3
"""Compare file identification for the testdata detector: built-in table vs python-magic,
puremagic and magika, on the binary test files of real repositories.

    python eval/testdata_magic.py --mirrors DIR

Ground truth does not come from any of the identifiers: a file is labelled with the
compression/archive format whose decoder reads it completely and cleanly (xz, lzma,
gzip, bzip2, zstd, lz4, zip, tar), or "elf" when pyelftools parses its headers. Files no
decoder and no ELF parser accept are left out of the accuracy count (they are most of
the "bad-*" corpora) but are part of the speed measurement.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import tarfile
import time
from pathlib import Path

TREES = [("tukaani-project+xz", "v5.4.6"), ("facebook+zstd", "v1.5.6"), ("file+file", "FILE5_48"),
         ("libarchive+libarchive", "v3.8.9"), ("PCRE2Project+pcre2", "pcre2-10.47"), ("curl+curl", "curl-8_21_0"),
         ("libexpat+libexpat", "R_2_8_3")]


def binary_files(repo: Path, tag: str) -> list[tuple[str, bytes]]:
    import provcheck_testdata.magic as magic
    raw = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", tag], capture_output=True,
                         check=True).stdout
    out = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        for m in tf:
            if m.isreg() and m.size:
                data = tf.extractfile(m).read()
                if magic.is_binary(data[:8192]):
                    out.append((m.name, data))
    return out


def truth(data: bytes) -> str | None:
    from provcheck_testdata import decode as dec
    for kind in ("xz", "gzip", "bzip2", "zstd", "lz4", "zip", "tar", "lzma"):
        res = dec.decode(kind, data, dec.Budget(max_output=64 << 20, seconds=5).start())
        if res is not None and res.clean and (res.output or res.members):
            return kind
    try:
        from elftools.elf.elffile import ELFFile
        ELFFile(io.BytesIO(data)).header
        return "elf"
    except Exception:
        return None


MIME = {"application/x-xz": "xz", "application/gzip": "gzip", "application/x-gzip": "gzip",
        "application/x-bzip2": "bzip2", "application/zstd": "zstd", "application/x-zstd": "zstd",
        "application/x-lz4": "lz4", "application/zip": "zip", "application/x-tar": "tar",
        "application/x-lzma": "lzma", "application/x-executable": "elf", "application/x-sharedlib": "elf",
        "application/x-object": "elf", "application/x-pie-executable": "elf", "application/x-coredump": "elf"}
PURE = {".xz": "xz", ".gz": "gzip", ".tgz": "gzip", ".bz2": "bzip2", ".zst": "zstd", ".lz4": "lz4", ".zip": "zip",
        ".tar": "tar", ".lzma": "lzma", ".elf": "elf", ".o": "elf", ".so": "elf"}
MAGIKA = {"xz": "xz", "gzip": "gzip", "bzip": "bzip2", "bzip2": "bzip2", "zst": "zstd", "zstd": "zstd", "lz4": "lz4",
          "zip": "zip", "tar": "tar", "lzma": "lzma", "elf": "elf"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirrors", type=Path, required=True)
    args = ap.parse_args()
    files = []
    for mirror, tag in TREES:
        repo = args.mirrors / mirror / "repo"
        if repo.is_dir():
            try:
                files += binary_files(repo, tag)
            except subprocess.CalledProcessError:
                print(f"skipped {mirror}@{tag}: snapshot incomplete (git archive failed)")
    labelled = [(n, d, truth(d)) for n, d in files]
    labelled_only = [x for x in labelled if x[2]]
    total_mb = sum(len(d) for _, d in files) / 1e6
    print(f"{len(files)} binary files ({total_mb:.1f} MB), {len(labelled_only)} with a ground-truth label")

    from provcheck_testdata import magic as builtin
    import magic as libmagic
    import puremagic
    from magika import Magika
    mk = Magika()

    def pm_label(data: bytes) -> str | None:
        try:
            return PURE.get(puremagic.from_string(data[:8192]))
        except Exception:
            return None

    tools = {
        "built-in table": lambda d: builtin.identify(d[:8192]),
        "python-magic (libmagic)": lambda d: MIME.get(libmagic.from_buffer(d[:65536], mime=True)),
        "puremagic": pm_label,
        "magika": lambda d: MAGIKA.get(mk.identify_bytes(d).output.label),
    }
    print("| identifier | correct on labelled files | wrong | unknown | files/s | MB/s |")
    print("|---|---|---|---|---|---|")
    for name, fn in tools.items():
        t = time.perf_counter()
        for _, d, _ in labelled:
            fn(d)
        secs = time.perf_counter() - t
        ok = wrong = unknown = 0
        misses = []
        for n, d, label in labelled_only:
            got = fn(d)
            if got == label:
                ok += 1
            elif got is None:
                unknown += 1
                misses.append((n, label, got))
            else:
                wrong += 1
                misses.append((n, label, got))
        print(f"| {name} | {ok}/{len(labelled_only)} | {wrong} | {unknown} | {len(files) / secs:.0f} | "
              f"{total_mb / secs:.1f} |")
        for n, label, got in misses[:4]:
            print(f"|  miss: `{n}` is {label}, said {got} | | | | | |")


if __name__ == "__main__":
    main()
