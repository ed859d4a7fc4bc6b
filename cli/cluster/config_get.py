"""``logd cluster config get``: see :mod:`cli.cluster.config`."""

from __future__ import annotations

from cli.cluster.config import add_get_arguments as add_arguments
from cli.cluster.config import run_get as run

__all__ = ["add_arguments", "run"]
