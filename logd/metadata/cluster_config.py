"""The cluster's dynamic configs (issue 23): which broker keys may be set at runtime,
cluster-wide, and the value a broker applies.

A dynamic config lives in the metadata (a ConfigRecord with an empty topic id: Kafka's
broker-default resource ""), so every broker reads the same value as soon as it applied the
record, without a restart -- Redpanda's cluster configuration, Kafka's
``kafka-configs --entity-type brokers --entity-default``. A key set there wins over the
broker's own config (file or flag), which wins over the built-in default, as Kafka orders a
dynamic default above the static config.

The broker checks a value before it is written (``logd.broker.cluster_configs``, with the
config file's own checks); a reader here still falls back to the broker's value on text it
cannot read, so a bad record can never stop a broker.

Pure: no I/O. Used by the broker core (``partitions balance``) and by the controller
leader's drainer and balancer (``logd.cluster.drainer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["AUTOBALANCE", "DYNAMIC_KEYS", "MOVE_THROTTLE", "autobalance", "move_throttle"]

#: The catch-up throttle of drain and balance moves, bytes/s per joining replica (0: none).
MOVE_THROTTLE: Final = "partition.move.throttle"
#: The continuous balancer on (Redpanda's ``partition_autobalancing_mode: continuous``).
AUTOBALANCE: Final = "partition.autobalancing.enable"
#: The broker keys that may be set cluster-wide at runtime.
DYNAMIC_KEYS: Final = (AUTOBALANCE, MOVE_THROTTLE)


def move_throttle(configs: Mapping[str, str], static: int) -> int:
    """The throttle to apply: the cluster's value, else the broker's own (``static``)."""
    text = configs.get(MOVE_THROTTLE)
    if text is None or not text.isdigit():
        return static
    return int(text)


def autobalance(configs: Mapping[str, str], static: bool) -> bool:
    """Whether the continuous balancer runs: the cluster's value, else the broker's own."""
    text = configs.get(AUTOBALANCE)
    if text not in ("true", "false"):
        return static
    return text == "true"
