"""The coordinator's settings, with Kafka's names and defaults.

Immutable; safe to share between threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logd.errors import InvalidConfigError
from logd.groups.consumer_group import ConsumerGroupConfig

__all__ = ["CoordinatorConfig"]


@dataclass(frozen=True, slots=True)
class CoordinatorConfig:
    """``partition`` is the ``__consumer_offsets`` partition this coordinator leads, out of
    ``partitions``; requests for groups of other partitions get NOT_COORDINATOR."""

    partition: int = 0
    partitions: int = 1
    # group.initial.rebalance.delay.ms: the first rebalance of an empty group waits this
    # long for more members, and again (up to the rebalance timeout) while more arrive.
    initial_rebalance_delay_ms: int = 3_000
    # group.min.session.timeout.ms / group.max.session.timeout.ms
    min_session_timeout_ms: int = 6_000
    max_session_timeout_ms: int = 1_800_000
    # Kafka's NewMemberJoinTimeoutMs: a new member whose JoinGroup is parked is dropped
    # after this long (its client gave up and will retry with a fresh request).
    new_member_join_timeout_ms: int = 300_000
    # offset.metadata.max.bytes
    offset_metadata_max_bytes: int = 4_096
    # offsets.retention.minutes (as ms) / offsets.retention.check.interval.ms
    offsets_retention_ms: int = 7 * 24 * 3_600_000
    offsets_retention_check_interval_ms: int = 600_000
    # group.consumer.*: consumer-protocol groups (KIP-848)
    consumer: ConsumerGroupConfig = field(default_factory=ConsumerGroupConfig)

    def __post_init__(self) -> None:
        if self.partitions < 1 or not 0 <= self.partition < self.partitions:
            raise InvalidConfigError(
                f"partition {self.partition} of {self.partitions} __consumer_offsets partitions"
            )
        if not 0 < self.min_session_timeout_ms <= self.max_session_timeout_ms:
            raise InvalidConfigError(
                f"session timeout range [{self.min_session_timeout_ms}, "
                f"{self.max_session_timeout_ms}] ms is empty or not positive"
            )
        for name in (
            "initial_rebalance_delay_ms",
            "new_member_join_timeout_ms",
            "offset_metadata_max_bytes",
        ):
            if getattr(self, name) < 0:
                raise InvalidConfigError(f"{name} must not be negative")
        if self.offset_metadata_max_bytes > 0x7FFF:
            # The metadata is persisted as an int16-length string.
            raise InvalidConfigError("offset_metadata_max_bytes must be at most 32767")
        for name in ("offsets_retention_ms", "offsets_retention_check_interval_ms"):
            if getattr(self, name) <= 0:
                raise InvalidConfigError(f"{name} must be positive")
