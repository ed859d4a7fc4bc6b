"""The log cleaner's settings (Kafka's ``log.cleaner.*`` broker keys), apart from the cleaner.

The broker's config module (``logd.broker.config``) builds a :class:`CleanerConfig` from its
keys; it imports this module, not ``cleaner`` (which needs the log, the compactor and the
records codec), so reading a config loads no storage engine. Pure.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from logd.storage.throttle import UNLIMITED

__all__ = ["CLEANER_NICE", "CleanerConfig"]

#: The cleaner thread's nice value (see ``logd.storage.cleaner``'s module doc).
CLEANER_NICE: Final = 10


@dataclasses.dataclass(frozen=True, slots=True)
class CleanerConfig:
    """Kafka's broker settings: ``log.cleaner.enable``, ``log.cleaner.dedupe.buffer.size``,
    ``log.cleaner.io.max.bytes.per.second``, ``log.cleaner.backoff.ms``."""

    enable: bool = True
    dedupe_buffer_bytes: int = 32 << 20
    io_max_bytes_per_second: float = UNLIMITED
    backoff_ms: int = 15_000
    #: The cleaner thread's nice value (logd's, no Kafka key; 0 leaves it as it is).
    nice: int = CLEANER_NICE
