"""The record path without a broker: producer batch -> bytes -> consumer records.

A ProducerBatch is encoded by the codec's fast paths; the consumer's reader decodes what a
fetch returned, skipping records below its position and control batches, and advancing.
"""

from __future__ import annotations

import pytest

from logd.client.consumer.fetch_buffer import CompletedFetch, FetchBuffer, RecordReader
from logd.client.consumer.subscription import SubscriptionState
from logd.client.producer.batch import ProducerBatch
from logd.client.types import TIMESTAMP_CREATE_TIME, ConsumerRecord, TopicPartition
from logd.errors import OffsetOutOfRangeError
from logd.records import Compression, build_control_batch, decode_batch, split_batches, stamp
from tests.records.implementations import records_impl

# The reader decodes with the C accelerator and with pure Python alike (issue 8).
pytestmark = pytest.mark.usefixtures("records_impl")
__all__ = ["records_impl"]

TS = 1_700_000_000_000


def batch_of(values: list[bytes | None], **fields: list[object]) -> ProducerBatch:
    b = ProducerBatch("t", 0, 0, TS, 0.0, 100.0)
    for i, v in enumerate(values):
        if "keys" in fields:
            b.add_key(fields["keys"][i])  # type: ignore[arg-type]
        if "timestamps" in fields:
            b.add_timestamp(fields["timestamps"][i])  # type: ignore[arg-type]
        if "headers" in fields:
            b.add_headers(fields["headers"][i])  # type: ignore[arg-type]
        b.values.append(v)
    return b


@pytest.mark.parametrize("codec", [Compression.NONE, Compression.LZ4, Compression.GZIP])
def test_values_only_batch_round_trips(codec: Compression) -> None:
    values: list[bytes | None] = [b"a", None, b"c" * 300]
    decoded = list(decode_batch(batch_of(values).encode(int(codec))))
    assert [r.value for r in decoded] == values
    assert [r.key for r in decoded] == [None, None, None]
    assert [r.offset for r in decoded] == [0, 1, 2]
    assert {r.timestamp for r in decoded} == {TS}


def test_keys_timestamps_and_headers_round_trip() -> None:
    values: list[bytes | None] = [b"1", b"2", b"3"]
    keys = [None, b"k2", b"k3"]
    timestamps = [None, TS + 5, None]
    headers = [None, [("h", b"x"), ("n", None)], None]
    b = batch_of(values, keys=keys, timestamps=timestamps, headers=headers)
    decoded = list(decode_batch(b.encode(int(Compression.LZ4))))
    assert [r.key for r in decoded] == keys
    assert [r.timestamp for r in decoded] == [TS, TS + 5, TS]
    assert [list(r.headers) for r in decoded] == [[], [("h", b"x"), ("n", None)], []]
    assert [b.timestamp_of(i) for i in range(3)] == [TS, TS + 5, TS]


def test_a_batch_is_encoded_once_and_resent_as_is() -> None:
    b = batch_of([b"x"])
    assert b.encode(int(Compression.LZ4)) is b.encode(int(Compression.LZ4))


def stamped(raw: bytes, base_offset: int) -> bytes:
    buf = bytearray(raw)
    stamp(buf, base_offset, 0)
    return bytes(buf)


def fetched(*batches: bytes) -> list[memoryview]:
    return split_batches(b"".join(batches)).batches


def reader_for(position: int) -> tuple[SubscriptionState, FetchBuffer, RecordReader]:
    subs = SubscriptionState(None)
    subs.assign([TopicPartition("t", 0, position)])
    buffer = FetchBuffer(1 << 20)
    return subs, buffer, RecordReader(subs, buffer, 1 << 20)


def test_reader_skips_records_below_the_position_and_advances_it() -> None:
    subs, buffer, reader = reader_for(12)
    first = stamped(batch_of([b"a", b"b", b"c", b"d"]).encode(0), 10)
    second = stamped(batch_of([b"e", b"f"]).encode(0), 14)
    state = subs.get(("t", 0))
    buffer.put(CompletedFetch(state, state.epoch, fetched(first, second), 100))
    records = reader.take(10)
    assert [(r.offset, r.value) for r in records] == [
        (12, b"c"),
        (13, b"d"),
        (14, b"e"),
        (15, b"f"),
    ]
    assert state.position == 16
    assert records[0] == ConsumerRecord("t", 0, 12, TS, TIMESTAMP_CREATE_TIME, None, b"c", ())
    assert records[0].headers == []


def test_reader_skips_control_batches_and_moves_past_them() -> None:
    subs, buffer, reader = reader_for(0)
    data = stamped(batch_of([b"a"]).encode(0), 0)
    control = stamped(build_control_batch(0, b"", timestamp=TS), 1)
    more = stamped(batch_of([b"b"]).encode(0), 2)
    state = subs.get(("t", 0))
    buffer.put(CompletedFetch(state, state.epoch, fetched(data, control, more), 100))
    assert [r.offset for r in reader.take(10)] == [0, 2]
    assert state.position == 3


def test_reader_drops_a_fetch_made_before_a_seek() -> None:
    subs, buffer, reader = reader_for(0)
    state = subs.get(("t", 0))
    old_epoch = state.epoch
    subs.seek(TopicPartition("t", 0, 1))
    data = stamped(batch_of([b"a", b"b"]).encode(0), 0)
    buffer.put(CompletedFetch(state, old_epoch, fetched(data), 100))
    assert reader.next() is None
    assert not buffer.full and not buffer.has_data


def test_reader_raises_errors_in_order() -> None:
    subs, buffer, reader = reader_for(0)
    state = subs.get(("t", 0))
    buffer.put(CompletedFetch(state, state.epoch, [], 0, OffsetOutOfRangeError("valid 0..3")))
    with pytest.raises(OffsetOutOfRangeError, match=r"valid 0\.\.3"):
        reader.next()


def test_released_bytes_let_the_fetcher_go_on() -> None:
    subs, buffer, reader = reader_for(0)
    buffer.max_bytes = 50
    released: list[int] = []
    buffer.on_release = lambda: released.append(1)
    state = subs.get(("t", 0))
    data = stamped(batch_of([b"a"]).encode(0), 0)
    buffer.put(CompletedFetch(state, state.epoch, fetched(data), 60))
    assert buffer.full
    assert [r.value for r in reader.take(5)] == [b"a"]
    assert not buffer.full
    assert released == [1]


def test_reader_builds_complete_consumer_records_with_headers_and_epoch() -> None:
    subs, buffer, reader = reader_for(0)
    b = batch_of([b"v", b"w"], keys=[b"k", None], headers=[[("h", b"1")], None])
    raw = bytearray(b.encode(int(Compression.LZ4)))
    stamp(raw, 0, 9)  # leader epoch 9
    state = subs.get(("t", 0))
    buffer.put(CompletedFetch(state, state.epoch, fetched(bytes(raw)), 100))
    first, second = reader.take(10)
    assert (first.topic, first.partition, first.offset, first.timestamp) == ("t", 0, 0, TS)
    assert (first.key, first.value, first.headers) == (b"k", b"v", [("h", b"1")])
    assert (first.timestamp_type, first.leader_epoch) == (TIMESTAMP_CREATE_TIME, 9)
    assert (second.key, second.value, second.headers, second.offset) == (None, b"w", [], 1)
    assert type(first) is ConsumerRecord
