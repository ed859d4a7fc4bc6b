"""Authentication for every front end: what a caller proved -> its principal.

A front end speaks its protocol (SASL frames on the Kafka listener, call metadata on gRPC,
HTTP Basic …) and hands what it received to this one authenticator, so a user and password
mean the same thing on every door and every failure is counted in one place.

- ``password(user, password)``: PLAIN, HTTP Basic, gRPC metadata; checked against the
  user's stored SCRAM keys (``PasswordVerifier``: constant-time, unknown users cost the same).
- ``scram(mechanism)``: a fresh server-side SCRAM exchange (``ScramServer``) bound to the
  stored credentials.
- ``certificate(pem)``: an mTLS client certificate -> ``User:<mapped DN>`` through
  ``ssl.principal.mapping.rules``.

A failed authentication is answered after ``FAILED_AUTHENTICATION_DELAY_MS`` (Kafka's
``connection.failed.authentication.delay.ms``, KIP-306: a guesser gets ten tries a second
per connection, not thousands); front ends ``await asyncio.sleep(delay)`` before they answer.

Not thread-safe; owned by the broker's event loop.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

from logd.broker.security.settings import SecuritySettings
from logd.broker.security.state import SecurityState
from logd.errors import SaslAuthenticationFailedError, UnsupportedSaslMechanismError
from logd.security.cert_names import subject_dn
from logd.security.credentials import PasswordVerifier
from logd.security.principal import KafkaPrincipal
from logd.security.principal_mapping import PrincipalMapper, PrincipalMappingError
from logd.security.scram import ScramMechanism, ScramServer, new_nonce

__all__ = ["FAILED_AUTHENTICATION_DELAY_MS", "Authenticator"]

FAILED_AUTHENTICATION_DELAY_MS = 100


class Authenticator:
    def __init__(
        self,
        settings: SecuritySettings,
        state: SecurityState,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.settings = settings
        self.state = state
        self._random = random_bytes
        self._unknown_user_secret = random_bytes(32)
        self._verifier = PasswordVerifier(state.credentials, random_bytes(32))
        self._mapper = PrincipalMapper(settings.principal_mapping_rules)
        #: (listener, how) -> count, for metrics and the tests: "password", "scram", "tls".
        self.successes: Counter[tuple[str, str]] = Counter()
        self.failures: Counter[tuple[str, str]] = Counter()

    def failed(self, listener: str, how: str) -> None:
        """Counts one failure a front end saw itself (a bad SASL frame, a TLS refusal)."""
        self.failures[(listener, how)] += 1

    def password(self, username: str, password: str, listener: str) -> str:
        """The principal for a user and password, or SaslAuthenticationFailedError."""
        if username and password and self._verifier.verify(username, password):
            self.successes[(listener, "password")] += 1
            return str(KafkaPrincipal.user(username))
        self.failed(listener, "password")
        raise SaslAuthenticationFailedError("Authentication failed: Invalid username or password")

    def scram(self, mechanism_name: str) -> ScramServer:
        """A new SCRAM exchange; UnsupportedSaslMechanismError for a mechanism not enabled."""
        if mechanism_name not in self.settings.sasl_mechanisms:
            raise UnsupportedSaslMechanismError(
                f"Unsupported SASL mechanism {mechanism_name}"
                f" (enabled: {', '.join(self.settings.sasl_mechanisms)})"
            )
        mechanism = ScramMechanism.from_name(mechanism_name)
        return ScramServer(
            mechanism,
            lambda user: self.state.credential(user, mechanism),
            new_nonce(self._random(24)),
            self._unknown_user_secret,
        )

    def scram_done(self, server: ScramServer, listener: str) -> str:
        """The principal of a completed exchange (counted)."""
        assert server.complete and server.username is not None
        self.successes[(listener, "scram")] += 1
        return str(KafkaPrincipal.user(server.username))

    def certificate(self, pem: bytes, listener: str) -> str:
        """``User:<name>`` from a verified client certificate, mapped by the rules."""
        dn = subject_dn(pem)
        try:
            name = self._mapper.name(dn)
        except PrincipalMappingError as exc:
            self.failed(listener, "tls")
            raise SaslAuthenticationFailedError(f"Authentication failed: {exc}") from None
        self.successes[(listener, "tls")] += 1
        return str(KafkaPrincipal.user(name))
