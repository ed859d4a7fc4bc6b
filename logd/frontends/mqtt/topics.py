"""MQTT topic names and topic filters (5.0 section 4.7): validation and matching.

Pure. A filter is split into its levels once (:class:`TopicFilter`) and matched against a
topic's levels; ``+`` matches one level, ``#`` (last, alone in its level) any number of
levels including none, and a filter starting with a wildcard does not match a topic that
starts with ``$`` ([MQTT-4.7.2-1]: ``$SYS/...`` is not seen by ``#``).

Shared subscriptions (``$share/{group}/{filter}``) are refused as a whole: CONNACK tells a
5.0 client "Shared Subscription Available: 0" and a SUBSCRIBE to one gets 0x9E.
"""

from __future__ import annotations

from dataclasses import dataclass

from logd.frontends.mqtt.errors import MqttError
from logd.frontends.mqtt.reasons import ReasonCode

__all__ = ["TopicFilter", "check_topic_name", "parse_filter", "split_topic"]

_MAX_LEVELS = 256  # a bound on the work one match costs; no real topic comes near it


def split_topic(topic: str) -> tuple[str, ...]:
    return tuple(topic.split("/"))


def check_topic_name(topic: str, what: str, *, allow_empty: bool = False) -> None:
    """A topic name to publish to: no wildcard (section 4.7.1), no U+0000, and not empty
    unless ``allow_empty`` (a 5.0 PUBLISH that names its topic by an alias)."""
    if not topic and not allow_empty:
        raise MqttError(ReasonCode.TOPIC_NAME_INVALID, f"{what}: an empty topic name")
    if "+" in topic or "#" in topic or "\x00" in topic:
        raise MqttError(
            ReasonCode.TOPIC_NAME_INVALID, f"{what}: topic name {topic!r} has a wildcard"
        )


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """A parsed filter: its text and its levels."""

    text: str
    levels: tuple[str, ...]

    @property
    def has_wildcard(self) -> bool:
        return "+" in self.levels or "#" in self.levels

    def matches(self, topic_levels: tuple[str, ...]) -> bool:
        levels = self.levels
        if topic_levels and topic_levels[0][:1] == "$" and levels[0] in ("+", "#"):
            return False
        n = len(topic_levels)
        for i, level in enumerate(levels):
            if level == "#":
                return True
            if i >= n:
                return False
            if level != "+" and level != topic_levels[i]:
                return False
        return n == len(levels)

    def match_topic(self, topic: str) -> bool:
        return self.matches(split_topic(topic))


def parse_filter(text: str) -> TopicFilter:
    """A valid filter, or MqttError with the reason a SUBACK gives for it."""
    if not text:
        raise MqttError(ReasonCode.TOPIC_FILTER_INVALID, "an empty topic filter")
    if "\x00" in text:
        raise MqttError(ReasonCode.TOPIC_FILTER_INVALID, "a topic filter with U+0000")
    if text.startswith("$share/"):
        raise MqttError(
            ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
            f"shared subscription {text!r}: not supported",
        )
    levels = split_topic(text)
    if len(levels) > _MAX_LEVELS:
        raise MqttError(ReasonCode.TOPIC_FILTER_INVALID, f"more than {_MAX_LEVELS} levels")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise MqttError(
                ReasonCode.TOPIC_FILTER_INVALID,
                f"topic filter {text!r}: '#' must be the last level, alone",
            )
        if "+" in level and level != "+":
            raise MqttError(
                ReasonCode.TOPIC_FILTER_INVALID,
                f"topic filter {text!r}: '+' must be a level of its own",
            )
    return TopicFilter(text, levels)
