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
    admin = open_security_admin(app)
    try:
        principal = admin.whoami()
    finally:
        admin.close()
    app.emit({"principal": principal}, ["principal"], [(principal,)])
    return status.OK
