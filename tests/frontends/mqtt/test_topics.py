"""Topic filters (5.0 section 4.7): the spec's own examples."""

from __future__ import annotations

import pytest

from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.topics import parse_filter


@pytest.mark.parametrize(
    ("filt", "topic", "expected"),
    [
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
        ("sport/#", "sport", True),
        ("#", "anything/at/all", True),
        ("sport/tennis/+", "sport/tennis/player1", True),
        ("sport/tennis/+", "sport/tennis/player1/ranking", False),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("#", "$SYS/x", False),
        ("+/monitor/Clients", "$SYS/monitor/Clients", False),
        ("$SYS/#", "$SYS/x", True),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
    ],
)
def test_matching(filt: str, topic: str, expected: bool) -> None:
    assert parse_filter(filt).match_topic(topic) is expected


@pytest.mark.parametrize(
    ("filt", "reason"),
    [
        ("sport/tennis#", ReasonCode.TOPIC_FILTER_INVALID),
        ("sport/tennis/#/ranking", ReasonCode.TOPIC_FILTER_INVALID),
        ("sport+", ReasonCode.TOPIC_FILTER_INVALID),
        ("", ReasonCode.TOPIC_FILTER_INVALID),
        ("a\x00b", ReasonCode.TOPIC_FILTER_INVALID),
        ("$share/g/a/#", ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED),
    ],
)
def test_invalid_filters(filt: str, reason: ReasonCode) -> None:
    with pytest.raises(MqttError) as info:
        parse_filter(filt)
    assert info.value.reason == reason
