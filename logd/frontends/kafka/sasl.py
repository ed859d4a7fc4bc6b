"""One Kafka connection's authentication state (SaslHandshake, then SaslAuthenticate frames,
KIP-152), as Kafka's SaslServerAuthenticator keeps it:

    HANDSHAKE --SaslHandshake(mechanism enabled)--> AUTHENTICATE --(done)--> AUTHENTICATED
                                                                --(failed)--> FAILED

While SASL is on, only ApiVersions, SaslHandshake and SaslAuthenticate are served before
AUTHENTICATED (anything else closes the connection, as Kafka's ILLEGAL_SASL_STATE does), and
no frame larger than ``UNAUTHENTICATED_FRAME_MAX`` is read (Kafka's
``sasl.server.max.receive.size``; CVE-2022-34917 was the allocation before authentication).
A FAILED connection answers its last SaslAuthenticate and is closed.

With TLS and a client certificate (``--tls-client-auth``) but no SASL, the certificate's
principal is the connection's from the start. Not thread-safe; owned by the connection.
"""

from __future__ import annotations

import enum
from typing import Final

from logd.broker.seam import ANONYMOUS
from logd.security.scram import ScramServer

__all__ = ["PRE_AUTH_APIS", "UNAUTHENTICATED_FRAME_MAX", "SaslPhase", "SaslState"]

UNAUTHENTICATED_FRAME_MAX: Final = 524_288
#: ApiVersions, SaslHandshake, SaslAuthenticate.
PRE_AUTH_APIS: Final = frozenset({18, 17, 36})


class SaslPhase(enum.Enum):
    HANDSHAKE = "handshake"
    AUTHENTICATE = "authenticate"
    AUTHENTICATED = "authenticated"
    FAILED = "failed"


class SaslState:
    def __init__(self, *, required: bool, principal: str = ANONYMOUS.principal) -> None:
        self.required = required
        self.phase = SaslPhase.HANDSHAKE if required else SaslPhase.AUTHENTICATED
        self.principal = principal
        self.mechanism: str | None = None
        self.scram: ScramServer | None = None

    @property
    def authenticated(self) -> bool:
        return self.phase is SaslPhase.AUTHENTICATED

    def allows(self, api_key: int) -> bool:
        """May a request of ``api_key`` be served now?"""
        if self.phase is SaslPhase.FAILED:
            return False
        return self.authenticated or api_key in PRE_AUTH_APIS

    def chose(self, mechanism: str, scram: ScramServer | None) -> None:
        self.mechanism, self.scram = mechanism, scram
        self.phase = SaslPhase.AUTHENTICATE

    def succeeded(self, principal: str) -> None:
        self.principal = principal
        self.scram = None
        self.phase = SaslPhase.AUTHENTICATED

    def failed(self) -> None:
        self.scram = None
        self.phase = SaslPhase.FAILED
