"""The broker's configuration: defaults, then a TOML file, then command-line flags.

No file is needed: ``BrokerConfig()`` is one node on 127.0.0.1:7070 with data in
``./logd-data``. Keys use Kafka's dotted spelling; TOML reads ``num.partitions = 3`` as a
nested table, so the document is flattened back into dotted names before it is checked, and
``"num.partitions" = 3`` means the same. Topic-config defaults live in a ``[topic.defaults]``
table under the names ``logd topic create -c`` takes (``retention.ms``, ``segment.bytes`` …)::

    node.id = 1
    data.dir = "/var/lib/logd"
    listen = "0.0.0.0:7070"
    advertised.listen = "broker1.example:7070"
    peers = "1@broker1:7070,2@broker2:7070,3@broker3:7070"
    fsync = "always"            # always | interval | never
    num.partitions = 3

    kafka.listen = "0.0.0.0:9092"   # or "off"; see logd.broker.listeners
    admin.listen = "off"

    [topic.defaults]
    retention.ms = 604800000

An unknown key or a bad value raises :class:`~logd.errors.InvalidConfigError` naming the key.
Pure: no I/O except reading the file handed to :func:`load_config`.
"""

from __future__ import annotations

import dataclasses
import enum
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from logd.broker.groups.settings import (
    GroupSettings,
    group_config_values,
    is_group_key,
    parse_group_settings,
)
from logd.broker.listeners import (
    BROKER_ONLY,
    LISTENERS,
    Listeners,
    is_listener_key,
    parse_host_port,
    parse_listeners,
)
from logd.broker.security.config import is_security_key, parse_security
from logd.broker.security.settings import SecuritySettings
from logd.errors import InvalidConfigError
from logd.metadata.types import HostPort
from logd.storage.cleaner_config import CleanerConfig
from logd.storage.space import SpaceSettings
from logd.storage.throttle import UNLIMITED
from logd.tls.settings import TlsSettings

__all__ = [
    "DEFAULT_LISTEN",
    "BrokerConfig",
    "FsyncPolicy",
    "HostPort",
    "Peer",
    "config_text",
    "config_values",
    "load_config",
    "parse_host_port",
    "parse_peers",
]

DEFAULT_LISTEN: Final = "127.0.0.1:7070"
TOPIC_DEFAULTS_PREFIX: Final = "topic.defaults."
_MIB: Final = 1024 * 1024
_MAX_NODE_ID: Final = 2**31 - 1


class FsyncPolicy(enum.StrEnum):
    """When appended bytes reach the disk (DESIGN.md principle 6)."""

    ALWAYS = "always"  # group commit: one fdatasync covers every append waiting for it
    INTERVAL = "interval"  # every ``flush.interval.ms``
    NEVER = "never"  # the OS decides (and shutdown flushes)


@dataclasses.dataclass(frozen=True, slots=True)
class Peer:
    """A member of the cluster as ``--peers`` names it: ``ID@HOST:PORT``."""

    node_id: int
    address: HostPort

    def __str__(self) -> str:
        return f"{self.node_id}@{self.address}"


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Everything a broker needs to start. Immutable; build it with :func:`load_config`."""

    node_id: int = 0
    data_dir: Path = Path("logd-data")
    listen: HostPort = HostPort("127.0.0.1", 7070)  # noqa: RUF009 (frozen: immutable)
    #: The address clients are told to use (Metadata); defaults to ``listen``.
    advertised_listen: HostPort | None = None
    #: Every member of the cluster, this node included; empty: a single node (issue 5).
    peers: tuple[Peer, ...] = ()
    rack: str = ""
    fsync: FsyncPolicy = FsyncPolicy.ALWAYS
    flush_interval_ms: int = 1000
    num_partitions: int = 1
    default_replication_factor: int = 1
    #: Topic-config overrides of storage's defaults, under topic config names.
    topic_defaults: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    retention_check_interval_ms: int = 300_000
    #: The log cleaner (compacted topics), Kafka's ``log.cleaner.*`` names and defaults
    #: (the dedupe buffer is 32 MiB rather than 128: one cleaner thread, small machines).
    cleaner_enable: bool = True
    cleaner_dedupe_buffer_size: int = 32 * _MIB
    cleaner_io_max_bytes_per_second: int = 2**63 - 1
    cleaner_backoff_ms: int = 15_000
    #: The largest request gRPC accepts (its max receive length), and the send bound.
    max_request_bytes: int = 64 * _MIB
    #: Upper bound on a fetch's ``max_wait_ms`` (longer waits are cut to this).
    fetch_max_wait_ms: int = 30_000
    #: Upper bound on a fetch answer's bytes (and the default when a request gives none).
    fetch_max_bytes: int = 50 * _MIB
    #: Requests one produce stream may have in flight before the broker stops reading it.
    produce_max_in_flight: int = 1024
    #: Shutdown: how long in-flight requests may take to finish before they are cancelled.
    shutdown_grace_ms: int = 10_000
    max_partitions_per_topic: int = 10_000
    #: Consumer groups and ``__consumer_offsets`` (``group.*``, ``offsets.*`` keys).
    groups: GroupSettings = dataclasses.field(default_factory=GroupSettings)
    #: The other listeners (Kafka, registry, HTTP, admin, MQTT; ``logd.broker.listeners``).
    listeners: Listeners = dataclasses.field(default_factory=Listeners)
    #: Authentication, authorization (issue 15; ``logd.broker.security.config``).
    security: SecuritySettings = dataclasses.field(default_factory=SecuritySettings)
    #: TLS of every listener and of the brokers' calls to each other.
    tls: TlsSettings = dataclasses.field(default_factory=TlsSettings)
    #: What brokers present to each other without TLS; "" derives it from the peers.
    cluster_id: str = ""
    #: A front end's own settings, by listener name: every key ``<listener>.<rest>`` other
    #: than its address (``mqtt.rules = "rules.toml"`` is ``{"mqtt": {"rules": ...}}``),
    #: as given; the front end checks them when it starts (``InvalidConfigError``).
    frontend_settings: Mapping[str, Mapping[str, Any]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    #: Raft timing (issue 5): one tick for every group; a follower campaigns after a random
    #: ``[e, 2e)`` ticks without a leader (0.75-1.5 s by default: the first of two
    #: followers after ~1 s) and a leader without a quorum for ``e`` ticks steps down;
    #: heartbeats every 3 ticks (150 ms).
    raft_tick_ms: int = 50
    raft_election_ticks: int = 15
    raft_heartbeat_ticks: int = 3
    #: Several Readys in flight per Raft group (etcd's asynchronous storage writes, issue
    #: 22). Off by default: on this 2-core test machine it made RF=3 latency worse in two
    #: of three A/B pairs (bench/README.md, session 6); turn on to measure elsewhere.
    raft_async_writes: bool = False
    #: Broker heartbeats to the controller leader, and when a silent broker counts as down.
    broker_heartbeat_interval_ms: int = 500
    broker_session_timeout_ms: int = 4500
    #: A follower that has not caught up for this long leaves the ISR (Kafka's name).
    replica_lag_time_max_ms: int = 30_000
    #: Whether, and how often, the controller moves leaderships back to their preferred
    #: replicas (Kafka's names and defaults). Off: leaders stay where elections and
    #: ``logd topic transfer-leadership`` put them.
    auto_leader_rebalance_enable: bool = True
    leader_imbalance_check_interval_ms: int = 10_000
    #: The controller leader evens out the replicas over the brokers on its own, a few
    #: moves at a time, whenever no move is in progress (issue 23; Redpanda's
    #: ``partition_autobalancing_mode: continuous``). Off: ``logd cluster partitions balance``.
    partition_autobalancing_enable: bool = False
    #: The catch-up throttle, bytes a second per joining replica, of the moves nobody gave
    #: one: decommission drains, the continuous balancer's moves and ``logd cluster
    #: partitions balance`` without ``--throttle`` (0: none). Redpanda throttles every
    #: learner's recovery (``raft_learner_recovery_rate``); Kafka's reassignments are
    #: throttled only when asked. 30 MB/s: bench.move measured a producer's p99 x2.9 of
    #: its no-move p99 at that rate, x10.7 unthrottled (issue 23). Read on the controller
    #: leader (drains, autobalance) and on the broker asked to balance: set it alike.
    partition_move_throttle: int = 30_000_000
    #: The controller snapshots its image and compacts its log every this many offsets.
    metadata_snapshot_interval: int = 10_000
    #: The InjectFault RPC (tests only); refused unless the broker listens on loopback.
    fault_injection: bool = False
    #: Join a running cluster whose brokers' peer lists do not name this one (``--join``,
    #: issue 23): ``peers`` names them and this broker; needs ``cluster.id`` (theirs) or TLS.
    join: bool = False
    #: Free space (``logd.storage.space``): the reserve client writes never eat into is the
    #: smaller of the two ``min.free`` keys; low space is reported below the smaller of the
    #: two ``alert.free`` keys; statvfs is sampled this often.
    storage_min_free_bytes: int = 1 << 30
    storage_min_free_percent: float = 5.0
    storage_alert_free_bytes: int = 5 << 30
    storage_alert_free_percent: float = 10.0
    storage_space_check_interval_ms: int = 500

    #: Kafka's ``auto.create.topics.enable`` (on by default, as in Kafka): a Metadata request
    #: that allows it creates the missing topics it names, with the defaults.
    auto_create_topics_enable: bool = True
    #: The Kafka listener's bounds (Kafka's names and defaults; ``max.connections`` bounded).
    socket_request_max_bytes: int = 100 * _MIB
    connections_max_idle_ms: int = 600_000
    max_connections: int = 4096
    queued_max_requests: int = 500

    @property
    def space(self) -> SpaceSettings:
        return SpaceSettings(
            self.storage_min_free_bytes,
            self.storage_min_free_percent,
            self.storage_alert_free_bytes,
            self.storage_alert_free_percent,
            self.storage_space_check_interval_ms,
        )

    @property
    def cleaner(self) -> CleanerConfig:
        rate = self.cleaner_io_max_bytes_per_second
        return CleanerConfig(
            self.cleaner_enable,
            self.cleaner_dedupe_buffer_size,
            UNLIMITED if rate >= 2**63 - 1 else float(rate),
            self.cleaner_backoff_ms,
        )

    @property
    def advertised(self) -> HostPort:
        return self.advertised_listen or self.listen


def parse_peers(value: str | list[str] | tuple[str, ...], key: str = "peers") -> tuple[Peer, ...]:
    """``ID@HOST:PORT,...`` (or a TOML list of them) into peers with distinct ids."""
    items = value.split(",") if isinstance(value, str) else list(value)
    peers: list[Peer] = []
    for raw in items:
        if not isinstance(raw, str):
            raise InvalidConfigError(f"{key}: expected ID@HOST:PORT strings, got {raw!r}")
        text = raw.strip()
        if not text:
            continue
        node, sep, address = text.partition("@")
        if not sep or not node.isdigit():
            raise InvalidConfigError(f"{key}: expected ID@HOST:PORT, got {text!r}")
        peers.append(Peer(_node_id(int(node), key), parse_host_port(address, key)))
    ids = [p.node_id for p in peers]
    if len(set(ids)) != len(ids):
        raise InvalidConfigError(f"{key}: a node id appears twice in {value!r}")
    return tuple(peers)


def load_config(
    path: Path | str | None = None, overrides: Mapping[str, Any] | None = None
) -> BrokerConfig:
    """Defaults, then the TOML file at ``path`` (if any), then ``overrides`` (flags).

    ``overrides`` uses the file's dotted key names (``{"node.id": 2}``); None values are
    ignored, so unset flags change nothing.
    """
    values: dict[str, Any] = {}
    if path is not None:
        values.update(_read_toml(Path(path)))
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return _build(values)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError:
        raise InvalidConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise InvalidConfigError(f"config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return _flatten(document)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = prefix + key
        if isinstance(value, dict) and not is_listener_key(name):  # Redpanda's {address, port}
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


# -- value checkers ----------------------------------------------------------------------


def _int(low: int, high: int = 2**63 - 1) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool):
            raise InvalidConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, str):
            text = value.strip()
            if not text.lstrip("-").isdigit():
                raise InvalidConfigError(f"{key}: expected an integer, got {value!r}")
            value = int(text)
        if not isinstance(value, int):
            raise InvalidConfigError(f"{key}: expected an integer, got {value!r}")
        if not low <= value <= high:
            raise InvalidConfigError(f"{key}: {value} is out of range {low}..{high}")
        return value

    return check


def _percent(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidConfigError(f"{key}: expected a percentage, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise InvalidConfigError(f"{key}: expected a percentage, got {value!r}") from None
    if not 0.0 <= number <= 100.0:
        raise InvalidConfigError(f"{key}: {value} is out of range 0..100")
    return number


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidConfigError(f"{key}: expected a string, got {value!r}")
    return value


def _rack(key: str, value: Any) -> str:
    """A rack name: printable, at most 255 characters (Kafka's ``broker.rack``)."""
    text = _str(key, value)
    if len(text) > 255 or not text.isprintable():
        raise InvalidConfigError(f"{key}: a rack name is printable, at most 255 characters")
    return text


def _node_id(value: int, key: str) -> int:
    if not 0 <= value <= _MAX_NODE_ID:
        raise InvalidConfigError(f"{key}: node id {value} is out of range 0..{_MAX_NODE_ID}")
    return value


def _path(key: str, value: Any) -> Path:
    text = _str(key, value)
    if not text.strip():
        raise InvalidConfigError(f"{key}: empty path")
    return Path(text).expanduser()


def _host_port(key: str, value: Any) -> HostPort:
    return parse_host_port(_str(key, value), key)


def _fsync(key: str, value: Any) -> FsyncPolicy:
    try:
        return FsyncPolicy(_str(key, value).strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in FsyncPolicy)
        raise InvalidConfigError(f"{key}: {value!r} is not one of {choices}") from None


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidConfigError(f"{key}: expected true or false, got {value!r}")


def _peers(key: str, value: Any) -> tuple[Peer, ...]:
    if not isinstance(value, str | list | tuple):
        raise InvalidConfigError(f"{key}: expected ID@HOST:PORT,..., got {value!r}")
    return parse_peers(value, key)


# key -> (BrokerConfig field, checker)
_FRONTEND_NAMES: Final = frozenset(spec.name for spec in LISTENERS) - BROKER_ONLY
_FIELDS: Final[dict[str, tuple[str, Callable[[str, Any], Any]]]] = {
    "node.id": ("node_id", _int(0, _MAX_NODE_ID)),
    "data.dir": ("data_dir", _path),
    "listen": ("listen", _host_port),
    "advertised.listen": ("advertised_listen", _host_port),
    "peers": ("peers", _peers),
    "rack": ("rack", _rack),
    "fsync": ("fsync", _fsync),
    "flush.interval.ms": ("flush_interval_ms", _int(1, 86_400_000)),
    "num.partitions": ("num_partitions", _int(1, 100_000)),
    "default.replication.factor": ("default_replication_factor", _int(1, 32)),
    "log.retention.check.interval.ms": ("retention_check_interval_ms", _int(10, 86_400_000)),
    "log.cleaner.enable": ("cleaner_enable", _bool),
    "log.cleaner.dedupe.buffer.size": ("cleaner_dedupe_buffer_size", _int(64 * 1024, 2**40)),
    "log.cleaner.io.max.bytes.per.second": ("cleaner_io_max_bytes_per_second", _int(1024)),
    "log.cleaner.backoff.ms": ("cleaner_backoff_ms", _int(10, 86_400_000)),
    "max.request.bytes": ("max_request_bytes", _int(64 * 1024, 2**31 - 1)),
    "fetch.max.wait.ms": ("fetch_max_wait_ms", _int(0, 600_000)),
    "fetch.max.bytes": ("fetch_max_bytes", _int(1024, 2**31 - 1)),
    "produce.max.in.flight": ("produce_max_in_flight", _int(1, 1_000_000)),
    "shutdown.grace.ms": ("shutdown_grace_ms", _int(0, 600_000)),
    "max.partitions.per.topic": ("max_partitions_per_topic", _int(1, 1_000_000)),
    "raft.tick.ms": ("raft_tick_ms", _int(1, 10_000)),
    "raft.election.ticks": ("raft_election_ticks", _int(2, 10_000)),
    "raft.heartbeat.ticks": ("raft_heartbeat_ticks", _int(1, 10_000)),
    "raft.async.writes": ("raft_async_writes", _bool),
    "broker.heartbeat.interval.ms": ("broker_heartbeat_interval_ms", _int(10, 600_000)),
    "broker.session.timeout.ms": ("broker_session_timeout_ms", _int(10, 3_600_000)),
    "replica.lag.time.max.ms": ("replica_lag_time_max_ms", _int(10, 3_600_000)),
    "auto.leader.rebalance.enable": ("auto_leader_rebalance_enable", _bool),
    "leader.imbalance.check.interval.ms": (
        "leader_imbalance_check_interval_ms",
        _int(10, 86_400_000),
    ),
    "fault.injection.enable": ("fault_injection", _bool),
    "join": ("join", _bool),
    "partition.autobalancing.enable": ("partition_autobalancing_enable", _bool),
    "partition.move.throttle": ("partition_move_throttle", _int(0)),
    "auto.create.topics.enable": ("auto_create_topics_enable", _bool),
    "socket.request.max.bytes": ("socket_request_max_bytes", _int(1024, 2**31 - 1)),
    "connections.max.idle.ms": ("connections_max_idle_ms", _int(1, 2**31 - 1)),
    "max.connections": ("max_connections", _int(1, 1_000_000)),
    "queued.max.requests": ("queued_max_requests", _int(1, 100_000)),
    "metadata.snapshot.interval": ("metadata_snapshot_interval", _int(2, 1 << 40)),
    "storage.min.free.bytes": ("storage_min_free_bytes", _int(0)),
    "storage.min.free.percent": ("storage_min_free_percent", _percent),
    "storage.alert.free.bytes": ("storage_alert_free_bytes", _int(0)),
    "storage.alert.free.percent": ("storage_alert_free_percent", _percent),
    "storage.space.check.interval.ms": ("storage_space_check_interval_ms", _int(10, 600_000)),
}


def _build(values: Mapping[str, Any]) -> BrokerConfig:
    kwargs: dict[str, Any] = {}
    topic_defaults: dict[str, str] = {}
    group_values = {k: v for k, v in values.items() if is_group_key(k)}
    kwargs["groups"] = parse_group_settings(group_values)
    listener_values = {k: v for k, v in values.items() if is_listener_key(k)}
    kwargs["listeners"] = parse_listeners(listener_values)
    security_values = {k: v for k, v in values.items() if is_security_key(k)}
    kwargs["security"], kwargs["tls"], kwargs["cluster_id"] = parse_security(security_values)
    frontend: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        if key in group_values or key in listener_values or key in security_values:
            continue
        name, _, rest = key.partition(".")
        if rest and name in _FRONTEND_NAMES:
            frontend.setdefault(name, {})[rest] = value
            continue
        if key.startswith(TOPIC_DEFAULTS_PREFIX):
            name = key[len(TOPIC_DEFAULTS_PREFIX) :]
            topic_defaults[name] = _topic_value(key, value)
            continue
        field = _FIELDS.get(key)
        if field is None:
            raise InvalidConfigError(f"unknown broker config key {key!r}")
        kwargs[field[0]] = field[1](key, value)
    kwargs["topic_defaults"] = MappingProxyType(topic_defaults)
    kwargs["frontend_settings"] = MappingProxyType(
        {name: MappingProxyType(keys) for name, keys in frontend.items()}
    )
    config = BrokerConfig(**kwargs)
    if config.peers and config.node_id not in {p.node_id for p in config.peers}:
        raise InvalidConfigError(f"peers: node.id {config.node_id} is not among the peers")
    if config.fetch_max_bytes > config.max_request_bytes:
        raise InvalidConfigError("fetch.max.bytes: must not exceed max.request.bytes")
    if config.raft_heartbeat_ticks >= config.raft_election_ticks:
        raise InvalidConfigError("raft.heartbeat.ticks: must be below raft.election.ticks")
    if config.join and len(config.peers) < 2:
        raise InvalidConfigError("join: peers must name the running brokers and this one")
    if config.join and not config.cluster_id and not config.tls.enabled:
        # The brokers present a cluster id to each other without TLS; without cluster.id
        # it is a digest of the peer list, which differs on a broker that joins.
        raise InvalidConfigError("join: needs cluster.id (the running brokers') or TLS")
    if config.fault_injection and not _loopback(config.listen.host):
        # Without TLS the internal service trusts a handshake anyone can forge: a fault hook
        # would let anyone partition the cluster.
        raise InvalidConfigError(
            "fault.injection.enable: only for a broker listening on loopback "
            f"(listen is {config.listen})"
        )
    return config


def config_values(config: BrokerConfig) -> list[tuple[str, str | None, bool]]:
    """Every broker key (groups' included) with its value as text (None: unset) and whether
    that is the default: what Kafka's DescribeConfigs of a broker lists. Security keys are
    left out (their values are secrets or files)."""
    defaults = BrokerConfig()
    out: list[tuple[str, str | None, bool]] = []
    for key, (field, _) in _FIELDS.items():
        value = getattr(config, field)
        out.append((key, _as_text(value), value == getattr(defaults, field)))
    for key, (number, is_default) in group_config_values(config.groups).items():
        out.append((key, str(number), is_default))
    return sorted(out)


def config_text(config: BrokerConfig, key: str, value: str | None = None) -> str:
    """A broker key's value as text: ``value`` checked as the config file's would be and
    written in its canonical form (InvalidConfigError naming the key), or, ``value`` None,
    the value ``config`` has."""
    entry = _FIELDS.get(key)
    if entry is None:
        raise InvalidConfigError(f"{key}: not a broker config")
    field, check = entry
    return _as_text(getattr(config, field) if value is None else check(key, value)) or ""


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _topic_value(key: str, value: Any) -> str:
    # Topic configs travel as strings (as on the wire); their meaning is checked by the
    # storage config parser when the broker starts, which names the key again.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise InvalidConfigError(f"{key}: expected a string or an integer, got {value!r}")
