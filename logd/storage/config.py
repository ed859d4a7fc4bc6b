"""Per-log configuration with Kafka's names and defaults, and its parsing from strings.

Topics carry configs as ``KEY=VALUE`` strings (``logd topic create -c``, the controller's
metadata log), so :meth:`LogConfig.from_strings` is the one place where those strings become
numbers; it rejects unknown keys, malformed numbers and values out of range with
:class:`~logd.errors.InvalidConfigError`, one clear line each.

Immutable: a changed config is a new object (``Log.update_config``), safe to share.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Final

from logd.errors import InvalidConfigError
from logd.records.header import HEADER_SIZE

__all__ = ["CONFIG_KEYS", "LogConfig"]

_DAY_MS: Final = 24 * 60 * 60 * 1000
_INT_MAX: Final = (1 << 31) - 1
_LONG_MAX: Final = (1 << 63) - 1
_NUMBER: Final = re.compile(r"-?[0-9]{1,19}")

#: Kafka's config name -> field name, and the inclusive range each accepts.
_KEYS: Final[dict[str, tuple[str, int, int]]] = {
    # A segment's positions are u32 in the offset index and Kafka caps them at Int.MaxValue;
    # below one batch header a segment could never hold anything.
    "segment.bytes": ("segment_bytes", HEADER_SIZE, _INT_MAX),
    "segment.ms": ("segment_ms", 1, _LONG_MAX),
    "retention.ms": ("retention_ms", -1, _LONG_MAX),
    "retention.bytes": ("retention_bytes", -1, _LONG_MAX),
    "index.interval.bytes": ("index_interval_bytes", 0, _INT_MAX),
    "max.message.bytes": ("max_message_bytes", 0, _INT_MAX),
    # One entry of the larger (12-byte) time index at least, or every append would roll.
    "segment.index.bytes": ("segment_index_bytes", 12, _INT_MAX),
    # Compaction (Kafka's names and ranges; see logd.storage.cleaner).
    "min.compaction.lag.ms": ("min_compaction_lag_ms", 0, _LONG_MAX),
    "max.compaction.lag.ms": ("max_compaction_lag_ms", 1, _LONG_MAX),
    "delete.retention.ms": ("delete_retention_ms", 0, _LONG_MAX),
    "file.delete.delay.ms": ("file_delete_delay_ms", 0, _LONG_MAX),
}
#: Kafka's policies; ``compact,delete`` (either order) does both.
_POLICIES: Final = ("delete", "compact", "compact,delete")
_RATIO_KEY: Final = "min.cleanable.dirty.ratio"
_RATIO: Final = re.compile(r"[0-9]{1,3}(\.[0-9]{1,16})?|\.[0-9]{1,16}")

#: Every key :meth:`LogConfig.from_strings` accepts.
CONFIG_KEYS: Final = (*_KEYS, "cleanup.policy", _RATIO_KEY)


@dataclasses.dataclass(frozen=True, slots=True)
class LogConfig:
    """One log's settings; defaults are Kafka's. Invalid values raise InvalidConfigError."""

    segment_bytes: int = 1 << 30
    segment_ms: int = 7 * _DAY_MS
    retention_ms: int = 7 * _DAY_MS
    #: -1: no size limit.
    retention_bytes: int = -1
    index_interval_bytes: int = 4096
    max_message_bytes: int = 1048588
    segment_index_bytes: int = 10 << 20
    cleanup_policy: str = "delete"
    min_compaction_lag_ms: int = 0
    max_compaction_lag_ms: int = _LONG_MAX
    #: How long a tombstone stays readable after it was written (then a clean drops it).
    delete_retention_ms: int = _DAY_MS
    #: How long segment files a clean replaced stay (as ``*.deleted``) before they go.
    file_delete_delay_ms: int = 60_000
    #: Clean when the dirty part is at least this share of the cleanable log.
    min_cleanable_dirty_ratio: float = 0.5

    def __post_init__(self) -> None:
        for key, (field, low, high) in _KEYS.items():
            value = getattr(self, field)
            if type(value) is not int or not low <= value <= high:
                raise InvalidConfigError(
                    f"{key} must be an integer in [{low}, {high}], not {value!r}"
                )
        if self.cleanup_policy not in _POLICIES:
            raise InvalidConfigError(
                f"cleanup.policy must be one of {' | '.join(_POLICIES)}, "
                f"not {self.cleanup_policy!r}"
            )
        ratio = self.min_cleanable_dirty_ratio
        if type(ratio) is not float or not 0.0 <= ratio <= 1.0:
            raise InvalidConfigError(f"{_RATIO_KEY} must be a number in [0, 1], not {ratio!r}")

    @property
    def compact(self) -> bool:
        """``cleanup.policy`` includes compact: the cleaner keeps the last value per key."""
        return "compact" in self.cleanup_policy

    @property
    def delete(self) -> bool:
        """``cleanup.policy`` includes delete: ``retention.ms``/``retention.bytes`` apply."""
        return "delete" in self.cleanup_policy

    @property
    def offset_index_entries_max(self) -> int:
        return self.segment_index_bytes // 8

    @property
    def time_index_entries_max(self) -> int:
        return self.segment_index_bytes // 12

    @classmethod
    def from_strings(cls, values: Mapping[str, str], base: LogConfig | None = None) -> LogConfig:
        """``base`` (the defaults when None) with ``values`` applied; every key is checked."""
        changes: dict[str, int | str | float] = {}
        for key, text in values.items():
            if key == "cleanup.policy":
                changes["cleanup_policy"] = _policy(text)
                continue
            if key == _RATIO_KEY:
                changes["min_cleanable_dirty_ratio"] = _ratio(text)
                continue
            spec = _KEYS.get(key)
            if spec is None:
                raise InvalidConfigError(
                    f"unknown topic config {key!r} (known: {', '.join(CONFIG_KEYS)})"
                )
            if not isinstance(text, str) or not _NUMBER.fullmatch(text):
                raise InvalidConfigError(f"{key} must be an integer, not {text!r}")
            changes[spec[0]] = int(text)
        return dataclasses.replace(base if base is not None else cls(), **changes)  # type: ignore[arg-type]

    def to_strings(self) -> dict[str, str]:
        """Every setting as Kafka names it, with its value as text."""
        out = {key: str(getattr(self, field)) for key, (field, _, _) in _KEYS.items()}
        out["cleanup.policy"] = self.cleanup_policy
        out[_RATIO_KEY] = repr(self.min_cleanable_dirty_ratio)
        return out


def _policy(text: str) -> str:
    """Kafka's list syntax: ``compact,delete`` in either order, spaces ignored."""
    if not isinstance(text, str):
        return repr(text)
    parts = sorted({part.strip() for part in text.split(",")})
    return ",".join(parts) if len(parts) > 1 or parts[0] else text


def _ratio(text: str) -> float:
    if not isinstance(text, str) or not _RATIO.fullmatch(text.strip()):
        raise InvalidConfigError(f"{_RATIO_KEY} must be a number in [0, 1], not {text!r}")
    return float(text.strip())
