"""Regeneration (issue 12): a real autotools project ``make dist``-ed in the test setup, its
release reproduced in bubblewrap from the tag and published copies, and attack variants of
the release, each caught on exactly the file it changed with the injected lines as evidence."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import autotools_project as ap  # noqa: E402

from provcheck import sandbox  # noqa: E402

WHY_NOT = sandbox.unavailable_reason() or (None if shutil.which("autoreconf") and shutil.which("make") else
                                           "autoreconf/make not installed (scripts/system-deps.sh)")
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=f"regeneration cannot run here: {WHY_NOT}")


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """(tag files, release files, regeneration cache dir): ``make dist`` once per session."""
    base = tmp_path_factory.mktemp("autotools-project")
    release = ap.make_dist(base)
    tag = {k: v.encode() for k, v in ap.TAG_FILES.items()}
    return tag, release, base


class Run:
    def __init__(self, checker, project):
        self.checker, (self.tag, self.release, self.base) = checker, project
        self.cache = self.base / "regen-cache"

    def __call__(self, release_changes=None, *extra, tag_changes=None, name="hello-1.0.tar.gz", history=()):
        release = {**self.release, **(release_changes or {})}
        tag = {**self.tag, **(tag_changes or {})}
        repo = self.checker.gitrepo([*history, tag], name="hello", tags="v1.0")
        tarball = self.checker.base / name
        tarball.write_bytes(ap.tarball_bytes(release))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
        env.update(PROVCHECK_DISABLE_PLUGIN_AUTOLOAD="1", PROVCHECK_CACHE_DIR=str(self.cache))
        proc = subprocess.run([sys.executable, "-m", "provcheck", "-p", "provcheck_release", "release", str(tarball),
                               "--source", str(repo), "--format", "json",
                               "--set", "release.regenerate-download=false", *extra],  # the system's autotools
                              capture_output=True, text=True, env=env, cwd=self.checker.base, timeout=600)
        assert proc.stdout, proc.stderr
        return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def run(checker, project):
    return Run(checker, project)


def serious(data) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in data["findings"]:
        if f["severity"] in ("high", "critical"):
            path = (f["location"].get("path") or "").split("/", 1)[-1]
            out.setdefault(path, []).append(f)
    return out


def medium_or_more(data) -> list[dict]:
    return [f for f in data["findings"] if f["severity"] in ("medium", "high", "critical")]


def files(data) -> dict[str, dict]:
    return {v["path"]: v for v in data["release"]["files"]}


def test_untouched_release_is_reproduced_and_clean(run):
    code, data = run()
    assert medium_or_more(data) == [], [f["message"] for f in medium_or_more(data)]
    assert code == 0
    regen = data["release"]["regeneration"]
    assert regen["status"] == "done", regen
    verdicts = files(data)
    for path in ("configure", "aclocal.m4", "config.h.in", "Makefile.in", "lib/Makefile.in", "src/Makefile.in"):
        assert verdicts[path]["reproduction"]["status"] == "reproduced", (path, verdicts[path])
    for path in ("build-aux/ltmain.sh", "m4/libtool.m4", "m4/build-to-host.m4"):
        assert verdicts[path]["reproduction"]["status"] == "reproduced", (path, verdicts[path])
    assert regen["counts"]["reproduction-differs"] == 0
    assert regen["verified_fraction"] >= 0.9, regen
    assert regen["toolchains"] and regen["inputs"]["tag"] >= 8 and regen["inputs"]["published"] >= 10
    # the top Makefile.in's DIST_COMMON hunk is a documented toolchain difference, not a finding
    assert verdicts["Makefile.in"]["reproduction"].get("hunks", {}).get("unexplained", 0) == 0
    # a repeat run with the same inputs comes from the cache
    _, again = run()
    assert again["release"]["regeneration"]["cached"] is True
    assert files(again)["configure"]["reproduction"]["status"] == "reproduced"


def _insert_after(data: bytes, anchor: bytes, lines: bytes) -> bytes:
    assert anchor in data, anchor
    return data.replace(anchor, anchor + lines, 1)


# Commands with no known idiom: what pattern rules miss and regeneration must not.
PIECES = b'hello_a=ev; hello_b=al; hello_c=`printf "\\145\\143\\150\\157"`; $hello_a$hello_b "$hello_c ZGVtbw"\n'
CURL = b'hello_probe="cu""rl"; $hello_probe -s "http://192.0.2.7/h" -o /dev/null || :\n'
RECIPE = b'\t@hello_t=`printf %s aGk= | base64 -d`; echo "$$hello_t" > /dev/null\n'
LTMAIN = b'hello_hook=${TMPDIR-/tmp}/.hello; test -f "$hello_hook" && . "$hello_hook"\n'
ACLOCAL = b'hello_seen=`uname -n | od -An -tx1 | tr -d " \\n"`\n'


def variant(release: dict[str, bytes], kind: str) -> tuple[dict[str, bytes], set[str], bytes]:
    """(changed files, the files that changed, an injected line) for one attack."""
    if kind == "configure":
        return ({"configure": _insert_after(release["configure"], b"# Check for GNU $ac_path_SED\n", CURL)},
                {"configure"}, CURL.strip())
    if kind == "encoded-pieces":
        conf = release["configure"]
        anchor = b"ac_config_files=\"$ac_config_files Makefile"
        i = conf.index(anchor)
        return ({"configure": conf[:i] + PIECES + conf[i:]}, {"configure"}, PIECES.strip())
    if kind == "makefile-recipe":
        mk = release["src/Makefile.in"]
        return ({"src/Makefile.in": _insert_after(mk, b"install-binPROGRAMS: $(bin_PROGRAMS)\n", RECIPE)},
                {"src/Makefile.in"}, RECIPE.strip())
    if kind == "ltmain":
        lt = release["build-aux/ltmain.sh"]
        anchor = next(line for line in lt.splitlines(keepends=True) if line.startswith(b"package_revision="))
        return ({"build-aux/ltmain.sh": _insert_after(lt, anchor, LTMAIN)}, {"build-aux/ltmain.sh"}, LTMAIN.strip())
    if kind == "aclocal":
        acl = release["aclocal.m4"]
        anchor = b"AC_DEFUN([AM_SET_LEADING_DOT],\n[rm -rf .tst 2>/dev/null\n"
        return ({"aclocal.m4": _insert_after(acl, anchor, ACLOCAL)}, {"aclocal.m4"}, ACLOCAL.strip())
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["configure", "encoded-pieces", "makefile-recipe", "ltmain", "aclocal"])
def test_injected_lines_are_caught_on_the_changed_file(run, project, kind):
    changes, changed, injected = variant(project[1], kind)
    code, data = run(changes)
    hits = serious(data)
    assert set(hits) == changed, {p: [f["rule_id"] + " " + f["message"][:120] for f in fs] for p, fs in hits.items()}
    evidence = json.dumps([f["evidence"] for f in hits[next(iter(changed))]])
    assert json.dumps(injected.decode())[1:-1] in evidence
    assert code == 1
    if kind != "ltmain":
        (path,) = changed
        assert files(data)[path]["reproduction"]["status"] == "reproduction-differs"
        assert any(f["rule_id"] == "PC110" for f in hits[path])
    else:
        assert files(data)["build-aux/ltmain.sh"]["reproduction"]["status"] == "reproduction-differs"


def test_a_script_of_the_tag_that_autoconf_runs_is_executable_in_the_sandbox(run, project):
    """GNU's ``AC_INIT([pkg], m4_esyscmd([build-aux/git-version-gen .tarball-version]))``: m4 runs a
    script of the tree, which must be executable there as git keeps it."""
    tag, release, base = project
    conf = tag["configure.ac"].replace(b"AC_INIT([hello], [1.0],", b"AC_INIT([hello], m4_esyscmd_s([./version.sh]),")
    script = b"#!/bin/sh\necho 1.0\n"
    configure = ap.regenerate_configure_with(release, base, {"configure.ac": conf, "version.sh": script})
    code, data = run({"configure.ac": conf, "version.sh": script, "configure": configure},
                     tag_changes={"configure.ac": conf, "version.sh": script})
    assert files(data)["configure"]["reproduction"]["status"] == "reproduced", files(data)["configure"]
    assert medium_or_more(data) == [], [f["message"] for f in medium_or_more(data)]


def test_what_a_failing_generator_wrote_is_not_compared(run, project):
    """autoconf writes ``configure`` and then fails on a possibly undefined macro: that output is
    no reproduction, so ``configure`` is ``not-reproducible`` with the failure, never PC110."""
    tag, release, base = project
    conf = tag["configure.ac"].replace(b"AC_CONFIG_SRCDIR(", b"AC_HELLO_UNDEFINED_THING\nAC_CONFIG_SRCDIR(")
    code, data = run(tag_changes={"configure.ac": conf})
    repro = files(data)["configure"]["reproduction"]
    assert repro["status"] == "not-reproducible" and "autoconf exited 1" in repro["reason"], repro
    assert "AC_HELLO_UNDEFINED_THING" in repro["reason"]
    assert not [f for f in data["findings"] if f["rule_id"] == "PC110" and f["location"]["path"].endswith("/configure")]


BOOTSTRAP = {
    "bootstrap": "#!/bin/sh\nset -e\n./lib/gen-names.sh > lib/names.h\nautoreconf -fi\n./configure \"$@\"\n",
    "lib/gen-names.sh": "#!/bin/sh\nsed -n 's/^\\([a-z]*\\) .*/  \"\\1\",/p' \"$(dirname \"$0\")/names.in\"\n",
    "lib/names.in": "hello a greeting\nbye a farewell\n",
}


def test_what_the_tags_bootstrap_script_writes_is_reproduced_and_a_hostile_one_is_contained(run, project, tmp_path):
    """strace's way: ``bootstrap`` generates sources from the tree, then runs autoreconf. It runs
    in the sandbox with the autotools as no-ops; the release's copy of what it wrote is reproduced
    (its PC101 withdrawn), an edited copy is not. A bootstrap that loops and tries to write
    outside is stopped by the limits and reported, and nothing leaves the sandbox."""
    tag = {k: v.encode() for k, v in BOOTSTRAP.items()}
    names = b'  "hello",\n  "bye",\n'
    code, data = run({"lib/names.h": names}, tag_changes=tag)
    v = files(data)["lib/names.h"]
    assert v["reproduction"]["status"] == "reproduced", v
    assert v["reproduction"]["toolchain"] == "bootstrap of the tag, the autotools as no-ops"
    assert medium_or_more(data) == [], [f["message"] for f in medium_or_more(data)]
    code, data = run({"lib/names.h": names + b'  "evil",\n'}, tag_changes=tag)
    assert "reproduction" not in files(data)["lib/names.h"]
    assert [f["rule_id"] for f in medium_or_more(data)] == ["PC101"]
    outside = tmp_path / "escaped"
    hostile = {**tag, "bootstrap": f"#!/bin/sh\necho pwned > {outside}\nwhile :; do :; done\n".encode()}
    code, data = run({"lib/names.h": names}, "--set", "release.regenerate-timeout=3", tag_changes=hostile)
    assert not outside.exists()
    steps = [s for s in data["release"]["regeneration"]["steps"] if "bootstrap of the tag" in s["step"]]
    assert [s["killed"] for s in steps] == ["timeout"], steps
    assert "reproduction" not in files(data)["lib/names.h"]


def test_release_only_copies_of_tag_files_are_explained_and_an_edited_copy_is_not(run, project):
    """strace's bootstrap copies tests/*.c into tests-m32/: bytes the tag has, at another path,
    are a copy (no finding); one changed line makes the file release-only code again."""
    greet = project[0]["lib/greet.c"]
    code, data = run({"lib-m32/greet.c": greet}, "--regenerate", "never")
    assert files(data)["lib-m32/greet.c"]["verdict"] == "generated"
    assert files(data)["lib-m32/greet.c"]["how"] == "a copy of the tag's lib/greet.c"
    assert files(data)["lib-m32/greet.c"]["reproduction"]["status"] == "reproduced"
    assert medium_or_more(data) == []
    code, data = run({"lib-m32/greet.c": greet + b"int hook;\n"}, "--regenerate", "never")
    assert files(data)["lib-m32/greet.c"]["verdict"] == "unexplained"
    assert [f["rule_id"] for f in medium_or_more(data)] == ["PC101"]


def _distribution_build(ltmain: bytes) -> bytes:
    """ltmain.sh as another Debian revision of the same libtool ships it (the version line names a
    build no suite serves any more, like curl 7.88.1's ``Debian-2.4.7-5``), with one line of its own."""
    line = next(x for x in ltmain.splitlines(keepends=True) if x.startswith(b"VERSION="))
    out = ltmain.replace(line, b'VERSION="2.4.7 Debian-2.4.7-5"\n', 1)
    return _insert_after(out, next(x for x in out.splitlines(keepends=True) if x.startswith(b"package_revision=")),
                         b": ${_G_HAVE_DISTRO_PATCH=yes}\n")


@pytest.mark.parametrize("injected", [False, True])
def test_distribution_build_of_ltmain_is_not_reproducible_but_graded(run, project, injected):
    """No published copy is that build: ``not-reproducible`` (unobtainable, out of the obtainable
    bytes), its diff against the nearest published copy the PC103 evidence; an injected line in it
    is still high or critical."""
    lt = _distribution_build(project[1]["build-aux/ltmain.sh"])
    if injected:
        lt = _insert_after(lt, b": ${_G_HAVE_DISTRO_PATCH=yes}\n", LTMAIN)
    code, data = run({"build-aux/ltmain.sh": lt})
    repro = files(data)["build-aux/ltmain.sh"]["reproduction"]
    assert repro["status"] == "not-reproducible" and repro["unobtainable"], repro
    assert "Debian-2.4.7-5" in repro["reason"]
    regen = data["release"]["regeneration"]
    assert regen["obtainable_bytes"] == regen["generated_bytes"] - len(lt)
    pc103 = [f for f in data["findings"] if f["rule_id"] == "PC103" and f["location"]["path"].endswith("ltmain.sh")]
    assert len(pc103) == 1 and "_G_HAVE_DISTRO_PATCH" in pc103[0]["evidence"]["diff"]
    if injected:
        assert set(serious(data)) == {"build-aux/ltmain.sh"} and code == 1, [f["message"] for f in pc103]
        assert json.dumps(LTMAIN.strip().decode())[1:-1] in json.dumps(pc103[0]["evidence"])
    else:
        assert medium_or_more(data) == [], [f["message"] for f in medium_or_more(data)]


HISTORY = [{"README": "hello\n"}, {"README": "hello, world\n", "NEWS": "1.0: first\n"}]


def test_changelog_written_from_the_tags_history_is_reproduced(run, checker):
    """openssh's way: the release's ChangeLog is ``git log`` of the tag's history, run by a
    release process no rule names; ``git log`` under the sandbox gives it byte for byte. One
    edited line and it is not reproduced (nor a finding: it is prose)."""
    repo = checker.gitrepo([*HISTORY, {k: v.decode() for k, v in run.tag.items()}], name="hello-log", tags="v1.0")
    log = subprocess.run(["git", "-C", str(repo), "log", "--no-merges", "--stat", "v1.0"], capture_output=True,
                         check=True, env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull}).stdout
    assert log.count(b"\ncommit ") == 2
    code, data = run({"ChangeLog": log}, history=HISTORY)
    repro = files(data)["ChangeLog"]["reproduction"]
    assert repro["status"] == "reproduced" and repro["toolchain"].startswith("git log -n 3 "), repro
    assert "--stat" in repro["toolchain"] and medium_or_more(data) == []
    edited = log.replace(b"    commit 1\n", b"    commit 1 (see https://example.invalid/x)\n", 1)
    code, data = run({"ChangeLog": edited}, history=HISTORY)
    assert files(data)["ChangeLog"].get("reproduction", {}).get("status") != "reproduced"
    assert serious(data) == {}


RELEASE_SCRIPT = {
    "dist.sh": "#!/bin/sh\nset -e\nautoreconf -fi\ngit log --date=short --decorate=full | ./scripts/cl.sh > ChangeLog.dist\n"
               "make dist\n",
    "scripts/cl.sh": "#!/bin/sh\n# ChangeLog from git log: tag headings, dates, messages\n"
                       "sed -n -e 's/^commit [0-9a-f]* (.*tag: refs\\/tags\\/\\([^,)]*\\).*/Release \\1/p' "
                       "-e 's/^Date: *\\(.*\\)/\\1/p' -e 's/^    \\(..*\\)/  * \\1/p'\n",
}


def test_file_a_release_script_writes_from_the_history_is_reproduced(run, checker):
    """curl's way: a release script of the tag pipes ``git log`` through a formatter of the tag into
    a file the release ships under another name; the pipeline runs in the sandbox over a copy of
    the tag with its history and tags, and its output is matched by content."""
    tag = {**{k: v.decode() for k, v in run.tag.items()}, **RELEASE_SCRIPT}
    repo = checker.gitrepo([*HISTORY, tag], name="hello-script", tags="v1.0")
    (repo / "scripts/cl.sh").chmod(0o755)
    log = subprocess.run("git log --date=short --decorate=full | ./scripts/cl.sh", shell=True, cwd=repo,
                         capture_output=True, check=True, env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull}).stdout
    assert log.startswith(b"Release v1.0\n") and log.count(b"  * commit") == 3, log
    code, data = run({"ChangeLog": log}, tag_changes={k: v.encode() for k, v in RELEASE_SCRIPT.items()},
                     history=HISTORY)
    repro = files(data)["ChangeLog"].get("reproduction")
    assert repro == {"status": "reproduced", "toolchain": "dist.sh:4 (git log --date=short --decorate=full | "
                                                          "./scripts/cl.sh > ChangeLog.dist)"}, [
        x["stderr"] for x in data["release"]["regeneration"]["steps"] if "dist.sh" in x["step"]]
    assert medium_or_more(data) == []


EDITED_MACRO_LINES = b"""  gl_hello_k=`echo "$srcdir" | cksum | cut -c1-4`
  gl_hello_v="$gl_hello_k"
"""


def test_vendored_macro_edited_with_its_serial_and_configure_regenerated_from_it(run, project):
    """xz 5.6.x: the release's macro keeps its published serial, and configure was rebuilt
    from it; regeneration from the published copy shows the lines no trusted input produced."""
    tag, release, base = project
    m4 = release["m4/build-to-host.m4"]
    edited = _insert_after(m4, b"AC_DEFUN([gl_BUILD_TO_HOST_INIT],\n[\n", EDITED_MACRO_LINES)
    configure = ap.regenerate_configure_with(release, base, {"m4/build-to-host.m4": edited})
    assert b"gl_hello_k=" in configure
    code, data = run({"m4/build-to-host.m4": edited, "configure": configure})
    hits = serious(data)
    assert set(hits) == {"m4/build-to-host.m4", "configure"}, hits.keys()
    conf = [f for f in hits["configure"] if f["rule_id"] == "PC110"]
    assert conf and "gl_hello_k=" in json.dumps(conf[0]["evidence"]["added_lines"])
    assert any(f["rule_id"] == "PC103" for f in hits["m4/build-to-host.m4"])
    regen = data["release"]["regeneration"]
    assert [s["path"] for s in regen["substituted"]] == ["m4/build-to-host.m4"]
    assert "gl_hello_k" in regen["substituted"][0]["diff"]


def test_release_only_c_file_in_a_sources_list_is_high(run, project):
    tag, release, _ = project
    extra = b"#include <stdlib.h>\nstatic void __attribute__((constructor)) hello_init(void) { getenv(\"X\"); }\n"
    am = release["src/Makefile.am"].replace(b"hello_SOURCES = hello.c", b"hello_SOURCES = hello.c extra.c")
    mk = release["src/Makefile.in"].replace(b"hello_SOURCES = hello.c", b"hello_SOURCES = hello.c extra.c")
    code, data = run({"src/extra.c": extra, "src/Makefile.am": am, "src/Makefile.in": mk})
    hits = serious(data)
    assert set(hits) == {"src/extra.c", "src/Makefile.am", "src/Makefile.in"}, hits.keys()
    (pc101,) = [f for f in hits["src/extra.c"] if f["rule_id"] == "PC101"]
    assert pc101["severity"] == "high" and pc101["evidence"]["built_by"]
    assert "extra.c" in json.dumps(hits["src/Makefile.in"][0]["evidence"])


def test_regenerate_never_and_an_unobtainable_toolchain(run, project):
    tag, release, _ = project
    code, data = run(None, "--regenerate", "never")
    assert data["release"]["regeneration"]["status"] == "skipped"
    assert not any(f["rule_id"] == "PC110" for f in data["findings"])
    assert "reproduction" not in files(data)["configure"] and code == 0
    # a development snapshot of autoconf exists in no archive: not-reproducible, today's analysis runs
    snapshot = release["configure"].replace(b"Generated by GNU Autoconf 2.71", b"Generated by GNU Autoconf 2.72a")
    snapshot = snapshot.replace(b"generated by GNU Autoconf 2.71", b"generated by GNU Autoconf 2.72a")
    code, data = run({"configure": snapshot})
    regen = data["release"]["regeneration"]
    assert regen["status"] == "unavailable" and "2.72a" in regen["reason"], regen
    assert files(data)["configure"]["reproduction"]["status"] == "not-reproducible"
    (info,) = [f for f in data["findings"] if f["rule_id"] == "PC110"]
    assert info["severity"] == "info" and "2.72a" in info["message"]
    assert code == 0 and data["errors"] == []
    code, data = run({"configure": snapshot}, "--regenerate", "always")
    assert code == 3 and "2.72a" in json.dumps(data["errors"])


class Listener:
    """A TCP server on 127.0.0.1 counting connections (a generator must not reach it)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port, self.accepted, self.stop = self.sock.getsockname()[1], 0, False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                continue

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def test_hostile_configure_ac_is_contained_and_reported(run, project, tmp_path):
    tag, release, _ = project
    outside = tmp_path / "escaped"
    listener = Listener()
    try:
        hostile = ap.CONFIGURE_AC.replace("HELLO_CHECK_GREETING\n", (
            f"m4_esyscmd([echo pwned > {outside}; echo pwned > /build/../escaped2; "
            f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{listener.port}' ; "
            "while :; do :; done])\n"))
        code, data = run(None, "--set", "release.regenerate-timeout=3", tag_changes={"configure.ac": hostile.encode()})
    finally:
        listener.close()
    assert not outside.exists() and listener.accepted == 0
    regen = data["release"]["regeneration"]
    assert any(s.get("killed") == "timeout" for s in regen["steps"]), regen["steps"]
    (pc110,) = [f for f in data["findings"] if f["rule_id"] == "PC110" and not f["location"].get("path")]
    assert pc110["severity"] == "medium" and "timeout" in pc110["message"]
    assert files(data)["configure"]["reproduction"]["status"] == "not-reproducible"


def test_scan_source_takes_the_option_and_the_text_report_shows_the_lines(run, project, checker):
    tag, release, _ = project
    changes, _, injected = variant(release, "encoded-pieces")
    repo = checker.gitrepo(tag, name="hello-scan", tags="v1.0")
    tarball = checker.base / "hello-1.0.tar.gz"
    tarball.write_bytes(ap.tarball_bytes({**release, **changes}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
    env.update(PROVCHECK_DISABLE_PLUGIN_AUTOLOAD="1", PROVCHECK_CACHE_DIR=str(run.cache))

    def provcheck(*args):
        return subprocess.run([sys.executable, "-m", "provcheck", "-p", "provcheck_release", *map(str, args)],
                              capture_output=True, text=True, env=env, cwd=checker.base, timeout=600)
    base = ["scan", tarball, "--source", f"git:{repo}@v1.0", "--set", "release.regenerate-download=false"]
    never = provcheck(*base, "--set", "release.regenerate=never", "--format", "json")
    assert never.stdout, never.stderr
    (summary,) = [f for f in json.loads(never.stdout)["findings"] if f["rule_id"] == "PC100"]
    assert summary["evidence"]["regeneration"]["status"] == "skipped"
    scanned = json.loads(provcheck(*base, "--format", "json").stdout)
    assert [f["severity"] for f in scanned["findings"] if f["rule_id"] == "PC110"] == ["high"]
    text = provcheck("release", tarball, "--source", repo, "--set", "release.regenerate-download=false").stdout
    assert "PC110" in text and injected.decode()[:40] in text and "regeneration done" in text, text
    assert "of generated bytes verified" in text


def test_an_unpublished_serial_cannot_launder_a_trigger_into_configure(run, project):
    """A macro of a serial no archive published is only an unverified input: configure built
    from it is reproduced-unverified, and the lines only it explains are judged: the xz
    trigger's mechanics there are critical."""
    import release_realdata as rd
    tag, release, base = project
    m4 = release["m4/build-to-host.m4"].replace(b"# serial 5\n", b"# serial 4\n")
    edited = _insert_after(m4, b"AC_DEFUN([gl_BUILD_TO_HOST_INIT],\n[\n", rd.XZ_TRIGGER_INIT.encode())
    configure = ap.regenerate_configure_with(release, base, {"m4/build-to-host.m4": edited})
    code, data = run({"m4/build-to-host.m4": edited, "configure": configure})
    conf = files(data)["configure"]["reproduction"]
    assert conf["status"] == "reproduced-unverified" and conf["unverified_inputs"] == ["m4/build-to-host.m4"]
    (pc110,) = [f for f in data["findings"] if f["rule_id"] == "PC110" and f["location"]["path"].endswith("configure")]
    assert pc110["severity"] == "critical" and "grep -aErls" in json.dumps(pc110["evidence"]["added_lines"])
    assert [u["path"] for u in data["release"]["regeneration"]["unverified"]] == ["m4/build-to-host.m4"]


def test_message_catalogs_compare_by_their_messages(tmp_path):
    """.gmo files are compared as their messages: msgfmt versions lay out the hash table and
    system-dependent strings differently, a changed translation is a difference."""
    from provcheck_release.regenerate import render_catalog
    po = ('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
          '#, c-format\nmsgid "Using up to %<PRIu32> threads."\nmsgstr "Bis zu %<PRIu32> Threads."\n\n'
          'msgid "Hello"\nmsgstr "Hallo"\n')
    catalogs = {}
    for name, text in (("a", po), ("b", po.replace("Hallo", "Hallo; rm -rf ~"))):
        (tmp_path / f"{name}.po").write_text(text)
        subprocess.run(["msgfmt", "-o", str(tmp_path / f"{name}.mo"), str(tmp_path / f"{name}.po")], check=True)
        catalogs[name] = render_catalog((tmp_path / f"{name}.mo").read_bytes())
    assert b"%<PRIu32>" in catalogs["a"] and b"Hallo" in catalogs["a"]
    assert catalogs["a"] != catalogs["b"] and b"rm -rf" in catalogs["b"]
    assert render_catalog(b"\xde\x12\x04\x95" + b"\xff" * 40) is None  # hostile offsets: not a catalog


TRIGGER = b"grep -rl '####Hello####' $srcdir/ | xargs cat | xz -dc | sh\n"


def test_risky_hunks_come_first_in_the_evidence_with_release_line_numbers(run, project):
    """An inert injected line early in configure and a risky one later: PC110 is critical, the
    risky hunk is the first in the evidence and its risk entries name the release line."""
    conf = _insert_after(project[1]["configure"], b"# Check for GNU $ac_path_SED\n", CURL)
    anchor = b"ac_config_files=\"$ac_config_files Makefile"
    i = conf.index(anchor)
    conf = conf[:i] + TRIGGER + conf[i:]
    code, data = run({"configure": conf})
    [f] = [f for f in serious(data)["configure"] if f["rule_id"] == "PC110"]
    assert f["severity"] == "critical" and code == 1
    trigger_line = conf[:i].count(b"\n") + 1
    assert {r["line"] for r in f["evidence"]["added_risk"]} == {trigger_line}
    assert f["evidence"]["hunks"][0]["release_lines"][0] <= trigger_line <= f["evidence"]["hunks"][0]["release_lines"][1]
    assert f["evidence"]["added_lines"][0] == [trigger_line, TRIGGER.decode().strip()]
    assert "####Hello####" in f["message"]


def test_a_generated_file_committed_in_the_tag_is_compared_with_its_regeneration(run, project):
    """e2fsprogs commits ``configure``: the chain rewrites it byte for byte, so it was no output
    ("no step of the chain wrote it") and a line injected into the release's copy went by as
    a regenerated file. What a step writes is its output even when it equals the input."""
    tag, release, _ = project
    marker = b"\nas_fn_exit 0\n" if b"\nas_fn_exit 0\n" in release["configure"] else b"\nexit 0\n"
    assert marker in release["configure"]
    injected = release["configure"].replace(marker, b"\nchmod 4755 src/hello 2>/dev/null" + marker, 1)
    code, data = run({"configure": injected}, tag_changes={"configure": release["configure"]})
    conf = [f for f in serious(data).get("configure", []) if f["rule_id"] == "PC110"]
    assert conf and "chmod 4755 src/hello" in json.dumps(conf[0]["evidence"]["added_lines"]), serious(data).keys()
    code, data = run(tag_changes={"configure": release["configure"]})
    assert files(data)["configure"]["reproduction"]["status"] == "reproduced" and not serious(data)


def test_a_known_toolchain_difference_explains_only_the_version_it_names(run, project):
    """A line autoconf 2.72's large-file checks write (``CPPFLAGS="$ac_save_CPPFLAGS"``, shipped
    knowledge with ``when = "autoconf 2.72"``) is no explanation in a configure that names 2.71:
    inserted there, it is PC110."""
    from provcheck_release import knowledge
    entry = next(e for e in knowledge.builtin().systems["autotools"]["regeneration"]["known-differences"]
                 if "large-file" in e["how"])
    assert entry["when"] == "autoconf 2.72"
    _, release, _ = project
    assert b"Generated by GNU Autoconf 2.71" in release["configure"]
    line = b'CPPFLAGS="$ac_save_CPPFLAGS"\n'
    marker = b"\nac_config_headers=" if b"\nac_config_headers=" in release["configure"] else b"\nac_config_files="
    code, data = run({"configure": release["configure"].replace(marker, b"\n" + line.rstrip() + marker, 1)})
    assert [f["rule_id"] for f in serious(data).get("configure", [])] == ["PC110"], serious(data)
