"""The broker settings of consumer groups and of ``__consumer_offsets``, with Kafka's names.

They live in the broker's TOML file (or ``load_config`` overrides) beside the other keys::

    offsets.topic.num.partitions = 8
    group.initial.rebalance.delay.ms = 3000

:func:`is_group_key` tells ``logd.broker.config`` which keys are parsed here. Defaults are
Kafka's except ``offsets.topic.num.partitions`` (8, not 50: every partition is a Raft group,
and a small box runs every one of them) and ``offsets.topic.replication.factor`` (-1, meaning
min(3, brokers) at the time the topic is created). Immutable; pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from logd.errors import InvalidConfigError

__all__ = ["GroupSettings", "group_config_values", "is_group_key", "parse_group_settings"]

_PREFIXES: Final = ("group.", "offsets.", "offset.")


@dataclasses.dataclass(frozen=True, slots=True)
class GroupSettings:
    """Everything the coordinators need from the broker config."""

    offsets_topic_num_partitions: int = 8
    #: -1: min(3, the number of brokers) when the topic is created.
    offsets_topic_replication_factor: int = -1
    offsets_topic_segment_bytes: int = 100 << 20
    #: How long a coordinator waits for its write to commit before it answers a timeout.
    offsets_commit_timeout_ms: int = 5_000
    offsets_retention_minutes: int = 7 * 24 * 60
    offsets_retention_check_interval_ms: int = 600_000
    offset_metadata_max_bytes: int = 4_096
    group_initial_rebalance_delay_ms: int = 3_000
    group_min_session_timeout_ms: int = 6_000
    group_max_session_timeout_ms: int = 1_800_000
    #: Consumer-protocol groups (KIP-848).
    group_consumer_session_timeout_ms: int = 45_000
    group_consumer_heartbeat_interval_ms: int = 5_000
    group_consumer_max_size: int = 2**31 - 1
    group_consumer_regex_refresh_interval_ms: int = 600_000

    def __post_init__(self) -> None:
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms:
            raise InvalidConfigError(
                "group.min.session.timeout.ms must not exceed group.max.session.timeout.ms"
            )


#: key -> (field, lowest, highest)
_KEYS: Final[dict[str, tuple[str, int, int]]] = {
    "offsets.topic.num.partitions": ("offsets_topic_num_partitions", 1, 1_000),
    "offsets.topic.replication.factor": ("offsets_topic_replication_factor", -1, 32),
    "offsets.topic.segment.bytes": ("offsets_topic_segment_bytes", 1 << 16, 2**31 - 1),
    "offsets.commit.timeout.ms": ("offsets_commit_timeout_ms", 1, 3_600_000),
    "offsets.retention.minutes": ("offsets_retention_minutes", 1, 2**31 - 1),
    "offsets.retention.check.interval.ms": (
        "offsets_retention_check_interval_ms",
        1,
        2**31 - 1,
    ),
    "offset.metadata.max.bytes": ("offset_metadata_max_bytes", 0, 0x7FFF),
    "group.initial.rebalance.delay.ms": ("group_initial_rebalance_delay_ms", 0, 3_600_000),
    "group.min.session.timeout.ms": ("group_min_session_timeout_ms", 1, 2**31 - 1),
    "group.max.session.timeout.ms": ("group_max_session_timeout_ms", 1, 2**31 - 1),
    "group.consumer.session.timeout.ms": ("group_consumer_session_timeout_ms", 1, 2**31 - 1),
    "group.consumer.heartbeat.interval.ms": (
        "group_consumer_heartbeat_interval_ms",
        1,
        2**31 - 1,
    ),
    "group.consumer.max.size": ("group_consumer_max_size", 1, 2**31 - 1),
    # Kafka's lower limit: REGEX_BATCH_REFRESH_MIN_INTERVAL_MS (10 s).
    "group.consumer.regex.refresh.interval.ms": (
        "group_consumer_regex_refresh_interval_ms",
        10_000,
        2**31 - 1,
    ),
}


def is_group_key(key: str) -> bool:
    return key.startswith(_PREFIXES)


def parse_group_settings(values: Mapping[str, Any]) -> GroupSettings:
    """The settings from ``values`` (dotted keys, each a group key); InvalidConfigError names
    an unknown key or a bad value."""
    fields: dict[str, int] = {}
    for key, value in values.items():
        spec = _KEYS.get(key)
        if spec is None:
            raise InvalidConfigError(f"unknown broker config key {key!r}")
        field, low, high = spec
        fields[field] = _int(key, value, low, high)
    return GroupSettings(**fields)


def _int(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidConfigError(f"{key}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidConfigError(f"{key}: {value} is out of range {low}..{high}")
    return value


def group_config_values(settings: GroupSettings) -> dict[str, tuple[int, bool]]:
    """Every group key with its value and whether that is the default (a broker's
    DescribeConfigs)."""
    defaults = GroupSettings()
    out = {}
    for key, (field, _, _) in sorted(_KEYS.items()):
        value = getattr(settings, field)
        out[key] = (value, value == getattr(defaults, field))
    return out
