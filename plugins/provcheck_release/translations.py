"""Translation catalogs ``make dist`` refreshes, reproduced in the sandbox.

gettext's ``po/Makefile.in.in`` (``update-po``) runs xgettext over the sources that
``POTFILES.in`` lists and merges each of the tag's catalogs with the new template. A release
ships the merged catalogs; they differ from the tag's by every moved reference and every new
or changed message. Each job is a :class:`docgen.DocJob` run and judged like the other
documentation jobs.
"""

from __future__ import annotations

import posixpath
import re
from typing import Callable, Mapping

from . import docgen

_q = docgen._quote


def jobs(tag: Mapping[str, bytes], release: Mapping[str, Callable[[], bytes]]) -> list[docgen.DocJob]:
    """gettext's ``update-po`` (``make dist`` runs it): xgettext over ``POTFILES.in`` (the tag's,
    or the release's once a script of the tag reproduced it) into ``DOMAIN.pot``, then
    ``msgmerge [--lang=LL] [--previous] -o LL.new.po`` of each of the tag's catalogs, kept when
    it differs, as the release's ``po/Makefile.in.in`` says (its ``.nop.po-update`` recipe,
    gettext 0.17's included), with ``Makevars``' options. Package name, version and bug address
    are the release's ``configure``'s (stamps in the headers)."""
    conf = release["configure"]() if "configure" in release else b""
    package, version = docgen.configure_value(conf, "PACKAGE"), docgen.configure_value(conf, "VERSION")
    bugs = docgen.configure_value(conf, "PACKAGE_BUGREPORT") or ""
    jobs = []
    for mk in sorted(p for p in release if posixpath.basename(p) == "Makefile.in.in"):
        d = posixpath.dirname(mk)
        makevars, potfiles, linguas = (tag.get(posixpath.join(d, n)) for n in ("Makevars", "POTFILES.in", "LINGUAS"))
        recipe = release[mk]()
        lang_opts = ("--lang=$lang --previous" if b"--lang=$$lang --previous -o $$tmpdir/$$lang.new.po" in recipe else
                     "--lang=$lang" if b"--lang=$$lang -o $$tmpdir/$$lang.new.po" in recipe else
                     # gettext 0.17's recipe (GnuPG's, whose own MSGMERGE line adds --previous)
                     "" if b"$(MSGMERGE) $$lang.po $(DOMAIN).pot -o $$tmpdir/$$lang.new.po" in recipe else None)
        own = re.search(rb"^MSGMERGE\s*=\s*msgmerge((?:[ \t]+--?[\w-]+)*)[ \t]*$", recipe, re.M)
        # a POTFILES.in only in the release (written by the bootstrap: util-linux), and the generated sources it
        # lists (libgpg-error's src/err-sources.h), are inputs once reproduced
        listed = potfiles if potfiles is not None else release[posixpath.join(d, "POTFILES.in")]() \
            if posixpath.join(d, "POTFILES.in") in release else None
        if makevars is None or listed is None or not package or not version or not d or lang_opts is None:
            continue
        top_dir = posixpath.dirname(d)
        needs = tuple([posixpath.join(d, "POTFILES.in")] if potfiles is None else []) + tuple(
            p for p in (posixpath.normpath(posixpath.join(top_dir, w)) for w in _listed(listed))
            if p not in tag and p in release)
        mv = makevars.decode("utf-8", "replace")
        domain = (docgen.makevar(mv, "DOMAIN") or ["$(PACKAGE)"])[0].replace("$(PACKAGE)", package)
        holder = " ".join(docgen.makevar(mv, "COPYRIGHT_HOLDER"))
        address = " ".join(docgen.makevar(mv, "MSGID_BUGS_ADDRESS")) or bugs
        xopts = [_q(w) for w in docgen.makevar(mv, "XGETTEXT_OPTIONS") if "$" not in w]
        mopts = [_q(w) for w in docgen.makevar(mv, "MSGMERGE") + docgen.makevar(mv, "MSGMERGE_OPTIONS")
                 + (own.group(1).decode().split() if own else []) if w.startswith("-") and "$" not in w]
        gnu = (docgen.makevar(mv, "PACKAGE_GNU") or [""])[0]
        header = posixpath.join(d, f"{domain}.pot-header") in tag
        langs = [w for w in (linguas or b"").decode("utf-8", "replace").split() if re.fullmatch(r"[\w@.-]+", w)
                 and not w.startswith("#")]
        if not re.fullmatch(r"[\w.+-]+", domain):
            continue
        top = "/".join([".."] * len(d.split("/")))
        prefix = ("package_prefix='GNU '; " if gnu == "yes" else "package_prefix=''; " if gnu else
                  f"package_prefix=''; if LC_ALL=C grep -i {_q('GNU ' + package)} {top}/* 2>/dev/null "
                  f"| grep -v 'libtool:' >/dev/null; then package_prefix='GNU '; fi; ")
        script = (prefix +
                  f"xgettext --default-domain={domain} --directory={top} --add-comments=TRANSLATORS: "
                  f"--files-from=POTFILES.in --copyright-holder={_q(holder)} "
                  f"--package-name=\"${{package_prefix}}\"{_q(package)} --package-version={_q(version)} "
                  f"--msgid-bugs-address={_q(address)} {' '.join(xopts)} && "
                  + (f"sed -e '1,/^#$/d' < {domain}.po > {domain}.1po && cat {domain}.pot-header {domain}.1po > "
                     f"{domain}.po && rm -f {domain}.1po && " if header else "")
                  + f"mv {domain}.po {domain}.pot && "
                  f"for lang in {' '.join(langs)}; do test ! -f $lang.po || {{ "
                  f"msgmerge {' '.join(mopts)} {lang_opts} -o $lang.new.po $lang.po {domain}.pot && "
                  f"{{ cmp -s $lang.po $lang.new.po || mv -f $lang.new.po $lang.po; }}; rm -f $lang.new.po; }}; done")
        quot, quot_needs = _quot(d, domain, package, tag, release)
        outputs = tuple(f"{d}/{lang}.{ext}" for lang in QUOT_LANGS for ext in ("po", "gmo")
                        if f"{d}/{lang}.{ext}" in release) if quot else ()
        jobs.append(docgen.DocJob(f"update-po of {mk} (xgettext, msgmerge" + (", Rules-quot)" if quot else ")"),
                                  d, script + quot, needs=needs + quot_needs, outputs=outputs))
    return jobs


QUOT_LANGS = ("en@quot", "en@boldquot")
QUOT_FILES = ("Rules-quot", "quot.sed", "boldquot.sed", "insert-header.sin", "en@quot.header", "en@boldquot.header")


def _quot(d: str, domain: str, package: str, tag: Mapping[str, bytes],
          release: Mapping[str, Callable[[], bytes]]) -> tuple[str, tuple[str, ...]]:
    """The English catalogs gettext's ``Rules-quot`` makes from the new template during
    ``update-po`` (``msginit`` | the header | ``msgconv`` | ``msgfilter`` with ``quot.sed``), run
    by ``make`` with that file itself, then ``msgfmt`` of each (the ``.gmo`` the release ships):
    shell commands to append to the update-po script, and the release-only gettext files they
    read (inputs once an earlier step verified them: published copies). Empty when the release
    ships no such catalog that differs from the tag's."""
    langs = [lang for lang in QUOT_LANGS if f"{d}/{lang}.po" in release
             and tag.get(f"{d}/{lang}.po") != release[f"{d}/{lang}.po"]()]
    files = [f"{d}/{name}" for name in QUOT_FILES]
    if not langs or any(f"{d}/{name}" not in tag and f"{d}/{name}" not in release
                        for name in ("Rules-quot", "quot.sed", "insert-header.sin")):
        return "", ()
    mk = "".join(f"{k} = {v}\n" for k, v in (("DOMAIN", domain), ("PACKAGE", package), ("srcdir", "."),
                                             ("top_srcdir", ".."), ("MSGINIT", "msginit"), ("MSGCONV", "msgconv"),
                                             ("MSGFILTER", "msgfilter"), ("SED", "sed"))) + "include Rules-quot\n"
    targets = " ".join(f"{lang}.po-update" for lang in langs)
    gmo = " && ".join(f"msgfmt -c -o {lang}.gmo {lang}.po" for lang in langs if f"{d}/{lang}.gmo" in release)
    return (f" && printf %s {_q(mk)} > .provcheck-quot.mk && make -f .provcheck-quot.mk {targets}"
            + (f" && {gmo}" if gmo else "") + " && rm -f .provcheck-quot.mk *.insert-header",
            tuple(f for f in files if f not in tag and f in release))


def _listed(potfiles: bytes) -> list[str]:
    """The source names a POTFILES.in lists (comments and blank lines left out)."""
    return [line.strip() for line in potfiles.decode("utf-8", "replace").split("\n")
            if line.strip() and not line.lstrip().startswith("#")][:20000]


__all__ = ["jobs"]
