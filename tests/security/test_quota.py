"""Quota arithmetic with Kafka's numbers: the sampled rate, the throttle time, which entity's
quota applies, and a client that obeys throttle_time_ms landing within 10 % of the quota."""

from __future__ import annotations

import pytest

from logd.errors import InvalidRequestError
from logd.security.quota import DEFAULT, QuotaEntity, QuotaKind, QuotaManager, SampledRate

PRODUCE = QuotaKind.PRODUCE


def test_rate_counts_at_least_samples_minus_one_windows() -> None:
    rate = SampledRate(window_ms=1000, samples=11)
    rate.record(1000, 0)
    assert rate.window_size_ms(0) == 10_000
    assert rate.rate(0) == pytest.approx(100.0)
    rate.record(1000, 15_000)  # past 11 windows the first sample has expired
    assert rate.rate(15_000) == pytest.approx(100.0)


def test_throttle_time_is_kafkas() -> None:
    quotas = QuotaManager()
    quotas.set(QuotaEntity("alice", None), "producer_byte_rate", 1000)
    assert quotas.record(PRODUCE, "alice", "c", 1000, 0) == 0
    # 21000 bytes over a 10 s window is 2100 B/s: (2100 - 1000) / 1000 * 10 s = 11 s.
    assert quotas.record(PRODUCE, "alice", "c", 20_000, 0) == 11_000


def test_the_most_specific_entity_wins_and_its_rate_is_shared() -> None:
    quotas = QuotaManager()
    quotas.set(QuotaEntity(None, DEFAULT), "producer_byte_rate", 1)
    quotas.set(QuotaEntity("alice", None), "producer_byte_rate", 10)
    quotas.set(QuotaEntity("alice", "fast"), "producer_byte_rate", 100)
    quotas.set(QuotaEntity(DEFAULT, "batch"), "producer_byte_rate", 50)
    assert quotas.resolve(PRODUCE, "alice", "fast") == (QuotaEntity("alice", "fast"), 100)
    assert quotas.resolve(PRODUCE, "alice", "other") == (QuotaEntity("alice", None), 10)
    assert quotas.resolve(PRODUCE, "bob", "batch") == (QuotaEntity(DEFAULT, "batch"), 50)
    assert quotas.resolve(PRODUCE, "bob", "x") == (QuotaEntity(None, DEFAULT), 1)
    assert quotas.resolve(QuotaKind.FETCH, "bob", "x") is None
    # alice's two other client ids share the per-user rate: 60 + 60 bytes in 10 s > 10 B/s
    assert quotas.record(PRODUCE, "alice", "a", 60, 0) == 0
    assert quotas.record(PRODUCE, "alice", "b", 60, 0) > 0


def test_unrecord_and_max_value() -> None:
    quotas = QuotaManager()
    quotas.set(QuotaEntity("u", None), "consumer_byte_rate", 100)
    assert quotas.record(QuotaKind.FETCH, "u", "c", 5000, 0) > 0
    quotas.unrecord(QuotaKind.FETCH, "u", "c", 5000, 0)
    assert quotas.record(QuotaKind.FETCH, "u", "c", 10, 0) == 0
    assert quotas.max_value_in_window(QuotaKind.FETCH, "u", "c") == 1000
    assert quotas.max_value_in_window(QuotaKind.FETCH, "v", "c") is None


def test_configuration_errors() -> None:
    quotas = QuotaManager()
    with pytest.raises(InvalidRequestError, match="unknown quota key"):
        quotas.set(QuotaEntity("u"), "bytes_per_fortnight", 1)
    with pytest.raises(InvalidRequestError, match="positive"):
        quotas.set(QuotaEntity("u"), "producer_byte_rate", 0)
    with pytest.raises(InvalidRequestError):
        QuotaEntity(None, None)
    quotas.set(QuotaEntity("u"), "producer_byte_rate", 5)
    quotas.remove(QuotaEntity("u"), "producer_byte_rate")
    assert quotas.configs == {}


def test_tracked_rates_are_bounded() -> None:
    quotas = QuotaManager(tracked_max=3, idle_ms=1000)
    quotas.set(QuotaEntity(None, DEFAULT), "producer_byte_rate", 10)
    quotas.set(QuotaEntity(DEFAULT, DEFAULT), "producer_byte_rate", 10)
    for i in range(10):
        quotas.set(QuotaEntity(f"u{i}", None), "producer_byte_rate", 10)
        quotas.record(PRODUCE, f"u{i}", "c", 1, i)
    assert len(quotas._rates) == 3
    quotas.record(PRODUCE, "late", "c", 1, 10_000)
    assert len(quotas._rates) == 1


@pytest.mark.parametrize(("quota", "chunk"), [(100_000, 16_384), (1_000_000, 65_536), (5000, 1000)])
def test_an_obedient_client_is_held_within_ten_percent(quota: int, chunk: int) -> None:
    """A producer that sends as fast as it may (each answer's throttle_time_ms before the next
    request, 2 ms a round trip) for 120 simulated seconds moves quota +- 10 % per second."""
    quotas = QuotaManager()
    quotas.set(QuotaEntity("p", None), "producer_byte_rate", quota)
    now, sent = 0, 0
    while now < 120_000:
        throttle = quotas.record(PRODUCE, "p", "c", chunk, now)
        sent += chunk
        now += 2 + throttle
    achieved = sent / (now / 1000)
    assert abs(achieved - quota) / quota < 0.10, achieved
