"""Readers shared by every plugin, hardened for hostile input (public API, like ``provcheck``).

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
