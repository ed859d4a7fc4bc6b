"""``logd cluster controller remove-voter``: see :mod:`cli.cluster.controller`."""

from __future__ import annotations

from cli.cluster.controller import add_node_arguments as add_arguments
from cli.cluster.controller import run_remove as run

__all__ = ["add_arguments", "run"]
