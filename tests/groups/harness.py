"""A test driver for the sans-I/O group coordinator: request ids, a fake clock, a fake log.

It plays the part of the broker's async driver without any I/O: it drains ``ready()``,
keeps every answer by request id, and either makes writes durable at once (``auto_persist``)
or holds them until the test says so. The persisted records form the fake
``__consumer_offsets`` partition that a second coordinator can replay.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from logd.errors import ErrorCode
from logd.groups.config import CoordinatorConfig
from logd.groups.coordinator import GroupCoordinator
from logd.groups.messages import (
    Body,
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupProtocol,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupMember,
    LeaveGroupRequest,
    LeaveGroupResponse,
    OffsetCommitPartition,
    OffsetCommitRequest,
    OffsetCommitResponse,
    SyncGroupAssignment,
    SyncGroupRequest,
    SyncGroupResponse,
)
from logd.groups.outbox import OffsetsRecord, Write

__all__ = ["START_MS", "Harness", "Member", "protocols"]

START_MS = 1_700_000_000_000
SESSION_MS = 10_000
REBALANCE_MS = 30_000


def protocols(*names: str, metadata: bytes = b"sub") -> tuple[JoinGroupProtocol, ...]:
    return tuple(JoinGroupProtocol(n, metadata) for n in names or ("range",))


@dataclass
class Member:
    """What a test client knows about itself."""

    client_id: str
    instance_id: str | None = None
    member_id: str = ""
    generation: int = -1
    leader_id: str = ""
    assignment: bytes = b""
    protocols: tuple[JoinGroupProtocol, ...] = field(default_factory=protocols)
    session_ms: int = SESSION_MS
    rebalance_ms: int = REBALANCE_MS


class Harness:
    """Owns one coordinator and plays its driver. Not thread-safe; one per test."""

    def __init__(
        self,
        config: CoordinatorConfig | None = None,
        *,
        auto_persist: bool = True,
        replay: list[OffsetsRecord] | None = None,
        now_ms: int = START_MS,
        loaded: bool = True,
    ) -> None:
        self.config = config or CoordinatorConfig(min_session_timeout_ms=1_000)
        counter = itertools.count(1)
        self.coord = GroupCoordinator(self.config, lambda: f"m{next(counter)}")
        for record in replay or []:
            self.coord.replay(record.key, record.value)
        self.now = now_ms
        if loaded:
            self.coord.finish_loading(self.now)
        self.auto_persist = auto_persist
        self.responses: dict[int, Body] = {}
        self.held: list[Write] = []  # writes handed out, not yet reported
        self.log: list[OffsetsRecord] = []  # durable records, in order
        #: Partition counts a JoinGroup into a consumer-protocol group is served with.
        self.topics: dict[str, int] = {}
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ plumbing

    def drain(self) -> None:
        while ready := self.coord.ready():
            for response in ready.responses:
                assert response.request_id not in self.responses, "answered twice"
                self.responses[response.request_id] = response.body
            self.held.extend(ready.writes)
            if not self.auto_persist:
                return
            while self.held:
                self.persist_next()

    def persist_next(
        self, error: ErrorCode = ErrorCode.NONE, *, reached_log: bool = False
    ) -> Write:
        """Report the next write durable, or failed with ``error`` (its records in the
        log when ``reached_log``: a commit that did not come in time)."""
        write = self.held.pop(0)
        if error is ErrorCode.NONE or reached_log:
            self.log.extend(write.records)
        if error is ErrorCode.NONE:
            self.coord.on_persisted(write.write_id, self.now)
        else:
            self.coord.on_persist_failed(write.write_id, error, self.now)
        self._after_report()
        return write

    def refuse_next(self, error: ErrorCode = ErrorCode.KAFKA_STORAGE_ERROR) -> Write:
        """The log refuses the next write (its append failed): nothing of it is stored."""
        write = self.held.pop(0)
        self.coord.on_append_refused(write.write_id, error, self.now)
        self._after_report()
        return write

    def _after_report(self) -> None:
        if self.auto_persist:
            self.drain()
        else:
            self._collect()

    def _collect(self) -> None:
        ready = self.coord.ready()
        for response in ready.responses:
            self.responses[response.request_id] = response.body
        self.held.extend(ready.writes)

    def advance(self, ms: int) -> None:
        self.now += ms
        self.coord.tick(self.now)
        self.drain()

    def run_timers(self, until_ms: int) -> None:
        """Tick at every deadline up to ``until_ms`` (as a driver that sleeps exactly)."""
        while (deadline := self.coord.next_deadline_ms()) is not None and deadline <= until_ms:
            self.now = max(self.now, deadline)
            self.coord.tick(self.now)
            self.drain()
        self.now = max(self.now, until_ms)
        self.coord.tick(self.now)
        self.drain()

    def run_until_answered(self, *request_ids: int, limit_ms: int = 60_000) -> None:
        """Tick deadline by deadline until every request is answered (or ``limit_ms``)."""
        until = self.now + limit_ms
        while any(r not in self.responses for r in request_ids):
            deadline = self.coord.next_deadline_ms()
            assert deadline is not None and deadline <= until, "no answer in time"
            self.now = max(self.now, deadline)
            self.coord.tick(self.now)
            self.drain()

    def answer(self, request_id: int) -> Body | None:
        return self.responses.get(request_id)

    def _next(self) -> int:
        return next(self._ids)

    # ------------------------------------------------------------------ requests

    def send_join(self, group: str, m: Member) -> int:
        rid = self._next()
        req = JoinGroupRequest(
            group_id=group,
            member_id=m.member_id,
            protocol_type="consumer",
            protocols=m.protocols,
            session_timeout_ms=m.session_ms,
            rebalance_timeout_ms=m.rebalance_ms,
            group_instance_id=m.instance_id,
            client_id=m.client_id,
            client_host="/10.0.0.1",
        )
        self.coord.join_group(rid, req, self.now, self.topics)
        self.drain()
        return rid

    def join_response(self, rid: int, m: Member) -> JoinGroupResponse | None:
        """The JoinGroup answer, if any, applied to ``m`` as a client would."""
        body = self.answer(rid)
        if body is None:
            return None
        assert isinstance(body, JoinGroupResponse)
        if body.error in (ErrorCode.NONE, ErrorCode.MEMBER_ID_REQUIRED):
            m.member_id = body.member_id
        if body.error is ErrorCode.NONE:
            m.generation = body.generation_id
            m.leader_id = body.leader_id
        return body

    def join(self, group: str, m: Member) -> int:
        """JoinGroup, redoing it once with the id a MEMBER_ID_REQUIRED answer hands out.
        Returns the request id of the (possibly parked) last JoinGroup."""
        rid = self.send_join(group, m)
        body = self.join_response(rid, m)
        if body is not None and body.error is ErrorCode.MEMBER_ID_REQUIRED:
            rid = self.send_join(group, m)
            self.join_response(rid, m)
        return rid

    def sync(self, group: str, m: Member, assignments: dict[str, bytes] | None = None) -> int:
        rid = self._next()
        req = SyncGroupRequest(
            group_id=group,
            generation_id=m.generation,
            member_id=m.member_id,
            group_instance_id=m.instance_id,
            assignments=tuple(SyncGroupAssignment(k, v) for k, v in (assignments or {}).items()),
        )
        self.coord.sync_group(rid, req, self.now)
        self.drain()
        return rid

    def sync_response(self, rid: int, m: Member) -> SyncGroupResponse | None:
        body = self.answer(rid)
        if body is None:
            return None
        assert isinstance(body, SyncGroupResponse)
        if body.error is ErrorCode.NONE:
            m.assignment = body.assignment
        return body

    def heartbeat(self, group: str, m: Member) -> ErrorCode:
        rid = self._next()
        req = HeartbeatRequest(group, m.generation, m.member_id, m.instance_id)
        self.coord.heartbeat(rid, req, self.now)
        self.drain()
        body = self.answer(rid)
        assert isinstance(body, HeartbeatResponse)
        return body.error

    def leave(self, group: str, *members: LeaveGroupMember) -> LeaveGroupResponse:
        rid = self._next()
        self.coord.leave_group(rid, LeaveGroupRequest(group, members), self.now)
        self.drain()
        body = self.answer(rid)
        assert isinstance(body, LeaveGroupResponse)
        return body

    def send_commit(
        self,
        group: str,
        offsets: dict[tuple[str, int], int],
        m: Member | None = None,
        generation: int | None = None,
    ) -> int:
        rid = self._next()
        req = OffsetCommitRequest(
            group_id=group,
            partitions=tuple(OffsetCommitPartition(t, p, o) for (t, p), o in offsets.items()),
            generation_id=(m.generation if m else -1) if generation is None else generation,
            member_id=m.member_id if m else "",
            group_instance_id=m.instance_id if m else None,
        )
        self.coord.commit_offsets(rid, req, self.now)
        self.drain()
        return rid

    def commit(
        self,
        group: str,
        offsets: dict[tuple[str, int], int],
        m: Member | None = None,
        generation: int | None = None,
    ) -> list[ErrorCode]:
        body = self.answer(self.send_commit(group, offsets, m, generation))
        assert isinstance(body, OffsetCommitResponse), "commit not answered"
        return [p.error for p in body.partitions]

    def committed(self, group: str) -> dict[tuple[str, int], int]:
        response = self.coord.fetch_offsets(group)
        assert response.error is ErrorCode.NONE
        return {(p.topic, p.partition): p.offset for p in response.partitions}

    # ------------------------------------------------------------------ composite

    def form(self, group: str, *members: Member, assign: bool = True) -> None:
        """Bring ``members`` into one Stable generation: everyone joins, the join phase
        ends (at once, or after the initial delay), the leader assigns "p<i>" to each."""
        rids = [self.join(group, m) for m in members]
        self.run_until_answered(*rids)
        for rid, m in zip(rids, members, strict=True):
            body = self.join_response(rid, m)
            assert body is not None and body.error is ErrorCode.NONE, body
        if not assign:
            return
        leader = next(m for m in members if m.member_id == m.leader_id)
        plan = {m.member_id: f"p{i}".encode() for i, m in enumerate(members)}
        syncs = [self.sync(group, m, plan if m is leader else None) for m in members]
        for rid, m in zip(syncs, members, strict=True):
            synced = self.sync_response(rid, m)
            assert synced is not None and synced.error is ErrorCode.NONE, synced
