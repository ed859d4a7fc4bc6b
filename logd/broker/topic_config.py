"""A topic's configuration: storage's keys (``LogConfig``) plus the broker's own.

Storage owns what shapes the log on disk (``segment.bytes``, ``retention.ms``,
``max.message.bytes`` …) and checks it in :meth:`LogConfig.from_strings`; the broker adds
what only the produce path looks at — ``message.timestamp.type`` (Kafka's ``CreateTime`` or
``LogAppendTime``) and ``producer.id.expiration.ms`` (how long an idempotent producer's
state outlives its last write; a broker config in Kafka, here also a topic config, so the
broker-wide value goes in ``[topic.defaults]``). Values layer as Kafka layers them:
storage's defaults, then the broker's ``[topic.defaults]``, then the topic's own overrides.
Pure and immutable.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Final

from logd.broker.api import ConfigEntry
from logd.errors import InvalidConfigError
from logd.storage import CONFIG_KEYS, LogConfig

__all__ = [
    "DEFAULT_PRODUCER_ID_EXPIRATION_MS",
    "PRODUCER_ID_EXPIRATION_KEY",
    "TOPIC_CONFIG_KEYS",
    "TimestampType",
    "TopicConfig",
]

TIMESTAMP_TYPE_KEY: Final = "message.timestamp.type"
PRODUCER_ID_EXPIRATION_KEY: Final = "producer.id.expiration.ms"
#: Kafka's default: one day.
DEFAULT_PRODUCER_ID_EXPIRATION_MS: Final = 86_400_000


class TimestampType(enum.StrEnum):
    CREATE_TIME = "CreateTime"
    LOG_APPEND_TIME = "LogAppendTime"


#: Every topic config key a topic accepts.
TOPIC_CONFIG_KEYS: Final = (*CONFIG_KEYS, TIMESTAMP_TYPE_KEY, PRODUCER_ID_EXPIRATION_KEY)


@dataclasses.dataclass(frozen=True, slots=True)
class TopicConfig:
    """The effective settings of one topic. Build with :meth:`resolve`."""

    log: LogConfig
    timestamp_type: TimestampType = TimestampType.CREATE_TIME
    producer_id_expiration_ms: int = DEFAULT_PRODUCER_ID_EXPIRATION_MS

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
        expiration = DEFAULT_PRODUCER_ID_EXPIRATION_MS
        if PRODUCER_ID_EXPIRATION_KEY in merged:
            expiration = _expiration_ms(merged.pop(PRODUCER_ID_EXPIRATION_KEY))
        unknown = sorted(set(merged) - set(TOPIC_CONFIG_KEYS))
        if unknown:
            raise InvalidConfigError(
                f"unknown topic config {unknown[0]!r} (known: {', '.join(TOPIC_CONFIG_KEYS)})"
            )
        return cls(LogConfig.from_strings(merged), timestamp_type, expiration)

    def to_strings(self) -> dict[str, str]:
        values = self.log.to_strings()
        values[TIMESTAMP_TYPE_KEY] = self.timestamp_type.value
        values[PRODUCER_ID_EXPIRATION_KEY] = str(self.producer_id_expiration_ms)
        return values

    def entries(self, overrides: Mapping[str, str]) -> tuple[ConfigEntry, ...]:
        """Every setting, sorted by name; ``is_default`` unless the topic overrides it."""
        return tuple(
            ConfigEntry(name, value, name not in overrides)
            for name, value in sorted(self.to_strings().items())
        )


def _expiration_ms(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= 2**63 - 1:
        raise InvalidConfigError(
            f"{PRODUCER_ID_EXPIRATION_KEY} must be a number of milliseconds >= 1, not {text!r}"
        )
    return value
