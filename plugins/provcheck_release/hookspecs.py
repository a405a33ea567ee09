"""Hooks the release plugin adds for other plugins (registered through ``provcheck_addhooks``)."""

from __future__ import annotations

from typing import Any, Iterable

import pluggy

hookspec = pluggy.HookspecMarker("provcheck")


@hookspec
def provcheck_release_buildsystems() -> "Iterable[Any]":
    """Return build-system knowledge for the release comparison: paths of TOML/JSON files
    in the format of ``provcheck_release/data/buildsystems/autotools.toml``, or tables
    (dicts) of the same shape. Mark your implementation ``@hookimpl(optionalhook=True)``
    so your plugin still loads when the release plugin is disabled.

    :return: an iterable of paths or mappings.
    """
