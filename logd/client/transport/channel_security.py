"""How a client's gRPC channel is secured, from confluent-kafka's settings
(``security.protocol``, ``sasl.*``, ``ssl.*``; DESIGN.md "Security"):

- ``SSL`` / ``SASL_SSL``: a TLS channel verifying the broker with ``ssl.ca.location`` (the
  system store without it) and presenting ``ssl.certificate.location`` +
  ``ssl.key.location`` when given (mTLS).
- ``SASL_PLAINTEXT`` / ``SASL_SSL``: every call carries the user and password as call
  metadata (``authorization: Basic …``), checked by the broker against the user's stored
  SCRAM keys whatever ``sasl.mechanism`` names. Over ``SASL_PLAINTEXT`` the password
  crosses the network in clear, as SASL/PLAIN does in Kafka: use it on loopback only.

``Connection`` adds :func:`call_metadata` to every call it makes (unary calls and the
produce stream): all client calls go through it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from logd.client.config import ClientConfig
from logd.errors import InvalidConfigError

__all__ = ["AUTHORIZATION_KEY", "basic_token", "call_metadata", "secure_channel"]

AUTHORIZATION_KEY = "authorization"


def basic_token(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def call_metadata(config: ClientConfig) -> tuple[tuple[str, str], ...]:
    """The metadata every call carries: the credentials, under SASL_* protocols. (Passed per
    call, not by an interceptor: grpc.aio's intercepted streams fail their writes.)"""
    protocol = config.security_protocol
    if not protocol.startswith("SASL_"):
        return ()
    if not config.sasl_username or config.sasl_password is None:
        raise InvalidConfigError(
            f"security.protocol={protocol} needs sasl.username and sasl.password"
        )
    return ((AUTHORIZATION_KEY, basic_token(config.sasl_username, config.sasl_password)),)


def _read(key: str, location: str | None) -> bytes | None:
    if location is None:
        return None
    try:
        return Path(location).read_bytes()
    except OSError as exc:
        raise InvalidConfigError(f"{key}: cannot read {location} ({exc.strerror})") from None


def secure_channel(
    address: str, config: ClientConfig, options: Sequence[tuple[str, Any]]
) -> grpc.aio.Channel:
    """The channel to one broker, as the config's security settings say."""
    if config.security_protocol in ("SSL", "SASL_SSL"):
        credentials = grpc.ssl_channel_credentials(
            _read("ssl.ca.location", config.ssl_ca_location),
            _read("ssl.key.location", config.ssl_key_location),
            _read("ssl.certificate.location", config.ssl_certificate_location),
        )
        return grpc.aio.secure_channel(address, credentials, options=options)
    return grpc.aio.insecure_channel(address, options=options)
