"""One consumer group's in-memory state: members, generation, leader, protocol, offsets.

This module holds data and small queries over it; the decisions (who joins, when a
rebalance starts or ends, what is answered) live in ``membership.py`` and ``offsets.py``.
Member order is insertion order everywhere (dicts, never sets), so that the leader chosen
after a removal, the members listed to the leader and everything persisted are the same on
every run — the core is deterministic.

Not thread-safe; owned by the :class:`~logd.groups.coordinator.GroupCoordinator` that holds
it, which is owned by one driver task.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from logd.groups.consumer_group import ConsumerGroup
from logd.groups.log_format import GroupMetadataValue, MemberMetadataValue, OffsetCommitValue
from logd.groups.messages import JoinGroupProtocol, TopicPartition
from logd.groups.state import GroupEvent, GroupState, next_state

__all__ = ["Group", "Member"]


class Member:
    """A member of a group. ``awaiting_join``/``awaiting_sync`` hold the request id of a
    parked JoinGroup/SyncGroup (Kafka's ``awaitingJoinCallback``/``awaitingSyncCallback``).

    Not thread-safe; owned by its group.
    """

    __slots__ = (
        "assignment",
        "awaiting_join",
        "awaiting_sync",
        "client_host",
        "client_id",
        "group_instance_id",
        "is_new",
        "member_id",
        "protocols",
        "rebalance_timeout_ms",
        "session_timeout_ms",
    )

    def __init__(
        self,
        member_id: str,
        group_instance_id: str | None,
        client_id: str,
        client_host: str,
        rebalance_timeout_ms: int,
        session_timeout_ms: int,
        protocols: tuple[JoinGroupProtocol, ...],
        assignment: bytes = b"",
    ) -> None:
        self.member_id = member_id
        self.group_instance_id = group_instance_id
        self.client_id = client_id
        self.client_host = client_host
        self.rebalance_timeout_ms = rebalance_timeout_ms
        self.session_timeout_ms = session_timeout_ms
        self.protocols = protocols
        self.assignment = assignment
        self.awaiting_join: int | None = None
        self.awaiting_sync: int | None = None
        # A member added by this join round: its session timer does not run yet (it has no
        # id to heartbeat with until the join completes), Kafka's ``isNew``.
        self.is_new = False

    def protocol_names(self) -> list[str]:
        return [p.name for p in self.protocols]

    def metadata_for(self, protocol_name: str) -> bytes:
        for protocol in self.protocols:
            if protocol.name == protocol_name:
                return protocol.metadata
        raise AssertionError(f"member {self.member_id} does not support {protocol_name}")

    def matches(self, protocols: tuple[JoinGroupProtocol, ...]) -> bool:
        """Same protocols, same order, same metadata: a rejoin that changes nothing."""
        return protocols == self.protocols

    def vote(self, candidates: Iterable[str]) -> str:
        """The member's most preferred protocol among ``candidates``."""
        allowed = set(candidates)
        for protocol in self.protocols:
            if protocol.name in allowed:
                return protocol.name
        raise AssertionError(f"member {self.member_id} supports none of the candidates")


class Group:
    """A group's membership and offsets. ``protocol_type``/``protocol_name``/``leader_id``
    use "" for "none". Offsets here are durable ones only; commits whose records are not yet
    persisted are counted in ``pending_commits``.

    Invariant: ``leader_id`` is a member id when there are members, else "".
    Invariant: ``static_members`` maps each static member's instance id to its member id.

    Not thread-safe; owned by its coordinator.
    """

    __slots__ = (
        "assignment_in_flight",
        "consumer",
        "current_state_timestamp_ms",
        "generation_id",
        "group_id",
        "initial_delay_remaining_ms",
        "leader_id",
        "members",
        "new_member_added",
        "offsets",
        "pending_commits",
        "pending_members",
        "pending_sync",
        "protocol_name",
        "protocol_type",
        "state",
        "static_members",
    )

    def __init__(self, group_id: str, now_ms: int) -> None:
        self.group_id = group_id
        self.state = GroupState.EMPTY
        self.generation_id = 0
        self.protocol_type = ""
        self.protocol_name = ""
        self.leader_id = ""
        self.current_state_timestamp_ms = now_ms
        self.members: dict[str, Member] = {}
        self.static_members: dict[str, str] = {}
        # Member ids handed out with MEMBER_ID_REQUIRED and not yet used to join (KIP-394).
        self.pending_members: dict[str, None] = {}
        # Members of the new generation that have not sent their SyncGroup yet.
        self.pending_sync: dict[str, None] = {}
        # Kafka's InitialDelayedJoin: set while the first rebalance of an empty group waits
        # for more members; ``new_member_added`` extends the wait by another delay.
        self.initial_delay_remaining_ms: int | None = None
        self.new_member_added = False
        # True while the leader's assignment is being persisted (Completing -> Stable).
        self.assignment_in_flight = False
        self.offsets: dict[TopicPartition, OffsetCommitValue] = {}
        self.pending_commits: dict[TopicPartition, int] = {}
        # Set when the group speaks the consumer protocol (KIP-848): its members live there.
        self.consumer: ConsumerGroup | None = None

    # ------------------------------------------------------------------ state

    def transition(self, event: GroupEvent, now_ms: int) -> None:
        """Move along :data:`~logd.groups.state.TRANSITIONS` (raises on an illegal pair)."""
        new = next_state(self.state, event)
        if new is not self.state:
            self.current_state_timestamp_ms = now_ms
        self.state = new

    def is_(self, *states: GroupState) -> bool:
        return self.state in states

    def is_empty(self) -> bool:
        """No member of either kind: classic Empty, and no consumer-protocol member."""
        return self.state is GroupState.EMPTY and not (
            self.consumer is not None and self.consumer.members
        )

    # ------------------------------------------------------------------ members

    def add(self, member: Member, protocol_type: str) -> None:
        """Add a member that joined with ``protocol_type`` (which the first member sets)."""
        assert member.member_id not in self.members, member.member_id
        if not self.members:
            self.protocol_type = protocol_type
        assert protocol_type == self.protocol_type
        self.members[member.member_id] = member
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if not self.leader_id:
            self.leader_id = member.member_id

    def remove(self, member_id: str) -> Member:
        member = self.members.pop(member_id)
        if member.group_instance_id is not None:
            self.static_members.pop(member.group_instance_id, None)
        self.pending_sync.pop(member_id, None)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), "")
        return member

    def replace_static_member(self, instance_id: str, old_id: str, new_id: str) -> Member:
        """The member of ``instance_id`` continues under ``new_id`` (KIP-345)."""
        member = self.members.pop(old_id)
        assert member.group_instance_id == instance_id
        member.member_id = new_id
        self.members[new_id] = member
        self.static_members[instance_id] = new_id
        if old_id in self.pending_sync:
            del self.pending_sync[old_id]
            self.pending_sync[new_id] = None
        if self.leader_id == old_id:
            self.leader_id = new_id
        return member

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def has_all_members_joined(self) -> bool:
        return not self.pending_members and all(
            m.awaiting_join is not None for m in self.members.values()
        )

    def elect_joined_leader(self) -> bool:
        """Kafka's ``maybeElectNewJoinedLeader``: keep the leader if it rejoined, else make
        the first member that rejoined the leader; False when nobody rejoined."""
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.awaiting_join is not None:
            return True
        for member in self.members.values():
            if member.awaiting_join is not None:
                self.leader_id = member.member_id
                return True
        return False

    # ------------------------------------------------------------------ protocols

    def candidate_protocols(self, excluding: str = "") -> set[str] | None:
        """Protocols every member (but ``excluding``) supports; None when there is nobody."""
        common: set[str] | None = None
        for member in self.members.values():
            if member.member_id == excluding:
                continue
            names = set(member.protocol_names())
            common = names if common is None else common & names
        return common

    def supports_protocols(self, protocol_type: str, names: list[str], member_id: str) -> bool:
        """Can a member (``member_id``, "" for a new one) join with these protocols? Kafka's
        ``supportsProtocols``, except that a rejoining member is checked against the others
        only — its own previous protocols do not count."""
        if not protocol_type or not names:
            return False
        if self.members and protocol_type != self.protocol_type:
            return False
        candidates = self.candidate_protocols(excluding=member_id)
        return candidates is None or not candidates.isdisjoint(names)

    def select_protocol(self) -> str:
        """The protocol of the next generation: each member votes for its most preferred
        protocol that all support; most votes wins, ties go to the leader's preference."""
        candidates = self.candidate_protocols()
        assert candidates, f"group {self.group_id} has no common protocol"
        votes: dict[str, int] = {}
        for member in self.members.values():
            choice = member.vote(candidates)
            votes[choice] = votes.get(choice, 0) + 1
        leader = self.members[self.leader_id]
        order = [n for n in leader.protocol_names() if n in candidates]
        return max(order, key=lambda name: (votes.get(name, 0), -order.index(name)))

    # ------------------------------------------------------------------ offsets

    def has_offsets(self) -> bool:
        return bool(self.offsets) or bool(self.pending_commits)

    # ------------------------------------------------------------------ persistence

    def metadata_value(self, assignments: Mapping[str, bytes] | None = None) -> GroupMetadataValue:
        """The GroupMetadataValue for this group now (with ``assignments`` if given, else the
        members' current assignments)."""
        members = tuple(
            MemberMetadataValue(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                rebalance_timeout_ms=m.rebalance_timeout_ms,
                session_timeout_ms=m.session_timeout_ms,
                subscription=m.metadata_for(self.protocol_name),
                assignment=m.assignment if assignments is None else assignments[m.member_id],
            )
            for m in self.members.values()
        )
        return GroupMetadataValue(
            protocol_type=self.protocol_type,
            generation_id=self.generation_id,
            protocol_name=self.protocol_name or None,
            leader_id=self.leader_id or None,
            current_state_timestamp_ms=self.current_state_timestamp_ms,
            members=members,
        )

    @classmethod
    def loaded(cls, group_id: str, value: GroupMetadataValue, now_ms: int) -> Group:
        """A group rebuilt from its last GroupMetadataValue: Stable with its members and
        their assignments, or Empty (Kafka's ``GroupMetadata.loadGroup``). ``value`` was
        checked by the loader."""
        group = cls(group_id, now_ms)
        group.generation_id = value.generation_id
        group.protocol_type = value.protocol_type
        if value.current_state_timestamp_ms >= 0:
            group.current_state_timestamp_ms = value.current_state_timestamp_ms
        if not value.members:
            return group
        assert value.protocol_name, "the loader checked: members need a protocol"
        group.protocol_name = value.protocol_name
        for m in value.members:
            member = Member(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                rebalance_timeout_ms=m.rebalance_timeout_ms,
                session_timeout_ms=m.session_timeout_ms,
                protocols=(JoinGroupProtocol(value.protocol_name, m.subscription),),
                assignment=m.assignment,
            )
            group.add(member, value.protocol_type)
        if value.leader_id in group.members:
            group.leader_id = value.leader_id
        group.state = GroupState.STABLE  # loading builds a state, it is not a transition
        return group
