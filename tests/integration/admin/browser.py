"""Debian's headless Chromium (``/usr/bin/chromium``, ``scripts/tools.d/chromium.sh``) driven
by Playwright's Python API -- Playwright's own browser downloads are never used: the
executable is named, with the flags this machine needs (no sandbox as root, no GPU, no
background networking: the closed network refuses those connections)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import sync_playwright

__all__ = ["CHROMIUM", "chromium_page"]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@contextmanager
def chromium_page(**context: Any) -> Iterator[Any]:
    """A new page of a headless Chromium, closed (and the browser ended) afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_context(
                viewport={"width": 1280, "height": 900}, **context
            ).new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()
