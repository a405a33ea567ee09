#!/usr/bin/env python3
"""The plugin import contract: a plugin imports the public API only and never another plugin.

Public: ``provcheck`` (the names in ``provcheck.__all__``), ``provcheck.formats[.*]`` and
``provcheck.sandbox[.*]``. Checked for every module under ``plugins/`` and the sample plugin;
prints each violation as ``path:line: message`` and exits 1 when there is one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = ("provcheck.formats", "provcheck.sandbox")
# Known violations being removed on another branch, each with the reason; keep this empty.
PENDING: dict[tuple[str, str], str] = {}


def public_names() -> set[str]:
    sys.path.insert(0, str(ROOT / "src"))
    import provcheck
    return set(provcheck.__all__) | {"formats", "sandbox"}


def plugin_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[1] if rel.parts[0] == "plugins" else path.stem


def check_file(path: Path, own: str, public: set[str]) -> list[str]:
    out = []
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            targets = [(node.module, [a.name for a in node.names])]
        else:
            continue
        for module, names in targets:
            top = module.split(".")[0]
            if (rel, module) in PENDING:
                continue
            if top == "provcheck":
                if module == "provcheck":
                    bad = [n for n in names or () if n not in public]
                    if bad:
                        out.append(f"{rel}:{node.lineno}: provcheck.{', provcheck.'.join(bad)} is not public API")
                elif not any(module == m or module.startswith(m + ".") for m in PUBLIC_MODULES):
                    out.append(f"{rel}:{node.lineno}: {module} is internal; use the names of `provcheck` "
                               f"or provcheck.formats / provcheck.sandbox")
            elif top.startswith("provcheck_") and top != own:
                out.append(f"{rel}:{node.lineno}: imports another plugin ({module}); plugins meet through hooks")
    return out


def main() -> int:
    public = public_names()
    files = [(p, plugin_of(p)) for p in sorted((ROOT / "plugins").rglob("*.py"))]
    files += [(p, p.stem) for p in sorted((ROOT / "samples" / "provcheck-sample-plugin").rglob("*.py"))]
    problems = [msg for path, own in files for msg in check_file(path, own, public)]
    for msg in problems:
        print(msg)
    print(f"import contract: {len(files)} files, {len(problems)} violations", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
