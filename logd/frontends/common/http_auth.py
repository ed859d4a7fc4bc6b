"""How an HTTP front end (registry, http, admin) learns who calls: the principal of an
``Authorization: Basic base64(user:password)`` header, checked against the user's stored
SCRAM keys, or of the verified TLS client certificate -- both through the seam's security
half, so the same authenticator, failure delay and counters serve every door. What each
front end does with them (when a header is believed, forwarded principals, quotas) stays
its own.

Ownership: the broker's event loop.
"""

from __future__ import annotations

import ssl

from aiohttp import web

from logd.broker.seam import BrokerSeam
from logd.errors import LogdError, SaslAuthenticationFailedError
from logd.security.plain import parse_basic

__all__ = ["NO_CREDENTIALS", "certificate_principal", "password_principal", "peer_pem"]

NO_CREDENTIALS = (
    "authentication required: give HTTP Basic credentials (a logd user) or a client certificate"
)


def peer_pem(request: web.Request) -> bytes | None:
    """The client certificate the TLS handshake verified, as PEM (None: none, or no TLS)."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return ssl.DER_cert_to_PEM_cert(der).encode("ascii") if der else None


async def password_principal(header: str, seam: BrokerSeam, listener: str, address: str) -> str:
    """The principal of an ``Authorization`` header; a malformed one is counted as a
    failed authentication and refused (SaslAuthenticationFailedError, answered 401)."""
    security = seam.security
    try:
        credentials = parse_basic(header)
    except LogdError:
        await security.failed(listener, "bad authorization", address)
        raise
    return await security.authenticate_password(
        credentials.username, credentials.password, listener, address
    )


async def certificate_principal(
    request: web.Request, seam: BrokerSeam, listener: str, address: str
) -> str:
    """The principal of the client certificate of a request that gave no password, when
    authentication is required: without one, a counted failure and 401."""
    security = seam.security
    pem = peer_pem(request)
    if pem is None:
        await security.failed(listener, "no credentials", address)
        raise SaslAuthenticationFailedError(NO_CREDENTIALS)
    return await security.certificate_principal(pem, listener, address)
