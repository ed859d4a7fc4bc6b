"""``logd cluster controller status``: see :mod:`cli.cluster.controller`."""

from __future__ import annotations

from cli.cluster.controller import add_status_arguments as add_arguments
from cli.cluster.controller import run_status as run

__all__ = ["add_arguments", "run"]
