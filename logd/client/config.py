"""Client configuration: Python keyword names and Kafka's dotted keys, checked once.

``Producer(linger_ms=5)`` and ``Producer({"linger.ms": 5})`` mean the same thing; a dict may
mix both spellings and keyword arguments win over it. Values given as strings (as they come
from a properties file or the command line) are parsed. An unknown key or a bad value raises
:class:`InvalidConfigError` naming the key, before any connection is made.

Each client has a frozen dataclass; its fields are the Python names and a table maps every
accepted dotted key to a field. Immutable once built: safe to share between threads.

Idempotence (Kafka ≥ 3): ``enable_idempotence`` is on by default and needs ``acks=all``.
Set explicitly together with acks 0 or 1 it is refused; left to its default, acks 0 or 1
turn it off (as Kafka's ``postProcessAndValidateIdempotenceConfigs`` does, with a log line).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

from logd.errors import InvalidConfigError

__all__ = [
    "DEFAULT_BROKERS",
    "AdminConfig",
    "ClientConfig",
    "ConsumerConfig",
    "ProducerConfig",
    "parse_config",
]

DEFAULT_BROKERS: Final = "127.0.0.1:7070"

_log = logging.getLogger(__name__)

_ACKS = {"all": -1, "-1": -1, "1": 1, "0": 0}
_COMPRESSION = ("none", "lz4", "zstd", "gzip", "snappy")
_PARTITIONERS = ("mmh3", "murmur2")
_RESETS = ("earliest", "latest", "error")
_ISOLATION = ("read_committed", "read_uncommitted")
_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_SECURITY_TEXT = (
    "sasl_username",
    "sasl_password",
    "ssl_ca_location",
    "ssl_certificate_location",
    "ssl_key_location",
)
#: The assignors a consumer may name (partitioning.ASSIGNORS' keys), in Kafka's spelling.
_ASSIGNORS = ("cooperative-sticky", "range", "roundrobin")
_ASSIGNOR_ALIASES = {
    "org.apache.kafka.clients.consumer.cooperativestickyassignor": "cooperative-sticky",
    "org.apache.kafka.clients.consumer.rangeassignor": "range",
    "org.apache.kafka.clients.consumer.roundrobinassignor": "roundrobin",
}


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    """Settings every client has."""

    brokers: tuple[str, ...] = (DEFAULT_BROKERS,)
    client_id: str = "logd-python"
    request_timeout_ms: int = 30_000
    retry_backoff_ms: int = 100
    retry_backoff_max_ms: int = 1_000
    metadata_max_age_ms: int = 300_000
    #: Reconnect backoff of the gRPC channels (gRPC's own default starts at 1 s and grows
    #: to 120 s, far too slow to notice a restarted broker).
    reconnect_backoff_ms: int = 50
    reconnect_backoff_max_ms: int = 1_000
    #: How long one connection attempt (TCP, TLS, HTTP/2 settings) may take before it counts
    #: as failed (librdkafka's ``socket.connection.setup.timeout.ms``, default 30 s). gRPC
    #: reads it from ``grpc.min_reconnect_backoff_ms``; left at the reconnect backoff it was
    #: ~100 ms, and a loaded broker or a TLS handshake over a real network failed the call.
    socket_connection_setup_timeout_ms: int = 30_000
    #: confluent-kafka's security settings (what each does: logd.client.transport.channel_security).
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-256"
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None


@dataclasses.dataclass(frozen=True)
class ProducerConfig(ClientConfig):
    acks: int = -1
    linger_ms: int = 5
    batch_size: int = 1_048_576
    compression: str = "lz4"
    buffer_memory: int = 64 << 20
    block_on_buffer_full: bool = True
    max_block_ms: int = 60_000
    delivery_timeout_ms: int = 120_000
    max_in_flight: int = 5
    #: Sequence numbers so that retries never duplicate a record (needs acks=all).
    enable_idempotence: bool = True
    #: The largest request the producer sends (Kafka's ``max.request.size``); a single
    #: record larger than this is refused at ``produce()``.
    max_request_size: int = 16 << 20
    #: Where keyed records go: ``mmh3`` (logd's contract, DESIGN.md "Partitioning") or
    #: ``murmur2`` (Kafka's: the partition a Kafka client would pick for the same key).
    partitioner: str = "mmh3"
    #: KAFKA_STORAGE_ERROR (a broker's disk below its reserve, or failing) is retriable and
    #: retried like any other until ``delivery_timeout_ms`` -- space may return. False: such
    #: a batch fails at once, so a person at a terminal hears of it now (``logd produce``).
    retry_storage_errors: bool = True


@dataclasses.dataclass(frozen=True)
class ConsumerConfig(ClientConfig):
    group_id: str | None = None
    auto_offset_reset: str = "latest"
    fetch_min_bytes: int = 1
    fetch_max_bytes: int = 50 << 20
    max_partition_fetch_bytes: int = 1 << 20
    fetch_max_wait_ms: int = 500
    isolation_level: str = "read_committed"
    #: Fetched bytes buffered per partition ahead of the application (prefetch bound).
    max_buffered_bytes: int = 64 << 20
    # Consumer groups (used with group_id), Kafka's names and defaults.
    group_instance_id: str | None = None
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 3_000
    #: A member that does not poll this long leaves the group (and rejoins when it polls).
    max_poll_interval_ms: int = 300_000
    enable_auto_commit: bool = True
    auto_commit_interval_ms: int = 5_000
    #: Assignors in order of preference; the group picks one every member supports.
    partition_assignment_strategy: tuple[str, ...] = ("cooperative-sticky", "range")


@dataclasses.dataclass(frozen=True)
class AdminConfig(ClientConfig):
    pass


C = TypeVar("C", bound=ClientConfig)

# Kafka's dotted names (and a few librdkafka aliases) -> field names.
_DOTTED: Final[dict[str, str]] = {
    "bootstrap.servers": "brokers",
    "metadata.broker.list": "brokers",
    "client.id": "client_id",
    "request.timeout.ms": "request_timeout_ms",
    "retry.backoff.ms": "retry_backoff_ms",
    "retry.backoff.max.ms": "retry_backoff_max_ms",
    "metadata.max.age.ms": "metadata_max_age_ms",
    "reconnect.backoff.ms": "reconnect_backoff_ms",
    "reconnect.backoff.max.ms": "reconnect_backoff_max_ms",
    "socket.connection.setup.timeout.ms": "socket_connection_setup_timeout_ms",
    "acks": "acks",
    "request.required.acks": "acks",
    "linger.ms": "linger_ms",
    "queue.buffering.max.ms": "linger_ms",
    "batch.size": "batch_size",
    "compression.type": "compression",
    "compression.codec": "compression",
    "partitioner": "partitioner",
    "buffer.memory": "buffer_memory",
    "block.on.buffer.full": "block_on_buffer_full",
    "max.block.ms": "max_block_ms",
    "delivery.timeout.ms": "delivery_timeout_ms",
    "message.timeout.ms": "delivery_timeout_ms",
    "max.in.flight.requests.per.connection": "max_in_flight",
    "max.in.flight": "max_in_flight",
    "max.request.size": "max_request_size",
    "enable.idempotence": "enable_idempotence",
    "group.id": "group_id",
    "auto.offset.reset": "auto_offset_reset",
    "fetch.min.bytes": "fetch_min_bytes",
    "fetch.max.bytes": "fetch_max_bytes",
    "max.partition.fetch.bytes": "max_partition_fetch_bytes",
    "fetch.max.wait.ms": "fetch_max_wait_ms",
    "fetch.wait.max.ms": "fetch_max_wait_ms",
    "isolation.level": "isolation_level",
    "group.instance.id": "group_instance_id",
    "session.timeout.ms": "session_timeout_ms",
    "heartbeat.interval.ms": "heartbeat_interval_ms",
    "max.poll.interval.ms": "max_poll_interval_ms",
    "enable.auto.commit": "enable_auto_commit",
    "auto.commit.interval.ms": "auto_commit_interval_ms",
    "partition.assignment.strategy": "partition_assignment_strategy",
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_username",
    "sasl.password": "sasl_password",
    "ssl.ca.location": "ssl_ca_location",
    "ssl.certificate.location": "ssl_certificate_location",
    "ssl.key.location": "ssl_key_location",
}

# Python spellings other clients use (aiokafka, kafka-python) -> field names.
_ALIASES: Final[dict[str, str]] = {
    "bootstrap_servers": "brokers",
    "compression_type": "compression",
    "max_in_flight_requests_per_connection": "max_in_flight",
}

_BOOLS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def parse_config(cls: type[C], config: Mapping[str, Any] | None, options: Mapping[str, Any]) -> C:
    """Build ``cls`` from a dict (dotted or Python keys) and keyword ``options``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    raw: dict[str, tuple[str, Any]] = {}  # field -> (the key as the user spelled it, value)
    for source in (config or {}, options):
        if not isinstance(source, Mapping):
            raise InvalidConfigError(f"config must be a dict, got {type(source).__name__}")
        for key, value in source.items():
            if not isinstance(key, str):
                raise InvalidConfigError(f"config keys are strings, got {key!r}")
            name = _DOTTED.get(key, key) if "." in key else _ALIASES.get(key, key)
            if name not in fields:
                raise InvalidConfigError(f"unknown config key {key!r} for {_client_name(cls)}")
            raw[name] = (key, value)
    values = {name: _convert(name, key, value) for name, (key, value) in raw.items()}
    built = cls(**values)
    _check(built)
    if isinstance(built, ProducerConfig):
        built = _resolve_idempotence(built, explicit="enable_idempotence" in raw)  # type: ignore[assignment]
    return built


def _resolve_idempotence(config: ProducerConfig, *, explicit: bool) -> ProducerConfig:
    if not config.enable_idempotence or config.acks == -1:
        return config
    if explicit:
        raise InvalidConfigError(
            f"enable_idempotence needs acks=all, not acks={config.acks}: set acks=all, or "
            "enable_idempotence=False for the weaker guarantee"
        )
    _log.info("acks=%d: idempotence is off (it needs acks=all)", config.acks)
    return dataclasses.replace(config, enable_idempotence=False)


def _client_name(cls: type) -> str:
    return cls.__name__.removesuffix("Config").lower() or "client"


def _convert(name: str, key: str, value: Any) -> Any:
    """One value, converted to its field's type or refused in one line naming ``key``."""
    if name == "brokers":
        return _brokers(key, value)
    if name == "acks":
        text = str(value).strip().lower()
        if isinstance(value, bool) or text not in _ACKS:
            raise InvalidConfigError(f"{key} must be all, 1 or 0, got {value!r}")
        return _ACKS[text]
    if name in (
        "block_on_buffer_full", "enable_auto_commit", "enable_idempotence",
        "retry_storage_errors",
    ):  # fmt: skip
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise InvalidConfigError(f"{key} must be true or false, got {value!r}")
    if name == "partition_assignment_strategy":
        return _assignors(key, value)
    if name in ("security_protocol", "sasl_mechanism"):
        choices = _PROTOCOLS if name == "security_protocol" else _MECHANISMS
        text = str(value).strip().upper()
        if text not in choices:
            raise InvalidConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
        return text
    if name in _SECURITY_TEXT:
        if value is not None and not isinstance(value, str):
            raise InvalidConfigError(f"{key} must be a string, got {type(value).__name__}")
        return value
    if name in (
        "compression",
        "partitioner",
        "auto_offset_reset",
        "isolation_level",
        "client_id",
        "group_id",
        "group_instance_id",
    ):
        return _text(name, key, value)
    return _integer(key, value)


def _assignors(key: str, value: Any) -> tuple[str, ...]:
    items: Sequence[Any] = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidConfigError(f"{key} must be a list of assignor names, got {value!r}")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidConfigError(f"{key}: assignor names are strings, got {item!r}")
        name = item.strip().lower()
        name = _ASSIGNOR_ALIASES.get(name, name)
        if not name:
            continue
        if name not in _ASSIGNORS:
            known = ", ".join(_ASSIGNORS)
            raise InvalidConfigError(f"{key}: unknown assignor {item!r} (known: {known})")
        if name not in names:
            names.append(name)
    if not names:
        raise InvalidConfigError(f"{key} names no assignor")
    return tuple(names)


def _text(name: str, key: str, value: Any) -> str | None:
    if value is None and name in ("group_id", "group_instance_id"):
        return None
    if not isinstance(value, str):
        raise InvalidConfigError(f"{key} must be a string, got {value!r}")
    choices = {
        "compression": _COMPRESSION,
        "partitioner": _PARTITIONERS,
        "auto_offset_reset": _RESETS,
        "isolation_level": _ISOLATION,
    }.get(name)
    text = value.strip().lower() if choices else value
    if name == "auto_offset_reset":
        # Kafka's and librdkafka's synonyms.
        text = {"smallest": "earliest", "beginning": "earliest", "largest": "latest"}.get(
            text, text
        )
        text = {"end": "latest", "none": "error"}.get(text, text)
    if name == "partitioner":
        # librdkafka's name of Kafka's (Java-compatible) keyed partitioning.
        text = {"murmur2_random": "murmur2"}.get(text, text)
    if choices and text not in choices:
        raise InvalidConfigError(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return text


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidConfigError(f"{key} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip().replace("_", ""))
        except ValueError:
            pass
    raise InvalidConfigError(f"{key} must be an integer, got {value!r}")


def _brokers(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items: Sequence[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise InvalidConfigError(f"{key} must be 'host:port[,host:port...]', got {value!r}")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidConfigError(f"{key}: broker addresses are strings, got {item!r}")
        address = item.strip()
        if not address:
            continue
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidConfigError(f"{key}: {address!r} is not host:port")
        out.append(address)
    if not out:
        raise InvalidConfigError(f"{key} names no broker")
    return tuple(out)


# Lower bounds of the integer settings; a value below is refused.
_MINIMUM: Final[dict[str, int]] = {
    "request_timeout_ms": 1,
    "retry_backoff_ms": 0,
    "retry_backoff_max_ms": 0,
    "metadata_max_age_ms": 0,
    "reconnect_backoff_ms": 1,
    "reconnect_backoff_max_ms": 1,
    "socket_connection_setup_timeout_ms": 1,
    "linger_ms": 0,
    "batch_size": 1,
    "buffer_memory": 1,
    "max_block_ms": 0,
    "delivery_timeout_ms": 1,
    "max_in_flight": 1,
    "max_request_size": 1024,
    "fetch_min_bytes": 0,
    "fetch_max_bytes": 1,
    "max_partition_fetch_bytes": 1,
    "fetch_max_wait_ms": 0,
    "max_buffered_bytes": 1,
    "session_timeout_ms": 1,
    "heartbeat_interval_ms": 1,
    "max_poll_interval_ms": 1,
    "auto_commit_interval_ms": 1,
}
_INT32_MAX: Final = (1 << 31) - 1


def _check(config: ClientConfig) -> None:
    for f in dataclasses.fields(config):
        minimum = _MINIMUM.get(f.name)
        if minimum is None:
            continue
        value = getattr(config, f.name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidConfigError(f"{f.name} must be an integer, got {value!r}")
        if not minimum <= value <= _INT32_MAX:
            raise InvalidConfigError(
                f"{f.name} must be between {minimum} and {_INT32_MAX}, got {value}"
            )
    if isinstance(config, ConsumerConfig):
        _check_group(config)
    if isinstance(config, ProducerConfig) and config.compression == "zstd":
        try:
            import zstandard  # noqa: F401
        except ImportError:
            raise InvalidConfigError(
                "compression zstd needs the zstandard package (pip install 'logd[zstd]')"
            ) from None


def _check_group(config: ConsumerConfig) -> None:
    if config.group_id is not None and not config.group_id:
        raise InvalidConfigError("group_id must not be empty (None: no group)")
    if config.group_instance_id is not None and config.group_id is None:
        raise InvalidConfigError("group_instance_id needs a group_id")
    if config.heartbeat_interval_ms >= config.session_timeout_ms:
        raise InvalidConfigError(
            f"heartbeat_interval_ms ({config.heartbeat_interval_ms}) must be lower than "
            f"session_timeout_ms ({config.session_timeout_ms})"
        )
