"""ConsumerProtocol subscription/assignment bytes: Kafka's format, strict decoding."""

from __future__ import annotations

import contextlib
import struct
import warnings

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from partitioning import (
    Assignment,
    ProtocolDecodeError,
    ProtocolEncodeError,
    Subscription,
    TopicPartition,
    decode_assignment,
    decode_subscription,
    encode_assignment,
    encode_subscription,
)

with warnings.catch_warnings():
    # kafka-python (the independent reference encoder) loads its schemas with a deprecated
    # importlib.resources call at import time; that is its business, not this suite's.
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment as KafkaAssignment
    from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription as KafkaSubscription

names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
partition_numbers = st.integers(min_value=0, max_value=2**31 - 1)
topic_partitions = st.builds(TopicPartition, names, partition_numbers)
versions = st.integers(min_value=0, max_value=3)
user_data = st.none() | st.binary(max_size=40)

subscriptions = st.builds(
    Subscription,
    topics=st.lists(names, max_size=5).map(tuple),
    user_data=user_data,
    owned_partitions=st.lists(topic_partitions, max_size=8).map(tuple),
    generation_id=st.none() | st.integers(min_value=0, max_value=2**31 - 1),
    rack_id=st.none() | names.filter(bool),
)
assignments = st.builds(
    Assignment,
    partitions=st.lists(topic_partitions, max_size=10).map(tuple),
    user_data=user_data,
)


def _grouped(partitions: tuple[TopicPartition, ...]) -> tuple[TopicPartition, ...]:
    """Partitions as the format carries them: grouped by topic in order of first appearance."""
    order: dict[str, list[TopicPartition]] = {}
    for tp in partitions:
        order.setdefault(tp.topic, []).append(tp)
    return tuple(tp for group in order.values() for tp in group)


def _as_of_version(sub: Subscription, version: int) -> Subscription:
    return Subscription(
        topics=tuple(sorted(sub.topics)),
        user_data=sub.user_data,
        owned_partitions=_grouped(tuple(sorted(sub.owned_partitions))) if version >= 1 else (),
        generation_id=sub.generation_id if version >= 2 else None,
        rack_id=sub.rack_id if version >= 3 else None,
    )


def _kafka_topic_partitions(cls: type, partitions: tuple[TopicPartition, ...]) -> list[object]:
    grouped: dict[str, list[int]] = {}
    for tp in partitions:
        grouped.setdefault(tp.topic, []).append(tp.partition)
    return [cls.TopicPartition(topic=t, partitions=ps) for t, ps in grouped.items()]


# --- interoperability -------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(subscriptions, versions)
def test_subscription_bytes_are_what_kafka_python_writes(sub: Subscription, version: int) -> None:
    expected = _as_of_version(sub, version)
    reference = KafkaSubscription(
        topics=list(expected.topics),
        user_data=expected.user_data,
        owned_partitions=_kafka_topic_partitions(KafkaSubscription, expected.owned_partitions),
        generation_id=-1 if expected.generation_id is None else expected.generation_id,
        rack_id=expected.rack_id,
        version=version,
    ).encode(version=version)
    assert encode_subscription(sub, version) == reference
    assert decode_subscription(reference) == expected


@settings(max_examples=150, deadline=None)
@given(assignments, versions)
def test_assignment_bytes_are_what_kafka_python_writes(a: Assignment, version: int) -> None:
    reference = KafkaAssignment(
        assigned_partitions=_kafka_topic_partitions(KafkaAssignment, a.partitions),
        user_data=a.user_data,
        version=version,
    ).encode(version=version)
    assert encode_assignment(a, version) == reference
    assert decode_assignment(reference) == Assignment(_grouped(a.partitions), a.user_data)


def test_subscription_golden_bytes_v3() -> None:
    sub = Subscription(
        topics=("b", "a"),
        user_data=b"xy",
        owned_partitions=(TopicPartition("a", 2), TopicPartition("a", 1)),
        generation_id=5,
        rack_id="r1",
    )
    assert encode_subscription(sub).hex() == (
        "0003"  # version 3
        "00000002" "0001" "61" "0001" "62"  # topics [a, b]
        "00000002" "7879"  # user_data "xy"
        "00000001" "0001" "61" "00000002" "00000001" "00000002"  # owned a: [1, 2]
        "00000005" "00027231"  # generation 5; rack "r1"
    )  # fmt: skip


# --- round trips --------------------------------------------------------------------------


@given(subscriptions, versions)
def test_subscription_round_trip(sub: Subscription, version: int) -> None:
    assert decode_subscription(encode_subscription(sub, version)) == _as_of_version(sub, version)


@given(assignments, versions)
def test_assignment_round_trip(a: Assignment, version: int) -> None:
    assert decode_assignment(encode_assignment(a, version)) == Assignment(
        _grouped(a.partitions), a.user_data
    )


def test_empty_rack_reads_as_none_and_minus_one_generation_as_unknown() -> None:
    sub = Subscription(("t",), rack_id="", generation_id=None)
    decoded = decode_subscription(encode_subscription(sub))
    assert decoded.rack_id is None
    assert decoded.generation_id is None


def test_newer_version_is_read_as_version_3_and_extra_fields_ignored() -> None:
    sub = Subscription(("t",), b"u", (TopicPartition("t", 0),), 4, rack_id="r")
    v3 = encode_subscription(sub, 3)
    v9 = struct.pack(">h", 9) + v3[2:] + b"\x00\x00\x00\x2a future field"
    assert decode_subscription(v9) == decode_subscription(v3)
    a = encode_assignment(Assignment((TopicPartition("t", 1),), None), 3)
    assert decode_assignment(struct.pack(">h", 4) + a[2:] + b"\x01") == decode_assignment(a)


# --- malformed input ----------------------------------------------------------------------


@given(subscriptions, versions, st.data())
def test_every_truncation_of_a_subscription_is_rejected(
    sub: Subscription, version: int, data: st.DataObject
) -> None:
    encoded = encode_subscription(sub, version)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    with pytest.raises(ProtocolDecodeError):
        decode_subscription(encoded[:cut])


@given(assignments, versions, st.data())
def test_every_truncation_of_an_assignment_is_rejected(
    a: Assignment, version: int, data: st.DataObject
) -> None:
    encoded = encode_assignment(a, version)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    with pytest.raises(ProtocolDecodeError):
        decode_assignment(encoded[:cut])


def h(*fields: str) -> bytes:
    """Bytes from hex fields, one field per argument so the layout stays readable."""
    return bytes.fromhex("".join(fields))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "version needs 2 bytes"),
        (h("ff"), "version needs 2 bytes at offset 0, only 1 left"),
        (h("ffff", "00000000", "ffffffff"), "unsupported version -1"),
        (h("0000", "ffffffff", "ffffffff"), "topics has count -1"),
        (h("0000", "7fffffff"), "topics claims 2147483647 elements"),
        (h("0000", "00000001", "0005", "6162"), "topic needs 5 bytes at offset 8, only 2 left"),
        (h("0000", "00000001", "ffff", "ffffffff"), "topic is null"),
        (h("0000", "00000001", "fffe", "ffffffff"), "topic has length -2"),
        (h("0000", "00000001", "0001", "ff", "ffffffff"), "topic is not UTF-8"),
        (h("0000", "00000000", "fffffffe"), "user_data has length -2"),
        (h("0000", "00000000", "00000010", "00"), "user_data needs 16 bytes"),
        (h("0001", "00000000", "ffffffff"), "owned_partitions needs 4 bytes"),
        (
            h("0001", "00000000", "ffffffff", "00000001", "0001", "74", "40000000"),
            "owned_partitions partitions claims 1073741824 elements",
        ),
        (h("0002", "00000000", "ffffffff", "00000000", "0000"), "generation_id needs 4 bytes"),
        (h("0003", "00000000", "ffffffff", "00000000", "00000001", "0003"), "rack_id needs 3"),
        (h("0003", "00000000", "ffffffff", "00000000", "00000001", "fff0"), "rack_id has length"),
    ],
)
def test_malformed_subscription_names_the_problem(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolDecodeError, match=message):
        decode_subscription(data)


def test_malformed_assignment_names_the_problem() -> None:
    with pytest.raises(ProtocolDecodeError, match="assigned_partitions has count -5"):
        decode_assignment(h("0000", "fffffffb"))
    with pytest.raises(ProtocolDecodeError, match="assigned_partitions topic is null"):
        decode_assignment(h("0000", "00000001", "ffff", "00000000"))
    with pytest.raises(ProtocolDecodeError, match="user_data needs 4 bytes"):
        decode_assignment(h("0000", "00000000"))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_random_bytes_decode_or_raise_the_typed_error(data: bytes) -> None:
    for decode in (decode_subscription, decode_assignment):
        try:
            decoded = decode(data)
        except ProtocolDecodeError:
            continue
        assert isinstance(decoded, Subscription | Assignment)


@settings(max_examples=300, deadline=None)
@given(subscriptions, assignments, st.data())
def test_fuzz_mutated_valid_messages(sub: Subscription, a: Assignment, data: st.DataObject) -> None:
    for encoded, decode in (
        (encode_subscription(sub), decode_subscription),
        (encode_assignment(a), decode_assignment),
    ):
        mutated = bytearray(encoded)
        for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
            position = data.draw(st.integers(min_value=0, max_value=len(mutated) - 1))
            mutated[position] = data.draw(st.integers(min_value=0, max_value=255))
        with contextlib.suppress(ProtocolDecodeError):
            decode(bytes(mutated))


def test_decoders_accept_memoryview_and_bytearray() -> None:
    encoded = encode_assignment(Assignment((TopicPartition("t", 3),), b"d"))
    assert decode_assignment(memoryview(encoded)) == decode_assignment(bytearray(encoded))


# --- encoder limits -----------------------------------------------------------------------


@pytest.mark.parametrize("version", [-1, 4])
def test_unknown_version_cannot_be_encoded(version: int) -> None:
    with pytest.raises(ProtocolEncodeError, match=r"not in \[0, 3\]"):
        encode_subscription(Subscription(("t",)), version)
    with pytest.raises(ProtocolEncodeError, match=r"not in \[0, 3\]"):
        encode_assignment(Assignment(()), version)


def test_values_the_format_cannot_carry_are_rejected() -> None:
    with pytest.raises(ProtocolEncodeError, match="at most 32767"):
        encode_subscription(Subscription(("x" * 32768,)))
    with pytest.raises(ProtocolEncodeError, match="does not fit in 32 bits"):
        encode_assignment(Assignment((TopicPartition("t", 2**31),)))
    with pytest.raises(ProtocolEncodeError, match="does not fit in 32 bits"):
        encode_subscription(Subscription(("t",), generation_id=2**31))


@given(subscriptions)
def test_equal_subscriptions_encode_equal_bytes(sub: Subscription) -> None:
    assume(len(sub.topics) > 1)
    reordered = Subscription(
        tuple(reversed(sub.topics)),
        sub.user_data,
        tuple(reversed(sub.owned_partitions)),
        sub.generation_id,
        rack_id=sub.rack_id,
    )
    assert encode_subscription(reordered) == encode_subscription(sub)
