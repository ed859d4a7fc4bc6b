"""Control batches: Kafka's key layout, Raft's opaque payloads, consumers skip them."""

from __future__ import annotations

import pytest

from logd.errors import CorruptRecordError
from logd.records import (
    ControlType,
    Record,
    build_control_batch,
    build_value_batch,
    control_key,
    decode_batch,
    decode_records,
    parse_control_record,
    validate_batch,
)

T0 = 1_700_000_000_000


def test_types_are_numbered_as_kafka_and_kraft_number_them() -> None:
    assert [(t.name, int(t)) for t in ControlType] == [
        ("ABORT", 0),
        ("COMMIT", 1),
        ("LEADER_CHANGE", 2),
        ("SNAPSHOT_HEADER", 3),
        ("SNAPSHOT_FOOTER", 4),
        ("KRAFT_VERSION", 5),
        ("KRAFT_VOTERS", 6),
        ("LOG_START", 1000),  # logd's own, far from Kafka's next numbers
    ]
    # version int16 0, then type int16, big-endian
    assert control_key(ControlType.LEADER_CHANGE) == b"\x00\x00\x00\x02"


@pytest.mark.parametrize("control_type", list(ControlType))
def test_build_and_parse_round_trip(control_type: ControlType) -> None:
    payload = b"raft entry \x00\xff" * 3
    buf = build_control_batch(
        control_type, payload, timestamp=T0, base_offset=77, partition_leader_epoch=5
    )
    header = validate_batch(buf)
    assert header.is_control and not header.is_transactional
    assert (header.base_offset, header.partition_leader_epoch, header.record_count) == (77, 5, 1)
    (record,) = decode_batch(buf).records()
    assert record.offset == 77 and record.timestamp == T0
    parsed_type, value = parse_control_record(record)
    assert parsed_type is control_type and value == payload


def test_transaction_markers_carry_the_producer() -> None:
    buf = build_control_batch(
        ControlType.COMMIT,
        b"\x00\x00\x00\x00\x00\x07",
        timestamp=T0,
        producer_id=9,
        producer_epoch=2,
        transactional=True,
    )
    header = validate_batch(buf)
    assert header.is_control and header.is_transactional
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (9, 2, -1)


def test_consumers_skip_control_batches() -> None:
    log = (
        build_value_batch([b"a"], T0, base_offset=0)
        + build_control_batch(ControlType.LEADER_CHANGE, b"leader 3", timestamp=T0, base_offset=1)
        + build_value_batch([b"b"], T0, base_offset=2)
    )
    assert [(r.offset, r.value) for r in decode_records(log)] == [(0, b"a"), (2, b"b")]


def test_an_unknown_type_is_reported_as_its_number() -> None:
    record = Record(0, T0, b"\x00\x00\x00\x63", b"x", ())
    control_type, value = parse_control_record(record)
    assert control_type == 99 and not isinstance(control_type, ControlType) and value == b"x"


def test_a_newer_key_version_still_parses() -> None:
    # Kafka's ControlRecordType.parse reads the type of a newer key version as well.
    record = Record(0, T0, b"\x00\x01\x00\x01extra", None, ())
    assert parse_control_record(record) == (ControlType.COMMIT, b"")


@pytest.mark.parametrize("key", [None, b"", b"\x00\x00\x00", b"\xff\xff\x00\x01"])
def test_malformed_keys_are_corrupt(key: bytes | None) -> None:
    with pytest.raises(CorruptRecordError):
        parse_control_record(Record(0, T0, key, b"", ()))


def test_control_type_must_fit_int16() -> None:
    with pytest.raises(ValueError, match="int16"):
        build_control_batch(1 << 15, b"", timestamp=T0)
