"""Segment storage: partitions as logs of Kafka RecordBatch v2 batches on disk.

One job per module, as Kafka splits it (STYLE.md 6):

* ``index`` / ``timeindex`` — the sparse offset and time indexes (binary search over bytes);
* ``segment`` — a ``.log`` and its indexes: append, read, recover, truncate;
* ``segments`` — the sorted map from base offset to segment;
* ``scan`` — the recovery scanner, sans-I/O, fuzzed;
* ``epochs`` — the leader-epoch cache (Raft terms by offset) and its checkpoint;
* ``loader`` — opening a partition directory, with crash recovery;
* ``recovery_point`` — what is durable, and the checkpoint that remembers it;
* ``batches`` / ``reads`` / ``retention`` — what appends check, how reads and ListOffsets
  find batches, which old segments may go;
* ``log`` — a partition's log and its lock; ``flusher`` — fsyncs off the event loop, with
  group commit; ``manager`` — a data directory of partitions; ``config`` — topic configs;
* ``files`` / ``checkpoint`` — file names, atomic writes, Kafka's checkpoint format.

The names below are imported from their modules on first use (PEP 562 ``__getattr__``):
importing one module of the package -- ``cleaner_config`` or ``space`` for the broker's config
-- runs this file first, and must not load the whole engine, the records codec and the
compression libraries with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from logd.storage.config import CONFIG_KEYS, LogConfig
    from logd.storage.flusher import Flusher, FlushPolicy
    from logd.storage.log import AppendInfo, Log, LogState, TimestampOffset
    from logd.storage.manager import LogManager, validate_topic_name

__all__ = [
    "CONFIG_KEYS",
    "AppendInfo",
    "FlushPolicy",
    "Flusher",
    "Log",
    "LogConfig",
    "LogManager",
    "LogState",
    "TimestampOffset",
    "validate_topic_name",
]

#: Each exported name's module, imported when the name is first read.
_HOMES: Final = {
    "CONFIG_KEYS": "config",
    "LogConfig": "config",
    "Flusher": "flusher",
    "FlushPolicy": "flusher",
    "AppendInfo": "log",
    "Log": "log",
    "LogState": "log",
    "TimestampOffset": "log",
    "LogManager": "manager",
    "validate_topic_name": "manager",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
