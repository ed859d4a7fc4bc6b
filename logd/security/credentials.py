"""Checking a user name and plain password (SASL/PLAIN, HTTP Basic, gRPC call metadata)
against the stored SCRAM credentials, with a bounded cache of recent successes.

Why a cache: gRPC and HTTP carry credentials on *every* call, and one PBKDF2 of 4096
iterations costs milliseconds; Kafka's SASL pays it once per connection. A success is
remembered under HMAC(cache_key, user NUL password) — never the password — together with
the credential it matched, so changing or deleting the user's credential invalidates it at
once. Failures are never cached and always pay the full derivation (an unknown user is
checked against a fake credential), so a failed check takes the same time whether the user
exists or not. Pure; not thread-safe (owned by the broker's event loop).
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable, Sequence

from logd.security.scram import (
    ITERATIONS_MIN,
    ScramCredential,
    ScramMechanism,
    verify_password,
)

__all__ = ["PasswordVerifier"]


class PasswordVerifier:
    """``verify(user, password)``; ``lookup(user)`` returns the user's stored credentials."""

    def __init__(
        self,
        lookup: Callable[[str], Sequence[ScramCredential]],
        cache_key: bytes,
        cache_max: int = 1024,
    ) -> None:
        assert len(cache_key) >= 16
        self._lookup = lookup
        self._key = cache_key
        self._max = cache_max
        self._cache: OrderedDict[bytes, ScramCredential] = OrderedDict()
        mech = ScramMechanism.SCRAM_SHA_256
        seed = hmac.new(cache_key, b"logd-fake", hashlib.sha256).digest()
        self._fake = ScramCredential(mech, seed[:16], seed, seed, ITERATIONS_MIN)

    def verify(self, username: str, password: str) -> bool:
        credentials = self._lookup(username)
        token = hmac.new(
            self._key, username.encode() + b"\0" + password.encode(), hashlib.sha256
        ).digest()
        cached = self._cache.get(token)
        if cached is not None and cached in credentials:
            self._cache.move_to_end(token)
            return True
        if not credentials:
            verify_password(self._fake, password)
            return False
        for credential in credentials:
            if verify_password(credential, password):
                self._remember(token, credential)
                return True
        return False

    def _remember(self, token: bytes, credential: ScramCredential) -> None:
        self._cache[token] = credential
        self._cache.move_to_end(token)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
