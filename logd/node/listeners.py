"""Where a running broker's listeners are: ``<data-dir>/listeners.json``, written by the node
once every front end bound (``{"grpc": "127.0.0.1:7070", "kafka": …}``, the addresses
actually bound: a listener given port 0 shows the port the system chose), removed when the
node opens, so a file there belongs to the broker running now.

Light on purpose (json and pathlib): ``logd dev`` and the test harness read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["LISTENERS_FILE", "forget_listeners", "read_listeners", "write_listeners"]

LISTENERS_FILE: Final = "listeners.json"


def write_listeners(data_dir: Path, bound: Mapping[str, object]) -> None:
    """Atomically (a reader sees the old file or the new one, never half of one)."""
    path = data_dir / LISTENERS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({name: str(a) for name, a in bound.items()}, indent=1) + "\n")
    os.replace(tmp, path)


def forget_listeners(data_dir: Path) -> None:
    (data_dir / LISTENERS_FILE).unlink(missing_ok=True)


def read_listeners(data_dir: Path) -> dict[str, str]:
    """The addresses the broker serving from ``data_dir`` bound, by listener name ({} until
    it reported them)."""
    try:
        loaded = json.loads((data_dir / LISTENERS_FILE).read_text())
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in loaded.items()}
