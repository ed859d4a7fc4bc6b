"""Issue 7 on a replicated cluster: the partition *leader* is SIGKILLed the moment its
successful produce answer would have reached the client; the producer's retry lands on the
new leader, which must recognise the batch (it holds it: the answer was an acks=all one, so
the batch was committed on a majority) and answer it as a duplicate. Every record is then
stored exactly once, in order, at the offset its delivery report names -- through a
consumer and in every replica's files.

Three brokers, each behind its own :class:`~tests.integration.cutproxy.CutProxy` (each
advertises its proxy, so every client connection goes through one; brokers talk to each
other directly). The proxy that drops an answer kills the broker behind it -- the leader
of the partition answered -- and disarms every proxy; the test restarts the broker, waits
until every replica is back in sync (a second kill before that could leave no quorum),
and arms them again. The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from logd.client import Admin, NewTopic
from tests.helpers import free_port, wait_until
from tests.integration.cluster import BrokerProcess
from tests.integration.cutproxy import CutProxy
from tests.integration.replicas import read_replica, wait_in_sync
from tests.integration.test_idempotence import (
    PARTITIONS,
    TOPIC,
    Run,
    check_exactly_once_in_order,
    duplicates,
    stored,
)

pytestmark = pytest.mark.integration

NODES = 3
KILLS = 3


class LeaderKiller:
    """The proxies' ``on_cut``: the first cut while armed SIGKILLs the broker behind that
    proxy and disarms them all; ``killed`` names the brokers killed, in order. Called in
    the proxies' threads."""

    def __init__(self, brokers: list[BrokerProcess], proxies: list[CutProxy]) -> None:
        self._brokers = brokers
        self._proxies = proxies
        self._lock = threading.Lock()
        self.armed = False
        self.killed: list[int] = []
        self.event = threading.Event()

    def on_cut(self, node: int) -> Callable[[], None]:
        def cut() -> None:
            with self._lock:
                if not self.armed:
                    return  # another proxy cut at the same moment: its broker dies alone
                self.arm(False)
                self._brokers[node].kill()
                self.killed.append(node)
            self.event.set()

        return cut

    def arm(self, on: bool) -> None:
        self.armed = on
        for proxy in self._proxies:
            proxy.cutting = on


@pytest.fixture
def proxied_cluster(
    broker_factory: Callable[..., BrokerProcess],
) -> Iterator[tuple[list[BrokerProcess], list[CutProxy]]]:
    ports = [free_port() for _ in range(NODES)]
    peers = ",".join(f"{i}@127.0.0.1:{p}" for i, p in enumerate(ports))
    proxies = [CutProxy(port, TOPIC, seed=11 + i) for i, port in enumerate(ports)]
    for proxy in proxies:
        proxy.cutting = False
        proxy.start()
    try:
        brokers = [
            broker_factory(f"broker-{i}", start=False, node_id=i, port=ports[i], peers=peers,
                           extra_args=["--advertised-listen", proxies[i].address])
            for i in range(NODES)
        ]  # fmt: skip
        for b in brokers:
            b.start(wait=False)
        for b in brokers:
            b.wait_ready()
        with Admin(brokers=brokers[0].address) as admin:
            admin.create_topics([NewTopic(TOPIC, PARTITIONS, NODES)])
        wait_in_sync(brokers[0].address, TOPIC, PARTITIONS)
        yield brokers, proxies
    finally:
        for proxy in proxies:
            proxy.stop()


def produce_until(run: Run, done: Callable[[], bool], after: int) -> None:
    """Run.produce_all's round robin over the partitions, until ``done()`` and then
    ``after`` more rounds (the producer keeps writing across every kill, however fast the
    machine); ``run.values`` is cut down to what was produced. A flush every 100 rounds
    keeps the producer from buffering every value at once (up to 5 requests stay in flight
    per partition in between)."""
    rounds = max(len(v) for v in run.values.values())
    last = rounds
    for i in range(rounds):
        if i >= last:
            break
        if last == rounds and done():
            last = i + after
        for partition, values in run.values.items():
            if i < len(values):
                run.producer.produce(TOPIC, values[i], partition=partition,
                                     on_delivery=run._report(values[i]))  # fmt: skip
        if i % 100 == 99:
            run.producer.flush(120)  # pace: the buffer could otherwise take every value
    assert last < rounds, "the kills did not all happen while the values lasted"
    run.values = {p: values[:last] for p, values in run.values.items()}
    assert run.producer.flush(120) == 0
    run.producer.close()


def test_a_leader_killed_between_append_and_answer_stores_each_record_once(
    proxied_cluster: tuple[list[BrokerProcess], list[CutProxy]],
) -> None:
    brokers, proxies = proxied_cluster
    killer = LeaderKiller(brokers, proxies)
    for node, proxy in enumerate(proxies):
        proxy.on_cut = killer.on_cut(node)
    bootstrap = ",".join(p.address for p in proxies)
    run = Run(bootstrap, 400_000)  # far more than needed: produce_until stops early
    finished = threading.Event()
    producing = threading.Thread(
        target=produce_until, args=(run, finished.is_set, 500), daemon=True
    )
    killer.arm(True)
    producing.start()
    try:
        for _ in range(KILLS):
            wait_until(killer.event.is_set, timeout=120, message="a leader killed at its answer")
            killer.event.clear()
            victim = brokers[killer.killed[-1]]
            victim.start()
            wait_in_sync(victim.address, TOPIC, PARTITIONS)
            killer.arm(len(killer.killed) < KILLS)
    finally:
        killer.arm(False)
        finished.set()
        producing.join(150)
    assert not producing.is_alive()
    cuts = sum(p.cuts for p in proxies)
    lost = sum(p.lost_answers for p in proxies)
    found = stored(bootstrap)
    print(
        f"\nleader SIGKILL on 3 brokers: {len(killer.killed)} leaders killed between append "
        f"and answer (brokers {killer.killed}), {cuts} connections cut, {lost} successful "
        f"answers lost, {duplicates(found)} duplicates in {sum(map(len, found.values()))} records"
    )
    assert len(killer.killed) == KILLS
    assert duplicates(found) == 0
    check_exactly_once_in_order(run, found)
    for b in brokers:  # every replica holds the same records, from its own files
        assert b.stop() == 0
    for p in range(PARTITIONS):
        for b in brokers:
            assert read_replica(b, TOPIC, p) == found[p], f"replica {b.node_id} of {TOPIC}-{p}"
