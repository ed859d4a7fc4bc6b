"""``logd cluster broker unregister``: see :mod:`cli.cluster.broker`."""

from __future__ import annotations

from cli.cluster.broker import add_node_arguments as add_arguments
from cli.cluster.broker import run_unregister as run

__all__ = ["add_arguments", "run"]
