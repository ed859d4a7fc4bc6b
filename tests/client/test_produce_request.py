"""The hand-written ProduceRequest encoder: protobuf's own bytes, the batch copied once.

Checked against the generated class's ``SerializeToString`` over the fields' whole ranges
(proto3 defaults omitted, negative int32 as 10-byte varints, non-ASCII topics).
"""

from __future__ import annotations

import functools
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from logd.client.producer.batch import ProducerBatch
from logd.client.transport.produce_request import encode_produce_request, produce_request_prefix
from logd.records import Compression, build_value_buffer
from logd.v1 import broker_pb2

INT32 = st.integers(-(2**31), 2**31 - 1)


@settings(max_examples=300, deadline=None)
@given(
    correlation_id=st.integers(0, 2**64 - 1),
    topic=st.text(max_size=40),
    partition=INT32,
    acks=st.sampled_from([-1, 0, 1]) | INT32,
    timeout_ms=INT32,
    records=st.binary(max_size=300),
)
def test_the_bytes_are_protobufs_own(
    correlation_id: int, topic: str, partition: int, acks: int, timeout_ms: int, records: bytes
) -> None:
    expected = broker_pb2.ProduceRequest(
        correlation_id=correlation_id, topic=topic, partition=partition, acks=acks,
        timeout_ms=timeout_ms, records=records,
    ).SerializeToString()  # fmt: skip
    assert (
        encode_produce_request(correlation_id, topic, partition, acks, timeout_ms, records)
        == expected
    )


def test_a_big_batch_is_copied_once() -> None:
    """Building the frame of a 4 MiB batch allocates one frame's worth (the one join) and
    keeps the batch's bytes as they are."""
    records = bytes(4 << 20)
    tracemalloc.start()
    try:
        frame = encode_produce_request(7, "topic", 3, -1, 30000, records)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frame.endswith(records) and len(frame) < len(records) + 64
    assert peak < len(records) + (64 << 10), f"peak {peak} bytes for a {len(records)}-byte batch"


def test_the_encoder_knows_every_field_of_the_message() -> None:
    """A field added to broker.proto's ProduceRequest must be added to the hand-written
    encoder too, or the client would silently drop it: this fails until it is."""
    fields = [(f.number, f.name) for f in broker_pb2.ProduceRequest.DESCRIPTOR.fields]
    assert fields == [
        (1, "correlation_id"), (2, "topic"), (3, "partition"), (4, "acks"),
        (5, "timeout_ms"), (6, "records"),
    ]  # fmt: skip


def _batch(values: list[bytes | None]) -> ProducerBatch:
    batch = ProducerBatch("topic", 3, 0, 1_700_000_000_000, 0.0, 60.0)
    batch.values = values
    batch.producer_id, batch.producer_epoch, batch.base_sequence = 9, 1, 100
    return batch


def test_a_value_batch_writes_itself_behind_the_request_head() -> None:
    """Uncompressed values only: the batch is built into the request (one copy of the
    values); the request is the one encode_produce_request makes of the batch's bytes, and
    a retry resends the same batch bytes behind a new head."""
    values: list[bytes | None] = [b"v%d" % i for i in range(300)] + [None]
    expected = bytes(build_value_buffer(values, 1_700_000_000_000, producer_id=9,
                                        producer_epoch=1, base_sequence=100))  # fmt: skip
    batch = _batch(list(values))
    source = batch.sendable(Compression.NONE)
    assert source is batch
    frame = batch.frame(functools.partial(produce_request_prefix, 7, "topic", 3, -1, 30000))
    assert frame == encode_produce_request(7, "topic", 3, -1, 30000, expected)
    assert broker_pb2.ProduceRequest.FromString(frame).records == expected
    retry = batch.sendable(Compression.NONE)
    assert retry is not batch and bytes(retry) == expected  # type: ignore[arg-type]
    assert encode_produce_request(8, "topic", 3, -1, 30000, retry) == encode_produce_request(  # type: ignore[arg-type]
        8, "topic", 3, -1, 30000, expected
    )


def test_a_compressed_or_keyed_batch_is_sent_as_its_bytes() -> None:
    assert isinstance(_batch([b"a"]).sendable(Compression.GZIP), bytes)
    keyed = _batch([b"a"])
    keyed.keys = [b"k"]
    assert isinstance(keyed.sendable(Compression.NONE), bytes)


def test_a_big_value_batch_request_is_one_copy_of_the_values() -> None:
    """A 4 MiB batch's request is built with one frame-sized allocation (its values copied
    once); the batch's buffer and the request's join took two."""
    batch = _batch([bytes(64 << 10)] * 64)
    prefix_for = functools.partial(produce_request_prefix, 7, "topic", 3, -1, 30000)
    tracemalloc.start()
    try:
        frame = batch.frame(prefix_for)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(frame) > 4 << 20
    assert peak < len(frame) + (64 << 10), f"peak {peak} bytes for a {len(frame)}-byte frame"
