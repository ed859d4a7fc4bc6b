"""TLS for logd's listeners and connections (issue 15): settings, files that reload when they
change, contexts for asyncio servers (Kafka, HTTP, MQTT) and credentials for gRPC.

- ``settings``  the ``--tls-*`` settings and their checks (one clear line per mistake)
- ``files``     the certificate files, read and re-read when they change
- ``contexts``  ``ssl.SSLContext`` for asyncio servers and clients, reloaded in place
(gRPC server credentials: ``logd.frontends.grpc.tls``; grpc stays in the gRPC layers)

I/O lives here (files, OpenSSL contexts); the pure certificate and principal logic is in
``logd.security``.
"""

__all__: list[str] = []
