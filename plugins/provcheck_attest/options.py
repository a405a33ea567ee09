"""The attest options, declared once: ``provcheck verify`` spells them like cosign
(``--bundle``, ``--cert-identity``), ``provcheck scan`` with an ``--attest-`` prefix.
Both write ``attest.KEY``, which reaches the detector as ``options[KEY]``."""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple


class Option(NamedTuple):
    key: str                  # options[key]; the flag is --KEY with dashes
    group: str                # verify's help section
    help: str
    metavar: str | None = "FILE"
    kw: dict[str, Any] = {}   # extra argparse arguments (action, default)
    scan: bool = True         # also a `scan` option (--attest-KEY)


OPTIONS = (
    Option("bundle", "sigstore", "Sigstore bundle (.sigstore / .sigstore.json); repeatable; sidecars "
           "X.sigstore.json are found anyway", kw={"action": "append"}),
    Option("cert_identity", "sigstore", "expected signer identity (e-mail, URI, workflow) in the certificate SAN",
           "SAN"),
    Option("cert_oidc_issuer", "sigstore", "expected OIDC issuer of the signer's certificate", "URL"),
    Option("cert_source_repository", "sigstore", "CI identities: expected source repository (OWNER/REPO means "
           "GitHub)", "URL", scan=False),
    Option("cert_source_ref", "sigstore", "CI identities: expected source ref, e.g. refs/tags/v1.0", "REF",
           scan=False),
    Option("cert_source_digest", "sigstore", "CI identities: expected source commit", "SHA", scan=False),
    Option("trusted_root", "sigstore", "trusted_root.json or client trust config (default: the production root "
           "shipped in the sigstore package; never fetched)"),
    Option("provenance", "sigstore", "in-toto JSON lines (.intoto.jsonl) of Sigstore bundles",
           kw={"action": "append"}, scan=False),
    Option("signature", "OpenPGP", "detached OpenPGP signature (.asc, .sig) for the (single) target"),
    Option("keyring", "OpenPGP", "public keys, armored or binary (e.g. debian/upstream/signing-key.asc), or a "
           "Debian *.debian.tar.* whose debian/upstream/signing-key.asc is used"),
    Option("history", "OpenPGP", "signer history (JSON: project -> version -> fingerprints); PC508 on a new "
           "signer"),
    Option("project", "OpenPGP", "project name in the history (default: from the file name)", "NAME", scan=False),
    Option("record", "OpenPGP", "add this release's verified signer to the history file", None,
           kw={"action": "store_true", "default": None}, scan=False),
)


def _add(target: Any, flag: str, opt: Option, help: str) -> None:
    kw = dict(opt.kw)
    if opt.metavar:
        kw["metavar"] = opt.metavar
    target.add_argument(flag, dest=f"attest.{opt.key}", help=help, **kw)


def add_scan_options(parser: Any) -> None:
    for opt in OPTIONS:
        if opt.scan:
            _add(parser, "--attest-" + opt.key.replace("_", "-"), opt, "attest: " + opt.help)


def add_verify_options(parser: argparse.ArgumentParser) -> None:
    groups: dict[str, Any] = {}
    for opt in OPTIONS:
        group = groups.get(opt.group) or groups.setdefault(opt.group, parser.add_argument_group(opt.group))
        _add(group, "--" + opt.key.replace("_", "-"), opt, opt.help)
