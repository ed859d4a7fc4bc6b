"""The TLS settings of a node or a client, as DESIGN.md "Security" names them:
``--tls-cert``, ``--tls-key``, ``--tls-ca`` and ``--tls-client-auth none|requested|required``
(Kafka's ``ssl.client.auth``). One set serves every listener of a node; a broker also
presents its certificate to the brokers it calls (mTLS between brokers).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from logd.errors import InvalidConfigError

__all__ = ["ClientAuth", "TlsSettings"]


class ClientAuth(enum.Enum):
    NONE = "none"
    REQUESTED = "requested"
    REQUIRED = "required"

    @classmethod
    def parse(cls, text: str) -> ClientAuth:
        for member in cls:
            if member.value == text.strip().lower():
                return member
        raise InvalidConfigError(
            f"tls.client.auth: {text!r} is not one of none, requested, required"
        )


@dataclass(frozen=True)
class TlsSettings:
    """Paths of the PEM files. ``ca`` verifies peers (client certificates on a server; the
    server on a client); without it a client uses the system's trust store."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    client_auth: ClientAuth = ClientAuth.NONE

    @property
    def enabled(self) -> bool:
        return self.cert is not None

    def check_server(self) -> None:
        """What a listener needs: a certificate and key, and a CA when clients must show one."""
        if self.cert is None or self.key is None:
            raise InvalidConfigError("tls: a listener needs both --tls-cert and --tls-key")
        if self.client_auth is not ClientAuth.NONE and self.ca is None:
            raise InvalidConfigError(
                "tls: --tls-client-auth requested/required needs --tls-ca to verify clients"
            )
        for name, path in (
            ("--tls-cert", self.cert),
            ("--tls-key", self.key),
            ("--tls-ca", self.ca),
        ):
            if path is not None and not path.is_file():
                raise InvalidConfigError(f"tls: {name} {path} is not a readable file")
