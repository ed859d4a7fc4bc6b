"""``logd cluster partitions cancel``: see :mod:`cli.cluster.partitions`."""

from __future__ import annotations

from cli.cluster.partitions import add_cancel_arguments as add_arguments
from cli.cluster.partitions import run_cancel as run

__all__ = ["add_arguments", "run"]
