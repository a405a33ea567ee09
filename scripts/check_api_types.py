#!/usr/bin/env python3
"""No ``Any`` in the public API's signatures: every name of ``provcheck.__all__`` and of the
``__all__`` of each ``provcheck.formats`` module (functions, and the public methods and fields
of classes). Prints ``name: annotation`` for each ``Any`` and exits 1 when there is one."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANY = re.compile(r"\bAny\b")
# Values decoded from untrusted JSON or database rows, narrowed by every reader that uses them;
# each entry names the signature. Keep this list shrinking.
ALLOWED = {
    "provcheck.formats.packages.rpm_header: return": "an rpm header's tags (str, int, lists of them)",
    "provcheck.formats.sqlite.table_column: return": "one column of a database found in an artifact",
    "provcheck.formats.versions.affected: osv_record": "an OSV record as decoded JSON",
    "provcheck.formats.versions.match: osv": "an OSV record as decoded JSON",
    "provcheck.formats.versions.load: return": "OSV records as decoded JSON",
}


def public_objects() -> dict[str, object]:
    sys.path.insert(0, str(ROOT / "src"))
    import provcheck
    import provcheck.formats
    out = {f"provcheck.{n}": getattr(provcheck, n) for n in provcheck.__all__ if n != "__version__"}
    for info in pkgutil.iter_modules(provcheck.formats.__path__):
        mod = importlib.import_module(f"provcheck.formats.{info.name}")
        names = getattr(mod, "__all__", None)
        if names is None:  # no __all__: every public function and class defined there
            names = [n for n, v in vars(mod).items() if not n.startswith("_") and getattr(v, "__module__", "") ==
                     mod.__name__ and (inspect.isfunction(v) or inspect.isclass(v))]
        for n in names:
            out[f"provcheck.formats.{info.name}.{n}"] = getattr(mod, n)
    return out


def annotations_of(obj: object) -> dict[str, str]:
    out: dict[str, str] = {}
    if inspect.isclass(obj):
        for k, v in getattr(obj, "__annotations__", {}).items():
            if not k.startswith("_"):
                out[k] = str(v)
        for name, member in vars(obj).items():
            if name.startswith("_") and name != "__init__":
                continue
            fn = member.fget if isinstance(member, property) else member
            if isinstance(fn, (staticmethod, classmethod)):
                fn = fn.__func__
            if inspect.isfunction(fn):
                out.update({f"{name}.{k}": str(v) for k, v in fn.__annotations__.items()})
    elif inspect.isfunction(obj):
        out.update({k: str(v) for k, v in obj.__annotations__.items()})
    return out


def main() -> int:
    problems = [f"{name}: {where} is {ann}" for name, obj in sorted(public_objects().items())
                for where, ann in annotations_of(obj).items()
                if ANY.search(ann) and f"{name}: {where}" not in ALLOWED]
    for p in problems:
        print(p)
    print(f"public signatures with Any: {len(problems)} (+{len(ALLOWED)} decoded-JSON values listed in "
          f"scripts/check_api_types.py)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
