"""``provcheck verify``: the attest checks on named material, with a strict exit code.

    provcheck verify ARTIFACT --bundle FILE --cert-identity SAN --cert-oidc-issuer URL [--trusted-root FILE]
    provcheck verify TARBALL --signature FILE.asc --keyring KEYS.asc [--history FILE [--record]]
    provcheck verify IMAGE [--cert-identity SAN --cert-oidc-issuer URL]

Files are verified as bytes (a tarball is not unpacked); images (OCI layouts and
archives) are loaded to learn their manifest digest. Exit 0 only when every target
has at least one verified signature or attestation (PC510) and nothing else was
reported; 1 when something failed or nothing was found; 3 when a check could not run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from provcheck import Artifact, CommandContext, ExitCode, InputSpec, Tree, UsageError, file_sha256
from provcheck.formats.oci import looks_like_image_archive

from .options import add_verify_options


def setup_verify(p: argparse.ArgumentParser) -> None:
    p.add_argument("artifacts", nargs="+", metavar="ARTIFACT",
                   help="a file (tarball, wheel, any blob) or an image (OCI layout directory or archive)")
    add_verify_options(p)
    p.add_argument("--source", metavar="ARTIFACT",
                   help="what the release was built from, e.g. git:REPO@TAG; SLSA provenance must name its commit")


def _is_image(path: Path) -> bool:
    if path.is_dir():
        return (path / "oci-layout").is_file() or (path / "index.json").is_file()
    return looks_like_image_archive(path)


def run_verify(args: argparse.Namespace, ctx: CommandContext) -> int:
    from .sigstore_check import TrustError, load_trust  # not at module level: every command loads this module

    opts = {k: v for k, v in vars(args).items() if k.startswith("attest.")}
    if opts.get("attest.bundle") and not opts.get("attest.cert_identity"):
        raise UsageError("verify: --bundle needs --cert-identity (and --cert-oidc-issuer): a signature is only "
                         "meaningful for the signer you expect")
    if opts.get("attest.signature") and not opts.get("attest.keyring"):
        raise UsageError("verify: --signature needs --keyring")
    if opts.get("attest.record") and not opts.get("attest.history"):
        raise UsageError("verify: --record needs --history")
    explicit = opts.get("attest.bundle") or opts.get("attest.signature") or opts.get("attest.provenance")
    if explicit and len(args.artifacts) != 1:
        raise UsageError("verify: --bundle/--signature/--provenance apply to exactly one ARTIFACT")
    for key in ("attest.bundle", "attest.provenance"):
        for f in opts.get(key) or ():
            if not Path(f).is_file():
                raise UsageError(f"verify: {f}: no such file")
    for key in ("attest.signature", "attest.keyring", "attest.trusted_root"):
        if opts.get(key) and not Path(opts[key]).is_file():
            raise UsageError(f"verify: {opts[key]}: no such file")
    if opts.get("attest.trusted_root") or opts.get("attest.bundle"):
        try:
            load_trust(opts.get("attest.trusted_root"))
        except TrustError as exc:
            raise UsageError(f"verify: {exc}") from None

    specs, blobs = [], []
    for text in args.artifacts:
        path = Path(text)
        if not path.exists():
            raise UsageError(f"verify: {text}: no such file or directory")
        if _is_image(path):
            specs.append(InputSpec.parse(text, "target"))
        elif path.is_file():
            blobs.append(path)
        else:
            raise UsageError(f"verify: {text}: a directory that is not an OCI image layout")
    if args.source:
        specs.append(InputSpec.parse(args.source, "source"))

    import provcheck_attest
    # other detectors say nothing about signatures; their failures must not decide verify's exit
    ctx.only_detectors(provcheck_attest)
    config = ctx.config(args, specs)
    options = {k: dict(v) for k, v in config.plugin_options.items()}
    options.setdefault("attest", {})["verify_mode"] = True
    config = config.replace(select=("PC5",), plugin_options=options)
    ctx.use(config)
    prebuilt = [Artifact(name=p.name, role="target", kind="file", tree=Tree(ctx.store), source=str(p),
                         metadata={"sha256": file_sha256(p)}) for p in blobs]
    report = ctx.scan(config=config, artifacts=prebuilt)
    ctx.write_report(report, args)
    if report.input_failed:
        return ExitCode.INPUT
    if report.errors:
        return ExitCode.INCOMPLETE
    failed = [f for f in report.active if f.rule_id.startswith("PC5") and f.rule_id != "PC510"]
    verified = {f.location.artifact for f in report.active if f.rule_id == "PC510"}
    targets = {a.name for a in report.artifacts if a.role == "target"}
    if failed or not targets <= verified:
        return ExitCode.FINDINGS
    return ExitCode.OK
