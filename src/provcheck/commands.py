"""Sub-command registry: the core's commands and those plugins add through
``provcheck_add_commands``. Every command gets ``--format`` and ``--output``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    setup: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Any], int]
    formats: tuple[str, ...] = ("text", "json")
    scan_options: bool = False  # also gets every `scan` option (config, limits, plugins' options)


class Commands:
    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}

    def add(self, name: str, *, help: str, setup: Callable[[argparse.ArgumentParser], None],
            run: Callable[[argparse.Namespace, Any], int], formats: tuple[str, ...] = ("text", "json"),
            scan_options: bool = False) -> None:
        if name in self.commands:
            raise ValueError(f"command {name!r} is already defined")
        self.commands[name] = Command(name, help, setup, run, formats, scan_options)
