"""How the client reaches brokers, shared by every client (producer, consumer, admin).

Modules, from the bottom up:

* ``rpc``            — the one boundary between gRPC and ``logd.errors`` (STYLE.md 11);
* ``channel_security`` — TLS credentials and SASL call metadata of a channel;
* ``produce_stream`` — one Produce bidi stream to one broker (correlation ids, in-flight bound);
* ``connection``     — ``Connection`` (a broker's channel and stubs) and ``ConnectionPool``;
* ``metadata``       — the cluster as the client sees it: brokers, topics, leaders;
* ``offsets``        — ListOffsets (earliest, latest, by timestamp) to partition leaders.

This ``__init__`` imports nothing, so that importing one module loads only what it needs.
"""

__all__: list[str] = []
