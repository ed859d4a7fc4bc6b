"""The Kafka wire-protocol front end (issue 14): every Kafka client and tool, unchanged.

``framing`` cuts frames (sans-I/O), ``header`` parses request headers, ``schema_codec``
reads and writes kio's message types with bounds checks, ``table`` lists the APIs served,
one module each under ``handlers``; ``connection`` runs one client connection, ``listener``
the TCP server. Handlers talk to the broker only through the core's front-end seam.
"""

__all__: list[str] = []
