"""The hand-written ProduceRequest encoder: protobuf's own bytes, the batch copied once.

Checked against the generated class's ``SerializeToString`` over the fields' whole ranges
(proto3 defaults omitted, negative int32 as 10-byte varints, non-ASCII topics).
"""

from __future__ import annotations

import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from logd.client.transport.produce_request import encode_produce_request
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
