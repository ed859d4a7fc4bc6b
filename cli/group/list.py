"""``logd group list``: every consumer group, its state and its coordinator."""

from __future__ import annotations

import argparse

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options of its own


def run(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        groups = admin.list_groups()
    finally:
        admin.close()
    app.emit(
        [{"group": g.group_id, "state": g.state, "coordinator": g.coordinator_id} for g in groups],
        ["group", "state", "coordinator"],
        [(g.group_id, g.state, g.coordinator_id) for g in groups],
    )
    return status.OK
