"""``logd security user list``: every user and its SCRAM mechanisms (never a secret)."""

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
        users = admin.describe_users()
    app.emit(
        [{"user": n, "mechanisms": [m for m, _ in creds]} for n, creds in users],
        ["user", "mechanisms"],
        [(n, [m for m, _ in creds]) for n, creds in users],
    )
    return status.OK
