"""Rules from MQTT topics to logd topics, keys and headers, and back (for subscribers)."""

from __future__ import annotations

import pytest

from logd.errors import InvalidConfigError
from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.reasons import ReasonCode
from logd.frontends.mqtt.rules import DEFAULT_RULES, Mapped, parse_rules
from logd.frontends.mqtt.topics import parse_filter

BUILDING = parse_rules(
    """
    default_topic = "unrouted"
    max_payload_bytes = 1000

    [[rules]]
    mqtt = "building/{b}/room/{r}/#"
    topic = "building_{b}"
    key = "{r}"
    headers = { site = "b-{b}" }
    max_payload_bytes = 64

    [[rules]]
    mqtt = "building/{b}/+"
    topic = "building_{b}"

    [[rules]]
    mqtt = "fleet/{truck}/{truck}"
    topic = "fleet"
    key = "{truck}"
    """
)


def test_the_default_rules_send_sensors_dev_7_temp_to_sensors_keyed_dev_7() -> None:
    assert DEFAULT_RULES.map("sensors/dev-7/temp") == Mapped("sensors", b"dev-7", (), 1 << 20)
    assert DEFAULT_RULES.map("sensors/dev-7") == Mapped("sensors", b"dev-7", (), 1 << 20)
    assert DEFAULT_RULES.map("alerts").topic == "alerts"
    assert DEFAULT_RULES.map("/leading/slash") == Mapped("mqtt", None, (), 1 << 20)


def test_a_capture_that_makes_no_topic_name_is_refused_not_sent_elsewhere() -> None:
    for topic in ("a b/c", "__consumer_offsets/x", "ünï/x"):
        with pytest.raises(MqttError) as info:
            DEFAULT_RULES.map(topic)
        assert info.value.reason == ReasonCode.TOPIC_NAME_INVALID


def test_first_match_wins_with_captures_headers_and_limits() -> None:
    assert BUILDING.map("building/7/room/12/temp") == Mapped(
        "building_7", b"12", (("site", b"b-7"),), 64
    )
    assert BUILDING.map("building/7/door") == Mapped("building_7", None, (), 1000)
    assert BUILDING.map("elsewhere") == Mapped("unrouted", None, (), 1000)
    assert BUILDING.map("fleet/t1/t1").key == b"t1"
    assert BUILDING.map("fleet/t1/t2").topic == "unrouted"  # a capture repeats its value


def test_no_default_topic_refuses_what_no_rule_matches() -> None:
    rules = parse_rules('default_topic = ""\n[[rules]]\nmqtt = "a/#"\ntopic = "a"\n')
    assert rules.map("a/x").topic == "a"
    with pytest.raises(MqttError):
        rules.map("b")


def test_sources_of_a_subscription() -> None:
    topics = ["building_7", "building_8", "fleet", "unrouted", "other", "__consumer_offsets"]
    assert BUILDING.sources(parse_filter("building/7/#"), topics) == {"building_7", "unrouted"}
    assert BUILDING.sources(parse_filter("building/+/room/1"), topics) == {
        "building_7",
        "building_8",
        "unrouted",
    }
    assert BUILDING.sources(parse_filter("#"), topics) == {
        "building_7",
        "building_8",
        "fleet",
        "unrouted",
    }
    assert DEFAULT_RULES.sources(parse_filter("sensors/#"), ["sensors", "other", "mqtt"]) == {
        "sensors",
        "mqtt",
    }


def test_the_mqtt_topic_of_a_record_without_the_header() -> None:
    assert DEFAULT_RULES.mqtt_topic("sensors", b"dev-7") == "sensors/dev-7"
    assert DEFAULT_RULES.mqtt_topic("sensors", None) == "sensors"
    assert DEFAULT_RULES.mqtt_topic("sensors", b"a/b") == "sensors"  # not one level
    assert BUILDING.mqtt_topic("building_7", b"12") == "building/7/room/12"
    assert BUILDING.mqtt_topic("building_7", None) is None  # only a "+" rule fits
    assert BUILDING.mqtt_topic("fleet", b"t1") == "fleet/t1/t1"
    assert BUILDING.mqtt_topic("unrouted", None) == "unrouted"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rules]]\nmqtt = "a/{x}"\ntopic = "t_{y}"\n', "no capture named y"),
        ('[[rules]]\nmqtt = "a/b{x}"\ntopic = "t"\n', "whole level"),
        ('[[rules]]\nmqtt = "a/#/b"\ntopic = "t"\n', "'#' must be the last level"),
        ('[[rules]]\ntopic = "t"\n', "'mqtt' (a string) is required"),
        ('[[rules]]\nmqtt = "a"\ntopic = "t"\nqos = 1\n', "unknown setting(s) qos"),
        ('[[rules]]\nmqtt = "a"\ntopic = "t"\nmax_payload_bytes = -1\n', "max_payload_bytes"),
        ('default_topic = "no spaces"\n', "is not a topic name"),
        ("rules = 3\n", "array of tables"),
        ("[[rules]\n", "rules.toml"),
    ],
)
def test_bad_rule_files_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidConfigError) as info:
        parse_rules(text, "rules.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("rules.toml")
