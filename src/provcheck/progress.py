"""Progress on stderr while large inputs unpack; silent unless stderr is a terminal."""

from __future__ import annotations

import sys
import threading
from typing import Any, Protocol


class ProgressTask(Protocol):
    """One task of a :class:`Progress`: ``advance(n)``, ``update(completed)``, ``done()``."""

    def advance(self, n: int = 1) -> None: ...

    def update(self, completed: int) -> None: ...

    def done(self) -> None: ...


class _NullTask:
    def advance(self, n: int = 1) -> None:
        pass

    def update(self, completed: int) -> None:
        pass

    def done(self) -> None:
        pass


class Progress:
    """``with Progress(enabled) as p: t = p.task("layer 1", total); t.advance(n); t.done()``"""

    def __init__(self, enabled: bool | None = None):
        self.forced = bool(enabled)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._rich: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress as RichProgress,
                                       TextColumn, TransferSpeedColumn)
            self._rich = RichProgress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                      TransferSpeedColumn(), console=Console(stderr=True, force_terminal=self.forced or None),
                                      transient=True, refresh_per_second=5, redirect_stdout=False,
                                      redirect_stderr=False)
            self._rich.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None

    def task(self, description: str, total: int | None = None) -> ProgressTask:
        if self._rich is None:
            return _NullTask()
        rich, lock = self._rich, self._lock
        with lock:
            task_id = rich.add_task(description, total=total)

        class _Task:
            def advance(self, n: int = 1) -> None:
                rich.update(task_id, advance=n)

            def update(self, completed: int) -> None:
                rich.update(task_id, completed=completed)

            def done(self) -> None:
                with lock:
                    rich.remove_task(task_id)
        return _Task()


NULL = Progress(enabled=False)
