"""Policies on ELF files compiled here: IFUNC, interposition, hardening, RPATH hygiene,
ld.so.preload, xz indicators, configured and plugin-provided reachability policies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from provcheck import Severity, UsageError
from provcheck.testing import File, Symlink

import provcheck_elf
from provcheck_elf import policies

NOLIBC = ("-nostdlib",)
MAIN = "int foo(void);\nvoid _start(void) { foo(); for (;;) ; }\n"
LIBC_DIR = "usr/lib/x86_64-linux-gnu"


def opts(**kw):
    return {"elf": {"cache": False, **kw}}


@pytest.fixture(scope="module")
def host_libc() -> dict[str, bytes]:
    """The real glibc of this machine, so binaries built against it resolve in the tree."""
    out = {}
    for name in ("libc.so.6", "ld-linux-x86-64.so.2"):
        p = Path("/lib/x86_64-linux-gnu") / name
        out[f"{LIBC_DIR}/{name}"] = p.resolve().read_bytes()
    return out


IFUNC_LIB = r'''
static int fast(void) { return 1; }
static int slow(void) { return 2; }
static void *resolve_crc(void) { return __builtin_cpu_supports("avx2") ? (void *)fast : (void *)slow; }
int lzma_crc64(void) __attribute__((ifunc("resolve_crc")));
__attribute__((visibility("hidden"))) int crc32_local(void) __attribute__((ifunc("resolve_crc")));
int lzma_crc32(void) { return crc32_local(); }
'''
LOCAL_IFUNC_ONLY = IFUNC_LIB.replace("int lzma_crc64(void) __attribute__((ifunc(\"resolve_crc\")));", "")


def test_unexpected_ifunc_is_reported_and_allow_list_silences_it(elf, gcc, host_libc):
    lib = gcc.lib("libhelper.so.1", IFUNC_LIB)
    root = elf.tree({**host_libc, f"{LIBC_DIR}/libhelper.so.1": lib})
    result = elf.run(root, options=opts())
    f = result.only("PC308")
    assert f.location.path == f"{LIBC_DIR}/libhelper.so.1"
    assert f.evidence["ifunc_symbols"] == ["lzma_crc64"]
    assert f.evidence["irelative"] >= 1
    # glibc itself (libc.so.6, full of IFUNCs) is on the default allow-list
    assert all(x.location.path.endswith("libhelper.so.1") for x in result.by_rule("PC308"))
    elf.run(root, options=opts(**{"extra-ifunc-allow": ["libhelper.so.*"]})).assert_rules(PC308=0)
    result.assert_no_errors()
    # a resolver that is not exported still shows, through its IRELATIVE relocation
    hidden = gcc.lib("libhidden.so.1", LOCAL_IFUNC_ONLY)
    f = elf.run(elf.tree({**host_libc, f"{LIBC_DIR}/libhidden.so.1": hidden}), options=opts()).only("PC308")
    assert f.evidence["ifunc_symbols"] == [] and f.evidence["irelative"] == 1


INTERPOSER = r'''
int RSA_public_decrypt(int flen, const unsigned char *from, unsigned char *to, void *rsa, int padding)
{ return flen; }
unsigned la_version(unsigned v) { return v; }
'''


def test_interposing_a_sensitive_symbol_is_reported_unless_owner(elf, gcc):
    bad = gcc.lib("libhelper.so.1", INTERPOSER, *NOLIBC)
    owner = gcc.lib("libcrypto.so.3", "int RSA_public_decrypt(void) { return 0; }\n", *NOLIBC)
    root = elf.tree({f"{LIBC_DIR}/libhelper.so.1": bad, f"{LIBC_DIR}/libcrypto.so.3": owner,
                     "etc/ld.so.preload": f"/{LIBC_DIR}/libhelper.so.1\n"})
    result = elf.run(root, options=opts())
    found = {(f.location.path, f.key) for f in result.by_rule("PC309")}
    assert found == {(f"{LIBC_DIR}/libhelper.so.1", "export:RSA_public_decrypt"),
                     (f"{LIBC_DIR}/libhelper.so.1", "export:la_version"),
                     ("etc/ld.so.preload", "ld.so.preload")}
    pre = next(f for f in result.by_rule("PC309") if f.key == "ld.so.preload")
    assert pre.evidence["resolved"] == {f"/{LIBC_DIR}/libhelper.so.1": f"{LIBC_DIR}/libhelper.so.1"}
    # an rtld audit library declared in the dynamic section
    audited = gcc.exe(MAIN.replace("foo", "RSA_public_decrypt"), *NOLIBC, "libhelper.so.1", "-Wl,--audit,libspy.so",
                      "-Wl,--depaudit,libspy2.so",
                      inputs={"libhelper.so.1": bad})
    keys = {f.key for f in elf.run(elf.tree({"usr/bin/a": File(audited, 0o755), f"{LIBC_DIR}/libhelper.so.1": bad}),
                                   options=opts()).by_rule("PC309")}
    assert {"audit:libspy.so", "depaudit:libspy2.so"} <= keys
    # a user may declare another owner
    cfg = opts(**{"sensitive-symbols": {"RSA_public_decrypt": ["libcrypto.so.*", "libhelper.so.1"]}})
    keys = {f.key for f in elf.run(root, options=cfg).by_rule("PC309")}
    assert "export:RSA_public_decrypt" not in keys


DAEMON = r'''
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    char buf[64];
    strcpy(buf, argc > 1 ? argv[1] : "x");
    printf("%s\n", buf);
    return 0;
}
'''
HARDENED = ("-O2", "-fPIE", "-pie", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-Wl,-z,relro,-z,now")
SOFT = ("-O0", "-no-pie", "-fno-stack-protector", "-U_FORTIFY_SOURCE", "-Wl,-z,norelro,-z,lazy,-z,execstack")


def test_hardening_of_daemons_and_setuid_binaries(elf, gcc, host_libc):
    hard = gcc.exe(DAEMON, *HARDENED)
    soft = gcc.exe(DAEMON, *SOFT)
    root = elf.tree({**host_libc, "usr/sbin/sshd": File(hard, 0o755), "usr/sbin/mydaemon": File(soft, 0o755),
                     "usr/bin/su-helper": File(soft, 0o4755), "usr/bin/plain": File(soft, 0o755)})
    result = elf.run(root, options=opts(**{"extra-daemons": ["**/sbin/mydaemon"]}))
    found = {f.location.path: f for f in result.by_rule("PC305")}
    assert set(found) == {"usr/sbin/mydaemon", "usr/bin/su-helper"}  # sshd is hardened, plain is neither
    f = found["usr/sbin/mydaemon"]
    assert f.severity == Severity.HIGH
    assert set(f.evidence["missing"]) == {"pie", "nx", "relro", "bind-now", "stack-protector", "fortify"}
    assert found["usr/bin/su-helper"].evidence["role"] == "setuid"
    # only the properties a policy requires count
    low = elf.run(root, options=opts(**{"extra-daemons": ["**/sbin/mydaemon"], "require-hardening": ["fortify"],
                                        "setuid-hardening": False}))
    assert [(x.location.path, x.severity) for x in low.by_rule("PC305")] == [("usr/sbin/mydaemon", Severity.LOW)]
    result.assert_no_errors()


def test_rpath_hygiene(elf, gcc):
    foo = gcc.lib("libfoo.so.1", "int foo(void) { return 1; }\n", *NOLIBC)

    def app(rpath: str, new: bool = True) -> bytes:
        tags = "--enable-new-dtags" if new else "--disable-new-dtags"
        return gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", f"-Wl,{tags},-rpath,{rpath}", inputs={"libfoo.so.1": foo})

    from provcheck.testing import Dir
    root = elf.tree({
        f"{LIBC_DIR}/libfoo.so.1": foo,
        "usr/bin/tmp-runpath": File(app("/tmp/build/lib"), 0o755),
        "usr/bin/relative": File(app("lib:$ORIGIN/../lib", new=False), 0o755),
        "usr/bin/missing": File(app("/home/ci/out/lib:/opt/gone/lib"), 0o755),
        "usr/bin/writable": File(app("/srv/shared/lib"), 0o755),
        "srv/shared/lib": Dir(0o777),
        "usr/bin/fine": File(app("$ORIGIN/../lib/x86_64-linux-gnu"), 0o755),
    })
    os.chmod(root / "srv/shared/lib", 0o777)  # the helper's Dir() keeps the umask
    result = elf.run(root, options=opts())
    unsafe = {(f.location.path, f.evidence["entry"]) for f in result.by_rule("PC306")}
    assert unsafe == {("usr/bin/tmp-runpath", "/tmp/build/lib"), ("usr/bin/relative", "lib"),
                      ("usr/bin/missing", "/home/ci/out/lib"), ("usr/bin/writable", "/srv/shared/lib")}
    missing = {(f.location.path, f.evidence["entry"]) for f in result.by_rule("PC307")}
    assert missing == {("usr/bin/missing", "/opt/gone/lib")}  # $ORIGIN/../lib is usr/lib: it exists
    assert next(f for f in result.by_rule("PC306") if f.location.path == "usr/bin/relative").evidence["tag"] == "RPATH"


SIGNATURE_LIB = r'''
__attribute__((used)) static const unsigned char code[] = {
  0xf3,0x0f,0x1e,0xfa,0x55,0x48,0x89,0xf5,0x4c,0x89,0xce,0x53,0x89,0xfb,0x81,0xe7,0x00,0x00,0x00,0x80,
  0x48,0x83,0xec,0x28,0x48,0x89,0x54,0x24,0x18,0x48,0x89,0x4c,0x24,0x10 };
const char *lzma_version_string(void) { return "5.6.1"; }
'''


def test_xz_backdoor_indicators(elf, gcc):
    lib = gcc.lib("liblzma.so.5", SIGNATURE_LIB, *NOLIBC)
    clean = gcc.lib("liblzma.so.5", 'const char *lzma_version_string(void) { return "5.4.1"; }\n', *NOLIBC)
    status = ("Package: liblzma5\nStatus: install ok installed\nVersion: 5.6.1-1\nArchitecture: amd64\n\n"
              "Package: xz-utils\nStatus: install ok installed\nVersion: 5.4.1-0.2\nArchitecture: amd64\n")
    root = elf.tree({f"{LIBC_DIR}/liblzma.so.5.6.1": lib, f"{LIBC_DIR}/liblzma.so.5": Symlink("liblzma.so.5.6.1"),
                     "var/lib/dpkg/status": status,
                     "var/lib/dpkg/info/liblzma5:amd64.list": "/.\n/lib/x86_64-linux-gnu/liblzma.so.5.6.1\n"})
    result = elf.run(root, options=opts())
    sig = result.only("PC302")
    assert sig.severity == Severity.CRITICAL and sig.location.path == f"{LIBC_DIR}/liblzma.so.5.6.1"
    assert sig.evidence["signature"] == policies.XZ_SIGNATURE.hex()
    versions = {f.key: f for f in result.by_rule("PC303")}
    assert set(versions) == {"xz-version", "package:liblzma5"}
    assert any("file name liblzma.so.5.6.1" in i for i in versions["xz-version"].evidence["indicators"])
    assert any("version string '5.6.1'" in i for i in versions["xz-version"].evidence["indicators"])
    assert versions["package:liblzma5"].evidence["version"] == "5.6.1-1"
    # a large library (kept as its own host file by the blob store, read through mmap)
    big = gcc.lib("liblzma.so.5", SIGNATURE_LIB.replace("5.6.1", "5.6.0") +
                  "__attribute__((used)) static const char pad[3 << 20] = {1};\n", *NOLIBC)
    assert len(big) > 3 << 20
    large = elf.run(elf.tree({f"{LIBC_DIR}/liblzma.so.5.6.0": big}), options=opts())
    assert large.only("PC302").evidence["offset"] > 0
    assert "version string '5.6.0'" in " ".join(large.only("PC303").evidence["indicators"])
    # deleted by a later image layer: still in the image, still reported
    img = elf.oci([{f"{LIBC_DIR}/liblzma.so.5.6.1": lib}, {f"{LIBC_DIR}/.wh.liblzma.so.5.6.1": ""}])
    hidden = elf.run(img, options=opts()).only("PC302")
    assert hidden.location.path == f"{LIBC_DIR}/liblzma.so.5.6.1" and hidden.evidence["hidden_by"]
    # the shipped Debian 12 version with no signature stays quiet
    quiet = elf.tree({f"{LIBC_DIR}/liblzma.so.5.4.1": clean, f"{LIBC_DIR}/liblzma.so.5": Symlink("liblzma.so.5.4.1")})
    elf.run(quiet, options=opts()).assert_rules(PC302=0, PC303=0)


def test_configured_policy_and_plugin_policy(elf, gcc):
    c = gcc.lib("libc_.so.1", "int leaf(void) { return 1; }\n", *NOLIBC)
    b = gcc.lib("libb.so.1", "int leaf(void);\nint foo(void) { return leaf(); }\n", *NOLIBC, "libc_.so.1",
                inputs={"libc_.so.1": c})
    a = gcc.exe(MAIN, *NOLIBC, "libb.so.1", "-Wl,--allow-shlib-undefined", inputs={"libb.so.1": b})
    root = elf.tree({"usr/bin/agent": File(a, 0o755), f"{LIBC_DIR}/libb.so.1": b, f"{LIBC_DIR}/libc_.so.1": c})
    cfg = opts(forbid=[{"name": "agent-libc_", "from": "usr/bin/agent", "to": "libc_.so.*", "severity": "critical",
                        "reason": "test"}])
    f = elf.run(root, options=cfg).only("PC301")
    assert f.severity == Severity.CRITICAL
    assert f.key == "agent-libc_:usr/bin/agent>needed:libb.so.1>needed:libc_.so.1"
    assert [r.path for r in f.related] == [f"{LIBC_DIR}/libb.so.1", f"{LIBC_DIR}/libc_.so.1"]


def test_hook_elf_policies_lets_plugins_add_and_config_override(elf, gcc):
    b = gcc.lib("libb.so.1", "int foo(void) { return 1; }\n", *NOLIBC)
    a = gcc.exe(MAIN, *NOLIBC, "libb.so.1", inputs={"libb.so.1": b})
    root = elf.tree({"usr/bin/agent": File(a, 0o755), f"{LIBC_DIR}/libb.so.1": b})

    class PolicyPlugin:
        @provcheck_elf.provcheck.hookimpl
        def provcheck_elf_policies(self):
            return [{"name": "from-plugin", "from": "agent", "to": "libb", "severity": "low"}]

    elf.add_plugin(PolicyPlugin())
    f = elf.run(root, options=opts()).only("PC301")
    assert (f.evidence["policy"], f.severity) == ("from-plugin", Severity.LOW)
    # a configured policy of the same name replaces the plugin's
    cfg = opts(forbid=[{"name": "from-plugin", "from": "agent", "to": "libb", "severity": "high"}])
    assert elf.run(root, options=cfg).only("PC301").severity == Severity.HIGH


@pytest.mark.parametrize("bad", [
    {"nonsense": 1},
    {"forbid": [{"from": "sshd"}]},
    {"forbid": [{"from": "a", "to": "b", "kinds": ["weird"]}]},
    {"require-hardening": ["aslr"]},
    {"max-paths": "many"},
])
def test_bad_options_are_usage_errors(bad):
    with pytest.raises(UsageError):
        policies.Options.parse(bad)


def test_bad_option_in_a_scan_is_a_clear_error(elf, gcc):
    root = elf.tree({"usr/lib/libx.so": gcc.lib("libx.so", "int x;\n", *NOLIBC)})
    result = elf.run(root, options=opts(**{"require-hardening": ["aslr"]}))
    assert len(result.errors) == 1 and "require-hardening" in result.errors[0].message


def test_policies_from_provcheck_toml(elf, gcc, other_plugins):
    """The documented TOML shape, read by the CLI from the working directory."""
    b = gcc.lib("libb.so.1", "int foo(void) { return 1; }\n", *NOLIBC)
    a = gcc.exe(MAIN, *NOLIBC, "libb.so.1", inputs={"libb.so.1": b})
    root = elf.tree({"usr/sbin/agentd": File(a, 0o755), f"{LIBC_DIR}/libb.so.1": b})
    (elf.base / "provcheck.toml").write_text('''
[plugins.elf]
default-policies = false
extra-daemons = ["**/sbin/agentd"]
require-hardening = ["pie"]

[[plugins.elf.forbid]]
name = "agentd-libb"
from = "**/sbin/agentd"
to = "libb.so.*"
severity = "high"
reason = "agentd must stay self-contained"
''')
    res = elf.run_cli(*other_plugins, "scan", root, "--format", "json", "--select", "PC3")
    assert res.exit_code == 1, res.stderr  # a high finding
    found = {(f["rule_id"], f["severity"]) for f in res.json()["findings"]}
    assert ("PC301", "high") in found
    assert not any(r == "PC305" for r, _ in found)  # -nostdlib PIE: pie present, nothing else required
    f = next(f for f in res.json()["findings"] if f["rule_id"] == "PC301")
    assert f["evidence"]["reason"] == "agentd must stay self-contained"


def test_the_fixed_really_package_is_not_the_backdoor(elf, gcc):
    """Ubuntu and Debian shipped the fix as 5.6.1+really5.4.5: its version starts with 5.6.1."""
    clean = gcc.lib("liblzma.so.5", 'const char *lzma_version_string(void) { return "5.4.5"; }\n', *NOLIBC)
    status = ("Package: liblzma5\nStatus: install ok installed\nVersion: 5.6.1+really5.4.5-1ubuntu0.2\n"
              "Architecture: amd64\n")
    root = elf.tree({f"{LIBC_DIR}/liblzma.so.5.4.5": clean, f"{LIBC_DIR}/liblzma.so.5": Symlink("liblzma.so.5.4.5"),
                     "var/lib/dpkg/status": status,
                     "var/lib/dpkg/info/liblzma5:amd64.list": "/.\n/lib/x86_64-linux-gnu/liblzma.so.5.4.5\n"})
    elf.run(root, options=opts()).assert_rules(PC302=0, PC303=0)


def test_a_file_the_signature_scan_cannot_read_is_reported_not_skipped(elf, gcc):
    """A hidden liblzma whose blob vanished between loading and the scan: an error naming
    the file, never a silent 'no signature'."""
    from provcheck import hookimpl
    big = gcc.lib("liblzma.so.5", SIGNATURE_LIB + "__attribute__((used)) static const char pad[2 << 20] = {1};\n",
                  *NOLIBC)
    img = elf.oci([{f"{LIBC_DIR}/liblzma.so.5.6.1": big}, {f"{LIBC_DIR}/.wh.liblzma.so.5.6.1": ""}])

    class Vandal:
        @hookimpl(tryfirst=True)
        def provcheck_detect(self, scan):
            for node in scan.targets[0].tree.hidden:
                os.unlink(scan.store.path(node.sha256))

    elf.add_plugin(Vandal(), name="vandal")
    result = elf.run(img, options=opts())
    result.assert_rules(PC302=0)
    [err] = [e for e in result.errors if e.plugin == "elf"]
    assert err.path == f"{LIBC_DIR}/liblzma.so.5.6.1" and "not scanned for the xz backdoor" in err.message
    assert result.exit_code == 3
