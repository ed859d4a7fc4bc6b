"""A small, fully controlled cluster for readable tests (no randomness, no clock).

Messages wait in one outbox until a test delivers them; Readys are handled only when a
test says so, always completely (persist, then send, then apply).  ``stabilize()`` runs
both until nothing moves.  Every step can be written to a transcript, which the
interaction scripts compare with their expected output.

Not thread-safe; owned by one test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from replication import (
    Config,
    ConfState,
    Entry,
    EntryKind,
    MemoryStorage,
    Message,
    RawNode,
    Ready,
    Role,
)
from replication.messages import describe

__all__ = ["Cluster", "describe_entries"]


def describe_entries(entries: Iterable[Entry]) -> str:
    parts = []
    for e in entries:
        text = f"{e.term}/{e.base_offset}-{e.last_offset}"
        if e.kind == EntryKind.NORMAL:
            text += f" {bytes(e.data).decode()!r}" if e.data else ""
        else:
            text += f" {e.kind.name}"
        parts.append(text)
    return " ".join(parts) if parts else "(none)"


@dataclass
class _Node:
    raw: RawNode
    storage: MemoryStorage
    config: Config
    applied: list[Entry] = field(default_factory=list)


class Cluster:
    """Nodes over MemoryStorage, an explicit outbox, and an optional transcript."""

    def __init__(self) -> None:
        self.nodes: dict[int, _Node] = {}
        self.outbox: list[Message] = []
        self.isolated: set[int] = set()
        self.dropped: list[Message] = []
        self.lines: list[str] = []

    # -- set-up ----------------------------------------------------------------------

    def add_nodes(
        self,
        ids: Iterable[int],
        voters: Iterable[int],
        learners: Iterable[int] = (),
        *,
        seed: int = 0,
        **settings: Any,
    ) -> None:
        """Add nodes that all start with the configuration (voters, learners)."""
        conf = ConfState.of(list(voters), list(learners))
        for node_id in ids:
            cfg = Config(node_id=node_id, seed=seed + node_id, **settings)
            storage = MemoryStorage(conf if node_id in conf.members() else None)
            self.nodes[node_id] = _Node(RawNode(cfg, storage), storage, cfg)

    def raw(self, node_id: int) -> RawNode:
        return self.nodes[node_id].raw

    def restart(self, node_id: int) -> None:
        """Rebuild the node from its storage (everything handled so far is durable)."""
        node = self.nodes[node_id]
        node.raw = RawNode(node.config, node.storage)
        self.outbox = [m for m in self.outbox if node_id not in (m.dst, m.src)]

    # -- driving -----------------------------------------------------------------------

    def log(self, line: str) -> None:
        self.lines.append(line)

    def handle_ready(self, node_id: int) -> bool:
        """Handle one Ready of a node as a real driver must (replication/ready.py)."""
        node = self.nodes[node_id]
        if not node.raw.has_ready():
            return False
        rd = node.raw.ready()
        self.log(f"> {node_id} ready")
        self._describe_ready(rd)
        self.outbox.extend(rd.messages)
        if rd.snapshot is not None:
            node.storage.apply_snapshot(rd.snapshot)
        if rd.truncate_to is not None:
            node.storage.truncate_to(rd.truncate_to)
        if rd.entries:
            node.storage.append(rd.entries)
        if rd.hard_state is not None:
            node.storage.set_hard_state(rd.hard_state)
        self.outbox.extend(rd.messages_after_persist)
        node.applied.extend(rd.committed_entries)
        node.raw.advance(rd)
        return True

    def _describe_ready(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            role = rd.soft_state.role.value
            self.log(f"  soft: role={role} leader={rd.soft_state.leader}")
        if rd.hard_state is not None:
            hs = rd.hard_state
            self.log(f"  hard: term={hs.term} vote={hs.vote} commit={hs.commit}")
        if rd.snapshot is not None:
            meta = rd.snapshot.meta
            self.log(f"  snapshot: ({meta.offset},{meta.term}) {meta.conf_state}")
        if rd.truncate_to is not None:
            self.log(f"  truncate_to: {rd.truncate_to}")
        if rd.entries:
            self.log(f"  entries: {describe_entries(rd.entries)}")
        if rd.committed_entries:
            self.log(f"  apply: {describe_entries(rd.committed_entries)}")
        for m in rd.messages:
            self.log(f"  send: {describe(m)}")
        for m in rd.messages_after_persist:
            self.log(f"  send after persist: {describe(m)}")

    def deliver(self, to: Iterable[int] | None = None, *, drop: bool = False) -> int:
        """Deliver (or drop) the queued messages addressed to ``to`` (default: all)."""
        targets = set(self.nodes) if to is None else set(to)
        now = [m for m in self.outbox if m.dst in targets]
        self.outbox = [m for m in self.outbox if m.dst not in targets]
        for m in now:
            if drop or m.src in self.isolated or m.dst in self.isolated:
                self.log(f"  dropped: {describe(m)}")
                self.dropped.append(m)
                continue
            self.log(f"> {m.dst} receives {describe(m)}")
            self.nodes[m.dst].raw.step(m)
        return len(now)

    def stabilize(self, ids: Iterable[int] | None = None) -> None:
        """Handle Readys and deliver messages until nothing moves."""
        targets = sorted(self.nodes if ids is None else ids)
        while True:
            moved = False
            for node_id in targets:
                while self.handle_ready(node_id):
                    moved = True
            if self.deliver(targets):
                moved = True
            if not moved:
                return

    def tick(self, node_id: int, count: int = 1) -> None:
        for _ in range(count):
            self.nodes[node_id].raw.tick()

    def elect(self, node_id: int) -> None:
        """Campaign on ``node_id`` and run until the cluster settles."""
        self.raw(node_id).campaign()
        self.stabilize()
        assert self.raw(node_id).role is Role.LEADER, f"{node_id} did not win"

    # -- views -----------------------------------------------------------------------

    def entries(self, node_id: int) -> list[Entry]:
        """The node's durable log (what its storage holds)."""
        return self.nodes[node_id].storage.all_entries()

    def leader(self) -> int | None:
        leaders = [i for i, n in self.nodes.items() if n.raw.role is Role.LEADER]
        return max(leaders, key=lambda i: self.raw(i).term) if leaders else None

    def take_lines(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines
