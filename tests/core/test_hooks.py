"""One test per hook, each driving it through the public API or CLI (datasette's rule)."""

from provcheck import Artifact, Location, Rule, Severity, Tree, hookimpl
from provcheck.testing import File

RULE = Rule(id="HK001", name="hook-test", severity=Severity.LOW, summary="hook test",
            doc="## What it does\nx\n## Why is this bad?\nx\n## Example\nx\n## References\nx\n")


def test_hook_provcheck_register_rules_and_detect(checker):
    class P:
        @hookimpl
        def provcheck_register_rules(self):
            return [RULE]

        @hookimpl
        def provcheck_detect(self, scan, options):
            yield RULE.finding(location=Location(artifact=scan.targets[0].name), message=f"opt={options.get('x')}")
    checker.add_plugin(P())
    f = checker.run(checker.tree({"a": "a"}), options={"tests.test_hooks": {"x": 1}}).only("HK001")
    assert f.detector


def test_hook_provcheck_crosscheck_sees_detector_findings(checker):
    seen = []

    class P:
        @hookimpl
        def provcheck_register_rules(self):
            return [RULE]

        @hookimpl
        def provcheck_crosscheck(self, scan, findings):
            seen.extend(f.rule_id for f in findings)
            return [RULE.finding(location=Location(artifact="x"), message=f"{len(findings)} seen")]
    checker.add_plugin(P())
    result = checker.run(checker.tarball({"s": File("x", 0o4755)}))
    assert seen == ["PC904"] and result.rules() == {"PC904": 1, "HK001": 1}


def test_hook_provcheck_modify_findings(checker):
    class P:
        @hookimpl
        def provcheck_modify_findings(self, findings):
            findings[:] = [f.replace(severity=Severity.CRITICAL) for f in findings]
    checker.add_plugin(P())
    result = checker.run(checker.tarball({"s": File("x", 0o4755)}))
    assert result.only("PC904").severity == Severity.CRITICAL


def test_hook_provcheck_load_input_and_configure(checker):
    seen = {}

    class P:
        @hookimpl
        def provcheck_configure(self, config):
            seen["platform"] = config.platform

        @hookimpl(tryfirst=True)
        def provcheck_load_input(self, spec, ctx):
            if spec.type != "inline":
                return None
            tree = Tree(ctx.store)
            from provcheck import Node
            tree.nodes["hello.txt"] = Node(path="hello.txt", type="file", size=5, sha256=ctx.store.put_bytes(b"hello"))
            return Artifact(name=spec.path, role=spec.role, kind="inline", tree=tree)
    checker.add_plugin(P())
    result = checker.run("inline:greeting")
    assert result.report.artifacts[0].tree.read("hello.txt") == b"hello"
    assert seen == {"platform": "linux/amd64"}


def test_hook_provcheck_unpack(checker):
    class P:
        @hookimpl(tryfirst=True)
        def provcheck_unpack(self, node, tree, ctx):
            if not node.path.endswith(".rev"):
                return None
            out = Tree(ctx.store)
            from provcheck import Node
            data = tree.read(node)[::-1]
            out.nodes["reversed"] = Node(path="reversed", type="file", size=len(data), sha256=ctx.store.put_bytes(data))
            return out

        @hookimpl
        def provcheck_detect(self, scan):
            a = scan.targets[0]
            assert scan.unpack(a, a.tree.get("x.rev")).read("reversed") == b"olleh"
    checker.add_plugin(P())
    checker.run(checker.tree({"x.rev": "hello"})).assert_no_errors()


def test_hook_provcheck_register_formats_add_commands_add_options_addhooks(checker, tmp_path):
    plugin = tmp_path / "hookplug.py"
    plugin.write_text('''
from provcheck import hookimpl
from provcheck.report import OutputFormat
import hookspecs_extra

@hookimpl
def provcheck_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(hookspecs_extra)

@hookimpl
def provcheck_register_formats():
    return [OutputFormat("count", lambda report, stream, color: stream.write(f"{len(report.findings)} findings\\n"))]

@hookimpl
def provcheck_add_commands(commands):
    commands.add("hello", help="say hello", setup=lambda p: p.add_argument("who"),
                 run=lambda args, app: print(f"hello {args.who}") or 0)

@hookimpl
def provcheck_add_options(parser):
    parser.add_argument("--shout", dest="hookplug.shout", action="store_true")

@hookimpl
def provcheck_detect(scan, options):
    print("shout" if options.get("shout") else "quiet")
''')
    (tmp_path / "hookspecs_extra.py").write_text('''
import pluggy
hookspec = pluggy.HookspecMarker("provcheck")

@hookspec
def provcheck_extra_thing():
    """An extra hook from a plugin."""
''')
    import os
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=str(tmp_path))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "provcheck", "-p", "hookplug", *map(str, args)],
                              capture_output=True, text=True, env=env, cwd=tmp_path)
    tarball = checker.tarball({"a": "a"})
    assert cli("hello", "world").stdout == "hello world\n"
    res = cli("scan", tarball, "--format", "count", "--shout")
    assert res.stdout.splitlines() == ["shout", "0 findings"], res.stderr
    assert "quiet" in cli("scan", tarball).stdout
