"""Suppressions from ``[[suppress]]`` in the config: matching findings stay in the
report, marked suppressed with the reason (SARIF ``suppressions``), and no longer
count for ``--fail-on``."""

from __future__ import annotations

from . import hookimpl
from .config import Config
from .model import Finding, Suppression


@hookimpl
def provcheck_modify_findings(findings: list[Finding], config: Config) -> None:
    if not config.suppress:
        return
    for i, f in enumerate(findings):
        if f.suppression is not None:
            continue
        for rule in config.suppress:
            if rule.matches(f.rule_id, f.location.artifact, f.location.path):
                findings[i] = f.replace(suppression=Suppression(reason=rule.reason, source="config"))
                break
