"""How a client's gRPC channel is secured, from confluent-kafka's settings
(``security.protocol``, ``sasl.*``, ``ssl.*``; DESIGN.md "Security"):

- ``SSL`` / ``SASL_SSL``: a TLS channel verifying the broker with ``ssl.ca.location`` (the
  system store without it) and presenting ``ssl.certificate.location`` +
  ``ssl.key.location`` when given (mTLS).
- ``SASL_PLAINTEXT`` / ``SASL_SSL``: every call carries the user and password as call
  metadata (``authorization: Basic …``), checked by the broker against the user's stored
  SCRAM keys whatever ``sasl.mechanism`` names. Over ``SASL_PLAINTEXT`` the password
  crosses the network in clear, as SASL/PLAIN does in Kafka: use it on loopback only.

One interceptor adds the metadata to every kind of call, so no stub can forget it.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from logd.client.config import ClientConfig
from logd.errors import InvalidConfigError

__all__ = ["AUTHORIZATION_KEY", "basic_token", "secure_channel"]

AUTHORIZATION_KEY = "authorization"


def basic_token(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class _Credentials(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.aio.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.aio.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds ``authorization`` to every call's metadata."""

    def __init__(self, token: str) -> None:
        self._pair = (AUTHORIZATION_KEY, token)

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self._pair)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._details(details), request)

    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._details(details), requests)


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
    protocol = config.security_protocol
    interceptors: list[Any] = []
    if protocol.startswith("SASL_"):
        if not config.sasl_username or config.sasl_password is None:
            raise InvalidConfigError(
                f"security.protocol={protocol} needs sasl.username and sasl.password"
            )
        interceptors.append(_Credentials(basic_token(config.sasl_username, config.sasl_password)))
    if protocol in ("SSL", "SASL_SSL"):
        credentials = grpc.ssl_channel_credentials(
            _read("ssl.ca.location", config.ssl_ca_location),
            _read("ssl.key.location", config.ssl_key_location),
            _read("ssl.certificate.location", config.ssl_certificate_location),
        )
        return grpc.aio.secure_channel(
            address, credentials, options=options, interceptors=interceptors
        )
    return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)
