"""``ssl.SSLContext`` objects for asyncio listeners (Kafka, HTTP, MQTT) and for clients.

A listener keeps one context for its life (asyncio's ``start_server`` takes it once), so a
reload happens *in place*: on a new connection the front end calls ``refresh()``, which,
when the files changed, loads the new certificate and key into the same context (OpenSSL
replaces them) and adds the CA file's certificates to the trust store. Connections already
open keep the certificate they were handshaken with. A replaced CA is *added*: the old one
stays trusted until the listener restarts, which is the overlap a CA rotation needs.

TLS 1.2 is the oldest version offered (Kafka's default ``ssl.enabled.protocols``).
Not thread-safe; owned by the listener's event loop.
"""

from __future__ import annotations

import logging
import ssl

from logd.errors import InvalidConfigError
from logd.tls.files import TlsFiles
from logd.tls.settings import ClientAuth, TlsSettings

__all__ = ["ReloadingServerContext", "client_context"]

_log = logging.getLogger(__name__)
_VERIFY = {
    ClientAuth.NONE: ssl.CERT_NONE,
    ClientAuth.REQUESTED: ssl.CERT_OPTIONAL,
    ClientAuth.REQUIRED: ssl.CERT_REQUIRED,
}


class ReloadingServerContext:
    """A server context over ``files``; ``context`` is what ``start_server`` takes."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        settings = files.settings
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.verify_mode = _VERIFY[settings.client_auth]
        try:
            self._load(ctx)
        except ssl.SSLError as exc:
            raise InvalidConfigError(
                f"tls: cannot use {settings.cert}: {exc.reason or exc}"
            ) from None
        self.context = ctx

    def _load(self, ctx: ssl.SSLContext) -> None:
        settings, material = self.files.settings, self.files.material
        assert settings.cert is not None and settings.key is not None
        ctx.load_cert_chain(str(settings.cert), str(settings.key))
        if material.ca:
            ctx.load_verify_locations(cadata=material.ca.decode("ascii", "replace"))

    def refresh(self) -> None:
        """Called on each accepted connection: picks up changed files (cheap otherwise)."""
        if self.files.refresh():
            try:
                self._load(self.context)
            except ssl.SSLError as exc:
                _log.warning("tls: new certificate files rejected (%s); keeping the old", exc)


def client_context(settings: TlsSettings, *, check_hostname: bool = True) -> ssl.SSLContext:
    """A client's context: verify the server with ``ca`` (or the system store) and present
    ``cert``/``key`` when given (mTLS)."""
    ctx = ssl.create_default_context(cafile=str(settings.ca) if settings.ca else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = check_hostname
    if settings.cert is not None and settings.key is not None:
        ctx.load_cert_chain(str(settings.cert), str(settings.key))
    return ctx
