"""``logd cluster partitions move``: see :mod:`cli.cluster.partitions`."""

from __future__ import annotations

from cli.cluster.partitions import add_move_arguments as add_arguments
from cli.cluster.partitions import run_move as run

__all__ = ["add_arguments", "run"]
