"""KIP-848 regex subscriptions: the subset of RE2 that Python's ``re`` reads the same way is
served (whole-name matches, as Kafka's ``matches()``); the rest is refused with a reason
(INVALID_REGULAR_EXPRESSION); members subscribed by regex get the matching topics, and a
new matching topic moves the group epoch. Pure."""

from __future__ import annotations

import pytest

from logd.errors import ErrorCode
from logd.groups.consumer_group import ConsumerGroup, ConsumerGroupConfig, ConsumerHeartbeat
from logd.groups.topic_regex import matching, refusal


@pytest.mark.parametrize(
    "pattern",
    ["orders", "orders-.*", "^logs\\.[a-z]+$", "(?i)ORDERS", "a{2,3}?", "(?P<k>x|y)\\d+",
     "[^_].*", "\\w+-\\d+"],
)  # fmt: skip
def test_the_common_subset_is_served(pattern: str) -> None:
    assert refusal(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "why"),
    [("(a)\\1", "backreferences"), ("(?P<x>a)(?P=x)", "backreferences"),
     ("a(?=b)", "lookahead"), ("(?<!a)b", "lookahead"), ("(?>a)", "atomic"),
     ("a*+", "possessive"), ("[[:alpha:]]+", "POSIX"), ("\\pL+", "Unicode"),
     ("\\p{Greek}", "Unicode"), ("a\\z", "\\z"), ("\\Qa.b\\E", "\\Q"), ("(", "invalid"),
     ("x" * 5000, "at most")],
)  # fmt: skip
def test_the_rest_is_refused_with_a_reason(pattern: str, why: str) -> None:
    reason = refusal(pattern)
    assert reason is not None and why in reason


def test_a_regex_matches_whole_topic_names() -> None:
    topics = ["orders", "orders-eu", "old-orders", "orders.x", "__consumer_offsets"]
    assert matching("orders.*", topics) == ("orders", "orders-eu", "orders.x")
    assert matching("orders", topics) == ("orders",)  # not a prefix search


def test_members_subscribed_by_regex_get_its_topics_and_a_new_one_moves_the_epoch() -> None:
    g = ConsumerGroup("g", ConsumerGroupConfig())
    join = ConsumerHeartbeat("g", "a", 0, rebalance_timeout_ms=1_000,
                             subscribed_regex="logs-.*", owned=frozenset())  # fmt: skip
    topics = {"logs-a": 1, "other": 1}
    first = g.heartbeat(join, topics, 0, lambda: "x")
    assert first.error is ErrorCode.NONE
    assert {tp.topic for tp in first.assignment or ()} == {"logs-a"}
    same = ConsumerHeartbeat("g", "a", first.member_epoch, subscribed_regex="logs-.*",
                             owned=first.assignment)  # fmt: skip
    again = g.heartbeat(same, topics, 1, lambda: "x")
    assert (again.member_epoch, again.assignment) == (first.member_epoch, None)  # no bump
    more = g.heartbeat(same, {**topics, "logs-b": 2}, 2, lambda: "x")
    assert more.member_epoch > first.member_epoch
    assert {tp.topic for tp in more.assignment or ()} == {"logs-a", "logs-b"}
    bad = ConsumerHeartbeat("g", "b", 0, rebalance_timeout_ms=1_000,
                            subscribed_regex="(a)\\1", owned=frozenset())  # fmt: skip
    refused = g.heartbeat(bad, topics, 3, lambda: "y")
    assert (
        refused.error is ErrorCode.INVALID_REGULAR_EXPRESSION
        and "backreferences" in refused.message
    )


def test_regexes_are_matched_again_only_when_topics_change_or_the_interval_passes() -> None:
    """With a topic-set version, a heartbeat re-matches only after the version moved (a
    topic came or went), a member brought a new regex, or the refresh interval passed;
    otherwise the last match stands (no pass over every topic)."""
    g = ConsumerGroup("g", ConsumerGroupConfig(regex_refresh_interval_ms=60_000))
    join = ConsumerHeartbeat("g", "a", 0, rebalance_timeout_ms=1_000,
                             subscribed_regex="logs-.*", owned=frozenset())  # fmt: skip
    topics = {"logs-a": 1, "other": 1}
    first = g.heartbeat(join, topics, 0, lambda: "x", topics_version=7)
    assert {tp.topic for tp in first.assignment or ()} == {"logs-a"}
    beat = ConsumerHeartbeat("g", "a", first.member_epoch, owned=first.assignment)

    def topics_of(answer_topics: dict[str, int], now: int, version: int) -> set[str]:
        g.heartbeat(beat, answer_topics, now, lambda: "x", topics_version=version)
        return set(g.members["a"].regex_topics)

    grown = {**topics, "logs-b": 1}
    # The same version: the topic view did not change as far as the group knows.
    assert topics_of(grown, 1_000, 7) == {"logs-a"}
    # The version moved: matched again at this heartbeat.
    assert topics_of(grown, 2_000, 8) == {"logs-a", "logs-b"}
    # Without a version change, only the refresh interval brings a third topic in.
    assert topics_of({**grown, "logs-c": 1}, 30_000, 8) == {"logs-a", "logs-b"}
    assert topics_of({**grown, "logs-c": 1}, 62_000, 8) == {"logs-a", "logs-b", "logs-c"}
    # A member bringing a new regex is matched at once, whatever the version.
    other = ConsumerHeartbeat("g", "b", 0, rebalance_timeout_ms=1_000,
                              subscribed_regex="other", owned=frozenset())  # fmt: skip
    g.heartbeat(other, {**grown, "logs-c": 1}, 63_000, lambda: "y", topics_version=8)
    assert g.members["b"].regex_topics == ("other",)
