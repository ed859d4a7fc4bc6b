"""The protocol-neutral broker core (DESIGN.md principle 7; docs/internals.md).

``api`` (request and answer types), ``config`` (the broker's settings), ``topic_config`` (a
topic's settings), ``metadata`` / ``metadata_file`` (the metadata model and its store),
``partition`` (one hosted partition), ``replicas`` (all of them, kept in step with the
metadata), ``fetch`` (long-poll reads), ``retention``, ``admin`` (topic administration),
``core`` (the request handlers) and ``node`` (opening and closing it all).
"""

__all__: list[str] = []
