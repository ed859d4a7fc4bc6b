"""``logd cluster config delete``: see :mod:`cli.cluster.config`."""

from __future__ import annotations

from cli.cluster.config import add_delete_arguments as add_arguments
from cli.cluster.config import run_delete as run

__all__ = ["add_arguments", "run"]
