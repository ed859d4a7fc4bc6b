"""TLS for the gRPC listener: server credentials that reload when the files change (gRPC
asks our fetcher on every new handshake), and the certificate a peer proved. (Channel
credentials are the client's, ``logd.client.transport.channel_security``, and the cluster
transport's.)

gRPC calls the fetcher from one of its own threads; :meth:`TlsFiles.refresh` only replaces
whole attributes, and a stale answer merely serves the previous certificate one more time.
"""

from __future__ import annotations

import grpc

from logd.tls.files import TlsFiles
from logd.tls.settings import ClientAuth

__all__ = ["PeerCertificate", "peer_certificate", "server_credentials"]


def _configuration(files: TlsFiles) -> grpc.ServerCertificateConfiguration:
    material = files.material
    return grpc.ssl_server_certificate_configuration(
        [(material.key, material.cert)], root_certificates=material.ca or None
    )


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Credentials for ``add_secure_port``. With ``--tls-client-auth required`` a client
    without a certificate from the CA cannot complete the handshake; with ``requested`` one
    may connect without a certificate (and then must authenticate otherwise)."""

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        return _configuration(files) if files.refresh() else None

    return grpc.dynamic_ssl_server_credentials(
        _configuration(files),
        fetch,
        require_client_authentication=files.settings.client_auth is ClientAuth.REQUIRED,
    )


class PeerCertificate:
    """What the TLS layer proved about a gRPC peer: its certificate (PEM), if it sent one."""

    def __init__(self, pem: bytes | None) -> None:
        self.pem = pem


def peer_certificate(context: grpc.aio.ServicerContext) -> PeerCertificate | None:
    """None on a plaintext connection; else the peer's certificate, when it presented one
    that the CA verified (gRPC refuses the handshake otherwise)."""
    auth = context.auth_context()
    kinds = auth.get("transport_security_type") or []
    if b"ssl" not in kinds:
        return None
    pems = auth.get("x509_pem_cert") or []
    return PeerCertificate(pems[0] if pems else None)
