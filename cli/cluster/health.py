"""``logd cluster health [--exit-when-healthy]``: healthy only when every broker is alive and
not degraded (a disk below its reserve, an offline log ...), every partition has a leader
and every replica is in sync. Exits 10 while unhealthy. Low space (below the alert) is shown
but does not make the cluster unhealthy.

The text shows at most :data:`SHOWN` partitions of each list and says how many more there
are (10,000 leaderless partitions made one 300,000-character line); ``--format json``
gives the whole lists, for scripts."""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence

from cli import status
from cli.app import App
from cli.common import open_admin

__all__ = ["SHOWN", "Health", "add_arguments", "assess", "capped", "run"]

_POLL_INTERVAL_S = 1.0
#: Names of each list printed in text output.
SHOWN = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--exit-when-healthy",
        action="store_true",
        help="keep checking until the cluster is healthy, then exit 0",
    )


@dataclasses.dataclass(frozen=True)
class Health:
    controller_id: int
    nodes: list[int]
    nodes_down: list[int]
    leaderless: list[str]
    under_replicated: list[str]
    #: broker id -> why it is degraded (issue 24).
    degraded: dict[int, str] = dataclasses.field(default_factory=dict)
    #: broker id -> its low-space alert.
    low_space: dict[int, str] = dataclasses.field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.controller_id >= 0 and not (
            self.nodes_down or self.leaderless or self.under_replicated or self.degraded
        )


def assess(admin: object) -> Health:
    """One look at the cluster through the public client."""
    cluster = admin.describe_cluster()  # type: ignore[attr-defined]
    listings = admin.list_topics(include_internal=True)  # type: ignore[attr-defined]
    names = [t.name for t in listings]
    topics = admin.describe_topics(names) if names else []  # type: ignore[attr-defined]
    leaderless, under = [], []
    for topic in topics:
        for p in sorted(topic.partitions, key=lambda p: p.partition):
            name = f"{topic.name}/{p.partition}"
            if p.leader < 0:
                leaderless.append(name)
            if set(p.isr) != set(p.replicas):
                under.append(name)
    nodes = sorted(b.node_id for b in cluster.brokers)
    down = sorted(b.node_id for b in cluster.brokers if not b.alive)
    degraded = {b.node_id: b.degraded for b in cluster.brokers if b.alive and b.degraded}
    low = {b.node_id: b.warning for b in cluster.brokers if b.alive and b.warning}
    return Health(cluster.controller_id, nodes, down, leaderless, under, degraded, low)


def _show(app: App, health: Health) -> None:
    if app.output_format == "json":
        app.json({"healthy": health.healthy, **dataclasses.asdict(health)})
        return
    rows = [
        ("Healthy:", str(health.healthy).lower()),
        ("Controller ID:", health.controller_id if health.controller_id >= 0 else "none"),
        ("All nodes:", health.nodes),
        ("Nodes down:", health.nodes_down),
        (f"Leaderless partitions ({len(health.leaderless)}):", health.leaderless),
        (f"Under-replicated partitions ({len(health.under_replicated)}):", health.under_replicated),
        ("Degraded nodes:", sorted(health.degraded)),
        ("Low-space nodes:", sorted(health.low_space)),
    ]
    width = max(len(label) for label, _ in rows)
    app.print("CLUSTER HEALTH OVERVIEW")
    app.print("=======================")
    for label, value in rows:
        text = capped(value) if isinstance(value, list) else value
        app.print(f"{label.ljust(width)}  {text}")
    for node, why in sorted(health.degraded.items()):
        app.print(f"node {node} degraded: {why}")
    for node, why in sorted(health.low_space.items()):
        app.print(f"node {node} low on space: {why}")


def capped(values: Sequence[object], shown: int = SHOWN) -> str:
    """``[a b c]``, or the first ``shown`` and how many more."""
    text = "[" + " ".join(str(v) for v in values[:shown]) + "]"
    more = len(values) - shown
    return f"{text} and {more} more" if more > 0 else text


def run(app: App, args: argparse.Namespace) -> int:
    admin = open_admin(app)
    try:
        while True:
            health = assess(admin)
            if health.healthy or not args.exit_when_healthy:
                break
            time.sleep(_POLL_INTERVAL_S)  # a CLI watch loop, not a test: polling is the job
    finally:
        admin.close()
    _show(app, health)
    return status.OK if health.healthy else status.UNHEALTHY
