"""``logd cluster broker status``: see :mod:`cli.cluster.broker`."""

from __future__ import annotations

from cli.cluster.broker import add_status_arguments as add_arguments
from cli.cluster.broker import run_status as run

__all__ = ["add_arguments", "run"]
