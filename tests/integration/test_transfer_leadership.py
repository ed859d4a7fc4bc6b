"""``Admin.transfer_leadership`` and ``logd topic transfer-leadership`` on three real
brokers: the leadership moves (describe shows the target leading in a higher epoch) while
a producer keeps writing and nothing is lost; any broker takes the request (a follower
forwards it to the leader); bad requests get typed errors, and the CLI one line.

Two clusters: one shared by the tests that leave it healthy, and one per test that stops
a broker.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from logd.client import (
    OFFSET_BEGINNING,
    Admin,
    Consumer,
    NewTopic,
    PartitionInfo,
    Producer,
    RecordMetadata,
    TopicPartition,
)
from logd.errors import (
    InvalidReplicaAssignmentError,
    InvalidRequestError,
    LogdError,
    ReplicaNotAvailableError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from tests.helpers import wait_until
from tests.integration.cluster import Cluster
from tests.integration.replicas import partition_info, wait_in_sync
from tests.integration.test_cli import logd, ok, one_error_line

pytestmark = pytest.mark.integration

NODES = 3
#: The controller moves leaders back to their preferred replicas every
#: ``leader.imbalance.check.interval.ms`` (10 s) while ``auto.leader.rebalance.enable`` (as
#: in Kafka): off, so that only the tests move them.
NO_REBALANCE = '"auto.leader.rebalance.enable" = false\n'


def _config(directory: Path) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "broker.toml"
    path.write_text(NO_REBALANCE)
    return ["--config", str(path)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three brokers for the tests that leave them all running and in sync."""
    root = tmp_path_factory.mktemp("transfer")
    c = Cluster(root / "cluster", NODES, extra_args=_config(root))
    try:
        c.start()
        yield c
        for b in c:
            assert b.stop() == 0, b._tail()
    finally:
        c.close()


def _topic(cluster: Cluster, name: str, partitions: int = 1) -> None:
    with Admin(brokers=cluster.bootstrap) as admin:
        admin.create_topics([NewTopic(name, partitions, NODES)])
    wait_in_sync(cluster.bootstrap, name, partitions)


class Writer:
    """Produces unique values (acks=all, idempotent) to partition 0 in a thread until
    stopped, and ``after`` more then, keeping every delivery report: the writes span
    whatever the test does meanwhile, however fast the machine."""

    def __init__(self, bootstrap: str, topic: str, after: int = 200) -> None:
        self.topic = topic
        self.values: list[bytes] = []
        self.offsets: dict[bytes, int] = {}
        self.errors: list[LogdError] = []
        self.acknowledged = threading.Event()  # some values acknowledged
        self._stop = threading.Event()
        self._after = after
        self._producer = Producer(brokers=bootstrap, acks="all", linger_ms=2, batch_size=1024)
        self._thread = threading.Thread(target=self._run)

    def start(self) -> None:
        self._thread.start()
        wait_until(self.acknowledged.is_set, timeout=60, message="values acknowledged")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)
        assert not self._thread.is_alive(), "the producer never finished"

    def _run(self) -> None:
        try:
            left = self._after
            while left > 0 and len(self.values) < 1_000_000:
                value = b"v%07d" % len(self.values)
                self.values.append(value)
                self._producer.produce(self.topic, value, partition=0,
                                       on_delivery=self._report(value))  # fmt: skip
                if len(self.values) % 50 == 0:
                    self._producer.flush(60)  # pace: keep writing across the transfers
                    self.acknowledged.set()
                left -= self._stop.is_set()
            assert self._producer.flush(60) == 0
        finally:
            self.acknowledged.set()
            self._producer.close()

    def _report(self, value: bytes) -> Callable[[LogdError | None, RecordMetadata | None], None]:
        def on_delivery(err: LogdError | None, md: RecordMetadata | None) -> None:
            if err is not None:
                self.errors.append(err)
            else:
                assert md is not None
                self.offsets[value] = md.offset

        return on_delivery


def _read_all(bootstrap: str, topic: str, partition: int = 0) -> list[tuple[int, bytes]]:
    """(offset, value) of a partition up to its high watermark, which may lie past the last
    data record: each new leader's first entry is a control batch (DESIGN.md principle 3)."""
    tp = TopicPartition(topic, partition)
    records: list[tuple[int, bytes]] = []
    with Consumer(brokers=bootstrap) as consumer:
        _, high = consumer.get_watermark_offsets(tp)
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])

        def read_to_high() -> bool:
            got = consumer.consume(10_000, 0.2)
            records.extend((r.offset, r.value) for r in got if r.value is not None)
            return consumer.position([tp])[0].offset >= high

        wait_until(read_to_high, timeout=60, interval=0, message=f"{topic} read up to {high}")
    return records


def _described_leader(cluster: Cluster, topic: str, leader: int) -> PartitionInfo:
    """The partition as ``describe`` shows it once it names ``leader``. The transfer answers
    when the new leader leads; a broker that took no part learns of it from the
    controller's next heartbeat answer (soft state, as Kafka's metadata), so the describe
    of whichever broker answers may lag by a heartbeat."""
    found: list[PartitionInfo] = []

    def shows() -> bool:
        found[:] = [partition_info(cluster.bootstrap, topic)]
        return found[0].leader == leader

    wait_until(shows, timeout=30, message=f"describe to name broker {leader} as leader")
    return found[0]


def test_a_transfer_moves_the_leader_and_writes_go_on_without_loss(cluster: Cluster) -> None:
    _topic(cluster, "moved")
    before = partition_info(cluster.bootstrap, "moved")
    # Neither the leader nor the preferred replica, so that going back to the preferred
    # replica moves the leadership again.
    target = next(r for r in before.replicas if r not in (before.leader, before.replicas[0]))
    writer = Writer(cluster.bootstrap, "moved")
    writer.start()
    try:
        # Asked of the third broker, neither leader nor target: it forwards to the leader.
        third = next(b for b in cluster if b.node_id not in (before.leader, target))
        with Admin(brokers=third.address) as admin:
            moved = admin.transfer_leadership("moved", 0, target)
            assert (moved.topic, moved.partition, moved.leader) == ("moved", 0, target)
            assert moved.leader_epoch > before.leader_epoch
            after = _described_leader(cluster, "moved", target)
            assert after.leader_epoch == moved.leader_epoch
            # Without a target: back to the preferred replica (the first), in a newer epoch.
            wait_in_sync(cluster.bootstrap, "moved")
            back = admin.transfer_leadership("moved", 0)
            assert back.leader == before.replicas[0]
            assert back.leader_epoch > moved.leader_epoch
            # Asking for the leader that leads already answers at once, nothing moves.
            again = admin.transfer_leadership("moved", 0, back.leader)
            assert (again.leader, again.leader_epoch) == (back.leader, back.leader_epoch)
    finally:
        writer.stop()
    assert writer.errors == []
    records = _read_all(cluster.bootstrap, "moved")
    assert [v for _, v in records] == writer.values, "every value once, in order"
    assert all(writer.offsets[v] == o for o, v in records), "each report names its offset"


def test_the_cli_moves_a_leader_and_says_so_in_one_line(cluster: Cluster) -> None:
    _topic(cluster, "cli-moved")
    before = partition_info(cluster.bootstrap, "cli-moved")
    target = next(r for r in before.replicas if r != before.leader)
    broker = cluster[before.leader]
    out = ok(logd(broker, "topic", "transfer-leadership", "cli-moved", "-p", "0",
                  "--to", str(target)))  # fmt: skip
    after = _described_leader(cluster, "cli-moved", target)
    assert after.leader_epoch > before.leader_epoch
    assert out == f"cli-moved-0: broker {target} leads (epoch {after.leader_epoch})\n"
    wait_in_sync(cluster.bootstrap, "cli-moved")
    out = ok(logd(broker, "topic", "transfer-leadership", "cli-moved", "-p", "0",
                  "--format", "json"))  # fmt: skip
    answer = json.loads(out)
    final = _described_leader(cluster, "cli-moved", before.replicas[0])
    assert answer == {"topic": "cli-moved", "partition": 0, "leader": before.replicas[0],
                      "leader_epoch": final.leader_epoch}  # fmt: skip
    assert final.leader == before.replicas[0]


def test_bad_requests_get_typed_errors_and_one_line(cluster: Cluster) -> None:
    _topic(cluster, "bad-moves")
    before = partition_info(cluster.bootstrap, "bad-moves")
    with Admin(brokers=cluster.bootstrap) as admin:
        with pytest.raises(UnknownTopicOrPartitionError, match="nope"):
            admin.transfer_leadership("nope", 0, 1)
        with pytest.raises(UnknownTopicOrPartitionError, match="no partition 5"):
            admin.transfer_leadership("bad-moves", 5, 1)
        with pytest.raises(InvalidReplicaAssignmentError, match="broker 7 is not a replica"):
            admin.transfer_leadership("bad-moves", 0, 7)
        with pytest.raises(InvalidRequestError, match="partition must be an int >= 0"):
            admin.transfer_leadership("bad-moves", -1, 1)
    broker = cluster[0]
    for args, says in [
        (["nope", "-p", "0"], "nope"),
        (["bad-moves", "-p", "5"], "no partition 5"),
        (["bad-moves", "-p", "0", "--to", "7"], "broker 7 is not a replica of bad-moves-0"),
    ]:
        line = one_error_line(logd(broker, "topic", "transfer-leadership", *args))
        assert says in line, line
    # Usage errors: exit 2, one line.
    usage = logd(broker, "topic", "transfer-leadership", "bad-moves", "-p", "0", "--to", "x")
    assert usage.returncode == 2 and "the broker id must be an int >= 0" in usage.stderr.decode()
    missing = logd(broker, "topic", "transfer-leadership", "bad-moves")
    assert missing.returncode == 2 and "-p/--partition" in missing.stderr.decode()
    after = partition_info(cluster.bootstrap, "bad-moves")
    assert (after.leader, after.leader_epoch) == (before.leader, before.leader_epoch)


def test_a_target_out_of_sync_is_refused(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    c = cluster_factory(NODES, extra_args=_config(tmp_path))
    _topic(c, "lagging")
    before = partition_info(c.bootstrap, "lagging")
    target = next(r for r in before.replicas if r != before.leader)
    c[target].kill()
    live = ",".join(b.address for b in c if b.node_id != target)
    # Records it does not have: the leader cannot count it caught up, however lately it
    # heard from it (a leader elected a moment ago counts every follower as active).
    with Producer(brokers=live, acks="all") as producer:
        for i in range(10):
            producer.produce("lagging", b"%d" % i, partition=0)
        assert producer.flush(60) == 0
    wait_until(lambda: target not in partition_info(live, "lagging").isr, timeout=60,
               interval=0.1, message=f"broker {target} out of the ISR")  # fmt: skip
    with Admin(brokers=live) as admin, pytest.raises(ReplicaNotAvailableError, match="not in sync"):
        admin.transfer_leadership("lagging", 0, target)
    line = one_error_line(logd(c[before.leader], "topic", "transfer-leadership", "lagging",
                               "-p", "0", "--to", str(target)))  # fmt: skip
    assert f"broker {target} is not in sync" in line
    assert partition_info(live, "lagging").leader == before.leader  # nothing moved
    c[target].start()
    wait_in_sync(c.bootstrap, "lagging")


def test_a_transfer_the_target_never_takes_times_out(
    cluster_factory: Callable[..., Cluster], tmp_path: Path
) -> None:
    """The target is stopped (SIGSTOP) while still in sync: the leader hands over, the
    target never campaigns, Raft abandons the transfer after an election timeout (thesis
    §3.10) and the old leader keeps leading and taking writes."""
    c = cluster_factory(NODES, extra_args=_config(tmp_path))
    _topic(c, "stuck")
    before = partition_info(c.bootstrap, "stuck")
    target = next(r for r in before.replicas if r != before.leader)
    leader = c[before.leader]
    try:
        with Admin(brokers=leader.address) as admin:
            error = _transfer_to_a_stopped_target(c, admin, target)
        assert isinstance(error, RequestTimedOutError), error
        assert f"broker {target} did not take the leadership" in str(error)
        assert partition_info(leader.address, "stuck").leader == before.leader
        with Producer(brokers=leader.address, acks="all") as producer:
            producer.produce("stuck", b"after", partition=0)
            assert producer.flush(60) == 0  # two of three replicas: still a majority
    finally:
        c[target].resume()
    wait_in_sync(c.bootstrap, "stuck")
    assert [v for _, v in _read_all(c.bootstrap, "stuck")] == [b"after"]


def _transfer_to_a_stopped_target(c: Cluster, admin: Admin, target: int) -> LogdError:
    """SIGSTOP ``target`` and ask for the transfer at once. A stopped follower leaves the
    ISR after about a second; if a loaded machine let that happen before the leader took
    the request (the refusal is then REPLICA_NOT_AVAILABLE), wake it, let it catch up, and
    try again: the outcome looked for does not depend on how fast the machine is."""
    for _ in range(5):
        c[target].pause()
        try:
            admin.transfer_leadership("stuck", 0, target, timeout_ms=30_000)
        except ReplicaNotAvailableError:
            c[target].resume()
            wait_in_sync(c.bootstrap, "stuck")
            continue
        except LogdError as exc:
            return exc
        raise AssertionError(f"a stopped broker {target} took the leadership")
    raise AssertionError("the stopped target left the ISR before every request")
