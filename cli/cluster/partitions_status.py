"""``logd cluster partitions status``: see :mod:`cli.cluster.partitions`."""

from __future__ import annotations

from cli.cluster.partitions import add_status_arguments as add_arguments
from cli.cluster.partitions import run_status as run

__all__ = ["add_arguments", "run"]
