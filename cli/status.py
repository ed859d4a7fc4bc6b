"""Exit codes of the ``logd`` command (DESIGN.md "The command line")."""

from __future__ import annotations

from typing import Final

__all__ = ["ERROR", "INTERRUPTED", "OK", "UNHEALTHY", "USAGE"]

OK: Final = 0
#: Any failure: one clear line on stderr, never a traceback.
ERROR: Final = 1
#: Usage errors (argparse's own code).
USAGE: Final = 2
#: ``cluster health`` while the cluster is unhealthy.
UNHEALTHY: Final = 10
#: Ctrl-C on a command that is not meant to run forever (128 + SIGINT).
INTERRUPTED: Final = 130
