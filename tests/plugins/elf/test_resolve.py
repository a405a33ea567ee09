"""Loader emulation on ELF files compiled here: $ORIGIN, RPATH vs RUNPATH, ld.so.conf,
merged-usr symlinks, machine mismatches, missing libraries, dlopen notes."""

from __future__ import annotations

import struct

from provcheck.testing import File, Symlink

from provcheck.formats import elf as elfread

LIB = "int %s(void) { return %d; }\n"
NOLIBC = ("-nostdlib",)
MAIN = "int foo(void);\nvoid _start(void) { foo(); for (;;) ; }\n"
OPTS = {"elf": {"cache": False}}


def graph_json(linkage, root, *args):
    code, out, _err = linkage(root, *args)
    return code, out


def edges_of(graph: dict, src: str) -> dict[str, dict]:
    return {e["name"]: e for e in graph["edges"] if e["from"] == src}


def test_origin_runpath_beats_system_dir(elf, gcc, linkage):
    private = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    system = gcc.lib("libfoo.so.1", LIB % ("foo", 2), *NOLIBC)
    app = gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib",
                  inputs={"libfoo.so.1": private})
    root = elf.tree({"opt/app/bin/app": File(app, 0o755), "opt/app/lib/libfoo.so.1": private,
                     "usr/lib/x86_64-linux-gnu/libfoo.so.1": system})
    code, g = graph_json(linkage, root)
    assert code == 0
    e = edges_of(g, "opt/app/bin/app")["libfoo.so.1"]
    assert (e["to"], e["via"]) == ("opt/app/lib/libfoo.so.1", "runpath")
    # without the RUNPATH the system copy wins
    plain = gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", inputs={"libfoo.so.1": private})
    root2 = elf.tree({"opt/app/bin/app": File(plain, 0o755), "opt/app/lib/libfoo.so.1": private,
                      "usr/lib/x86_64-linux-gnu/libfoo.so.1": system})
    _, g2 = graph_json(linkage, root2)
    e2 = edges_of(g2, "opt/app/bin/app")["libfoo.so.1"]
    assert (e2["to"], e2["via"]) == ("usr/lib/x86_64-linux-gnu/libfoo.so.1", "default")


def _add_runpath_from_rpath_suffix(data: bytes, suffix_at: int) -> bytes:
    """Turn the first spare DT_NULL of the dynamic section into a DT_RUNPATH naming the
    tail of the DT_RPATH string (GNU ld leaves spare DT_NULL slots)."""
    buf = bytearray(data)
    e_phoff, = struct.unpack_from("<Q", buf, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", buf, 54)
    for i in range(e_phnum):
        p_type, _f, p_offset, _v, _p, p_filesz = struct.unpack_from("<IIQQQQ", buf, e_phoff + i * e_phentsize)
        if p_type == elfread.PT_DYNAMIC:
            entries = [struct.unpack_from("<qQ", buf, p_offset + j * 16) for j in range(p_filesz // 16)]
            rpath = next(v for t, v in entries if t == elfread.DT_RPATH)
            slot = next(j for j, (t, _) in enumerate(entries) if t == elfread.DT_NULL)
            assert slot + 1 < len(entries), "no spare DT_NULL"
            struct.pack_into("<qQ", buf, p_offset + slot * 16, elfread.DT_RUNPATH, rpath + suffix_at)
            return bytes(buf)
    raise AssertionError("no PT_DYNAMIC")


def test_runpath_present_means_rpath_ignored(elf, gcc, linkage):
    lib_r = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    lib_x = gcc.lib("libfoo.so.1", LIB % ("foo", 2), *NOLIBC)
    app = gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", "-Wl,--disable-new-dtags,-rpath,/opt/r:/opt/x",
                  inputs={"libfoo.so.1": lib_r})
    assert elfread.parse_buffer(app, len(app))["rpath"] == "/opt/r:/opt/x"
    both = _add_runpath_from_rpath_suffix(app, len("/opt/r:"))
    info = elfread.parse_buffer(both, len(both))
    assert (info["rpath"], info["runpath"]) == ("/opt/r:/opt/x", "/opt/x")
    files = {"opt/r/libfoo.so.1": lib_r, "opt/x/libfoo.so.1": lib_x}
    _, g = graph_json(linkage, elf.tree({"usr/bin/app": File(app, 0o755), **files}))
    assert edges_of(g, "usr/bin/app")["libfoo.so.1"]["to"] == "opt/r/libfoo.so.1"
    _, g = graph_json(linkage, elf.tree({"usr/bin/app": File(both, 0o755), **files}))
    e = edges_of(g, "usr/bin/app")["libfoo.so.1"]
    assert (e["to"], e["via"]) == ("opt/x/libfoo.so.1", "runpath")


def fake_libc(gcc) -> dict[str, bytes]:
    """A library with SONAME libc.so.6: PC304 only speaks for trees that have a C library
    (a package alone naturally lacks its dependencies)."""
    return {"usr/lib/x86_64-linux-gnu/libc.so.6": gcc.lib("libc.so.6", LIB % ("c_stub", 1), *NOLIBC)}


def test_executable_rpath_is_inherited_but_runpath_is_not(elf, gcc, linkage):
    leaf = gcc.lib("libleaf.so.1", LIB % ("leaf", 1), *NOLIBC)
    mid = gcc.lib("libmid.so.1", "int leaf(void);\nint foo(void) { return leaf(); }\n", *NOLIBC, "libleaf.so.1",
                  inputs={"libleaf.so.1": leaf})
    libs = {"opt/p/lib/libmid.so.1": mid, "opt/p/lib/libleaf.so.1": leaf, **fake_libc(gcc)}
    for tags, expect in (("--disable-new-dtags", "opt/p/lib/libleaf.so.1"), ("--enable-new-dtags", None)):
        app = gcc.exe(MAIN, *NOLIBC, "libmid.so.1", f"-Wl,{tags},-rpath,/opt/p/lib", "-Wl,--allow-shlib-undefined",
                      inputs={"libmid.so.1": mid})
        root = elf.tree({"usr/bin/app": File(app, 0o755), **libs})
        _, g = graph_json(linkage, root)
        assert edges_of(g, "usr/bin/app")["libmid.so.1"]["to"] == "opt/p/lib/libmid.so.1"
        e = edges_of(g, "opt/p/lib/libmid.so.1")["libleaf.so.1"]
        assert e["to"] == expect, tags
        if expect:
            assert e["via"] == "inherited-rpath"
        result = elf.run(root, options=OPTS)
        assert [f.evidence["needed"] for f in result.by_rule("PC304")] == ([] if expect else ["libleaf.so.1"])
    # ...unless the executable itself loads libleaf first: ld.so reuses it by SONAME
    # (systemd's libsystemd-core needs libsystemd-shared from systemd's RUNPATH this way)
    app = gcc.exe("int foo(void); int leaf(void);\nvoid _start(void) { foo(); leaf(); for (;;) ; }\n", *NOLIBC,
                  "libmid.so.1", "libleaf.so.1", "-Wl,--enable-new-dtags,-rpath,/opt/p/lib",
                  inputs={"libmid.so.1": mid, "libleaf.so.1": leaf})
    root = elf.tree({"usr/bin/app": File(app, 0o755), **libs})
    _, g = graph_json(linkage, root)
    e = edges_of(g, "opt/p/lib/libmid.so.1")["libleaf.so.1"]
    assert (e["to"], e["via"]) == ("opt/p/lib/libleaf.so.1", "already-loaded:usr/bin/app")
    elf.run(root, options=OPTS).assert_rules(PC304=0)


def test_missing_library_is_reported_with_search_path(elf, gcc):
    app = gcc.exe(MAIN, *NOLIBC, "libgone.so.7", "-Wl,--allow-shlib-undefined",
                  inputs={"libgone.so.7": gcc.lib("libgone.so.7", LIB % ("foo", 1), *NOLIBC)})
    root = elf.tree({"usr/bin/app": File(app, 0o755), **fake_libc(gcc)})
    result = elf.run(root, options=OPTS)
    f = result.only("PC304")
    assert f.location.path == "usr/bin/app"
    assert f.evidence["needed"] == "libgone.so.7"
    assert "usr/lib/x86_64-linux-gnu/libgone.so.7" in f.evidence["searched"]
    assert "libgone.so.7" in f.message
    result.assert_no_errors()
    # without a C library the tree is a package or a fragment: missing dependencies are expected
    elf.run(elf.tree({"usr/bin/app": File(app, 0o755)}), options=OPTS).assert_rules(PC304=0)


def test_wrong_machine_is_skipped_like_ld_so(elf, gcc, linkage):
    good = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    foreign = bytearray(good)
    struct.pack_into("<H", foreign, 18, 183)  # e_machine = aarch64
    app = gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", inputs={"libfoo.so.1": good})
    root = elf.tree({"usr/bin/app": File(app, 0o755), "usr/lib/x86_64-linux-gnu/libfoo.so.1": bytes(foreign),
                     "usr/lib/libfoo.so.1": good})
    _, g = graph_json(linkage, root)
    e = edges_of(g, "usr/bin/app")["libfoo.so.1"]
    assert e["to"] == "usr/lib/libfoo.so.1"
    assert e["found_as"] == "usr/lib/libfoo.so.1"


def test_ld_so_conf_includes_and_merged_usr(elf, gcc, linkage):
    foo = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    bar = gcc.lib("libbar.so.2", LIB % ("bar", 1), *NOLIBC)
    app = gcc.exe("int foo(void); int bar(void);\nvoid _start(void) { foo(); bar(); for (;;) ; }\n", *NOLIBC,
                  "libfoo.so.1", "libbar.so.2", "-Wl,--enable-new-dtags,-rpath,/lib/private",
                  inputs={"libfoo.so.1": foo, "libbar.so.2": bar})
    root = elf.tree({
        "lib": Symlink("usr/lib"),
        "usr/bin/app": File(app, 0o755),
        "usr/lib/private/libbar.so.2.0": bar,
        "usr/lib/private/libbar.so.2": Symlink("libbar.so.2.0"),
        "etc/ld.so.conf": "# comment\ninclude /etc/ld.so.conf.d/*.conf\n",
        "etc/ld.so.conf.d/custom.conf": "/opt/custom/lib\n",
        "opt/custom/lib/libfoo.so.1": foo,
    })
    _, g = graph_json(linkage, root)
    edges = edges_of(g, "usr/bin/app")
    assert (edges["libfoo.so.1"]["to"], edges["libfoo.so.1"]["via"]) == ("opt/custom/lib/libfoo.so.1", "ld.so.conf")
    assert edges["libbar.so.2"]["to"] == "usr/lib/private/libbar.so.2.0"
    assert edges["libbar.so.2"]["found_as"] == "lib/private/libbar.so.2"
    obj = next(o for o in g["objects"] if o["path"] == "usr/lib/private/libbar.so.2.0")
    assert "usr/lib/private/libbar.so.2" in obj["aliases"]


def test_dst_expansion_platform_and_lib(elf, gcc, linkage):
    foo = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    app = gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", "-Wl,--enable-new-dtags,-rpath,/opt/$PLATFORM/${LIB}",
                  inputs={"libfoo.so.1": foo})
    root = elf.tree({"usr/bin/app": File(app, 0o755), "lib/x86_64-linux-gnu/.keep": "",
                     "opt/x86_64/lib/x86_64-linux-gnu/libfoo.so.1": foo})
    _, g = graph_json(linkage, root)
    e = edges_of(g, "usr/bin/app")["libfoo.so.1"]
    assert (e["to"], e["via"]) == ("opt/x86_64/lib/x86_64-linux-gnu/libfoo.so.1", "runpath")


DLOPEN_NOTE = r'''
#define JSON "[{\"feature\":\"compression\",\"description\":\"xz\",\"priority\":\"suggested\",\"soname\":[\"liblzma.so.5\"]}]"
struct note { unsigned namesz, descsz, type; char name[4]; char desc[(sizeof(JSON) + 3) & ~3]; };
__attribute__((section(".note.dlopen"), used, aligned(4)))
static const struct note n = { 4, sizeof(JSON), 0x407c0c0a, "FDO", JSON };
int foo(void) { return 1; }
'''


def test_dlopen_note_makes_a_dlopen_edge_and_policies_can_choose_kinds(elf, gcc, linkage):
    lzma = gcc.lib("liblzma.so.5", LIB % ("lzma_code", 1), *NOLIBC)
    sysd = gcc.lib("libsystemd.so.0", DLOPEN_NOTE, *NOLIBC)
    assert elfread.parse_buffer(sysd, len(sysd))["dlopen"][0]["soname"] == ["liblzma.so.5"]
    daemon = gcc.exe(MAIN, *NOLIBC, "libsystemd.so.0", inputs={"libsystemd.so.0": sysd})
    root = elf.tree({"usr/sbin/sshd": File(daemon, 0o755), "usr/lib/x86_64-linux-gnu/libsystemd.so.0": sysd,
                     "usr/lib/x86_64-linux-gnu/liblzma.so.5": lzma})
    _, g = graph_json(linkage, root)
    e = edges_of(g, "usr/lib/x86_64-linux-gnu/libsystemd.so.0")["liblzma.so.5"]
    assert (e["kind"], e["to"]) == ("dlopen", "usr/lib/x86_64-linux-gnu/liblzma.so.5")
    result = elf.run(root, options=OPTS)
    f = result.only("PC301")
    assert [h["path"] for h in f.evidence["chain"]] == [
        "usr/sbin/sshd", "usr/lib/x86_64-linux-gnu/libsystemd.so.0", "usr/lib/x86_64-linux-gnu/liblzma.so.5"]
    assert f.evidence["kinds"] == ["dlopen", "needed"]
    only_needed = {"elf": {"cache": False, "default-policies": False, "forbid": [
        {"name": "needed-only", "from": "**/sbin/sshd", "to": "liblzma.so.*", "kinds": ["needed"]}]}}
    elf.run(root, options=only_needed).assert_rules(PC301=0)
    code, paths = graph_json(linkage, root, "--from", "sshd", "--to", "liblzma", "--kind", "needed")
    assert code == 1 and paths["paths"] == []


def test_text_and_graphviz_outputs(elf, gcc, linkage):
    import shutil
    import subprocess

    lzma = gcc.lib("liblzma.so.5", LIB % ("lzma_code", 1), *NOLIBC)
    sysd = gcc.lib("libsystemd.so.0", DLOPEN_NOTE, *NOLIBC)
    daemon = gcc.exe(MAIN, *NOLIBC, "-Wl,--no-as-needed", "libsystemd.so.0", "libgone.so.1",
                     inputs={"libsystemd.so.0": sysd, "libgone.so.1": gcc.lib("libgone.so.1", LIB % ("x", 1), *NOLIBC)})
    root = elf.tree({"usr/sbin/sshd": File(daemon, 0o755), "usr/lib/x86_64-linux-gnu/libsystemd.so.0": sysd,
                     "usr/lib/x86_64-linux-gnu/liblzma.so.5": lzma})
    code, text, _ = linkage(root, "--from", "sshd", "--to", "liblzma", fmt="text")
    assert code == 0
    assert text.splitlines() == [
        "path 1 (2 hops):",
        "  usr/sbin/sshd  [no package]",
        "    -> libsystemd.so.0 (needed, via default): usr/lib/x86_64-linux-gnu/libsystemd.so.0  [no package]",
        "      -> liblzma.so.5 (dlopen, via default): usr/lib/x86_64-linux-gnu/liblzma.so.5  [no package]"]
    code, text, _ = linkage(root, "--from", "sshd", fmt="text")
    assert "  libgone.so.1 => not found" in text and "    liblzma.so.5 (dlopen) => " in text
    code, text, _ = linkage(root, "--who-links", "liblzma.so.5", fmt="text")
    assert text.splitlines()[1:] == ["  1  usr/lib/x86_64-linux-gnu/libsystemd.so.0  [no package]",
                                     "  2  usr/sbin/sshd  [no package]"]
    code, _text, err = linkage(root, "--from", "nosuchbinary", "--to", "liblzma", fmt="text")
    assert code == 1 and "'nosuchbinary' matches no ELF file" in err
    assert shutil.which("dot"), "graphviz is needed to check DOT output (scripts/system-deps.sh)"
    for args in (("--from", "sshd", "--to", "liblzma"), ("--who-links", "liblzma"), ("--from", "sshd"), ()):
        code, dot, _ = linkage(root, *args, fmt="dot")
        assert code == 0 and dot.startswith("digraph linkage {")
        assert '[label="liblzma.so.5", style=dashed]' in dot
        proc = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True)
        assert proc.returncode == 0 and "<svg" in proc.stdout, (args, proc.stderr)


def test_linkage_usage_and_input_errors(elf, linkage, tmp_path):
    code, _out, err = linkage(tmp_path / "does-not-exist", "--from", "sshd")
    assert code == 5 and "does-not-exist" in err
    code, _out, err = linkage(elf.tree({"a": "x"}), "--set", "elf.require-hardening=[\"aslr\"]")
    assert code == 4 and "require-hardening" in err


def test_musl_tree_uses_its_path_file_and_apk_ownership(elf, gcc, linkage):
    """An Alpine-like tree: musl's loader, etc/ld-musl-x86_64.path, lib/apk/db/installed."""
    foo = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    musl = gcc.lib("libc.musl-x86_64.so.1", LIB % ("c_stub", 1), *NOLIBC)
    app = gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", inputs={"libfoo.so.1": foo})
    apk_db = ("C:Q1abc=\nP:foo-libs\nV:1.2-r0\nA:x86_64\nF:opt/foo/lib\nR:libfoo.so.1\n\n"
              "C:Q1def=\nP:musl\nV:1.2.4-r2\nF:lib\nR:ld-musl-x86_64.so.1\n\n")
    root = elf.tree({"lib/ld-musl-x86_64.so.1": musl, "usr/bin/app": File(app, 0o755),
                     "usr/lib/libfoo.so.1": foo,           # musl's default path would find this one...
                     "opt/foo/lib/libfoo.so.1": foo + b"\0",  # ...but the path file names this directory first
                     "etc/ld-musl-x86_64.path": "/opt/foo/lib:/lib:/usr/lib\n",
                     "lib/apk/db/installed": apk_db})
    code, g, _ = linkage(root, "--from", "app")
    assert code == 0
    assert g["edges"] == [{"from": "usr/bin/app", "to": "opt/foo/lib/libfoo.so.1", "kind": "needed",
                           "name": "libfoo.so.1"}]
    code, whole, _ = linkage(root)
    assert whole["libc"] == "musl"
    owners = {o["path"]: o["package"] for o in whole["objects"]}
    assert owners == {"opt/foo/lib/libfoo.so.1": "foo-libs", "lib/ld-musl-x86_64.so.1": "musl",
                      "usr/lib/libfoo.so.1": None, "usr/bin/app": None}


def test_rpm_database_ownership_and_versions(elf, gcc, linkage, tmp_path):
    """A Fedora-style tree: rpm's sqlite database (with its write-ahead log), written by
    the real rpm tool from packages built here with rpmbuild."""
    import shutil
    import subprocess

    assert shutil.which("rpmbuild") and shutil.which("rpm"), "the rpm tools are needed (scripts/system-deps.sh)"
    foo = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    top = tmp_path / "rpmbuild"
    (top / "SOURCES").mkdir(parents=True)
    (top / "SOURCES/libfoo.so.1").write_bytes(foo)
    spec = top / "foo.spec"
    rpms = []
    for name, version, body in (("foo-libs", "1.2", "mkdir -p %{buildroot}/usr/lib64\n"
                                 "cp %{_sourcedir}/libfoo.so.1 %{buildroot}/usr/lib64/libfoo.so.1\n"),
                                ("xz-libs", "5.6.1", "mkdir -p %{buildroot}/usr/share/doc/xz\n"
                                 "echo x > %{buildroot}/usr/share/doc/xz/README\n")):
        files = "/usr/lib64/libfoo.so.1" if name == "foo-libs" else "/usr/share/doc/xz/README"
        spec.write_text(f"Name: {name}\nVersion: {version}\nRelease: 1\nSummary: t\nLicense: MIT\n"
                        f"BuildArch: x86_64\n%description\nt\n%define _build_id_links none\n"
                        f"%install\n{body}%files\n{files}\n")
        subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "-bb", str(spec)], check=True, capture_output=True)
        rpms += sorted((top / "RPMS/x86_64").glob(f"{name}-*.rpm"))
    root = elf.tree({"usr/lib64/libfoo.so.1": foo, **fake_libc(gcc)})
    dbpath = root / "var/lib/rpm"
    dbpath.mkdir(parents=True)
    subprocess.run(["rpm", "--dbpath", str(dbpath), "--initdb"], check=True, capture_output=True)
    subprocess.run(["rpm", "--dbpath", str(dbpath), "-i", "--justdb", "--nodeps", "--noscripts", *map(str, rpms)],
                   check=True, capture_output=True)
    assert (dbpath / "rpmdb.sqlite").is_file()
    for junk in (".rpm.lock", "rpmdb.sqlite-shm"):
        (dbpath / junk).unlink(missing_ok=True)
    code, whole, err = linkage(root)
    assert code == 0, err
    owners = {o["path"]: o["package"] for o in whole["objects"]}
    assert owners["usr/lib64/libfoo.so.1"] == "foo-libs"
    f = elf.run(root, options=OPTS).only("PC303")
    assert (f.evidence["package"], f.evidence["version"]) == ("xz-libs", "5.6.1-1")
    assert f.location.path == "var/lib/rpm/rpmdb.sqlite"


def test_hook_linkage_gives_other_plugins_the_resolved_graph(elf, gcc):
    """Another plugin asks for the graph through ``scan.hook.provcheck_linkage`` (never an
    import of provcheck_elf) and gets the loader's resolution: RUNPATH beats the system copy."""
    from provcheck import Link, hookimpl

    private = gcc.lib("libfoo.so.1", LIB % ("foo", 1), *NOLIBC)
    app = gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib",
                  inputs={"libfoo.so.1": private})
    root = elf.tree({"opt/app/bin/app": File(app, 0o755), "opt/app/lib/libfoo.so.1": private,
                     "usr/lib/x86_64-linux-gnu/libfoo.so.1": private, "opt/app/bin/ghost": File(
                         gcc.exe(MAIN, *NOLIBC, "libfoo.so.1", inputs={"libfoo.so.1": private}), 0o755)})
    seen = {}

    class Consumer:
        @hookimpl
        def provcheck_detect(self, scan):
            a = scan.targets[0]
            seen["links"] = scan.hook.provcheck_linkage(tree=a.tree, elf=None, artifact=a, scan=scan)

    elf.add_plugin(Consumer(), name="consumer")
    elf.run(root).assert_no_errors()
    links = {(e.src, e.name): e for e in seen["links"]}
    assert all(isinstance(e, Link) for e in links.values())
    assert links[("opt/app/bin/app", "libfoo.so.1")].dst == "opt/app/lib/libfoo.so.1"
    assert links[("opt/app/bin/ghost", "libfoo.so.1")].dst == "usr/lib/x86_64-linux-gnu/libfoo.so.1"
