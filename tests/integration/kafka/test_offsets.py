"""ListOffsets (earliest, latest, by time, max timestamp), OffsetForLeaderEpoch and leader
epoch fencing, through kio's own serializers against a real broker."""

from __future__ import annotations

import datetime

import pytest
from confluent_kafka import Producer
from kio.schema.fetch.v12 import request as fetch12
from kio.schema.list_offsets.v7 import request as lo7
from kio.schema.offset_for_leader_epoch.v4 import request as ofle4

from tests.integration.kafka.raw import RawClient

pytestmark = pytest.mark.integration

TOPIC = "offsets"


@pytest.fixture(scope="module")
def written(kafka: str) -> str:
    producer = Producer({"bootstrap.servers": kafka, "acks": "all", "linger.ms": 0})
    for i, ts in enumerate([1000, 3000, 5000, 2000]):  # the largest is not the last
        producer.produce(TOPIC, value=f"v{i}", timestamp=ts)
        producer.flush(30)
    return kafka


def _list(kafka: str, timestamp: int, epoch: int = -1) -> tuple[int, int, int, int]:
    request = lo7.ListOffsetsRequest(
        replica_id=-1,
        isolation_level=1,
        topics=(
            lo7.ListOffsetsTopic(
                name=TOPIC,
                partitions=(
                    lo7.ListOffsetsPartition(
                        partition_index=0, current_leader_epoch=epoch, timestamp=timestamp
                    ),
                ),
            ),
        ),
    )
    with RawClient(kafka) as c:
        p = c.call(2, 7, request).topics[0].partitions[0]
    return p.error_code.value, p.offset, p.timestamp, p.leader_epoch


def test_list_offsets_earliest_latest_by_time_and_max_timestamp(written: str) -> None:
    code, earliest, _, epoch = _list(written, -2)
    assert (code, earliest) == (0, 0) and epoch >= 1
    assert _list(written, -1)[:2] == (0, 5)  # 0 is the leader's control batch; 4 records
    assert _list(written, 2000)[:3] == (0, 2, 3000)  # the first offset at or after 2000 ms
    assert _list(written, -3)[:3] == (0, 3, 5000)  # the largest timestamp (KIP-734)
    assert _list(written, 10_000)[:2] == (0, -1)  # none that late


def test_a_stale_or_future_leader_epoch_is_fenced(written: str) -> None:
    epoch = _list(written, -1)[3]
    assert _list(written, -1, epoch - 1)[0] == 74  # FENCED_LEADER_EPOCH
    assert _list(written, -1, epoch + 1)[0] == 75  # UNKNOWN_LEADER_EPOCH
    request = fetch12.FetchRequest(
        replica_id=-1,
        max_wait=datetime.timedelta(0),
        min_bytes=0,
        max_bytes=1 << 20,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=(
            fetch12.FetchTopic(
                topic=TOPIC,
                partitions=(
                    fetch12.FetchPartition(
                        partition=0,
                        current_leader_epoch=epoch - 1,
                        fetch_offset=0,
                        log_start_offset=-1,
                        partition_max_bytes=1 << 20,
                    ),
                ),
            ),
        ),
        forgotten_topics_data=(),
        rack_id="",
    )
    with RawClient(written) as c:
        answer = c.call(1, 12, request)
    assert answer.responses[0].partitions[0].error_code.value == 74
    assert answer.responses[0].partitions[0].records == b""


def test_offset_for_leader_epoch_names_where_each_epoch_ends(written: str) -> None:
    epoch = _list(written, -1)[3]

    def ask(leader_epoch: int) -> tuple[int, int, int]:
        request = ofle4.OffsetForLeaderEpochRequest(
            replica_id=-1,
            topics=(
                ofle4.OffsetForLeaderTopic(
                    topic=TOPIC,
                    partitions=(
                        ofle4.OffsetForLeaderPartition(
                            partition=0, current_leader_epoch=epoch, leader_epoch=leader_epoch
                        ),
                    ),
                ),
            ),
        )
        with RawClient(written) as c:
            p = c.call(23, 4, request).topics[0].partitions[0]
        return p.error_code.value, p.leader_epoch, p.end_offset

    assert ask(epoch) == (0, epoch, 5)  # the current epoch ends at the log end
    assert ask(epoch + 5)[0] == 0  # a later epoch than any: Kafka answers the latest


def test_describe_producers_lists_an_idempotent_producer(kafka: str) -> None:
    from kio.schema.describe_producers.v0 import request as dp0

    producer = Producer({"bootstrap.servers": kafka, "enable.idempotence": True})
    for i in range(3):
        producer.produce("idem-described", value=f"x{i}", timestamp=7000 + i)
    assert producer.flush(30) == 0
    request = dp0.DescribeProducersRequest(
        topics=(dp0.TopicRequest(name="idem-described", partition_indexes=(0,)),)
    )
    with RawClient(kafka) as c:
        part = c.call(61, 0, request).topics[0].partitions[0]
    assert part.error_code.value == 0
    [state] = part.active_producers
    assert state.producer_id >= 0 and state.producer_epoch == 0
    assert state.last_sequence == 2
    assert state.last_timestamp == 7002
