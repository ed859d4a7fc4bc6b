"""The application's half of a consumer group, shared by ``Consumer`` and ``AsyncConsumer``.

What runs on the application's side (see :mod:`logd.client.group.events` for why): the
subscription's checks, applying a rebalance step to the :class:`SubscriptionState`
(partitions added at their committed offsets, partitions removed), choosing the user
callback of a step, and the auto-commit clock. Auto-commit, commit on revoke and commit on
close all take the *positions* at a poll boundary -- everything returned before this
``poll()`` counts as processed, as in Kafka -- so delivery is at-least-once: a crash
repeats at most what was returned since the last commit.

What a shell does at a poll boundary and when it gives everything up comes from here as
:mod:`~logd.client.consumer.actions` (:meth:`GroupSide.poll_actions`,
:meth:`GroupSide.give_up_actions`); the shells only execute them, so the two cannot drift.

Owned by the application's thread (the asyncio consumer's loop); not thread-safe.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from logd.client.config import ConsumerConfig
from logd.client.consumer.actions import (
    Actions,
    Callback,
    CommitInBackground,
    CommitNow,
    Invoke,
    WakeFetcher,
)
from logd.client.consumer.fetch_buffer import RecordReader
from logd.client.consumer.subscription import SubscriptionState, check_partition
from logd.client.group.events import RebalanceEvent
from logd.client.group.membership import GroupMembership
from logd.client.group.steps import EventKind
from logd.client.types import OFFSET_INVALID, ConsumerRecord, PartitionKey, TopicPartition
from logd.clock import Clock
from logd.errors import InvalidRequestError, LogdError

__all__ = ["Callback", "GroupSide", "Mode", "topic_matcher"]

_log = logging.getLogger(__name__)


class Mode:
    NONE = ""
    ASSIGN = "assign"
    SUBSCRIBE = "subscribe"


def topic_matcher(
    topics: Iterable[str], pattern: str | None
) -> tuple[list[str], Callable[[str], bool] | None]:
    """(explicit topics, matcher): ``pattern`` is a regular expression a whole topic name
    must match (Java's and aiokafka's ``pattern``); a topic given as ``^regex`` matches
    names that start with a match of it (confluent-kafka/librdkafka). With any regex, every
    topic is found through the matcher (explicit names included)."""
    names = [topics] if isinstance(topics, str) else list(topics)
    plain: set[str] = set()
    regexes: list[re.Pattern[str]] = []
    for name in names:
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(f"topics must be non-empty strings, got {name!r}")
        if name.startswith("^"):
            regexes.append(_compile(name))
        else:
            plain.add(name)
    whole = _compile(pattern) if pattern is not None else None
    if not regexes and whole is None:
        if not plain:
            raise InvalidRequestError("subscribe() needs topics or a pattern")
        return sorted(plain), None

    def matches(topic: str) -> bool:
        return (
            topic in plain
            or (whole is not None and whole.fullmatch(topic) is not None)
            or any(r.search(topic) for r in regexes)
        )

    return sorted(plain), matches


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InvalidRequestError(f"bad topic pattern {pattern!r}: {exc}") from None


class GroupSide:
    """See the module docstring."""

    def __init__(
        self,
        config: ConsumerConfig,
        subscription: SubscriptionState,
        reader: RecordReader,
        membership: GroupMembership | None,
        clock: Clock,
    ) -> None:
        self.config = config
        self.subs = subscription
        self.reader = reader
        self.membership = membership
        self.clock = clock
        self.mode = Mode.NONE
        self.on_assign: Callback | None = None
        self.on_revoke: Callback | None = None
        self.on_lost: Callback | None = None
        self._interval_s = config.auto_commit_interval_ms / 1000.0
        #: When auto-commit is next due (monotonic s); never with auto-commit off.
        self.next_auto_commit = (
            clock.monotonic() + self._interval_s if config.enable_auto_commit else float("inf")
        )
        #: What was last committed per partition: unchanged positions are not sent again.
        self.committed: dict[PartitionKey, int] = {}
        #: Set (from the loop) when an asynchronous commit failed: send everything next time.
        self.commit_failed = False

    @property
    def grouped(self) -> GroupMembership:
        if self.membership is None:
            raise InvalidRequestError("this needs a group: create the consumer with group_id")
        return self.membership

    def use(self, mode: str) -> None:
        """assign() and subscribe() exclude each other (as in Kafka) until unsubscribe()."""
        if self.mode not in (Mode.NONE, mode):
            raise InvalidRequestError(
                f"the consumer uses {self.mode}(); call unsubscribe() before {mode}()"
            )
        self.mode = mode

    def set_callbacks(
        self, on_assign: Callback | None, on_revoke: Callback | None, on_lost: Callback | None
    ) -> None:
        for name, fn in (("on_assign", on_assign), ("on_revoke", on_revoke), ("on_lost", on_lost)):
            if fn is not None and not callable(fn):
                raise InvalidRequestError(f"{name} must be callable, got {fn!r}")
        self.on_assign, self.on_revoke, self.on_lost = on_assign, on_revoke, on_lost

    # -- positions and commits ------------------------------------------------------------

    def positions(
        self, partitions: Iterable[PartitionKey] | None = None
    ) -> dict[PartitionKey, int]:
        """Positions known now (a partition still resetting has none)."""
        states = self.subs.partitions
        keys = states.keys() if partitions is None else partitions
        out: dict[PartitionKey, int] = {}
        for key in keys:
            state = states.get(key)
            if state is not None and state.reset is None and state.position >= 0:
                out[key] = state.position
        return out

    def changed(self, offsets: dict[PartitionKey, int]) -> dict[PartitionKey, int]:
        if self.commit_failed:
            self.commit_failed = False
            return dict(offsets)
        return {k: v for k, v in offsets.items() if self.committed.get(k) != v}

    def note_committed(self, offsets: dict[PartitionKey, int]) -> None:
        self.committed.update(offsets)

    def auto_commit_due(self) -> dict[PartitionKey, int] | None:
        """Positions to auto-commit now, if ``auto_commit_interval_ms`` has passed."""
        if not self.config.enable_auto_commit or self.mode != Mode.SUBSCRIBE:
            return None
        now = self.clock.monotonic()
        if now < self.next_auto_commit:
            return None
        self.next_auto_commit = now + self._interval_s
        return self.changed(self.positions()) or None

    def commit_offsets(
        self, message: ConsumerRecord | None, offsets: Iterable[TopicPartition] | None
    ) -> dict[PartitionKey, int]:
        """What ``commit()`` commits: explicit offsets, the offset after ``message``, or the
        current positions."""
        if message is not None:
            return {(message.topic, message.partition): message.offset + 1}
        if offsets is None:
            return self.positions()
        wanted: dict[PartitionKey, int] = {}
        for tp in offsets:
            check_partition(tp)
            if tp.offset < 0:
                raise InvalidRequestError(
                    f"commit needs an offset >= 0 for {tp.topic}/{tp.partition}, got {tp.offset}"
                )
            wanted[(tp.topic, tp.partition)] = tp.offset
        return wanted

    async def commit_in_background(self, offsets: dict[PartitionKey, int]) -> None:
        """An asynchronous commit (on the event loop): a failure is logged, and the next
        auto-commit sends every position again (not only those that changed)."""
        try:
            await self.grouped.commit(offsets)
        except LogdError as exc:
            self.commit_failed = True
            _log.warning("asynchronous commit of %d partition(s) failed: %s", len(offsets), exc)

    # -- rebalance steps ------------------------------------------------------------------

    def callback(self, kind: EventKind) -> Callback | None:
        if kind is EventKind.ASSIGN:
            return self.on_assign
        if kind is EventKind.LOST:
            return self.on_lost or self.on_revoke  # Kafka's default onPartitionsLost
        return self.on_revoke

    def apply(self, event: RebalanceEvent) -> list[TopicPartition]:
        """Change the assignment as ``event`` says; the partitions for the user callback."""
        gone = {(tp.topic, tp.partition) for tp in event.partitions}
        kept = [
            TopicPartition(s.topic, s.partition, OFFSET_INVALID)
            for key, s in self.subs.partitions.items()
            if key not in gone
        ]
        if event.kind is EventKind.ASSIGN:
            self.subs.assign([*kept, *event.partitions])
        else:
            reading = self.reader.state
            if reading is not None and (reading.topic, reading.partition) in gone:
                self.reader.drop()
            self.subs.assign(kept)
            for key in gone:
                self.committed.pop(key, None)
        return [TopicPartition(tp.topic, tp.partition) for tp in event.partitions]

    def commit_on_revoke(self, event: RebalanceEvent) -> dict[PartitionKey, int]:
        """What to commit before ``event`` gives partitions up (REVOKE, with auto-commit)."""
        if event.kind is not EventKind.REVOKE or not self.config.enable_auto_commit:
            return {}
        return self.changed(self.positions((tp.topic, tp.partition) for tp in event.partitions))

    # -- what the shells execute ----------------------------------------------------------

    def poll_due(self, now: float) -> bool:
        """At a poll boundary (``now``: the clock's monotonic time): whether
        :meth:`poll_actions` has anything to do. Per record: one call and three tests."""
        membership = self.membership
        assert membership is not None, "poll_due() without a group"
        membership.note_poll(now)
        return (
            membership.machine.fatal is not None
            or membership.channel.pending
            or now >= self.next_auto_commit
        )

    def poll_actions(self) -> Actions:
        """At a poll boundary: raise a fatal group error, serve the rebalance steps waiting
        (each in the order Kafka's consumer runs its rebalance listener), auto-commit what
        is due."""
        membership = self.grouped
        if membership.fatal is not None:
            raise membership.fatal
        channel = membership.channel
        while channel.pending:
            event = channel.take()
            if event is not None:
                yield from self._serve(event)
        due = self.auto_commit_due()
        if due:
            self.note_committed(due)
            yield CommitInBackground(due)

    def _serve(self, event: RebalanceEvent) -> Actions:
        """ASSIGN: take the partitions, then ``on_assign``. REVOKE/LOST: commit (REVOKE,
        with auto-commit), the callback, then stop reading them -- even if it raised."""
        callback = self.callback(event.kind)
        try:
            if event.kind is EventKind.ASSIGN:
                added = self.apply(event)
                yield WakeFetcher()
                if callback is not None:
                    yield Invoke(callback, added)
                return
            parts = [TopicPartition(tp.topic, tp.partition) for tp in event.partitions]
            try:
                yield from self._commit_or_log(self.commit_on_revoke(event))
                if callback is not None:
                    yield Invoke(callback, parts)
            finally:
                self.apply(event)
        finally:
            self.grouped.channel.complete(event)

    def give_up_actions(self) -> Actions:
        """Closing or unsubscribing: commit the positions (with auto-commit), call
        ``on_revoke`` (an exception is logged), and read nothing more (as Kafka)."""
        owned = [TopicPartition(s.topic, s.partition) for s in self.subs.partitions.values()]
        if not owned:
            return
        if self.config.enable_auto_commit:
            yield from self._commit_or_log(self.changed(self.positions()))
        if self.on_revoke is not None:
            try:
                yield Invoke(self.on_revoke, owned)
            except Exception:
                _log.exception("on_revoke failed while giving the partitions up")
        self.reader.drop()
        self.subs.assign([])

    def _commit_or_log(self, offsets: dict[PartitionKey, int]) -> Actions:
        if not offsets:
            return
        try:
            yield CommitNow(offsets)
        except LogdError as exc:
            _log.warning("commit of %d partition(s) failed: %s", len(offsets), exc)
        else:
            self.note_committed(offsets)
