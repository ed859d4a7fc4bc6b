"""Which MQTT reason code a client is told for a log error (``ingest.reason_for``)."""

from __future__ import annotations

from logd.errors import (
    DiskFullError,
    KafkaStorageError,
    MessageTooLargeError,
    NotLeaderOrFollowerError,
    TopicAuthorizationFailedError,
)
from logd.frontends.mqtt.ingest import reason_for
from logd.frontends.mqtt.reasons import ReasonCode


def test_a_full_disk_is_a_quota_and_a_failing_disk_an_unspecified_error() -> None:
    """Issue 24: the free-space reserve is a limit the broker imposes (0x97, Quota
    exceeded); a disk that fails is nothing the client did (0x80, Unspecified error)."""
    assert reason_for(DiskFullError("disk /d has 1 MiB free")) is ReasonCode.QUOTA_EXCEEDED
    assert reason_for(KafkaStorageError("fsync failed")) is ReasonCode.UNSPECIFIED_ERROR
    assert reason_for(MessageTooLargeError("big")) is ReasonCode.QUOTA_EXCEEDED
    assert reason_for(TopicAuthorizationFailedError("no")) is ReasonCode.NOT_AUTHORIZED
    assert reason_for(NotLeaderOrFollowerError("moved")) is (
        ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR
    )
    assert reason_for(None) is ReasonCode.SUCCESS
