"""Segment storage: partitions as logs of Kafka RecordBatch v2 batches on disk.

One job per module, as Kafka splits it (STYLE.md 6): ``index``/``timeindex`` (the sparse
indexes), ``segment`` (a ``.log`` and its indexes), ``segments`` (the sorted map),
``scan`` (the recovery scanner, sans-I/O), ``epochs`` (the leader-epoch cache), ``loader``
(opening and recovery), ``log`` (a partition's log and its lock), ``flusher`` (fsyncs off
the event loop, group commit), ``manager`` (a data directory), ``config`` (topic configs).
"""

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
