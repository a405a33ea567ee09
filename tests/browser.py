"""HTML reports opened in Debian's chromium, headless, through Playwright (never a downloaded
browser). ``Browser.open(path)`` gives a page that records every request, console message,
page error and dialog; ``Page.shot(name)`` keeps a screenshot under ``artefacts/screenshots``
(git-ignored; ``PROVCHECK_ARTEFACTS`` moves it)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTEFACTS = Path(os.environ.get("PROVCHECK_ARTEFACTS") or Path(__file__).resolve().parents[1] / "artefacts")


class Page:
    def __init__(self, page, url: str):
        self.page, self.url = page, url
        self.requests: list[str] = []
        self.console: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def goto(self) -> "Page":
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=20_000)
        return self

    def assert_quiet(self) -> None:
        """Only the report itself was requested; no script error, CSP report or dialog."""
        assert self.requests and all(u == self.url or u.startswith(self.url + "#") for u in self.requests), \
            self.requests
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs
        assert not [m for m in self.console if m.startswith("error")], self.console

    def shot(self, name: str, full_page: bool = False) -> Path:
        out = ARTEFACTS / "screenshots" / f"{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(out), full_page=full_page)
        return out

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()


class Browser:
    def __init__(self, playwright):
        self.profile = Path(tempfile.mkdtemp(prefix="provcheck-chromium-"))
        self.context = playwright.chromium.launch_persistent_context(
            str(self.profile), executable_path=CHROMIUM, args=FLAGS, headless=True,
            viewport={"width": 1400, "height": 900}, offline=True)

    def open(self, path: Path) -> Page:
        page = self.context.new_page()
        return Page(page, Path(path).resolve().as_uri()).goto()

    def close(self) -> None:
        self.context.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: scripts/system-deps.sh installs it")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = Browser(p)
        try:
            yield b
        finally:
            b.close()
