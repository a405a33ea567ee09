"""The archive and package reader every loader uses: tar (any compression), zip, cpio,
ar, .deb, .rpm, .apk into a :class:`provcheck.BlobStore`, bounded by :class:`provcheck.Limits`.

* ``Reader(store, limits, label, rootfs=False, defer_links=False)`` reads archives entry
  by entry (``Reader.read(path)`` -> :class:`Entries`);
* ``read_package(reader, path, label)`` reads a package's payload (a .deb's data.tar);
* ``file_sha256(path)`` hashes a host file in blocks.
"""

from provcheck.unpack.archive import Entries, Reader, file_sha256, read_package

__all__ = ["Entries", "Reader", "file_sha256", "read_package"]
