"""What every request of one Kafka listener shares: the broker, the API table, the address
clients are told to use, and the settings.

Ownership: built once by the listener at start; immutable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from logd.broker.seam import BrokerSeam
from logd.frontends.kafka.apis import Api
from logd.frontends.kafka.settings import KafkaSettings

__all__ = ["ServerContext"]


@dataclasses.dataclass(frozen=True, slots=True)
class ServerContext:
    #: The broker core, through its front-end seam.
    broker: BrokerSeam
    apis: Mapping[int, Api]
    settings: KafkaSettings
    #: The host and port Metadata answers name for this broker.
    advertised_host: str
    advertised_port: int
