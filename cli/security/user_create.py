"""``logd security user create NAME [-p PASS] [--mechanism SCRAM-SHA-256]``: the password is
salted here and only its SCRAM keys reach the brokers. Without ``-p`` it is read from the
terminal (or one line of stdin)."""

from __future__ import annotations

import argparse
import getpass

from cli import status
from cli.app import App
from cli.security.common import open_security_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("-p", "--new-password", dest="new_password", metavar="PASS")
    parser.add_argument(
        "--mechanism",
        default="SCRAM-SHA-256",
        type=str.upper,
        choices=("SCRAM-SHA-256", "SCRAM-SHA-512"),
    )
    parser.add_argument("--iterations", type=int, default=4096, help="4096..16384")


def run(app: App, args: argparse.Namespace) -> int:
    password = args.new_password
    if password is None:
        if app.stdin.isatty():
            password = getpass.getpass(f"password for {args.name}: ")
        else:
            password = app.stdin.readline().rstrip("\n")
    if not password:
        app.abort("the password is empty; give one with -p or on stdin")
    with open_security_admin(app) as admin:
        admin.create_user(args.name, password, args.mechanism, args.iterations)
    app.emit(
        {"user": args.name, "mechanism": args.mechanism},
        ["user", "mechanism"],
        [(args.name, args.mechanism)],
    )
    return status.OK
