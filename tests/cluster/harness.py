"""Three Raft drivers in one event loop over real logs in tmp dirs, joined by an in-memory
network that can cut links: the driver and the partition-log adapter without gRPC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from logd.clock import SystemClock
from logd.cluster.codec import GroupMessage, decode_frame, decode_losses
from logd.cluster.driver import DriverSettings, RaftDriver, RaftGroup
from logd.cluster.frame_encode import HEADER_ROOM, encode_frame_bytes
from logd.cluster.hardstate import HardStateJournal
from logd.cluster.partition_log import PartitionLog
from logd.cluster.raft_state import RaftStateFile
from logd.cluster.rpc_wire import parse_raft_frame
from logd.records.builder import build_value_batch
from logd.storage import Flusher, Log
from replication import ConfState, Entry, Role, Snapshot

__all__ = ["LocalNetwork", "Node", "Recorder", "until"]

FAST = DriverSettings(tick_ms=10, election_ticks=10, heartbeat_ticks=2, unreachable_suspect_s=1.0)


class Recorder:
    """A group listener that remembers what it heard."""

    def __init__(self) -> None:
        self.leader: int | None = None
        self.term = 0
        self.role = Role.FOLLOWER
        self.commit = -1
        self.applied: list[Entry] = []

    def on_leadership(self, leader: int | None, term: int, role: Role) -> None:
        self.leader, self.term, self.role = leader, term, role

    def on_commit(self, commit: int) -> None:
        self.commit = max(self.commit, commit)

    def on_apply(self, entries: Sequence[Entry]) -> None:
        self.applied.extend(entries)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        pass

    def on_write_failed(self, error: str) -> None:
        del error

    def on_storage_error(self, error: object) -> None:
        self.storage_error = error


class LocalNetwork:
    """Delivers frames between drivers of one loop, encoded and decoded as on the wire."""

    def __init__(self) -> None:
        self.drivers: dict[int, RaftDriver] = {}
        self.cut: set[tuple[int, int]] = set()
        #: Links whose frames vanish silently, the stream up (a peer whose loop stalls).
        self.muted: set[tuple[int, int]] = set()
        self.frames = 0

    def attach(self, driver: RaftDriver) -> None:
        """A broker (re)starts: as its first frame on a new stream would, it makes every
        peer's leaders probe it again (and wakes their quiet groups with it)."""
        self.drivers[driver.node_id] = driver
        for other in self.drivers.values():
            if other is not driver:
                other.report_unreachable(driver.node_id, connected=True)
        network = self

        class _Link:
            def send(
                self,
                outgoing: dict[int, list[GroupMessage]],
                losses: dict[int, list[tuple[str, int]]],
            ) -> None:
                network.deliver(driver.node_id, outgoing, losses)

        driver.transport = _Link()

    def deliver(
        self,
        src: int,
        outgoing: dict[int, list[GroupMessage]],
        losses: dict[int, list[tuple[str, int]]] | None = None,
    ) -> None:
        for dst, messages in outgoing.items():
            target = self.drivers.get(dst)
            if target is None or (src, dst) in self.cut:
                self.drivers[src].report_unreachable(dst)
                continue
            if (src, dst) in self.muted:
                continue
            frame = encode_frame_bytes(src, dst, messages, (losses or {}).get(dst, ()))
            self.frames += 1
            self.drivers[src].peer_reachable(dst)  # as a write that went through
            wire = parse_raft_frame(bytes(frame[HEADER_ROOM:]))  # the brokers' encoder
            loop = asyncio.get_running_loop()
            loop.call_soon(target.receive, decode_frame(wire))
            if wire.lost_groups:
                loop.call_soon(target.data_loss, src, decode_losses(wire))

    def isolate(self, node: int) -> None:
        """Cut ``node`` off -- and, as the controller's liveness would after its session
        timeout, tell every broker that the other side is down (quiet groups rely on it)."""
        for other in self.drivers:
            if other != node:
                self.cut |= {(node, other), (other, node)}
                self.drivers[other].set_down(frozenset({node}))
        self.drivers[node].set_down(frozenset(self.drivers) - {node})

    def heal(self) -> None:
        self.cut.clear()
        for driver in self.drivers.values():
            driver.set_down(frozenset())


class Node:
    """One broker's driver, flusher and one partition group ``p``."""

    def __init__(self, root: Path, node_id: int, voters: Sequence[int]) -> None:
        self.node_id = node_id
        self.directory = root / f"node-{node_id}" / "t-0"
        self.voters = voters
        self.flusher = Flusher()
        self.driver: RaftDriver | None = None
        self.group: RaftGroup | None = None
        self.log: Log | None = None
        self.journal: HardStateJournal | None = None
        self.recorder = Recorder()

    def start(self, network: LocalNetwork, *, campaign: bool = False) -> None:
        self.log = Log.open(self.directory)
        self.journal = HardStateJournal(self.directory.parent)
        storage = PartitionLog(
            self.log,
            RaftStateFile(self.directory, self.journal),
            SystemClock(),
            initial_conf=ConfState.of(self.voters),
        )
        self.driver = RaftDriver(self.node_id, self.flusher, FAST, seed=self.node_id)
        network.attach(self.driver)
        self.recorder = Recorder()
        self.group = self.driver.add_group("t-0", storage, self.recorder, campaign=campaign)
        self.driver.start()

    async def stop(self, network: LocalNetwork) -> None:
        assert self.driver is not None and self.log is not None
        await self.driver.close()
        network.drivers.pop(self.node_id, None)
        self.log.close()
        if self.journal is not None:
            self.journal.close()
        self.driver = None

    def propose(self, value: bytes) -> tuple[int, int, int]:
        """Stamp and propose one single-record batch as the leader would."""
        assert self.driver is not None and self.group is not None
        node = self.group.node
        batch = bytearray(
            build_value_batch(
                [value], int(time.time() * 1000), base_offset=node.last_offset + 1,
                partition_leader_epoch=node.term,
            )
        )  # fmt: skip
        entry = self.driver.propose(self.group, batch, 1)
        return entry.base_offset, entry.last_offset, entry.term

    @property
    def is_leader(self) -> bool:
        return self.group is not None and self.group.node.role is Role.LEADER


async def until(condition: Callable[[], object], timeout: float = 20.0, what: str = "it") -> None:
    """Wait on the loop for ``condition`` with a deadline (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
