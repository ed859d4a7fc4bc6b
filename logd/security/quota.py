"""Client quotas with Kafka's arithmetic: which quota applies to a (user, client-id), the
sampled rate it is measured with, and the throttle time an excess earns.

Quota keys: Kafka's ``producer_byte_rate`` and ``consumer_byte_rate`` (bytes/s), and
logd's ``request_rate`` (requests/s, every request of every front end counting one).
Kafka's own request quota, ``request_percentage``, is a share of a request-handler
*thread's* time; one asyncio loop serves every request of a logd broker, and the time a
request keeps it busy cannot be told from the time it waits, so logd meters requests
instead of guessing at time (the arithmetic is the same).

Entities are Kafka's eight levels; the most specific level that has the key wins
(ClientQuotaManager's DefaultQuotaCallback):

    user+client-id, user+default-client, user, default-user+client-id,
    default-user+default-client, default-user, client-id, default-client

and every (user, client-id) that resolves to the same entity shares one rate, as in Kafka.

A rate is Kafka's ``Rate`` over a ``SampledStat``: ``samples`` windows of ``window_ms``
(quota.window.num = 11, quota.window.size.seconds = 1); the rate divides the sum of the
retained samples by the elapsed window, counted as at least ``samples - 1`` full windows.
Recording a value over the bound earns ``throttle = (rate - bound) / bound * window``
milliseconds (QuotaUtils.throttleTime): the time the rate needs, with nothing new
recorded, to fall back to the bound. The answer carries it as ``throttle_time_ms`` and the
connection is muted that long (KIP-219); see ``logd/broker`` for where that happens.

Pure: time comes in as ``now_ms``. Not thread-safe: owned by the broker's event loop.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field

from logd.errors import InvalidRequestError

__all__ = [
    "DEFAULT",
    "QuotaEntity",
    "QuotaKind",
    "QuotaManager",
    "SampledRate",
]

DEFAULT = ""  # Kafka's <default> entity name: a None name in the Kafka protocol


class QuotaKind(enum.Enum):
    PRODUCE = "producer_byte_rate"
    FETCH = "consumer_byte_rate"
    REQUEST = "request_rate"

    @classmethod
    def from_key(cls, key: str) -> QuotaKind:
        for kind in cls:
            if kind.value == key:
                return kind
        keys = ", ".join(k.value for k in cls)
        raise InvalidRequestError(f"unknown quota key {key!r} (one of: {keys})")


@dataclass(frozen=True, order=True)
class QuotaEntity:
    """A quota's owner: ``user`` and/or ``client_id``; ``DEFAULT`` ("") names the default,
    ``None`` leaves that dimension out (``user=alice`` alone is the per-user level)."""

    user: str | None = None
    client_id: str | None = None

    def __post_init__(self) -> None:
        if self.user is None and self.client_id is None:
            raise InvalidRequestError("a quota entity names a user, a client id, or both")


def _levels(user: str, client_id: str) -> tuple[QuotaEntity, ...]:
    """The eight candidate entities, most specific first."""
    return (
        QuotaEntity(user, client_id),
        QuotaEntity(user, DEFAULT),
        QuotaEntity(user, None),
        QuotaEntity(DEFAULT, client_id),
        QuotaEntity(DEFAULT, DEFAULT),
        QuotaEntity(DEFAULT, None),
        QuotaEntity(None, client_id),
        QuotaEntity(None, DEFAULT),
    )


@dataclass
class _Sample:
    start_ms: int
    value: float = 0.0


@dataclass
class SampledRate:
    """Kafka's ``Rate`` (seconds unit) over ``samples`` windows of ``window_ms`` each."""

    window_ms: int = 1000
    samples: int = 11
    _ring: list[_Sample] = field(default_factory=list)
    _current: int = 0

    def record(self, value: float, now_ms: int) -> None:
        if not self._ring:
            self._ring.append(_Sample(now_ms))
        sample = self._ring[self._current]
        if now_ms - sample.start_ms >= self.window_ms:
            self._current = (self._current + 1) % self.samples
            if self._current >= len(self._ring):
                self._ring.append(_Sample(now_ms))
            else:
                self._ring[self._current] = _Sample(now_ms)
            sample = self._ring[self._current]
        sample.value += value

    def _purge(self, now_ms: int) -> None:
        expire = self.samples * self.window_ms
        for i, sample in enumerate(self._ring):
            if now_ms - sample.start_ms >= expire:
                self._ring[i] = _Sample(now_ms)

    def window_size_ms(self, now_ms: int) -> int:
        """Kafka's ``Rate.windowSize``: elapsed since the oldest sample, at least
        ``samples - 1`` full windows, at least 1 ms."""
        self._purge(now_ms)
        oldest = min((s.start_ms for s in self._ring), default=now_ms)
        elapsed = now_ms - oldest
        full = elapsed // self.window_ms
        if full < self.samples - 1:
            elapsed += (self.samples - 1 - full) * self.window_ms
        return max(elapsed, 1)

    def rate(self, now_ms: int) -> float:
        """Per second."""
        window = self.window_size_ms(now_ms)
        return sum(s.value for s in self._ring) / (window / 1000.0)


@dataclass
class _Tracked:
    rate: SampledRate
    last_ms: int


class QuotaManager:
    """Quota configs and the rates measured against them.

    ``configs`` is what the controller's metadata holds (entity -> {key: value}); the broker
    calls ``set``/``remove`` as it applies metadata. ``record(...)`` is called once per
    request with what it moved and returns the throttle time in ms (0 when within quota or
    when no quota applies). Rates of idle entities are dropped after ``idle_ms``, and at most
    ``tracked_max`` are kept, so memory is bounded whatever clients do.
    """

    def __init__(
        self,
        *,
        window_ms: int = 1000,
        samples: int = 11,
        idle_ms: int = 3_600_000,
        tracked_max: int = 100_000,
    ) -> None:
        self.window_ms = window_ms
        self.samples = samples
        self.idle_ms = idle_ms
        self.tracked_max = tracked_max
        self.configs: dict[QuotaEntity, dict[str, float]] = {}
        self._rates: OrderedDict[tuple[QuotaKind, QuotaEntity], _Tracked] = OrderedDict()

    # -- configuration ----------------------------------------------------------------------

    def set(self, entity: QuotaEntity, key: str, value: float) -> None:
        kind = QuotaKind.from_key(key)
        if not value > 0:
            raise InvalidRequestError(f"quota {key} must be positive, not {value}")
        self.configs.setdefault(entity, {})[kind.value] = float(value)

    def remove(self, entity: QuotaEntity, key: str) -> None:
        kind = QuotaKind.from_key(key)
        values = self.configs.get(entity, {})
        values.pop(kind.value, None)
        if not values:
            self.configs.pop(entity, None)

    def resolve(
        self, kind: QuotaKind, user: str, client_id: str
    ) -> tuple[QuotaEntity, float] | None:
        """The entity whose quota applies, and its bound; None when no level has one."""
        if not self.configs:
            return None
        for entity in _levels(user, client_id):
            bound = self.configs.get(entity, {}).get(kind.value)
            if bound is not None:
                return entity, bound
        return None

    # -- measuring --------------------------------------------------------------------------

    def record(self, kind: QuotaKind, user: str, client_id: str, value: float, now_ms: int) -> int:
        """Records ``value`` (bytes, or 1 request for REQUEST) and returns the throttle time
        in ms (Kafka's recordAndGetThrottleTimeMs)."""
        found = self.resolve(kind, user, client_id)
        if found is None:
            return 0
        entity, bound = found
        rate = self._rate(kind, entity, now_ms)
        rate.record(value, now_ms)
        measured = rate.rate(now_ms)
        if measured <= bound:
            return 0
        return round((measured - bound) / bound * rate.window_size_ms(now_ms))

    def unrecord(
        self, kind: QuotaKind, user: str, client_id: str, value: float, now_ms: int
    ) -> None:
        """Takes back a value recorded for an answer that was not sent (a throttled fetch
        answers empty, as in Kafka)."""
        found = self.resolve(kind, user, client_id)
        if found is not None:
            self._rate(kind, found[0], now_ms).record(-value, now_ms)

    def max_value_in_window(self, kind: QuotaKind, user: str, client_id: str) -> float | None:
        """The most that can be recorded at once without a certain throttle (bounds a fetch)."""
        found = self.resolve(kind, user, client_id)
        if found is None:
            return None
        return found[1] * (self.samples - 1) * self.window_ms / 1000.0

    def _rate(self, kind: QuotaKind, entity: QuotaEntity, now_ms: int) -> SampledRate:
        key = (kind, entity)
        tracked = self._rates.get(key)
        if tracked is None:
            tracked = _Tracked(SampledRate(self.window_ms, self.samples), now_ms)
            self._rates[key] = tracked
        tracked.last_ms = now_ms
        self._rates.move_to_end(key)
        self._expire(now_ms)
        return tracked.rate

    def _expire(self, now_ms: int) -> None:
        while self._rates:
            oldest = next(iter(self._rates.values()))
            if len(self._rates) <= self.tracked_max and now_ms - oldest.last_ms < self.idle_ms:
                return
            self._rates.popitem(last=False)
