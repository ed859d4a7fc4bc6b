"""``logd cluster config set``: see :mod:`cli.cluster.config`."""

from __future__ import annotations

from cli.cluster.config import add_set_arguments as add_arguments
from cli.cluster.config import run_set as run

__all__ = ["add_arguments", "run"]
