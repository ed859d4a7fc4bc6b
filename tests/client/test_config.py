"""Client config: Python names, Kafka dotted keys, string values, one-line errors."""

from __future__ import annotations

import pytest

from logd.client.config import ConsumerConfig, ProducerConfig, parse_config
from logd.errors import InvalidConfigError


def test_python_names_and_dotted_keys_mean_the_same() -> None:
    a = parse_config(ProducerConfig, None, {"linger_ms": 7, "brokers": "h:1,h:2", "acks": "all"})
    b = parse_config(
        ProducerConfig, {"linger.ms": "7", "bootstrap.servers": "h:1, h:2", "acks": -1}, {}
    )
    assert a == b
    assert a.brokers == ("h:1", "h:2")
    assert a.acks == -1


def test_defaults_are_the_contract() -> None:
    c = parse_config(ProducerConfig, None, {})
    assert (c.acks, c.linger_ms, c.batch_size, c.compression) == (-1, 5, 1_048_576, "lz4")
    assert (c.buffer_memory, c.max_block_ms, c.delivery_timeout_ms) == (64 << 20, 60_000, 120_000)
    assert (c.request_timeout_ms, c.retry_backoff_ms, c.max_in_flight) == (30_000, 100, 5)
    assert c.block_on_buffer_full is True
    k = parse_config(ConsumerConfig, None, {})
    assert (k.group_id, k.auto_offset_reset, k.fetch_min_bytes) == (None, "latest", 1)
    assert (k.fetch_max_bytes, k.max_partition_fetch_bytes, k.fetch_max_wait_ms) == (
        50 << 20,
        1 << 20,
        500,
    )


def test_keyword_arguments_win_over_the_dict() -> None:
    c = parse_config(ProducerConfig, {"linger.ms": 50}, {"linger_ms": 1})
    assert c.linger_ms == 1


@pytest.mark.parametrize(
    ("dotted", "kwargs", "message"),
    [
        ({"linger.msec": 5}, {}, "unknown config key 'linger.msec' for producer"),
        ({}, {"lingerms": 5}, "unknown config key 'lingerms' for producer"),
        ({"linger.ms": "soon"}, {}, "linger.ms must be an integer, got 'soon'"),
        ({}, {"linger_ms": -1}, "linger_ms must be between 0 and 2147483647, got -1"),
        ({}, {"acks": 2}, "acks must be all, 1 or 0, got 2"),
        ({}, {"compression": "brotli"}, "compression must be one of none, lz4, zstd, gzip, snappy"),
        ({}, {"brokers": "localhost"}, "brokers: 'localhost' is not host:port"),
        ({"bootstrap.servers": ""}, {}, "bootstrap.servers names no broker"),
        ({}, {"block_on_buffer_full": "maybe"}, "must be true or false, got 'maybe'"),
        ({}, {"batch_size": True}, "batch_size must be an integer, got True"),
    ],
)
def test_bad_values_name_the_key(
    dotted: dict[str, object], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidConfigError) as info:
        parse_config(ProducerConfig, dotted, kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_consumer_keys_are_unknown_to_the_producer() -> None:
    with pytest.raises(InvalidConfigError, match=r"'auto\.offset\.reset' for producer"):
        parse_config(ProducerConfig, {"auto.offset.reset": "earliest"}, {})


def test_reset_synonyms() -> None:
    assert parse_config(
        ConsumerConfig, {"auto.offset.reset": "smallest"}, {}
    ).auto_offset_reset == ("earliest")
    assert parse_config(ConsumerConfig, None, {"auto_offset_reset": "none"}).auto_offset_reset == (
        "error"
    )


def test_aiokafka_spellings() -> None:
    c = parse_config(
        ProducerConfig, None, {"bootstrap_servers": ["a:1"], "compression_type": "none"}
    )
    assert c.brokers == ("a:1",)
    assert c.compression == "none"


def test_idempotence_is_on_by_default_and_needs_acks_all() -> None:
    assert parse_config(ProducerConfig, None, {}).enable_idempotence is True
    # Left to its default, acks 0 or 1 turn it off (Kafka 3's rule) ...
    assert parse_config(ProducerConfig, None, {"acks": 1}).enable_idempotence is False
    assert parse_config(ProducerConfig, {"acks": "0"}, {}).enable_idempotence is False
    # ... asked for explicitly, they are a contradiction.
    with pytest.raises(InvalidConfigError, match="enable_idempotence needs acks=all, not acks=1"):
        parse_config(ProducerConfig, {"enable.idempotence": "true", "acks": 1}, {})
    off = parse_config(ProducerConfig, None, {"enable_idempotence": False})
    assert (off.enable_idempotence, off.acks) == (False, -1)
