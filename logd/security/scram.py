"""SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks them: credentials,
the server's side of the exchange, and a client for tests and tools.

What the server stores is a :class:`ScramCredential` (salt, StoredKey, ServerKey,
iterations): never a password, never the salted password. Rules kept here, each against a
known failure of another implementation:

- The client-final nonce must equal the one the server sent (CVE-2024-56128: Kafka did not
  check it; librdkafka < 2.6.1's doubled client nonce is the one other form accepted); the
  channel-binding field must repeat the client's GS2 header.
- Every comparison of secret-derived bytes is ``hmac.compare_digest`` (CVE-2021-38153).
- An authorization id, when given, must equal the user name (CVE-2017-12610-style
  impersonation); the ``tokenauth`` extension (delegation tokens) is refused.
- An unknown user gets a server-first built from a salt derived from a secret, so the
  exchange looks the same as for a known user and fails at the same step with the same error.
- Iterations are within Kafka's bounds, 4096..16384.
- Every message is bounded (``MESSAGE_MAX``) before it is parsed.

Sans-I/O (STYLE.md 3): bytes in, bytes out; randomness (nonces) is passed in. Not
thread-safe: one :class:`ScramServer` per authenticating connection.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass

from logd.errors import (
    SaslAuthenticationFailedError,
    UnacceptableCredentialError,
    UnsupportedSaslMechanismError,
)

__all__ = [
    "ITERATIONS_MAX",
    "ITERATIONS_MIN",
    "MESSAGE_MAX",
    "ScramClient",
    "ScramCredential",
    "ScramMechanism",
    "ScramServer",
    "credential_from_salted_password",
    "make_credential",
    "new_nonce",
    "salted_password",
    "verify_password",
]

ITERATIONS_MIN = 4096  # Kafka's ScramMechanism.minIterations for both hashes
ITERATIONS_MAX = 16384  # Kafka's maxIterations
MESSAGE_MAX = 8192
_NONCE_MAX = 512
_CLIENT_KEY = b"Client Key"
_SERVER_KEY = b"Server Key"


class ScramMechanism(enum.IntEnum):
    """Kafka's numbering (DescribeUserScramCredentials: 1 = SHA-256, 2 = SHA-512)."""

    SCRAM_SHA_256 = 1
    SCRAM_SHA_512 = 2

    @property
    def mechanism_name(self) -> str:
        return self.name.replace("_", "-")

    @property
    def hash_name(self) -> str:
        return "sha256" if self is ScramMechanism.SCRAM_SHA_256 else "sha512"

    @classmethod
    def from_name(cls, name: str) -> ScramMechanism:
        for member in cls:
            if member.mechanism_name == name.strip().upper().replace("_", "-"):
                return member
        raise UnsupportedSaslMechanismError(f"unsupported SCRAM mechanism {name!r}")

    def hmac(self, key: bytes, message: bytes) -> bytes:
        return hmac.new(key, message, self.hash_name).digest()

    def digest(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_name, data).digest()


@dataclass(frozen=True)
class ScramCredential:
    """What the controller keeps for one user and mechanism (RFC 5802 section 3)."""

    mechanism: ScramMechanism
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


def _check_iterations(iterations: int) -> None:
    if not ITERATIONS_MIN <= iterations <= ITERATIONS_MAX:
        raise UnacceptableCredentialError(
            f"iterations must be between {ITERATIONS_MIN} and {ITERATIONS_MAX}, not {iterations}"
        )


def salted_password(
    mechanism: ScramMechanism, password: bytes, salt: bytes, iterations: int
) -> bytes:
    """Hi(password, salt, i) = PBKDF2 with the mechanism's HMAC (OpenSSL's, via hashlib)."""
    return hashlib.pbkdf2_hmac(mechanism.hash_name, password, salt, iterations)


def credential_from_salted_password(
    mechanism: ScramMechanism, salted: bytes, salt: bytes, iterations: int
) -> ScramCredential:
    """The stored form, from what AlterUserScramCredentials carries (salt + SaltedPassword)."""
    _check_iterations(iterations)
    if not salt or not salted:
        raise UnacceptableCredentialError("a SCRAM credential needs a salt and a password")
    client_key = mechanism.hmac(salted, _CLIENT_KEY)
    return ScramCredential(
        mechanism=mechanism,
        salt=salt,
        stored_key=mechanism.digest(client_key),
        server_key=mechanism.hmac(salted, _SERVER_KEY),
        iterations=iterations,
    )


def make_credential(
    mechanism: ScramMechanism, password: str, salt: bytes, iterations: int = ITERATIONS_MIN
) -> ScramCredential:
    """A new credential; ``salt`` must come from a CSPRNG (the caller owns randomness)."""
    _check_iterations(iterations)
    if not password:
        raise UnacceptableCredentialError("the password is empty")
    salted = salted_password(mechanism, password.encode(), salt, iterations)
    return credential_from_salted_password(mechanism, salted, salt, iterations)


def verify_password(credential: ScramCredential, password: str) -> bool:
    """A plain password (SASL/PLAIN, HTTP Basic, gRPC metadata) against a stored credential:
    derive the StoredKey with the stored salt and compare in constant time."""
    mech = credential.mechanism
    salted = salted_password(mech, password.encode(), credential.salt, credential.iterations)
    stored = mech.digest(mech.hmac(salted, _CLIENT_KEY))
    return hmac.compare_digest(stored, credential.stored_key)


def new_nonce(random_bytes: bytes) -> str:
    """A printable nonce from >= 18 bytes of CSPRNG output (the caller's ``os.urandom``)."""
    assert len(random_bytes) >= 18
    return _b64(random_bytes)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise _malformed("invalid base64") from exc


def _malformed(what: str) -> SaslAuthenticationFailedError:
    return SaslAuthenticationFailedError(f"Authentication failed: malformed SCRAM message ({what})")


def _decode_saslname(name: str) -> str:
    """RFC 5802 saslname: ``=2C`` is ``,`` and ``=3D`` is ``=``; any other ``=`` is invalid."""
    out: list[str] = []
    i = 0
    while i < len(name):
        if name[i] == "=":
            code = name[i + 1 : i + 3]
            if code not in ("2C", "3D"):
                raise _malformed("bad escape in user name")
            out.append("," if code == "2C" else "=")
            i += 3
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _encode_saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _printable(value: str) -> bool:
    return bool(value) and all(0x21 <= ord(c) <= 0x7E and c != "," for c in value)


def _text(message: bytes) -> str:
    if len(message) > MESSAGE_MAX:
        raise _malformed(f"longer than {MESSAGE_MAX} bytes")
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed("not UTF-8") from exc
    if any(ord(c) < 0x20 for c in text):
        raise _malformed("control character")
    return text


@dataclass(frozen=True)
class _ClientFirst:
    gs2_header: str
    username: str
    nonce: str
    bare: str


def _parse_client_first(text: str) -> _ClientFirst:
    flag, sep, rest = text.partition(",")
    if not sep or flag not in ("n", "y"):
        raise _malformed("channel binding is not supported; the GS2 flag must be n or y")
    authzid, sep, bare = rest.partition(",")
    if not sep or (authzid and not authzid.startswith("a=")):
        raise _malformed("bad GS2 header")
    fields = bare.split(",")
    if len(fields) < 2 or not fields[0].startswith("n=") or not fields[1].startswith("r="):
        raise _malformed("client-first must be n=USER,r=NONCE")
    username = _decode_saslname(fields[0][2:])
    nonce = fields[1][2:]
    if not username or not _printable(nonce) or len(nonce) > _NONCE_MAX:
        raise _malformed("empty user name or bad nonce")
    if authzid and _decode_saslname(authzid[2:]) != username:
        raise SaslAuthenticationFailedError(
            "Authentication failed: Client requested an authorization id that is different"
            " from username"
        )
    extensions = dict(f.partition("=")[::2] for f in fields[2:])
    if extensions.get("tokenauth", "false").lower() == "true":
        raise SaslAuthenticationFailedError("Authentication failed: delegation tokens are off")
    return _ClientFirst(f"{flag},{authzid},", username, nonce, bare)


class _State(enum.Enum):
    CLIENT_FIRST = "client-first"
    CLIENT_FINAL = "client-final"
    COMPLETE = "complete"
    FAILED = "failed"


class ScramServer:
    """The server's half of one SCRAM exchange: ``step(client-first)`` returns server-first,
    ``step(client-final)`` returns server-final or raises SaslAuthenticationFailedError.

    ``lookup`` finds the stored credential of a user for this mechanism (None: unknown user).
    ``server_nonce`` is fresh and random, printable (``new_nonce`` makes one).
    ``unknown_user_secret`` is a per-broker random secret from which an unknown user's fake
    salt is derived (stable per user, so a prober sees the same salt twice, as for a real
    user)."""

    def __init__(
        self,
        mechanism: ScramMechanism,
        lookup: Callable[[str], ScramCredential | None],
        server_nonce: str,
        unknown_user_secret: bytes,
    ) -> None:
        assert _printable(server_nonce) and len(server_nonce) >= 16, "a weak server nonce"
        self.mechanism = mechanism
        self._lookup = lookup
        self._server_nonce = server_nonce
        self._secret = unknown_user_secret
        self._state = _State.CLIENT_FIRST
        self._first: _ClientFirst | None = None
        self._server_first = ""
        self._credential: ScramCredential | None = None
        self._known = False
        self.username: str | None = None

    @property
    def complete(self) -> bool:
        return self._state is _State.COMPLETE

    def step(self, message: bytes) -> bytes:
        try:
            if self._state is _State.CLIENT_FIRST:
                return self._on_client_first(_text(message))
            if self._state is _State.CLIENT_FINAL:
                return self._on_client_final(_text(message))
        except SaslAuthenticationFailedError:
            self._state = _State.FAILED
            raise
        self._state = _State.FAILED
        raise SaslAuthenticationFailedError("Authentication failed: unexpected SCRAM message")

    def _on_client_first(self, text: str) -> bytes:
        first = _parse_client_first(text)
        credential = self._lookup(first.username)
        if credential is not None and credential.mechanism is not self.mechanism:
            credential = None
        self._known = credential is not None
        self._credential = credential or self._fake_credential(first.username)
        self._first = first
        self._server_first = (
            f"r={first.nonce}{self._server_nonce},"
            f"s={_b64(self._credential.salt)},i={self._credential.iterations}"
        )
        self._state = _State.CLIENT_FINAL
        return self._server_first.encode()

    def _fake_credential(self, username: str) -> ScramCredential:
        mech = self.mechanism
        seed = mech.hmac(self._secret, b"logd-unknown-user\0" + username.encode())
        return ScramCredential(mech, seed[:32], mech.digest(seed), seed, ITERATIONS_MIN)

    def _on_client_final(self, text: str) -> bytes:
        first, credential = self._first, self._credential
        assert first is not None and credential is not None
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        fields = without_proof.split(",")
        if not sep or len(fields) < 2 or fields[0][:2] != "c=" or fields[1][:2] != "r=":
            raise _malformed("client-final must be c=...,r=...,p=...")
        channel = _unb64(fields[0][2:])
        nonce = fields[1][2:].encode()
        combined = (first.nonce + self._server_nonce).encode()
        # librdkafka before 2.6.1 (Debian's kcat among its users) sends the client nonce
        # twice, ahead of the combined one (librdkafka#4895); the server's fresh nonce is
        # still echoed, so that one extra form is accepted, as Kafka 3.8.1 does.
        doubled = first.nonce.encode() + combined
        nonce_ok = hmac.compare_digest(nonce, combined) | hmac.compare_digest(nonce, doubled)
        if not nonce_ok or not hmac.compare_digest(channel, first.gs2_header.encode()):
            raise SaslAuthenticationFailedError(
                "Authentication failed: nonce or channel binding does not match the exchange"
            )
        mech = self.mechanism
        proof = _unb64(proof_b64)
        auth_message = f"{first.bare},{self._server_first},{without_proof}".encode()
        signature = mech.hmac(credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise self._invalid_credentials()
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        proof_ok = hmac.compare_digest(mech.digest(client_key), credential.stored_key)
        if not (proof_ok and self._known):
            raise self._invalid_credentials()
        self.username = first.username
        self._state = _State.COMPLETE
        return f"v={_b64(mech.hmac(credential.server_key, auth_message))}".encode()

    def _invalid_credentials(self) -> SaslAuthenticationFailedError:
        return SaslAuthenticationFailedError(
            "Authentication failed during authentication due to invalid credentials with SASL"
            f" mechanism {self.mechanism.mechanism_name}"
        )


class ScramClient:
    """The client's half (tests, tools, and brokers' own clients): ``first()``,
    ``final(server_first)``, ``verify(server_final)``. Not thread-safe."""

    def __init__(self, mechanism: ScramMechanism, username: str, password: str, nonce: str) -> None:
        assert _printable(nonce)
        self.mechanism = mechanism
        self._password = password.encode()
        self._nonce = nonce
        self._bare = f"n={_encode_saslname(username)},r={self._nonce}"
        self._auth_message = b""
        self._server_key = b""

    def first(self) -> bytes:
        return f"n,,{self._bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = _text(server_first)
        fields = dict(f.partition("=")[::2] for f in text.split(","))
        nonce, salt = fields.get("r", ""), _unb64(fields.get("s", ""))
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslAuthenticationFailedError("the server's nonce does not extend ours")
        iterations = int(fields.get("i", "0") or "0")
        _check_iterations(iterations)
        mech = self.mechanism
        salted = salted_password(mech, self._password, salt, iterations)
        client_key = mech.hmac(salted, _CLIENT_KEY)
        without_proof = f"c={_b64(b'n,,')},r={nonce}"
        self._auth_message = f"{self._bare},{text},{without_proof}".encode()
        signature = mech.hmac(mech.digest(client_key), self._auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_key = mech.hmac(salted, _SERVER_KEY)
        return f"{without_proof},p={_b64(proof)}".encode()

    def verify(self, server_final: bytes) -> None:
        expected = b"v=" + _b64(self.mechanism.hmac(self._server_key, self._auth_message)).encode()
        if not hmac.compare_digest(server_final, expected):
            raise SaslAuthenticationFailedError("the server's signature does not verify")
