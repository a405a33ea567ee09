"""The PC3xx rules: ids, names, default severities and their documentation."""

from __future__ import annotations

from provcheck import Confidence, Rule, Severity

PC301 = Rule(id="PC301", name="forbidden-linkage-path", severity=Severity.MEDIUM,
             summary="A binary reaches a library that a linkage policy forbids it to load", doc="""
## What it does
Builds the dynamic-linkage graph of the whole tree (DT_NEEDED and `.note.dlopen`
edges, resolved the way the tree's own dynamic loader would) and reports every path
from a binary matching a policy's `from` to a library matching its `to`. The evidence
is the chain: each hop's needed name, the file it resolved to, its layer and package.

The shipped policy `sshd-liblzma` (`from = "**/sbin/sshd"`, `to = "liblzma.so.*"`) is
**medium**: on Debian 12 and Fedora the chain `sshd -> libsystemd.so.0 -> liblzma.so.5`
is real and expected; it is the exposure the xz backdoor used, not a compromise by itself.
Add your own policies under `[[plugins.elf.forbid]]` (`name`, `from`, `to`, optional
`kinds` = `["needed", "dlopen"]`, `severity`, `reason`).

## Why is this bad?
Every library a daemon loads runs its constructors and IFUNC resolvers inside the daemon.
CVE-2024-3094 reached `sshd` only because distributions link it to libsystemd, which links
liblzma. A path you did not intend is attack surface you did not review.

## Example
```
usr/sbin/sshd -> libsystemd.so.0 (usr/lib/x86_64-linux-gnu/libsystemd.so.0.35.0, libsystemd0)
              -> liblzma.so.5 (usr/lib/x86_64-linux-gnu/liblzma.so.5.4.1, liblzma5)
```
Fix: drop the dependency (sd_notify can be implemented without libsystemd, as OpenSSH
9.8 does), or accept it with a `[[suppress]]` entry giving the reason.

## References
- CVE-2024-3094, https://www.openwall.com/lists/oss-security/2024/03/29/4
- `provcheck linkage IMAGE --from sshd --to liblzma`
""")

PC302 = Rule(id="PC302", name="xz-backdoor-signature", severity=Severity.CRITICAL,
             summary="An ELF file contains the published byte signature of the xz/liblzma backdoor", doc="""
## What it does
Searches every ELF file for the byte sequence published by the 2024 detection scripts
for the backdoored liblzma 5.6.0/5.6.1 object code
(`f30f1efa554889f54c89ce5389fb81e7000000804883ec28488954241848894c2410`).

## Why is this bad?
The sequence is the entry of the injected object that hooks `RSA_public_decrypt` in
sshd through an IFUNC resolver and an rtld audit hook. A file holding it is the
backdoored library (or a copy of its code).

## Example
`usr/lib/x86_64-linux-gnu/liblzma.so.5.6.1` from Debian testing of March 2024.
Fix: rebuild the image with xz-utils 5.4.x or >= 5.6.2.

## References
- CVE-2024-3094
- https://www.openwall.com/lists/oss-security/2024/03/29/4 (detect.sh)
""")

PC303 = Rule(id="PC303", name="xz-backdoored-version", severity=Severity.CRITICAL,
             summary="liblzma / xz-utils 5.6.0 or 5.6.1 is present", doc="""
## What it does
Reports liblzma 5.6.0 and 5.6.1, the two releases that carried CVE-2024-3094, by file
name (`liblzma.so.5.6.0`, `liblzma.so.5.6.1`), by the version string inside a liblzma
ELF file, and by the installed package version (dpkg, apk, rpm) of `liblzma5`, `xz-utils`,
`xz-libs` or `xz`.

## Why is this bad?
Both releases shipped the backdoor in their release tarballs; any build from them
should be treated as compromised even when the signature search (PC302) misses a variant.

## Example
`var/lib/dpkg/status`: `Package: liblzma5`, `Version: 5.6.1-1`.
Fix: downgrade to 5.4.x or upgrade to 5.6.2 or later and rebuild.

## References
- CVE-2024-3094, https://tukaani.org/xz-backdoor/
""")

PC304 = Rule(id="PC304", name="unresolved-library", severity=Severity.LOW,
             summary="A needed library is not found where the dynamic loader would look", doc="""
## What it does
Reports DT_NEEDED (and `.note.dlopen`) names that no directory of the loader's search
path provides inside the tree: RPATH/RUNPATH (with `$ORIGIN`, `$LIB`, `$PLATFORM`),
`etc/ld.so.conf` and its includes, and the system directories. Candidates of the wrong
ELF class or machine are skipped, as ld.so does. The searched paths are the evidence.
Only trees that hold a C library for the object's class and machine are checked: a
package or a tarball of one program naturally lacks its dependencies.

## Why is this bad?
A binary that cannot start is a broken image; a library the loader will look for in a
place that does not exist yet can be supplied later by whoever can write there.

## Example
`usr/bin/tool` needs `libfoo.so.1`; searched `usr/lib/x86_64-linux-gnu/libfoo.so.1`, ...
Fix: install the package that ships it, or remove the binary.

## References
- ld.so(8), "Shared library search path"
""")

PC305 = Rule(id="PC305", name="missing-hardening", severity=Severity.HIGH,
             summary="A network daemon or setuid/setgid binary lacks required hardening", doc="""
## What it does
Checks binaries matching `daemons` (network daemons, e.g. `**/sbin/sshd`) and every
setuid/setgid ELF for the properties in `require-hardening`: `pie`, `nx` (PT_GNU_STACK
not executable), `relro` (PT_GNU_RELRO), `bind-now` (full RELRO), `stack-protector`
(imports `__stack_chk_fail`), `fortify` (imports `__*_chk`). Missing PIE, NX or RELRO is
high; BIND_NOW and the stack protector medium; FORTIFY low.

## Why is this bad?
These binaries face untrusted input with privileges; without the mitigations a memory
bug is much easier to turn into code execution. Distribution builds enable all of them,
so a daemon without them was probably built outside the distribution's pipeline.

## Example
`usr/sbin/mydaemon`: not PIE, no RELRO. Fix: build with
`-fPIE -pie -Wl,-z,relro,-z,now -fstack-protector-strong -D_FORTIFY_SOURCE=2 -O2`.

## References
- https://wiki.debian.org/Hardening
- checksec(1)
""")

PC306 = Rule(id="PC306", name="unsafe-rpath", severity=Severity.HIGH,
             summary="RPATH/RUNPATH points at a writable or relative location", doc="""
## What it does
Reports DT_RPATH/DT_RUNPATH entries that are empty or relative (resolved against the
process's working directory), that point into world-writable places (`/tmp`,
`/var/tmp`, `/dev/shm`, or a directory of the tree with mode o+w), or into user homes.

## Why is this bad?
Whoever can write there can drop a library that the binary loads before the system one:
code execution in the binary's context, a root exploit when the binary is setuid.

## Example
`RUNPATH: /tmp/build/lib:$ORIGIN/../lib` left by a build system. Fix: link with
`-Wl,-rpath,'$ORIGIN/../lib'` only, or no RPATH at all (`chrpath -d`).

## References
- CWE-426: Untrusted Search Path
- https://wiki.debian.org/RpathIssue
""")

PC307 = Rule(id="PC307", name="rpath-missing-directory", severity=Severity.LOW,
             summary="RPATH/RUNPATH names a directory that does not exist in the tree", doc="""
## What it does
Reports RPATH/RUNPATH entries that expand to a directory not present in the tree.

## Why is this bad?
The loader searches it on every start; if someone can later create it, they choose the
libraries the binary loads. Usually it is a leftover build path that leaks build hosts.

## Example
`RUNPATH: /home/builder/src/out/lib`. Fix: relink without it (`chrpath`/`patchelf`).

## References
- CWE-426: Untrusted Search Path
""")

PC308 = Rule(id="PC308", name="unexpected-ifunc", severity=Severity.MEDIUM,
             summary="An ELF file outside the IFUNC allow-list has GNU IFUNC resolvers",
             confidence=Confidence.MEDIUM, doc="""
## What it does
Reports ELF files that export `STT_GNU_IFUNC` symbols or carry `*_IRELATIVE`
relocations (local IFUNCs) when their SONAME/file name matches none of `ifunc-allow`
(glibc's libc, libm, libmvec and the loader by default; extend with `extra-ifunc-allow`).

## Why is this bad?
IFUNC resolvers run during relocation, before `main` and before RELRO is applied. The
xz backdoor used the `crc32_resolve`/`crc64_resolve` resolvers of liblzma to run its
code inside sshd. Few libraries need IFUNCs; an unexpected one deserves a look.

## Example
`liblzma.so.5.6.1` exports IFUNC `lzma_crc64`. Fix: review the resolver; add the
library to `extra-ifunc-allow` when it is legitimate.

## References
- CVE-2024-3094
- https://sourceware.org/glibc/wiki/GNU_IFUNC
""")

PC309 = Rule(id="PC309", name="symbol-interposition", severity=Severity.HIGH,
             summary="An ELF file defines a security-sensitive symbol it does not own", doc="""
## What it does
Reports ELF files that export a security-sensitive symbol (`RSA_public_decrypt`,
`pam_authenticate`, `crypt`, the rtld audit entry points `la_version`/`la_symbind64`, ...)
when their SONAME/file name is not one of the symbol's owners in `sensitive-symbols`.
Also reports `etc/ld.so.preload` entries, which interpose on every process, and
DT_AUDIT/DT_DEPAUDIT entries, which load an rtld audit library into the program.

## Why is this bad?
The dynamic loader binds a symbol to the first definition in load order. A library that
defines `RSA_public_decrypt` next to libcrypto can replace signature verification in
every program that loads it, which is what the xz backdoor achieved with an audit hook.

## Example
`usr/lib/libhelper.so.1` exports `RSA_public_decrypt@OPENSSL_3.0.0`. Fix: remove it;
if legitimate, add its SONAME to the symbol's owners.

## References
- CVE-2024-3094
- ld.so(8), LD_PRELOAD and /etc/ld.so.preload; rtld-audit(7)
""")

RULES = [PC301, PC302, PC303, PC304, PC305, PC306, PC307, PC308, PC309]
