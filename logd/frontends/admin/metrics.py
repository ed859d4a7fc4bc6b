"""``/metrics``: the broker's figures in Prometheus' text format, named like Redpanda's public
metrics (``logd_kafka_request_latency_seconds``, ``logd_cluster_brokers`` …; the list is
docs/operations.md's, and ``deploy/`` builds its dashboard and alerts on these names).

Collection stays off the hot path: requests, produce and fetch only add to the plain
counters of ``logd.broker.telemetry`` (and the lower layers to theirs); the gauges are
computed when scraped (``BrokerSeam.figures``), and this module turns both into metric
families with ``prometheus_client``'s exposition (a custom collector on a registry of the
front end's own: the process-wide default registry would mix brokers run in one process).

Label cardinality is bounded: listeners and their request names (``Telemetry`` caps them),
topics, consumer groups (at most :data:`MAX_GROUPS`, those with the most lag first).
Per-partition series -- log size, high watermark, missing replicas, and each group
partition's lag -- only when the scraper asks for them (``/metrics?detail=partitions``, the
opt-in Redpanda's ``enable_consumer_group_metrics`` is for): 10,000 partitions would be
tens of thousands of series on every scrape.

Ownership: the broker's event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from logd.broker.seam import BrokerFigures, BrokerSeam, Caller, Telemetry
from logd.stats import Histogram

__all__ = ["CONTENT_TYPE", "MAX_GROUPS", "MetricsPage"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
#: Consumer groups given series of their own, those with the most lag first.
MAX_GROUPS: Final = 1000


def _histogram(name: str, doc: str, labels: Sequence[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=list(labels))


def _add_histogram(family: HistogramMetricFamily, values: Sequence[str], h: Histogram) -> None:
    buckets = [(_bound(bound), float(count)) for bound, count in h.cumulative()]
    family.add_metric(list(values), buckets, h.sum)


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


#: The security half's counts (``SecuritySeam.failures``/``refused``/``throttles``): kind ->
#: labels -> n (throttles: quota -> (requests, milliseconds)).
Counts = dict[str, Any]


class _Snapshot:
    """What one scrape shows: the gauges gathered for it and the running counters."""

    def __init__(self, figures: BrokerFigures, telemetry: Telemetry, security: Counts) -> None:
        self.figures = figures
        self.telemetry = telemetry
        self.security = security


class _Collector:
    """Yields the families of the snapshot set just before the registry is rendered."""

    def __init__(self) -> None:
        self.snapshot: _Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        yield from _cluster(snap.figures)
        yield from _requests(snap.telemetry)
        yield from _storage(snap.figures, snap.telemetry)
        yield from _groups(snap.figures)
        yield from _security(snap.security)
        if snap.figures.hosted:
            yield from _partitions(snap.figures)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _cluster(f: BrokerFigures) -> Iterable[Metric]:
    yield _gauge("logd_cluster_brokers", "Brokers the cluster's metadata knows.", len(f.brokers))
    yield _gauge(
        "logd_cluster_brokers_down", "Brokers whose heartbeats stopped.", len(f.nodes_down)
    )
    yield _gauge(
        "logd_cluster_brokers_degraded",
        "Alive brokers that say they are degraded (a disk below its reserve, an offline log).",
        len(f.degraded),
    )
    yield _gauge(
        "logd_cluster_brokers_low_space", "Alive brokers with a low-space alert.", len(f.low_space)
    )
    yield _gauge(
        "logd_cluster_controller_id", "The controller's node id (-1: none).", f.controller_id
    )
    yield _gauge("logd_cluster_topics", "Topics, internal ones included.", f.topics)
    yield _gauge("logd_cluster_partitions", "Partitions, internal ones included.", f.partitions)
    yield _gauge(
        "logd_cluster_unavailable_partitions", "Partitions without a leader.", len(f.leaderless)
    )
    yield _gauge(
        "logd_cluster_under_replicated_partitions",
        "Partitions with fewer in-sync replicas than replicas.",
        len(f.under_replicated),
    )
    yield _gauge(
        "logd_kafka_under_replicated_replicas",
        "Replicas missing from the ISR of the partitions this broker leads.",
        f.under_replicated_replicas,
    )
    yield _gauge("logd_cluster_partition_leaders", "Partitions this broker leads.", f.leaders_here)
    yield _gauge(
        "logd_cluster_healthy",
        "1 when `logd cluster health` would say healthy (this broker's view).",
        1.0 if f.healthy else 0.0,
    )


def _requests(t: Telemetry) -> Iterable[Metric]:
    latency = _histogram(
        "logd_kafka_request_latency_seconds",
        "Time from a request's arrival to its answer, by listener and request.",
        ("listener", "request"),
    )
    size = CounterMetricFamily(
        "logd_kafka_request_bytes",
        "Bytes of requests (in) and answers (out), by listener and request.",
        labels=["listener", "request", "direction"],
    )
    errors = CounterMetricFamily(
        "logd_kafka_request_errors",
        "Requests answered with an error, by listener and request.",
        labels=["listener", "request"],
    )
    for (listener, request), figures in sorted(t.requests.items()):
        _add_histogram(latency, (listener, request), figures.latency)
        size.add_metric([listener, request, "in"], figures.bytes_in)
        size.add_metric([listener, request, "out"], figures.bytes_out)
        errors.add_metric([listener, request], figures.errors)
    yield latency
    yield size
    yield errors
    connections = GaugeMetricFamily(
        "logd_rpc_active_connections", "Client connections open now, by listener.",
        labels=["listener"],
    )  # fmt: skip
    for listener, count in sorted(t.connections.items()):
        connections.add_metric([listener], count())
    yield connections
    yield _counter(
        "logd_kafka_records_produced", "Records appended by producers.", t.records_produced
    )
    yield _counter(
        "logd_kafka_records_fetched", "Records returned to consumers.", t.records_fetched
    )
    yield _counter("logd_kafka_bytes_produced", "Bytes appended by producers.", t.bytes_produced)
    yield _counter("logd_kafka_bytes_fetched", "Bytes returned to consumers.", t.bytes_fetched)
    if t.raft is not None:
        yield _counter(
            "logd_raft_leadership_changes",
            "Times a Raft group hosted here saw a new leader.",
            t.raft.leadership_changes,
        )
        yield _counter(
            "logd_raft_elections", "Times a Raft group hosted here stood for election.",
            t.raft.elections,
        )  # fmt: skip


def _storage(f: BrokerFigures, t: Telemetry) -> Iterable[Metric]:
    yield _gauge(
        "logd_storage_disk_free_bytes", "Free bytes of the data directory's disk.",
        f.disk_free_bytes,
    )  # fmt: skip
    yield _gauge(
        "logd_storage_disk_total_bytes", "Size of the data directory's disk.", f.disk_total_bytes
    )
    yield _gauge(
        "logd_storage_disk_reserve_bytes",
        "The free-space reserve client writes never eat into (storage.min.free.*).",
        f.disk_reserve_bytes,
    )
    yield _gauge(
        "logd_storage_disk_writes_refused",
        "1 while the disk is below its reserve: client writes are refused (KAFKA_STORAGE_ERROR).",
        int(f.disk_refusing_writes),
    )
    yield _gauge(
        "logd_storage_disk_low",
        "1 while free space is below the low-space alert (storage.alert.free.*).",
        int(f.disk_low),
    )
    logs = GaugeMetricFamily(
        "logd_storage_log_bytes", "Bytes of the logs this broker hosts, by topic.",
        labels=["topic"],
    )  # fmt: skip
    for topic, size in sorted(f.log_bytes.items()):
        logs.add_metric([topic], size)
    yield logs
    if t.fsync is not None:
        fsync = _histogram(
            "logd_storage_fsync_latency_seconds", "How long each log's fsync took.", ()
        )
        _add_histogram(fsync, (), t.fsync)
        yield fsync
    if t.cleaner is not None:
        yield _counter(
            "logd_storage_cleaner_cleans", "Compactions the log cleaner finished.",
            t.cleaner.cleans,
        )  # fmt: skip


def _groups(f: BrokerFigures) -> Iterable[Metric]:
    yield _gauge("logd_consumer_groups", "Consumer groups this broker coordinates.", len(f.groups))
    # Redpanda calls the sum ``..._lag_sum``; promtool refuses a gauge ending in _sum (it
    # reads as a summary's), so logd's is plain ``logd_consumer_group_lag``.
    lag_sum = GaugeMetricFamily(
        "logd_consumer_group_lag", "Records the group has not committed yet, summed.",
        labels=["group"],
    )  # fmt: skip
    lag_max = GaugeMetricFamily(
        "logd_consumer_group_lag_max", "The largest lag of one of the group's partitions.",
        labels=["group"],
    )  # fmt: skip
    members = GaugeMetricFamily(
        "logd_consumer_group_members", "Members of the group.", labels=["group"]
    )
    shown = sorted(f.groups, key=lambda g: (-g.lag_sum, g.group))[:MAX_GROUPS]
    for group in shown:
        lag_sum.add_metric([group.group], group.lag_sum)
        lag_max.add_metric([group.group], group.lag_max)
        members.add_metric([group.group], group.members)
    yield lag_sum
    yield lag_max
    yield members


def _security(counts: Counts) -> Iterable[Metric]:
    failures = CounterMetricFamily(
        "logd_security_authentication_failures",
        "Failed authentications, by listener and method.",
        labels=["listener", "method"],
    )
    for (listener, how), n in sorted(counts.get("authentication_failures", {}).items()):
        failures.add_metric([listener, how], n)
    yield failures
    refused = CounterMetricFamily(
        "logd_security_authorization_refusals",
        "Requests refused by ACLs or quotas, by listener and action.",
        labels=["listener", "action"],
    )
    for (listener, action), n in sorted(counts.get("refused", {}).items()):
        refused.add_metric([listener, action], n)
    yield refused
    throttled = CounterMetricFamily(
        "logd_kafka_quota_throttled_requests",
        "Requests over a client quota (held back, KIP-219), by quota.",
        labels=["quota"],
    )
    held = CounterMetricFamily(
        "logd_kafka_quota_throttle_seconds",
        "Time requests over a client quota were held back, by quota.",
        labels=["quota"],
    )
    for quota, (n, ms) in sorted(counts.get("throttles", {}).items()):
        throttled.add_metric([quota], n)
        held.add_metric([quota], ms / 1000.0)
    yield throttled
    yield held


def _partitions(f: BrokerFigures) -> Iterable[Metric]:
    labels = ["topic", "partition"]
    size = GaugeMetricFamily("logd_partition_log_bytes", "Bytes of the partition's log.",
                             labels=labels)  # fmt: skip
    hwm = GaugeMetricFamily("logd_partition_high_watermark", "The partition's high watermark.",
                            labels=labels)  # fmt: skip
    missing = GaugeMetricFamily(
        "logd_partition_under_replicated_replicas",
        "Replicas missing from the partition's ISR (led here).", labels=labels,
    )  # fmt: skip
    for p in f.hosted:
        values = [p.topic, str(p.partition)]
        size.add_metric(values, p.log_bytes)
        hwm.add_metric(values, p.high_watermark)
        if p.leader:
            missing.add_metric(values, p.missing_replicas)
    yield size
    yield hwm
    yield missing
    lag = GaugeMetricFamily(
        "logd_consumer_group_partition_lag", "A group's lag on one partition.",
        labels=["group", "topic", "partition"],
    )  # fmt: skip
    for group in f.groups:
        for (topic, partition), n in sorted(group.partitions.items()):
            lag.add_metric([group.group, topic, str(partition)], n)
    yield lag


class MetricsPage:
    """Renders ``/metrics`` from the seam (one per admin front end)."""

    def __init__(self, seam: BrokerSeam) -> None:
        self._seam = seam
        self._collector = _Collector()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self._collector)

    async def render(self, caller: Caller, *, detail: bool = False) -> bytes:
        figures = await self._seam.figures(detail=detail, caller=caller)
        security = {
            "authentication_failures": self._seam.security.failures,
            "refused": self._seam.security.refused,
            "throttles": self._seam.security.throttles,
        }
        self._collector.snapshot = _Snapshot(figures, self._seam.telemetry, security)
        try:
            return generate_latest(self._registry)
        finally:
            self._collector.snapshot = None
