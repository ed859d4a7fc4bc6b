"""``logd cluster partitions balance``: see :mod:`cli.cluster.partitions`."""

from __future__ import annotations

from cli.cluster.partitions import add_balance_arguments as add_arguments
from cli.cluster.partitions import run_balance as run

__all__ = ["add_arguments", "run"]
