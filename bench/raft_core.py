"""Throughput of the pure Raft core: a 3-node group in one process, no I/O.

Measures what Python costs per entry on the replication hot path -- propose, Ready,
AppendRequest to two followers, their Readys and acknowledgements, commit -- with
``per_ready`` proposals (record batches) between two Readys of the leader.

    .venv/bin/python -m bench.raft_core [--entries N] [--per-ready K ...]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from replication import Config, ConfState, MemoryStorage, RawNode, Role

__all__ = ["run"]


def _drive(nodes: dict[int, RawNode], stores: dict[int, MemoryStorage]) -> None:
    """One driver round per node: handle its Ready, deliver what it sends."""
    moved = True
    while moved:
        moved = False
        for node_id, raw in nodes.items():
            if not raw.has_ready():
                continue
            moved = True
            rd = raw.ready()
            store = stores[node_id]
            if rd.truncate_to is not None:
                store.truncate_to(rd.truncate_to)
            if rd.entries:
                store.append(rd.entries)
            if rd.hard_state is not None:
                store.set_hard_state(rd.hard_state)
            raw.advance(rd)
            for m in rd.messages:
                nodes[m.dst].step(m)
            for m in rd.messages_after_persist:
                nodes[m.dst].step(m)


def run(entries: int, per_ready: int, payload: int = 1024) -> float:
    """Entries committed per second."""
    ids = [1, 2, 3]
    stores = {i: MemoryStorage(ConfState.of(ids)) for i in ids}
    cfg: dict[str, Any] = {"pre_vote": False, "check_quorum": False, "apply_entries": False}
    nodes = {i: RawNode(Config(node_id=i, **cfg), stores[i]) for i in ids}
    nodes[1].campaign()
    _drive(nodes, stores)
    assert nodes[1].role is Role.LEADER
    data = bytes(payload)
    leader = nodes[1]
    start = time.perf_counter()
    done = 0
    while done < entries:
        for _ in range(per_ready):
            leader.propose(data, 10)
        done += per_ready
        _drive(nodes, stores)
    elapsed = time.perf_counter() - start
    assert leader.commit == leader.last_offset
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.raft_core")
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--per-ready", type=int, nargs="*", default=[1, 10, 100])
    args = parser.parse_args()
    for k in args.per_ready:
        rate = run(args.entries, k)
        print(f"per_ready={k:<4} {rate:>10,.0f} entries/s committed  {1e6 / rate:6.1f} us/entry")


if __name__ == "__main__":
    main()
