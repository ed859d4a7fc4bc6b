"""The thin grpc.aio front end of the broker core (docs/internals.md; STYLE.md 14).

``services`` holds the servicers, ``produce_stream`` the produce stream, ``handlers`` the
hand-built method handlers, ``convert`` the message conversions, ``errors`` the one mapping of
errors to the wire, ``runner`` the server's start and graceful stop, ``main`` the process.
"""

__all__: list[str] = []
