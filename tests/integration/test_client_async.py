"""The asyncio clients against a real broker."""

from __future__ import annotations

import asyncio

import pytest

from logd.client import OFFSET_BEGINNING, NewTopic, TopicPartition
from logd.client.aio import AsyncAdmin, AsyncConsumer, AsyncProducer
from logd.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from tests.integration.cluster import BrokerProcess

pytestmark = pytest.mark.integration


def test_async_round_trip(broker: BrokerProcess) -> None:
    async def main() -> None:
        async with AsyncAdmin(brokers=broker.address) as admin:
            await admin.create_topics([NewTopic("aio", 2, 1)])
            with pytest.raises(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic("aio", 2, 1)])
        async with AsyncProducer(brokers=broker.address, linger_ms=1) as producer:
            first = await producer.send_and_wait("aio", b"one", partition=0)
            # Offset 0 is the leader's LEADER_CHANGE control batch (DESIGN.md principle 3).
            assert (first.topic, first.partition, first.offset) == ("aio", 0, 1)
            futures = [await producer.send("aio", b"k%d" % i, key=b"k%d" % i) for i in range(20)]
            batch = await producer.send_batch("aio", [b"b%d" % i for i in range(100)], partition=1)
            await producer.flush()
            assert all(f.done() and f.exception() is None for f in futures)
            metadata = await batch
            assert [md.offset for md in metadata] == sorted(md.offset for md in metadata)
            assert len({md.offset for md in metadata}) == 100
            with pytest.raises(UnknownTopicOrPartitionError):
                await producer.send("nope", b"x")
        async with AsyncConsumer(brokers=broker.address) as consumer:
            consumer.assign([TopicPartition("aio", p, OFFSET_BEGINNING) for p in (0, 1)])
            await consumer.seek_to_beginning()
            got = []
            while len(got) < 121:
                batches = await consumer.getmany(timeout_ms=1000, max_records=50)
                assert batches, "records within the timeout"
                for records in batches.values():
                    got.extend(records)
            values = {r.value for r in got}
            assert b"one" in values and b"b99" in values and b"k19" in values
            consumer.seek(TopicPartition("aio", 0, 0))
            record = await asyncio.wait_for(consumer.getone(), 10)
            assert record.offset == 1 and record.partition == 0  # 0: LEADER_CHANGE
            n = 0
            async for _record in consumer:
                n += 1
                if n == 3:
                    break
            assert await consumer.get_watermark_offsets(TopicPartition("aio", 1)) == (
                0,
                # + 1: offset 0 holds the leader's LEADER_CHANGE control batch.
                1 + 100 + sum(1 for f in futures if f.result().partition == 1),
            )

        async with AsyncConsumer(brokers=broker.address) as consumer:
            consumer.assign([TopicPartition("missing", 0, 0)])
            with pytest.raises(UnknownTopicOrPartitionError, match="unknown topic 'missing'"):
                await asyncio.wait_for(consumer.getone(), 10)
            times = {TopicPartition("aio", 0): 0, TopicPartition("aio", 1): 2**62}
            found = await consumer.offsets_for_times(times)
            # The first record is at 1 (0: LEADER_CHANGE, which has no timestamp).
            assert found == {TopicPartition("aio", 0): 1, TopicPartition("aio", 1): None}

    asyncio.run(main())
