"""Readers shared by every plugin, hardened for hostile input (public API, like ``provcheck``):
a malformed file raises the reader's own error with a reason, never anything else, and costs
at most a bounded walk over itself (docs/formats.md).

* :mod:`provcheck.formats.elf`: ELF headers, dynamic section, notes, symbols (the fast and
  deep passes), where the described content ends, the machine and type tables;
* :mod:`provcheck.formats.binary`: Windows (PE) and macOS (Mach-O) executables, read with
  LIEF in a worker process: imports, signatures, overlay past the last section;
* :mod:`provcheck.formats.archive`: the archive and package reader (tar, zip, cpio, .deb,
  .rpm, .apk) into a blob store, with the limits;
* :mod:`provcheck.formats.git`: git plumbing on a repository (refs, tags, trees, blobs);
* :mod:`provcheck.formats.oci`: platforms, image sniffing, layer changesets, and what is
  attached to an image (OCI referrers, cosign tags: SBOMs and attestations);
* :mod:`provcheck.formats.packages`: installed-package databases (dpkg, apk, rpm);
* :mod:`provcheck.formats.inventory`: the components installed in a tree (packages,
  Python dist-info, versioned sonames), as package URLs;
* :mod:`provcheck.formats.versions`: version ordering per ecosystem (dpkg, rpm, apk, PyPI)
  and OSV advisory ranges;
* :mod:`provcheck.formats.sqlite`: read-only SQLite on untrusted database files.
"""
