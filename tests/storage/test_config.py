"""Topic configs: Kafka's names and defaults, parsed and checked from strings."""

from __future__ import annotations

import pytest

from logd.errors import InvalidConfigError
from logd.storage import CONFIG_KEYS, LogConfig


def test_defaults_are_kafkas() -> None:
    config = LogConfig()
    assert config.to_strings() == {
        "segment.bytes": str(1 << 30),
        "segment.ms": str(7 * 24 * 3600 * 1000),
        "retention.ms": str(7 * 24 * 3600 * 1000),
        "retention.bytes": "-1",
        "index.interval.bytes": "4096",
        "max.message.bytes": "1048588",
        "segment.index.bytes": str(10 << 20),
        "cleanup.policy": "delete",
        "min.compaction.lag.ms": "0",
        "max.compaction.lag.ms": str(2**63 - 1),
        "delete.retention.ms": str(24 * 3600 * 1000),
        "file.delete.delay.ms": "60000",
        "min.cleanable.dirty.ratio": "0.5",
    }
    assert set(config.to_strings()) == set(CONFIG_KEYS)


def test_from_strings_applies_over_a_base() -> None:
    base = LogConfig(retention_ms=5)
    config = LogConfig.from_strings({"segment.bytes": "4096", "retention.bytes": "-1"}, base)
    assert config.segment_bytes == 4096 and config.retention_ms == 5
    assert LogConfig.from_strings(config.to_strings()) == config


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("segment.bytes", "12", "segment.bytes"),
        ("segment.bytes", str(1 << 31), "segment.bytes"),
        ("segment.ms", "0", "segment.ms"),
        ("retention.ms", "-2", "retention.ms"),
        ("retention.bytes", "1e6", "integer"),
        ("index.interval.bytes", " 4096", "integer"),
        ("max.message.bytes", "1_000", "integer"),
        ("segment.index.bytes", "11", "segment.index.bytes"),
        ("cleanup.policy", "compacted", "cleanup.policy"),
        ("cleanup.policy", "compact,remove", "cleanup.policy"),
        ("min.cleanable.dirty.ratio", "1.5", "min.cleanable.dirty.ratio"),
        ("min.cleanable.dirty.ratio", "half", "min.cleanable.dirty.ratio"),
        ("max.compaction.lag.ms", "0", "max.compaction.lag.ms"),
        ("delete.retention.ms", "-1", "delete.retention.ms"),
        ("retention.hours", "1", "unknown topic config"),
        ("segment.bytes", "9" * 30, "integer"),
    ],
)
def test_bad_values_get_one_clear_typed_error(key: str, value: str, says: str) -> None:
    with pytest.raises(InvalidConfigError, match=says) as info:
        LogConfig.from_strings({key: value})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "policy", "compact", "delete"),
    [
        ("delete", "delete", False, True),
        ("compact", "compact", True, False),
        ("compact,delete", "compact,delete", True, True),
        ("delete, compact", "compact,delete", True, True),
    ],
)
def test_cleanup_policies_are_kafkas(text: str, policy: str, compact: bool, delete: bool) -> None:
    config = LogConfig.from_strings({"cleanup.policy": text, "min.cleanable.dirty.ratio": "0.1"})
    assert (config.cleanup_policy, config.compact, config.delete) == (policy, compact, delete)
    assert config.min_cleanable_dirty_ratio == 0.1
    assert LogConfig.from_strings(config.to_strings()) == config
