#!/usr/bin/env python3
"""Evaluate provcheck_attest on real, public Sigstore bundles.

The bundles are sigstore-python's own test assets (signed by the real production and
staging Sigstore instances). They are read from a local copy and never committed:

    git clone --depth 1 <sigstore-python repository> /tmp/sp     # or any snapshot of it
    python eval/attest_eval.py /tmp/sp/test/assets

For every bundle the script checks, with sockets disabled in this process:

1. verification against the production trusted root shipped in the sigstore package
   and against the staging root shipped next to it (a bundle must verify under the
   root of the instance that made it, and fail under the other one);
2. the identity policy sigstore-python's own tests expect, where they state one, and a
   wrong identity (must be PC502, not PC501);
3. the same input with one byte flipped (must fail: PC501);
4. ``provcheck verify`` end to end for the production GitHub-Actions wheel bundle.

It prints one line per check and a summary with timings, and exits 1 when any
expectation fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "plugins"))

from provcheck_attest.sigstore_check import Policy, check_bundle, load_trust, production_root_path  # noqa: E402

# What sigstore-python's tests state about these assets (test/unit/verify/test_policy.py,
# test/integration/cli/test_plumbing.py).
KNOWN = {
    "bundle_v3_github.whl.sigstore": dict(
        input="bundle_v3_github.whl", root="production",
        policy=Policy(identity="https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
                      issuer="https://token.actions.githubusercontent.com",
                      source_repository="https://github.com/trailofbits/rfc8785.py",
                      source_ref="refs/tags/v0.1.2", source_digest="d8b4a6445f38c48b9137a8099706d9b8073146e4")),
    "integration/Python-3.12.5.tgz.sigstore": dict(
        digest="38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405", root="production",
        policy=Policy(identity="thomas@python.org", issuer="https://accounts.google.com"),
        expect="unverifiable-offline"),   # v0.1 bundle without a checkpoint (sigstore's fix-bundle test)
}


def block_network() -> None:
    def blocked(*a, **k):
        raise OSError("network disabled during the evaluation")
    socket.socket.connect = blocked  # type: ignore[method-assign]
    socket.create_connection = blocked  # type: ignore[assignment]
    socket.getaddrinfo = blocked  # type: ignore[assignment]


def input_digest(assets: Path, bundle: str) -> tuple[str | None, Path | None]:
    known = KNOWN.get(bundle, {})
    if known.get("digest"):
        return known["digest"], None
    name = known.get("input") or bundle.removesuffix(".json").removesuffix(".sigstore")
    path = assets / name
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest(), path
    return None, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("assets", type=Path, help="sigstore-python's test/assets directory")
    args = ap.parse_args()
    block_network()
    roots = {"production": load_trust(None),
             "staging": load_trust(str(production_root_path().parent.parent
                                       / "https%3A%2F%2Ftuf-repo-cdn.sigstage.dev" / "trusted_root.json"))}
    bundles = sorted(str(p.relative_to(args.assets)) for p in args.assets.rglob("*")
                     if p.name.endswith((".sigstore", ".sigstore.json")))
    failures, checks, times = [], 0, []

    def expect(cond: bool, what: str) -> None:
        nonlocal checks
        checks += 1
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    print(f"# production root: {roots['production'].label} sha256:{roots['production'].sha256[:16]}")
    print(f"# {len(bundles)} bundles under {args.assets}")
    for rel in bundles:
        raw = (args.assets / rel).read_bytes()
        digest, path = input_digest(args.assets, rel)
        results = {}
        for name, trust in roots.items():
            t = time.perf_counter()
            results[name] = check_bundle(raw, trust, Policy(), digest)
            times.append(time.perf_counter() - t)
        status = {n: r.status for n, r in results.items()}
        signer = next((r.signer for r in results.values() if r.signer), {})
        print(f"-- {rel}: production={status['production']} staging={status['staging']} "
              f"signer={signer.get('identity')} issuer={signer.get('issuer')} detail="
              f"{(results['production'].detail or results['staging'].detail)[:90]!r}")
        ok_roots = [n for n, s in status.items() if s == "verified"]
        if len(ok_roots) == 1:
            expect(True, f"{rel}: verifies under exactly one root ({ok_roots[0]})")
            own = roots[ok_roots[0]]
            if digest and results[ok_roots[0]].kind == "message-signature":
                flipped = hashlib.sha256(bytes.fromhex(digest) + b"x").hexdigest()
                expect(check_bundle(raw, own, Policy(), flipped).status == "invalid",
                       f"{rel}: a different input digest is rejected (PC501)")
            wrong = check_bundle(raw, own, Policy(identity="mallory@example.org"), digest)
            expect(wrong.status == "identity-mismatch", f"{rel}: a wrong identity is PC502, not PC501")
        elif len(ok_roots) > 1:
            expect(False, f"{rel}: verified under both production and staging roots")
        known = KNOWN.get(rel)
        if known:
            res = check_bundle(raw, roots[known["root"]], known["policy"], digest)
            want = known.get("expect", "verified")
            expect(res.status == want, f"{rel}: with sigstore-python's stated identity policy -> {res.status} "
                                       f"(want {want}) {res.detail[:80]}")

    # end to end through the CLI, network blocked in the child too (sitecustomize)
    wheel = args.assets / "bundle_v3_github.whl"
    if wheel.is_file():
        import tempfile
        with tempfile.TemporaryDirectory() as site:
            Path(site, "sitecustomize.py").write_text(
                "import socket\n"
                "def _b(*a, **k): raise OSError('network disabled')\n"
                "socket.socket.connect = _b\nsocket.create_connection = _b\nsocket.getaddrinfo = _b\n")
            env = dict(os.environ, PYTHONPATH=site)
            pol = KNOWN["bundle_v3_github.whl.sigstore"]["policy"]
            cmd = [sys.executable, "-m", "provcheck", "verify", str(wheel), "--bundle", str(wheel) + ".sigstore",
                   "--cert-identity", pol.identity, "--cert-oidc-issuer", pol.issuer,
                   "--cert-source-repository", "trailofbits/rfc8785.py", "--cert-source-ref", pol.source_ref,
                   "--cert-source-digest", pol.source_digest, "--format", "json"]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            cli_seconds = time.perf_counter() - t
            rules = [f["rule_id"] for f in json.loads(proc.stdout or "{}").get("findings", [])]
            expect(proc.returncode == 0 and rules == ["PC510"],
                   f"provcheck verify bundle_v3_github.whl (production, GitHub Actions identity): exit "
                   f"{proc.returncode}, {rules}, {cli_seconds:.2f}s")
            bad = subprocess.run(cmd[:5] + ["--cert-identity", "https://github.com/evil/x/.github/workflows/r.yml@refs/tags/v1",
                                            "--cert-oidc-issuer", pol.issuer, "--format", "json"],
                                 capture_output=True, text=True, env=env)
            rules = [f["rule_id"] for f in json.loads(bad.stdout or "{}").get("findings", [])]
            expect(bad.returncode == 1 and rules == ["PC502"], f"provcheck verify with another workflow identity: "
                                                               f"exit {bad.returncode}, {rules}")

    times.sort()
    print(f"\n{checks - len(failures)}/{checks} checks passed; bundle checks: n={len(times)} "
          f"median={times[len(times) // 2] * 1000:.1f} ms max={times[-1] * 1000:.1f} ms")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
