"""SASL/PLAIN (RFC 4616) on the server: parse ``[authzid] NUL authcid NUL passwd`` and check
the password against the user's stored SCRAM credential (logd stores no plain passwords).

The same check serves HTTP Basic and gRPC call-metadata credentials (``credentials.py``).
PLAIN sends the password itself: it is only safe inside TLS (docs/security.md says so).
Pure; no state between calls.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from logd.errors import SaslAuthenticationFailedError

__all__ = ["FIELD_MAX", "PlainCredentials", "parse_basic", "parse_plain"]

FIELD_MAX = 255  # RFC 4616: each of authzid, authcid and passwd is at most 255 octets


@dataclass(frozen=True)
class PlainCredentials:
    username: str
    password: str


def parse_plain(message: bytes) -> PlainCredentials:
    """The user and password of one PLAIN message, or SaslAuthenticationFailedError."""
    parts = message.split(b"\0")
    if len(parts) != 3 or any(len(p) > FIELD_MAX for p in parts):
        raise SaslAuthenticationFailedError(
            "Authentication failed: invalid SASL/PLAIN message (authzid NUL user NUL password)"
        )
    try:
        authzid, username, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError as exc:
        raise SaslAuthenticationFailedError(
            "Authentication failed: SASL/PLAIN fields must be UTF-8"
        ) from exc
    if not username or not password:
        raise SaslAuthenticationFailedError(
            "Authentication failed: username or password not specified"
        )
    if authzid and authzid != username:
        raise SaslAuthenticationFailedError(
            "Authentication failed: Client requested an authorization id that is different"
            " from username"
        )
    return PlainCredentials(username, password)


def parse_basic(header: str) -> PlainCredentials:
    """The user and password of an ``Authorization: Basic base64(user:password)`` value
    (HTTP, gRPC call metadata), or SaslAuthenticationFailedError."""
    scheme, _, encoded = header.partition(" ")
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep = ""
    if scheme.lower() != "basic" or not sep:
        raise SaslAuthenticationFailedError("authorization must be 'Basic base64(user:password)'")
    return PlainCredentials(user, password)
