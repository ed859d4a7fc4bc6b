"""Controller quorum changes, the Raft side (issue 23; KRaft's AddVoter / RemoveVoter): the
controller leader walks the metadata group's configuration to the quorum the metadata
names (``ControllerVotersRecord``), one safe step at a time (``move_plan.quorum_step``).

As a partition move, it reads only the group's status and the image every ``interval_s``,
never a remembered state: a new controller leader (the old one crashed, or handed over
because it leaves the quorum) carries on where the group is. Every broker stays a member
of the metadata group: a voter that leaves is demoted to a learner, so it keeps the
metadata (and can be stopped for good afterwards without the quorum missing it).

Ownership: one per broker, on its event loop (owned by ``ClusterRuntime``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Set
from typing import Protocol

from logd.cluster.driver import RaftGroup
from logd.cluster.move_plan import StepKind, quorum_step
from replication import RaftError, Role

__all__ = ["QuorumMover"]

_log = logging.getLogger(__name__)


class _Store(Protocol):
    @property
    def group(self) -> RaftGroup | None: ...

    def broker_ids(self) -> set[int]: ...

    def target_voters(self) -> tuple[int, ...]: ...

    def unregistered(self) -> set[int]: ...


class QuorumMover:
    """Runs the steps of a controller quorum change while this broker leads the controller."""

    def __init__(
        self,
        store: Callable[[], _Store | None],
        touched: Callable[[RaftGroup], None],
        *,
        interval_s: float = 0.2,
        linked: Callable[[], Set[int]] | None = None,
    ) -> None:
        self._store = store
        self._touched = touched
        #: The brokers this one has links to: only those are added as learners (a broker
        #: that joined is, once the peer book opened its link: ``logd.cluster.joining``).
        self._linked = linked
        self.interval_s = interval_s

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.step()

    def step(self) -> None:
        store = self._store()
        group = store.group if store is not None else None
        if store is None or group is None or group.node.role is not Role.LEADER:
            return
        # No change ever asked for: the configured quorum stays; still, every registered
        # broker becomes a learner (one that joined, issue 23: ``logd.cluster.joining``).
        target = frozenset(store.target_voters()) or group.node.conf.voters
        members = frozenset(store.broker_ids())
        if self._linked is not None:
            members &= frozenset(self._linked())
        unregistered = frozenset(store.unregistered()) - members
        step = quorum_step(group.node.status(), target, members, unregistered)
        try:
            if step.kind is StepKind.CHANGE:
                _log.info("controller quorum: %s", step.why)
                group.node.propose_conf_change(step.changes)
                self._touched(group)
            elif step.kind is StepKind.TRANSFER:
                assert step.to is not None
                _log.info("controller quorum: %s", step.why)
                group.node.transfer_leadership(step.to)
                self._touched(group)
        except RaftError as exc:  # a refusal (not caught up, not leader): next round
            _log.debug("controller quorum step refused: %s", exc)
