"""JSON report, schema ``provcheck/report/v1`` (documented in docs/report-format.md)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from .. import hookimpl
from . import OutputFormat


def write_json(report: Any, stream: TextIO, color: bool = False) -> None:
    json.dump(report.to_dict(), stream, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    stream.write("\n")


@hookimpl
def provcheck_register_formats():
    return [OutputFormat("json", write_json, ".json")]
