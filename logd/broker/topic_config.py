"""A topic's configuration: storage's keys (``LogConfig``) plus the broker's own.

Storage owns what shapes the log on disk (``segment.bytes``, ``retention.ms``,
``max.message.bytes`` …) and checks it in :meth:`LogConfig.from_strings`; the broker adds
what only the produce path looks at — ``message.timestamp.type`` (Kafka's ``CreateTime`` or
``LogAppendTime``). Values layer as Kafka layers them: storage's defaults, then the broker's
``[topic.defaults]``, then the topic's own overrides. Pure and immutable.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Final

from logd.broker.api import ConfigEntry
from logd.errors import InvalidConfigError
from logd.storage import CONFIG_KEYS, LogConfig

__all__ = ["TOPIC_CONFIG_KEYS", "TimestampType", "TopicConfig"]

TIMESTAMP_TYPE_KEY: Final = "message.timestamp.type"


class TimestampType(enum.StrEnum):
    CREATE_TIME = "CreateTime"
    LOG_APPEND_TIME = "LogAppendTime"


#: Every topic config key a topic accepts.
TOPIC_CONFIG_KEYS: Final = (*CONFIG_KEYS, TIMESTAMP_TYPE_KEY)


@dataclasses.dataclass(frozen=True, slots=True)
class TopicConfig:
    """The effective settings of one topic. Build with :meth:`resolve`."""

    log: LogConfig
    timestamp_type: TimestampType = TimestampType.CREATE_TIME

    @classmethod
    def resolve(
        cls, overrides: Mapping[str, str], defaults: Mapping[str, str] | None = None
    ) -> TopicConfig:
        """``defaults`` (the broker's) then ``overrides`` (the topic's) over storage's.

        Raises InvalidConfigError naming the key for an unknown key or a bad value.
        """
        merged = {**(defaults or {}), **overrides}
        timestamp_type = TimestampType.CREATE_TIME
        if TIMESTAMP_TYPE_KEY in merged:
            text = merged.pop(TIMESTAMP_TYPE_KEY)
            try:
                timestamp_type = TimestampType(text)
            except ValueError:
                raise InvalidConfigError(
                    f"{TIMESTAMP_TYPE_KEY} must be CreateTime or LogAppendTime, not {text!r}"
                ) from None
        unknown = sorted(set(merged) - set(TOPIC_CONFIG_KEYS))
        if unknown:
            raise InvalidConfigError(
                f"unknown topic config {unknown[0]!r} (known: {', '.join(TOPIC_CONFIG_KEYS)})"
            )
        return cls(LogConfig.from_strings(merged), timestamp_type)

    def to_strings(self) -> dict[str, str]:
        values = self.log.to_strings()
        values[TIMESTAMP_TYPE_KEY] = self.timestamp_type.value
        return values

    def entries(self, overrides: Mapping[str, str]) -> tuple[ConfigEntry, ...]:
        """Every setting, sorted by name; ``is_default`` unless the topic overrides it."""
        return tuple(
            ConfigEntry(name, value, name not in overrides)
            for name, value in sorted(self.to_strings().items())
        )
