"""Rules the engine itself reports while unpacking (PC9xx)."""

from __future__ import annotations

from . import hookimpl
from .model import Rule, Severity, rule_doc

_REFS = "- OWASP: Path traversal in archive extraction (\"Zip Slip\")\n- OCI image spec, layer changesets\n"


def _doc(what: str, why: str, example: str) -> str:
    return rule_doc(what, why, example, _REFS)


PC901 = Rule(id="PC901", name="unsafe-member-path", severity=Severity.HIGH,
             summary="Archive member name is absolute or climbs out of the tree with '..'",
             doc=_doc("Flags archive members whose names start with `/` or contain `..` components that "
                      "leave the archive root. Absolute names are kept with the leading slash removed (as "
                      "GNU tar does); names that climb above the root are dropped from the tree.",
                      "An extractor that trusts such names writes outside its target directory "
                      "(tar-slip, zip-slip) and can overwrite system files.",
                      "`../../etc/cron.d/job` inside `release.tar.gz`."))
PC902 = Rule(id="PC902", name="link-escapes-tree", severity=Severity.MEDIUM,
             summary="Symlink or hardlink pointing outside the archive, or at nothing",
             doc=_doc("Flags symlinks in source archives whose target is absolute or climbs above the root, "
                      "symlinks in root filesystems that climb above `/`, and hardlinks whose target is "
                      "not an earlier member. provcheck resolves links inside the tree only (chroot "
                      "semantics); dangling hardlinks are dropped.",
                      "A link that leaves the tree lets a later member write through it to the host "
                      "(`link -> /etc`, then `link/passwd`).",
                      "`docs -> ../../../../home/user/.ssh` in a release tarball."))
PC903 = Rule(id="PC903", name="special-file", severity=Severity.LOW,
             summary="Device node, FIFO or socket inside an archive",
             doc=_doc("Flags character and block devices, FIFOs and sockets. They are recorded without content.",
                      "Release tarballs and packages have no reason to ship device nodes; an extractor "
                      "running as root would create them.", "`dev/sda` as a block device in a tarball."))
PC904 = Rule(id="PC904", name="setuid-file", severity=Severity.INFO,
             summary="File with the setuid or setgid bit",
             doc=_doc("Lists regular files with the setuid or setgid bit, with the layer that added them.",
                      "Setuid programs run with their owner's rights; a new one in an image or package "
                      "deserves a look. Normal images have a few (su, passwd, mount).",
                      "`usr/local/bin/helper` mode 4755 added by the last layer."))
PC905 = Rule(id="PC905", name="duplicate-member", severity=Severity.MEDIUM,
             summary="The same path appears twice in one archive with different content",
             doc=_doc("Flags a path stored more than once in one archive or layer with different contents. "
                      "The last copy wins, as with tar; both hashes are in the evidence.",
                      "Reviewers and tools that read the first copy see different bytes from an extractor "
                      "that keeps the last one.", "`src/main.c` twice in `release.tar`."))
PC906 = Rule(id="PC906", name="unpack-limit", severity=Severity.HIGH,
             summary="Unpacking stopped at a safety limit (size, file count, compression ratio, depth)",
             doc=_doc("Reports the member at which a limit from `[limits]` was hit: total bytes, bytes of "
                      "one member, number of members, or compression ratio. What was read before the "
                      "limit stays in the tree; the rest is not scanned.",
                      "Decompression bombs exhaust disk and memory; an input that hits a limit was not "
                      "fully checked.", "a 40 KiB `.tar.xz` that expands to 100 GiB of zeros."))
PC907 = Rule(id="PC907", name="digest-mismatch", severity=Severity.CRITICAL,
             summary="An image blob's content does not match the digest its descriptor names",
             doc=_doc("Checks every manifest, config and layer blob of an image against the sha256 "
                      "digest (and size) in its descriptor.",
                      "Content-addressing is what makes an image reference immutable; a blob that does "
                      "not match was altered after the image was built.",
                      "`blobs/sha256/ab12...` whose sha256 is `cd34...`."))
PC908 = Rule(id="PC908", name="non-utf8-name", severity=Severity.LOW,
             summary="Archive member name is not valid UTF-8",
             doc=_doc("Flags member names that are not valid UTF-8; they are shown with backslash escapes.",
                      "Names that render differently in different tools hide files from reviewers.",
                      "`src/\\xff.c`."))

RULES = (PC901, PC902, PC903, PC904, PC905, PC906, PC907, PC908)


@hookimpl
def provcheck_register_rules():
    return RULES
