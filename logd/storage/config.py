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
}
_POLICIES: Final = ("delete",)

#: Every key :meth:`LogConfig.from_strings` accepts.
CONFIG_KEYS: Final = (*_KEYS, "cleanup.policy")


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

    def __post_init__(self) -> None:
        for key, (field, low, high) in _KEYS.items():
            value = getattr(self, field)
            if type(value) is not int or not low <= value <= high:
                raise InvalidConfigError(
                    f"{key} must be an integer in [{low}, {high}], not {value!r}"
                )
        if self.cleanup_policy not in _POLICIES:
            raise InvalidConfigError(
                f"cleanup.policy must be one of {', '.join(_POLICIES)}, not {self.cleanup_policy!r}"
                " (compaction is not supported)"
            )

    @property
    def offset_index_entries_max(self) -> int:
        return self.segment_index_bytes // 8

    @property
    def time_index_entries_max(self) -> int:
        return self.segment_index_bytes // 12

    @classmethod
    def from_strings(cls, values: Mapping[str, str], base: LogConfig | None = None) -> LogConfig:
        """``base`` (the defaults when None) with ``values`` applied; every key is checked."""
        changes: dict[str, int | str] = {}
        for key, text in values.items():
            if key == "cleanup.policy":
                changes["cleanup_policy"] = text
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
        return out
