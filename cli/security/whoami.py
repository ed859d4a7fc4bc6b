"""``logd security whoami``: the principal the broker takes these credentials for."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.security.common import open_security_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def run(app: App, args: argparse.Namespace) -> int:
    with open_security_admin(app) as admin:
        principal = admin.whoami()
    app.emit({"principal": principal}, ["principal"], [(principal,)])
    return status.OK
