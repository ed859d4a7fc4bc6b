"""Consumer groups against a real broker, with in-process consumers: queues and
publish/subscribe, cooperative rebalances, static membership, regex subscriptions, commits,
lag, seek and ``logd consume -g``.

One broker for the module, configured for quick rebalances (``group_support.GROUP_CONFIG``);
every test uses its own topics and groups. Waits are deadlines, never sleeps.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from logd.client import Admin, Consumer, NewTopic, Producer, TopicPartition
from logd.client.aio import AsyncConsumer
from logd.errors import ErrorCode, OffsetOutOfRangeError
from logd.v1 import group_pb2, group_pb2_grpc
from tests.helpers import wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.group_support import member_args, running_group_broker
from tests.integration.wire import status_error_code

pytestmark = pytest.mark.integration

T = TypeVar("T")
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    yield from running_group_broker(tmp_path_factory.mktemp("groups"))


def create(broker: BrokerProcess, name: str, partitions: int) -> None:
    with Admin(brokers=broker.address) as admin:
        admin.create_topics([NewTopic(name, partitions, 1)])


def produce(
    broker: BrokerProcess, topic: str, values: list[str], partitions: int, **kw: Any
) -> None:
    with Producer(brokers=broker.address, linger_ms=0) as producer:
        for i, value in enumerate(values):
            producer.produce(topic, value.encode(), partition=i % partitions, **kw)
        assert producer.flush(DEADLINE_S) == 0


def logd(broker: BrokerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "-b", broker.address, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def describe(broker: BrokerProcess, group: str) -> dict[str, Any]:
    result = logd(broker, "group", "describe", group, "--format", "json")
    assert result.returncode == 0, result.stderr
    (described,) = json.loads(result.stdout)
    assert isinstance(described, dict)
    return described


def run(main: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(main(), 120))


async def until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


class Reader:
    """Polls an AsyncConsumer in a task, keeping what it got and its callbacks' calls."""

    def __init__(self, broker: BrokerProcess, group: str, **options: Any) -> None:
        self.consumer = AsyncConsumer(brokers=broker.address, group_id=group, **{
            **member_args(), **options})  # fmt: skip
        self.records: list[tuple[str, int, int, bytes]] = []
        self.assigned: list[list[tuple[str, int]]] = []
        self.revoked: list[list[tuple[str, int]]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def owned(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self.consumer.assignment()}

    async def start(self, topics: list[str] | None = None, pattern: str | None = None) -> None:
        await self.consumer.start()

        def on_assign(c: Any, parts: list[TopicPartition]) -> None:
            self.assigned.append([(tp.topic, tp.partition) for tp in parts])

        def on_revoke(c: Any, parts: list[TopicPartition]) -> None:
            self.revoked.append([(tp.topic, tp.partition) for tp in parts])

        await self.consumer.subscribe(
            topics or (), pattern, on_assign=on_assign, on_revoke=on_revoke
        )
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100)
            for records in batches.values():
                self.records.extend(
                    (r.topic, r.partition, r.offset, r.value or b"") for r in records
                )

    async def pause_polling(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def resume_polling(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        await self.pause_polling()
        await self.consumer.stop()

    def values(self) -> list[bytes]:
        return [r[3] for r in self.records]


# -- queue and publish/subscribe --------------------------------------------------------


def test_two_groups_each_read_everything_and_a_group_shares_its_partitions(
    broker: BrokerProcess,
) -> None:
    create(broker, "events", 4)

    async def main() -> None:
        queue = [Reader(broker, "queue") for _ in range(2)]
        audit = Reader(broker, "audit")
        for reader in (*queue, audit):
            await reader.start(["events"])
        # Both queue members hold two partitions each before anything is produced.
        await until(lambda: sorted(len(r.owned) for r in queue) == [2, 2], "a 2/2 split")
        await until(lambda: len(audit.owned) == 4, "the audit group's assignment")
        values = [f"e{i}" for i in range(40)]
        await asyncio.to_thread(produce, broker, "events", values, 4)
        expected = sorted(v.encode() for v in values)
        await until(lambda: sorted(audit.values()) == expected, "the audit group reads all")
        await until(lambda: sorted(queue[0].values() + queue[1].values()) == expected, "the queue")
        # Point-to-point: each record went to exactly one member, and both worked.
        assert not set(queue[0].values()) & set(queue[1].values())
        assert queue[0].values() and queue[1].values()
        for reader in (*queue, audit):
            await reader.stop()

    run(main)


def test_cooperative_rebalance_revokes_only_the_partitions_that_move(
    broker: BrokerProcess,
) -> None:
    create(broker, "coop", 6)

    async def main() -> None:
        first, second = Reader(broker, "coop-g"), Reader(broker, "coop-g")
        await first.start(["coop"])
        await until(lambda: len(first.owned) == 6, "the first member owning all six")
        await second.start(["coop"])
        await until(lambda: len(first.owned) == 3 and len(second.owned) == 3, "a 3/3 split")
        kept = first.owned
        moved = {tp for step in first.revoked for tp in step}
        assert moved == second.owned  # what was revoked is exactly what moved
        assert not moved & kept  # nothing it kept was ever revoked
        assert first.assigned[0] == sorted(kept | moved)  # the first assignment: all six
        assert all(step == [] for step in first.assigned[1:])  # later rounds added nothing
        assert sorted(tp for step in second.assigned for tp in step) == sorted(moved)
        await first.stop()
        await second.stop()

    run(main)


def test_eager_range_gives_everything_back_before_a_rebalance(broker: BrokerProcess) -> None:
    create(broker, "eager", 4)
    values = [f"e{i}" for i in range(40)]
    produce(broker, "eager", values, 4)

    async def main() -> None:
        options = {"partition_assignment_strategy": ["range"]}
        first, second = Reader(broker, "eager-g", **options), Reader(broker, "eager-g", **options)
        await first.start(["eager"])
        await until(lambda: len(first.owned) == 4, "the first member owning all four")
        await until(lambda: len(first.records) == 40, "the first member reading everything")
        await second.start(["eager"])
        await until(lambda: len(first.owned) == 2 and len(second.owned) == 2, "a 2/2 split")
        # Eager: everything it owned was revoked (and committed) before it rejoined.
        assert first.revoked == [sorted(("eager", p) for p in range(4))]
        assert first.assigned[-1] == sorted(first.owned)  # the whole new assignment
        assert second.records == []  # it started at the offsets committed on revoke
        await first.stop()
        await second.stop()

    run(main)


# -- membership --------------------------------------------------------------------------


def test_a_static_member_restarted_within_its_session_keeps_its_partitions(
    broker: BrokerProcess,
) -> None:
    create(broker, "static", 6)
    options = {"session_timeout_ms": 10_000, "heartbeat_interval_ms": 250}

    async def main() -> None:
        a = Reader(broker, "static-g", group_instance_id="a", **options)
        b = Reader(broker, "static-g", group_instance_id="b", **options)
        await a.start(["static"])
        await b.start(["static"])
        await until(lambda: len(a.owned) == 3 and len(b.owned) == 3, "a 3/3 split")
        await until(lambda: a.consumer.core.membership.stable, "a stable first member")
        generation = describe(broker, "static-g")["generation"]
        before_b, calls_of_a = b.owned, (len(a.assigned), len(a.revoked))
        await b.stop()  # a static member does not leave the group
        again = Reader(broker, "static-g", group_instance_id="b", **options)
        await again.start(["static"])
        await until(lambda: again.owned == before_b, "the same partitions after the restart")
        described = describe(broker, "static-g")
        assert described["generation"] == generation  # no rebalance happened
        assert {m["instance_id"] for m in described["members"]} == {"a", "b"}
        assert (len(a.assigned), len(a.revoked)) == calls_of_a  # a saw nothing
        await a.stop()
        await again.stop()

    run(main)


def test_a_member_that_stops_polling_leaves_and_rejoins_when_it_polls_again(
    broker: BrokerProcess,
) -> None:
    create(broker, "slow", 2)

    async def main() -> None:
        slow = Reader(broker, "slow-g", max_poll_interval_ms=1_000)
        await slow.start(["slow"])
        await until(lambda: len(slow.owned) == 2, "the first member owning both partitions")
        await slow.pause_polling()  # busy elsewhere: max_poll_interval_ms runs out
        fast = Reader(broker, "slow-g")
        await fast.start(["slow"])
        await until(lambda: len(fast.owned) == 2, "the polling member taking both partitions")
        described = await asyncio.to_thread(describe, broker, "slow-g")
        assert len(described["members"]) == 1  # the idle member left the group
        slow.resume_polling()
        await until(lambda: len(slow.owned) == 1 and len(fast.owned) == 1, "a 1/1 split again")
        await slow.stop()
        await fast.stop()

    run(main)


def test_a_pattern_subscription_picks_up_topics_created_later(broker: BrokerProcess) -> None:
    create(broker, "metrics.cpu", 1)
    create(broker, "other", 1)

    async def main() -> None:
        reader = Reader(broker, "metrics-g", metadata_max_age_ms=200)
        await reader.start(pattern=r"metrics\..*")
        await until(lambda: reader.owned == {("metrics.cpu", 0)}, "metrics.cpu assigned")
        await asyncio.to_thread(create, broker, "metrics.disk", 2)
        await asyncio.to_thread(produce, broker, "metrics.disk", ["d0", "d1"], 2)
        await asyncio.to_thread(produce, broker, "other", ["x"], 1)
        await until(lambda: sorted(reader.values()) == [b"d0", b"d1"], "the new topic's records")
        assert reader.owned == {("metrics.cpu", 0), ("metrics.disk", 0), ("metrics.disk", 1)}
        await reader.stop()

    run(main)


def test_without_a_committed_offset_reset_error_raises_in_poll(broker: BrokerProcess) -> None:
    create(broker, "reset", 1)
    options = {**member_args(), "auto_offset_reset": "error"}
    with Consumer(brokers=broker.address, group_id="reset-g", **options) as consumer:
        consumer.subscribe(["reset"])
        with pytest.raises(OffsetOutOfRangeError, match="no offset to start"):
            wait_until(lambda: consumer.poll(0.1), DEADLINE_S, message="the reset error")


# -- commits, lag, seek ------------------------------------------------------------------


def test_lag_in_describe_is_log_end_minus_committed(broker: BrokerProcess) -> None:
    create(broker, "lag", 3)
    produce(broker, "lag", [f"v{i}" for i in range(60)], 3)  # 20 per partition
    commits = [
        TopicPartition("lag", 0, 4),
        TopicPartition("lag", 1, 20),
        TopicPartition("lag", 2, 0),
    ]
    with Consumer(brokers=broker.address, group_id="lag-g") as consumer:
        consumer.assign([TopicPartition(tp.topic, tp.partition, 0) for tp in commits])
        consumer.commit(offsets=commits)  # a standalone consumer: generation -1
        assert consumer.committed([TopicPartition("lag", 0)]) == [TopicPartition("lag", 0, 4)]
    with Admin(brokers=broker.address) as admin:
        (topic,) = admin.describe_topics(["lag"])
    ends = {p.partition: p.high_watermark for p in topic.partitions}
    described = describe(broker, "lag-g")
    rows = {p["partition"]: p for p in described["partitions"]}
    for tp in commits:
        row = rows[tp.partition]
        assert row["current_offset"] == tp.offset
        assert row["log_end_offset"] == ends[tp.partition]
        assert row["lag"] == ends[tp.partition] - tp.offset
    assert described["total_lag"] == sum(ends[tp.partition] - tp.offset for tp in commits)
    text = logd(broker, "group", "describe", "lag-g")
    assert text.returncode == 0
    assert f"TOTAL-LAG    {described['total_lag']}" in text.stdout
    assert "CURRENT-OFFSET  LOG-END-OFFSET  LAG" in text.stdout


def test_seek_replays_lands_on_time_and_is_refused_while_members_are_live(
    broker: BrokerProcess,
) -> None:
    create(broker, "replay", 2)
    base = 1_700_000_000_000
    with Producer(brokers=broker.address, linger_ms=0) as producer:
        for i in range(10):  # partition i % 2, timestamps a second apart
            producer.produce("replay", b"r%d" % i, partition=i % 2, timestamp=base + i * 1000)
        assert producer.flush(DEADLINE_S) == 0
    options = member_args()
    with Consumer(brokers=broker.address, group_id="replay-g", **options) as consumer:
        consumer.subscribe(["replay"])
        got = []
        wait_until(lambda: got.extend(consumer.consume(10, 0.1)) or len(got) == 10, DEADLINE_S)
        consumer.commit()
        refused = logd(broker, "group", "seek", "replay-g", "--to", "start")
        assert refused.returncode == 1
        assert "has 1 live member(s)" in refused.stderr
    dry = logd(broker, "group", "seek", "replay-g", "--to", "start", "--dry", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    assert [p["new_offset"] for p in json.loads(dry.stdout)] == [0, 0]
    # Five records a partition, at 1..5: offset 0 holds the leader's LEADER_CHANGE batch.
    assert [p["current_offset"] for p in describe(broker, "replay-g")["partitions"]] == [6, 6]
    assert logd(broker, "group", "seek", "replay-g", "--to", "start").returncode == 0
    with Consumer(brokers=broker.address, group_id="replay-g", **options) as consumer:
        consumer.subscribe(["replay"])
        again: list[Any] = []
        wait_until(lambda: again.extend(consumer.consume(10, 0.1)) or len(again) == 10, DEADLINE_S)
        assert sorted(r.value for r in again) == sorted(r.value for r in got)  # replayed
    # @TIME: the first offset at or after it. Record i has time base+i s, offset i // 2 + 1.
    at = base + 5_500  # records 6.. are at or after it: offsets 4 (p0: r6) and 4 (p1: r7)
    result = logd(broker, "group", "seek", "replay-g", "--to", f"@{at}", "--format", "json")
    assert result.returncode == 0, result.stderr
    plan = {p["partition"]: p["new_offset"] for p in json.loads(result.stdout)}
    assert plan == {0: 4, 1: 4}
    assert {
        p["partition"]: p["current_offset"] for p in describe(broker, "replay-g")["partitions"]
    } == plan


def test_consume_with_a_group_commits_and_exits_zero_on_ctrl_c(
    broker: BrokerProcess, tmp_path: Path
) -> None:
    create(broker, "cli-g", 2)
    produce(broker, "cli-g", [f"a{i}" for i in range(10)], 2)
    out = tmp_path / "out.txt"
    cmd = [sys.executable, "-m", "cli.main", "-b", broker.address, "consume", "cli-g", "-g",
           "cli-group", "-o", "start", "-f", r"%v\n"]  # fmt: skip
    with out.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: len(out.read_bytes().splitlines()) == 10, DEADLINE_S)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(DEADLINE_S) == 0, proc.stderr.read() if proc.stderr else ""
        finally:
            if proc.poll() is None:
                proc.kill()
    assert sorted(out.read_bytes().split()) == sorted(b"a%d" % i for i in range(10))
    assert describe(broker, "cli-group")["total_lag"] == 0  # committed on the way out
    produce(broker, "cli-g", [f"b{i}" for i in range(4)], 2)
    # The group's offsets win over -o start: only the new records come.
    again = logd(
        broker, "consume", "cli-g", "-g", "cli-group", "-o", "start", "-n", "4", "-f", r"%v\n"
    )
    assert again.returncode == 0, again.stderr
    assert sorted(again.stdout.split()) == [f"b{i}" for i in range(4)]


# -- bad input ---------------------------------------------------------------------------


def test_bad_group_requests_get_typed_errors_and_the_broker_keeps_serving(
    broker: BrokerProcess,
) -> None:
    channel = broker.channel()
    raw = channel.unary_unary(
        "/logd.v1.GroupCoordinator/JoinGroup", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.RpcError) as caught:
        raw(b"\xff\xff\xff\xff\x0f", timeout=30)
    assert status_error_code(caught.value) == ErrorCode.INVALID_REQUEST
    stub = group_pb2_grpc.GroupCoordinatorStub(channel)  # type: ignore[no-untyped-call]
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListGroups(group_pb2.ListGroupsRequest(states_filter=["Sleepy"]), timeout=30)
    assert status_error_code(caught.value) == ErrorCode.INVALID_REQUEST
    assert "unknown group state 'Sleepy'" in caught.value.details()
    (found,) = stub.FindCoordinator(group_pb2.FindCoordinatorRequest(group_ids=[""])).coordinators
    assert found.error.code == ErrorCode.INVALID_GROUP_ID
    join = stub.JoinGroup(
        group_pb2.JoinGroupRequest(
            group_id="bad-g", session_timeout_ms=1, protocol_type="consumer",
            protocols=[group_pb2.JoinGroupProtocol(name="range", metadata=b"")],
        ),
        timeout=30,
    )  # fmt: skip
    assert join.error.code == ErrorCode.INVALID_SESSION_TIMEOUT
    assert "outside" in join.error.message
    commit = stub.OffsetCommit(
        group_pb2.OffsetCommitRequest(
            group_id="bad-g", generation_id=-1,
            partitions=[group_pb2.OffsetCommitPartition(topic="no/such", partition=0, offset=1),
                        group_pb2.OffsetCommitPartition(topic="ok", partition=0, offset=-5)],
        ),
        timeout=30,
    )  # fmt: skip
    assert [p.error.code for p in commit.partitions] == [
        ErrorCode.INVALID_TOPIC_EXCEPTION, ErrorCode.INVALID_REQUEST]  # fmt: skip
    listed = stub.ListGroups(group_pb2.ListGroupsRequest(states_filter=["empty"]), timeout=30)
    assert listed.error.code == ErrorCode.NONE  # still serving
