"""A third-party detector, registered through the ``provcheck`` entry-point group exactly
like the built-in ones. Third parties use their own rule prefix (here ``SMP``)."""

import stat

from provcheck import Rule, Severity, hookimpl

SMP001 = Rule(
    id="SMP001", name="world-writable-file", severity=Severity.MEDIUM,
    summary="Regular file writable by every user",
    doc="## What it does\nFlags regular files with the world-writable bit.\n\n"
        "## Why is this bad?\nAny local user can replace the content of such a file.\n\n"
        "## Example\n`etc/cron.daily/backup` with mode 0777.\n\n"
        "## References\n- CWE-732: Incorrect Permission Assignment for Critical Resource\n")


@hookimpl
def provcheck_register_rules():
    return [SMP001]


@hookimpl
def provcheck_detect(scan):
    for artifact in scan.artifacts:
        for node in artifact.tree.files():
            if node.mode & stat.S_IWOTH:
                yield SMP001.finding(location=node.location(artifact.name), key=node.path,
                                     message=f"{node.path} is world-writable (mode {node.mode & 0o7777:04o})",
                                     evidence={"mode": f"{node.mode & 0o7777:04o}", "sha256": node.sha256})
