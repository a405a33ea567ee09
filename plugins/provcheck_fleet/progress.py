"""The fleet scan's progress display on stderr: images, layers, cache hits, errors (rich)."""

from __future__ import annotations

import sys
import threading
from typing import Any


class FleetProgress:
    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._p: Any = None
        self._images = self._layers = None
        self._lock = threading.Lock()
        self.counts = {"images": 0, "layers": 0, "cache_hits": 0, "errors": 0}

    def __enter__(self) -> "FleetProgress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self._p = Progress(TextColumn("{task.description:>7}"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                               console=Console(stderr=True), transient=False)
            self._p.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None

    def start_images(self, n: int) -> None:
        if self._p is not None:
            self._images = self._p.add_task("images", total=n, info="")

    def start_layers(self, n: int) -> None:
        if self._p is not None:
            self._layers = self._p.add_task("layers", total=n, info="")

    def update(self, images: int = 0, layers: int = 0, cache_hits: int = 0, errors: int | None = None) -> None:
        with self._lock:
            self.counts["images"] += images
            self.counts["layers"] += layers
            self.counts["cache_hits"] += cache_hits
            if errors is not None:
                self.counts["errors"] = errors
            if self._p is None:
                return
            info = f"cache hits {self.counts['cache_hits']}  errors {self.counts['errors']}"
            if self._images is not None:
                self._p.update(self._images, advance=images, info=f"errors {self.counts['errors']}")
            if self._layers is not None:
                self._p.update(self._layers, advance=layers, info=info)
