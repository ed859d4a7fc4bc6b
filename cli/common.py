"""Small helpers shared by verbs: parsing KEY=VALUE flags, opening clients."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from cli.app import App

if TYPE_CHECKING:
    from logd.client import Admin

__all__ = ["key_value", "open_admin"]


def key_value(flag: str) -> Callable[[str], tuple[str, str]]:
    """An argparse ``type=`` that parses KEY=VALUE and names the flag in its error."""

    def parse(text: str) -> tuple[str, str]:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"{flag} takes KEY=VALUE, got {text!r}")
        return key, value

    return parse


def open_admin(app: App, *, request_timeout_ms: int | None = None) -> Admin:
    """The admin client of a command (``request_timeout_ms``: a longer wait than the
    client's default, for a request known to take long)."""
    from logd.client import Admin

    if request_timeout_ms is None:
        return Admin(brokers=app.brokers, **app.client_security)
    return Admin(brokers=app.brokers, request_timeout_ms=request_timeout_ms, **app.client_security)
