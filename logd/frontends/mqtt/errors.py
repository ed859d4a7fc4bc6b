"""The MQTT front end's one expected failure: :class:`MqttError`, a protocol violation or a
refusal carrying the MQTT reason code the peer is told (5.0) or that decides whether a
3.1.1 peer gets a return code or a closed connection.

It is an ``InvalidRequestError`` (logd/errors.py; Kafka's INVALID_REQUEST, not retriable),
so anything above the front end sees a logd error; the listener turns it into the packet
or the closed connection at one boundary (the connection's handler).
"""

from __future__ import annotations

from logd.errors import InvalidRequestError
from logd.frontends.mqtt.reasons import ReasonCode

__all__ = ["MqttError", "malformed", "protocol_error"]


class MqttError(InvalidRequestError):
    """A bad packet or a refused request; ``reason`` is what the peer is told."""

    def __init__(self, reason: ReasonCode, message: str, *, version: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        # CONNECT only: the protocol level to answer in (a CONNACK), None for a bare close.
        self.version = version


def malformed(message: str) -> MqttError:
    return MqttError(ReasonCode.MALFORMED_PACKET, message)


def protocol_error(message: str) -> MqttError:
    return MqttError(ReasonCode.PROTOCOL_ERROR, message)
