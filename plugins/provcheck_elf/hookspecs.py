"""Hooks the ELF plugin offers to other plugins (added through ``provcheck_addhooks``)."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import pluggy

hookspec = pluggy.HookspecMarker("provcheck")


@hookspec
def provcheck_elf_policies() -> "Iterable[Mapping[str, Any]]":
    """Return forbidden-reachability policies to add to the shipped and configured ones.

    Each is a mapping like a ``[[plugins.elf.forbid]]`` table: ``name``, ``from`` (glob
    over paths or file names), ``to`` (glob over SONAMEs / file names), optional ``kinds``
    (``["needed", "dlopen"]``), ``severity`` and ``reason``. A configured policy with the
    same name replaces a plugin's.

    :return: an iterable of policy mappings.
    """
