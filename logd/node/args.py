"""The command-line flags of a broker (``logd serve`` and ``python -m logd.node``).

Light on purpose: argparse and the listeners' table only, so ``logd --help`` stays fast -- and
every other ``logd`` command, since the CLI builds every verb's parser (``serve`` included)
before it runs one. The config module (``logd.broker.config``, which loads the storage
engine's settings and with them the storage package) is imported when a broker's config is
built from the flags.

Flags override the TOML file given with ``--config``; the file overrides the defaults.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

from logd.broker.listeners import ADVERTISED_KAFKA, LISTENERS, parse_host_port

if TYPE_CHECKING:
    from logd.broker.config import BrokerConfig

__all__ = [
    "add_arguments",
    "add_listener_arguments",
    "config_from_args",
    "listener_arguments",
    "listeners_given",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.toml", help="broker config file (TOML)")
    parser.add_argument("--node-id", type=int, metavar="N", help="this broker's id (default 0)")
    parser.add_argument("--data-dir", metavar="DIR", help="data directory (default ./logd-data)")
    parser.add_argument(
        "--listen", metavar="HOST:PORT", help="address to serve on (default 127.0.0.1:7070)"
    )
    parser.add_argument(
        "--advertised-listen",
        metavar="HOST:PORT",
        help="address clients are told to use (default: --listen)",
    )
    add_listener_arguments(parser)
    parser.add_argument(
        ADVERTISED_KAFKA.flag,
        metavar="HOST:PORT",
        help="the Kafka listener's address clients are told to use (default: the bound one)",
    )
    parser.add_argument(
        "--mqtt-rules",
        metavar="FILE.toml",
        help="MQTT topic -> logd topic/key/headers rules (reloaded when the file changes; "
        "default: the first level names the topic, the second the key)",
    )
    parser.add_argument(
        "--peers",
        metavar="ID@HOST:PORT,...",
        help="every broker of the cluster, this one included (default: a single node)",
    )
    parser.add_argument(
        "--rack",
        metavar="NAME",
        help="this broker's rack (Kafka's broker.rack): the balancer puts no two replicas "
        "of a partition on one rack while there are enough racks",
    )
    parser.add_argument(
        "--fsync",
        choices=("always", "interval", "never"),
        help="when appends reach the disk (default always: group commit; interval and never: "
        "acks=all counts page-cache writes, safe against a crash but not a power loss)",
    )
    parser.add_argument(
        "--join",
        action="store_true",
        default=None,
        help="join a running cluster whose brokers' --peers do not name this one "
        "(--peers: theirs and this one; needs their --cluster-id, or TLS)",
    )
    parser.add_argument(
        "--enable-fault-injection",
        action="store_true",
        default=None,
        help="tests only: serve the InjectFault RPC (loopback brokers only)",
    )
    for flag, metavar, text in _SECURITY_FLAGS:
        parser.add_argument(flag, metavar=metavar, help=text)
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="what the broker logs to stderr (default INFO)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="log lines for people (text, the default) or one JSON object a line (json)",
    )


def add_listener_arguments(parser: argparse.ArgumentParser, *, per_node: bool = False) -> None:
    """One ``--X-listen`` flag per listener (``per_node``: ``logd dev``'s, node 0's address,
    node i's port + i)."""
    for spec in LISTENERS:
        where = "node 0's address (node i: port + i); " if per_node else ""
        parser.add_argument(
            spec.flag,
            metavar="HOST:PORT|off",
            help=f"{spec.speaks}: {where}default {spec.default}",
        )


def listeners_given(args: argparse.Namespace) -> dict[str, str | None]:
    """What the listener flags of :func:`add_listener_arguments` said, by listener name."""
    return {spec.name: getattr(args, _dest(spec.flag)) for spec in LISTENERS}


#: flag, metavar, help; each sets the config key of the same name (``--tls-cert`` ->
#: ``tls.cert``; ``logd.broker.security.config`` lists them).
_SECURITY_FLAGS = (
    ("--tls-cert", "FILE", "PEM certificate: TLS on every listener and between brokers"),
    ("--tls-key", "FILE", "its PEM private key"),
    ("--tls-ca", "FILE", "CA that verifies client and broker certificates"),
    ("--tls-client-auth", "none|requested|required", "client certificates (default none)"),
    ("--auth", "none|sasl", "sasl: SCRAM/PLAIN users on every listener (default none)"),
    ("--super-users", "User:a,User:b", "principals that may do everything"),
    ("--cluster-id", "ID", "what brokers present to each other without TLS"),
    (
        "--ssl-principal-mapping-rules",
        "RULES",
        "certificate DN -> user name, Kafka's syntax (default DEFAULT: the whole DN)",
    ),
)


def config_from_args(args: argparse.Namespace) -> BrokerConfig:
    """Raises InvalidConfigError naming the key for a bad file or flag."""
    from logd.broker.config import load_config

    return load_config(
        args.config,
        {
            "node.id": args.node_id,
            "data.dir": args.data_dir,
            "listen": args.listen,
            "advertised.listen": args.advertised_listen,
            "peers": args.peers,
            "fsync": args.fsync,
            "rack": args.rack,
            "fault.injection.enable": args.enable_fault_injection,
            "join": args.join,
            "mqtt.rules": args.mqtt_rules,
            **{
                flag.removeprefix("--").replace("-", "."): getattr(args, _dest(flag))
                for flag, _, _ in _SECURITY_FLAGS
            },
            **{
                spec.key: getattr(args, _dest(spec.flag)) for spec in (*LISTENERS, ADVERTISED_KAFKA)
            },
        },
    )


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def listener_arguments(
    host: str, offset: int, first: Mapping[str, str | None] | None = None
) -> list[str]:
    """Flags giving every listener node 0's port + ``offset`` (``logd dev`` gives node i
    each port + i, so N nodes on one machine never collide). Node 0's address is the
    listener's default on ``host`` unless ``first`` names it (``HOST:PORT`` or ``off``)."""
    flags: list[str] = []
    for spec in LISTENERS:
        chosen = (first or {}).get(spec.name)
        if chosen is not None and chosen.strip().lower() == "off":
            flags += [spec.flag, "off"]
            continue
        address = parse_host_port(chosen, spec.key) if chosen else None
        at = address.host if address else host
        port = (address.port if address else int(spec.default.rpartition(":")[2])) + offset
        flags += [spec.flag, f"[{at}]:{port}" if ":" in at else f"{at}:{port}"]
    return flags
