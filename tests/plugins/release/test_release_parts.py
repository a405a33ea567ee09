"""The release plugin's parts on real data: tag spellings, risk indicators, m4 provenance,
release-edit recognition, and the m4 harvester run on a real Debian package."""

from __future__ import annotations


import pytest

import release_realdata as rd
from provcheck import Severity
from provcheck_release import risk
from provcheck_release.compare import is_release_edit
from provcheck_release.m4db import default_db, normalise, serial_of
from provcheck_release.tags import find_tag, split_name_version


@pytest.mark.parametrize("release, tags, expected", [
    ("xz-5.6.1.tar.gz", ["v5.6.0", "v5.6.1", "v5.6.1-rc"], "v5.6.1"),
    ("xz-utils_5.4.1.orig.tar.xz", ["v5.4.1"], "v5.4.1"),
    ("curl-7.88.1.tar.xz", ["curl-7_88_0", "curl-7_88_1"], "curl-7_88_1"),
    ("openssh-9.2p1.tar.gz", ["V_9_1_P1", "V_9_2_P1"], "V_9_2_P1"),
    ("expat-2.5.0.tar.bz2", ["R_2_4_9", "R_2_5_0"], "R_2_5_0"),
    ("file-5.44.tar.gz", ["FILE5_43", "FILE5_44"], "FILE5_44"),
    ("sudo-1.9.13p3.tar.gz", ["SUDO_1_9_13p3"], "SUDO_1_9_13p3"),
    ("c-ares-1.18.1.tar.gz", ["cares-1_18_1"], "cares-1_18_1"),
    ("libevent-2.1.12-stable.tar.gz", ["release-2.1.12-stable"], "release-2.1.12-stable"),
    ("foo_1.2+dfsg.orig.tar.gz", ["1.2"], "1.2"),
    ("pcre2-10.42.tar.bz2", ["PCRE2-10.42"], "PCRE2-10.42"),   # case-insensitive fallback
    ("pkg-3.0.tar.gz", ["v2.9"], None),
])
def test_tag_spellings(release, tags, expected):
    name, version = split_name_version(release)
    assert find_tag(tags, [name], version)[0] == expected


def test_risk_indicators_on_the_xz_trigger_and_on_real_libtool():
    hits = risk.analyse(rd.malicious_build_to_host())
    assert {h.indicator for h in hits} >= {"grep-source-tree", "tr-substitution", "eval-pipeline",
                                           "config-commands-exec"}
    assert risk.grade(hits) == Severity.CRITICAL
    assert risk.tr_is_permutation('gl_path_map=\'tr "\\t \\-_" " \\t_\\-"\'') == ("\\t \\-_", " \\t_\\-")
    assert risk.tr_is_permutation("tr 'a-z' 'A-Z'") is None and risk.tr_is_permutation("tr '\\n' ' '") is None
    assert risk.tr_is_permutation("tr 'A-Za-z' 'N-ZA-Mn-za-m'")  # rot13 is a substitution cipher
    published, _ = rd.published_m4("build-to-host.m4", "gnulib")
    assert risk.grade(risk.analyse(published.encode())) is None
    # real libtool/configure idioms stay below "high"
    clean = (b'$opt_dry_run || eval "$cmds" || func_append admincmds "\n'
             b'func_cygming_gnu_implib_tmp=`$NM "$func_to_tool_file_result" | eval "$global_symbol_pipe" | $EGREP x`\n'
             b'test -d "$as_dir" || eval $as_mkdir_p || {\n'
             b"dd bs=1 count=1 skip=4 2>/dev/null | hexdump -e '1/1 \"%3d \"'\n"
             b"\ttar/test/test_extract.tar.xz.uu \\\n")
    assert (risk.grade(risk.analyse(clean)) or Severity.INFO) < Severity.HIGH
    piped = risk.analyse(b'cat $srcdir/tests/files/good-large_compressed.lzma | xz -dc | sh\n')
    assert {"test-data-read", "decompress-to-shell"} <= {h.indicator for h in piped}


def test_m4_serials_and_normalisation():
    assert serial_of(b"# build-to-host.m4\n# serial 5\n") == "5"
    assert serial_of(b"# gettext.m4 serial 72 (gettext-0.21.1)\n") == "72"
    assert serial_of(b"dnl serial 11 (pkg-config-0.29.1)\n") == "11"
    assert serial_of(b"#serial 6\n") == "6"
    assert normalise(b"# c\ndnl x\nAC_DEFUN([A],  [b])dnl tail\n\n") == b"AC_DEFUN([A], [b])"
    db = default_db()
    assert len(db) > 2000 and "build-to-host.m4" in db.files and "ax_pthread.m4" in db.files
    text, origin = rd.published_m4("ax_pthread.m4")
    assert db.judge("ax_pthread.m4", text.encode()).status == "exact"
    assert db.judge("ax_pthread.m4", ("# changed comment\n" + text).encode()).status == "normalised"
    v = db.judge("build-to-host.m4", rd.malicious_build_to_host("30"))
    assert v.status == "serial-inflated" and v.max_serial == "5"
    v = db.judge("build-to-host.m4", rd.malicious_build_to_host("5"))
    assert v.status == "serial-mismatch"
    assert db.judge("my-project.m4", b"# serial 1\nAC_DEFUN([X])\n").status == "unknown"


@pytest.mark.parametrize("a, b, ok", [
    (['#define V "1.2-dev"'], ['#define V "1.2"'], True),
    (['.TH CURL 1 "12 Sep 2015" "curl 7.44.0"'], ['.TH CURL 1 "January 02, 2023" "curl 7.88.1"', ""], True),
    (['#define LIBCURL_TIMESTAMP "[unreleased]"'], ['#define LIBCURL_TIMESTAMP "2023-02-20"'], True),
    (["#define CURL_VERSION LIBCURL_VERSION"], ['#define CURL_VERSION "7.88.1"'], True),
    (["if (len > 10) return 0;"], ["if (len > 1000) return 0;"], False),   # no version/date word
    (['#define VERSION "1.2"'], ['#define VERSION "1.2"', "system(getenv(\"X\"));"], False),
    (["version = 1"], ["version = get_version()"], False),
])
def test_release_edits(a, b, ok):
    assert is_release_edit(a, b) is ok


def test_harvest_tool_reads_a_real_debian_package(tmp_path):
    deb = rd.binary_deb("autoconf-archive", "autoconf-archive_*.deb")
    db = rd.harvest(deb, tmp_path / "db.zip")
    data = {"files": db.files, "sources": db.sources}
    assert len(data["files"]) > 400 and data["sources"] == [deb.name.split("_")[0] + "_" + deb.name.split("_")[1]]
    entry = data["files"]["ax_pthread.m4"][0]
    assert entry["serial"] and entry["path"].startswith("usr/share/aclocal/")
    text = db.text(entry)
    assert "AC_DEFUN([AX_PTHREAD]" in text and db.judge("ax_pthread.m4", text.encode()).status == "exact"
    # the shipped database already holds this package's copies
    assert default_db().judge("ax_pthread.m4", text.encode()).status == "exact"


def test_build_aux_scripts_are_checked_against_published_copies(release_checker, xz_real):
    """ltmain.sh/install-sh are judged like m4 files: a published version with changed code
    is low when the change is inert, critical when the changed lines are risky."""
    git, release, _ = xz_real
    install_sh = release["build-aux/install-sh"].decode()
    tampered = install_sh.replace("\nscriptversion=", "\ngrep -rl '####Hello####' $srcdir/ | xargs cat | xz -dc | sh\n"
                                  "scriptversion=", 1)
    repo, tarball = rd.build_xz(release_checker, xz_real, release_changes={"build-aux/install-sh": tampered.encode()})
    result = release_checker.run(tarball, source=f"git:{repo}@v5.4.1")
    result.assert_no_errors()
    by = {f.location.path.split("/", 1)[1]: f for f in result.by_rule("PC103")}
    assert by["build-aux/install-sh"].severity == Severity.CRITICAL
    assert "grep-source-tree" in by["build-aux/install-sh"].message
    assert by["build-aux/ltmain.sh"].severity == Severity.LOW        # xz 5.4.1's libtool said "2.4.7-dirty"
    assert "2.4.7-dirty" in by["build-aux/ltmain.sh"].evidence["diff"]
    [comparison] = result.report.extras["release"].values()
    v = {x["path"]: x for x in comparison["files"]}
    assert "database: identical to" in v["build-aux/depcomp"]["how"]


def test_big_and_crafted_files_are_diffed_without_difflib_blowing_up():
    """Lines drawn from ~150 values made difflib take minutes at 40k lines; big inputs take a
    patience diff anchored on unique lines instead."""
    import random
    from provcheck_release.compare import matcher
    rnd = random.Random(3094)
    crafted = [f"x{rnd.randrange(150)}" for _ in range(40_000)]
    changed = list(crafted)
    changed[5] = "payload"
    assert [op[0] for op in matcher(crafted, changed).get_opcodes()] != []
    a = [f"line {k}" if k % 3 == 0 else "common" for k in range(30_000)]
    b = list(a)
    b[100] = "changed"
    b.insert(20_000, "inserted")
    del b[25_001]
    ops = [op for op in matcher(a, b).get_opcodes() if op[0] != "equal"]
    assert ops == [("replace", 100, 101, 100, 101), ("insert", 20_000, 20_000, 20_000, 20_001),
                   ("delete", 25_000, 25_001, 25_001, 25_001)]


def test_text_report_shows_escape_sequences_from_the_release_as_text(checker):
    repo = checker.gitrepo({"configure.ac": "AC_INIT([pkg], [1.0])\n", "src/a.c": "int a;\n"}, tags="v1.0")
    evil = "eval `grep -r '####' $srcdir | tr 'ab' 'ba' | sh` # \x1b[2J\x1b]0;owned\x07\n"
    release = checker.tarball({"pkg-1.0/configure.ac": "AC_INIT([pkg], [1.0])\n", "pkg-1.0/src/a.c": "int a;\n",
                               "pkg-1.0/build-aux/evil\x1b[1m.sh": evil, "pkg-1.0/configure": evil},
                              name="pkg-1.0.tar.gz")
    res = checker.run_cli("release", release, "--source", repo, "--format", "text", plugins=["provcheck_release"])
    assert res.exit_code == 1, res.stderr
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert "\\x1b[2J" in res.stdout
