"""The context every group operation works in: groups, timers, outbox, clock, config.

``membership.py``, ``join.py``, ``rebalance.py`` and ``offsets.py`` are functions over a
:class:`Core`; the public facade is :class:`~logd.groups.coordinator.GroupCoordinator`.
Time is whatever the driver last passed as ``now_ms`` (never read from a clock here), and
it never goes backwards inside the core even if the wall clock does.

Not thread-safe; owned by its coordinator.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

from logd.errors import ErrorCode
from logd.groups.config import CoordinatorConfig
from logd.groups.group import Group, Member
from logd.groups.log_format import (
    GroupMetadataKey,
    encode_group_metadata_key,
    encode_group_metadata_value,
)
from logd.groups.messages import JoinGroupResponse, SyncGroupResponse
from logd.groups.outbox import OffsetsRecord, OnDurable, Outbox
from logd.groups.state import GroupState
from logd.groups.timers import TimerKey, TimerKind, Timers

__all__ = ["Core", "group_store_error", "offset_store_error", "validate_current_member"]

# Member ids are "<client id or instance id>-<suffix>"; the prefix is cut so that an id
# always fits the persisted int16 string however long the client id is.
_MEMBER_ID_PREFIX_CHARS = 128


def group_store_error(error: ErrorCode) -> ErrorCode:
    """What a member is told when persisting group metadata failed (Kafka's storeGroup)."""
    if error in (
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
        ErrorCode.NOT_ENOUGH_REPLICAS,
        ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        ErrorCode.REQUEST_TIMED_OUT,
    ):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if error in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if error in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE):
        return ErrorCode.UNKNOWN_SERVER_ERROR
    return error


def offset_store_error(error: ErrorCode) -> ErrorCode:
    """What a committer is told when persisting its offsets failed (Kafka's storeOffsets)."""
    if error in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE):
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE
    return group_store_error(error)


def validate_current_member(group: Group, member_id: str, instance_id: str | None) -> ErrorCode:
    """Kafka's ``validateCurrentMember``: a static member's instance id must map to this
    member id (else it was replaced: FENCED_INSTANCE_ID), and the member must exist."""
    if instance_id is not None:
        current = group.static_members.get(instance_id)
        if current is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if current != member_id:
            return ErrorCode.FENCED_INSTANCE_ID
    if member_id not in group.members:
        return ErrorCode.UNKNOWN_MEMBER_ID
    return ErrorCode.NONE


class Core:
    """Shared state and the small helpers every operation needs.

    Not thread-safe; owned by its coordinator.
    """

    __slots__ = (
        "_member_id_suffix",
        "config",
        "groups",
        "now_ms",
        "outbox",
        "timers",
        "topic_ids",
        "topics_version",
    )

    def __init__(
        self, config: CoordinatorConfig, member_id_suffix: Callable[[], str], now_ms: int
    ) -> None:
        self.config = config
        self.groups: dict[str, Group] = {}
        self.timers = Timers()
        self.outbox = Outbox()
        self.now_ms = now_ms
        self._member_id_suffix = member_id_suffix
        #: Topic ids by name, as the driver last told them (consumer-group records name
        #: partitions by topic id, as Kafka's do).
        self.topic_ids: dict[str, uuid.UUID] = {}
        #: The driver's topic-set version ``topic_ids`` was last updated at.
        self.topics_version: int | None = None

    # ------------------------------------------------------------------ groups

    def new_member_id(self, group: Group, prefix: str) -> str:
        """A member id unused in ``group`` (Kafka: client id or instance id, "-", a UUID)."""
        prefix = (prefix or "member")[:_MEMBER_ID_PREFIX_CHARS]
        for _ in range(100):
            member_id = f"{prefix}-{self._member_id_suffix()}"
            if member_id not in group.members and member_id not in group.pending_members:
                return member_id
        raise AssertionError("member_id_suffix keeps returning ids that are in use")

    def new_consumer_member_id(self) -> str:
        """A member id for a consumer-protocol member that brought none (API version 0)."""
        return self._member_id_suffix()

    def topic_id(self, name: str) -> uuid.UUID:
        """The id of topic ``name``; one derived from the name if the driver named none
        (a topic deleted meanwhile: its partitions are only being revoked)."""
        known = self.topic_ids.get(name)
        return known if known is not None else uuid.uuid5(uuid.NAMESPACE_URL, f"logd:{name}")

    def maybe_drop(self, group: Group) -> None:
        """Forget a group that never got anywhere: empty, never persisted, nothing pending.
        (A group with a persisted generation stays until retention or a delete tombstones
        it, so the log and the memory agree.)"""
        if (
            self.groups.get(group.group_id) is group
            and group.state is GroupState.EMPTY
            and group.generation_id == 0
            and not group.members
            and not group.pending_members
            and not group.has_offsets()
            and not (group.consumer is not None and group.consumer.members)
        ):
            del self.groups[group.group_id]

    # ------------------------------------------------------------------ timers

    def arm_heartbeat(self, group: Group, member: Member, timeout_ms: int | None = None) -> None:
        """(Re)start the member's session: it must be heard from within the timeout."""
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        key = TimerKey(TimerKind.HEARTBEAT, group.group_id, member.member_id)
        self.timers.arm(key, self.now_ms + timeout)

    def cancel_member_timers(self, group: Group, member_id: str) -> None:
        self.timers.cancel(TimerKey(TimerKind.HEARTBEAT, group.group_id, member_id))
        self.timers.cancel(TimerKey(TimerKind.PENDING_MEMBER, group.group_id, member_id))

    def cancel_group_timers(self, group: Group) -> None:
        for kind in (TimerKind.JOIN, TimerKind.SYNC, TimerKind.CONSUMER):
            self.timers.cancel(TimerKey(kind, group.group_id))
        for member_id in (*group.members, *group.pending_members):
            self.cancel_member_timers(group, member_id)

    # ------------------------------------------------------------------ parked requests

    def park_join(self, member: Member, request_id: int) -> None:
        """Hold ``request_id`` until the join phase ends. A JoinGroup already parked for
        this member was superseded by the client's retry: it is told to rejoin."""
        if member.awaiting_join is not None:
            self.outbox.respond(
                member.awaiting_join,
                JoinGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS, member.member_id),
            )
        member.awaiting_join = request_id

    def park_sync(self, member: Member, request_id: int) -> None:
        if member.awaiting_sync is not None:
            self.outbox.respond(
                member.awaiting_sync, SyncGroupResponse(ErrorCode.REBALANCE_IN_PROGRESS)
            )
        member.awaiting_sync = request_id

    def answer_join(self, member: Member, response: JoinGroupResponse) -> bool:
        if member.awaiting_join is None:
            return False
        self.outbox.respond(member.awaiting_join, response)
        member.awaiting_join = None
        return True

    def answer_sync(self, member: Member, response: SyncGroupResponse) -> bool:
        if member.awaiting_sync is None:
            return False
        self.outbox.respond(member.awaiting_sync, response)
        member.awaiting_sync = None
        return True

    def fail_parked(self, member: Member, error: ErrorCode, member_id: str = "") -> None:
        """Answer whatever ``member`` has parked with ``error`` (it is leaving or fenced)."""
        self.answer_join(member, JoinGroupResponse(error, member_id))
        self.answer_sync(member, SyncGroupResponse(error))

    # ------------------------------------------------------------------ persistence

    def persist_group(
        self, group: Group, assignments: Mapping[str, bytes] | None, on_durable: OnDurable
    ) -> None:
        """Write the group's metadata (with ``assignments``, else the current ones)."""
        key = encode_group_metadata_key(GroupMetadataKey(group.group_id))
        value = encode_group_metadata_value(group.metadata_value(assignments))
        self.outbox.write((OffsetsRecord(key, value),), on_durable)
